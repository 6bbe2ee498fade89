//! Faults another component of the process can cause on a token under a running store: a
//! logout, every session closed, the module finalised. Used by the recovery and logging tests and by
//! `hsm-stress`.

use lit_session_signer::internal::pkcs11::Pkcs11Token;

use super::Module;

/// `C_Logout` from a separate session of the same application, which logs every session of
/// the application out. On modules where a logout must not race calls (Kryoptic), it is made
/// with no call in flight.
pub fn logout_elsewhere(token: &Pkcs11Token, module: Module) -> Result<(), String> {
    let slot = token.slot().ok_or("the store has no slot")?;
    let logout = |pkcs11: &cryptoki::context::Pkcs11| -> Result<(), String> {
        let session = pkcs11.open_ro_session(slot).map_err(|e| format!("C_OpenSession: {e}"))?;
        session.logout().map_err(|e| format!("C_Logout: {e}"))
    };
    if module.logout_may_race_calls() {
        let guard = token.context().read().map_err(|e| e.to_string())?;
        logout(guard.pkcs11())
    } else {
        token.context().quiesced(logout).map_err(|e| e.to_string())?
    }
}

/// `C_Finalize` of the module under the store, as another component of the process might do:
/// every session, login and handle of every store on the module is gone, and calls answer
/// `CKR_CRYPTOKI_NOT_INITIALIZED` until the module is initialised again. Made with no call in
/// flight.
pub fn finalize_elsewhere(token: &Pkcs11Token) -> Result<(), String> {
    let rv = with_function_list(token, |list| {
        // SAFETY: a function of the module's own list; NULL is the only argument C_Finalize takes.
        unsafe { list.C_Finalize.map(|finalize| finalize(std::ptr::null_mut())) }
    })?;
    match rv {
        Some(cryptoki_sys::CKR_OK) => Ok(()),
        Some(rv) => Err(format!("C_Finalize returned {rv:#x}")),
        None => Err("the module has no C_Finalize".into()),
    }
}

/// Runs `f` on the module's function list with no call in flight. cryptoki wraps neither
/// `C_CloseAllSessions` nor a second `C_Finalize`, and Kryoptic exports only
/// `C_GetFunctionList`, `C_GetInterface` and `C_GetInterfaceList` as symbols, so raw calls go
/// through the list.
fn with_function_list<T>(
    token: &Pkcs11Token,
    f: impl FnOnce(&cryptoki_sys::CK_FUNCTION_LIST) -> T,
) -> Result<T, String> {
    let module = token.context().module().to_path_buf();
    token
        .context()
        .quiesced(|_| {
            // SAFETY: loading the module that is already loaded and initialised returns the same
            // instance; C_GetFunctionList fills in a pointer to the module's static function
            // list, which lives as long as the module stays loaded (it is: cryptoki holds it).
            unsafe {
                let raw = cryptoki_sys::Pkcs11::new(&module).map_err(|e| format!("load module: {e}"))?;
                let get = raw.C_GetFunctionList.as_ref().map_err(|e| format!("C_GetFunctionList: {e}"))?;
                let mut list: *mut cryptoki_sys::CK_FUNCTION_LIST = std::ptr::null_mut();
                let rv = get(&mut list);
                match list.as_ref() {
                    Some(list) if rv == cryptoki_sys::CKR_OK => Ok(f(list)),
                    _ => Err(format!("C_GetFunctionList returned {rv:#x}")),
                }
            }
        })
        .map_err(|e| e.to_string())?
}

/// `C_CloseAllSessions` on the token's slot, made with no call in flight (SoftHSM 2.6.1 frees
/// a session that another thread may be using inside `C_Sign`).
pub fn close_all_sessions(token: &Pkcs11Token) -> Result<(), String> {
    let slot = token.slot().ok_or("the store has no slot")?;
    let rv = with_function_list(token, |list| {
        // SAFETY: a function of the module's own list; it takes a plain slot id.
        unsafe { list.C_CloseAllSessions.map(|close| close(slot.id() as cryptoki_sys::CK_SLOT_ID)) }
    })?;
    match rv {
        Some(cryptoki_sys::CKR_OK) => Ok(()),
        Some(rv) => Err(format!("C_CloseAllSessions returned {rv:#x}")),
        None => Err("the module has no C_CloseAllSessions".into()),
    }
}

/// Gives the public-key object of pair `other` the `CKA_ID` of pair `id`, whose own public-key
/// object is destroyed: the token then states a public key for `id` that its private key does not
/// match, so every signature it makes with `id` fails to verify under the key it states.
pub fn mismatch_public_key(token: &Pkcs11Token, id: &[u8], other: &[u8]) -> Result<(), String> {
    use cryptoki::object::{Attribute, ObjectClass};
    let slot = token.slot().ok_or("the store has no slot")?;
    let guard = token.context().read().map_err(|e| e.to_string())?;
    let session = guard.pkcs11().open_rw_session(slot).map_err(|e| format!("C_OpenSession: {e}"))?;
    let publics = |id: &[u8]| {
        session
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id.to_vec())])
            .map_err(|e| format!("C_FindObjects: {e}"))
    };
    for object in publics(id)? {
        session.destroy_object(object).map_err(|e| format!("C_DestroyObject: {e}"))?;
    }
    let [object] = publics(other)?[..] else { return Err("pair `other` has not exactly one public key".into()) };
    session.update_attributes(object, &[Attribute::Id(id.to_vec())]).map_err(|e| format!("C_SetAttributeValue: {e}"))
}
