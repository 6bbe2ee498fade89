//! The `signedMessage` of a session signature as the node reads it: camelCase fields, unknown
//! keys ignored, capabilities as AuthSig objects. The minting side (`session_sigs`) writes the
//! same layout; these types read it back without copying unescaped strings.

use std::borrow::Cow;

use serde::Deserialize;

/// The parsed `signedMessage` (the node's `SessionKeySignedMessage`).
#[derive(Debug, Clone, Deserialize)]
pub struct SignedMessage<'a> {
    /// The session public key, hex.
    #[serde(rename = "sessionKey", borrow)]
    pub session_key: Cow<'a, str>,
    /// What the session may do.
    #[serde(rename = "resourceAbilityRequests", borrow)]
    pub resource_ability_requests: Vec<SignedRequest<'a>>,
    /// Capability AuthSigs; the session AuthSig is last.
    #[serde(borrow)]
    pub capabilities: Vec<CapabilityAuthSig<'a>>,
    /// RFC 3339.
    #[serde(rename = "issuedAt", borrow)]
    pub issued_at: Cow<'a, str>,
    /// RFC 3339.
    #[serde(borrow)]
    pub expiration: Cow<'a, str>,
    /// The node URL the session was signed for.
    #[serde(rename = "nodeAddress", borrow)]
    pub node_address: Cow<'a, str>,
}

/// One `resourceAbilityRequests` entry (`data` and other keys ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct SignedRequest<'a> {
    /// `{resource, resourcePrefix}`.
    #[serde(borrow)]
    pub resource: SignedResource<'a>,
    /// The ability string (not checked by the node's resource rule).
    #[serde(borrow)]
    pub ability: Cow<'a, str>,
}

/// `{resource, resourcePrefix}`.
#[derive(Debug, Clone, Deserialize)]
pub struct SignedResource<'a> {
    /// The id, or `*`.
    #[serde(borrow)]
    pub resource: Cow<'a, str>,
    /// e.g. `lit-pkp`.
    #[serde(rename = "resourcePrefix", borrow)]
    pub resource_prefix: Cow<'a, str>,
}

/// A capability AuthSig inside the signed message (the node's `JsonAuthSig`).
#[derive(Debug, Clone, Deserialize)]
pub struct CapabilityAuthSig<'a> {
    /// `0x` + r‖s‖v for wallets; a JSON string for `lit.bls`.
    #[serde(borrow)]
    pub sig: Cow<'a, str>,
    /// How it was made.
    #[serde(rename = "derivedVia", borrow)]
    pub derived_via: Cow<'a, str>,
    /// The SIWE text.
    #[serde(rename = "signedMessage", borrow)]
    pub signed_message: Cow<'a, str>,
    /// The claimed signer.
    #[serde(borrow)]
    pub address: Cow<'a, str>,
    /// `LIT_BLS`, `ed25519`, … or absent for wallets.
    #[serde(default, borrow)]
    pub algo: Option<Cow<'a, str>>,
}

impl<'a> SignedMessage<'a> {
    /// Parses `text` as the node does.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The node's comparison form of a node address: trimmed, one leading `https://` or `http://`
/// removed, `localhost` replaced by `127.0.0.1`.
///
/// ```
/// use lit_session_signer::verify::normalize_node_address;
/// assert_eq!(normalize_node_address(" http://localhost:7470 "), "127.0.0.1:7470");
/// ```
pub fn normalize_node_address(address: &str) -> String {
    let trimmed = address.trim();
    let stripped = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://")).unwrap_or(trimmed);
    stripped.replace("localhost", "127.0.0.1")
}
