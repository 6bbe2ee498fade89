//! Everything the service takes from the `lit-session-signer` library, in one module: key stores
//! and wallets built from the configuration, the session manager, request parsing (resources,
//! node URLs, times, prices), verification, capacity and payment delegation. The rest of the crate sees only the
//! types re-exported here and the functions below, so a change of the library's layout changes
//! this file only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::Duration;

use lit_session_signer::capacity_delegation::CapacityDelegation;
use lit_session_signer::eth::RecoverableSignature;
use lit_session_signer::keystore::{KeyId, KeyOptions, KeyStoreError, MemoryKeyStore, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::manager::{
    AuthSigUse, AuthSource, ManagerConfig, ManagerError, ReuseGrants, SessionKeyPolicy, SessionManager,
    SessionSigsOptions, StoreFailures,
};
use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentDelegationError};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};
use lit_session_signer::siwe::SiweOptions;
use lit_session_signer::verify::{parse_session_sigs, select_session_sig, Verifier, VerifyPolicy};
use lit_session_signer::wallet::{MemoryWallet, Pkcs11Wallet, WalletError, WalletSigner};

pub use lit_session_signer::auth_sig::AuthSig;
pub use lit_session_signer::error_chain;
pub use lit_session_signer::eth::EthAddress;
pub use lit_session_signer::keystore::VerifyingKey;
pub use lit_session_signer::manager::{AuthSigKey, AuthSigStore, AuthStoreError, MintLock, StoreFailure};
pub use lit_session_signer::payment_delegation::PaymentScope;
pub use lit_session_signer::pricing::{MaxPrice, NodePricing, PricingError};
pub use lit_session_signer::protocol::{NodeUrl, Price, PriceError, SessionFormat};
pub use lit_session_signer::resources::{LitAbility, ResourceAbilityRequest, ResourcePrefix};
/// The library's one rule for secret files, which the command line applies too ([`crate::secrets`]).
pub use lit_session_signer::secret_file::{check_permissions, read_secret, read_secret_text, SecretFileError};
pub use lit_session_signer::session_sigs::V8_SESSION_LIFETIME;
pub use lit_session_signer::verify::{Generation, Route};
pub use lit_session_signer::Timestamp;

/// A message the health probe signs with the session key (never sent anywhere).
const PROBE_MESSAGE: &[u8] = b"lit-session-server readiness probe";

/// Why a signing call failed, classified for the HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The request cannot be signed as given (bad expiration, capability AuthSig, domain, …).
    #[error("{0}")]
    Request(String),
    /// The session key or wallet store cannot sign (HSM down, key missing, …).
    #[error("{0}")]
    Hsm(String),
    /// The AuthSig signer refused or returned something unusable.
    #[error("{0}")]
    Signer(String),
    /// The AuthSig store failed (cannot be reached or refused).
    #[error("{0}")]
    Store(String),
    /// The AuthSig store is up but the call waited too long (a lock, a connection).
    #[error("{0}")]
    StoreBusy(String),
    /// A bug or a dead background task.
    #[error("{0}")]
    Internal(String),
}

fn classify(e: ManagerError) -> SignError {
    match e {
        ManagerError::Request(e) => SignError::Request(e.to_string()),
        ManagerError::KeyStore(e) => SignError::Hsm(format!("session key: {}", error_chain(&e))),
        ManagerError::NoSessionKey => SignError::Hsm(e.to_string()),
        ManagerError::Wallet(e) => match e {
            lit_session_signer::auth_sig::AuthSigError::Wallet(w) => {
                SignError::Hsm(format!("wallet: {}", error_chain(&w)))
            }
            other => SignError::Request(other.to_string()),
        },
        ManagerError::Callback(e) => SignError::Signer(error_chain(&*e)),
        ManagerError::Rejected(r) => SignError::Signer(format!("the new AuthSig was refused: {r}")),
        ManagerError::Store(e @ AuthStoreError::Store { failure: StoreFailure::Busy, .. }) => {
            SignError::StoreBusy(error_chain(&e))
        }
        ManagerError::Store(e) => SignError::Store(error_chain(&e)),
        other => SignError::Internal(error_chain(&other)),
    }
}

