//! Real failures on every module give messages an operator can act on: which token (label and
//! serial), slot, key, operation and `C_*` function, the `CKR_*` code, and whether retrying
//! can help.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{KeyId, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::{PinSource, Pkcs11ErrorKind, Pkcs11Uri, RecoveryPolicy, TokenConfig, TokenSelector};

use crate::common::unique_label;
use crate::hsm_test;

/// Asserts that `msg` contains every part.
fn has_all(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{p:?} missing from: {msg}");
    }
}

/// Label, serial and slot of a store's token as the message must print them.
fn token_parts(store: &Pkcs11KeyStore) -> (String, String) {
    let ctx = store_token(store).error_context();
    let token = format!("token {:?} (serial {})", ctx.token.unwrap(), ctx.serial.unwrap());
    (token, format!("slot {}", ctx.slot.unwrap()))
}

hsm_test! {
    fn wrong_pin_names_token_serial_slot_function_code_and_class(env) {
        let Some(aux) = &env.aux else {
            eprintln!("SKIPPED: no second token ({})", env.origin);
            return;
        };
        // Exclusive: with a login held by another store, C_Login would not check the PIN.
        let _g = env.exclusive();
        let (token, slot) = {
            let good = Pkcs11KeyStore::open(&env.aux_uri().unwrap()).expect("open aux");
            token_parts(&good)
        };
        let var = format!("LIT_TEST_MSG_WRONG_PIN_{}", std::process::id());
        std::env::set_var(&var, "424242-wrong");
        let err = Pkcs11KeyStore::open(&Pkcs11Uri::for_token(&env.module, &aux.label, PinSource::Env(var)))
            .expect_err("wrong PIN");
        assert_eq!(err.kind(), Pkcs11ErrorKind::PinIncorrect, "{err:?}");
        let msg = err.to_string();
        has_all(&msg, &[&token, &slot, "key n/a", "open token", "C_Login", "CKR_PIN_INCORRECT", "permanent"]);
        assert!(!msg.contains("424242"), "the PIN must not be printed: {msg}");
    }
}

hsm_test! {
    fn missing_key_names_key_id_and_label(env) {
        let _g = env.shared();
        let store = env.open();
        let (token, slot) = token_parts(&store);
        let never = KeyId::from_bytes(vec![0xee; 16]);
        let err = store.key_attributes(&never).expect_err("no such key");
        assert_eq!(err.kind(), Pkcs11ErrorKind::KeyNotFound, "{err:?}");
        has_all(
            &err.to_string(),
            &[
                &token,
                &slot,
                &format!("key id {}", "ee".repeat(16)),
                "read key attributes",
                "C_FindObjects",
                "CKR_OK, 0 objects",
                "permanent",
            ],
        );
        let label = unique_label("never-made");
        let err = store.find_by_label(&label).expect_err("no such label");
        has_all(&err.to_string(), &[&token, &slot, &format!("key label {label:?}"), "C_FindObjects", "permanent"]);
    }
}

hsm_test! {
    fn wrong_mechanism_names_function_code_and_key(env) {
        let _g = env.shared();
        let store = env.open();
        let (token, slot) = token_parts(&store);
        let id = store.generate(&unique_label("wrongmech")).unwrap();
        let idb = id.as_bytes().to_vec();
        // CKM_SHA256_HMAC with an ed25519 key: the token refuses it in C_SignInit. (SoftHSM 2.6.1
        // accepts CKM_ECDSA or CKM_RSA_PKCS with an ed25519 key in C_SignInit and then fails
        // C_Sign with CKR_GENERAL_ERROR.)
        let raw = store_token(&store);
        let err = raw
            .run("sign with the wrong mechanism", |session, ctx| {
                let template = [Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(idb.clone())];
                let key = session.find_objects(&template).expect("C_FindObjects")[0];
                raw.sign(session, &Mechanism::Sha256Hmac, key, &[7u8; 32], &ctx.clone().with_key_id(&idb))
            })
            .expect_err("HMAC with an ed25519 key");
        let msg = err.to_string();
        let code = err.code().unwrap_or_default();
        assert!(code == "CKR_KEY_TYPE_INCONSISTENT" || code == "CKR_MECHANISM_INVALID", "unexpected code {code}: {msg}");
        has_all(
            &msg,
            &[&token, &slot, &format!("key id {id}"), "sign with the wrong mechanism", "C_SignInit", code, "permanent"],
        );
        assert!(!err.is_transient());
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    fn unknown_token_names_the_label_and_the_tokens_present(env) {
        let _g = env.shared();
        let uri = Pkcs11Uri::for_token(&env.module, "no-such-token", PinSource::File(env.main.pin_file.clone()));
        let err = Pkcs11KeyStore::open(&uri).expect_err("unknown token");
        has_all(
            &err.to_string(),
            &[
                "no token matches label \"no-such-token\"",
                &env.main.label,
                "token \"no-such-token\" (serial unknown)",
                "slot unknown",
                "open token",
                "C_GetTokenInfo",
                "CKR_OK, no matching token",
                "permanent",
            ],
        );
    }
}

/// The directory of the token labelled `label` inside SoftHSM's token directory.
fn token_directory(tokens: &Path, label: &str) -> Option<PathBuf> {
    std::fs::read_dir(tokens).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|dir| {
        std::fs::read(dir.join("token.object")).is_ok_and(|b| b.windows(label.len()).any(|w| w == label.as_bytes()))
    })
}

hsm_test! {
    only softhsm2 because "SoftHSM2 keeps each token in a directory that can vanish under the store; \
        Kryoptic keeps its sqlite file open, so moving it away changes nothing";
    fn token_gone_at_run_time_is_transient_and_recovers(env) {
        let (Some(tokens), Some(aux)) = (&env.tokens_dir, &env.aux) else {
            eprintln!("SKIPPED token_gone: the token directory is not ours ({})", env.origin);
            return;
        };
        // Exclusive: re-initialising the module closes every session of every store.
        let _g = env.exclusive();
        let dir = token_directory(tokens, &aux.label).expect("the aux token's directory");
        let parked = tokens.with_file_name(format!("parked-{}", std::process::id()));
        let mut config =
            TokenConfig::new(&env.module, TokenSelector::label(&aux.label), Some(PinSource::File(aux.pin_file.clone())));
        config.recovery = RecoveryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..RecoveryPolicy::default()
        };
        let store = Pkcs11KeyStore::open_with(config).expect("open aux");
        let (token, _) = token_parts(&store);
        let id = store.generate(&unique_label("gone")).unwrap();
        store.sign(&id, b"before").unwrap();

        std::fs::rename(&dir, &parked).unwrap();
        let gone = store.key_attributes(&id);
        std::fs::rename(&parked, &dir).unwrap();
        let err = gone.expect_err("the token is gone");
        assert_eq!(err.kind(), Pkcs11ErrorKind::TokenGone, "{err:?}");
        assert!(err.is_transient());
        has_all(
            &err.to_string(),
            &[&token, "slot ", &format!("key id {id}"), "read key attributes", "C_", "CKR_", "transient"],
        );

        // Back: the next call re-initialises and finds the key again.
        let sig = store.sign(&id, b"after").expect("recovered");
        store.public_key(&id).unwrap().verify_strict(b"after", &sig).unwrap();
        assert!(store.recovery_stats().reinitializations >= 1);
        store.delete(&id).unwrap();
    }
}
