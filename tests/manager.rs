//! The session manager on in-memory keys: when the wallet is asked to sign, and what it hands out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::eth::{EthAddress, RecoverableSignature};
use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::manager::{
    AsyncAuthSigStore, AsyncMintLock, AuthCallback, AuthNeeded, AuthSigKey, AuthSigStore, AuthSigUse, AuthSource,
    AuthStoreError, CallbackError, FileAuthSigStore, ManagerConfig, ManagerError, MemoryAuthSigStore, ResignReason,
    ReuseGrants, SessionKeyPolicy, SessionManager, SessionSigsOptions, StoreFailure,
};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::{NodeUrl, SessionSigs};
use lit_session_signer::verify::{SignedMessage, Verifier, VerifyPolicy};
use lit_session_signer::wallet::{MemoryWallet, WalletError, WalletSigner};
use lit_session_signer::Timestamp;
use time::Duration;

const NONCE: &str = "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c";

/// A wallet that counts its signatures.
struct Counting {
    wallet: MemoryWallet,
    count: Arc<AtomicUsize>,
}

impl WalletSigner for Counting {
    fn address(&self) -> EthAddress {
        self.wallet.address()
    }
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.wallet.sign_digest(digest)
    }
}

fn counting(seed: u8) -> (AuthSource, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let wallet = MemoryWallet::from_bytes(&[seed; 32]).unwrap();
    (AuthSource::wallet(Counting { wallet, count: count.clone() }), count)
}

#[derive(Clone)]
struct Clock(Arc<Mutex<Timestamp>>);

impl Clock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new("2026-03-01T12:00:00.000Z".parse().unwrap())))
    }
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
    fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t = t.saturating_add(d);
    }
    fn install(&self, manager: SessionManager) -> SessionManager {
        let c = self.clone();
        manager.with_clock(move || c.now())
    }
}

fn nodes(n: usize) -> Vec<NodeUrl> {
    (0..n).map(|i| format!("https://10.2.0.{i}:7470").parse().unwrap()).collect()
}

fn req(s: &str) -> ResourceAbilityRequest {
    s.parse().unwrap()
}

fn labelled(rotate_after: Option<Duration>) -> SessionKeyPolicy {
    SessionKeyPolicy::Labelled { prefix: "lit-session".into(), rotate_after }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Every entry passes the node's rules for every request at `now`.
fn assert_valid(sigs: &SessionSigs, requests: &[ResourceAbilityRequest], now: Timestamp) {
    let verifier = Verifier::new(VerifyPolicy::strict());
    for (node, sig) in sigs.iter() {
        for r in requests {
            verifier.verify(sig, node, r, now).unwrap_or_else(|e| panic!("{node} {r}: {e}"));
        }
    }
}

fn signed_reason(used: &AuthSigUse) -> &ResignReason {
    match used {
        AuthSigUse::Signed { reason, .. } => reason,
        AuthSigUse::Reused { .. } => panic!("expected a new AuthSig, got {used}"),
    }
}

#[test]
fn one_wallet_signature_for_100_calls_then_exactly_when_needed() {
    runtime().block_on(async {
        let clock = Clock::new();
        let keys = Arc::new(MemoryKeyStore::new());
        let (wallet, count) = counting(0x11);
        let manager = clock.install(SessionManager::new(
            keys.clone(),
            labelled(Some(Duration::days(3))),
            wallet,
            Arc::new(MemoryAuthSigStore::new()),
        ));
        let nodes = nodes(5);
        let pkp = vec![req("lit-pkp://*=pkp-signing")];
        let options = SessionSigsOptions::new(NONCE);

        for i in 0..100 {
            let report = manager.session_sigs_report(&nodes, &pkp, &options).await.unwrap();
            if i == 0 {
                assert_eq!(signed_reason(&report.auth_sig), &ResignReason::NotCached);
            } else {
                assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "call {i}: {}", report.auth_sig);
            }
            if i % 25 == 0 {
                assert_valid(&report.sigs, &pkp, clock.now());
            }
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(manager.stats().reused, 99);

        // A new resource: one signature, then reused. (The new AuthSig grants what this call
        // asked for, as the SDK's does.)
        let action = vec![req("lit-litaction://*=lit-action-execution")];
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::NotCovered { .. }));
        assert_valid(&report.sigs, &action, clock.now());
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }));
        assert_eq!(count.load(Ordering::SeqCst), 2);

        // Time: reused until the 5-minute margin before expiry (24 h lifetime), then re-signed.
        clock.advance(Duration::hours(23) + Duration::minutes(54));
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        let AuthSigUse::Reused { expiration } = report.auth_sig else { panic!("{}", report.auth_sig) };
        // Sessions end with their capability.
        let msg = report.sigs.iter().next().unwrap().1.signed_message.clone();
        assert_eq!(SignedMessage::parse(&msg).unwrap().expiration, expiration.to_string());
        assert_valid(&report.sigs, &action, clock.now());
        assert_eq!(count.load(Ordering::SeqCst), 2);
        clock.advance(Duration::minutes(2));
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::ExpiresSoon { .. }));
        assert_eq!(count.load(Ordering::SeqCst), 3);

        // Rotation after 3 days: a new key, one signature, the old key kept until its AuthSig ends.
        let (old_key, _) = manager.session_key().await.unwrap();
        // The key was made at the start; this is one hour before it is due.
        clock.advance(Duration::hours(47) + Duration::minutes(4));
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::Expired { .. }));
        assert_eq!(report.session_key, old_key);
        assert_eq!(count.load(Ordering::SeqCst), 4);
        clock.advance(Duration::hours(1));
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert_eq!(signed_reason(&report.auth_sig), &ResignReason::KeyRotated);
        assert_ne!(report.session_key, old_key);
        assert_valid(&report.sigs, &action, clock.now());
        assert_eq!(count.load(Ordering::SeqCst), 5);
        assert_eq!(keys.list().unwrap().len(), 2, "the old key lives while its sessions may");
        clock.advance(Duration::hours(23));
        manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert_eq!(keys.list().unwrap().len(), 2, "its last AuthSig has not expired yet");
        clock.advance(Duration::minutes(56));
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::ExpiresSoon { .. }));
        assert_eq!(count.load(Ordering::SeqCst), 6);
        let left = keys.list().unwrap();
        assert_eq!(left.len(), 1, "the retired key is deleted once its AuthSigs expired");
        assert_eq!(left[0].id, report.session_key);
        assert_eq!(manager.stats().keys_deleted, 1);

        // Another wallet: a signature for it; switching back reuses the first wallet's.
        let (other, other_count) = counting(0x22);
        manager.set_auth_source(other);
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::SignerChanged { .. }));
        assert_valid(&report.sigs, &action, clock.now());
        assert_eq!(other_count.load(Ordering::SeqCst), 1);
        let (first_again, _) = counting(0x11);
        manager.set_auth_source(first_again);
        let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
        assert_eq!(count.load(Ordering::SeqCst), 6);
    });
}

