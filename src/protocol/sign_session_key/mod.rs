//! The PKP endpoint `POST /web/sign_session_key/v1`: the request body
//! (`JsonSignSessionKeyRequestV1`) in the SDK's key order, the SDK's headers, and the shapes of
//! a node's answer (`JsonSignSessionKeyResponseV1`). How answers are judged and combined is
//! [`crate::pkp`]'s business.

mod auth_method;
mod lit_action;
mod pkp_public_key;

pub use auth_method::{auth_method_type, AuthMethod, AuthMethodError};
pub use lit_action::{LitAction, LitActionError, LitActionSource};
pub use pkp_public_key::{PkpPublicKey, PkpPublicKeyError};

use std::fmt;

use rand_core::{OsRng, RngCore};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::jcs;

/// The node endpoint, appended to the node URL.
pub const SIGN_SESSION_KEY_PATH: &str = "/web/sign_session_key/v1";
/// `curveType` of every request: the nodes answer with BLS signature shares.
pub const CURVE_TYPE_BLS: &str = "BLS";
/// `X-Lit-SDK-Version`: the SDK release whose formats this crate reproduces.
pub const SDK_VERSION: &str = "7.4.0";
/// `X-Lit-SDK-Type`: the nodes see the request as coming from the SDK it reproduces.
pub const SDK_TYPE: &str = "Typescript";

/// The body of one `sign_session_key` request, the same for every node.
///
/// Serialised (by [`EncodedRequest::new`]) as the SDK's `JSON.stringify(body)`:
/// `sessionKey, authMethods, [pkpPublicKey], siweMessage, curveType, [litActionIpfsId], [code],
/// [jsParams], epoch`.
#[derive(Clone, Debug, PartialEq)]
pub struct SignSessionKeyRequest {
    /// `lit:session:<session public key hex>` (the full URI; the node requires it to equal the
    /// SIWE URI).
    pub session_key_uri: String,
    /// The auth methods (may be empty, but the field is always sent).
    pub auth_methods: Vec<AuthMethod>,
    /// The PKP; when present the node checks the SIWE address is its address.
    pub pkp_public_key: Option<PkpPublicKey>,
    /// The client's SIWE text.
    pub siwe_message: String,
    /// A Lit Action run as custom auth.
    pub lit_action: Option<LitAction>,
    /// The network's current epoch number.
    pub epoch: u64,
}

impl Serialize for SignSessionKeyRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("JsonSignSessionKeyRequestV1", 9)?;
        st.serialize_field("sessionKey", &self.session_key_uri)?;
        st.serialize_field("authMethods", &self.auth_methods)?;
        if let Some(pkp) = &self.pkp_public_key {
            st.serialize_field("pkpPublicKey", &pkp.to_hex())?;
        }
        st.serialize_field("siweMessage", &self.siwe_message)?;
        st.serialize_field("curveType", CURVE_TYPE_BLS)?;
        if let Some(action) = &self.lit_action {
            match action.source() {
                LitActionSource::IpfsId(cid) => st.serialize_field("litActionIpfsId", cid)?,
                LitActionSource::Code(code) => st.serialize_field("code", code)?,
            }
            // JavaScript's number formatting and key order, as JSON.stringify writes them.
            let params =
                RawValue::from_string(jcs::to_js_string(action.js_params())).map_err(serde::ser::Error::custom)?;
            st.serialize_field("jsParams", &params)?;
        }
        st.serialize_field("epoch", &self.epoch)?;
        st.end()
    }
}

/// A request ready to send: the JSON body (zeroized on drop: it holds the access tokens) and
/// the request id shared by every node.
///
/// ```
/// use lit_session_signer::protocol::sign_session_key::{EncodedRequest, SignSessionKeyRequest};
/// let req = SignSessionKeyRequest {
///     session_key_uri: "lit:session:ab".into(), auth_methods: vec![], pkp_public_key: None,
///     siwe_message: "...".into(), lit_action: None, epoch: 7,
/// };
/// let encoded = EncodedRequest::new(&req).unwrap();
/// assert_eq!(encoded.body(), br#"{"sessionKey":"lit:session:ab","authMethods":[],"siweMessage":"...","curveType":"BLS","epoch":7}"#);
/// assert!(encoded.headers().iter().any(|(k, v)| *k == "X-Request-Id" && v.starts_with("lit_")));
/// ```
#[derive(Clone)]
pub struct EncodedRequest {
    body: Zeroizing<Vec<u8>>,
    request_id: String,
}

impl EncodedRequest {
    /// Serialises `request` with a fresh random request id.
    pub fn new(request: &SignSessionKeyRequest) -> Result<Self, serde_json::Error> {
        Self::with_request_id(request, &random_request_id())
    }

