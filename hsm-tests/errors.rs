//! Clear, typed errors and no panics for the usual mistakes.

use std::path::PathBuf;

use cryptoki::mechanism::MechanismType;
use lit_session_signer::internal::pkcs11::Pkcs11Token;
use lit_session_signer::keystore::{KeyId, KeyOptions, KeyStoreError, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::{
    PinError, PinSource, Pkcs11Error, Pkcs11ErrorKind, Pkcs11Uri, TokenConfig, TokenSelector, UriError,
};

use crate::common::unique_label;
use crate::hsm_test;

hsm_test! {
    fn wrong_pin_is_pin_incorrect(env) {
        let Some(aux) = &env.aux else {
            eprintln!("SKIPPED wrong_pin: no second token could be made ({})", env.origin);
            return;
        };
        // Exclusive: a login held by another store on this token would make C_Login answer
        // CKR_USER_ALREADY_LOGGED_IN instead of checking the PIN.
        let _g = env.exclusive();
        let var = format!("LIT_TEST_WRONG_PIN_{}", std::process::id());
        std::env::set_var(&var, "000000-wrong");
        let uri = Pkcs11Uri::for_token(&env.module, &aux.label, PinSource::Env(var));
        let err = Pkcs11KeyStore::open(&uri).expect_err("wrong PIN must fail");
        assert_eq!(err.kind(), Pkcs11ErrorKind::PinIncorrect, "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("CKR_PIN_INCORRECT") && msg.contains(&aux.label), "{msg}");
        assert!(!msg.contains("000000-wrong"), "the PIN must never be printed: {msg}");
        assert!(!format!("{err:?}").contains("000000-wrong"));
        let ks: KeyStoreError = err.into();
        assert!(!ks.is_transient());
    }
}

hsm_test! {
    fn missing_token_label_is_token_not_found(env) {
        let _g = env.shared();
        let uri = Pkcs11Uri::for_token(&env.module, "no-such-token", PinSource::File(env.main.pin_file.clone()));
        let err = Pkcs11KeyStore::open(&uri).expect_err("unknown token");
        assert_eq!(err.kind(), Pkcs11ErrorKind::TokenNotFound, "{err:?}");
        // The message lists the tokens that are present.
        let msg = err.to_string();
        assert!(msg.contains("no-such-token") && msg.contains(&format!("{:?}", env.main.label)), "{msg}");
    }
}

hsm_test! {
    fn wrong_module_path_is_module_load(env) {
        let _g = env.shared();
        for module in [
            PathBuf::from("/nonexistent/libnope-pkcs11.so"),
            env.main.pin_file.clone(), // exists, but is not a library
        ] {
            let uri = Pkcs11Uri::for_token(&module, "lit", PinSource::File(env.main.pin_file.clone()));
            let err = Pkcs11KeyStore::open(&uri).expect_err("bad module");
            assert_eq!(err.kind(), Pkcs11ErrorKind::ModuleLoad, "{err:?}");
            assert!(err.to_string().contains("cannot load PKCS#11 module"), "{err}");
        }
    }
}

hsm_test! {
    fn token_without_the_key_is_key_not_found(env) {
        let Some(aux_uri) = env.aux_uri() else {
            eprintln!("SKIPPED token_without_the_key: no second token ({})", env.origin);
            return;
        };
        let _g = env.shared();
        let main = env.open();
        let label = unique_label("elsewhere");
        let id = main.generate_with(&label, KeyOptions::ephemeral()).unwrap();
        let aux = Pkcs11KeyStore::open(&aux_uri).expect("open aux");
        match aux.sign(&id, b"x") {
            Err(KeyStoreError::KeyNotFound(missing, _)) => assert_eq!(missing, id),
            other => panic!("expected KeyNotFound, got {other:?}"),
        }
        assert!(matches!(aux.public_key(&id), Err(KeyStoreError::KeyNotFound(..))));
        assert!(matches!(aux.delete(&id), Err(KeyStoreError::KeyNotFound(..))));
        let err = aux.find_by_label(&label).unwrap_err();
        assert_eq!(err.kind(), Pkcs11ErrorKind::KeyNotFound, "{err:?}");
        assert!(err.to_string().contains(&label), "{err}");
        let err = aux.resolve(&aux_uri.clone().with_object(&label)).unwrap_err();
        assert_eq!(err.kind(), Pkcs11ErrorKind::KeyNotFound, "{err:?}");
        // Same on the main token for an id that was never made.
        let never = KeyId::from_bytes(vec![0xee; 16]);
        let err = main.sign(&never, b"x").unwrap_err();
        assert!(matches!(err, KeyStoreError::KeyNotFound(..)), "{err:?}");
        // Through the generic trait the message still names the token and the call.
        let text = err.to_string();
        assert!(text.contains(&env.main.label) && text.contains("C_FindObjects") && text.contains("permanent"), "{text}");
        // And the PKCS#11 error is its source, for error reporters.
        let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<Pkcs11Error>());
        assert_eq!(source.map(Pkcs11Error::kind), Some(Pkcs11ErrorKind::KeyNotFound), "{err:?}");
    }
}

hsm_test! {
    fn ambiguous_label_is_refused(env) {
        let _g = env.shared();
        let store = env.open();
        let label = unique_label("twice");
        store.generate_with(&label, KeyOptions::ephemeral()).unwrap();
        store.generate_with(&label, KeyOptions::ephemeral()).unwrap();
        let err = store.find_by_label(&label).unwrap_err();
        assert_eq!(err.kind(), Pkcs11ErrorKind::AmbiguousKey, "{err:?}");
        assert!(err.to_string().starts_with(&format!("2 keys with label {label:?}")), "{err}");
    }
}

hsm_test! {
    fn missing_mechanism_is_named(env) {
        let _g = env.shared();
        let config = TokenConfig::new(
            &env.module,
            TokenSelector::label(&env.main.label),
            Some(PinSource::File(env.main.pin_file.clone())),
        );
        // Both modules have EdDSA and neither has ML-DSA (Kryoptic is built without its mldsa
    // feature): the probe must name what is missing, and only that.
        let err = Pkcs11Token::open(config, &[MechanismType::EDDSA, MechanismType::ML_DSA]).unwrap_err();
        assert_eq!(err.kind(), Pkcs11ErrorKind::MechanismMissing, "{err:?}");
        assert!(err.to_string().starts_with("the token does not support CKM_ML_DSA; "), "{err}");
    }
}

hsm_test! {
    fn pin_and_uri_mistakes(env) {
        let _g = env.shared();
        let module = env.module.display();
        let token = &env.main.label;
        let err = Pkcs11Uri::parse(&format!("pkcs11:token={token}?module-path={module}&pin-value=1234")).unwrap_err();
        assert!(matches!(err, UriError::PinValueRefused));

        let uri = Pkcs11Uri::for_token(&env.module, token, PinSource::File("/nonexistent/pin".into()));
        let err = Pkcs11KeyStore::open(&uri).unwrap_err();
        assert_eq!(err.kind(), Pkcs11ErrorKind::Pin, "{err:?}");
        assert!(matches!(pin_error(&err), Some(PinError::File { .. })), "{err:?}");

        let uri = Pkcs11Uri::for_token(&env.module, token, PinSource::Env("LIT_SURELY_UNSET".into()));
        let err = Pkcs11KeyStore::open(&uri).unwrap_err();
        assert!(matches!(pin_error(&err), Some(PinError::EnvMissing(_))), "{err:?}");

        let uri: Pkcs11Uri = format!("pkcs11:token={token}").parse().unwrap();
        assert_eq!(Pkcs11KeyStore::open(&uri).map(drop).map_err(|e| e.kind()), Err(Pkcs11ErrorKind::Config));

        let store = env.open();
        let err = store.resolve(&env.uri()).unwrap_err();
        assert_eq!(err.kind(), Pkcs11ErrorKind::Config, "a URI without object= or id=: {err:?}");
        assert!(!format!("{store:?}").contains(&std::fs::read_to_string(&env.main.pin_file).unwrap().trim().to_string()));
    }
}

/// The PIN source's own error behind a `Pin` error.
fn pin_error(err: &Pkcs11Error) -> Option<&PinError> {
    std::error::Error::source(err)?.downcast_ref()
}