#[test]
fn concurrent_callers_share_one_signature() {
    runtime().block_on(async {
        let (wallet, count) = counting(0x33);
        let manager = Arc::new(SessionManager::new(
            Arc::new(MemoryKeyStore::new()),
            labelled(None),
            wallet,
            Arc::new(MemoryAuthSigStore::new()),
        ));
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let m = manager.clone();
                let r = requests.clone();
                tokio::spawn(async move { m.session_sigs(&nodes(3), &r, &SessionSigsOptions::new(NONCE)).await })
            })
            .collect();
        for t in tasks {
            assert_valid(&t.await.unwrap().unwrap(), &requests, Timestamp::now());
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn explicit_expiration_and_backdating() {
    runtime().block_on(async {
        let clock = Clock::new();
        let (wallet, count) = counting(0x44);
        let config = ManagerConfig { issued_at_backdate: Duration::minutes(10), ..ManagerConfig::default() };
        let manager = clock.install(
            SessionManager::new(
                Arc::new(MemoryKeyStore::new()),
                labelled(None),
                wallet,
                Arc::new(MemoryAuthSigStore::new()),
            )
            .with_config(config),
        );
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let mut options = SessionSigsOptions::new(NONCE);
        let until = clock.now().saturating_add(Duration::hours(2));
        options.expiration = Some(until);
        let report = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
        let msg = report.sigs.iter().next().unwrap().1.signed_message.clone();
        let parsed = SignedMessage::parse(&msg).unwrap();
        let issued = clock.now().saturating_sub(Duration::minutes(10)).to_string();
        assert_eq!(parsed.issued_at, issued);
        assert_eq!(parsed.expiration, until.to_string());
        let cap = parsed.capabilities.last().unwrap();
        assert!(cap.signed_message.contains(&format!("Issued At: {issued}")), "{}", cap.signed_message);
        assert_valid(&report.sigs, &requests, clock.now());
        // A longer session than the cached AuthSig covers needs a new one.
        options.expiration = Some(until.saturating_add(Duration::hours(1)));
        let report = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::ExpiresBeforeRequested { .. }));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    });
}

/// A custody API stand-in that signs with a wallet, or misbehaves on request.
struct Custody {
    wallet: MemoryWallet,
    calls: Arc<AtomicUsize>,
    mode: Mutex<&'static str>,
}

