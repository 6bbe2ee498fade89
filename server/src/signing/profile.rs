//! A signer profile: a session manager over a session key and a wallet (in memory or on a
//! PKCS#11 token), and what it signs: session sigs, capacity and payment delegations.

mod session_key;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde_json::value::RawValue;
use serde_json::Value;
use time::Duration;

use lit_session_signer::auth_sig::AuthSigError;
use lit_session_signer::capacity_delegation::{CapacityDelegation, CapacityDelegationError};
use lit_session_signer::eth::RecoverableSignature;
use lit_session_signer::keystore::{KeyOptions, KeyStoreError, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::manager::{
    AuthSigUse, AuthSource, ManagerConfig, ManagerError, ResignReason, ReuseGrants, SessionKeyPolicy, SessionManager,
    SessionSigsOptions, StoreFailures,
};
use lit_session_signer::payment_delegation::PaymentDelegationError;
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri, UriError};
use lit_session_signer::siwe::SiweOptions;
use lit_session_signer::wallet::{MemoryWallet, Pkcs11Wallet, WalletError, WalletSigner};

use session_key::{open_session_key, Opened, Slot};
pub use session_key::{KeyFamily, KeyRotation, SessionKeyHandle, TokenKey};

use super::input::payment_delegation;
use super::{
    check_permissions, AsyncAuthSigStore, AuthStoreError, AuthUse, Cause, Context, KeyPart, NodePricing, NodeUrl,
    PaymentScope, ResourceAbilityRequest, SecretFileError, SessionFormat, SignError, StoreFailure, Timestamp,
};

/// A message the health probe signs with the session key (never sent anywhere).
const PROBE_MESSAGE: &[u8] = b"lit-session-server readiness probe";

/// The library refused the new AuthSig it had just signed.
#[derive(Debug, thiserror::Error)]
#[error("the new AuthSig was refused: {0}")]
struct Refused(ResignReason);

fn classify(e: ManagerError) -> SignError {
    match e {
        ManagerError::Request(e) => SignError::Request(Box::new(e)),
        ManagerError::KeyStore(e) => hsm(KeyPart::SessionKey, e),
        ManagerError::NoSessionKey => SignError::Hsm { part: None, cause: Box::new(e) },
        ManagerError::Wallet(AuthSigError::Wallet(w)) => hsm(KeyPart::Wallet, w),
        ManagerError::Wallet(other) => SignError::Request(Box::new(other)),
        ManagerError::Callback(e) => SignError::Signer(e),
        ManagerError::Rejected(r) => SignError::Signer(Box::new(Refused(r))),
        ManagerError::Store(e @ AuthStoreError::Store { failure: StoreFailure::Busy, .. }) => {
            SignError::StoreBusy(Box::new(e))
        }
        ManagerError::Store(e) => SignError::Store(Box::new(e)),
        other => SignError::Internal(Box::new(other)),
    }
}

fn hsm(part: KeyPart, cause: impl Into<Cause>) -> SignError {
    SignError::Hsm { part: Some(part), cause: cause.into() }
}

