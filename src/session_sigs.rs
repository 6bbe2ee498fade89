//! Per-node session signatures, as the SDK's `getSessionSigs` (v7) and `issueSessionFromContext`
//! (v8) make them: one shared template `{sessionKey, resourceAbilityRequests, capabilities,
//! issuedAt, expiration}`, plus each node's `nodeAddress` (and, in the v8 format, its
//! `maxPrice`), signed with the session key.
//!
//! The message layout is [`crate::protocol::session_message`]'s; this module decides what goes
//! into it ([`SessionSigsRequest`], [`SessionTemplate`], and for v8 the nodes and prices of
//! [`SessionNodes`]) and has the session key sign it. The v8 format also changes some SDK
//! defaults ([`SessionParams::default_lifetime`], [`SessionParams::session_siwe_options`]).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use time::Duration;

use crate::auth_sig::{AuthSig, AuthSigError};
use crate::eth::EthAddress;
use crate::keystore::{KeyId, KeyStoreError, SessionKeyStore, Signature, VerifyingKey};
use crate::pricing::{NodePricing, PricingError};
use crate::protocol::auth_sig::{JsonAuthSig, ALGO_ED25519};
use crate::protocol::{MessageWriter, NodeFields, NodeList, NodeListError, Price, SessionFormat};
use crate::resources::{ResourceAbilityRequest, ResourcePrefix};
use crate::siwe::{recap_for_requests, SiweMessage, SiweOptions};
use crate::timestamp::Timestamp;
use crate::wallet::WalletSigner;

// Their home is the wire format; these paths stay for existing callers.
pub use crate::protocol::auth_sig::{
    session_key_uri, ALGO_ED25519 as SESSION_ALGO, DERIVED_VIA_SESSION, SESSION_URI_PREFIX,
};
pub use crate::protocol::node_url::{NodeUrl, NodeUrlError};

/// `getSessionSigs`'s default lifetime (the v7 format).
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::hours(24);

/// The v8 SDK's default lifetime (`AuthConfigSchema`'s 15 minutes). The SDK counts it from when
/// its modules loaded, so a long-running process gets an expired default; here it is counted
/// from the session's issuedAt, the moment of minting.
pub const V8_SESSION_LIFETIME: Duration = Duration::minutes(15);

