//! Per-node session signatures, as the SDK's `getSessionSigs` makes them: one shared template
//! `{sessionKey, resourceAbilityRequests, capabilities, issuedAt, expiration}`, plus each node's
//! `nodeAddress`, serialised compactly in exactly that order and signed with the session key.
//!
//! This is the only module that knows the signed-message layout.

use std::fmt;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use time::Duration;

use crate::auth_sig::{AuthSig, AuthSigError};
use crate::eth::EthAddress;
use crate::jcs;
use crate::keystore::{KeyId, KeyStoreError, SessionKeyStore, Signature, VerifyingKey};
use crate::resources::ResourceAbilityRequest;
use crate::siwe::{recap_for_requests, SiweMessage};
use crate::timestamp::Timestamp;
use crate::wallet::WalletSigner;

/// `derivedVia` of a session signature.
pub const DERIVED_VIA_SESSION: &str = "litSessionSignViaNacl";
/// `algo` of a session signature.
pub const SESSION_ALGO: &str = "ed25519";
/// The URI scheme binding an AuthSig to a session key.
pub const SESSION_URI_PREFIX: &str = "lit:session:";
/// `getSessionSigs`'s default lifetime.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::hours(24);

/// Errors making session signatures.
#[derive(Debug, thiserror::Error)]
pub enum SessionSigsError {
    /// No node URL was given.
    #[error("no node URLs given: at least one --node is required")]
    NoNodes,
    /// The same node URL twice.
    #[error("node URL given twice: {0}")]
    DuplicateNode(String),
    /// No resource-ability request was given.
    #[error("no resource-ability requests given: at least one --resource is required")]
    NoRequests,
    /// Expiration not after issuedAt.
    #[error("expiration {expiration} is not after issuedAt {issued_at}")]
    ExpirationNotAfterIssuedAt {
        /// The requested issuedAt.
        issued_at: Timestamp,
        /// The requested expiration.
        expiration: Timestamp,
    },
    /// A capability AuthSig that is not an object with string `sig`, `signedMessage`, `address`.
    #[error("capability AuthSig #{index} is invalid: {reason}")]
    InvalidCapability {
        /// Its position among the caller's capabilities (1-based).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The session AuthSig could not be made.
    #[error(transparent)]
    AuthSig(#[from] AuthSigError),
    /// The key store failed.
    #[error("session key: {0}")]
    KeyStore(#[from] KeyStoreError),
}

/// A Lit node's URL, `http(s)://host:port`, kept exactly as given (it keys the map and is
/// signed as `nodeAddress`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeUrl(String);

/// A malformed node URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed node URL {url:?}: {reason} (expected http(s)://host:port)")]
pub struct NodeUrlError {
    /// The rejected text.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for NodeUrl {
    type Err = NodeUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| NodeUrlError { url: s.to_string(), reason };
        let uri: http::Uri = s.parse().map_err(|_| err("not a URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(err("scheme must be http or https")),
        }
        let authority = uri.authority().ok_or_else(|| err("no host"))?;
        if authority.host().is_empty() {
            return Err(err("no host"));
        }
        if authority.as_str().contains('@') {
            return Err(err("user info is not allowed"));
        }
        // A path (even "/") would end up in nodeAddress, which the node compares with host:port.
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") || s.ends_with('/') {
            return Err(err("no path, query or trailing slash allowed"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(err("whitespace is not allowed"));
        }
        Ok(Self(s.to_string()))
    }
}

impl NodeUrl {
    /// The URL exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `lit:session:<hex public key>`, the URI a session AuthSig must carry.
pub fn session_key_uri(public_key: &VerifyingKey) -> String {
    format!("{SESSION_URI_PREFIX}{}", hex::encode(public_key.as_bytes()))
}

/// One node's session signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct SessionSig {
    /// Lowercase hex of the 64-byte ed25519 signature, no `0x`.
    pub sig: String,
    /// `litSessionSignViaNacl`.
    #[serde(rename = "derivedVia")]
    pub derived_via: String,
    /// The signed JSON text.
    #[serde(rename = "signedMessage")]
    pub signed_message: String,
    /// The session public key, lowercase hex.
    pub address: String,
    /// `ed25519`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub algo: Option<String>,
}

/// Node URL → session signature, in the order the nodes were given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSigs(Vec<(NodeUrl, SessionSig)>);

impl SessionSigs {
    /// The signature for `node`, if present.
    pub fn get(&self, node: &str) -> Option<&SessionSig> {
        self.0.iter().find(|(n, _)| n.as_str() == node).map(|(_, s)| s)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeUrl, &SessionSig)> {
        self.0.iter().map(|(n, s)| (n, s))
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The compact JSON object, as the SDK's `JSON.stringify(sessionSigs)`.
    pub fn to_json(&self) -> String {
        // Serialising strings and string-keyed maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for SessionSigs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (node, sig) in &self.0 {
            map.serialize_entry(node.as_str(), sig)?;
        }
        map.end()
    }
}

/// What a session signs for every node.
#[derive(Clone, Debug)]
pub struct SessionTemplate {
    /// The resource-ability requests (at least one).
    pub requests: Vec<ResourceAbilityRequest>,
    /// Capability AuthSigs, the session AuthSig last, each as a JSON object in its own key order.
    pub capabilities: Vec<Value>,
    /// The session's issuedAt.
    pub issued_at: Timestamp,
    /// The session's expiration (same as the session AuthSig's).
    pub expiration: Timestamp,
}

// Field order is the signed layout; each shared field is serialised once.
#[derive(serde::Serialize)]
struct SignedMessage<'a> {
    #[serde(rename = "sessionKey")]
    session_key: &'a RawValue,
    #[serde(rename = "resourceAbilityRequests")]
    resource_ability_requests: &'a RawValue,
    capabilities: &'a RawValue,
    #[serde(rename = "issuedAt")]
    issued_at: &'a RawValue,
    expiration: &'a RawValue,
    #[serde(rename = "nodeAddress")]
    node_address: &'a str,
}

fn raw(text: String) -> Box<RawValue> {
    // Every caller passes text produced by a JSON serialiser.
    RawValue::from_string(text).unwrap_or_else(|_| Box::<RawValue>::default())
}

impl SessionTemplate {
    /// The `signedMessage` text of every node, in order.
    pub fn signed_messages(&self, session_key: &VerifyingKey, nodes: &[NodeUrl]) -> Vec<String> {
        let requests: Vec<Value> =
            self.requests.iter().map(|r| serde_json::to_value(r).unwrap_or(Value::Null)).collect();
        let session_key = raw(jcs::to_js_string(&Value::String(hex::encode(session_key.as_bytes()))));
        let requests = raw(jcs::to_js_string(&Value::Array(requests)));
        let capabilities = raw(jcs::to_js_string(&Value::Array(self.capabilities.clone())));
        let issued_at = raw(jcs::to_js_string(&Value::String(self.issued_at.to_string())));
        let expiration = raw(jcs::to_js_string(&Value::String(self.expiration.to_string())));
        nodes
            .iter()
            .map(|node| {
                let msg = SignedMessage {
                    session_key: &session_key,
                    resource_ability_requests: &requests,
                    capabilities: &capabilities,
                    issued_at: &issued_at,
                    expiration: &expiration,
                    node_address: node.as_str(),
                };
                serde_json::to_string(&msg).unwrap_or_default()
            })
            .collect()
    }

    /// Signs the template for every node with session key `key_id` of `store`.
    pub fn sign(
        &self,
        store: &(impl SessionKeyStore + ?Sized),
        key_id: &KeyId,
        nodes: &[NodeUrl],
    ) -> Result<SessionSigs, SessionSigsError> {
        check_nodes(nodes)?;
        let public_key = store.public_key(key_id)?;
        let messages = self.signed_messages(&public_key, nodes);
        let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_bytes()).collect();
        let sigs = store.sign_many(key_id, &refs)?;
        Ok(SessionSigs::assemble(&public_key, nodes, messages, sigs))
    }
}

impl SessionSigs {
    /// Pairs each node with its signed message and signature, in order. For callers that sign
    /// [`SessionTemplate::signed_messages`] themselves (e.g. off an async runtime).
    pub fn assemble(public_key: &VerifyingKey, nodes: &[NodeUrl], messages: Vec<String>, sigs: Vec<Signature>) -> Self {
        let address = hex::encode(public_key.as_bytes());
        Self(
            nodes
                .iter()
                .zip(messages)
                .zip(sigs)
                .map(|((node, signed_message), sig)| {
                    let sig = SessionSig {
                        sig: hex::encode(sig.to_bytes()),
                        derived_via: DERIVED_VIA_SESSION.to_string(),
                        signed_message,
                        address: address.clone(),
                        algo: Some(SESSION_ALGO.to_string()),
                    };
                    (node.clone(), sig)
                })
                .collect(),
        )
    }
}

fn check_nodes(nodes: &[NodeUrl]) -> Result<(), SessionSigsError> {
    if nodes.is_empty() {
        return Err(SessionSigsError::NoNodes);
    }
    for (i, n) in nodes.iter().enumerate() {
        if nodes[..i].contains(n) {
            return Err(SessionSigsError::DuplicateNode(n.to_string()));
        }
    }
    Ok(())
}

/// Everything `getSessionSigs` takes, for a wallet-backed (EOA) session.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use lit_session_signer::session_sigs::SessionSigsRequest;
/// use lit_session_signer::wallet::MemoryWallet;
///
/// let store = MemoryKeyStore::new();
/// let key = store.generate("session").unwrap();
/// let wallet = MemoryWallet::random().unwrap();
/// let request = SessionSigsRequest::new(
///     vec!["https://127.0.0.1:7470".parse().unwrap()],
///     vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
///     "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
/// );
/// let sigs = request.sign(&store, &key, &wallet).unwrap();
/// assert_eq!(sigs.len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct SessionSigsRequest {
    /// Node URLs; the map is keyed by these, in this order.
    pub nodes: Vec<NodeUrl>,
    /// What the session may do.
    pub requests: Vec<ResourceAbilityRequest>,
    /// The SIWE nonce (a recent block hash).
    pub nonce: String,
    /// The clock: SIWE `Issued At` and the session's issuedAt.
    pub now: Timestamp,
    /// Defaults to `now` + 24 h.
    pub expiration: Option<Timestamp>,
    /// Capability AuthSigs (e.g. capacity delegation), placed before the session AuthSig.
    pub capability_auth_sigs: Vec<Value>,
    /// SIWE domain (default `localhost`).
    pub domain: Option<String>,
    /// SIWE statement before the ReCap sentence (default: the SDK's test statement).
    pub statement: Option<String>,
    /// SIWE chain id (default 1).
    pub chain_id: Option<u64>,
}

impl SessionSigsRequest {
    /// A request with the SDK's defaults and the real clock.
    pub fn new(nodes: Vec<NodeUrl>, requests: Vec<ResourceAbilityRequest>, nonce: &str) -> Self {
        Self {
            nodes,
            requests,
            nonce: nonce.to_string(),
            now: Timestamp::now(),
            expiration: None,
            capability_auth_sigs: Vec::new(),
            domain: None,
            statement: None,
            chain_id: None,
        }
    }

