//! The message a session key signs for one node (the node's `SessionKeySignedMessage`): written
//! here for minting and read here for verification, from one definition of its fields
//! ([`SessionKeySignedMessage`]).
//!
//! Which layout is selected by [`SessionFormat`]. Everything but the per-node fields
//! ([`NodeFields`]) is the same for every node of a session, so [`MessageWriter`] serialises it
//! once and each node's message only adds its own fields.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::auth_sig::{CapabilityAuthSig, JsonStr};
use super::node_url::NodeUrl;
use crate::jcs;
use crate::resources::ResourceAbilityRequest;
use crate::timestamp::Timestamp;
use ed25519_dalek::VerifyingKey;

/// Which signed-message layout a session uses.
///
/// A new network generation is a new variant: the writer and the reader below match on it, so
/// the compiler lists every place that must learn it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionFormat {
    /// The Datil network's `SessionKeySignedMessage`, as the JS SDK v7 writes it: `sessionKey,
    /// resourceAbilityRequests, capabilities, issuedAt, expiration, nodeAddress`, each resource
    /// as `{resource, resourcePrefix}`.
    #[default]
    V1,
}

/// The fields of the node's `SessionKeySignedMessage`, in the order they are signed: the one
/// definition the writer ([`MessageWriter`]) and the reader ([`SignedMessage`]) share.
///
/// `S` holds the string fields, `R` the resource-ability requests, `C` the capability AuthSigs.
/// The reader ignores unknown keys, as the node does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionKeySignedMessage<S, R, C> {
    /// The session public key, hex.
    pub session_key: S,
    /// What the session may do.
    pub resource_ability_requests: R,
    /// Capability AuthSigs; the session AuthSig is last.
    pub capabilities: C,
    /// RFC 3339.
    pub issued_at: S,
    /// RFC 3339.
    pub expiration: S,
    /// The node URL the session was signed for.
    pub node_address: S,
}

/// A parsed `signedMessage`, borrowing from its text where the JSON has no escapes.
pub type SignedMessage<'a> = SessionKeySignedMessage<JsonStr<'a>, Vec<SignedRequest<'a>>, Vec<CapabilityAuthSig<'a>>>;

/// One `resourceAbilityRequests` entry as read (`data` and other keys ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct SignedRequest<'a> {
    /// `{resource, resourcePrefix}`, in either key order.
    #[serde(borrow)]
    pub resource: SignedResource<'a>,
    /// The ability string (not checked by the node's resource rule).
    #[serde(borrow)]
    pub ability: JsonStr<'a>,
}

/// `{resource, resourcePrefix}` as read.
#[derive(Debug, Clone, Deserialize)]
pub struct SignedResource<'a> {
    /// The id, or `*`.
    #[serde(borrow)]
    pub resource: JsonStr<'a>,
    /// e.g. `lit-pkp`.
    #[serde(rename = "resourcePrefix", borrow)]
    pub resource_prefix: JsonStr<'a>,
}

impl<'a> SignedMessage<'a> {
    /// Parses `text` as the Datil node does ([`SessionFormat::V1`]).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Parses `text` as a node expecting `format` does.
    pub fn parse_as(format: SessionFormat, text: &'a str) -> Result<Self, serde_json::Error> {
        match format {
            SessionFormat::V1 => Self::parse(text),
        }
    }
}

/// What a session signs differently for each node.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct NodeFields<'a> {
    /// The node, signed as `nodeAddress`.
    pub node_address: &'a NodeUrl,
}

impl<'a> NodeFields<'a> {
    /// The fields for `node`.
    pub fn new(node: &'a NodeUrl) -> Self {
        Self { node_address: node }
    }
}

// A writer value: JSON text serialised once per session, or a per-node string.
enum Out<'a> {
    Json(&'a RawValue),
    Str(&'a str),
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Json(raw) => raw.serialize(s),
            Self::Str(text) => text.serialize(s),
        }
    }
}

