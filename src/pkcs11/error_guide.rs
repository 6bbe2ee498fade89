//! What each PKCS#11 failure means for this tool, in one place.
//!
//! [`CKR_GUIDE`] lists the `CKR_*` codes a token can answer: what the code means here, whether
//! retrying can help, what the layer already does about it by itself, and what an operator
//! should do. [`Pkcs11ErrorKind::guide`] does the same for every kind of
//! [`Pkcs11Error`](super::Pkcs11Error) (a key that is not there, a token that is not listed, …);
//! it is a `match`, so a new kind does not compile without its entry.
//!
//! The same tables drive [`Pkcs11Error::is_transient`](super::Pkcs11Error::is_transient), the
//! function and code every message names, the recovery step
//! [`Pkcs11Token`](super::token::Pkcs11Token) takes, and the advice every message ends with. A
//! test renders them as the README's section "PKCS#11 errors: what they mean and what to do"
//! and fails when the two differ, so documentation and behaviour cannot drift.

use cryptoki::context::Function;
use cryptoki::error::RvError;

/// Whether retrying the same call later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A device, session, login or token condition that can go away.
    Transient,
    /// An argument, template, mechanism, PIN or key problem: the same call fails again.
    Permanent,
    /// Not a failure for this tool (the code is treated as success).
    Success,
    /// Depends on the `CKR_*` code (the `Call` kind; see the README's CKR table).
    ByCode,
}

impl Retry {
    /// `transient` / `permanent` / `success` / `by code`, as printed in the README.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Success => "success",
            Self::ByCode => "by code",
        }
    }
}

/// What the layer does by itself before it reports an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoRecovery {
    /// Nothing: the error is returned at once.
    None,
    /// Forgets cached object handles and looks the key up again by `CKA_ID`.
    Refind,
    /// Logs in again on the anchor session, re-reading the PIN source.
    Relogin,
    /// Opens a new anchor session and pool, and logs in again.
    Reconnect,
    /// `C_Finalize` + `C_Initialize` under the context's write lock, then finds the token by
    /// label/serial again, with exponential backoff.
    Reinitialize,
    /// Waits (exponential backoff) and retries.
    Backoff,
    /// Logs in again at once if the session lost its login; otherwise waits and logs in again,
    /// then logs out and in, then re-initialises.
    Escalate,
    /// Treated as success.
    Success,
}

impl AutoRecovery {
    /// A short description for the README.
    #[cfg(test)]
    fn describe(self) -> &'static str {
        match self {
            Self::None => "returns the error at once",
            Self::Refind => "looks the key up again by CKA_ID",
            Self::Relogin => "logs in again (PIN source re-read)",
            Self::Reconnect => "opens new sessions and logs in again",
            Self::Reinitialize => "re-initialises the module and finds the token again, with backoff",
            Self::Backoff => "waits with backoff and retries",
            Self::Escalate => {
                "logs in again at once if the session lost its login; else logs in again, then logs out and in, \
                 then re-initialises if the token stopped answering"
            }
            Self::Success => "treats it as success",
        }
    }
}

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

/// What went wrong, without the details: one kind per way a PKCS#11 operation can fail, for
/// programs that branch on it ([`Pkcs11Error::kind`](super::Pkcs11Error::kind)). Each kind has
/// a row in the README's error table.
// Declared in the order of that table. A new kind needs an entry in `guide` (the compiler
// insists) and a place in `ALL` (a test checks the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pkcs11ErrorKind {
    /// A PKCS#11 function returned an error code.
    Call,
    /// The token was present and then disappeared, and did not come back in time.
    TokenGone,
    /// The token stopped answering about itself (`C_GetTokenInfo` failed) although its slot is
    /// still listed: SoftHSM 2.6.1 does this once its token directory went away, until the
    /// module is re-initialised.
    TokenUnavailable,
    /// No token matches the selector.
    TokenNotFound,
    /// Several tokens match the selector.
    AmbiguousToken,
    /// `C_Login` refused the PIN.
    PinIncorrect,
    /// The user PIN is locked.
    PinLocked,
    /// The token requires a login and no PIN source was given.
    PinRequired,
    /// The token lacks mechanisms this backend needs.
    MechanismMissing,
    /// The token offers the key-generation mechanism but cannot make keys on the curve (e.g.
    /// secp256k1 on Kryoptic 1.5.4, which lists `CKM_EC_KEY_PAIR_GEN` and then answers
    /// `CKR_GENERAL_ERROR`). Only trying to generate shows it.
    CurveUnsupported,
    /// No key matches.
    KeyNotFound,
    /// Several keys match; look-ups require exactly one.
    AmbiguousKey,
    /// A key exists but lacks something (e.g. its public half) or has the wrong type.
    KeyUnusable,
    /// A freshly generated key does not have the security attributes that prove it was made on
    /// the token and can never leave it; it was deleted again.
    KeyPolicy,
    /// `CKA_EC_POINT` could not be read.
    EcPoint,
    /// The token returned a signature that does not verify under the key's public key.
    BadSignature,
    /// The PKCS#11 library could not be loaded (wrong path, wrong architecture, missing
    /// symbols).
    ModuleLoad,
    /// cryptoki failed without a PKCS#11 return code (conversion, null function pointer, …).
    Cryptoki,
    /// The selector names no token attribute.
    NoTokenSelector,
    /// The URI or configuration lacks something required.
    Config,
    /// The PKCS#11 URI was refused.
    Uri,
    /// The PIN could not be read.
    Pin,
    /// The operating system's random number generator failed.
    Rng,
    /// A worker thread of `sign_many` panicked (a bug; reported instead of propagated).
    WorkerPanicked,
    /// A login or re-initialisation waited for the calls in flight on the module (it must not
    /// race them) and one did not return within `RecoveryPolicy::module_busy_wait`: a hung
    /// module or HSM connection. Calls that need no login go on meanwhile.
    ModuleBusy,
}