#[async_trait::async_trait]
impl AuthCallback for Custody {
    fn signer(&self) -> EthAddress {
        self.wallet.address()
    }
    async fn auth_sig(&self, needed: AuthNeeded) -> Result<AuthSig, CallbackError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = *self.mode.lock().unwrap();
        let siwe = match mode {
            "wrong-uri" => needed.siwe.with_uri(&format!("lit:session:{}", "ab".repeat(32))),
            "no-grant" => {
                lit_session_signer::siwe::SiweMessage::new(self.wallet.address(), &needed.nonce, Timestamp::now())
                    .with_uri(&needed.session_key_uri)
                    .with_expiration(needed.expiration)
                    .with_requests(&[req("lit-accesscontrolcondition://*=access-control-condition-decryption")])
            }
            "expired" => needed.siwe.with_expiration("2020-01-01T00:00:00.000Z".parse().unwrap()),
            "fail" => return Err("custody API unavailable".into()),
            _ => needed.siwe,
        };
        if mode == "other-wallet" {
            let other = MemoryWallet::from_bytes(&[0x99; 32]).unwrap();
            let siwe = siwe.with_uri(&needed.session_key_uri);
            let mut sig =
                AuthSig::sign(&other, &lit_session_signer::siwe::SiweMessage { address: other.address(), ..siwe })?;
            sig.address = self.wallet.address().to_checksum();
            return Ok(sig);
        }
        Ok(AuthSig::sign(&self.wallet, &siwe)?)
    }
}

#[test]
fn callback_results_are_checked_before_use() {
    runtime().block_on(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let custody = Arc::new(Custody {
            wallet: MemoryWallet::from_bytes(&[0x55; 32]).unwrap(),
            calls: calls.clone(),
            mode: Mutex::new(""),
        });
        let manager = SessionManager::new(
            Arc::new(MemoryKeyStore::new()),
            labelled(None),
            AuthSource::Callback(custody.clone()),
            Arc::new(MemoryAuthSigStore::new()),
        );
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let options = SessionSigsOptions::new(NONCE);
        for (mode, want) in [
            ("wrong-uri", "SessionKeyChanged"),
            ("no-grant", "NotCovered"),
            ("expired", "Expired"),
            ("other-wallet", "SignerChanged"),
        ] {
            *custody.mode.lock().unwrap() = mode;
            let err = manager.session_sigs(&nodes(2), &requests, &options).await.unwrap_err();
            match &err {
                ManagerError::Rejected(reason) => {
                    assert!(format!("{reason:?}").starts_with(want), "{mode}: {reason:?}")
                }
                other => panic!("{mode}: {other}"),
            }
        }
        *custody.mode.lock().unwrap() = "fail";
        let err = manager.session_sigs(&nodes(2), &requests, &options).await.unwrap_err();
        assert!(matches!(err, ManagerError::Callback(_)), "{err}");
        assert!(err.to_string().contains("custody API unavailable"));

        *custody.mode.lock().unwrap() = "";
        for _ in 0..10 {
            let sigs = manager.session_sigs(&nodes(2), &requests, &options).await.unwrap();
            assert_valid(&sigs, &requests, Timestamp::now());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 6, "5 refused or failed, then 1 for 10 calls");
    });
}

#[test]
fn file_store_survives_a_restart_and_replaces_corrupt_or_foreign_entries() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::new());
        let key = keys.generate("fixed").unwrap();
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let options = SessionSigsOptions::new(NONCE);
        let make = |seed| {
            let (wallet, count) = counting(seed);
            let store = Arc::new(FileAuthSigStore::open(dir.path()).unwrap());
            (SessionManager::new(keys.clone(), SessionKeyPolicy::Fixed(key.clone()), wallet, store), count)
        };

        let (first, count) = make(0x66);
        first.session_sigs(&nodes(3), &requests, &options).await.unwrap();
        drop(first);
        let (second, count2) = make(0x66);
        let report = second.session_sigs_report(&nodes(3), &requests, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
        assert_eq!((count.load(Ordering::SeqCst), count2.load(Ordering::SeqCst)), (1, 0));

        // Corrupt file: reported, replaced, never used.
        let wallet = MemoryWallet::from_bytes(&[0x66; 32]).unwrap();
        let entry = AuthSigKey { signer: wallet.address(), session_key: keys.public_key(&key).unwrap(), grants: None };
        let store = FileAuthSigStore::open(dir.path()).unwrap();
        std::fs::write(store.path_of(&entry), b"{\"sig\": truncated").unwrap();
        let (third, count3) = make(0x66);
        let report = third.session_sigs_report(&nodes(3), &requests, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::CorruptCache(_)));
        assert!(report.warnings.iter().any(|w| w.contains("corrupt")), "{:?}", report.warnings);
        assert_eq!(count3.load(Ordering::SeqCst), 1);
        assert!(store.load(&entry).unwrap().is_some(), "replaced by the new AuthSig");

        // An AuthSig of another wallet planted under this wallet's name is not trusted.
        let other = MemoryWallet::from_bytes(&[0x77; 32]).unwrap();
        let planted = lit_session_signer::session_sigs::SessionSigsRequest::new(nodes(1), requests.clone(), NONCE);
        let siwe = planted.session_siwe(&keys.public_key(&key).unwrap(), &other);
        store.save(&entry, &AuthSig::sign(&other, &siwe).unwrap()).unwrap();
        let (fourth, count4) = make(0x66);
        let report = fourth.session_sigs_report(&nodes(3), &requests, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::SignerChanged { .. }));
        assert_eq!(count4.load(Ordering::SeqCst), 1);

        // A tampered signature is not trusted either.
        let mut tampered = store.load(&entry).unwrap().unwrap();
        tampered.sig.replace_range(10..12, if &tampered.sig[10..12] == "00" { "11" } else { "00" });
        store.save(&entry, &tampered).unwrap();
        let (fifth, count5) = make(0x66);
        let report = fifth.session_sigs_report(&nodes(3), &requests, &options).await.unwrap();
        assert!(matches!(signed_reason(&report.auth_sig), ResignReason::Invalid(_)), "{}", report.auth_sig);
        assert_eq!(count5.load(Ordering::SeqCst), 1);

        // forget drops it from memory and disk.
        fourth.forget(false).await.unwrap();
        assert!(store.load(&entry).unwrap().is_none());
        let report = fourth.session_sigs_report(&nodes(3), &requests, &options).await.unwrap();
        assert_eq!(signed_reason(&report.auth_sig), &ResignReason::NotCached);
        // forget(true) deletes the fixed key; the manager then says so.
        fourth.forget(true).await.unwrap();
        assert!(keys.list().unwrap().is_empty());
        let err = fourth.session_sigs(&nodes(3), &requests, &options).await.unwrap_err();
        assert!(matches!(err, ManagerError::NoSessionKey), "{err}");
    });
}