    /// The expiration in force.
    pub fn expiration(&self) -> Timestamp {
        self.expiration.unwrap_or_else(|| self.now.saturating_add(DEFAULT_SESSION_LIFETIME))
    }

    /// Checks the request without signing anything.
    pub fn validate(&self) -> Result<(), SessionSigsError> {
        check_nodes(&self.nodes)?;
        if self.requests.is_empty() {
            return Err(SessionSigsError::NoRequests);
        }
        let expiration = self.expiration();
        if expiration <= self.now {
            return Err(SessionSigsError::ExpirationNotAfterIssuedAt { issued_at: self.now, expiration });
        }
        for (i, cap) in self.capability_auth_sigs.iter().enumerate() {
            check_capability(cap).map_err(|reason| SessionSigsError::InvalidCapability { index: i + 1, reason })?;
        }
        Ok(())
    }

    /// Requests the session's own ReCap will not grant when a node checks them. This happens
    /// when a wildcard request and an exact request share a prefix with different abilities:
    /// the SDK and the node look up `prefix://*` first and never reach the exact entry. The SDK
    /// mints such sessions without a word; callers should warn.
    pub fn ungranted_requests(&self) -> Vec<&ResourceAbilityRequest> {
        let recap = recap_for_requests(&self.requests);
        self.requests.iter().filter(|r| !recap.grants(r.resource(), r.ability())).collect()
    }

