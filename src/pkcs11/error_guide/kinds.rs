//! Every kind of [`Pkcs11Error`](crate::pkcs11::Pkcs11Error), and what each means here
//! ([`Pkcs11ErrorKind::guide`]).

use cryptoki::context::Function;
use cryptoki::error::RvError;

use super::Retry;
use Retry::{Permanent as P, Transient as T};

/// What went wrong, without the details: one kind per way a PKCS#11 operation can fail, for
/// programs that branch on it ([`Pkcs11Error::kind`](crate::pkcs11::Pkcs11Error::kind)). Each kind has
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
    /// advice from [`CKR_GUIDE`](super::ckr::CKR_GUIDE) by code.
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
