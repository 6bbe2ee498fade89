//! Verifying session signatures the way a Lit node does, generation by generation, with an
//! optional stricter policy, a capability cache and batch ed25519 verification.
//!
//! The node's rules (Datil `LIT-Protocol/Node` v1.0.18, Naga `LIT-Protocol/lit-peer`), each a
//! function in [`rules`] named after the node code it models, in order:
//!
//! 0. the request's `authSig` is read as the node reads a JSON AuthSig
//!    ([`rules::read_session_sig`]: unknown and repeated keys refused) and must be a session sig
//!    by its `derivedVia`/`algo` ([`rules::session_sig_type`]);
//! 1. `check_ed25519_auth_sig`: `address` is 32 bytes by the node's hex reading (`0x` and odd
//!    length tolerated), `sig` 128 hex digits of one case, `verify_strict` over `signedMessage`;
//! 2. `signedMessage` parses as the generation's message ([`rules::parse_signed_message`]):
//!    Datil ignores `maxPrice`, Naga requires it (decimal, `0x`-hex, even `""`);
//! 3. some `resourceAbilityRequests` entry has the requested prefix and `*` or the id;
//! 4. times in chrono's reading, compared in whole seconds: issuedAt ≤ now + 60 s, expiration ≥
//!    issuedAt, expiration ≥ now − 60 s, expiration ≤ issuedAt + 30 days;
//! 5. the signed `nodeAddress`, scheme prefixes stripped, is this node's `host:port`;
//! 6. the first capability that passes wins: SIWE valid now, its signature (EIP-191 recovery as
//!    siwe 0.5 does it, high s accepted; or BLS against the network key, see
//!    [`VerifyPolicy::with_network_key`]), URI `lit:session:<address>`, every decodable ReCap's
//!    statement a suffix of the SIWE statement when there is one, and a ReCap granting the
//!    ability (undecodable ReCaps are dropped);
//! 7. Datil's unversioned routes, when 1–6 fail, accept what passes the older fallback
//!    ([`Route::Unversioned`], [`rules::unversioned_fallback`]);
//! 8. Naga's payment step: the user (the winning capability's `address`) is a 20-byte address,
//!    and the node's price, when given ([`VerifyPolicy::with_node_price`]), is at most `maxPrice`.
//!
//! [`VerifyPolicy::strict`] adds, beyond any node: canonical hex, `sessionKey == address`, each
//! capability's `address` is its SIWE signer, canonical wallet signatures (low s), every ReCap
//! decodable and stated, SIWE domains on an allow-list, a maximum lifetime, no invalid or expired
//! capability at all (the node's rate-limit path fails on those), and for `LIT_BLS` capabilities
//! the SDK's own reuse rule. `docs/verify-rules.md` tabulates all of it.

mod batch;
mod cache;
mod capability;
mod ed25519;
mod error;
mod file;
mod inspect;
pub mod node;
pub mod rules;

use std::sync::Arc;

use time::Duration;

pub use batch::BatchItem;
pub use cache::{CapabilityCache, DEFAULT_CACHE_CAPACITY};
pub use capability::{CapabilityKind, CheckedCapability, Passed, SignatureStatus, SiweFacts};
pub use ed25519::{has_canonical_y, is_canonical_scalar, is_small_order_encoding};
pub use error::{CapabilityError, VerifyError};
pub use file::{parse_session_sigs, select_session_sig, SessionSigsEntry, SessionSigsFileError};
pub use inspect::{
    human_duration, inspect, CapabilityReport, EntryReport, InspectReport, PaymentCheck, RequestVerdict,
};
// The signed message and AuthSig formats, read here, are defined with the wire format.
pub use crate::protocol::{normalize_node_address, CapabilityAuthSig, SignedMessage, SignedRequest, SignedResource};
pub use rules::NODE_MAX_LIFETIME;

use crate::bls::NetworkPublicKey;
use crate::eth::EthAddress;
use crate::protocol::{JsonAuthSig, NodeUrl, Price, SessionFormat};
use crate::resources::ResourceAbilityRequest;
use crate::session_sigs::SessionSig;
use crate::Timestamp;