/// Where a profile's session key lives.
#[derive(Debug, Clone)]
pub enum SessionKeySpec {
    /// A fresh in-memory key (lost at exit; for dev mode and tests).
    Memory,
    /// An in-memory key from a 32-byte hex seed file (a secret file).
    SeedFile(PathBuf),
    /// A key on a PKCS#11 token. With `object=`/`id=` in the URI the key is fixed; without,
    /// keys labelled `<label_prefix>-<unix time>` are made and rotated after `rotate_after`.
    Pkcs11 {
        /// The RFC 7512 URI, as the CLI takes it.
        uri: String,
        /// Label prefix for managed keys (URI without a key selector).
        label_prefix: Option<String>,
        /// Rotation period for managed keys.
        rotate_after: Option<Duration>,
    },
}

/// Where a profile's wallet lives.
#[derive(Debug, Clone)]
pub enum WalletSpec {
    /// A fresh random in-memory wallet (dev mode and tests).
    Random,
    /// A 32-byte hex secp256k1 key file (a secret file).
    KeyFile(PathBuf),
    /// A secp256k1 key on a PKCS#11 token, by URI with `object=` or `id=`.
    Pkcs11(String),
}

/// A signer profile as configured.
#[derive(Debug, Clone)]
pub struct SignerSpec {
    /// The profile's name (requests select it with `signer`).
    pub name: String,
    /// The session key.
    pub session_key: SessionKeySpec,
    /// The wallet.
    pub wallet: WalletSpec,
    /// Lifetime of a new AuthSig (default 24 h); sessions are capped by the policy.
    pub auth_sig_lifetime: Duration,
    /// A cached AuthSig expiring within this margin is replaced (default 5 min).
    pub expiry_margin: Duration,
}

enum WalletHandle {
    Memory(Arc<MemoryWallet>),
    Pkcs11(Arc<Pkcs11Wallet>),
}

impl WalletHandle {
    fn signer(&self) -> Arc<dyn WalletSigner> {
        match self {
            Self::Memory(w) => w.clone(),
            Self::Pkcs11(w) => w.clone(),
        }
    }
}

/// One signer profile: a session manager over its session key and wallet.
pub struct Signer {
    /// The profile's name.
    pub name: String,
    /// `memory` or `pkcs11`.
    pub session_backend: &'static str,
    /// `memory` or `pkcs11`.
    pub wallet_backend: &'static str,
    /// The wallet's EIP-55 address.
    pub wallet_address: String,
    manager: SessionManager,
    keys: Arc<dyn SessionKeyStore>,
    /// The fixed session key's id (`None`: labelled keys the manager picks and rotates).
    probe_key: Option<KeyId>,
    wallet: WalletHandle,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("session_backend", &self.session_backend)
            .field("wallet_backend", &self.wallet_backend)
            .field("wallet_address", &self.wallet_address)
            .finish_non_exhaustive()
    }
}

/// Errors opening a profile at start-up.
#[derive(Debug, thiserror::Error)]
#[error("signer {profile}: {message}")]
pub struct OpenError {
    /// The profile.
    pub profile: String,
    /// What failed.
    pub message: String,
}

fn read_key32(path: &Path) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
    lit_session_signer::secret_file::read_key_file(path).map(|k| k.into_zeroizing()).map_err(|e| e.to_string())
}

fn parse_uri(uri: &str) -> Result<Pkcs11Uri, String> {
    // The URI parser's errors never repeat a value that may be a PIN typed in the wrong place.
    let parsed = Pkcs11Uri::parse(uri).map_err(|e| format!("invalid PKCS#11 URI: {e}"))?;
    if let Some(PinSource::File(path)) = &parsed.pin_source {
        check_permissions(path).map_err(|e| format!("pin-source: {e}"))?;
    }
    Ok(parsed)
}

/// Whether a session-key `pkcs11:` URI names one key (`object=` or `id=`), rather than leaving
/// the manager to make and rotate labelled keys.
pub fn session_uri_names_key(uri: &str) -> Result<bool, String> {
    let parsed = Pkcs11Uri::parse(uri).map_err(|e| format!("invalid PKCS#11 URI: {e}"))?;
    Ok(parsed.id.is_some() || parsed.object.is_some())
}

