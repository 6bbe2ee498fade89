//! The private key never leaves the token.

use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{KeyOptions, SessionKeyStore};

use crate::common::unique_label;
use crate::hsm_test;

hsm_test! {
    fn private_key_cannot_be_read(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate(&unique_label("attrs")).unwrap();

        let a = store.key_attributes(&id).expect("attributes");
        assert_eq!(a.violations(), Vec::<&str>::new(), "{a:?}");
        assert!(a.token && a.private && a.value_sensitive, "CKA_TOKEN, CKA_PRIVATE, CKA_VALUE sensitive: {a:?}");

        // The same, asked directly through cryptoki on a separate session of the same context.
        let slot = store_token(&store).slot().expect("slot");
        let guard = store_token(&store).context().read().expect("context");
        let session = guard.pkcs11().open_ro_session(slot).expect("session");
        let found = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.as_bytes().to_vec())])
            .unwrap();
        assert_eq!(found.len(), 1);
        let key = found[0];
        let attrs = session
            .get_attributes(
                key,
                &[
                    AttributeType::Value,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::Local,
                ],
            )
            .unwrap();
        assert!(!attrs.iter().any(|a| matches!(a, Attribute::Value(_))), "CKA_VALUE came back: {attrs:?}");
        for expected in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::NeverExtractable(true),
            Attribute::AlwaysSensitive(true),
            Attribute::Local(true),
        ] {
            assert!(attrs.contains(&expected), "missing {expected:?} in {attrs:?}");
        }
        let info = session.get_attribute_info(key, &[AttributeType::Value]).unwrap();
        assert!(matches!(info[0], AttributeInfo::Sensitive), "{info:?}");
        drop(session);
        drop(guard);

        store.delete(&id).unwrap();
    }
}

hsm_test! {
    fn ephemeral_key_is_a_session_object_with_the_same_protection(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate_with(&unique_label("eph-attrs"), KeyOptions::ephemeral()).unwrap();
        let a = store.key_attributes(&id).unwrap();
        assert!(!a.token, "ephemeral keys are session objects");
        assert_eq!(a.violations(), Vec::<&str>::new(), "{a:?}");
    }
}
