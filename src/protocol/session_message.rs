//! The message a session key signs for one node (the nodes' `SessionKeySignedMessage` and
//! `SessionKeySignedMessageV2`): written here for minting and read here for verification, from
//! one definition of its fields ([`SessionKeySignedMessage`]).
//!
//! Which layout is selected by [`SessionFormat`]. Everything but the per-node fields
//! ([`NodeFields`]: the node's address and, in V2, its `maxPrice`) is the same for every node of
//! a session, so [`MessageWriter`] serialises it once and each node's message only adds its own
//! fields.

use serde::de::DeserializeSeed;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::auth_sig::{CapabilityAuthSig, JsonStr, NodeAuthSig};
use super::node_url::NodeUrl;
use super::price::{Price, PriceError};
use crate::jcs;
use crate::resources::{ResourceAbilityRequest, ResourcePrefix};
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
    /// as `{resource, resourcePrefix}`, capabilities as given.
    #[default]
    V1,
    /// The Naga network's `SessionKeySignedMessageV2`, as the JS SDK v8 writes it: V1's fields,
    /// then `maxPrice` (a JSON string, `0x` + lowercase hex); each resource as
    /// `{resourcePrefix, resource}`; each capability rebuilt as a JSON AuthSig (`sig,
    /// derivedVia, signedMessage, address[, algo]`, other keys dropped). Naga nodes require
    /// `maxPrice`; Datil nodes ignore it, so V2 serves both generations.
    V2,
}

impl SessionFormat {
    /// Whether the nodes of this generation know resources of `prefix`: capacity credits
    /// (`lit-ratelimitincrease`) are Datil's (the v8 SDK refuses them), payment delegation
    /// (`lit-paymentdelegation`) is Naga's (a Datil node cannot parse it).
    ///
    /// ```
    /// use lit_session_signer::protocol::SessionFormat;
    /// use lit_session_signer::resources::ResourcePrefix;
    /// assert!(!SessionFormat::V2.knows(ResourcePrefix::RateLimitIncrease));
    /// assert!(!SessionFormat::V1.knows(ResourcePrefix::PaymentDelegation));
    /// assert!(SessionFormat::V1.knows(ResourcePrefix::Pkp) && SessionFormat::V2.knows(ResourcePrefix::Pkp));
    /// ```
    pub const fn knows(self, prefix: ResourcePrefix) -> bool {
        !matches!(
            (prefix, self),
            (ResourcePrefix::RateLimitIncrease, SessionFormat::V2)
                | (ResourcePrefix::PaymentDelegation, SessionFormat::V1)
        )
    }

    /// `v7` or `v8`: the JS SDK generation that writes it (and the CLI's `--format` value).
    pub const fn sdk_name(self) -> &'static str {
        match self {
            Self::V1 => "v7",
            Self::V2 => "v8",
        }
    }

    /// `Datil` or `Naga`: the node generation that requires it (a Datil node also reads V2).
    pub const fn network_name(self) -> &'static str {
        match self {
            Self::V1 => "Datil",
            Self::V2 => "Naga",
        }
    }
}

impl std::fmt::Display for SessionFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.sdk_name(), self.network_name())
    }
}

/// The fields of the node's `SessionKeySignedMessage`, in the order they are signed: the one
/// definition the writer ([`MessageWriter`]) and the reader ([`SignedMessage::parse_as`]) share.
///
/// `S` holds the string fields, `R` the resource-ability requests, `C` the capability AuthSigs,
/// `P` the V2 `maxPrice` (absent in V1).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionKeySignedMessage<S, R, C, P> {
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
    /// V2: the most the user pays this node for the request (`U256`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<P>,
}

/// A parsed `signedMessage`, borrowing from its text where the JSON has no escapes. `maxPrice`
/// is kept as its raw JSON; [`SignedMessage::max_price`] reads it as a Naga node does.
pub type SignedMessage<'a> =
    SessionKeySignedMessage<JsonStr<'a>, Vec<SignedRequest<'a>>, Vec<CapabilityAuthSig<'a>>, &'a RawValue>;

