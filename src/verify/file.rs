//! Reading a sessionSigs file: the SDK's map `{ "<node URL>": SessionSig, … }`, or a single
//! SessionSig object.

use serde_json::{Map, Value};

use crate::protocol::{normalize_node_address, SignedMessage};
use crate::session_sigs::SessionSig;

/// One session signature read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSigsEntry {
    /// The map key (a node URL), or `None` for a single object.
    pub node: Option<String>,
    /// The session signature.
    pub session_sig: SessionSig,
}

impl SessionSigsEntry {
    /// The `nodeAddress` inside the signed message, if it parses.
    pub fn node_address(&self) -> Option<String> {
        SignedMessage::parse(&self.session_sig.signed_message).ok().map(|m| m.node_address.into_owned())
    }
}

/// A sessionSigs file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionSigsFileError {
    /// Not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// JSON, but neither a SessionSig nor a map of them.
    #[error("not a sessionSigs map or a SessionSig object: {0}")]
    Shape(String),
    /// An empty map.
    #[error("the sessionSigs map is empty")]
    Empty,
}

fn is_single(obj: &Map<String, Value>) -> bool {
    obj.get("sig").is_some_and(Value::is_string) && obj.get("signedMessage").is_some_and(Value::is_string)
}

/// Parses a sessionSigs map (in file order) or a single SessionSig.
pub fn parse_session_sigs(text: &str) -> Result<Vec<SessionSigsEntry>, SessionSigsFileError> {
    let value: Value = serde_json::from_str(text).map_err(|e| SessionSigsFileError::Json(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(SessionSigsFileError::Shape("expected a JSON object".into()));
    };
    if is_single(&obj) {
        let session_sig = serde_json::from_value(Value::Object(obj))
            .map_err(|e| SessionSigsFileError::Shape(format!("SessionSig: {e}")))?;
        return Ok(vec![SessionSigsEntry { node: None, session_sig }]);
    }
    if obj.is_empty() {
        return Err(SessionSigsFileError::Empty);
    }
    obj.into_iter()
        .map(|(node, v)| {
            let session_sig =
                serde_json::from_value(v).map_err(|e| SessionSigsFileError::Shape(format!("entry {node:?}: {e}")))?;
            Ok(SessionSigsEntry { node: Some(node), session_sig })
        })
        .collect()
}

/// The entry for `node`: the one keyed by exactly `node`, else the one whose signed
/// `nodeAddress` normalises to the same `host:port`, else a single object.
pub fn select_session_sig<'a>(entries: &'a [SessionSigsEntry], node: &str) -> Option<&'a SessionSigsEntry> {
    if let Some(e) = entries.iter().find(|e| e.node.as_deref() == Some(node)) {
        return Some(e);
    }
    let wanted = normalize_node_address(node);
    if let Some(e) = entries.iter().find(|e| e.node_address().is_some_and(|a| normalize_node_address(&a) == wanted)) {
        return Some(e);
    }
    match entries {
        [single] if single.node.is_none() => Some(single),
        _ => None,
    }
}
