//! Reading a sessionSigs file: the SDK's map `{ "<node URL>": SessionSig, … }`, or a single
//! SessionSig object. Each entry keeps its JSON text, which the verifier reads as the node reads
//! a request's `authSig` ([`super::rules::read_session_sig`]).

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::protocol::{normalize_node_address, SignedMessage, AUTH_SIG_KEYS};
use crate::session_sigs::SessionSig;

/// One session signature read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSigsEntry {
    /// The map key (a node URL), or `None` for a single object.
    pub node: Option<String>,
    /// The session signature's fields, read leniently for display: missing or non-string fields
    /// are empty, unknown keys ignored. The verifier reads [`Self::json`] instead.
    pub session_sig: SessionSig,
    /// The entry's JSON text exactly as in the file.
    pub json: String,
}

impl SessionSigsEntry {
    /// An entry for `json` (the lenient fields filled from it).
    pub fn new(node: Option<String>, json: String) -> Self {
        Self { node, session_sig: lenient(&json), json }
    }

    /// The `nodeAddress` inside the signed message, if it parses.
    pub fn node_address(&self) -> Option<String> {
        SignedMessage::parse(&self.session_sig.signed_message).ok().map(|m| m.node_address.into_owned())
    }
}

impl From<&SessionSig> for SessionSigsEntry {
    fn from(sig: &SessionSig) -> Self {
        let json = serde_json::to_string(sig).unwrap_or_default();
        Self { node: None, session_sig: sig.clone(), json }
    }
}

// The string fields of an object (the last of a repeated key), others empty.
fn lenient(json: &str) -> SessionSig {
    let value: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let field = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    SessionSig {
        sig: field("sig"),
        derived_via: field("derivedVia"),
        signed_message: field("signedMessage"),
        address: field("address"),
        algo: value.get("algo").and_then(Value::as_str).map(str::to_string),
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

// A JSON object's entries in order with their raw texts.
struct RawEntries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(RawEntries(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Parses a sessionSigs map (in file order) or a single SessionSig: an object with any of the
/// AuthSig keys (`sig`, `derivedVia`, `signedMessage`, `address`, `algo`) is one SessionSig,
/// any other non-empty object a map whose values are the entries (a key given twice keeps its
/// last value, as `JSON.parse` does). Entries are not checked here: what a node makes of each is
/// the verifier's question.
pub fn parse_session_sigs(text: &str) -> Result<Vec<SessionSigsEntry>, SessionSigsFileError> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| SessionSigsFileError::Json(e.to_string()))?;
    let Ok(RawEntries(entries)) = serde_json::from_str::<RawEntries<'_>>(raw.get()) else {
        return Err(SessionSigsFileError::Shape("expected a JSON object".into()));
    };
    if entries.iter().any(|(k, _)| AUTH_SIG_KEYS.contains(&k.as_str())) {
        return Ok(vec![SessionSigsEntry::new(None, raw.get().to_string())]);
    }
    if entries.is_empty() {
        return Err(SessionSigsFileError::Empty);
    }
    let mut out: Vec<SessionSigsEntry> = Vec::with_capacity(entries.len());
    for (node, value) in entries {
        let entry = SessionSigsEntry::new(Some(node), value.get().to_string());
        match out.iter_mut().find(|e| e.node == entry.node) {
            Some(first) => *first = entry,
            None => out.push(entry),
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_objects_maps_and_raw_entries() {
        let single = r#"{"sig":"a","derivedVia":"b","signedMessage":"c","address":"d","x":1}"#;
        let e = parse_session_sigs(single).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].node, None);
        assert_eq!(e[0].json, single);
        assert_eq!(e[0].session_sig.address, "d");
        // No address at all: still one SessionSig (the node refuses it, the file reads).
        assert_eq!(parse_session_sigs(r#"{"sig":"a"}"#).unwrap()[0].session_sig.address, "");
        let map = r#"{"https://a:1": {"sig":"1"}, "https://b:1": 5, "https://a:1": {"sig":"2"}}"#;
        let e = parse_session_sigs(map).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].node.as_deref(), e[0].json.as_str()), (Some("https://a:1"), r#"{"sig":"2"}"#));
        assert_eq!(e[1].json, "5");
        assert_eq!(parse_session_sigs("{}"), Err(SessionSigsFileError::Empty));
        assert!(matches!(parse_session_sigs("[1]"), Err(SessionSigsFileError::Shape(_))));
        assert!(matches!(parse_session_sigs("{"), Err(SessionSigsFileError::Json(_))));
    }
}
