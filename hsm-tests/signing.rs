//! Generation and signing on the token.

use ed25519_dalek::Verifier;
use lit_session_signer::keystore::{KeyOptions, SessionKeyStore};

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