/// Which generation of Lit nodes verifies: it decides how the signed message is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Generation {
    /// Datil (`LIT-Protocol/Node` v1.0.18, JS SDK v7): reads V1 and V2 messages alike (it does
    /// not know `maxPrice`).
    #[default]
    Datil,
    /// Naga (`lit-peer`, JS SDK v8): reads V2 only; `maxPrice` is required.
    Naga,
}

impl Generation {
    /// The layout its nodes parse ([`SignedMessage::parse_as`]).
    pub const fn format(self) -> SessionFormat {
        match self {
            Self::Datil => SessionFormat::V1,
            Self::Naga => SessionFormat::V2,
        }
    }

    /// `datil` or `naga`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Datil => "datil",
            Self::Naga => "naga",
        }
    }
}

impl std::str::FromStr for Generation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "datil" => Ok(Self::Datil),
            "naga" => Ok(Self::Naga),
            other => Err(format!("unknown network generation {other:?} (expected datil or naga)")),
        }
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of a Datil node's routes receives the request: it decides whether a failed session
/// check falls back to the older one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Route {
    /// The versioned routes (`/web/…/v1`): `validate_session_sig` alone.
    #[default]
    V1,
    /// The unversioned routes the v7 SDK uses for `decrypt` (`/web/encryption/sign`) and ACC
    /// signing (`/web/signing/access_control_condition`): when `validate_session_sig` fails, the
    /// node tries `validate_and_extract_wallet_sig` ([`rules::unversioned_fallback`]). Naga's
    /// unversioned routes only answer that they are deprecated, so this applies to Datil.
    Unversioned,
}

impl Route {
    /// `v1` or `unversioned`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::Unversioned => "unversioned",
        }
    }
}

impl std::str::FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Self::V1),
            "unversioned" => Ok(Self::Unversioned),
            other => Err(format!("unknown route {other:?} (expected v1 or unversioned)")),
        }
    }
}

/// What to check beyond the node's rules, and what the node knows. The default is the node's
/// behaviour (a Datil node, `/v1` routes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Apply the strict rules below.
    pub strict: bool,
    /// Strict: allowed SIWE domains of every capability (empty = any).
    pub allowed_domains: Vec<String>,
    /// Strict: the longest allowed session (expiration − issuedAt).
    pub max_lifetime: Duration,
    /// Network BLS public keys a `LIT_BLS` capability may verify against (a node knows one:
    /// its network's; several allow for key rotation or several networks). Empty: such
    /// capabilities give [`VerifyError::NeedsNetworkKey`].
    pub network_keys: Vec<NetworkPublicKey>,
    /// The node generation whose rules apply.
    pub generation: Generation,
    /// Datil: the route the request goes to ([`Route::Unversioned`] adds the fallback).
    pub route: Route,
    /// Naga: the node's current price for the operation; when set, `maxPrice` must cover it.
    pub node_price: Option<Price>,
}

impl VerifyPolicy {
    /// Exactly the node's rules.
    pub fn node() -> Self {
        Self {
            strict: false,
            allowed_domains: Vec::new(),
            max_lifetime: NODE_MAX_LIFETIME,
            network_keys: Vec::new(),
            generation: Generation::Datil,
            route: Route::V1,
            node_price: None,
        }
    }

    /// The node's rules plus the strict ones, any domain, at most 24 hours (the SDK's default
    /// session lifetime).
    pub fn strict() -> Self {
        Self { strict: true, max_lifetime: Duration::hours(24), ..Self::node() }
    }

    /// Verifies as the nodes of `generation` do.
    ///
    /// ```
    /// use lit_session_signer::verify::{Generation, VerifyPolicy};
    /// let naga = VerifyPolicy::node().for_generation(Generation::Naga);
    /// assert_eq!(naga.generation, Generation::Naga);
    /// ```
    pub fn for_generation(mut self, generation: Generation) -> Self {
        self.generation = generation;
        self
    }

