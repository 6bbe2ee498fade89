//! How a node's `/web/sign_session_key/v1` answer is read: every field the SDK requires, or a
//! typed reason why not ([`ResponseError`]). The answer's shape is
//! [`crate::protocol::sign_session_key`]'s.

use serde_json::Value;

use crate::protocol::sign_session_key::{SignSessionKeyResponse, CURVE_TYPE_BLS};

/// Why a node's 2xx answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// A body that is not JSON of the expected shape.
    #[error("bad JSON: {0}")]
    BadJson(String),
    /// A required field absent, null or empty.
    #[error("missing field {0}")]
    MissingField(String),
    /// The node answered but refused (e.g. `result` not `success`).
    #[error("node error: {0}")]
    NodeRefused(String),
}

// Fields the SDK requires to be present and non-empty, in its order.
const REQUIRED: [&str; 7] =
    ["signatureShare", "curveType", "shareIndex", "siweMessage", "dataSigned", "blsRootPubkey", "result"];

impl SignSessionKeyResponse {
    /// Reads a 2xx response body. Fails with [`ResponseError::BadJson`] for non-JSON,
    /// [`ResponseError::MissingField`] naming the first absent, null or empty field (the SDK's
    /// rule), [`ResponseError::NodeRefused`] when `result` is not `success` or `curveType` is
    /// not `BLS`.
    ///
    /// ```
    /// use lit_session_signer::pkp::{ResponseError, SignSessionKeyResponse};
    /// let err = SignSessionKeyResponse::from_json_slice(br#"{"result":"success"}"#).unwrap_err();
    /// assert_eq!(err, ResponseError::MissingField("signatureShare".into()));
    /// ```
    pub fn from_json_slice(body: &[u8]) -> Result<Self, ResponseError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| ResponseError::BadJson(e.to_string()))?;
        let obj = value.as_object().ok_or_else(|| ResponseError::BadJson("not a JSON object".into()))?;
        if let Some(result) = obj.get("result").and_then(Value::as_str) {
            if result != "success" {
                return Err(ResponseError::NodeRefused(format!("result {result:?}: {}", summary(&value))));
            }
        }
        for field in REQUIRED {
            match obj.get(field) {
                None | Some(Value::Null) => return Err(ResponseError::MissingField(field.into())),
                Some(Value::String(s)) if s.is_empty() => return Err(ResponseError::MissingField(field.into())),
                _ => {}
            }
        }
        match obj.get("signatureShare").and_then(|s| s.get("ProofOfPossession")) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(ResponseError::MissingField("signatureShare.ProofOfPossession".into())),
        }
        if let Some(curve) = obj.get("curveType").and_then(Value::as_str) {
            if curve != CURVE_TYPE_BLS {
                return Err(ResponseError::NodeRefused(format!("curveType {curve:?} (only BLS is supported)")));
            }
        }
        serde_json::from_value(value).map_err(|e| ResponseError::BadJson(e.to_string()))
    }
}

/// The readable part of a node's error body: Lit nodes answer
/// `{"errorKind", "errorCode", "status", "message", "correlationId", "details"}`; anything else
/// is shown (shortened) as text.
///
/// ```
/// use lit_session_signer::pkp::node_error_message;
/// let body = br#"{"errorKind":"Validation","errorCode":"NodeInvalidAuthSig","status":400,"message":"bad sig"}"#;
/// assert_eq!(node_error_message(body), "NodeInvalidAuthSig: bad sig");
/// ```
pub fn node_error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => summary(&v),
        _ => shorten(&String::from_utf8_lossy(body)),
    }
}

fn summary(v: &Value) -> String {
    let code = v.get("errorCode").and_then(Value::as_str);
    let message = v.get("message").and_then(Value::as_str).or_else(|| v.get("error").and_then(Value::as_str));
    match (code, message) {
        (Some(c), Some(m)) => shorten(&format!("{c}: {m}")),
        (None, Some(m)) => shorten(m),
        (Some(c), None) => c.to_string(),
        (None, None) => shorten(&v.to_string()),
    }
}

// Node bodies can be large (or hostile): keep messages to one readable line.
fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() <= MAX {
        trimmed.to_string()
    } else {
        format!("{}…", trimmed.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"result":"success","signatureShare":{"ProofOfPossession":"01ab"},"shareIndex":0,"curveType":"BLS",
               "siweMessage":"m","dataSigned":"dd","blsRootPubkey":"aa"})
    }

    #[test]
    fn reads_a_good_response_and_round_trips() {
        let text = good().to_string();
        let r = SignSessionKeyResponse::from_json_slice(text.as_bytes()).unwrap();
        assert_eq!(r.signature_share.proof_of_possession, "01ab");
        assert_eq!(serde_json::to_string(&r).unwrap(), text);
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(matches!(SignSessionKeyResponse::from_json_slice(b"<html>"), Err(ResponseError::BadJson(_))));
        assert!(matches!(SignSessionKeyResponse::from_json_slice(b"[1]"), Err(ResponseError::BadJson(_))));
        for field in REQUIRED {
            for bad in [Value::Null, json!("")] {
                let mut v = good();
                v[field] = bad;
                let err = SignSessionKeyResponse::from_json_slice(v.to_string().as_bytes()).unwrap_err();
                if field == "result" {
                    assert!(matches!(err, ResponseError::NodeRefused(_) | ResponseError::MissingField(_)));
                } else {
                    assert_eq!(err, ResponseError::MissingField(field.into()));
                }
            }
        }
        let mut v = good();
        v["signatureShare"] = json!({"Other": "x"});
        assert_eq!(
            SignSessionKeyResponse::from_json_slice(v.to_string().as_bytes()).unwrap_err(),
            ResponseError::MissingField("signatureShare.ProofOfPossession".into())
        );
        let mut v = good();
        v["curveType"] = json!("ECDSA");
        assert!(matches!(
            SignSessionKeyResponse::from_json_slice(v.to_string().as_bytes()),
            Err(ResponseError::NodeRefused(_))
        ));
        let mut v = good();
        v["shareIndex"] = json!("zero");
        assert!(matches!(
            SignSessionKeyResponse::from_json_slice(v.to_string().as_bytes()),
            Err(ResponseError::BadJson(_))
        ));
        let mut v = good();
        v["result"] = json!("failure");
        v["message"] = json!("auth failed");
        assert!(matches!(
            SignSessionKeyResponse::from_json_slice(v.to_string().as_bytes()),
            Err(ResponseError::NodeRefused(m)) if m.contains("auth failed")
        ));
    }

    #[test]
    fn error_messages_are_one_short_line() {
        assert_eq!(node_error_message(b"plain\ntext"), "plain text");
        assert_eq!(node_error_message(&vec![b'x'; 1000]).chars().count(), 301);
        assert_eq!(node_error_message(br#"{"message":"m"}"#), "m");
    }
}
