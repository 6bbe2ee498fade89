//! [`NodeTransport`] over HTTP(S) with reqwest (rustls, webpki roots; no native TLS).

use async_trait::async_trait;

use super::response::{node_error_message, ResponseError};
use super::transport::{NodeTransport, TransportError};
use crate::error_chain::error_chain;
use crate::protocol::sign_session_key::{EncodedRequest, SignSessionKeyResponse, SIGN_SESSION_KEY_PATH};
use crate::protocol::NodeUrl;

// A node answer is a few kB; refuse to buffer more than this from a misbehaving node.
const MAX_BODY: usize = 1 << 20;

/// An error building the HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct HttpTransportError(String);

/// Sends requests with one pooled reqwest client (connections are reused across calls).
///
/// ```no_run
/// use lit_session_signer::pkp::HttpTransport;
/// let transport = HttpTransport::new()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A client trusting the webpki root certificates.
    pub fn new() -> Result<Self, HttpTransportError> {
        Self::builder(reqwest::Client::builder())
    }

    /// A client from a customised reqwest builder (extra root certificates, proxies, …).
    pub fn builder(builder: reqwest::ClientBuilder) -> Result<Self, HttpTransportError> {
        let client = builder
            .user_agent(concat!("lit-session-signer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpTransportError(e.to_string()))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl NodeTransport for HttpTransport {
    async fn sign_session_key(
        &self,
        node: &NodeUrl,
        request: &EncodedRequest,
    ) -> Result<SignSessionKeyResponse, TransportError> {
        let url = format!("{}{SIGN_SESSION_KEY_PATH}", node.as_str());
        let mut req = self.client.post(url).body(request.body().to_vec());
        for (name, value) in request.headers() {
            req = req.header(name, value);
        }
        // reqwest's Display is only the outermost layer ("error sending request"); the cause
        // (refused, TLS, DNS) is in the source chain.
        let mut response = req.send().await.map_err(|e| TransportError::Connect(error_chain(&e)))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| TransportError::Connect(error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ResponseError::BadJson(format!("response larger than {MAX_BODY} bytes")).into());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(TransportError::HttpStatus { status: status.as_u16(), message: node_error_message(&body) });
        }
        Ok(SignSessionKeyResponse::from_json_slice(&body)?)
    }
}