#[test]
fn forget_with_key_deletion_makes_a_new_labelled_key() {
    runtime().block_on(async {
        let keys = Arc::new(MemoryKeyStore::new());
        let (wallet, count) = counting(0x88);
        let manager = SessionManager::new(keys.clone(), labelled(None), wallet, Arc::new(MemoryAuthSigStore::new()));
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let options = SessionSigsOptions::new(NONCE);
        let first = manager.session_sigs_report(&nodes(1), &requests, &options).await.unwrap();
        // A restarted manager forgets the AuthSig of the key it finds on the store.
        let store = Arc::new(MemoryAuthSigStore::new());
        let (wallet2, count2) = counting(0x88);
        let restarted = SessionManager::new(keys.clone(), labelled(None), wallet2, store.clone());
        restarted.session_sigs(&nodes(1), &requests, &options).await.unwrap();
        let (wallet3, _) = counting(0x88);
        let again = SessionManager::new(keys.clone(), labelled(None), wallet3, store.clone());
        again.forget(false).await.unwrap();
        let report = again.session_sigs_report(&nodes(1), &requests, &options).await.unwrap();
        assert_eq!(signed_reason(&report.auth_sig), &ResignReason::NotCached);
        assert_eq!(report.session_key, first.session_key, "the same key, found again");
        assert_eq!(count2.load(Ordering::SeqCst), 1);

        manager.forget(true).await.unwrap();
        let second = manager.session_sigs_report(&nodes(1), &requests, &options).await.unwrap();
        assert_ne!(first.session_key, second.session_key);
        assert_eq!(signed_reason(&second.auth_sig), &ResignReason::NotCached);
        assert_eq!(keys.list().unwrap().len(), 1);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // Bad input is an error, not a panic.
        let err = manager.session_sigs(&[], &requests, &options).await.unwrap_err();
        assert!(matches!(err, ManagerError::Request(_)), "{err}");
        let err = manager.session_sigs(&nodes(1), &[], &options).await.unwrap_err();
        assert!(matches!(err, ManagerError::Request(_)), "{err}");
    });
}