/// One `resourceAbilityRequests` entry as read: `data` and other keys ignored, a repeated key
/// an error (the node's serde-derived `LitResourceAbilityRequest`).
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

/// A signed message the node cannot read.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not the JSON object the node's reader takes: not JSON, a field missing, repeated or of
    /// the wrong type, or a capability the node's AuthSig reader refuses ([`NodeAuthSig`]).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Naga: `maxPrice` is not a string that `from_str_to_u256` reads.
    #[error("maxPrice: {0}")]
    MaxPrice(PriceError),
}

impl<'a> SignedMessage<'a> {
    /// Parses `text` as a Datil node does ([`SessionFormat::V1`]).
    pub fn parse(text: &'a str) -> Result<Self, MessageError> {
        Self::parse_as(SessionFormat::V1, text)
    }

    /// Parses `text` as a node expecting `format` does (Datil's `SessionKeySignedMessage`,
    /// Naga's `SessionKeySignedMessageV2`, both serde-derived): the six shared fields required,
    /// none twice, other keys ignored; each capability read by the node's AuthSig reader
    /// ([`NodeAuthSig`]: unknown or repeated keys refused). A Naga node ([`SessionFormat::V2`])
    /// also requires `maxPrice` once, a JSON string without escapes that
    /// [`Price::from_signed_max_price`] reads; a Datil node does not know the key, so any value,
    /// repeated or not, is ignored (the first is kept for display).
    ///
    /// ```
    /// use lit_session_signer::protocol::{SessionFormat, SignedMessage};
    /// let v1 = r#"{"sessionKey":"ab","resourceAbilityRequests":[],"capabilities":[],"issuedAt":"i","expiration":"e","nodeAddress":"n"}"#;
    /// assert!(SignedMessage::parse_as(SessionFormat::V1, v1).is_ok());
    /// let err = SignedMessage::parse_as(SessionFormat::V2, v1).unwrap_err();
    /// assert!(err.to_string().starts_with("missing field `maxPrice`"));
    /// ```
    pub fn parse_as(format: SessionFormat, text: &'a str) -> Result<Self, MessageError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let message = MessageReader(format).deserialize(&mut de)?;
        de.end()?;
        if format == SessionFormat::V2 {
            if let Some(Err(e)) = message.max_price() {
                return Err(MessageError::MaxPrice(e));
            }
        }
        Ok(message)
    }

    /// The signed `maxPrice` as a Naga node reads it (`None` when absent).
    pub fn max_price(&self) -> Option<Result<Price, PriceError>> {
        self.max_price.map(|raw| Price::from_json_str(raw.get()))
    }

    /// The layout the message has: V2 when it carries a `maxPrice` (other than `null`).
    pub fn format(&self) -> SessionFormat {
        if self.max_price.is_some_and(|raw| raw.get() != "null") {
            SessionFormat::V2
        } else {
            SessionFormat::V1
        }
    }
}

/// The node's message reader for one format (a serde seed, so one visitor serves both).
struct MessageReader(SessionFormat);