impl Signer {
    /// Opens the profile (blocking: PKCS#11 log-in and key look-up), caching AuthSigs in `store`
    /// (the service store's view, [`crate::store::auth_sig_cache`]): new AuthSigs are minted
    /// under its mint lock, so processes sharing the store and the session key cause one wallet
    /// signature, and a store that fails fails the call rather than leave an AuthSig unrecorded.
    ///
    /// `mint_sign_timeout` bounds the wallet's AuthSig signature under the mint lock (the lock
    /// is kept that long): a slower signature fails the call and its AuthSig is not used.
    pub fn open(
        spec: &SignerSpec,
        store: Arc<dyn AuthSigStore>,
        mint_sign_timeout: std::time::Duration,
    ) -> Result<Self, OpenError> {
        let err = |message: String| OpenError { profile: spec.name.clone(), message };
        let (keys, policy, session_backend): (Arc<dyn SessionKeyStore>, SessionKeyPolicy, &'static str) = match &spec
            .session_key
        {
            SessionKeySpec::Memory => {
                let store = MemoryKeyStore::new();
                let id = store.generate(&format!("{}-session", spec.name)).map_err(|e| err(e.to_string()))?;
                (Arc::new(store), SessionKeyPolicy::Fixed(id), "memory")
            }
            SessionKeySpec::SeedFile(path) => {
                let store = MemoryKeyStore::new();
                let seed = read_key32(path).map_err(|e| err(format!("session key seed: {e}")))?;
                let id = store.import_seed(&format!("{}-session", spec.name), seed).map_err(|e| err(e.to_string()))?;
                (Arc::new(store), SessionKeyPolicy::Fixed(id), "memory")
            }
            SessionKeySpec::Pkcs11 { uri, label_prefix, rotate_after } => {
                let parsed = parse_uri(uri).map_err(|e| err(format!("session key: {e}")))?;
                let store = Pkcs11KeyStore::open(&parsed).map_err(|e| err(format!("session key: {e}")))?;
                let policy = if parsed.id.is_some() || parsed.object.is_some() {
                    SessionKeyPolicy::Fixed(store.resolve(&parsed).map_err(|e| err(format!("session key: {e}")))?)
                } else {
                    SessionKeyPolicy::Labelled {
                        prefix: label_prefix.clone().unwrap_or_else(|| format!("lit-session-{}", spec.name)),
                        rotate_after: *rotate_after,
                    }
                };
                (Arc::new(store), policy, "pkcs11")
            }
        };
        let (wallet, wallet_backend) = match &spec.wallet {
            WalletSpec::Random => {
                (WalletHandle::Memory(Arc::new(MemoryWallet::random().map_err(|e| err(e.to_string()))?)), "memory")
            }
            WalletSpec::KeyFile(path) => {
                let key = read_key32(path).map_err(|e| err(format!("wallet key: {e}")))?;
                let wallet = MemoryWallet::from_bytes(&key).map_err(|e| err(format!("wallet key: {e}")))?;
                (WalletHandle::Memory(Arc::new(wallet)), "memory")
            }
            WalletSpec::Pkcs11(uri) => {
                let parsed = parse_uri(uri).map_err(|e| err(format!("wallet: {e}")))?;
                let wallet = Pkcs11Wallet::open(&parsed).map_err(|e| err(format!("wallet: {e}")))?;
                (WalletHandle::Pkcs11(Arc::new(wallet)), "pkcs11")
            }
        };
        let signer = wallet.signer();
        let wallet_address = signer.address().to_checksum();
        let auth = AuthSource::Wallet(Arc::new(BoundedWallet { inner: signer, bound: mint_sign_timeout }));
        let config = ManagerConfig {
            lifetime: spec.auth_sig_lifetime,
            expiry_margin: spec.expiry_margin,
            // Sessions are capped short by the policy; the AuthSig lives on its own clock.
            auth_sig_lifetime: Some(spec.auth_sig_lifetime),
            store_failures: StoreFailures::Fail,
            // Clients of one profile have different grants: an AuthSig that grants more than a
            // call asked for would lend its session the extra abilities.
            reuse_grants: ReuseGrants::Exact,
            ..ManagerConfig::default()
        };
        let probe_key = match &policy {
            SessionKeyPolicy::Fixed(id) => Some(id.clone()),
            SessionKeyPolicy::Labelled { .. } => None,
        };
        let manager = SessionManager::new(keys.clone(), policy, auth, store).with_config(config);
        Ok(Self {
            name: spec.name.clone(),
            session_backend,
            wallet_backend,
            wallet_address,
            manager,
            keys,
            probe_key,
            wallet,
        })
    }

    /// The current session public key, lowercase hex.
    pub async fn session_public_key(&self) -> Result<String, SignError> {
        let (_, public) = self.manager.session_key().await.map_err(classify)?;
        Ok(hex::encode(public.as_bytes()))
    }

    /// Mints the per-node map: every node (v7), or the nodes the v8 pricing chooses, cheapest
    /// first.
    pub async fn mint(&self, input: &MintInput) -> Result<Minted, SignError> {
        // A default lifetime counts from now, the moment minting starts (not from when the
        // request arrived or the process started), and never beyond the policy's limit.
        let expiration = match input.default_lifetime {
            Some(lifetime) => Timestamp::now().saturating_add(lifetime).min(input.expiration),
            None => input.expiration,
        };
        let options = SessionSigsOptions {
            nonce: input.nonce.clone(),
            expiration: Some(expiration),
            capability_auth_sigs: input.capability_auth_sigs.clone(),
            siwe: SiweOptions {
                domain: input.domain.clone(),
                statement: input.statement.clone(),
                chain_id: input.chain_id,
            },
            format: input.format,
            pricing: input.pricing.clone(),
        };
        let report =
            self.manager.session_sigs_report(&input.nodes, &input.requests, &options).await.map_err(classify)?;
        let (auth_use, auth_expiration, resign_reason) = match &report.auth_sig {
            // Another process sharing the store signed it while this one waited for the lock.
            AuthSigUse::Reused { expiration } if report.waited => ("waited", *expiration, None),
            AuthSigUse::Reused { expiration } => ("reused", *expiration, None),
            AuthSigUse::Signed { reason, expiration } => ("signed", *expiration, Some(reason.to_string())),
        };
        let session_key = report.sigs.iter().next().map(|(_, s)| s.address.clone()).unwrap_or_default();
        let json = RawValue::from_string(report.sigs.to_json())
            .map_err(|e| SignError::Internal(format!("session sigs JSON: {e}")))?;
        Ok(Minted {
            session_sigs: json,
            session_key,
            expiration,
            auth_use,
            auth_expiration,
            auth_address: self.wallet_address.clone(),
            resign_reason,
            warnings: report.warnings,
            count: report.sigs.len(),
        })
    }

    /// Signs a probe message with the session key (labelled keys: lists the token's keys) and
    /// reads the wallet key's attributes: the honest answer to "can this profile sign now".
    /// It never takes the session manager's lock, which a mint holds while it waits for another
    /// process's mint lock and the wallet: a slow mint is not an HSM outage.
    pub async fn probe(&self) -> Result<(), SignError> {
        let keys = self.keys.clone();
        let id = self.probe_key.clone();
        let session: Result<(), KeyStoreError> = blocking(move || match id {
            Some(id) => keys.sign(&id, PROBE_MESSAGE).map(|_| ()),
            None => keys.list().map(|_| ()),
        })
        .await?;
        session.map_err(|e| SignError::Hsm(format!("session key: {e}")))?;
        if let WalletHandle::Pkcs11(w) = &self.wallet {
            let w = w.clone();
            blocking(move || w.key_attributes().map(|_| ()))
                .await?
                .map_err(|e| SignError::Hsm(format!("wallet: {e}")))?;
        }
        Ok(())
    }

    /// A capacity-delegation AuthSig signed by the profile's wallet (the SDK's
    /// `createCapacityDelegationAuthSig`), as JSON.
    pub async fn capacity_delegation(&self, input: CapacityInput) -> Result<Value, SignError> {
        let delegation = CapacityDelegation {
            token_id: input.token_id,
            delegatees: input.delegatees,
            uses: input.uses,
            expiration: input.expiration,
            domain: input.domain,
            statement: input.statement,
            allow_empty_delegatees: false,
        };
        let wallet = self.wallet.signer();
        let nonce = input.nonce;
        let signed = blocking(move || delegation.sign(&*wallet, &nonce, Timestamp::now())).await?;
        let auth_sig = signed.map_err(|e| match e {
            lit_session_signer::capacity_delegation::CapacityDelegationError::AuthSig(
                lit_session_signer::auth_sig::AuthSigError::Wallet(w),
            ) => SignError::Hsm(format!("wallet: {w}")),
            other => SignError::Request(other.to_string()),
        })?;
        serde_json::to_value(&auth_sig).map_err(|e| SignError::Internal(e.to_string()))
    }

    /// A payment-delegation AuthSig signed by the profile's wallet (the v8 SDK's
    /// `createPaymentDelegationAuthSig`), as JSON.
    pub async fn payment_delegation(&self, input: PaymentInput) -> Result<Value, SignError> {
        let delegation = payment_delegation(&input);
        let wallet = self.wallet.signer();
        let nonce = input.nonce;
        let signed = blocking(move || delegation.sign(&*wallet, &nonce, Timestamp::now())).await?;
        let auth_sig = signed.map_err(|e| match e {
            PaymentDelegationError::AuthSig(lit_session_signer::auth_sig::AuthSigError::Wallet(w)) => {
                SignError::Hsm(format!("wallet: {w}"))
            }
            other => SignError::Request(other.to_string()),
        })?;
        serde_json::to_value(&auth_sig).map_err(|e| SignError::Internal(e.to_string()))
    }
}

fn payment_delegation(input: &PaymentInput) -> PaymentDelegation {
    PaymentDelegation {
        expiration: Some(input.expiration),
        domain: input.domain.clone(),
        statement: input.statement.clone(),
        ..PaymentDelegation::new(input.delegatees.clone(), input.max_price.clone(), input.scopes.clone())
    }
}

/// Checks a payment delegation's delegatees, maximum and scopes as the library writes them
/// (before the policy and the wallet see it).
pub fn check_payment_delegation(input: &PaymentInput) -> Result<(), String> {
    payment_delegation(input).restriction().map(drop).map_err(|e| e.to_string())
}

/// The wallet as the session manager sees it: a signature that takes longer than the mint
/// lock is kept is refused, since another process may have taken the lock and signed too.
struct BoundedWallet {
    inner: Arc<dyn WalletSigner>,
    bound: std::time::Duration,
}

impl WalletSigner for BoundedWallet {
    fn address(&self) -> lit_session_signer::eth::EthAddress {
        self.inner.address()
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
        let started = std::time::Instant::now();
        let signature = self.inner.sign_digest(digest)?;
        check_bound(started, self.bound)?;
        Ok(signature)
    }