    /// The session SIWE the SDK's local-test `authNeededCallback` builds
    /// (`createSiweMessageWithRecaps`), for the given session key and wallet.
    pub fn session_siwe(&self, session_key: &VerifyingKey, wallet: &(impl WalletSigner + ?Sized)) -> SiweMessage {
        self.session_siwe_for(session_key, wallet.address())
    }

    /// [`Self::session_siwe`] for a signer known only by its address (e.g. an external custody
    /// API that signs elsewhere).
    pub fn session_siwe_for(&self, session_key: &VerifyingKey, signer: EthAddress) -> SiweMessage {
        let mut siwe = SiweMessage::new(signer, &self.nonce, self.now)
            .with_uri(&session_key_uri(session_key))
            .with_expiration(self.expiration());
        if let Some(d) = &self.domain {
            siwe = siwe.with_domain(d);
        }
        if let Some(s) = &self.statement {
            siwe = siwe.with_statement(s);
        }
        if let Some(c) = self.chain_id {
            siwe = siwe.with_chain_id(c);
        }
        siwe.with_requests(&self.requests)
    }

    /// Builds and signs the session AuthSig with `wallet`, then signs every node's message with
    /// session key `key_id`.
    pub fn sign(
        &self,
        store: &(impl SessionKeyStore + ?Sized),
        key_id: &KeyId,
        wallet: &(impl WalletSigner + ?Sized),
    ) -> Result<SessionSigs, SessionSigsError> {
        self.validate()?;
        let public_key = store.public_key(key_id)?;
        let auth_sig = AuthSig::sign(wallet, &self.session_siwe(&public_key, wallet))?;
        self.template(&auth_sig).sign(store, key_id, &self.nodes)
    }

