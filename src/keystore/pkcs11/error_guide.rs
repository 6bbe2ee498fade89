//! What each PKCS#11 failure means for this tool, in one place.
//!
//! [`CKR_GUIDE`] lists the `CKR_*` codes the store can meet: what the code means here, whether
//! retrying can help, what the store already does about it by itself, and what an operator
//! should do. [`KIND_GUIDE`] does the same for every [`Pkcs11Error`](super::Pkcs11Error) kind
//! that is not a bare return code (a key that is not there, a token that is not listed, …).
//!
//! The same tables drive [`Pkcs11Error::is_transient`](super::Pkcs11Error::is_transient), the
//! recovery step [`Pkcs11Token`](super::Pkcs11Token) takes, and the advice every error message
//! ends with; [`markdown`] renders them for the README's error section, and a test fails
//! when that section and these tables differ, so documentation and behaviour cannot drift.

use cryptoki::error::RvError;

use super::error::ckr_name;

/// Whether retrying the same call later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A device, session, login or token condition that can go away.
    Transient,
    /// An argument, template, mechanism, PIN or key problem: the same call fails again.
    Permanent,
    /// Not a failure for this tool (the code is treated as success).
    Success,
    /// Depends on the `CKR_*` code (the `Call` kind; see [`CKR_GUIDE`]).
    ByCode,
}

impl Retry {
    /// `transient` / `permanent` / `success`, as printed in messages and the README.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Success => "success",
            Self::ByCode => "by code",
        }
    }
}

/// What the store does by itself before it reports an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRecovery {
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
    /// Waits and logs in again; then logs out and in; then re-initialises.
    Escalate,
    /// Treated as success.
    Success,
}

impl AutoRecovery {
    /// A short description for the README.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "returns the error at once",
            Self::Refind => "looks the key up again by CKA_ID",
            Self::Relogin => "logs in again (PIN source re-read)",
            Self::Reconnect => "opens new sessions and logs in again",
            Self::Reinitialize => "re-initialises the module and finds the token again, with backoff",
            Self::Backoff => "waits with backoff and retries",
            Self::Escalate => "logs in again, then logs out and in, then re-initialises if the token stopped answering",
            Self::Success => "treats it as success",
        }
    }
}