/// The part of a session's messages that is the same for every node, serialised once, as the
/// SDK's `JSON.stringify` writes it (JavaScript number formatting, the callers' key order
/// inside capability AuthSigs).
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use lit_session_signer::protocol::{MessageWriter, NodeFields, SessionFormat, SignedMessage};
///
/// let store = MemoryKeyStore::new();
/// let key = store.public_key(&store.generate("session").unwrap()).unwrap();
/// let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
/// let issued_at = "2025-03-15T12:34:56.789Z".parse().unwrap();
/// let expiration = "2025-03-16T12:34:56.789Z".parse().unwrap();
/// let writer = MessageWriter::new(SessionFormat::V1, &key, &requests, &[], issued_at, expiration);
/// let node = "https://127.0.0.1:7470".parse().unwrap();
/// let text = writer.message(NodeFields::new(&node));
/// assert!(text.ends_with(r#""expiration":"2025-03-16T12:34:56.789Z","nodeAddress":"https://127.0.0.1:7470"}"#));
/// assert_eq!(SignedMessage::parse(&text).unwrap().node_address, "https://127.0.0.1:7470");
/// ```
#[derive(Clone, Debug)]
pub struct MessageWriter {
    format: SessionFormat,
    session_key: Box<RawValue>,
    requests: Box<RawValue>,
    capabilities: Box<RawValue>,
    issued_at: Box<RawValue>,
    expiration: Box<RawValue>,
}

// Every caller passes text produced by a JSON serialiser.
fn raw(text: String) -> Box<RawValue> {
    RawValue::from_string(text).expect("the JavaScript-style serialiser writes valid JSON")
}

// `JSON.stringify` of an array, without copying the values into a `Value::Array` first.
fn js_array<'v>(values: impl Iterator<Item = &'v Value>) -> String {
    let mut out = String::from("[");
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&jcs::to_js_string(v));
    }
    out.push(']');
    out
}

fn js_string(s: &str) -> Box<RawValue> {
    raw(jcs::to_js_string(&Value::String(s.to_string())))
}

impl MessageWriter {
    /// Serialises the shared fields of a session in `format`. `capabilities` are the AuthSig
    /// objects in order, the session's own AuthSig last.
    pub fn new(
        format: SessionFormat,
        session_key: &VerifyingKey,
        requests: &[ResourceAbilityRequest],
        capabilities: &[Value],
        issued_at: Timestamp,
        expiration: Timestamp,
    ) -> Self {
        let requests = match format {
            // Resource objects as the v7 SDK's class instances: `{resource, resourcePrefix}`.
            SessionFormat::V1 => {
                let values: Vec<Value> = requests
                    .iter()
                    .map(|r| serde_json::to_value(r).expect("a resource-ability request serialises to JSON"))
                    .collect();
                js_array(values.iter())
            }
        };
        Self {
            format,
            session_key: js_string(&hex::encode(session_key.as_bytes())),
            requests: raw(requests),
            capabilities: raw(js_array(capabilities.iter())),
            issued_at: js_string(&issued_at.to_string()),
            expiration: js_string(&expiration.to_string()),
        }
    }

    /// The layout written.
    pub fn format(&self) -> SessionFormat {
        self.format
    }