#[test]
fn auth_sig_lifetime_is_independent_of_short_sessions() {
    runtime().block_on(async {
        let clock = Clock::new();
        let (wallet, count) = counting(0x4a);
        let config = ManagerConfig { auth_sig_lifetime: Some(Duration::hours(24)), ..ManagerConfig::default() };
        let manager = clock.install(
            SessionManager::new(
                Arc::new(MemoryKeyStore::new()),
                labelled(None),
                wallet,
                Arc::new(MemoryAuthSigStore::new()),
            )
            .with_config(config),
        );
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let start = clock.now();
        // Sessions capped at ten minutes, one every five minutes for 23 hours: one AuthSig.
        for i in 0..(23 * 12) {
            let mut options = SessionSigsOptions::new(NONCE);
            let until = clock.now().saturating_add(Duration::minutes(10));
            options.expiration = Some(until);
            let report = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
            let msg = SignedMessage::parse(&report.sigs.iter().next().unwrap().1.signed_message).unwrap();
            assert_eq!(msg.expiration, until.to_string(), "the session keeps its own expiration");
            let auth_expiration = match report.auth_sig {
                AuthSigUse::Signed { expiration, .. } | AuthSigUse::Reused { expiration } => expiration,
            };
            assert_eq!(auth_expiration, start.saturating_add(Duration::hours(24)), "call {i}");
            if i % 50 == 0 {
                assert_valid(&report.sigs, &requests, clock.now());
            }
            clock.advance(Duration::minutes(5));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // A session longer than the lifetime gets an AuthSig that covers it.
        let mut options = SessionSigsOptions::new(NONCE);
        let until = clock.now().saturating_add(Duration::hours(30));
        options.expiration = Some(until);
        let report = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
        let AuthSigUse::Signed { expiration, .. } = report.auth_sig else { panic!("{}", report.auth_sig) };
        assert_eq!(expiration, until);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    });
}

/// Which of a test store's calls fail.
#[derive(Clone, Default)]
struct Switches {
    fail_load: Arc<std::sync::atomic::AtomicBool>,
    fail_save: Arc<std::sync::atomic::AtomicBool>,
    fail_lock: Arc<std::sync::atomic::AtomicBool>,
}

impl Switches {
    fn down(&self, load: bool, save: bool, lock: bool) {
        self.fail_load.store(load, Ordering::SeqCst);
        self.fail_save.store(save, Ordering::SeqCst);
        self.fail_lock.store(lock, Ordering::SeqCst);
    }
}

/// A store whose reads and writes can be made to fail, with an optional cross-"process" mint
/// lock (a flag shared by several managers, standing in for a database lock).
#[derive(Clone, Default)]
struct SharedStore {
    inner: Arc<MemoryAuthSigStore>,
    switches: Switches,
    lock: Option<Arc<(Mutex<bool>, std::sync::Condvar)>>,
    locks_taken: Arc<AtomicUsize>,
}

struct Held(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Drop for Held {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap() = false;
        self.0 .1.notify_all();
    }
}

impl SharedStore {
    fn with_lock() -> Self {
        Self { lock: Some(Arc::new((Mutex::new(false), std::sync::Condvar::new()))), ..Self::default() }
    }
}

fn unavailable() -> AuthStoreError {
    AuthStoreError::Io { path: "db".into(), source: std::io::Error::other("db down") }
}

impl AuthSigStore for SharedStore {
    fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        if self.switches.fail_load.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        self.inner.load(key)
    }
    fn save(&self, key: &AuthSigKey, a: &AuthSig) -> Result<(), AuthStoreError> {
        if self.switches.fail_save.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        self.inner.save(key, a)
    }
    fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        self.inner.remove(key)
    }
    fn remove_all(
        &self,
        signer: EthAddress,
        session_key: &lit_session_signer::keystore::VerifyingKey,
    ) -> Result<(), AuthStoreError> {
        self.inner.remove_all(signer, session_key)
    }
    fn lock_for_mint(
        &self,
        _key: &AuthSigKey,
    ) -> Result<Option<lit_session_signer::manager::MintLock>, AuthStoreError> {
        if self.switches.fail_lock.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        let Some(lock) = &self.lock else { return Ok(None) };
        let mut held = lock.0.lock().unwrap();
        while *held {
            held = lock.1.wait(held).unwrap();
        }
        *held = true;
        self.locks_taken.fetch_add(1, Ordering::SeqCst);
        Ok(Some(lit_session_signer::manager::MintLock::new(Held(lock.clone()))))
    }
}

/// SharedStore behind the async trait: its failures are typed (`Store`: `Unavailable` for reads
/// and writes, `Busy` for the mint lock), and its mint lock is an async mutex shared by the
/// managers, given back by an async release that yields before it unlocks.
#[derive(Clone, Default)]
struct AsyncSharedStore {
    rows: Arc<tokio::sync::Mutex<HashMap<AuthSigKey, AuthSig>>>,
    switches: Switches,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
    locks_taken: Arc<AtomicUsize>,
    locks_released: Arc<AtomicUsize>,
}

impl AsyncSharedStore {
    fn with_lock() -> Self {
        Self { lock: Some(Arc::default()), ..Self::default() }
    }
    fn failure(&self, failure: StoreFailure) -> AuthStoreError {
        AuthStoreError::Store { store: "async-db".into(), failure, message: "down".into() }
    }
}

#[async_trait::async_trait]
impl AsyncAuthSigStore for AsyncSharedStore {
    async fn load(&self, key: &AuthSigKey) -> Result<Option<AuthSig>, AuthStoreError> {
        if self.switches.fail_load.load(Ordering::SeqCst) {
            return Err(self.failure(StoreFailure::Unavailable));
        }
        Ok(self.rows.lock().await.get(key).cloned())
    }
    async fn save(&self, key: &AuthSigKey, auth_sig: &AuthSig) -> Result<(), AuthStoreError> {
        if self.switches.fail_save.load(Ordering::SeqCst) {
            return Err(self.failure(StoreFailure::Unavailable));
        }
        self.rows.lock().await.insert(*key, auth_sig.clone());
        Ok(())
    }
    async fn remove(&self, key: &AuthSigKey) -> Result<(), AuthStoreError> {
        self.rows.lock().await.remove(key);
        Ok(())
    }
    async fn lock_for_mint(&self, _key: &AuthSigKey) -> Result<Option<AsyncMintLock>, AuthStoreError> {
        if self.switches.fail_lock.load(Ordering::SeqCst) {
            return Err(self.failure(StoreFailure::Busy));
        }
        let Some(lock) = &self.lock else { return Ok(None) };
        let guard = lock.clone().lock_owned().await;
        self.locks_taken.fetch_add(1, Ordering::SeqCst);
        let released = self.locks_released.clone();
        Ok(Some(AsyncMintLock::new(async move {
            tokio::task::yield_now().await;
            released.fetch_add(1, Ordering::SeqCst);
            drop(guard);
        })))
    }
}