    fn personal_sign(&self, message: &[u8]) -> Result<RecoverableSignature, WalletError> {
        let started = std::time::Instant::now();
        let signature = self.inner.personal_sign(message)?;
        check_bound(started, self.bound)?;
        Ok(signature)
    }
}

fn check_bound(started: std::time::Instant, bound: std::time::Duration) -> Result<(), WalletError> {
    let took = started.elapsed();
    if took <= bound {
        return Ok(());
    }
    let message = format!(
        "the wallet took {} ms to sign, longer than store.mint_sign_timeout ({} ms): the mint lock may have \
         passed to another process, so this AuthSig is not used",
        took.as_millis(),
        bound.as_millis()
    );
    Err(WalletError::Backend { source: message.into(), transient: true })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, SignError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| SignError::Internal(format!("background task failed: {e}")))
}

/// What a session-sigs call asks for, parsed.
#[derive(Debug, Clone)]
pub struct MintInput {
    /// Node URLs, exactly as given.
    pub nodes: Vec<NodeUrl>,
    /// Resource-ability requests.
    pub requests: Vec<ResourceAbilityRequest>,
    /// The SIWE nonce.
    pub nonce: String,
    /// The session expiration (after the policy's clamp).
    pub expiration: Timestamp,
    /// Capability AuthSigs, as given.
    pub capability_auth_sigs: Vec<Value>,
    /// SIWE domain.
    pub domain: Option<String>,
    /// SIWE statement.
    pub statement: Option<String>,
    /// SIWE chain id.
    pub chain_id: Option<u64>,
    /// The signed-message format.
    pub format: SessionFormat,
    /// The v8 node choice and prices (`None`: v7, or v8 with the SDK's defaults).
    pub pricing: Option<NodePricing>,
    /// The format's default lifetime, when the client gave no expiration: the session then
    /// ends this long after minting starts, but no later than [`Self::expiration`].
    pub default_lifetime: Option<Duration>,
}