    /// The `signedMessage` text for one node.
    pub fn message(&self, node: NodeFields<'_>) -> String {
        let message = match self.format {
            SessionFormat::V1 => SessionKeySignedMessage {
                session_key: Out::Json(&self.session_key),
                resource_ability_requests: &*self.requests,
                capabilities: &*self.capabilities,
                issued_at: Out::Json(&self.issued_at),
                expiration: Out::Json(&self.expiration),
                node_address: Out::Str(node.node_address.as_str()),
            },
        };
        serde_json::to_string(&message).expect("JSON texts and strings serialise")
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::keystore::{MemoryKeyStore, SessionKeyStore};

    fn key() -> VerifyingKey {
        let store = MemoryKeyStore::new();
        let id = store.import_seed("k", zeroize::Zeroizing::new([0x42; 32])).unwrap();
        store.public_key(&id).unwrap()
    }

    // A writer → reader round trip per format: what is written reads back field for field.
    #[test]
    fn every_format_reads_back_what_it_writes() {
        let formats = [SessionFormat::V1];
        let requests: Vec<ResourceAbilityRequest> =
            ["lit-pkp://*=pkp-signing", "lit-litaction://QmX=lit-action-execution"]
                .iter()
                .map(|r| r.parse().unwrap())
                .collect();
        let capability = serde_json::json!({"sig": "0x1b", "derivedVia": "web3.eth.personal.sign",
            "signedMessage": "line one\nline two", "address": "0xA", "extra": 1.5});
        let issued_at: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let expiration: Timestamp = "2025-03-16T12:34:56.789Z".parse().unwrap();
        let nodes: Vec<NodeUrl> =
            ["https://127.0.0.1:7470", "http://localhost:7471"].iter().map(|n| n.parse().unwrap()).collect();
        for format in formats {
            let writer =
                MessageWriter::new(format, &key(), &requests, std::slice::from_ref(&capability), issued_at, expiration);
            for node in &nodes {
                let text = writer.message(NodeFields::new(node));
                let read = SignedMessage::parse_as(format, &text).unwrap();
                assert_eq!(read.session_key, hex::encode(key().as_bytes()));
                let got: Vec<(String, String, String)> = read
                    .resource_ability_requests
                    .iter()
                    .map(|r| {
                        (r.resource.resource_prefix.to_string(), r.resource.resource.to_string(), r.ability.to_string())
                    })
                    .collect();
                let want: Vec<(String, String, String)> = requests
                    .iter()
                    .map(|r| {
                        (r.resource().prefix().to_string(), r.resource().id().to_string(), r.ability().to_string())
                    })
                    .collect();
                assert_eq!(got, want);
                assert_eq!(read.capabilities.len(), 1);
                assert_eq!(read.capabilities[0].signed_message, "line one\nline two");
                assert_eq!(read.issued_at, issued_at.to_string());
                assert_eq!(read.expiration, expiration.to_string());
                assert_eq!(read.node_address, node.as_str());
                // Zero-copy where the JSON has no escapes: the verifier parses every message.
                assert!(matches!(read.node_address.0, Cow::Borrowed(_)));
                assert!(matches!(read.capabilities[0].sig.0, Cow::Borrowed(_)));
                assert!(matches!(read.resource_ability_requests[0].ability.0, Cow::Borrowed(_)));
            }
        }
    }

    #[test]
    fn v1_bytes_are_the_sdk_layout() {
        let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        let cap = serde_json::json!({"b": 1.0, "a": [0.5]});
        let t: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let writer = MessageWriter::new(SessionFormat::V1, &key(), &requests, &[cap], t, t);
        let node: NodeUrl = "https://1.2.3.4:443".parse().unwrap();
        assert_eq!(
            writer.message(NodeFields::new(&node)),
            format!(
                r#"{{"sessionKey":"{}","resourceAbilityRequests":[{{"resource":{{"resource":"*","resourcePrefix":"lit-pkp"}},"ability":"pkp-signing"}}],"capabilities":[{{"b":1,"a":[0.5]}}],"issuedAt":"2025-03-15T12:34:56.789Z","expiration":"2025-03-15T12:34:56.789Z","nodeAddress":"https://1.2.3.4:443"}}"#,
                hex::encode(key().as_bytes())
            )
        );
    }

    #[test]
    fn the_reader_takes_resource_keys_in_either_order() {
        let text = r#"{"sessionKey":"ab","resourceAbilityRequests":[{"resource":{"resourcePrefix":"lit-pkp","resource":"*"},"ability":"pkp-signing"}],"capabilities":[],"issuedAt":"i","expiration":"e","nodeAddress":"n","maxPrice":"0x10"}"#;
        let read = SignedMessage::parse(text).unwrap();
        assert_eq!(read.resource_ability_requests[0].resource.resource_prefix, "lit-pkp");
        assert_eq!(read.resource_ability_requests[0].resource.resource, "*");
    }
}
