//! The session manager with its session key on SoftHSM2: restart persistence, concurrency and
//! rotation on the token.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lit_session_signer::eth::{EthAddress, RecoverableSignature};
use lit_session_signer::keystore::SessionKeyStore;
use lit_session_signer::manager::{
    AuthSigUse, AuthSource, FileAuthSigStore, MemoryAuthSigStore, ResignReason, SessionKeyPolicy, SessionManager,
    SessionSigsOptions,
};
use lit_session_signer::pkcs11::Pkcs11Uri;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::NodeUrl;
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::wallet::{MemoryWallet, WalletError, WalletSigner};
use lit_session_signer::Timestamp;
use time::Duration;

use crate::common::{cli_verdict, lit_session, unique_label};
use crate::hsm_test;

const NONCE: &str = "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c";
const WALLET_KEY: &str = "0x3333333333333333333333333333333333333333333333333333333333333333";

struct Counting(MemoryWallet, Arc<AtomicUsize>);

impl WalletSigner for Counting {
    fn address(&self) -> EthAddress {
        self.0.address()
    }
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.sign_digest(digest)
    }
}

fn counting() -> (AuthSource, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    (AuthSource::wallet(Counting(MemoryWallet::from_bytes(&[0x33; 32]).unwrap(), count.clone())), count)
}

fn nodes(n: usize) -> Vec<NodeUrl> {
    (0..n).map(|i| format!("https://10.3.0.{i}:443").parse().unwrap()).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

hsm_test! {
    fn token_key_and_file_cache_survive_a_process_restart(env) {
        // Other processes read the token; SoftHSM#757: nothing writes it meanwhile.
        let _g = env.exclusive();
        let store = env.open();
        let label = unique_label("manager-restart");
        store.generate(&label).expect("generate on the token");
        let mut parsed: Pkcs11Uri = env.uri();
        parsed.object = Some(label.clone());
        let key_uri = parsed.to_string();
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("wallet.key");
        crate::common::write_private(&wallet, format!("{WALLET_KEY}\n").as_bytes());
        let cache = dir.path().join("cache");
        let args = [
            "session-sigs",
            "--wallet-key-file",
            wallet.to_str().unwrap(),
            "--session-key",
            &key_uri,
            "--node",
            "https://127.0.0.1:7470",
            "--resource",
            "lit-pkp://*=pkp-signing",
            "--nonce",
            NONCE,
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        // Two processes: the second finds the key by URI and the AuthSig on disk, and signs nothing.
        let first = lit_session(&args);
        assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        assert!(String::from_utf8_lossy(&first.stderr).contains("re-signed the AuthSig because no cached AuthSig"));
        let second = lit_session(&args);
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(second.status.success() && err.contains("reused the cached AuthSig"), "{err}");
        let (verdict, err) = cli_verdict(&second.stdout, "https://127.0.0.1:7470", "lit-pkp://*=pkp-signing");
        assert_eq!(verdict, "valid", "{err}");

        // And a library manager in this process, on the same key and cache, does not sign either.
        runtime().block_on(async {
            let id = store.resolve(&parsed).expect("the key by URI");
            let (source, count) = counting();
            let manager = SessionManager::new(
                Arc::new(env.open()),
                SessionKeyPolicy::Fixed(id.clone()),
                source,
                Arc::new(FileAuthSigStore::open(&cache).unwrap()),
            );
            let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
            let report = manager.session_sigs_report(&nodes(30), &requests, &SessionSigsOptions::new(NONCE)).await.unwrap();
            assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
            assert_eq!(count.load(Ordering::SeqCst), 0);
            assert_valid(&report.sigs, &requests);
            store.delete(&id).unwrap();
        });
    }
}

fn assert_valid(sigs: &lit_session_signer::session_sigs::SessionSigs, requests: &[ResourceAbilityRequest]) {
    let verifier = Verifier::new(VerifyPolicy::strict());
    let now = Timestamp::now();
    for (node, sig) in sigs.iter() {
        for r in requests {
            verifier.verify(sig, node, r, now).unwrap_or_else(|e| panic!("{node}: {e}"));
        }
    }
}

hsm_test! {
    fn two_hundred_concurrent_calls_on_one_manager(env) {
        let _g = env.shared();
        let store = Arc::new(env.open());
        let id = store.generate(&unique_label("manager-concurrent")).expect("generate");
        let (source, count) = counting();
        let manager = Arc::new(SessionManager::new(
            store.clone(),
            SessionKeyPolicy::Fixed(id.clone()),
            source,
            Arc::new(MemoryAuthSigStore::new()),
        ));
        let requests: Vec<ResourceAbilityRequest> =
            vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()];
        let started = std::time::Instant::now();
        let maps = runtime().block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let m = manager.clone();
                    let r = requests.clone();
                    // Different node sets, so no two maps are alike.
                    let n = nodes(3 + i % 5);
                    tokio::spawn(async move { m.session_sigs(&n, &r, &SessionSigsOptions::new(NONCE)).await })
                })
                .collect();
            let mut maps = Vec::new();
            for t in tasks {
                maps.push(t.await.expect("task").expect("session sigs"));
            }
            maps
        });
        let signatures: usize = maps.iter().map(|m| m.len()).sum();
        eprintln!("200 concurrent calls, {signatures} token signatures in {:.2?}", started.elapsed());
        for m in &maps {
            assert_valid(m, &requests);
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "one wallet signature for all 200 calls");
        assert_eq!(manager.stats().reused, 199);
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    fn rotation_makes_and_retires_token_keys(env) {
        let _g = env.shared();
        let store = Arc::new(env.open());
        let prefix = unique_label("manager-rotate");
        let clock = Arc::new(Mutex::new(Timestamp::now()));
        let c = clock.clone();
        let (source, count) = counting();
        let manager = SessionManager::new(
            store.clone(),
            SessionKeyPolicy::Labelled { prefix: prefix.clone(), rotate_after: Some(Duration::hours(12)) },
            source,
            Arc::new(MemoryAuthSigStore::new()),
        )
        .with_clock(move || *c.lock().unwrap());
        let ours = || store.list().unwrap().into_iter().filter(|k| k.label.starts_with(&prefix)).count();
        let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        let advance = |d: Duration| {
            let mut t = clock.lock().unwrap();
            *t = t.saturating_add(d);
        };
        runtime().block_on(async {
            let options = SessionSigsOptions::new(NONCE);
            let first = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
            assert_eq!(ours(), 1);
            advance(Duration::hours(12));
            let second = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
            assert!(
                matches!(&second.auth_sig, AuthSigUse::Signed { reason: ResignReason::KeyRotated, .. }),
                "{}",
                second.auth_sig
            );
            assert_ne!(first.session_key, second.session_key);
            assert_eq!(ours(), 2, "the old key stays while its AuthSig may be in use");
            advance(Duration::hours(12) + Duration::minutes(2));
            let third = manager.session_sigs_report(&nodes(2), &requests, &options).await.unwrap();
            assert_ne!(third.session_key, second.session_key);
            assert_eq!(ours(), 2, "first key deleted, a third made");
            assert!(store.public_key(&first.session_key).is_err());
            assert_eq!(count.load(Ordering::SeqCst), 3);
            manager.forget(true).await.unwrap();
        });
        for k in store.list().unwrap().into_iter().filter(|k| k.label.starts_with(&prefix)) {
            store.delete(&k.id).unwrap();
        }
    }
}