/// Errors making session signatures.
#[derive(Debug, thiserror::Error)]
pub enum SessionSigsError {
    /// The node list is empty or names a node twice.
    #[error(transparent)]
    Nodes(#[from] NodeListError),
    /// No resource-ability request was given.
    #[error("no resource-ability requests given")]
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
    /// The v8 nodes and prices cannot be worked out (threshold, a maximum below the prices, …).
    #[error(transparent)]
    Pricing(#[from] PricingError),
    /// Pricing (node prices, a threshold, a maximum) with the v7 format, which signs no
    /// `maxPrice`.
    #[error("node prices, a threshold and a maximum price need the v8 (Naga) format: the v7 format signs no maxPrice")]
    PricingNeedsV8,
    /// A resource the nodes of the format's generation do not know.
    #[error("the {prefix} resource cannot be used with the {format} format: {why}")]
    ResourceNotInFormat {
        /// The resource prefix.
        prefix: ResourcePrefix,
        /// The format asked for.
        format: SessionFormat,
        /// What to use instead.
        why: &'static str,
    },
    /// The key store failed.
    #[error("session key")]
    KeyStore(#[from] KeyStoreError),
}

/// One node's session signature: `{sig, derivedVia: "litSessionSignViaNacl", signedMessage,
/// address: <session public key hex>, algo: "ed25519"}`, the same JSON AuthSig shape as
/// [`AuthSig`].
pub type SessionSig = JsonAuthSig<String>;

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
        serde_json::to_string(self).expect("a map of strings to string-valued AuthSigs serialises")
    }

    /// Pairs each node with its signed message and signature, in order. For callers that sign
    /// [`SessionTemplate::signed_messages`] themselves (e.g. off an async runtime).
    pub fn assemble(public_key: &VerifyingKey, nodes: &[NodeUrl], messages: Vec<String>, sigs: Vec<Signature>) -> Self {
        Self::from_parts(public_key, nodes.to_vec(), messages, sigs)
    }

    fn from_parts(public_key: &VerifyingKey, nodes: Vec<NodeUrl>, messages: Vec<String>, sigs: Vec<Signature>) -> Self {
        let address = hex::encode(public_key.as_bytes());
        Self(
            nodes
                .into_iter()
                .zip(messages)
                .zip(sigs)
                .map(|((node, signed_message), sig)| {
                    let sig = SessionSig {
                        sig: hex::encode(sig.to_bytes()),
                        derived_via: DERIVED_VIA_SESSION.to_string(),
                        signed_message,
                        address: address.clone(),
                        algo: Some(ALGO_ED25519.to_string()),
                    };
                    (node, sig)
                })
                .collect(),
        )
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
    /// The signed-message layout.
    pub format: SessionFormat,
    /// The resource-ability requests (at least one).
    pub requests: Vec<ResourceAbilityRequest>,
    /// Capability AuthSigs, the session AuthSig last, each as a JSON object in its own key order.
    pub capabilities: Vec<Value>,
    /// The session's issuedAt.
    pub issued_at: Timestamp,
    /// The session's expiration (same as the session AuthSig's).
    pub expiration: Timestamp,
}

impl SessionTemplate {
    /// The template's shared fields for `session_key`, serialised once.
    pub fn writer(&self, session_key: &VerifyingKey) -> MessageWriter {
        MessageWriter::new(
            self.format,
            session_key,
            &self.requests,
            &self.capabilities,
            self.issued_at,
            self.expiration,
        )
    }

    /// The `signedMessage` text of every node, in order.
    pub fn signed_messages(&self, session_key: &VerifyingKey, nodes: &[SessionNode]) -> Vec<String> {
        let writer = self.writer(session_key);
        nodes.iter().map(|node| writer.message(node.fields())).collect()
    }

    /// Every node's message for `session_key`, ready to be signed.
    pub fn prepare(&self, session_key: VerifyingKey, nodes: &[SessionNode]) -> UnsignedSessionSigs {
        let messages = self.signed_messages(&session_key, nodes);
        UnsignedSessionSigs { public_key: session_key, nodes: nodes.iter().map(|n| n.url.clone()).collect(), messages }
    }

    /// Signs the template for every node with session key `key_id` of `store`.
    pub fn sign(
        &self,
        store: &(impl SessionKeyStore + ?Sized),
        key_id: &KeyId,
        nodes: &[SessionNode],
    ) -> Result<SessionSigs, SessionSigsError> {
        let public_key = store.public_key(key_id)?;
        Ok(self.prepare(public_key, nodes).sign(store, key_id)?)
    }
}

/// One node a session is signed for, and what it alone signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionNode {
    /// The node: its key in the map and its signed `nodeAddress`.
    pub url: NodeUrl,
    /// Its `maxPrice` (written by the v8 format only).
    pub max_price: Option<Price>,
}

impl SessionNode {
    /// What this node's message adds to the shared template.
    pub fn fields(&self) -> NodeFields<'_> {
        let fields = NodeFields::new(&self.url);
        match self.max_price {
            Some(price) => fields.with_max_price(price),
            None => fields,
        }
    }
}

/// The nodes a session is signed for, in map order: every node as given (v7), or the v8 SDK's
/// choice of the cheapest nodes, cheapest first, each with its `maxPrice`. Reads as a slice of
/// [`SessionNode`].
///
/// ```
/// use lit_session_signer::pricing::NodePricing;
/// use lit_session_signer::protocol::{NodeList, NodeUrl};
/// use lit_session_signer::session_sigs::SessionNodes;
///
/// let urls: Vec<NodeUrl> = vec!["https://127.0.0.1:7470".parse().unwrap(), "https://127.0.0.1:7471".parse().unwrap()];
/// let list = NodeList::from_slice(&urls).unwrap();
/// assert_eq!(SessionNodes::unpriced(&list).len(), 2);
/// let priced = SessionNodes::priced(&list, &NodePricing::new().with_threshold(1)).unwrap();
/// assert_eq!(priced[0].url, urls[0]);
/// assert_eq!(priced[0].max_price.unwrap().to_hex(), format!("0x{}", "f".repeat(32)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionNodes(Vec<SessionNode>);

impl SessionNodes {
    /// Every node, in the order given, without a price.
    pub fn unpriced(nodes: &NodeList) -> Self {
        Self(nodes.iter().map(|url| SessionNode { url: url.clone(), max_price: None }).collect())
    }

    /// The nodes `pricing` chooses, cheapest first, each with its `maxPrice`.
    pub fn priced(nodes: &NodeList, pricing: &NodePricing) -> Result<Self, PricingError> {
        let plan = pricing.plan(nodes)?;
        Ok(Self(plan.into_iter().map(|(url, price)| SessionNode { url, max_price: Some(price) }).collect()))
    }

    /// The node URLs, in map order.
    pub fn urls(&self) -> Vec<NodeUrl> {
        self.0.iter().map(|n| n.url.clone()).collect()
    }
}

