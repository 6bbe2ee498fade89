//! Token keys survive the store; ephemeral keys do not.

use lit_session_signer::keystore::{KeyOptions, KeyStoreError, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::Pkcs11ErrorKind;

use crate::common::unique_label;
use crate::hsm_test;

hsm_test! {
    fn token_key_survives_drop_and_reopen_and_delete_removes_it(env) {
        let _g = env.shared();
        let label = unique_label("persist");
        let (id, vk) = {
            let store = env.open();
            let id = store.generate(&label).unwrap_or_else(|e| panic!("generate: {e:?}; {:?}", store.recovery_stats()));
            (id.clone(), store.public_key(&id).unwrap())
        };

        // A new store finds it again by URI with object=<label>, and by id=.
        let uri = env.uri().with_object(&label);
        let store = Pkcs11KeyStore::open(&uri).unwrap();
        assert_eq!(store.resolve(&uri).unwrap(), id);
        assert_eq!(store.resolve(&env.uri().with_id(id.as_bytes())).unwrap(), id);
        let again = Pkcs11KeyStore::open(&uri.to_string().parse().unwrap()).unwrap();
        assert_eq!(again.resolve(&uri).unwrap(), id);
        drop(again);
        assert_eq!(store.public_key(&id).unwrap(), vk);
        let sig = store.sign(&id, b"after reopen").unwrap();
        vk.verify_strict(b"after reopen", &sig).unwrap();

        store.delete(&id).unwrap();
        assert!(matches!(store.public_key(&id), Err(KeyStoreError::KeyNotFound(..))));
        assert!(matches!(store.sign(&id, b"x"), Err(KeyStoreError::KeyNotFound(..))));
        assert!(matches!(store.resolve(&uri), Err(e) if e.kind() == Pkcs11ErrorKind::KeyNotFound));
        assert!(!store.list().unwrap().iter().any(|k| k.id == id));
        drop(store);
        let fresh = env.open();
        assert!(matches!(fresh.public_key(&id), Err(KeyStoreError::KeyNotFound(..))));
    }
}

hsm_test! {
    fn ephemeral_key_vanishes_when_the_store_is_dropped(env) {
        let _g = env.shared();
        // `observer` keeps the application logged in, so only the ephemeral store's own sessions
        // close when it is dropped.
        let observer = env.open();
        let creator = env.open();
        let label = unique_label("ephemeral");
        let id = creator.generate_with(&label, KeyOptions::ephemeral()).unwrap();
        assert!(!creator.key_attributes(&id).unwrap().token);
        // Session objects are visible to every session of the application while they live.
        assert_eq!(observer.find_by_label(&label).unwrap(), id);
        assert!(observer.key_attributes(&id).is_ok());
        drop(creator);
        assert!(matches!(observer.key_attributes(&id), Err(e) if e.kind() == Pkcs11ErrorKind::KeyNotFound));
        assert!(matches!(observer.find_by_label(&label), Err(e) if e.kind() == Pkcs11ErrorKind::KeyNotFound));
        let fresh = env.open();
        assert!(matches!(fresh.public_key(&id), Err(KeyStoreError::KeyNotFound(..))));
    }
}