/// The PKCS#11 functions an error kind involves.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))] // the README texts are read by the README test only
pub(crate) enum Calls {
    /// The error itself names it (or, for `Cryptoki`, may not); the README says which.
    Named(&'static str),
    /// These functions, in the order they are called; messages name the last, whose answer
    /// was the problem.
    Functions(&'static [Function]),
    /// Loading the module (`dlopen`), then `C_GetFunctionList`, which messages name.
    Load,
    /// No PKCS#11 call was made; such errors carry no token context.
    NoCall,
}

/// What the call answered.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))] // the README texts are read by the README test only
pub(crate) enum Outcome {
    /// The error itself carries the code; the README says which.
    Named(&'static str),
    /// This return code.
    Code(RvError),
    /// The call returned `CKR_OK`, but the answer was not usable: the whole outcome, as
    /// messages print it (it starts with `CKR_OK, `).
    Answered(&'static str),
    /// There is no return code; the README says why.
    NoCode(&'static str),
}

/// One kind of error: the calls involved, their outcome, retry class and operator action.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindGuide {
    /// The PKCS#11 function(s) involved.
    pub(crate) calls: Calls,
    /// What they answered.
    pub(crate) outcome: Outcome,
    /// Whether retrying can help.
    pub(crate) retry: Retry,
    /// What the operator should do.
    pub(crate) action: &'static str,
}

const FIX_CONFIG: &str = "fix the PKCS#11 URI or configuration; no PKCS#11 call was made";

impl Pkcs11ErrorKind {
    /// Every kind, in the order of the README's table.
    #[cfg(test)]
    pub(crate) const ALL: [Self; 25] = [
        Self::Call,
        Self::TokenGone,
        Self::TokenUnavailable,
        Self::TokenNotFound,
        Self::AmbiguousToken,
        Self::PinIncorrect,
        Self::PinLocked,
        Self::PinRequired,
        Self::MechanismMissing,
        Self::CurveUnsupported,
        Self::KeyNotFound,
        Self::AmbiguousKey,
        Self::KeyUnusable,
        Self::KeyPolicy,
        Self::EcPoint,
        Self::BadSignature,
        Self::ModuleLoad,
        Self::Cryptoki,
        Self::NoTokenSelector,
        Self::Config,
        Self::Uri,
        Self::Pin,
        Self::Rng,
        Self::WorkerPanicked,
        Self::ModuleBusy,
    ];

    /// What this kind means: calls, outcome, retry class and advice. `Call` takes its class and
    /// advice from [`CKR_GUIDE`] by code.
    pub(crate) fn guide(self) -> &'static KindGuide {
        use Calls::{Functions, Load, Named, NoCall};
        use Function as F;
        use Outcome::{Answered, Code, NoCode};
        match self {
            Self::Call => &KindGuide {
                calls: Named("the one named"),
                outcome: Outcome::Named("the one named"),
                retry: Retry::ByCode,
                action: "see the code's row in the CKR table",
            },
            Self::TokenGone => &KindGuide {
                calls: Named("the last one tried"),
                outcome: Outcome::Named("the last code (e.g. CKR_TOKEN_NOT_PRESENT)"),
                retry: T,
                action: "the token vanished and did not come back within the recovery policy; bring it back \
                         (the next call reconnects by itself)",
            },
            Self::TokenUnavailable => &KindGuide {
                calls: Functions(&[F::GetTokenInfo]),
                outcome: Outcome::Named("the code returned (SoftHSM: CKR_GENERAL_ERROR)"),
                retry: T,
                action: "nothing: the store re-initialises the module (SoftHSM only reads its token directory \
                         then); bring the token's storage back if it went away",
            },
            Self::TokenNotFound => &KindGuide {
                calls: Functions(&[F::GetSlotList, F::GetTokenInfo]),
                outcome: Answered("CKR_OK, no matching token"),
                retry: P,
                action: "check token=/serial= against the tokens the message lists (softhsm2-util --show-slots)",
            },
            Self::AmbiguousToken => &KindGuide {
                calls: Functions(&[F::GetSlotList, F::GetTokenInfo]),
                outcome: Answered("CKR_OK, several matching tokens"),
                retry: P,
                action: "add serial= to the PKCS#11 URI",
            },
            Self::PinIncorrect => &KindGuide {
                calls: Functions(&[F::Login]),
                outcome: Code(RvError::PinIncorrect),
                retry: P,
                action: "put the token's user PIN in the pin-source; the store never presents a refused PIN again",
            },
            Self::PinLocked => &KindGuide {
                calls: Functions(&[F::Login]),
                outcome: Code(RvError::PinLocked),
                retry: P,
                action: "have the security officer unlock or reset the user PIN; do not retry",
            },
            Self::PinRequired => &KindGuide {
                calls: Functions(&[F::GetTokenInfo]),
                outcome: Answered("CKR_OK, CKF_LOGIN_REQUIRED and no PIN"),
                retry: P,
                action: "add pin-source=file:/path or pin-source=env:VARNAME to the URI",
            },
            Self::MechanismMissing => &KindGuide {
                calls: Functions(&[F::GetMechanismInfo]),
                outcome: Code(RvError::MechanismInvalid),
                retry: P,
                action: "use a token that offers the mechanisms named",
            },
            Self::CurveUnsupported => &KindGuide {
                calls: Functions(&[F::GenerateKeyPair]),
                outcome: Outcome::Named(
                    "the code returned: CKR_CURVE_NOT_SUPPORTED, CKR_DOMAIN_PARAMS_INVALID, or CKR_GENERAL_ERROR \
                     from a logged-in session (Kryoptic 1.5.4 for secp256k1)",
                ),
                retry: P,
                action: "use a token that makes keys on this curve (for secp256k1: SoftHSM2, or an HSM that \
                         supports it), or keep that key outside the token",
            },
            Self::KeyNotFound => &KindGuide {
                calls: Functions(&[F::FindObjects]),
                outcome: Answered("CKR_OK, 0 objects"),
                retry: P,
                action: "check the key's id/label (lit-session keys list); ephemeral keys vanish with the process \
                         that made them",
            },
            Self::AmbiguousKey => &KindGuide {
                calls: Functions(&[F::FindObjects]),
                outcome: Answered("CKR_OK, several objects"),
                retry: P,
                action: "select the key by id= instead of object=, or delete the duplicates",
            },
            Self::KeyUnusable => &KindGuide {
                calls: Functions(&[F::GetAttributeValue]),
                outcome: Answered("CKR_OK, attribute missing or wrong"),
                retry: P,
                action: "use a key of the right type, generated by this tool",
            },
            Self::KeyPolicy => &KindGuide {
                calls: Functions(&[F::GetAttributeValue]),
                outcome: Answered("CKR_OK, attribute not as required"),
                retry: P,
                action: "use a token that marks generated keys CKA_LOCAL, CKA_ALWAYS_SENSITIVE and \
                         CKA_NEVER_EXTRACTABLE",
            },
            Self::EcPoint => &KindGuide {
                calls: Functions(&[F::GetAttributeValue]),
                outcome: Answered("CKR_OK, CKA_EC_POINT unreadable"),
                retry: P,
                action: "report the token model; the point encoding is not one this tool knows",
            },
            Self::BadSignature => &KindGuide {
                calls: Functions(&[F::Sign]),
                outcome: Answered("CKR_OK, signature does not verify"),
                retry: P,
                action: "take the token out of service and check that no other key shares the CKA_ID",
            },
            Self::ModuleLoad => &KindGuide {
                calls: Load,
                outcome: NoCode("none: the library did not load"),
                retry: P,
                action: "point module-path at the PKCS#11 library for this architecture",
            },
            Self::Cryptoki => &KindGuide {
                calls: Named("the one named"),
                outcome: NoCode("none: cryptoki failed"),
                retry: P,
                action: "report it with this message",
            },
            Self::NoTokenSelector | Self::Config | Self::Uri => {
                &KindGuide { calls: NoCall, outcome: NoCode("none"), retry: P, action: FIX_CONFIG }
            }
            Self::Pin => &KindGuide {
                calls: NoCall,
                outcome: NoCode("none"),
                retry: P,
                action: "make the PIN file or variable readable (file mode 600)",
            },
            Self::Rng => &KindGuide {
                calls: NoCall,
                outcome: NoCode("none"),
                retry: T,
                action: "check the operating system's random number generator",
            },
            Self::WorkerPanicked => &KindGuide {
                calls: NoCall,
                outcome: NoCode("none"),
                retry: P,
                action: "a bug: report it with this message",
            },
            Self::ModuleBusy => &KindGuide {
                calls: Named("C_Login or C_Finalize, not made: another call had not returned"),
                outcome: NoCode("none: the call was not made"),
                retry: T,
                action: "check the HSM and the network to it: a call is hanging inside the module; requests \
                         that need no login go on, and the next one that does tries again (restart the process \
                         if the call never returns)",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkcs11::ckr::ckr_name;

    #[test]
    fn every_code_and_kind_is_listed_once() {
        for (i, g) in CKR_GUIDE.iter().enumerate() {
            assert!(CKR_GUIDE[..i].iter().all(|o| o.rv != g.rv), "{} is listed twice", ckr_name(g.rv));
        }
        // ALL follows the declaration order, so a kind added to the enum but not to ALL shows
        // up as a gap or at the end.
        for (i, k) in Pkcs11ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?} is out of place in Pkcs11ErrorKind::ALL");
        }
    }

    #[test]
    fn retry_classes() {
        assert_eq!(ckr_retry(RvError::DeviceRemoved), Retry::Transient);
        assert_eq!(ckr_retry(RvError::SessionHandleInvalid), Retry::Transient);
        assert_eq!(ckr_retry(RvError::PinIncorrect), Retry::Permanent);
        assert_eq!(ckr_retry(RvError::MechanismInvalid), Retry::Permanent);
        assert_eq!(ckr_retry(RvError::TemplateIncomplete), Retry::Permanent);
        assert_eq!(ckr_retry(RvError::NewPinMode), Retry::Permanent, "unlisted codes are permanent");
    }

    fn c_names(functions: &[Function]) -> String {
        functions.iter().map(|f| format!("C_{f:?}")).collect::<Vec<_>>().join(", ")
    }

    /// The two tables as Markdown: the README's section.
    fn markdown() -> String {
        let mut out = String::from(
            "## PKCS#11 errors: what they mean and what to do\n\n\
             Generated from `src/pkcs11/error_guide.rs` (a test keeps the two equal). Every \
             PKCS#11 error message names the operation, the `C_*` function, the `CKR_*` code, the \
             token (label and serial), the slot, the key, and whether retrying can help.\n\n\
             | code | meaning for this tool | retry | the store itself | what the operator should do |\n\
             |---|---|---|---|---|\n",
        );
        for g in CKR_GUIDE {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                ckr_name(g.rv),
                g.meaning,
                g.retry.as_str(),
                g.auto.describe(),
                g.action
            ));
        }
        out.push_str(
            "\nAny other code is permanent and returned at once.\n\n\
             | error kind | PKCS#11 function | outcome | retry | what the operator should do |\n\
             |---|---|---|---|---|\n",
        );
        for kind in Pkcs11ErrorKind::ALL {
            let g = kind.guide();
            let calls = match g.calls {
                Calls::Named(text) => text.to_string(),
                Calls::Functions(functions) => c_names(functions),
                Calls::Load => format!("dlopen, {}", c_names(&[Function::GetFunctionList])),
                Calls::NoCall => "(none)".to_string(),
            };
            let outcome = match g.outcome {
                Outcome::Code(rv) => ckr_name(rv),
                Outcome::Named(text) | Outcome::Answered(text) | Outcome::NoCode(text) => text,
            };
            out.push_str(&format!("| `{kind:?}` | {calls} | {outcome} | {} | {} |\n", g.retry.as_str(), g.action));
        }
        out
    }

    /// The README's error section is generated from these tables; regenerate it with
    /// `LIT_WRITE_ERROR_TABLE=1 cargo test --lib error_guide`.
    #[test]
    fn readme_table_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let want = markdown();
        let readme = std::fs::read_to_string(&path).unwrap_or_default();
        if std::env::var("LIT_WRITE_ERROR_TABLE").is_ok_and(|v| v == "1") {
            // Replace the section from its heading to the next `## ` heading.
            let heading = want.lines().next().unwrap_or_default();
            if let Some(start) = readme.find(heading) {
                let end = readme[start + heading.len()..]
                    .find("\n## ")
                    .map_or(readme.len(), |i| start + heading.len() + i + 1);
                let updated = format!("{}{}\n\n{}", &readme[..start], want.trim_end(), &readme[end..]);
                std::fs::write(&path, updated).unwrap();
                return;
            }
        }
        assert!(
            readme.contains(&want),
            "README.md does not hold the error tables of error_guide.rs; \
             run LIT_WRITE_ERROR_TABLE=1 cargo test --lib error_guide"
        );
    }
}