impl std::ops::Deref for SessionNodes {
    type Target = [SessionNode];

    fn deref(&self) -> &[SessionNode] {
        &self.0
    }
}

/// Every node's signed message, not yet signed: [`SessionTemplate::prepare`], then
/// [`Self::sign`] (which may block on an HSM, so async callers run it off the runtime).
#[derive(Clone, Debug)]
pub struct UnsignedSessionSigs {
    public_key: VerifyingKey,
    nodes: Vec<NodeUrl>,
    messages: Vec<String>,
}

impl UnsignedSessionSigs {
    /// The messages, in node order.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// Signs every message with session key `key_id` of `store` (whose public key the
    /// messages were prepared for) in one [`SessionKeyStore::sign_many`] call.
    pub fn sign(self, store: &(impl SessionKeyStore + ?Sized), key_id: &KeyId) -> Result<SessionSigs, KeyStoreError> {
        let refs: Vec<&[u8]> = self.messages.iter().map(|m| m.as_bytes()).collect();
        let sigs = store.sign_many(key_id, &refs)?;
        Ok(SessionSigs::from_parts(&self.public_key, self.nodes, self.messages, sigs))
    }
}

/// What every kind of session request takes besides its nodes, resources and clock: the rest of
/// `getSessionSigs`' parameters. [`SessionSigsRequest`], [`crate::pkp::PkpSessionSigsRequest`]
/// and the session manager's per-call options ([`crate::manager::SessionSigsOptions`]) carry
/// it.
///
/// ```
/// use lit_session_signer::session_sigs::SessionParams;
/// let params = SessionParams::new("0x3a9c4f1e8b7d6a5c4b3a2918").with_domain("example.com").with_chain_id(137);
/// assert_eq!(params.siwe.domain.as_deref(), Some("example.com"));
/// assert_eq!(params.expiration, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionParams {
    /// The SIWE nonce (a recent block hash).
    pub nonce: String,
    /// The session's (and a new AuthSig's) expiration; each request type has its default.
    pub expiration: Option<Timestamp>,
    /// Capability AuthSigs (e.g. capacity delegations), placed before the session AuthSig.
    pub capability_auth_sigs: Vec<Value>,
    /// SIWE fields of a new AuthSig.
    pub siwe: SiweOptions,
    /// The signed-message layout of the nodes' network.
    pub format: SessionFormat,
    /// The v8 format's node choice and prices (default: every node, the SDK's split of
    /// 2^128 − 1 over nodes priced 0). Refused with the v7 format.
    pub pricing: Option<NodePricing>,
}

impl SessionParams {
    /// Defaults with `nonce`.
    pub fn new(nonce: &str) -> Self {
        Self { nonce: nonce.to_string(), ..Self::default() }
    }

    /// The expiration of a session issued at `issued_at`: the one set, or the format's
    /// [`Self::default_lifetime`] later.
    ///
    /// ```
    /// use lit_session_signer::session_sigs::SessionParams;
    /// use lit_session_signer::SessionFormat;
    /// let t = "2026-01-20T09:30:15.250Z".parse().unwrap();
    /// assert_eq!(SessionParams::new("0x3a9c4f1e8b7d6a5c").expiration_after(t).to_string(), "2026-01-21T09:30:15.250Z");
    /// let v8 = SessionParams::new("0x3a9c4f1e8b7d6a5c").with_format(SessionFormat::V2);
    /// assert_eq!(v8.expiration_after(t).to_string(), "2026-01-20T09:45:15.250Z");
    /// ```
    pub fn expiration_after(&self, issued_at: Timestamp) -> Timestamp {
        self.expiration.unwrap_or_else(|| issued_at.saturating_add(self.default_lifetime()))
    }

    /// The SDK's default session lifetime for the format: [`DEFAULT_SESSION_LIFETIME`] (v7),
    /// [`V8_SESSION_LIFETIME`] (v8).
    pub fn default_lifetime(&self) -> Duration {
        match self.format {
            SessionFormat::V1 => DEFAULT_SESSION_LIFETIME,
            SessionFormat::V2 => V8_SESSION_LIFETIME,
        }
    }

    /// The SIWE fields of a new session AuthSig in this format. The v8 SDK's differ from the
    /// fields set: an unset statement is empty (so the SIWE statement line is a space, then the
    /// ReCap sentence), and the domain keeps only what precedes its first `/`.
    pub fn session_siwe_options(&self) -> SiweOptions {
        match self.format {
            SessionFormat::V1 => self.siwe.clone(),
            SessionFormat::V2 => SiweOptions {
                domain: self.siwe.domain.as_deref().map(|d| domain_without_path(d).to_string()),
                statement: Some(self.siwe.statement.clone().unwrap_or_default()),
                chain_id: self.siwe.chain_id,
            },
        }
    }

