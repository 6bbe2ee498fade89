//! The store recovers when the application is logged out or its sessions are closed under it.
//! On Kryoptic the logout is made with no call in flight (see `Module::logout_may_race_calls`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{KeyId, KeyStoreError, Pkcs11KeyStore, SessionKeyStore, Signature};
use lit_session_signer::pkcs11::{Pkcs11Error, Pkcs11ErrorKind, TokenConfig};

use crate::common::{message, unique_label};
use crate::hsm_test;

fn check_all(store: &Pkcs11KeyStore, id: &KeyId, results: &[Vec<(Vec<u8>, Signature)>]) -> usize {
    let vk = store.public_key(id).unwrap();
    let mut n = 0;
    for sigs in results {
        for (m, sig) in sigs {
            vk.verify_strict(m, sig).expect("valid signature");
            n += 1;
        }
    }
    n
}

hsm_test! {
    fn recovers_from_logout_in_the_middle_of_a_run(env) {
        let _g = env.exclusive();
        let store = Arc::new(env.open());
        // A token key: it is private, so a logout hides it and invalidates its handle.
        let id = store.generate(&unique_label("logout")).unwrap();
        const THREADS: usize = 4;
        const PER_THREAD: usize = 1_500;
        let done = Arc::new(AtomicUsize::new(0));

        let start = Instant::now();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, id, done) = (Arc::clone(&store), id.clone(), Arc::clone(&done));
                std::thread::spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let m = message(t, i, 300);
                            let sig = store.sign(&id, &m).expect("sign survives logout");
                            done.fetch_add(1, Ordering::Relaxed);
                            (m, sig)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // Log out twice while the threads are signing.
        for threshold in [1_000, 3_500] {
            while done.load(Ordering::Relaxed) < threshold {
                std::thread::sleep(Duration::from_millis(1));
            }
            env.logout_elsewhere(&store);
        }
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        assert_eq!(check_all(&store, &id, &results), THREADS * PER_THREAD);
        let stats = store.recovery_stats();
        eprintln!("logout run: {:.2?}, {stats:?}", start.elapsed());
        assert!(stats.relogins >= 1, "the store logged in again: {stats:?}");
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    fn recovers_when_all_its_sessions_are_closed(env) {
        let _g = env.exclusive();
        let store = Arc::new(env.open());
        let id = store.generate(&unique_label("closeall")).unwrap();
        const THREADS: usize = 4;
        const PHASE: usize = 500;
        // Why a barrier: SoftHSM 2.6.1 frees a session object in C_CloseAllSessions while
        // another thread may be inside C_Sign on it (a use-after-free in the module, not in us),
        // so the sessions are closed between two signatures of every thread, mid-run.
        let barrier = Arc::new(Barrier::new(THREADS + 1));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, id, barrier) = (Arc::clone(&store), id.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    for phase in 0..3 {
                        for i in 0..PHASE {
                            let m = message(t, phase * PHASE + i, 300);
                            let sig = store.sign(&id, &m).expect("sign survives closed sessions");
                            out.push((m, sig));
                        }
                        barrier.wait(); // sessions are closed here
                        barrier.wait();
                    }
                    out
                })
            })
            .collect();
        for _ in 0..3 {
            barrier.wait();
            env.close_all_sessions(&store);
            barrier.wait();
        }
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        assert_eq!(check_all(&store, &id, &results), THREADS * PHASE * 3);
        let stats = store.recovery_stats();
        eprintln!("close-all run: {stats:?}");
        assert!(stats.reconnects >= 1, "the store reconnected: {stats:?}");
        // The store still works, and still holds the login, after the run.
        let sig = store.sign(&id, b"after").unwrap();
        store.public_key(&id).unwrap().verify_strict(b"after", &sig).unwrap();
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    /// `sign_many` spreads a call over the caller and the pool's workers, each on a session of its
    /// own: a logout in the middle of calls is recovered within them, and every call returns all
    /// of its signatures, checked, in order.
    fn sign_many_survives_logouts_in_the_middle_of_calls(env) {
        let _g = env.exclusive();
        let store = Arc::new(env.open());
        let id = store.generate(&unique_label("many-logout")).unwrap();
        let vk = store.public_key(&id).unwrap();
        let messages: Arc<Vec<Vec<u8>>> = Arc::new((0..100).map(|i| message(9, i, 1250)).collect());
        let calls = Arc::new(AtomicUsize::new(0));
        let signer = {
            let (store, id, messages, calls) = (Arc::clone(&store), id.clone(), Arc::clone(&messages), Arc::clone(&calls));
            std::thread::spawn(move || {
                let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
                (0..20)
                    .map(|_| {
                        let sigs = store.sign_many(&id, &refs).expect("sign_many survives a logout");
                        calls.fetch_add(1, Ordering::Relaxed);
                        sigs
                    })
                    .collect::<Vec<_>>()
            })
        };
        for threshold in [3, 10] {
            while calls.load(Ordering::Relaxed) < threshold {
                std::thread::sleep(Duration::from_millis(1));
            }
            env.logout_elsewhere(&store);
        }
        let results = signer.join().expect("signing thread");
        assert_eq!(results.len(), 20);
        for sigs in &results {
            assert_eq!(sigs.len(), messages.len());
            for (m, s) in messages.iter().zip(sigs) {
                vk.verify_strict(m, s).expect("valid signature, in order");
            }
        }
        let stats = store.recovery_stats();
        assert!(stats.relogins >= 1, "the store logged in again: {stats:?}");
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    fn recovers_from_logout_and_closed_sessions_together(env) {
        let _g = env.exclusive();
        let store = env.open();
        let id = store.generate(&unique_label("both")).unwrap();
        let vk = store.public_key(&id).unwrap();
        for round in 0..3 {
            env.logout_elsewhere(&store);
            let sig = store.sign(&id, &message(round, 0, 64)).unwrap();
            vk.verify_strict(&message(round, 0, 64), &sig).unwrap();
            env.close_all_sessions(&store);
            let msgs: Vec<Vec<u8>> = (0..30).map(|i| message(round, i, 1250)).collect();
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            let sigs = store.sign_many(&id, &refs).unwrap();
            for (m, s) in refs.iter().zip(&sigs) {
                vk.verify_strict(m, s).unwrap();
            }
        }
        // Key management also goes through recovery.
        env.logout_elsewhere(&store);
        assert!(store.list().unwrap().iter().any(|k| k.id == id));
        env.close_all_sessions(&store);
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    /// Another component of the process calls `C_Finalize`: calls answer
    /// `CKR_CRYPTOKI_NOT_INITIALIZED`, and the store initialises the module again, finds the
    /// token by label, logs in and signs with the same token key.
    fn recovers_when_the_module_is_finalised_under_it(env) {
        // Exclusive: every session of every store on the module goes.
        let _g = env.exclusive();
        let store = env.open();
        let id = store.generate(&unique_label("finalised")).unwrap();
        let vk = store.public_key(&id).unwrap();
        for round in 0..2 {
            env.finalize_elsewhere(&store);
            let m = message(round, 0, 300);
            let sig = store.sign(&id, &m).expect("sign after C_Finalize");
            vk.verify_strict(&m, &sig).unwrap();
        }
        let stats = store.recovery_stats();
        assert!(stats.reinitializations >= 2, "the store initialised the module again: {stats:?}");
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    /// A call that never returns (a hung HSM connection; here a thread that holds the module
    /// as a call in flight does) must not stop the store for good: a login that has to wait
    /// for it gives up after `module_busy_wait` with a transient `ModuleBusy` naming the wait,
    /// and once the call returns the store logs in again and signs.
    fn a_hung_call_makes_a_login_fail_in_time_then_recover(env) {
        let _g = env.exclusive();
        let mut config = TokenConfig::from_uri(&env.uri()).unwrap();
        config.recovery.module_busy_wait = Duration::from_millis(300);
        let store = Arc::new(Pkcs11KeyStore::open_with(config).unwrap());
        let id = store.generate(&unique_label("busy")).unwrap();
        let vk = store.public_key(&id).unwrap();
        env.logout_elsewhere(&store);

        let context = Arc::clone(store_token(&store).context());
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let hung = std::thread::spawn(move || {
            let _in_flight = context.read().expect("module initialised");
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        held_rx.recv().unwrap();
        // On its own thread, so a login that waits for the hung call fails the test instead of
        // hanging it (the hung call returns once this test lets go of `release_tx`).
        let (done_tx, done_rx) = mpsc::channel();
        let signer = {
            let (store, id) = (Arc::clone(&store), id.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let result = store.sign(&id, b"while a call hangs");
                let _ = done_tx.send((result, started.elapsed()));
            })
        };
        let (result, waited) =
            done_rx.recv_timeout(Duration::from_secs(30)).expect("the login waited for the hung call instead of giving up");
        signer.join().unwrap();
        let err = result.expect_err("the login cannot run");
        let KeyStoreError::Backend { source, transient } = &err else { panic!("{err:?}") };
        let pkcs11 = source.downcast_ref::<Pkcs11Error>().expect("a PKCS#11 error");
        assert_eq!(pkcs11.kind(), Pkcs11ErrorKind::ModuleBusy, "{err}");
        assert!(*transient, "{err}");
        assert!(err.to_string().contains("has not returned for 300 ms"), "{err}");
        assert!(waited >= Duration::from_millis(300), "it waited for the call first: {waited:?}");

        release_tx.send(()).unwrap();
        hung.join().unwrap();
        let sig = store.sign(&id, b"after the call returned").expect("logs in again and signs");
        vk.verify_strict(b"after the call returned", &sig).unwrap();
        assert!(store.recovery_stats().relogins >= 1);
        store.delete(&id).unwrap();
    }
}