    /// Verifies as a Datil node's `route` does.
    ///
    /// ```
    /// use lit_session_signer::verify::{Route, VerifyPolicy};
    /// let decrypt = VerifyPolicy::node().with_route(Route::Unversioned);
    /// assert_eq!(decrypt.route, Route::Unversioned);
    /// ```
    pub fn with_route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// The Naga node's current price for the operation (wei): the signed `maxPrice` must be at
    /// least this.
    pub fn with_node_price(mut self, price: Price) -> Self {
        self.node_price = Some(price);
        self
    }

    /// Restricts the SIWE domains (strict only).
    pub fn with_allowed_domains(mut self, domains: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a network BLS public key for `LIT_BLS` capabilities.
    ///
    /// ```
    /// use lit_session_signer::verify::VerifyPolicy;
    /// let key = "a43499a4b786da2dd28af9f209eb152ff6f646b34b68a02954967271e17fb4c511fd67b81e067f690c6f38acab70585d".parse().unwrap();
    /// let policy = VerifyPolicy::node().with_network_key(key);
    /// assert_eq!(policy.network_keys.len(), 1);
    /// ```
    pub fn with_network_key(mut self, key: NetworkPublicKey) -> Self {
        if !self.network_keys.contains(&key) {
            self.network_keys.push(key);
        }
        self
    }

    /// Adds several network BLS public keys.
    pub fn with_network_keys(self, keys: impl IntoIterator<Item = NetworkPublicKey>) -> Self {
        keys.into_iter().fold(self, Self::with_network_key)
    }

    /// Sets the maximum lifetime (strict only).
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        Self::node()
    }
}

/// A session signature that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The winning capability's position in `capabilities`.
    pub capability_index: usize,
    /// Its `address` field: the identity the node acts for.
    pub user_address: String,
    /// Its SIWE signer.
    pub siwe_address: EthAddress,
    /// The session's issuedAt (`None` only when the route's fallback passed a session whose
    /// times do not parse).
    pub issued_at: Option<Timestamp>,
    /// The session's expiration (likewise).
    pub expiration: Option<Timestamp>,
    /// Datil, unversioned route: the `/v1` check failed for this reason and the older fallback
    /// accepted the session.
    pub via_fallback: Option<Box<VerifyError>>,
}

/// Verifies one session signature, uncached: what a node at `node` does for a request for
/// `request`'s resource and ability at time `now`, plus `policy`.
///
/// ```
/// use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
/// use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
/// use lit_session_signer::verify::{verify_session_sig, VerifyError, VerifyPolicy};
/// use lit_session_signer::wallet::MemoryWallet;
///
/// let store = MemoryKeyStore::new();
/// let key = store.generate("session").unwrap();
/// let wallet = MemoryWallet::random().unwrap();
/// let node: NodeUrl = "https://127.0.0.1:7470".parse().unwrap();
/// let request = SessionSigsRequest::new(vec![node.clone()], vec!["lit-pkp://*=pkp-signing".parse().unwrap()], "0x3a9c4f1e8b7d6a5c");
/// let sigs = request.sign(&store, &key, &wallet).unwrap();
/// let sig = sigs.get(node.as_str()).unwrap();
///
/// let pkp = "lit-pkp://0x1a2b=pkp-signing".parse().unwrap();
/// assert!(verify_session_sig(sig, &node, &pkp, request.now, &VerifyPolicy::node()).is_ok());
///
/// let other: NodeUrl = "https://127.0.0.1:7471".parse().unwrap();
/// let err = verify_session_sig(sig, &other, &pkp, request.now, &VerifyPolicy::node()).unwrap_err();
/// assert!(matches!(err, VerifyError::NodeAddressMismatch { .. }));
/// assert!(err.to_string().starts_with("node-address: "));
/// ```
pub fn verify_session_sig(
    session_sig: &SessionSig,
    node: &NodeUrl,
    request: &ResourceAbilityRequest,
    now: Timestamp,
    policy: &VerifyPolicy,
) -> Result<Verified, VerifyError> {
    rules::session_sig_type(session_sig)?;
    ed25519::verify(&session_sig.address, &session_sig.sig, &session_sig.signed_message)?;
    rules::check_message(session_sig, node, request, now, policy, None)
}