    /// Sets the expiration.
    pub fn with_expiration(mut self, expiration: Timestamp) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// Appends a capability AuthSig.
    pub fn with_capability_auth_sig(mut self, auth_sig: Value) -> Self {
        self.capability_auth_sigs.push(auth_sig);
        self
    }

    /// Sets the SIWE domain.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.siwe.domain = Some(domain.into());
        self
    }

    /// Sets the SIWE statement (before the ReCap sentence).
    pub fn with_statement(mut self, statement: impl Into<String>) -> Self {
        self.siwe.statement = Some(statement.into());
        self
    }

    /// Sets the SIWE chain id.
    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.siwe.chain_id = Some(chain_id);
        self
    }

    /// Sets the signed-message layout.
    pub fn with_format(mut self, format: SessionFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the v8 node choice and prices.
    pub fn with_pricing(mut self, pricing: NodePricing) -> Self {
        self.pricing = Some(pricing);
        self
    }

    /// Checks the capability AuthSigs' shape.
    pub(crate) fn check_capabilities(&self) -> Result<(), SessionSigsError> {
        for (i, cap) in self.capability_auth_sigs.iter().enumerate() {
            check_capability(cap)
                .and_then(|()| match self.format {
                    SessionFormat::V1 => Ok(()),
                    SessionFormat::V2 => check_algo(cap),
                })
                .map_err(|reason| SessionSigsError::InvalidCapability { index: i + 1, reason })?;
        }
        Ok(())
    }

    /// Checks that the format can carry these settings and requests.
    pub(crate) fn check_format(&self, requests: &[ResourceAbilityRequest]) -> Result<(), SessionSigsError> {
        if self.format == SessionFormat::V1 && self.pricing.is_some() {
            return Err(SessionSigsError::PricingNeedsV8);
        }
        if let Some(r) = requests.iter().find(|r| !self.format.knows(r.resource().prefix())) {
            let why = match self.format {
                SessionFormat::V1 => "payment delegation is a Naga feature (use the v8 format)",
                SessionFormat::V2 => "Naga has no capacity credits (use a payment delegation)",
            };
            return Err(SessionSigsError::ResourceNotInFormat {
                prefix: r.resource().prefix(),
                format: self.format,
                why,
            });
        }
        Ok(())
    }

    /// The nodes to sign for: every node (v7), or the v8 pricing's choice.
    pub(crate) fn session_nodes(&self, nodes: &NodeList) -> Result<SessionNodes, SessionSigsError> {
        match self.format {
            SessionFormat::V1 => Ok(SessionNodes::unpriced(nodes)),
            SessionFormat::V2 => Ok(SessionNodes::priced(nodes, &self.pricing.clone().unwrap_or_default())?),
        }
    }
}

// The v8 SDK's `DomainSchema`: the part before the first `/`, unless that is empty.
fn domain_without_path(domain: &str) -> &str {
    match domain.split('/').next() {
        Some(head) if !head.is_empty() => head,
        _ => domain,
    }
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
/// let mut request = SessionSigsRequest::new(
///     vec!["https://127.0.0.1:7470".parse().unwrap()],
///     vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
///     "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
/// );
/// request.params.siwe.domain = Some("example.com".into());
/// let sigs = request.sign(&store, &key, &wallet).unwrap();
/// assert_eq!(sigs.len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct SessionSigsRequest {
    /// Node URLs; the map is keyed by these, in this order.
    pub nodes: Vec<NodeUrl>,
    /// What the session may do.
    pub requests: Vec<ResourceAbilityRequest>,
    /// The clock: SIWE `Issued At` and the session's issuedAt.
    pub now: Timestamp,
    /// Nonce, expiration (default `now` + 24 h; v8: + 15 min), capabilities, SIWE options,
    /// format and v8 pricing.
    pub params: SessionParams,
}

impl SessionSigsRequest {
    /// A request with the SDK's defaults and the real clock.
    pub fn new(nodes: Vec<NodeUrl>, requests: Vec<ResourceAbilityRequest>, nonce: &str) -> Self {
        Self::from_params(nodes, requests, SessionParams::new(nonce))
    }