/// A manager over one test store (synchronous or async) with a key policy, a signer and a
/// configuration.
type Attach<'a> = &'a dyn Fn(Arc<MemoryKeyStore>, SessionKeyPolicy, AuthSource, ManagerConfig) -> SessionManager;

/// What failing store calls do to lenient and strict managers, for any kind of store: `typed`
/// says whether an error is the one the store's failing load or save returns, `lock` the one its
/// failing mint lock returns.
fn failing_store_scenario(
    store: &Switches,
    attach: Attach<'_>,
    typed: fn(&AuthStoreError) -> bool,
    lock: fn(&AuthStoreError) -> bool,
) {
    use lit_session_signer::manager::StoreFailures;
    let is = |e: &ManagerError, want: fn(&AuthStoreError) -> bool| matches!(e, ManagerError::Store(s) if want(s));
    runtime().block_on(async {
        let keys = Arc::new(MemoryKeyStore::new());
        let key = keys.generate("fixed").unwrap();
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let options = SessionSigsOptions::new(NONCE);
        let make = |failures| {
            let (wallet, count) = counting(0x5b);
            let config = ManagerConfig { store_failures: failures, ..ManagerConfig::default() };
            (attach(keys.clone(), SessionKeyPolicy::Fixed(key.clone()), wallet, config), count)
        };

        // Default (the command line's cache): warnings, and signing goes on.
        let (lenient, count) = make(StoreFailures::Warn);
        store.down(true, true, false);
        let report = lenient.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Signed { .. }));
        assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
        assert_eq!(count.load(Ordering::SeqCst), 1);

        // Strict: an unreadable store fails before anything is signed.
        let (strict, count) = make(StoreFailures::Fail);
        let err = strict.session_sigs_report(&nodes(2), &requests, &options).await.unwrap_err();
        assert!(is(&err, typed), "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 0);
        // A new AuthSig that cannot be saved is neither handed out nor kept.
        store.down(false, true, false);
        let err = strict.session_sigs_report(&nodes(2), &requests, &options).await.unwrap_err();
        assert!(is(&err, typed), "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        store.down(true, true, false);
        assert!(strict.session_sigs_report(&nodes(2), &requests, &options).await.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 1, "nothing was kept in memory");

        // Store back: signed and saved; then the store goes away and the AuthSig held in memory
        // keeps serving; a call that needs a new one fails.
        store.down(false, false, false);
        let report = strict.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Signed { .. }) && report.warnings.is_empty());
        store.down(true, true, true);
        for _ in 0..3 {
            let report = strict.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
            assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }));
            assert_valid(&report.sigs, &requests, Timestamp::now());
        }
        let wider = vec![req("lit-litaction://*=lit-action-execution")];
        // (The held AuthSig is found in memory, so the store's mint lock fails it first.)
        let err = strict.session_sigs_report(&nodes(2), &wider, &options).await.unwrap_err();
        assert!(is(&err, lock), "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // A mint lock that cannot be had fails a strict call, and is a warning otherwise.
        store.down(false, false, true);
        let err = strict.session_sigs_report(&nodes(2), &wider, &options).await.unwrap_err();
        assert!(is(&err, lock), "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 2);
        let report = lenient.session_sigs_report(&nodes(2), &wider, &options).await.unwrap();
        assert!(report.warnings.iter().any(|w| w.contains("mint lock")), "{:?}", report.warnings);
    });
}

#[test]
fn a_failing_store_fails_the_call_when_configured_and_memory_reuse_goes_on() {
    let store = SharedStore::default();
    let attach = |keys: Arc<MemoryKeyStore>, policy, auth, config| {
        SessionManager::new(keys, policy, auth, Arc::new(store.clone())).with_config(config)
    };
    let io = |e: &AuthStoreError| matches!(e, AuthStoreError::Io { .. });
    failing_store_scenario(&store.switches, &attach, io, io);
}

#[test]
fn a_failing_async_store_fails_alike_with_its_typed_errors() {
    let store = AsyncSharedStore::default();
    let attach = |keys: Arc<MemoryKeyStore>, policy, auth, config| {
        SessionManager::new_async(keys, policy, auth, Arc::new(store.clone())).with_config(config)
    };
    failing_store_scenario(
        &store.switches,
        &attach,
        |e| matches!(e, AuthStoreError::Store { failure: StoreFailure::Unavailable, store, .. } if store == "async-db"),
        |e| matches!(e, AuthStoreError::Store { failure: StoreFailure::Busy, .. }),
    );
    assert_eq!(store.locks_taken.load(Ordering::SeqCst), 0, "this store has no mint lock");
}

