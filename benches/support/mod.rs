//! Shared by the benches: a raw `C_Sign` loop on one session (the token floor) and medians.

#[allow(dead_code)] // each bench uses a subset
mod timing;

#[allow(unused_imports)] // each bench uses a subset
pub use timing::{median, time, time_against};

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{KeyId, Pkcs11KeyStore};

/// One plain session of the store's own context with the key's handle: no pool, no recovery,
/// no local verification. Signing through it is the floor the store is measured against.
pub struct RawSigner {
    session: Session,
    key: ObjectHandle,
}

impl RawSigner {
    /// Opens a session on the store's token and finds key `id`.
    pub fn new(store: &Pkcs11KeyStore, id: &KeyId) -> Self {
        let token = store_token(store);
        let slot = token.slot().expect("slot");
        let guard = token.context().read().expect("context");
        let session = guard.pkcs11().open_rw_session(slot).expect("session");
        let key = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.as_bytes().to_vec())])
            .expect("find")[0];
        Self { session, key }
    }

    /// `C_SignInit` + `C_Sign` with `CKM_EDDSA`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        self.session.sign(&mech, self.key, message).expect("C_Sign")
    }
}