    /// The shared template, with `session_auth_sig` as the last capability.
    pub fn template(&self, session_auth_sig: &AuthSig) -> SessionTemplate {
        let mut capabilities = self.capability_auth_sigs.clone();
        capabilities.push(serde_json::to_value(session_auth_sig).unwrap_or(Value::Null));
        SessionTemplate {
            requests: self.requests.clone(),
            capabilities,
            issued_at: self.now,
            expiration: self.expiration(),
        }
    }
}

fn check_capability(cap: &Value) -> Result<(), String> {
    let obj = cap.as_object().ok_or("not a JSON object")?;
    for key in ["sig", "derivedVia", "signedMessage", "address"] {
        match obj.get(key) {
            Some(Value::String(_)) => {}
            Some(_) => return Err(format!("{key} is not a string")),
            None => return Err(format!("missing {key}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls() {
        for ok in
            ["https://158.69.108.66:443", "http://127.0.0.1:7471", "https://node.example.com", "http://[::1]:7470"]
        {
            assert_eq!(ok.parse::<NodeUrl>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "158.69.108.66:443",
            "ftp://x:1",
            "https://",
            "https://x:1/",
            "https://x:1/path",
            "https://x:1?q",
            "https://u@x:1",
            "https://x :1",
        ] {
            assert!(bad.parse::<NodeUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_and_missing_nodes() {
        let n: NodeUrl = "http://127.0.0.1:7471".parse().unwrap();
        assert!(matches!(check_nodes(&[]), Err(SessionSigsError::NoNodes)));
        assert!(matches!(check_nodes(&[n.clone(), n]), Err(SessionSigsError::DuplicateNode(_))));
    }

    #[test]
    fn shadowed_requests_are_reported() {
        let nodes = vec!["http://127.0.0.1:7471".parse().unwrap()];
        let exact = format!("lit-accesscontrolcondition://{}=access-control-condition-decryption", "ab".repeat(32));
        let requests = vec![
            "lit-accesscontrolcondition://*=access-control-condition-signing".parse().unwrap(),
            exact.parse().unwrap(),
        ];
        let req = SessionSigsRequest::new(nodes, requests, "0x1234567890");
        let ungranted = req.ungranted_requests();
        assert_eq!(ungranted.len(), 1);
        assert_eq!(ungranted[0].ability(), crate::resources::LitAbility::AccessControlConditionDecryption);
    }

    #[test]
    fn capability_shape_is_checked() {
        assert!(check_capability(&serde_json::json!([])).is_err());
        assert!(check_capability(&serde_json::json!({"sig": "x", "derivedVia": "y", "signedMessage": "z"})).is_err());
        assert!(check_capability(
            &serde_json::json!({"sig": 1, "derivedVia": "y", "signedMessage": "z", "address": "a"})
        )
        .is_err());
        assert!(check_capability(
            &serde_json::json!({"sig": "x", "derivedVia": "y", "signedMessage": "z", "address": "a"})
        )
        .is_ok());
    }
}
