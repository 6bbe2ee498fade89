//! The Lit Action a `getLitActionSessionSigs` request runs on the nodes: inline code (sent
//! base64-encoded as `code`) or an IPFS CID (`litActionIpfsId`), never both, plus `jsParams`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// A Lit Action that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LitActionError {
    /// Empty code.
    #[error("Lit Action code is empty")]
    EmptyCode,
    /// Code given as base64 that is not base64 (standard alphabet, padded).
    #[error("Lit Action code is not standard base64")]
    CodeNotBase64,
    /// Not an IPFS CID (letters and digits only, e.g. `Qm…` or `bafy…`).
    #[error("not an IPFS CID (expected letters and digits, e.g. Qm... or bafy...): {0:?}")]
    BadIpfsId(String),
    /// `jsParams` that is not a JSON object.
    #[error("jsParams must be a JSON object")]
    JsParamsNotObject,
}

/// Where the action's code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LitActionSource {
    /// Inline code, base64 of the JavaScript source (the body's `code`).
    Code(String),
    /// An IPFS CID (the body's `litActionIpfsId`).
    IpfsId(String),
}

/// A Lit Action and its `jsParams`.
///
/// ```
/// use lit_session_signer::pkp::{LitAction, LitActionSource};
/// let action = LitAction::from_code("(async () => { LitActions.setResponse({response: 'true'}); })();",
///     serde_json::json!({"publicKey": "0x04..."})).unwrap();
/// assert!(matches!(action.source(), LitActionSource::Code(b64) if b64.starts_with("KGFzeW5j")));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LitAction {
    source: LitActionSource,
    js_params: Value,
}

impl LitAction {
    /// Inline JavaScript source; it is base64-encoded for the request, as the SDK expects
    /// callers to do.
    pub fn from_code(js_source: &str, js_params: Value) -> Result<Self, LitActionError> {
        if js_source.trim().is_empty() {
            return Err(LitActionError::EmptyCode);
        }
        Self::checked(LitActionSource::Code(STANDARD.encode(js_source)), js_params)
    }

    /// Code that is already base64 (the SDK's `litActionCode`).
    pub fn from_base64_code(code: &str, js_params: Value) -> Result<Self, LitActionError> {
        if code.is_empty() {
            return Err(LitActionError::EmptyCode);
        }
        STANDARD.decode(code).map_err(|_| LitActionError::CodeNotBase64)?;
        Self::checked(LitActionSource::Code(code.to_string()), js_params)
    }

    /// An action stored on IPFS.
    pub fn from_ipfs_id(cid: &str, js_params: Value) -> Result<Self, LitActionError> {
        if cid.is_empty() || !cid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(LitActionError::BadIpfsId(cid.to_string()));
        }
        Self::checked(LitActionSource::IpfsId(cid.to_string()), js_params)
    }

    fn checked(source: LitActionSource, js_params: Value) -> Result<Self, LitActionError> {
        if !js_params.is_object() {
            return Err(LitActionError::JsParamsNotObject);
        }
        Ok(Self { source, js_params })
    }

    /// The code or CID.
    pub fn source(&self) -> &LitActionSource {
        &self.source
    }

    /// The parameters handed to the action.
    pub fn js_params(&self) -> &Value {
        &self.js_params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_inputs() {
        assert_eq!(LitAction::from_code(" ", json!({})), Err(LitActionError::EmptyCode));
        assert_eq!(LitAction::from_base64_code("***", json!({})), Err(LitActionError::CodeNotBase64));
        assert!(matches!(LitAction::from_ipfs_id("Qm/x", json!({})), Err(LitActionError::BadIpfsId(_))));
        assert_eq!(LitAction::from_ipfs_id("QmX", json!([1])), Err(LitActionError::JsParamsNotObject));
        let a = LitAction::from_base64_code("dHJ1ZQ==", json!({})).unwrap();
        assert_eq!(a.source(), &LitActionSource::Code("dHJ1ZQ==".into()));
    }
}
