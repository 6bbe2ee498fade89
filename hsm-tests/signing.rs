//! Generation and signing on the token.

use ed25519_dalek::Verifier;
use lit_session_signer::keystore::{KeyOptions, KeyStoreError, SessionKeyStore};

use crate::common::{message, unique_label};
use crate::hsm_test;

hsm_test! {
    fn generates_a_key_and_signs_30_messages_that_verify(env) {
        let _g = env.shared();
        let store = env.open();
        let label = unique_label("sign30");
        let id = store.generate(&label).expect("generate on token");
        let vk = store.public_key(&id).expect("public key");

        let messages: Vec<Vec<u8>> = (0..30).map(|i| message(0, i, 1250)).collect();
        for m in &messages {
            let sig = store.sign(&id, m).expect("sign");
            vk.verify_strict(m, &sig).expect("verify_strict");
            vk.verify(m, &sig).expect("verify");
        }

        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let sigs = store.sign_many(&id, &refs).expect("sign_many");
        assert_eq!(sigs.len(), 30);
        for (m, sig) in refs.iter().zip(&sigs) {
            vk.verify_strict(m, sig).expect("sign_many output verifies in order");
        }
        // Ed25519 is deterministic: sign and sign_many agree message by message.
        for (m, sig) in refs.iter().zip(&sigs) {
            assert_eq!(&store.sign(&id, m).unwrap(), sig);
        }

        let listed = store.list().expect("list");
        let info = listed.iter().find(|k| k.id == id).expect("listed");
        assert_eq!(info.label, label);
        assert_eq!(info.public_key, vk);
        assert_eq!(store.find_by_label(&label).unwrap(), id);

        store.delete(&id).expect("delete");
    }
}

hsm_test! {
    fn ephemeral_keys_sign_too(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate_with(&unique_label("eph-sign"), KeyOptions::ephemeral()).unwrap();
        let vk = store.public_key(&id).unwrap();
        let sig = store.sign(&id, b"hello").unwrap();
        vk.verify_strict(b"hello", &sig).unwrap();
    }
}

hsm_test! {
    fn sign_many_with_one_or_no_messages(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate_with(&unique_label("many-edge"), KeyOptions::ephemeral()).unwrap();
        assert!(store.sign_many(&id, &[]).unwrap().is_empty());
        assert_eq!(store.sign_many(&id, &[b"x"]).unwrap().len(), 1);
    }
}

hsm_test! {
    fn the_token_store_passes_the_key_backend_conformance_suite(env) {
        let _g = env.shared();
        let store = env.open();
        lit_session_signer::keystore::testing::check_store(&store);
        // The same store behind the pointers services hold it by.
        lit_session_signer::keystore::testing::check_store(&std::sync::Arc::new(env.open()));
    }
}

hsm_test! {
    fn a_token_whose_signatures_do_not_verify_is_caught_and_named(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate(&unique_label("bad-sig")).unwrap();
        let other = store.generate(&unique_label("bad-sig-other")).unwrap();
        let messages: Vec<Vec<u8>> = (0..30).map(|i| message(7, i, 1250)).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let good = store.sign_many(&id, &refs).expect("the pair matches before the fault");

        // From now on the token states `other`'s public key for `id`: a store that reads it (a
        // new one) gets signatures from the token that do not verify under it.
        env.mismatch_public_key(&store, id.as_bytes(), other.as_bytes());
        let fresh = env.open();
        // A good call first, so the store's next calls try a second signing thread (with two
        // cores or more): bad signatures from the workers must be caught as well.
        let third = store.generate(&unique_label("bad-sig-third")).unwrap();
        fresh.sign_many(&third, &refs).expect("a matching pair signs");
        for (attempt, result) in [fresh.sign_many(&id, &refs), fresh.sign_many(&id, &refs[..10])].into_iter().enumerate() {
            let err = result.expect_err("a signature that does not verify is never returned");
            assert!(matches!(err, KeyStoreError::BadSignature(ref bad, _) if *bad == id), "{err}");
            let count = if attempt == 0 { 30 } else { 10 };
            let text = err.to_string();
            // The first bad signature to arrive is named by its place.
            let named = text.split("(message ").nth(1).and_then(|rest| rest.split_once(&format!(" of {count})")));
            assert!(named.is_some_and(|(n, _)| n.parse::<usize>().is_ok_and(|n| (1..=count).contains(&n))), "{text}");
            assert!(text.contains(&id.to_string()), "{text}");
        }
        let err = fresh.sign(&id, refs[0]).expect_err("nor a single one");
        assert!(matches!(err, KeyStoreError::BadSignature(ref bad, _) if *bad == id), "{err}");
        // The token's signatures themselves are unchanged: the store that read the public key
        // before the fault still checks them against the key that matches.
        assert_eq!(store.sign_many(&id, &refs).unwrap(), good);
        store.delete(&id).unwrap();
        store.delete(&other).unwrap();
        store.delete(&third).unwrap();
    }
}