/// Three "processes" (own managers, own memory) sharing one store with a mint lock, one session
/// key and one wallet: one wallet signature; returns how many managers there were.
fn one_signature_across_managers(attach: Attach<'_>) -> usize {
    runtime().block_on(async {
        let keys = Arc::new(MemoryKeyStore::new());
        let key = keys.generate("shared").unwrap();
        let counts: Vec<_> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        // Three "processes": own managers (own memory), one store, one session key, one wallet.
        let managers: Vec<_> = counts
            .iter()
            .map(|count| {
                let wallet = MemoryWallet::from_bytes(&[0x6c; 32]).unwrap();
                let auth = AuthSource::wallet(Counting { wallet, count: count.clone() });
                Arc::new(attach(keys.clone(), SessionKeyPolicy::Fixed(key.clone()), auth, ManagerConfig::default()))
            })
            .collect();
        let requests = vec![req("lit-pkp://*=pkp-signing")];
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let m = managers[i % 3].clone();
                let r = requests.clone();
                tokio::spawn(async move { m.session_sigs_report(&nodes(2), &r, &SessionSigsOptions::new(NONCE)).await })
            })
            .collect();
        let mut waited = 0;
        for t in tasks {
            let report = t.await.unwrap().unwrap();
            assert_valid(&report.sigs, &requests, Timestamp::now());
            waited += usize::from(report.waited);
        }
        let total: usize = counts.iter().map(|c| c.load(Ordering::SeqCst)).sum();
        assert_eq!(total, 1, "one wallet signature across the managers");
        assert_eq!(waited, 2, "the two other managers took the stored AuthSig after the lock");
        let stats: Vec<_> = managers.iter().map(|m| m.stats()).collect();
        assert_eq!(stats.iter().map(|s| s.signed).sum::<u64>(), 1);
        assert_eq!(stats.iter().map(|s| s.reused).sum::<u64>(), 59);
        managers.len()
    })
}

#[test]
fn managers_sharing_a_locking_store_cause_one_wallet_signature() {
    let store = SharedStore::with_lock();
    let attach = |keys: Arc<MemoryKeyStore>, policy, auth, config| {
        SessionManager::new(keys, policy, auth, Arc::new(store.clone())).with_config(config)
    };
    let managers = one_signature_across_managers(&attach);
    assert_eq!(store.locks_taken.load(Ordering::SeqCst), managers);
}

#[test]
fn managers_sharing_an_async_locking_store_cause_one_wallet_signature() {
    let store = AsyncSharedStore::with_lock();
    let attach = |keys: Arc<MemoryKeyStore>, policy, auth, config| {
        SessionManager::new_async(keys, policy, auth, Arc::new(store.clone())).with_config(config)
    };
    let managers = one_signature_across_managers(&attach);
    assert_eq!(store.locks_taken.load(Ordering::SeqCst), managers);
    assert_eq!(store.locks_released.load(Ordering::SeqCst), managers, "every lock given back by release");
}