    /// Serialises `request` with the given request id (sent as `lit_<id>`).
    pub fn with_request_id(request: &SignSessionKeyRequest, request_id: &str) -> Result<Self, serde_json::Error> {
        // Reserve enough up front so the buffer holding the tokens is never reallocated (a
        // reallocation would leave an unzeroized copy behind).
        let tokens: usize = request.auth_methods.iter().map(|m| m.access_token().len()).sum();
        let estimate = 2 * (request.siwe_message.len() + tokens) + 6 * tokens + 4096;
        let mut body = Zeroizing::new(Vec::with_capacity(estimate));
        serde_json::to_writer(&mut *body, request)?;
        Ok(Self { body, request_id: request_id.to_string() })
    }

    /// The JSON body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The request id, without the `lit_` prefix.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The SDK's headers: `Content-Type`, `Accept`, `X-Lit-SDK-Version`, `X-Lit-SDK-Type`,
    /// `X-Request-Id`.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            ("Content-Type", "application/json".to_string()),
            ("Accept", "application/json".to_string()),
            ("X-Lit-SDK-Version", SDK_VERSION.to_string()),
            ("X-Lit-SDK-Type", SDK_TYPE.to_string()),
            ("X-Request-Id", format!("lit_{}", self.request_id)),
        ]
    }
}

impl fmt::Debug for EncodedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedRequest")
            .field("body", &format_args!("[{} bytes, redacted]", self.body.len()))
            .field("request_id", &self.request_id)
            .finish()
    }
}

// The SDK's ids are `Math.random().toString(16).slice(2)`: about 13 hex digits.
fn random_request_id() -> String {
    format!("{:013x}", OsRng.next_u64() >> 12)
}

/// `{"ProofOfPossession": "<hex: 1-byte share id ‖ 96-byte G2 point>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureShareJson {
    /// The share, hex.
    #[serde(rename = "ProofOfPossession")]
    pub proof_of_possession: String,
}

/// One node's answer (`JsonSignSessionKeyResponseV1`), in the node's key order. Read it with
/// [`SignSessionKeyResponse::from_json_slice`], which applies the SDK's checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignSessionKeyResponse {
    /// `success`.
    pub result: String,
    /// The node's BLS signature share.
    #[serde(rename = "signatureShare")]
    pub signature_share: SignatureShareJson,
    /// The node's share index (informational; the share carries its own identifier).
    #[serde(rename = "shareIndex")]
    pub share_index: u32,
    /// `BLS`.
    #[serde(rename = "curveType")]
    pub curve_type: String,
    /// The SIWE the node built and signed.
    #[serde(rename = "siweMessage")]
    pub siwe_message: String,
    /// Hex of `sha256("lit_session:" + hex(eip191_hash(siweMessage)))`.
    #[serde(rename = "dataSigned")]
    pub data_signed: String,
    /// The network's BLS root public key (48-byte G1, hex).
    #[serde(rename = "blsRootPubkey")]
    pub bls_root_pubkey: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> SignSessionKeyRequest {
        SignSessionKeyRequest {
            session_key_uri: "lit:session:ab".into(),
            auth_methods: vec![AuthMethod::new(1, "secret-token")],
            pkp_public_key: None,
            siwe_message: "m".into(),
            lit_action: None,
            epoch: 3,
        }
    }

    #[test]
    fn field_order_and_optional_fields() {
        let mut req = base();
        req.lit_action = Some(LitAction::from_ipfs_id("QmAbc", json!({"b": 1.0, "a": [0.5]})).unwrap());
        let body = String::from_utf8(EncodedRequest::with_request_id(&req, "1").unwrap().body().to_vec()).unwrap();
        assert_eq!(
            body,
            r#"{"sessionKey":"lit:session:ab","authMethods":[{"authMethodType":1,"accessToken":"secret-token"}],"siweMessage":"m","curveType":"BLS","litActionIpfsId":"QmAbc","jsParams":{"b":1,"a":[0.5]},"epoch":3}"#
        );
        req.lit_action = Some(LitAction::from_base64_code("dHJ1ZQ==", json!({})).unwrap());
        let body = String::from_utf8(EncodedRequest::new(&req).unwrap().body().to_vec()).unwrap();
        assert!(body.contains(r#""curveType":"BLS","code":"dHJ1ZQ==","jsParams":{},"epoch":3}"#), "{body}");
    }

    #[test]
    fn debug_hides_the_body() {
        let enc = EncodedRequest::new(&base()).unwrap();
        assert!(!format!("{enc:?}").contains("secret-token"));
        assert_eq!(enc.request_id().len(), 13);
    }
}