/// The result of [`Signer::mint`].
#[derive(Debug)]
pub struct Minted {
    /// The map, as the SDK's `JSON.stringify(sessionSigs)` writes it.
    pub session_sigs: Box<RawValue>,
    /// The session public key, hex.
    pub session_key: String,
    /// The session expiration.
    pub expiration: Timestamp,
    /// `reused` (cached), `signed` (the wallet signed) or `waited` (another process sharing
    /// the store and session key had just signed it).
    pub auth_use: &'static str,
    /// The AuthSig's expiration.
    pub auth_expiration: Timestamp,
    /// The AuthSig's signer.
    pub auth_address: String,
    /// Why a new AuthSig was signed.
    pub resign_reason: Option<String>,
    /// Problems that did not stop the call (e.g. the store could not be written).
    pub warnings: Vec<String>,
    /// How many session sigs.
    pub count: usize,
}

/// A payment-delegation request, parsed (the v8 SDK's `createPaymentDelegationAuthSig`
/// parameters).
#[derive(Debug, Clone)]
pub struct PaymentInput {
    /// SIWE nonce.
    pub nonce: String,
    /// Who may spend (`0x` optional).
    pub delegatees: Vec<String>,
    /// The most one node's signed `maxPrice` may be: decimal, or `0x` + hex digits (written as
    /// the SDK writes it).
    pub max_price: String,
    /// What the payments may be for.
    pub scopes: Vec<PaymentScope>,
    /// Expiration (after the policy's clamp).
    pub expiration: Timestamp,
    /// SIWE domain.
    pub domain: Option<String>,
    /// SIWE statement.
    pub statement: Option<String>,
}