/// A reusable, thread-safe verifier: a policy plus a bounded cache of capability checks, so an
/// AuthSig shared by many session signatures is recovered once. `Send + Sync`; share it with an
/// `Arc` or by reference across threads.
#[derive(Debug)]
pub struct Verifier {
    policy: VerifyPolicy,
    cache: CapabilityCache,
    keys: cache::KeyCache,
}

impl Verifier {
    /// A verifier with [`DEFAULT_CACHE_CAPACITY`] cached capabilities.
    pub fn new(policy: VerifyPolicy) -> Self {
        Self::with_cache_capacity(policy, DEFAULT_CACHE_CAPACITY)
    }

    /// A verifier caching at most `capacity` capabilities (0 disables the cache).
    pub fn with_cache_capacity(policy: VerifyPolicy, capacity: usize) -> Self {
        Self { policy, cache: CapabilityCache::new(capacity), keys: cache::KeyCache::new(capacity) }
    }

    /// The policy in force.
    pub fn policy(&self) -> &VerifyPolicy {
        &self.policy
    }

    /// The capability cache.
    pub fn cache(&self) -> &CapabilityCache {
        &self.cache
    }

    /// [`verify_session_sig`] with the cache.
    pub fn verify(
        &self,
        session_sig: &SessionSig,
        node: &NodeUrl,
        request: &ResourceAbilityRequest,
        now: Timestamp,
    ) -> Result<Verified, VerifyError> {
        rules::session_sig_type(session_sig)?;
        let (key, _) = self.keys.decode(&session_sig.address)?;
        ed25519::verify_with(&key, &session_sig.sig, &session_sig.signed_message)?;
        self.verify_after_signature(session_sig, node, request, now)
    }

    /// Verifies a session sig given as the JSON the node receives, read as the node reads it
    /// ([`rules::read_session_sig`]) before the other rules.
    ///
    /// ```
    /// use lit_session_signer::verify::{Verifier, VerifyError};
    /// let node = "https://127.0.0.1:7470".parse().unwrap();
    /// let request = "lit-pkp://*=pkp-signing".parse().unwrap();
    /// let now = "2025-03-15T12:34:56.789Z".parse().unwrap();
    /// let err = Verifier::default().verify_json(r#"{"sig":"","derivedVia":"","signedMessage":"","address":"","chain":"x"}"#, &node, &request, now).unwrap_err();
    /// assert_eq!(err.rule(), "auth-sig-json");
    /// ```
    pub fn verify_json(
        &self,
        json: &str,
        node: &NodeUrl,
        request: &ResourceAbilityRequest,
        now: Timestamp,
    ) -> Result<Verified, VerifyError> {
        self.verify(&rules::read_session_sig(json)?, node, request, now)
    }

    /// [`Self::verify_json`] on an entry of a sessionSigs file.
    pub fn verify_entry(
        &self,
        entry: &SessionSigsEntry,
        node: &NodeUrl,
        request: &ResourceAbilityRequest,
        now: Timestamp,
    ) -> Result<Verified, VerifyError> {
        self.verify_json(&entry.json, node, request, now)
    }

    fn verify_after_signature(
        &self,
        session_sig: &SessionSig,
        node: &NodeUrl,
        request: &ResourceAbilityRequest,
        now: Timestamp,
    ) -> Result<Verified, VerifyError> {
        rules::check_message(session_sig, node, request, now, &self.policy, Some(&self.cache))
    }

    /// The cached check of one capability (for inspection).
    pub fn check_capability<S: AsRef<str>>(&self, cap: &JsonAuthSig<S>, now: Timestamp) -> Arc<CheckedCapability> {
        self.cache.get_or_check(cap, now, &self.policy.network_keys)
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(VerifyPolicy::node())
    }
}