#[test]
fn exact_grants_keep_one_callers_abilities_from_another() {
    runtime().block_on(async {
        // Caller B may decrypt and sign under access-control conditions; caller A may only sign.
        let decrypt = req("lit-accesscontrolcondition://*=access-control-condition-decryption");
        let sign = req("lit-accesscontrolcondition://*=access-control-condition-signing");
        let broad = vec![decrypt.clone(), sign.clone()];
        let narrow = vec![sign];
        let options = SessionSigsOptions::new(NONCE);
        let manager = |grants| {
            let (wallet, count) = counting(0x42);
            let config = ManagerConfig { reuse_grants: grants, ..ManagerConfig::default() };
            let m = SessionManager::new(
                Arc::new(MemoryKeyStore::new()),
                labelled(None),
                wallet,
                Arc::new(MemoryAuthSigStore::new()),
            )
            .with_config(config);
            (m, count)
        };
        // Whether a node would accept `sigs` for decryption (the node checks the ability
        // against the AuthSig's ReCap, not against the signed resource list).
        let decrypts = |sigs: &SessionSigs| {
            let verifier = Verifier::new(VerifyPolicy::strict());
            sigs.iter().all(|(node, sig)| verifier.verify(sig, node, &decrypt, Timestamp::now()).is_ok())
        };

        // The SDK's rule: B's AuthSig covers A's request and serves it, lending A decryption.
        let (covering, count) = manager(ReuseGrants::Covering);
        covering.session_sigs_report(&nodes(3), &broad, &options).await.unwrap();
        let report = covering.session_sigs_report(&nodes(3), &narrow, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
        assert!(decrypts(&report.sigs), "the control: a covering AuthSig lends its extra grant");
        assert_eq!(count.load(Ordering::SeqCst), 1);

        // Exact: A gets an AuthSig granting only what it asked for; its sessions cannot decrypt.
        let (exact, count) = manager(ReuseGrants::Exact);
        exact.session_sigs_report(&nodes(3), &broad, &options).await.unwrap();
        let report = exact.session_sigs_report(&nodes(3), &narrow, &options).await.unwrap();
        match signed_reason(&report.auth_sig) {
            ResignReason::GrantsMore { extra } => assert!(extra.contains("Threshold/Decryption"), "{extra}"),
            other => panic!("expected GrantsMore, got {other}"),
        }
        assert_valid(&report.sigs, &narrow, Timestamp::now());
        assert!(!decrypts(&report.sigs), "an exact AuthSig lends nothing");
        // The same narrow request again reuses the exact AuthSig.
        let report = exact.session_sigs_report(&nodes(3), &narrow, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn alternating_grant_sets_cost_one_signature_each_per_auth_sig_lifetime() {
    runtime().block_on(async {
        let clock = Clock::new();
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyStore::new());
        let key = keys.generate("fixed").unwrap();
        let sets = [
            vec![req("lit-pkp://*=pkp-signing")],
            vec![req("lit-litaction://*=lit-action-execution"), req("lit-pkp://*=pkp-signing")],
        ];
        let options = SessionSigsOptions::new(NONCE);
        let make = |grants, seed| {
            let (wallet, count) = counting(seed);
            let store = Arc::new(FileAuthSigStore::open(dir.path().join(format!("{grants:?}"))).unwrap());
            let config = ManagerConfig { reuse_grants: grants, ..ManagerConfig::default() };
            let manager = SessionManager::new(keys.clone(), SessionKeyPolicy::Fixed(key.clone()), wallet, store);
            (clock.install(manager.with_config(config)), count)
        };

        // Exact: one AuthSig per grant set, each found again at every switch.
        let (exact, count) = make(ReuseGrants::Exact, 0x51);
        for i in 0..100 {
            let requests = &sets[i % 2];
            let report = exact.session_sigs_report(&nodes(3), requests, &options).await.unwrap();
            match i {
                0 => assert_eq!(signed_reason(&report.auth_sig), &ResignReason::NotCached),
                // The AuthSig held (set 0) does not grant set 1's extra ability.
                1 => assert!(matches!(signed_reason(&report.auth_sig), ResignReason::NotCovered { .. })),
                _ => assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "call {i}: {}", report.auth_sig),
            }
            if i < 4 {
                assert_valid(&report.sigs, requests, clock.now());
            }
        }
        assert_eq!(count.load(Ordering::SeqCst), 2, "two grant sets, two wallet signatures");
        assert_eq!(exact.stats().reused, 98);
        // The request order is not part of the grant set.
        let reversed: Vec<_> = sets[1].iter().rev().cloned().collect();
        let report = exact.session_sigs_report(&nodes(3), &reversed, &options).await.unwrap();
        assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
        // Each set has its own file, so a restarted process signs nothing either.
        let files = std::fs::read_dir(dir.path().join("Exact")).unwrap().count();
        assert_eq!(files, 2);
        drop(exact);
        let (restarted, count2) = make(ReuseGrants::Exact, 0x51);
        for i in 0..4 {
            let report = restarted.session_sigs_report(&nodes(3), &sets[i % 2], &options).await.unwrap();
            assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "call {i}: {}", report.auth_sig);
        }
        assert_eq!(count2.load(Ordering::SeqCst), 0);
        // Once both AuthSigs have expired (24 h), the next lifetime costs two signatures again.
        clock.advance(Duration::hours(24));
        for i in 0..10 {
            restarted.session_sigs_report(&nodes(3), &sets[i % 2], &options).await.unwrap();
        }
        assert_eq!(count2.load(Ordering::SeqCst), 2);
        // forget drops every grant set's AuthSig, in memory and in the store.
        restarted.forget(false).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("Exact")).unwrap().count(), 0);
        let report = restarted.session_sigs_report(&nodes(3), &sets[0], &options).await.unwrap();
        assert_eq!(signed_reason(&report.auth_sig), &ResignReason::NotCached);

        // Covering keeps one entry per signer and session key, as before: an AuthSig covering
        // both sets serves them alternately; two sets that do not cover each other replace one
        // another at every switch.
        let (covering, count) = make(ReuseGrants::Covering, 0x52);
        let both = &sets[1];
        covering.session_sigs_report(&nodes(3), both, &options).await.unwrap();
        for i in 0..10 {
            let report = covering.session_sigs_report(&nodes(3), &sets[i % 2], &options).await.unwrap();
            assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "call {i}: {}", report.auth_sig);
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let disjoint = [vec![req("lit-pkp://*=pkp-signing")], vec![req("lit-litaction://*=lit-action-execution")]];
        covering.forget(false).await.unwrap();
        for i in 0..10 {
            covering.session_sigs_report(&nodes(3), &disjoint[i % 2], &options).await.unwrap();
        }
        assert_eq!(count.load(Ordering::SeqCst), 11);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("Covering"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let wallet = MemoryWallet::from_bytes(&[0x52; 32]).unwrap();
        let entry = AuthSigKey { signer: wallet.address(), session_key: keys.public_key(&key).unwrap(), grants: None };
        assert_eq!(names, vec![format!("{}.json", entry.name())]);
    });
}