/// One `CKR_*` code: meaning, retry class, automatic recovery, operator action.
#[derive(Debug, Clone, Copy)]
pub struct CkrGuide {
    /// The return value.
    pub rv: RvError,
    /// Whether retrying can help.
    pub retry: Retry,
    /// What the store does by itself.
    pub auto: AutoRecovery,
    /// What the code means for this tool.
    pub meaning: &'static str,
    /// What the operator should do.
    pub action: &'static str,
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
pub const CKR_GUIDE: &[CkrGuide] = &[
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
        "the module failed irrecoverably (SoftHSM 2.6.1 also answers this when a logout races a call)",
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
pub fn ckr_guide(rv: RvError) -> Option<&'static CkrGuide> {
    CKR_GUIDE.iter().find(|g| g.rv == rv)
}

/// Retry class of a return value: from [`CKR_GUIDE`], permanent when not listed.
pub fn ckr_retry(rv: RvError) -> Retry {
    ckr_guide(rv).map_or(Retry::Permanent, |g| g.retry)
}

/// One error kind that is not a bare return code.
#[derive(Debug, Clone, Copy)]
pub struct KindGuide {
    /// The [`Pkcs11Error`](super::Pkcs11Error) variant.
    pub kind: &'static str,
    /// The PKCS#11 function(s) involved, or `(none)`.
    pub function: &'static str,
    /// The `CKR_*` outcome, or why there is none.
    pub code: &'static str,
    /// Whether retrying can help.
    pub retry: Retry,
    /// What the operator should do.
    pub action: &'static str,
}

const fn kind(
    kind: &'static str,
    function: &'static str,
    code: &'static str,
    retry: Retry,
    action: &'static str,
) -> KindGuide {
    KindGuide { kind, function, code, retry, action }
}

const FIX_CONFIG: &str = "fix the PKCS#11 URI or configuration; no PKCS#11 call was made";

/// Every [`Pkcs11Error`](super::Pkcs11Error) variant. `Call` takes its class and advice from
/// [`CKR_GUIDE`] by code.
pub const KIND_GUIDE: &[KindGuide] = &[
    kind("Call", "the one named", "the one named", Retry::ByCode, "see the code's row in the CKR table"),
    kind(
        "TokenGone",
        "the last one tried",
        "the last code (e.g. CKR_TOKEN_NOT_PRESENT)",
        T,
        "the token vanished and did not come back within the recovery policy; bring it back \
         (the next call reconnects by itself)",
    ),
    kind(
        "TokenUnavailable",
        "C_GetTokenInfo",
        "the code returned (SoftHSM: CKR_GENERAL_ERROR)",
        T,
        "nothing: the store re-initialises the module (SoftHSM only reads its token directory then); \
         bring the token's storage back if it went away",
    ),
    kind(
        "TokenNotFound",
        "C_GetSlotList, C_GetTokenInfo",
        "CKR_OK, no matching token",
        P,
        "check token=/serial= against the tokens the message lists (softhsm2-util --show-slots)",
    ),
    kind(
        "AmbiguousToken",
        "C_GetSlotList, C_GetTokenInfo",
        "CKR_OK, several matching tokens",
        P,
        "add serial= to the PKCS#11 URI",
    ),
    kind(
        "PinIncorrect",
        "C_Login",
        "CKR_PIN_INCORRECT",
        P,
        "put the token's user PIN in the pin-source; the store never presents a refused PIN again",
    ),
    kind(
        "PinLocked",
        "C_Login",
        "CKR_PIN_LOCKED",
        P,
        "have the security officer unlock or reset the user PIN; do not retry",
    ),
    kind(
        "PinRequired",
        "C_GetTokenInfo",
        "CKR_OK, CKF_LOGIN_REQUIRED and no PIN",
        P,
        "add pin-source=file:/path or pin-source=env:VARNAME to the URI",
    ),
    kind(
        "MechanismMissing",
        "C_GetMechanismList",
        "CKR_OK, mechanism not listed",
        P,
        "use a token that offers the mechanisms named",
    ),
    kind(
        "KeyNotFound",
        "C_FindObjects",
        "CKR_OK, 0 objects",
        P,
        "check the key's id/label (lit-session keys list); ephemeral keys vanish with the process \
         that made them",
    ),
    kind(
        "AmbiguousKey",
        "C_FindObjects",
        "CKR_OK, several objects",
        P,
        "select the key by id= instead of object=, or delete the duplicates",
    ),
    kind(
        "KeyUnusable",
        "C_GetAttributeValue",
        "CKR_OK, attribute missing or wrong",
        P,
        "use a key of the right type, generated by this tool",
    ),
    kind(
        "KeyPolicy",
        "C_GetAttributeValue",
        "CKR_OK, attribute not as required",
        P,
        "use a token that marks generated keys CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE",
    ),
    kind(
        "EcPoint",
        "C_GetAttributeValue",
        "CKR_OK, CKA_EC_POINT unreadable",
        P,
        "report the token model; the point encoding is not one this tool knows",
    ),
    kind(
        "BadSignature",
        "C_Sign",
        "CKR_OK, signature does not verify",
        P,
        "take the token out of service and check that no other key shares the CKA_ID",
    ),
    kind(
        "ModuleLoad",
        "dlopen, C_GetFunctionList",
        "none: the library did not load",
        P,
        "point module-path at the PKCS#11 library for this architecture",
    ),
    kind("Cryptoki", "the one named", "none: cryptoki failed", P, "report it with this message"),
    kind("NoTokenSelector", "(none)", "none", P, FIX_CONFIG),
    kind("Config", "(none)", "none", P, FIX_CONFIG),
    kind("Uri", "(none)", "none", P, FIX_CONFIG),
    kind("Pin", "(none)", "none", P, "make the PIN file or variable readable (file mode 600)"),
    kind("Rng", "(none)", "none", T, "check the operating system's random number generator"),
    kind("WorkerPanicked", "(none)", "none", P, "a bug: report it with this message"),
];

/// The guide entry for an error kind.
pub fn kind_guide(name: &str) -> Option<&'static KindGuide> {
    KIND_GUIDE.iter().find(|g| g.kind == name)
}

/// The two tables as Markdown (a section of `README.md`).
pub fn markdown() -> String {
    let mut out = String::from(
        "## PKCS#11 errors: what they mean and what to do\n\n\
         Generated from `src/keystore/pkcs11/error_guide.rs` (a test keeps the two equal). Every \
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
    for g in KIND_GUIDE {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            g.kind,
            g.function,
            g.code,
            g.retry.as_str(),
            g.action
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        for (i, g) in CKR_GUIDE.iter().enumerate() {
            assert!(CKR_GUIDE[..i].iter().all(|o| o.rv != g.rv), "{} is listed twice", ckr_name(g.rv));
            assert!(ckr_name(g.rv).starts_with("CKR_"));
        }
        for (i, g) in KIND_GUIDE.iter().enumerate() {
            assert!(KIND_GUIDE[..i].iter().all(|o| o.kind != g.kind), "{} is listed twice", g.kind);
        }
    }

    /// The README's error section is generated from these tables; regenerate it with `LIT_WRITE_ERROR_TABLE=1 cargo test --lib error_guide`.
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