/// A capacity-delegation request, parsed.
#[derive(Debug, Clone, Default)]
pub struct CapacityInput {
    /// SIWE nonce.
    pub nonce: String,
    /// Capacity credit NFT id (decimal), or all.
    pub token_id: Option<String>,
    /// Who may use the credits (`None` = anyone).
    pub delegatees: Option<Vec<String>>,
    /// How many uses.
    pub uses: Option<u64>,
    /// Expiration (default 7 days).
    pub expiration: Option<Timestamp>,
    /// SIWE domain.
    pub domain: Option<String>,
    /// SIWE statement.
    pub statement: Option<String>,
}

/// Parses a node URL (`http(s)://host:port`, no path), kept byte for byte.
pub fn parse_node_url(s: &str) -> Result<NodeUrl, String> {
    s.parse::<NodeUrl>().map_err(|e| e.to_string())
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    s.parse::<Timestamp>().map_err(|e| e.to_string())
}

/// Builds one resource-ability request from the SDK's serialised form; the id is normalised as
/// the SDK and the node do (PKP ids: `0x` stripped, left-padded to 64 hex digits).
pub fn parse_request(
    prefix: &str,
    id: &str,
    ability: &str,
    data: Option<Map<String, Value>>,
) -> Result<ResourceAbilityRequest, String> {
    let prefix: ResourcePrefix =
        prefix.parse().map_err(|e: lit_session_signer::resources::ResourceError| e.to_string())?;
    let ability: LitAbility =
        ability.parse().map_err(|e: lit_session_signer::resources::ResourceError| e.to_string())?;
    let resource = lit_session_signer::resources::LitResource::new(prefix, id).map_err(|e| e.to_string())?;
    let request = ResourceAbilityRequest::new(resource, ability).map_err(|e| e.to_string())?;
    Ok(match data {
        Some(d) => request.with_data(d),
        None => request,
    })
}

/// Parses a payment-delegation scope (`pkp_sign`, `lit_action`, …).
pub fn parse_scope(s: &str) -> Result<PaymentScope, String> {
    s.parse::<PaymentScope>().map_err(|e| e.to_string())
}

/// An Ethereum address in the policy's comparison form: 40 lowercase hex digits, no `0x`
/// (`0x` optional on input; mixed case must be EIP-55), as the node compares delegatees.
pub fn address_key(s: &str) -> Result<String, String> {
    let t = s.trim();
    let prefixed = if t.starts_with("0x") { t.to_string() } else { format!("0x{t}") };
    let address: lit_session_signer::eth::EthAddress = prefixed
        .parse()
        .map_err(|_| format!("{s:?} is not an Ethereum address (40 hex digits, EIP-55 if mixed case)"))?;
    Ok(hex::encode(address.as_bytes()))
}

/// Parses a prefix name.
pub fn parse_prefix(s: &str) -> Result<ResourcePrefix, String> {
    s.parse::<ResourcePrefix>().map_err(|e| e.to_string())
}

/// Parses an ability name.
pub fn parse_ability(s: &str) -> Result<LitAbility, String> {
    s.parse::<LitAbility>().map_err(|e| e.to_string())
}

