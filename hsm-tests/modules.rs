//! Where the two modules differ, shown on the tokens themselves, and that the store works the
//! same on both. The README's "Two PKCS#11 modules" section lists every difference and how the
//! layer handles it.

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use lit_session_signer::internal::pkcs11::{parse_ec_point, store_token, EcPointEncoding};
use lit_session_signer::keystore::{KeyOptions, KeyStoreError, SessionKeyStore};

use crate::common::{tokens, unique_label, Module};
use crate::hsm_test;

#[test]
fn the_kryoptic_version_is_the_one_the_build_script_builds() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kryoptic.sh")).unwrap();
    let line = format!("KRYOPTIC_VERSION={}", tokens::kryoptic::VERSION);
    assert!(script.lines().any(|l| l.trim() == line), "scripts/kryoptic.sh does not set {line}");
}

hsm_test! {
    /// SoftHSM2 2.6.1 speaks PKCS#11 2.40 (`C_GetFunctionList` only); Kryoptic exports
    /// `C_GetInterface` with a 3.2 function list, which cryptoki takes. The layer calls only
    /// functions both versions have.
    fn the_interface_versions_differ(env) {
        let _g = env.shared();
        let store = env.open();
        let info = store_token(&store).context().read().unwrap().pkcs11().get_library_info().unwrap();
        let version = (info.cryptoki_version().major(), info.cryptoki_version().minor());
        eprintln!("{}: {:?} / {:?}, PKCS#11 {version:?}", env.kind, info.manufacturer_id(), info.library_description());
        let expected = match env.kind {
            Module::SoftHsm2 => (2, 40),
            Module::Kryoptic => (3, 2),
        };
        assert_eq!(version, expected);
    }
}

hsm_test! {
    /// `CKA_EC_POINT` of an ed25519 public key: SoftHSM2 wraps the point in a DER OCTET STRING,
    /// Kryoptic returns the bare 32 bytes (the PKCS#11 3.1 form). The store reads both.
    fn the_ec_point_encodings_differ_and_both_are_read(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate_with(&unique_label("ec-point"), KeyOptions::ephemeral()).unwrap();
        let token = store_token(&store);
        let value = token
            .run("read CKA_EC_POINT", |session, _| {
                let template = [Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id.as_bytes().to_vec())];
                let public = session.find_objects(&template).unwrap()[0];
                match session.get_attributes(public, &[AttributeType::EcPoint]).unwrap().pop() {
                    Some(Attribute::EcPoint(value)) => Ok(value),
                    other => panic!("no CKA_EC_POINT: {other:?}"),
                }
            })
            .unwrap();
        let (point, encoding) = parse_ec_point(&value, 32).unwrap();
        let expected = match env.kind {
            Module::SoftHsm2 => EcPointEncoding::DerOctetString,
            Module::Kryoptic => EcPointEncoding::Raw,
        };
        assert_eq!(encoding, expected, "{}", hex::encode(&value));
        assert_eq!(point, store.public_key(&id).unwrap().as_bytes());
    }
}

hsm_test! {
    /// Pure Ed25519 is `CKM_EDDSA` with no parameter. A `CK_EDDSA_PARAMS` with `phFlag=false`
    /// asks for Ed25519ctx: SoftHSM2 ignores it and signs pure Ed25519 anyway, Kryoptic refuses
    /// it (RFC 8032 has no Ed25519ctx with an empty context). The store passes no parameter.
    fn pure_ed25519_takes_no_mechanism_parameter(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate_with(&unique_label("eddsa-params"), KeyOptions::ephemeral()).unwrap();
        let vk = store.public_key(&id).unwrap();
        let token = store_token(&store);
        let slot = token.slot().unwrap();
        // A session of our own: a refusal here must not start the store's recovery.
        let with_params = {
            let guard = token.context().read().unwrap();
            let session = guard.pkcs11().open_ro_session(slot).unwrap();
            let template = [Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.as_bytes().to_vec())];
            let key = session.find_objects(&template).unwrap()[0];
            let ctx_params = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519ctx(&[])));
            session.sign(&ctx_params, key, b"pure?")
        };
        match env.kind {
            Module::SoftHsm2 => {
                let sig = with_params.expect("SoftHSM2 ignores the parameter");
                let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
                vk.verify_strict(b"pure?", &sig).expect("and signs pure Ed25519");
            }
            Module::Kryoptic => {
                let err = with_params.expect_err("Kryoptic refuses Ed25519ctx without a context");
                eprintln!("Kryoptic, CKM_EDDSA with phFlag=false: {err}");
            }
        }
        let sig = store.sign(&id, b"pure").unwrap();
        vk.verify_strict(b"pure", &sig).unwrap();
    }
}

hsm_test! {
    /// `C_Logout` destroys the application's private session objects (PKCS#11 `C_Logout`), on
    /// both modules: an ephemeral key does not survive a logout by another component, and the
    /// store says `KeyNotFound` after logging in again. Token keys survive.
    fn a_logout_ends_ephemeral_keys_but_not_token_keys(env) {
        let _g = env.exclusive();
        let store = env.open();
        let ephemeral = store.generate_with(&unique_label("eph-logout"), KeyOptions::ephemeral()).unwrap();
        let persistent = store.generate(&unique_label("tok-logout")).unwrap();
        env.logout_elsewhere(&store);
        let sig = store.sign(&persistent, b"after the logout").expect("a token key survives");
        store.public_key(&persistent).unwrap().verify_strict(b"after the logout", &sig).unwrap();
        match store.sign(&ephemeral, b"after the logout") {
            Err(KeyStoreError::KeyNotFound(id, _)) => assert_eq!(id, ephemeral),
            other => panic!("{}: unexpected {other:?}", env.kind),
        }
        store.delete(&persistent).unwrap();
    }
}