impl<'de> DeserializeSeed<'de> for MessageReader {
    type Value = SignedMessage<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for MessageReader {
    type Value = SignedMessage<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            SessionFormat::V1 => "struct SessionKeySignedMessage",
            SessionFormat::V2 => "struct SessionKeySignedMessageV2",
        })
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        use serde::de::Error as _;
        fn once<'de, M: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
            slot: &mut Option<T>,
            map: &mut M,
            name: &'static str,
        ) -> Result<(), M::Error> {
            if slot.is_some() {
                return Err(M::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        let (mut session_key, mut requests) = (None, None);
        let mut capabilities: Option<Vec<NodeAuthSig<JsonStr<'de>>>> = None;
        let (mut issued_at, mut expiration, mut node_address) = (None, None, None);
        let mut max_price: Option<&'de RawValue> = None;
        while let Some(key) = map.next_key::<JsonStr<'de>>()? {
            match (&*key, self.0) {
                ("sessionKey", _) => once(&mut session_key, &mut map, "sessionKey")?,
                ("resourceAbilityRequests", _) => once(&mut requests, &mut map, "resourceAbilityRequests")?,
                ("capabilities", _) => once(&mut capabilities, &mut map, "capabilities")?,
                ("issuedAt", _) => once(&mut issued_at, &mut map, "issuedAt")?,
                ("expiration", _) => once(&mut expiration, &mut map, "expiration")?,
                ("nodeAddress", _) => once(&mut node_address, &mut map, "nodeAddress")?,
                ("maxPrice", SessionFormat::V2) => once(&mut max_price, &mut map, "maxPrice")?,
                // Datil: a key its message does not have, so ignored; the first kept for display.
                ("maxPrice", SessionFormat::V1) => {
                    let raw: &'de RawValue = map.next_value()?;
                    max_price.get_or_insert(raw);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        if self.0 == SessionFormat::V2 && max_price.is_none() {
            return Err(M::Error::missing_field("maxPrice"));
        }
        Ok(SessionKeySignedMessage {
            session_key: session_key.ok_or_else(|| M::Error::missing_field("sessionKey"))?,
            resource_ability_requests: requests.ok_or_else(|| M::Error::missing_field("resourceAbilityRequests"))?,
            capabilities: capabilities
                .ok_or_else(|| M::Error::missing_field("capabilities"))?
                .into_iter()
                .map(|c| c.0)
                .collect(),
            issued_at: issued_at.ok_or_else(|| M::Error::missing_field("issuedAt"))?,
            expiration: expiration.ok_or_else(|| M::Error::missing_field("expiration"))?,
            node_address: node_address.ok_or_else(|| M::Error::missing_field("nodeAddress"))?,
            max_price,
        })
    }
}

/// What a session signs differently for each node.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct NodeFields<'a> {
    /// The node, signed as `nodeAddress`.
    pub node_address: &'a NodeUrl,
    /// V2: the node's `maxPrice`. Unset, a V2 message signs [`Price::DEFAULT_USER_MAX`], what
    /// the v8 SDK gives a lone node priced 0.
    pub max_price: Option<Price>,
}

impl<'a> NodeFields<'a> {
    /// The fields for `node`.
    pub fn new(node: &'a NodeUrl) -> Self {
        Self { node_address: node, max_price: None }
    }

    /// Sets the node's `maxPrice` (written by V2 only).
    pub fn with_max_price(mut self, max_price: Price) -> Self {
        self.max_price = Some(max_price);
        self
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
        let requests: Vec<Value> = requests.iter().map(|r| request_json(format, r)).collect();
        let capabilities = match format {
            SessionFormat::V1 => js_array(capabilities.iter()),
            SessionFormat::V2 => {
                let rebuilt: Vec<Value> = capabilities.iter().map(auth_sig_schema).collect();
                js_array(rebuilt.iter())
            }
        };
        Self {
            format,
            session_key: js_string(&hex::encode(session_key.as_bytes())),
            requests: raw(js_array(requests.iter())),
            capabilities: raw(capabilities),
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
        let max_price = match self.format {
            SessionFormat::V1 => None,
            SessionFormat::V2 => Some(node.max_price.unwrap_or(Price::DEFAULT_USER_MAX).to_hex()),
        };
        let message = SessionKeySignedMessage {
            session_key: Out::Json(&self.session_key),
            resource_ability_requests: &*self.requests,
            capabilities: &*self.capabilities,
            issued_at: Out::Json(&self.issued_at),
            expiration: Out::Json(&self.expiration),
            node_address: Out::Str(node.node_address.as_str()),
            max_price: max_price.as_deref().map(Out::Str),
        };
        serde_json::to_string(&message).expect("JSON texts and strings serialise")
    }
}

// One `resourceAbilityRequests` entry. V1 keeps the v7 SDK's class-instance key order
// `{resource, resourcePrefix}`; the v8 SDK's schema rebuilds it as `{resourcePrefix, resource}`.
// `data` (an `nb` object) follows the ability when the request has one.
fn request_json(format: SessionFormat, r: &ResourceAbilityRequest) -> Value {
    let (prefix, id) = (Value::from(r.resource().prefix().as_str()), Value::from(r.resource().id()));
    let mut resource = Map::new();
    match format {
        SessionFormat::V1 => {
            resource.insert("resource".into(), id);
            resource.insert("resourcePrefix".into(), prefix);
        }
        SessionFormat::V2 => {
            resource.insert("resourcePrefix".into(), prefix);
            resource.insert("resource".into(), id);
        }
    }
    let mut entry = Map::new();
    entry.insert("resource".into(), Value::Object(resource));
    entry.insert("ability".into(), Value::from(r.ability().as_str()));
    if let Some(data) = r.data() {
        entry.insert("data".into(), Value::Object(data.clone()));
    }
    Value::Object(entry)
}

/// The v8 SDK's `AuthSigSchema` rebuild of a capability: `sig, derivedVia, signedMessage,
/// address`, then `algo` when present, every other key dropped. Anything but an object is
/// written as is (callers check the shape before).
fn auth_sig_schema(capability: &Value) -> Value {
    let Value::Object(given) = capability else { return capability.clone() };
    let mut out = Map::new();
    for key in ["sig", "derivedVia", "signedMessage", "address", "algo"] {
        if let Some(v) = given.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
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
        let formats = [SessionFormat::V1, SessionFormat::V2];
        let requests: Vec<ResourceAbilityRequest> =
            ["lit-pkp://*=pkp-signing", "lit-litaction://QmX=lit-action-execution"]
                .iter()
                .map(|r| r.parse().unwrap())
                .collect();
        let capability = serde_json::json!({"sig": "0x1b", "derivedVia": "web3.eth.personal.sign",
            "signedMessage": "line one\nline two", "address": "0xA"});
        let issued_at: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let expiration: Timestamp = "2025-03-16T12:34:56.789Z".parse().unwrap();
        let nodes: Vec<NodeUrl> =
            ["https://127.0.0.1:7470", "http://localhost:7471"].iter().map(|n| n.parse().unwrap()).collect();
        for format in formats {
            let writer =
                MessageWriter::new(format, &key(), &requests, std::slice::from_ref(&capability), issued_at, expiration);
            for (i, node) in nodes.iter().enumerate() {
                let price = Price::from(1000 + i as u64);
                let text = writer.message(NodeFields::new(node).with_max_price(price));
                let read = SignedMessage::parse_as(format, &text).unwrap();
                assert_eq!(read.format(), format);
                match format {
                    SessionFormat::V1 => assert!(read.max_price().is_none()),
                    SessionFormat::V2 => assert_eq!(read.max_price(), Some(Ok(price))),
                }
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
    fn v2_bytes_are_the_v8_sdk_layout() {
        let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        // Key order rebuilt, unknown keys dropped, `algo` last even for lit.bls.
        let caps = [
            serde_json::json!({"address": "0xA", "extra": 1, "signedMessage": "m", "derivedVia": "web3.eth.personal.sign", "sig": "0x1b"}),
            serde_json::json!({"sig": "{}", "algo": "LIT_BLS", "derivedVia": "lit.bls", "signedMessage": "p", "address": "0xB"}),
        ];
        let t: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
        let writer = MessageWriter::new(SessionFormat::V2, &key(), &requests, &caps, t, t);
        let node: NodeUrl = "https://1.2.3.4:443".parse().unwrap();
        assert_eq!(
            writer.message(NodeFields::new(&node).with_max_price(Price::ZERO)),
            format!(
                r#"{{"sessionKey":"{}","resourceAbilityRequests":[{{"resource":{{"resourcePrefix":"lit-pkp","resource":"*"}},"ability":"pkp-signing"}}],"capabilities":[{{"sig":"0x1b","derivedVia":"web3.eth.personal.sign","signedMessage":"m","address":"0xA"}},{{"sig":"{{}}","derivedVia":"lit.bls","signedMessage":"p","address":"0xB","algo":"LIT_BLS"}}],"issuedAt":"2025-03-15T12:34:56.789Z","expiration":"2025-03-15T12:34:56.789Z","nodeAddress":"https://1.2.3.4:443","maxPrice":"0x0"}}"#,
                hex::encode(key().as_bytes())
            )
        );
        // Without a price: the SDK's default user maximum.
        assert!(writer.message(NodeFields::new(&node)).ends_with(&format!(r#""maxPrice":"0x{}"}}"#, "f".repeat(32))));
    }

    #[test]
    fn the_naga_reader_requires_a_max_price_in_the_nodes_string_forms() {
        let base = r#"{"sessionKey":"ab","resourceAbilityRequests":[],"capabilities":[],"issuedAt":"i","expiration":"e","nodeAddress":"n""#;
        let with = |price: &str| format!(r#"{base},"maxPrice":{price}}}"#);
        let ok = |text: &str| SignedMessage::parse_as(SessionFormat::V2, text).map(|m| m.max_price());
        assert_eq!(ok(&with(r#""0x10""#)).unwrap(), Some(Ok(Price::from(16u64))));
        assert_eq!(ok(&with(r#""16""#)).unwrap(), Some(Ok(Price::from(16u64))));
        // The node's loose forms.
        assert_eq!(ok(&with(r#""0x""#)).unwrap(), Some(Ok(Price::ZERO)));
        assert_eq!(ok(&with(r#""0x0x10""#)).unwrap(), Some(Ok(Price::from(16u64))));
        for bad in ["16", "null", r#""-1""#, r#""0X10""#, r#""ab""#, r#""\u0031""#] {
            let text = with(bad);
            assert!(SignedMessage::parse_as(SessionFormat::V2, &text).is_err(), "{bad}");
            // A Datil node ignores the field whatever it holds.
            assert!(SignedMessage::parse_as(SessionFormat::V1, &text).is_ok(), "{bad}");
        }
        let missing = format!("{base}}}");
        assert!(SignedMessage::parse_as(SessionFormat::V2, &missing)
            .unwrap_err()
            .to_string()
            .starts_with("missing field `maxPrice`"));
        // Repeated: Naga refuses the second, Datil does not know the key.
        let twice = format!(r#"{base},"maxPrice":"0x1","maxPrice":"0x2"}}"#);
        assert!(SignedMessage::parse_as(SessionFormat::V2, &twice).is_err());
        assert!(SignedMessage::parse_as(SessionFormat::V1, &twice).is_ok());
        // Any other repeated key is an error for both.
        let again = format!(r#"{base},"maxPrice":"0x1","nodeAddress":"m"}}"#);
        assert!(SignedMessage::parse_as(SessionFormat::V1, &again).is_err());
        assert!(SignedMessage::parse_as(SessionFormat::V2, &again).is_err());
        // Unknown keys are ignored, a capability with one is not.
        let extra = format!(r#"{base},"maxPrice":"0x1","x":[1]}}"#);
        assert!(SignedMessage::parse_as(SessionFormat::V2, &extra).is_ok());
        let cap = r#"{"sessionKey":"ab","resourceAbilityRequests":[],"capabilities":[{"sig":"s","derivedVia":"d","signedMessage":"m","address":"a","chain":"c"}],"issuedAt":"i","expiration":"e","nodeAddress":"n"}"#;
        assert!(SignedMessage::parse_as(SessionFormat::V1, cap).is_err());
    }

    #[test]
    fn the_reader_takes_resource_keys_in_either_order() {
        let text = r#"{"sessionKey":"ab","resourceAbilityRequests":[{"resource":{"resourcePrefix":"lit-pkp","resource":"*"},"ability":"pkp-signing"}],"capabilities":[],"issuedAt":"i","expiration":"e","nodeAddress":"n","maxPrice":"0x10"}"#;
        let read = SignedMessage::parse(text).unwrap();
        assert_eq!(read.resource_ability_requests[0].resource.resource_prefix, "lit-pkp");
        assert_eq!(read.resource_ability_requests[0].resource.resource, "*");
    }
}