/// A resource id in the form the policy compares: the node's normalisation (PKP ids without
/// `0x`, padded to 64 hex digits), then lowercase for hex PKP ids so case cannot slip past a
/// deny rule. Glob characters are kept.
pub fn normalize_id(prefix: ResourcePrefix, id: &str) -> Result<String, String> {
    if prefix != ResourcePrefix::Pkp {
        return Ok(id.to_string());
    }
    if id.contains('*') && id != "*" {
        // A pattern: strip `0x` only; padding a glob would change what it matches.
        let stripped = id.strip_prefix("0x").unwrap_or(id);
        return Ok(stripped.to_ascii_lowercase());
    }
    let formatted = lit_session_signer::resources::format_pkp_id(id).map_err(|e| e.to_string())?;
    if formatted.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(formatted.to_ascii_lowercase())
    } else {
        Ok(formatted)
    }
}

/// One verification result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyOutcome {
    /// The node URL checked.
    #[serde(rename = "nodeUrl")]
    pub node_url: String,
    /// The requested resource and ability, `PREFIX://ID=ABILITY`.
    pub resource: String,
    /// Whether the node would accept it.
    pub valid: bool,
    /// The refusal (`<rule>: <detail> (<generation> node: <function>)`), when invalid; or,
    /// when valid only through the Datil unversioned route's fallback, why the `/v1` check
    /// refuses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rule that refused it, when invalid (`expired`, `strict-hex`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The node function that refuses it (`None` for the strict policy's rules).
    #[serde(rename = "nodeFunction", skip_serializing_if = "Option::is_none")]
    pub node_function: Option<String>,
    /// Datil, unversioned route: accepted only by the route's older fallback.
    #[serde(rename = "viaFallback", skip_serializing_if = "std::ops::Not::not")]
    pub via_fallback: bool,
}

/// What the node knows and what to check, for [`verify_map`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Add the library's strict policy.
    pub strict: bool,
    /// Whose node rules.
    pub generation: Generation,
    /// Datil: the route (`v1` by default, or the unversioned one with its fallback).
    pub route: Route,
    /// Naga: the node's current price for the operation.
    pub node_price: Option<Price>,
}

/// A sessionSigs value that cannot be verified at all (the request is malformed).
pub type VerifyInputError = String;

/// Verifies a sessionSigs map (JSON text) for each node and each request, by the rules of a
/// `generation`'s nodes on their `/v1` routes; `strict` adds the library's strict policy.
pub fn verify_map(
    session_sigs_json: &str,
    nodes: Option<&[NodeUrl]>,
    requests: &[ResourceAbilityRequest],
    now: Timestamp,
    strict: bool,
    generation: Generation,
) -> Result<Vec<VerifyOutcome>, VerifyInputError> {
    let options = VerifyOptions { strict, generation, ..VerifyOptions::default() };
    verify_map_with(session_sigs_json, nodes, requests, now, &options)
}

/// Verifies a sessionSigs map (JSON text) for each node and each request by the rules of
/// `options.generation`'s nodes. Entries the node would refuse, however malformed, are invalid
/// results; only a value with no entry to check (not an object, an empty map, a single
/// SessionSig without `nodeUrls`, a map key that is not a node URL) is an error.
pub fn verify_map_with(
    session_sigs_json: &str,
    nodes: Option<&[NodeUrl]>,
    requests: &[ResourceAbilityRequest],
    now: Timestamp,
    options: &VerifyOptions,
) -> Result<Vec<VerifyOutcome>, VerifyInputError> {
    let entries = parse_session_sigs(session_sigs_json).map_err(|e| e.to_string())?;
    let nodes: Vec<NodeUrl> = match nodes {
        Some(n) => n.to_vec(),
        None => entries
            .iter()
            .map(|e| {
                e.node
                    .as_deref()
                    .ok_or("a single SessionSig needs nodeUrls".to_string())
                    .and_then(|n| n.parse().map_err(|e| format!("a map key is not a node URL: {e}")))
            })
            .collect::<Result<_, _>>()?,
    };
    let policy = if options.strict { VerifyPolicy::strict() } else { VerifyPolicy::node() };
    let mut policy = policy.for_generation(options.generation).with_route(options.route);
    if let Some(price) = options.node_price {
        policy = policy.with_node_price(price);
    }
    let generation = policy.generation;
    let verifier = Verifier::new(policy);
    let mut out = Vec::new();
    for node in &nodes {
        for request in requests {
            let mut outcome = VerifyOutcome {
                node_url: node.to_string(),
                resource: request.to_string(),
                valid: false,
                error: None,
                rule: None,
                node_function: None,
                via_fallback: false,
            };
            match select_session_sig(&entries, node.as_str()) {
                None => {
                    outcome.error = Some("missing: no session sig for this node".to_string());
                    outcome.rule = Some("missing".to_string());
                }
                Some(entry) => match verifier.verify_entry(entry, node, request, now) {
                    Ok(verified) => {
                        outcome.valid = true;
                        if let Some(why) = verified.via_fallback {
                            outcome.via_fallback = true;
                            outcome.error = Some(why.explain(generation));
                        }
                    }
                    Err(e) => {
                        outcome.error = Some(e.explain(generation));
                        outcome.rule = Some(e.rule().to_string());
                        outcome.node_function = e.node_function(generation).map(str::to_string);
                    }
                },
            }
            out.push(outcome);
        }
    }
    Ok(out)
}