    /// A request with `params` and the real clock.
    ///
    /// ```
    /// use lit_session_signer::session_sigs::{SessionParams, SessionSigsRequest};
    /// let params = SessionParams::new("0x3a9c4f1e8b7d6a5c4b3a2918").with_domain("example.com");
    /// let request = SessionSigsRequest::from_params(
    ///     vec!["https://127.0.0.1:7470".parse().unwrap()],
    ///     vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
    ///     params,
    /// )
    /// .with_now("2025-03-15T12:34:56.789Z".parse().unwrap());
    /// assert_eq!(request.expiration().to_string(), "2025-03-16T12:34:56.789Z");
    /// ```
    pub fn from_params(nodes: Vec<NodeUrl>, requests: Vec<ResourceAbilityRequest>, params: SessionParams) -> Self {
        Self { nodes, requests, now: Timestamp::now(), params }
    }

    /// Sets the clock (SIWE `Issued At` and the session's issuedAt).
    pub fn with_now(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// The expiration in force.
    pub fn expiration(&self) -> Timestamp {
        self.params.expiration_after(self.now)
    }

    /// Checks the request without signing anything.
    pub fn validate(&self) -> Result<(), SessionSigsError> {
        self.session_nodes().map(drop)
    }

    /// The nodes the session is signed for, in map order (for v8: the cheapest
    /// `threshold`, cheapest first, each with its `maxPrice`), after every check.
    pub fn session_nodes(&self) -> Result<SessionNodes, SessionSigsError> {
        self.params.session_nodes(&self.checked_nodes()?)
    }

    // The checks of `validate` but the pricing, keeping the checked node list.
    pub(crate) fn checked_nodes(&self) -> Result<NodeList, SessionSigsError> {
        let nodes = NodeList::from_slice(&self.nodes)?;
        if self.requests.is_empty() {
            return Err(SessionSigsError::NoRequests);
        }
        self.params.check_format(&self.requests)?;
        let expiration = self.expiration();
        if expiration <= self.now {
            return Err(SessionSigsError::ExpirationNotAfterIssuedAt { issued_at: self.now, expiration });
        }
        self.params.check_capabilities()?;
        Ok(nodes)
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
        SiweMessage::new(signer, &self.params.nonce, self.now)
            .with_uri(&session_key_uri(session_key))
            .with_expiration(self.expiration())
            .with_options(&self.params.session_siwe_options())
            .with_requests(&self.requests)
    }

    /// Builds and signs the session AuthSig with `wallet`, then signs every node's message with
    /// session key `key_id`.
    pub fn sign(
        &self,
        store: &(impl SessionKeyStore + ?Sized),
        key_id: &KeyId,
        wallet: &(impl WalletSigner + ?Sized),
    ) -> Result<SessionSigs, SessionSigsError> {
        let nodes = self.session_nodes()?;
        let public_key = store.public_key(key_id)?;
        let auth_sig = AuthSig::sign(wallet, &self.session_siwe(&public_key, wallet))?;
        Ok(self.template(&auth_sig).prepare(public_key, &nodes).sign(store, key_id)?)
    }

    /// The shared template, with `session_auth_sig` as the last capability.
    pub fn template(&self, session_auth_sig: &AuthSig) -> SessionTemplate {
        let json = serde_json::to_value(session_auth_sig).expect("an AuthSig of strings serialises to JSON");
        self.template_with(json)
    }

    /// [`Self::template`] with the session AuthSig already as a JSON object (e.g. cached).
    pub fn template_with(&self, session_auth_sig: Value) -> SessionTemplate {
        let mut capabilities = Vec::with_capacity(self.params.capability_auth_sigs.len() + 1);
        capabilities.extend_from_slice(&self.params.capability_auth_sigs);
        capabilities.push(session_auth_sig);
        SessionTemplate {
            format: self.params.format,
            requests: self.requests.clone(),
            capabilities,
            issued_at: self.now,
            expiration: self.expiration(),
        }
    }
}

// The v8 SDK's `AuthSigSchema` takes `algo` only as a string.
fn check_algo(cap: &Value) -> Result<(), String> {
    match cap.get("algo") {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err("algo is not a string".into()),
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

    #[test]
    fn bad_node_lists_are_refused_before_signing() {
        let n: NodeUrl = "http://127.0.0.1:7471".parse().unwrap();
        let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        let none = SessionSigsRequest::new(vec![], requests.clone(), "0x1234567890");
        assert!(matches!(none.validate(), Err(SessionSigsError::Nodes(NodeListError::Empty))));
        let twice = SessionSigsRequest::new(vec![n.clone(), n], requests, "0x1234567890");
        assert!(matches!(twice.validate(), Err(SessionSigsError::Nodes(NodeListError::Duplicate(_)))));
    }
}