/// A delegation the wallet could not sign: a wallet failure is the HSM's, the rest is the
/// request's.
fn delegation_error(e: AuthSigError) -> SignError {
    match e {
        AuthSigError::Wallet(w) => hsm(KeyPart::Wallet, w),
        other => SignError::Request(Box::new(other)),
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
    /// keys labelled from `label_prefix` are made and rotated after `rotate_after`, as
    /// `rotation` says.
    Pkcs11 {
        /// The RFC 7512 URI, as the CLI takes it.
        uri: String,
        /// Label prefix for managed keys (URI without a key selector).
        label_prefix: Option<String>,
        /// Rotation period for managed keys.
        rotate_after: Option<Duration>,
        /// Who rotates managed keys.
        rotation: KeyRotation,
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

/// A signer profile as configured (`[signers.NAME]`).
#[derive(Debug, Clone)]
pub struct ProfileSpec {
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

/// One signer profile: a session manager over its session key and wallet. A profile whose keys
/// rotate across the fleet has one manager per key, switched by [`crate::keys`].
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// `memory` or `pkcs11`.
    pub session_backend: &'static str,
    /// `memory` or `pkcs11`.
    pub wallet_backend: &'static str,
    /// The wallet's EIP-55 address.
    pub wallet_address: String,
    keys: Arc<dyn SessionKeyStore>,
    wallet: WalletHandle,
    family: Option<KeyFamily>,
    // What a manager for a newly published key is made of.
    auth: AuthSource,
    cache: Arc<dyn AsyncAuthSigStore>,
    config: ManagerConfig,
    slot: RwLock<Slot>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("session_backend", &self.session_backend)
            .field("wallet_backend", &self.wallet_backend)
            .field("wallet_address", &self.wallet_address)
            .finish_non_exhaustive()
    }
}

/// Errors opening a profile at start-up.
#[derive(Debug, thiserror::Error)]
#[error("signer {profile}: {}{cause}", .what.map(|w| format!("{w}: ")).unwrap_or_default())]
pub struct OpenError {
    /// The profile.
    pub profile: String,
    /// What was being opened (`session key`, `wallet key`, …), when not the library's own words.
    pub what: Option<&'static str>,
    /// What failed.
    #[source]
    pub cause: Cause,
}

/// A `pkcs11:` URI the service cannot use. The URI parser's errors never repeat a value that
/// may be a PIN typed in the wrong place.
#[derive(Debug, thiserror::Error)]
pub enum UriProblem {
    /// Not an RFC 7512 URI the library takes.
    #[error("invalid PKCS#11 URI: {0}")]
    Invalid(#[from] UriError),
    /// Its PIN file breaks the secret-file rule.
    #[error("pin-source: {0}")]
    PinFile(#[source] SecretFileError),
}

pub(super) fn read_key32(path: &Path) -> Result<zeroize::Zeroizing<[u8; 32]>, SecretFileError> {
    lit_session_signer::secret_file::read_key_file(path).map(|k| k.into_zeroizing())
}

pub(super) fn parse_uri(uri: &str) -> Result<Pkcs11Uri, UriProblem> {
    let parsed = Pkcs11Uri::parse(uri)?;
    if let Some(PinSource::File(path)) = &parsed.pin_source {
        check_permissions(path).map_err(UriProblem::PinFile)?;
    }
    Ok(parsed)
}

/// Whether a session-key `pkcs11:` URI names one key (`object=` or `id=`), rather than leaving
/// the manager to make and rotate labelled keys.
pub fn session_uri_names_key(uri: &str) -> Result<bool, UriProblem> {
    let parsed = Pkcs11Uri::parse(uri)?;
    Ok(parsed.id.is_some() || parsed.object.is_some())
}

impl Profile {
    /// Opens the profile (blocking: PKCS#11 log-in and key look-up), caching AuthSigs in `store`
    /// (the service store's view, [`crate::store::auth_sig_store`]): new AuthSigs are minted
    /// under its mint lock, so processes sharing the store and the session key cause one wallet
    /// signature, and a store that fails fails the call rather than leave an AuthSig unrecorded.
    ///
    /// `mint_sign_timeout` bounds the wallet's AuthSig signature under the mint lock (the lock
    /// is kept that long): a slower signature fails the call and its AuthSig is not used.
    pub fn open(
        spec: &ProfileSpec,
        store: Arc<dyn AsyncAuthSigStore>,
        mint_sign_timeout: std::time::Duration,
    ) -> Result<Self, OpenError> {
        let fail = |what: Option<&'static str>, cause: Cause| OpenError { profile: spec.name.clone(), what, cause };
        let Opened { keys, policy, backend: session_backend, family } = open_session_key(spec, &fail)?;
        let (wallet, wallet_backend) = match &spec.wallet {
            WalletSpec::Random => {
                (WalletHandle::Memory(Arc::new(MemoryWallet::random().map_err(|e| fail(None, e.into()))?)), "memory")
            }
            WalletSpec::KeyFile(path) => {
                let key = read_key32(path).map_err(|e| fail(Some("wallet key"), e.into()))?;
                let wallet = MemoryWallet::from_bytes(&key).map_err(|e| fail(Some("wallet key"), e.into()))?;
                (WalletHandle::Memory(Arc::new(wallet)), "memory")
            }
            WalletSpec::Pkcs11(uri) => {
                let parsed = parse_uri(uri).map_err(|e| fail(Some("wallet"), e.into()))?;
                let wallet = Pkcs11Wallet::open(&parsed).map_err(|e| fail(Some("wallet"), e.into()))?;
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
        let current = match policy {
            None => None,
            Some(policy) => {
                let key = match &policy {
                    SessionKeyPolicy::Fixed(id) => {
                        let public = keys.public_key(id).map_err(|e| fail(Some("session key"), e.into()))?;
                        Some((id.clone(), hex::encode(public.as_bytes())))
                    }
                    SessionKeyPolicy::Labelled { .. } => None,
                };
                let manager =
                    SessionManager::new_async(keys.clone(), policy, auth.clone(), store.clone()).with_config(config);
                Some(SessionKeyHandle { key, manager: Arc::new(manager) })
            }
        };
        Ok(Self {
            name: spec.name.clone(),
            session_backend,
            wallet_backend,
            wallet_address,
            keys,
            wallet,
            family,
            auth,
            cache: store,
            config,
            slot: RwLock::new(Slot { current, next: None }),
        })
    }

    /// The current session public key, lowercase hex.
    pub async fn session_public_key(&self) -> Result<String, SignError> {
        let current = self.current()?;
        if let Some((_, public)) = &current.key {
            return Ok(public.clone());
        }
        let (_, public) = current.manager.session_key().await.map_err(classify)?;
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
        let manager = self.current()?.manager;
        let report = manager.session_sigs_report(&input.nodes, &input.requests, &options).await.map_err(classify)?;
        let (auth_use, auth_expiration, resign_reason) = match &report.auth_sig {
            // Another process sharing the store signed it while this one waited for the lock.
            AuthSigUse::Reused { expiration } if report.waited => (AuthUse::Waited, *expiration, None),
            AuthSigUse::Reused { expiration } => (AuthUse::Reused, *expiration, None),
            AuthSigUse::Signed { reason, expiration } => (AuthUse::Signed, *expiration, Some(reason.to_string())),
        };
        let session_key = report.sigs.iter().next().map(|(_, s)| s.address.clone()).unwrap_or_default();
        let json = RawValue::from_string(report.sigs.to_json())
            .map_err(|e| SignError::Internal(Box::new(Context::new("session sigs JSON", e))))?;
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

    /// Signs a probe message with the session key (keys the manager labels itself: lists the
    /// token's keys; a fleet's key not published yet: fails) and
    /// reads the wallet key's attributes: the honest answer to "can this profile sign now".
    /// It never takes the session manager's lock, which a mint holds while it waits for another
    /// process's mint lock and the wallet: a slow mint is not an HSM outage.
    pub async fn probe(&self) -> Result<(), SignError> {
        let keys = self.keys.clone();
        let id = self.current()?.key.map(|(id, _)| id);
        let session: Result<(), KeyStoreError> = blocking(move || match id {
            Some(id) => keys.sign(&id, PROBE_MESSAGE).map(|_| ()),
            None => keys.list().map(|_| ()),
        })
        .await?;
        session.map_err(|e| hsm(KeyPart::SessionKey, e))?;
        if let WalletHandle::Pkcs11(w) = &self.wallet {
            let w = w.clone();
            blocking(move || w.key_attributes().map(|_| ())).await?.map_err(|e| hsm(KeyPart::Wallet, e))?;
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
            CapacityDelegationError::AuthSig(e) => delegation_error(e),
            other => SignError::Request(Box::new(other)),
        })?;
        serde_json::to_value(&auth_sig).map_err(|e| SignError::Internal(Box::new(e)))
    }

    /// A payment-delegation AuthSig signed by the profile's wallet (the v8 SDK's
    /// `createPaymentDelegationAuthSig`), as JSON.
    pub async fn payment_delegation(&self, input: PaymentInput) -> Result<Value, SignError> {
        let delegation = payment_delegation(&input);
        let wallet = self.wallet.signer();
        let nonce = input.nonce;
        let signed = blocking(move || delegation.sign(&*wallet, &nonce, Timestamp::now())).await?;
        let auth_sig = signed.map_err(|e| match e {
            PaymentDelegationError::AuthSig(e) => delegation_error(e),
            other => SignError::Request(Box::new(other)),
        })?;
        serde_json::to_value(&auth_sig).map_err(|e| SignError::Internal(Box::new(e)))
    }
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
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SignError::Internal(Box::new(Context::new("background task failed", e))))
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

/// The result of [`Profile::mint`].
#[derive(Debug)]
pub struct Minted {
    /// The map, as the SDK's `JSON.stringify(sessionSigs)` writes it.
    pub session_sigs: Box<RawValue>,
    /// The session public key, hex.
    pub session_key: String,
    /// The session expiration.
    pub expiration: Timestamp,
    /// Where the AuthSig came from.
    pub auth_use: AuthUse,
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

/// Generates an ed25519 session key labelled `label` on the token a `pkcs11:` URI names (as
/// `lit-session keys generate` does); returns its public key in hex. For set-up scripts, tests
/// and benches.
pub fn pkcs11_generate_session_key(uri: &str, label: &str) -> Result<String, Cause> {
    let store = Pkcs11KeyStore::open(&parse_uri(uri)?)?;
    let id = store.generate_with(label, KeyOptions::default())?;
    Ok(hex::encode(store.public_key(&id)?.as_bytes()))
}

/// Generates a secp256k1 wallet key labelled `label` on the token a `pkcs11:` URI names (as
/// `lit-session wallet generate` does); returns its address.
pub fn pkcs11_generate_wallet(uri: &str, label: &str) -> Result<String, Cause> {
    let (wallet, _) = Pkcs11Wallet::generate(&parse_uri(uri)?, label)?;
    Ok(wallet.address().to_checksum())
}