/// Parses a stored AuthSig (JSON text).
pub fn parse_auth_sig(text: &str) -> Result<AuthSig, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// The `Expiration Time` of an AuthSig's SIWE, if it has one (for the store's `expires_at`).
pub fn auth_sig_expiration(auth_sig: &AuthSig) -> Option<Timestamp> {
    let message = lit_session_signer::siwe::parse(&auth_sig.signed_message).ok()?;
    let exp = message.expiration_time?;
    parse_time(&exp.to_string()).ok()
}

/// A fresh random 32-byte value as hex (tokens, request ids).
pub fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; bytes]);
    rand_core::OsRng.fill_bytes(&mut buf);
    hex::encode(&*buf)
}

/// Whether a store error is a corrupt entry (reported and replaced) rather than an I/O failure.
pub fn corrupt_entry(name: &str, reason: &str) -> AuthStoreError {
    AuthStoreError::Corrupt { path: PathBuf::from(name), reason: reason.to_string() }
}

/// A storage failure of the AuthSig cache.
pub fn store_failure(name: &str, failure: StoreFailure, message: &str) -> AuthStoreError {
    AuthStoreError::Store { store: name.to_string(), failure, message: message.to_string() }
}

/// Generates an ed25519 session key labelled `label` on the token a `pkcs11:` URI names (as
/// `lit-session keys generate` does); returns its public key in hex. For set-up scripts, tests
/// and benches.
pub fn pkcs11_generate_session_key(uri: &str, label: &str) -> Result<String, String> {
    let parsed = parse_uri(uri)?;
    let store = Pkcs11KeyStore::open(&parsed).map_err(|e| e.to_string())?;
    let id = store.generate_with(label, KeyOptions::default()).map_err(|e| e.to_string())?;
    let public = store.public_key(&id).map_err(|e| e.to_string())?;
    Ok(hex::encode(public.as_bytes()))
}

/// Generates a secp256k1 wallet key labelled `label` on the token a `pkcs11:` URI names (as
/// `lit-session wallet generate` does); returns its address.
pub fn pkcs11_generate_wallet(uri: &str, label: &str) -> Result<String, String> {
    let parsed = parse_uri(uri)?;
    let (wallet, _) = Pkcs11Wallet::generate(&parsed, label).map_err(|e| e.to_string())?;
    Ok(wallet.address().to_checksum())
}

/// Refuses a client capability AuthSig that is not a delegation (SIWE URI
/// `lit:capability:delegation`). Any other AuthSig in a session's capabilities could lend it
/// grants the policy did not give: an earlier session AuthSig of this very session key
/// (`lit:session:<key>`), kept by a client from another response, would be accepted by the node.
pub fn check_delegation_capability(capability: &Value) -> Result<(), String> {
    let text = capability
        .get("signedMessage")
        .and_then(Value::as_str)
        .ok_or_else(|| "not an AuthSig (no signedMessage string)".to_string())?;
    let siwe = lit_session_signer::siwe::parse(text).map_err(|e| format!("its SIWE does not parse: {e}"))?;
    let uri = siwe.uri.to_string();
    if uri == "lit:capability:delegation" {
        Ok(())
    } else {
        Err(format!("only delegations (SIWE URI lit:capability:delegation) are accepted, not URI {uri}"))
    }
}
