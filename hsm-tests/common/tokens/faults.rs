//! Faults another component of the process can cause on a token under a running store: a
//! logout, and every session closed. Used by the recovery and logging tests and by
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

/// `C_CloseAllSessions` on the token's slot, made with no call in flight (SoftHSM 2.6.1 frees
/// a session that another thread may be using inside `C_Sign`).
///
/// cryptoki has no wrapper, and Kryoptic exports only `C_GetFunctionList` and
/// `C_GetInterface`, so the call goes through the module's function list.
pub fn close_all_sessions(token: &Pkcs11Token) -> Result<(), String> {
    let slot = token.slot().ok_or("the store has no slot")?;
    let module = token.context().module().to_path_buf();
    let rv = token
        .context()
        .quiesced(|_| {
            // SAFETY: loading the module that is already loaded and initialised returns the same
            // instance; C_GetFunctionList fills in a pointer to the module's static function
            // list, and C_CloseAllSessions takes a plain slot id.
            unsafe {
                let raw = cryptoki_sys::Pkcs11::new(&module).map_err(|e| format!("load module: {e}"))?;
                let get = raw.C_GetFunctionList.as_ref().map_err(|e| format!("C_GetFunctionList: {e}"))?;
                let mut list: *mut cryptoki_sys::CK_FUNCTION_LIST = std::ptr::null_mut();
                let rv = get(&mut list);
                if rv != cryptoki_sys::CKR_OK || list.is_null() {
                    return Err(format!("C_GetFunctionList returned {rv:#x}"));
                }
                let close = (*list).C_CloseAllSessions.ok_or("the module has no C_CloseAllSessions")?;
                Ok(close(slot.id() as cryptoki_sys::CK_SLOT_ID))
            }
        })
        .map_err(|e| e.to_string())??;
    if rv == cryptoki_sys::CKR_OK {
        Ok(())
    } else {
        Err(format!("C_CloseAllSessions returned {rv:#x}"))
    }
}
