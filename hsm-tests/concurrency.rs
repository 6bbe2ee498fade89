//! Many threads through one store.

use std::sync::Arc;
use std::time::Instant;

use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{KeyOptions, SessionKeyStore};

use crate::common::{message, unique_label};
use crate::hsm_test;

const THREADS: usize = 8;
const PER_THREAD: usize = 2_000;

hsm_test! {
    fn eight_threads_times_2000_signatures_all_valid(env) {
        let _g = env.shared();
        let store = Arc::new(env.open());
        let id = store.generate_with(&unique_label("threads"), KeyOptions::ephemeral()).unwrap();
        let vk = store.public_key(&id).unwrap();

        let start = Instant::now();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                let id = id.clone();
                std::thread::spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let m = message(t, i, 200);
                            let sig = store.sign(&id, &m).expect("sign");
                            (m, sig)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        let elapsed = start.elapsed();

        let mut total = 0;
        for (t, sigs) in results.iter().enumerate() {
            assert_eq!(sigs.len(), PER_THREAD, "thread {t} lost signatures");
            for (i, (m, sig)) in sigs.iter().enumerate() {
                assert_eq!(m, &message(t, i, 200));
                vk.verify_strict(m, sig).expect("every signature verifies");
                total += 1;
            }
        }
        assert_eq!(total, THREADS * PER_THREAD);
        eprintln!(
            "{total} signatures from {THREADS} threads in {elapsed:.2?} ({:.0}/s, pool of {} sessions)",
            total as f64 / elapsed.as_secs_f64(),
            store_token(&store).pool_capacity()
        );
    }
}
