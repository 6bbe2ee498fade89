//! Finding objects on the token, and the cache of key handles by `CKA_ID`.

use std::collections::HashMap;
use std::sync::PoisonError;

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::Pkcs11Token;
use crate::pkcs11::error::{ErrorContext, KeySelector, Pkcs11Error, Problem};

/// The public or the private half of a key pair (the object class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyHalf {
    /// `CKO_PUBLIC_KEY`.
    Public,
    /// `CKO_PRIVATE_KEY`.
    Private,
}

impl KeyHalf {
    /// The `CKA_CLASS` of this half.
    pub(crate) fn class(self) -> ObjectClass {
        match self {
            Self::Public => ObjectClass::PUBLIC_KEY,
            Self::Private => ObjectClass::PRIVATE_KEY,
        }
    }
}

impl KeyHalf {
    /// Its place in a [`HandleCache`] entry.
    fn slot(self) -> usize {
        match self {
            Self::Public => 0,
            Self::Private => 1,
        }
    }
}

/// Cached object handles by `CKA_ID`, each half in its place ([`KeyHalf::slot`]); keyed by the
/// id alone so a look-up needs no allocation.
pub(super) type HandleCache = HashMap<Vec<u8>, [Option<ObjectHandle>; 2]>;

impl Pkcs11Token {
    /// Forgets every cached object handle.
    pub(super) fn invalidate_handles(&self) {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Forgets the cached handle of one half of key pair `id`.
    pub(crate) fn forget_handle(&self, half: KeyHalf, id: &[u8]) {
        if let Some(entry) = self.handles.lock().unwrap_or_else(PoisonError::into_inner).get_mut(id) {
            entry[half.slot()] = None;
        }
    }

    /// Finds every object matching `template`.
    pub(crate) fn find_all(
        &self,
        session: &Session,
        template: &[Attribute],
        ctx: &ErrorContext,
    ) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
        session.find_objects(template).map_err(|e| Pkcs11Error::from_cryptoki("find objects", e, ctx))
    }

    /// Finds every object matching `template`, making sure an empty answer is not caused by a
    /// lost login: if nothing matches and the session is logged out, returns a
    /// `CKR_USER_NOT_LOGGED_IN` error that [`run`](Self::run) recovers from.
    ///
    /// Why look again after a successful login check: another thread may have logged in
    /// again between our search (made while logged out) and the check.
    pub(crate) fn find_all_logged_in(
        &self,
        session: &Session,
        template: &[Attribute],
        ctx: &ErrorContext,
    ) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
        for _ in 0..3 {
            let found = self.find_all(session, template, ctx)?;
            if !found.is_empty() {
                return Ok(found);
            }
            self.check_logged_in(session, ctx)?;
        }
        self.check_token_answers(ctx)?;
        Ok(Vec::new())
    }

    /// Finds exactly one object matching `template`. None → `KeyNotFound` (or, if the
    /// session lost its login, a `CKR_USER_NOT_LOGGED_IN` error that [`run`](Self::run)
    /// recovers from); several → `AmbiguousKey`.
    pub(crate) fn find_one(
        &self,
        session: &Session,
        template: &[Attribute],
        selector: &KeySelector,
        ctx: &ErrorContext,
    ) -> Result<ObjectHandle, Pkcs11Error> {
        let mut found = self.find_all_logged_in(session, template, ctx)?;
        match found.len() {
            1 => found.pop().ok_or_else(|| not_found(selector, ctx)),
            0 => Err(not_found(selector, ctx)),
            count => Err(Pkcs11Error::new(Problem::AmbiguousKey(selector.clone(), count), ctx)),
        }
    }

    /// The cached handle of `half` of key pair `id`, if there is one.
    pub(crate) fn handle_if_cached(&self, half: KeyHalf, id: &[u8]) -> Option<ObjectHandle> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).get(id).and_then(|e| e[half.slot()])
    }

    /// The cached handle of `half` of key pair `id`, looking it up with `template` on a miss.
    pub(crate) fn cached_handle(
        &self,
        session: &Session,
        half: KeyHalf,
        id: &[u8],
        template: &[Attribute],
        ctx: &ErrorContext,
    ) -> Result<ObjectHandle, Pkcs11Error> {
        if let Some(h) = self.handle_if_cached(half, id) {
            return Ok(h);
        }
        let h = self.find_one(session, template, &KeySelector::Id(id.to_vec()), ctx)?;
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).entry(id.to_vec()).or_default()[half.slot()] =
            Some(h);
        Ok(h)
    }

    /// Reads attributes of an object (attributes the token withholds are simply absent).
    pub(crate) fn attributes(
        &self,
        session: &Session,
        object: ObjectHandle,
        types: &[AttributeType],
        ctx: &ErrorContext,
    ) -> Result<Vec<Attribute>, Pkcs11Error> {
        session.get_attributes(object, types).map_err(|e| Pkcs11Error::from_cryptoki("read attributes", e, ctx))
    }
}

fn not_found(selector: &KeySelector, ctx: &ErrorContext) -> Pkcs11Error {
    Pkcs11Error::new(Problem::KeyNotFound(selector.clone()), ctx)
}
