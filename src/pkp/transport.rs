//! How a request reaches one node. The driver ([`sign_session_key_on_nodes`](super::sign_session_key_on_nodes))
//! only needs "send this body to that node, give me its answer or say why not"; the HTTP
//! implementation is [`HttpTransport`](super::HttpTransport) (feature `http`), tests may plug
//! in anything that speaks the same protocol.

use std::time::Duration;

use async_trait::async_trait;

use super::response::ResponseError;
use crate::protocol::sign_session_key::{EncodedRequest, SignSessionKeyResponse};
use crate::protocol::NodeUrl;

/// Why one node gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the per-node timeout.
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Connection, TLS or I/O failure.
    #[error("connection failed: {0}")]
    Connect(String),
    /// A non-2xx status; `message` is the node's error text.
    #[error("HTTP {status}: {message}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The node's message (see [`node_error_message`](super::node_error_message)).
        message: String,
    },
    /// A 2xx answer that cannot be used.
    #[error(transparent)]
    Response(#[from] ResponseError),
}

/// Sends one `sign_session_key` request to one node.
///
/// Implementations must be cheap to call concurrently (one call per node at once) and should
/// not retry on their own: the driver applies the per-node timeout and decides what is enough.
///
/// ```
/// use async_trait::async_trait;
/// use lit_session_signer::pkp::{EncodedRequest, NodeTransport, SignSessionKeyResponse, TransportError};
/// use lit_session_signer::protocol::NodeUrl;
///
/// /// A transport that refuses everything (e.g. while offline).
/// struct Offline;
///
/// #[async_trait]
/// impl NodeTransport for Offline {
///     async fn sign_session_key(&self, _node: &NodeUrl, _request: &EncodedRequest)
///         -> Result<SignSessionKeyResponse, TransportError> {
///         Err(TransportError::Connect("offline".into()))
///     }
/// }
/// ```
#[async_trait]
pub trait NodeTransport: Send + Sync {
    /// POSTs `request` to `node` + [`SIGN_SESSION_KEY_PATH`](super::SIGN_SESSION_KEY_PATH)
    /// with its headers and reads the answer
    /// ([`SignSessionKeyResponse::from_json_slice`] for 2xx bodies,
    /// [`node_error_message`](super::node_error_message) for the others).
    async fn sign_session_key(
        &self,
        node: &NodeUrl,
        request: &EncodedRequest,
    ) -> Result<SignSessionKeyResponse, TransportError>;
}

#[async_trait]
impl<T: NodeTransport + ?Sized> NodeTransport for std::sync::Arc<T> {
    async fn sign_session_key(
        &self,
        node: &NodeUrl,
        request: &EncodedRequest,
    ) -> Result<SignSessionKeyResponse, TransportError> {
        (**self).sign_session_key(node, request).await
    }
}
