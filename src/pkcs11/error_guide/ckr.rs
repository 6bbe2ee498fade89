//! The `CKR_*` codes a token can answer, and what each means here ([`CKR_GUIDE`]).

use cryptoki::error::RvError;

use super::{AutoRecovery, Retry};

/// One `CKR_*` code: meaning, retry class, automatic recovery, operator action.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CkrGuide {
    /// The return value.
    pub(crate) rv: RvError,
    /// Whether retrying can help.
    pub(crate) retry: Retry,
    /// What the layer does by itself.
    pub(crate) auto: AutoRecovery,
    /// What the code means for this tool.
    pub(crate) meaning: &'static str,
    /// What the operator should do.
    pub(crate) action: &'static str,
}

const fn ckr(rv: RvError, retry: Retry, auto: AutoRecovery, meaning: &'static str, action: &'static str) -> CkrGuide {
    CkrGuide { rv, retry, auto, meaning, action }
}

use AutoRecovery as A;
use Retry::{Permanent as P, Success as S, Transient as T};

const TEMPLATE_ACTION: &str = "use a token that generates ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN) or secp256k1 keys \
     that are sensitive and not extractable; the store already tried every template variant";

/// Every `CKR_*` code this tool gives a specific meaning to. Codes not listed are permanent,
/// and the store returns them at once.
pub(crate) const CKR_GUIDE: &[CkrGuide] = &[
    // Token and device.
    ckr(
        RvError::TokenNotPresent,
        T,
        A::Reinitialize,
        "the token is not in its slot (unplugged, HSM unreachable, SoftHSM token directory gone)",
        "bring the token back; calls succeed again without a restart once it is listed",
    ),
    ckr(
        RvError::DeviceRemoved,
        T,
        A::Reinitialize,
        "the token was removed during the call",
        "reconnect the token; the store re-initialises and logs in again by itself",
    ),
    ckr(
        RvError::DeviceError,
        T,
        A::Reinitialize,
        "the token or the connection to it failed",
        "check the HSM, its network and its logs; if it repeats, restart the HSM",
    ),
    ckr(
        RvError::TokenNotRecognized,
        T,
        A::Reinitialize,
        "the module does not recognise the token in the slot",
        "check that the right token is inserted and that the module supports it",
    ),
    ckr(
        RvError::SlotIdInvalid,
        T,
        A::Reinitialize,
        "the slot id changed (token re-plugged or re-initialised); slot ids are not stable",
        "nothing: the store finds the token again by label/serial",
    ),
    ckr(
        RvError::CryptokiNotInitialized,
        T,
        A::Reinitialize,
        "the module was finalised under the store (another component called C_Finalize)",
        "nothing; if frequent, find the component in this process that calls C_Finalize",
    ),
    ckr(
        RvError::DeviceMemory,
        T,
        A::Backoff,
        "the token ran out of memory",
        "lower the load or the pool size; delete unused objects on the token",
    ),
    ckr(
        RvError::HostMemory,
        T,
        A::Backoff,
        "the PKCS#11 module ran out of host memory",
        "check the process's memory limits",
    ),
    ckr(
        RvError::FunctionFailed,
        T,
        A::Backoff,
        "the token could not complete the call and gave no reason",
        "retry; if it repeats, check the HSM's logs",
    ),
    ckr(RvError::FunctionCanceled, T, A::None, "the call was cancelled", "retry the request"),
    // Sessions and login.
    ckr(
        RvError::SessionHandleInvalid,
        T,
        A::Reconnect,
        "the session was closed under the store (C_CloseAllSessions, HSM restart, idle timeout)",
        "nothing; if frequent, find what closes sessions or raise the HSM's idle timeout",
    ),
    ckr(
        RvError::SessionClosed,
        T,
        A::Reconnect,
        "the session was closed during the call",
        "nothing; if frequent, find what closes sessions",
    ),
    ckr(
        RvError::SessionCount,
        T,
        A::Backoff,
        "the token has no session left for the pool",
        "lower TokenConfig::pool_size or close other applications' sessions",
    ),
    ckr(
        RvError::UserNotLoggedIn,
        T,
        A::Relogin,
        "the application was logged out (C_Logout on any session logs out all of them)",
        "nothing; if it repeats, find the program that logs out of the token",
    ),
    ckr(
        RvError::ObjectHandleInvalid,
        T,
        A::Refind,
        "a cached key handle is stale (after a logout, re-login or token reload)",
        "nothing: the store finds the key again by CKA_ID",
    ),
    ckr(
        RvError::KeyHandleInvalid,
        T,
        A::Refind,
        "a cached key handle is stale",
        "nothing: the store finds the key again by CKA_ID",
    ),
    ckr(
        RvError::OperationActive,
        T,
        A::None,
        "another operation is still active on the session",
        "retry the request; report it if it repeats (sessions are not shared between threads)",
    ),
    ckr(
        RvError::GeneralError,
        P,
        A::Escalate,
        "the module failed irrecoverably (SoftHSM 2.6.1 also answers this when a logout races a call, \
         Kryoptic 1.5.4 when a private key is used after a logout, and for secp256k1 key generation)",
        "the store logged in again (and re-initialised if the token stopped answering); if it repeats, \
         check the mechanism and key, then the HSM's logs",
    ),
    ckr(
        RvError::UserAlreadyLoggedIn,
        S,
        A::Success,
        "login is per application: another session or store logged in first",
        "nothing",
    ),
    ckr(
        RvError::CryptokiAlreadyInitialized,
        S,
        A::Success,
        "another component of this process initialised the module first",
        "nothing",
    ),
    ckr(
        RvError::UserAnotherAlreadyLoggedIn,
        P,
        A::None,
        "another user type (the security officer) is logged in in this application",
        "log the security officer out; do not run SO tools in the signer's process",
    ),
    ckr(
        RvError::UserTypeInvalid,
        P,
        A::None,
        "the token does not accept a user login",
        "check the token supports CKU_USER logins",
    ),
    // PIN.
    ckr(
        RvError::PinIncorrect,
        P,
        A::None,
        "the token refused the user PIN",
        "put the token's user PIN in the pin-source file or variable; the store re-reads it at the next \
         login and never presents a refused PIN again",
    ),
    ckr(
        RvError::PinLocked,
        P,
        A::None,
        "too many wrong PINs: the user PIN is locked",
        "have the security officer unlock or reset the user PIN (C_InitPIN); do not retry",
    ),
    ckr(
        RvError::PinExpired,
        P,
        A::None,
        "the user PIN has expired",
        "change the user PIN with the token's tools, then update the pin-source",
    ),
    ckr(
        RvError::PinLenRange,
        P,
        A::None,
        "the PIN has a length the token does not accept",
        "check the PIN file holds exactly the PIN (one line, no extra spaces)",
    ),
    ckr(
        RvError::PinInvalid,
        P,
        A::None,
        "the PIN contains characters the token does not accept",
        "check the PIN file holds exactly the PIN (one line, no extra spaces)",
    ),
    ckr(
        RvError::UserPinNotInitialized,
        P,
        A::None,
        "the token has no user PIN yet",
        "initialise the user PIN (softhsm2-util --init-token, or C_InitPIN as SO)",
    ),
    // Mechanisms and keys.
    ckr(
        RvError::MechanismInvalid,
        P,
        A::None,
        "the token does not offer the mechanism (CKM_EDDSA, CKM_ECDSA, key generation)",
        "use a token that lists the mechanism; the store checks this when it opens",
    ),
    ckr(
        RvError::MechanismParamInvalid,
        P,
        A::None,
        "the token refused the mechanism parameters",
        "use a token that accepts pure Ed25519 with NULL parameters",
    ),
    ckr(
        RvError::KeyTypeInconsistent,
        P,
        A::None,
        "the key's type does not fit the mechanism (e.g. an EC key used with CKM_EDDSA)",
        "select an ed25519 (CKK_EC_EDWARDS) key for session keys, a secp256k1 (CKK_EC) key for wallets",
    ),
    ckr(
        RvError::KeyFunctionNotPermitted,
        P,
        A::None,
        "the key does not allow signing (CKA_SIGN is false)",
        "use a key generated by this tool (lit-session keys generate)",
    ),
    ckr(
        RvError::KeySizeRange,
        P,
        A::None,
        "the token does not support the key size",
        "use a token that supports the curve",
    ),
    ckr(
        RvError::DataLenRange,
        P,
        A::None,
        "the message is too long for the token (some HSMs buffer only a few KB for CKM_EDDSA)",
        "sign shorter messages (fewer resources per session sig) or use an HSM with a larger buffer",
    ),
    ckr(RvError::DataInvalid, P, A::None, "the token refused the data to sign", "report it with the message"),
    // Templates.
    ckr(
        RvError::TemplateIncomplete,
        P,
        A::None,
        "the token wants an attribute the key template lacks",
        TEMPLATE_ACTION,
    ),
    ckr(
        RvError::TemplateInconsistent,
        P,
        A::None,
        "the token refused a combination of key attributes",
        TEMPLATE_ACTION,
    ),
    ckr(
        RvError::AttributeValueInvalid,
        P,
        A::None,
        "the token refused an attribute value (often the curve in CKA_EC_PARAMS)",
        TEMPLATE_ACTION,
    ),
    ckr(RvError::AttributeTypeInvalid, P, A::None, "the token does not know an attribute", TEMPLATE_ACTION),
    ckr(RvError::AttributeReadOnly, P, A::None, "the token refused to set an attribute", TEMPLATE_ACTION),
    ckr(RvError::CurveNotSupported, P, A::None, "the token does not support the curve", TEMPLATE_ACTION),
    ckr(RvError::DomainParamsInvalid, P, A::None, "the token does not support the curve parameters", TEMPLATE_ACTION),
    ckr(
        RvError::AttributeSensitive,
        P,
        A::None,
        "an attribute is secret (expected for CKA_VALUE of our keys)",
        "nothing: the key is protected as intended",
    ),
    // Read-only tokens and module problems.
    ckr(
        RvError::TokenWriteProtected,
        P,
        A::None,
        "the token is write-protected: keys cannot be generated or deleted",
        "generate keys on a writable token; sign with SessionMode::ReadOnly",
    ),
    ckr(
        RvError::SessionReadOnly,
        P,
        A::None,
        "the session is read-only: keys cannot be generated or deleted",
        "open the store with SessionMode::ReadWrite",
    ),
    ckr(
        RvError::FunctionNotSupported,
        P,
        A::None,
        "the module lacks a function this tool needs",
        "use a module that implements it",
    ),
    ckr(
        RvError::CantLock,
        P,
        A::None,
        "the module cannot use the operating system's locks (CKF_OS_LOCKING_OK)",
        "use a thread-safe build of the module",
    ),
    ckr(
        RvError::ArgumentsBad,
        P,
        A::None,
        "the module refused the call's arguments (a bug here or in the module)",
        "report it with this message",
    ),
];

/// The guide entry for `rv`, if it has one.
pub(crate) fn ckr_guide(rv: RvError) -> Option<&'static CkrGuide> {
    CKR_GUIDE.iter().find(|g| g.rv == rv)
}

/// Retry class of a return value: from [`CKR_GUIDE`], permanent when not listed.
pub(crate) fn ckr_retry(rv: RvError) -> Retry {
    ckr_guide(rv).map_or(Retry::Permanent, |g| g.retry)
}
