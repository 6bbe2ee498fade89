//! Errors of the PKCS#11 backend.
//!
//! [`Pkcs11Error`] keeps what an operator needs to act: the `CKR_*` name, the PKCS#11 function
//! and our operation, and which module/token/slot/key was involved. [`Pkcs11Error::is_transient`]
//! sorts errors the way Krill's `is_transient_error` does: a device, memory, session or token
//! problem may go away on retry; argument, template, mechanism, PIN and key errors will not.

use std::fmt;
use std::path::PathBuf;

use cryptoki::error::{Error as CryptokiError, RvError};

use super::ec_point::EcPointError;
use super::pin::PinError;
use super::uri::UriError;
use crate::keystore::{KeyId, KeyStoreError};

/// Which module, token, slot and key an error is about. Any part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// The PKCS#11 module path.
    pub module: Option<PathBuf>,
    /// The token label.
    pub token: Option<String>,
    /// The slot id at the time of the error (slot ids change; for diagnostics only).
    pub slot: Option<u64>,
    /// The key (hex `CKA_ID` or `label=…`).
    pub key: Option<String>,
}

impl ErrorContext {
    /// This context with the key set.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token {t:?}"));
        }
        if let Some(s) = self.slot {
            parts.push(format!("slot {s}"));
        }
        if let Some(k) = &self.key {
            parts.push(format!("key {k}"));
        }
        if let Some(m) = &self.module {
            parts.push(format!("module {}", m.display()));
        }
        if parts.is_empty() {
            f.write_str("no token selected")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// How a key was looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelector {
    /// By `CKA_ID`.
    Id(Vec<u8>),
    /// By `CKA_LABEL`.
    Label(String),
}

impl fmt::Display for KeySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "id {}", hex::encode(id)),
            Self::Label(l) => write!(f, "label {l:?}"),
        }
    }
}

/// An error of the PKCS#11 backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The PKCS#11 library could not be loaded (wrong path, wrong architecture, missing symbols).
    #[error("cannot load PKCS#11 module {}: {reason}", module.display())]
    ModuleLoad {
        /// The path given.
        module: PathBuf,
        /// Why loading failed.
        reason: String,
    },
    /// A PKCS#11 function returned an error code.
    #[error("{operation}: {function} failed with {code} ({context})")]
    Call {
        /// Our operation (e.g. "sign", "generate key").
        operation: &'static str,
        /// The PKCS#11 function, e.g. `C_Sign`.
        function: String,
        /// The `CKR_*` name.
        code: &'static str,
        /// The return value.
        rv: RvError,
        /// Module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// cryptoki failed without a PKCS#11 return code (conversion, null function pointer, …).
    #[error("{operation}: {source} ({context})")]
    Cryptoki {
        /// Our operation.
        operation: &'static str,
        /// cryptoki's error.
        source: CryptokiError,
        /// Module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// No token matches the selector.
    #[error("no token matches {selector} in {}; tokens present: {}", module.display(), list_or_none(present))]
    TokenNotFound {
        /// The selector, e.g. `label "lit"`.
        selector: String,
        /// The module.
        module: PathBuf,
        /// Labels (and serials) of the tokens that are present.
        present: Vec<String>,
    },
    /// Several tokens match the selector.
    #[error("{count} tokens match {selector} in {}; add serial= to pick one", module.display())]
    AmbiguousToken {
        /// The selector.
        selector: String,
        /// The module.
        module: PathBuf,
        /// How many matched.
        count: usize,
    },
    /// The selector names no token attribute.
    #[error("no token selector: give token= (label) or serial= in the PKCS#11 URI")]
    NoTokenSelector,
    /// The token was present and then disappeared, and did not come back in time.
    #[error("token went away and did not come back after {attempts} attempts ({context})")]
    TokenGone {
        /// Recovery attempts made.
        attempts: u32,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// `C_Login` refused the PIN.
    #[error("wrong user PIN (CKR_PIN_INCORRECT) for {context}")]
    PinIncorrect {
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// The user PIN is locked.
    #[error("the user PIN is locked (CKR_PIN_LOCKED) for {context}")]
    PinLocked {
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// The token requires a login and no PIN source was given.
    #[error("{context} requires a login; give pin-source=file:/path or pin-source=env:VARNAME")]
    PinRequired {
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// The PIN could not be read.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// The PKCS#11 URI was refused.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The URI or configuration lacks something required.
    #[error("incomplete PKCS#11 configuration: {0}")]
    Config(String),
    /// The token lacks mechanisms this backend needs.
    #[error("{context} does not support {}; this backend needs them", missing.join(" and "))]
    MechanismMissing {
        /// The `CKM_*` names that are missing.
        missing: Vec<&'static str>,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// No key matches.
    #[error("no key with {selector} on {context}")]
    KeyNotFound {
        /// How the key was looked up.
        selector: KeySelector,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// Several keys match; look-ups require exactly one.
    #[error("{count} keys with {selector} on {context}; exactly one is required")]
    AmbiguousKey {
        /// How the key was looked up.
        selector: KeySelector,
        /// How many matched.
        count: usize,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// A key exists but lacks something (e.g. its public half) or has the wrong type.
    #[error("key {key} on {context} is unusable: {reason}")]
    KeyUnusable {
        /// Hex `CKA_ID`.
        key: String,
        /// What is wrong.
        reason: String,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// A freshly generated key does not have the security attributes that prove it was made
    /// on the token and can never leave it; it was deleted again.
    #[error("generated key on {context} lacks {}; it was deleted", failed.join(", "))]
    KeyPolicy {
        /// The attributes that were not as required, e.g. `CKA_NEVER_EXTRACTABLE=true`.
        failed: Vec<String>,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// `CKA_EC_POINT` could not be read.
    #[error("public key of {key}: {source}")]
    EcPoint {
        /// Hex `CKA_ID`.
        key: String,
        /// The parse error.
        source: EcPointError,
    },
    /// The token returned a signature that does not verify under the key's public key.
    #[error("token returned a signature that does not verify for key {}", hex::encode(.id))]
    BadSignature {
        /// The key's `CKA_ID`.
        id: Vec<u8>,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Rng(String),
    /// A worker thread of `sign_many` panicked (a bug; reported instead of propagated).
    #[error("a signing worker thread panicked")]
    WorkerPanicked,
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

impl Pkcs11Error {
    /// Wraps a cryptoki error from `function` called for `operation`.
    pub fn from_cryptoki(operation: &'static str, err: CryptokiError, context: &ErrorContext) -> Self {
        match err {
            CryptokiError::Pkcs11(rv, function) => Self::Call {
                operation,
                function: format!("C_{function:?}"),
                code: ckr_name(rv),
                rv,
                context: Box::new(context.clone()),
            },
            other => Self::Cryptoki { operation, source: other, context: Box::new(context.clone()) },
        }
    }

    /// The PKCS#11 return value, if this error carries one.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Self::Call { rv, .. } => Some(*rv),
            _ => None,
        }
    }

    /// Whether retrying later may succeed (a device, memory, session or token problem).
    /// Argument, template, mechanism, PIN and key errors are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Call { rv, .. } => is_transient_rv(*rv),
            Self::TokenGone { .. } | Self::Rng(_) => true,
            _ => false,
        }
    }
}

/// Krill's classification of return values: true if the same call may succeed later.
pub fn is_transient_rv(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::DeviceError
            | RvError::DeviceMemory
            | RvError::DeviceRemoved
            | RvError::FunctionFailed
            | RvError::HostMemory
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::SessionCount
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::UserNotLoggedIn
            | RvError::ObjectHandleInvalid
            | RvError::KeyHandleInvalid
            | RvError::SlotIdInvalid
            | RvError::CryptokiNotInitialized
            | RvError::OperationActive
            | RvError::FunctionCanceled
    )
}

impl From<Pkcs11Error> for KeyStoreError {
    fn from(e: Pkcs11Error) -> Self {
        match e {
            Pkcs11Error::KeyNotFound { selector: KeySelector::Id(id), .. } => {
                KeyStoreError::KeyNotFound(KeyId::from_bytes(id))
            }
            Pkcs11Error::AmbiguousKey { selector: KeySelector::Id(id), count, .. } => {
                KeyStoreError::AmbiguousKey { id: KeyId::from_bytes(id), count }
            }
            Pkcs11Error::BadSignature { id } => KeyStoreError::BadSignature(KeyId::from_bytes(id)),
            Pkcs11Error::Rng(msg) => KeyStoreError::Rng(msg),
            other => {
                let transient = other.is_transient();
                KeyStoreError::Backend { source: Box::new(other), transient }
            }
        }
    }
}

/// The `CKR_*` name of a return value.
pub fn ckr_name(rv: RvError) -> &'static str {
    match rv {
        RvError::Cancel => "CKR_CANCEL",
        RvError::HostMemory => "CKR_HOST_MEMORY",
        RvError::SlotIdInvalid => "CKR_SLOT_ID_INVALID",
        RvError::GeneralError => "CKR_GENERAL_ERROR",
        RvError::FunctionFailed => "CKR_FUNCTION_FAILED",
        RvError::ArgumentsBad => "CKR_ARGUMENTS_BAD",
        RvError::NoEvent => "CKR_NO_EVENT",
        RvError::NeedToCreateThreads => "CKR_NEED_TO_CREATE_THREADS",
        RvError::CantLock => "CKR_CANT_LOCK",
        RvError::AttributeReadOnly => "CKR_ATTRIBUTE_READ_ONLY",
        RvError::AttributeSensitive => "CKR_ATTRIBUTE_SENSITIVE",
        RvError::AttributeTypeInvalid => "CKR_ATTRIBUTE_TYPE_INVALID",
        RvError::AttributeValueInvalid => "CKR_ATTRIBUTE_VALUE_INVALID",
        RvError::ActionProhibited => "CKR_ACTION_PROHIBITED",
        RvError::DataInvalid => "CKR_DATA_INVALID",
        RvError::DataLenRange => "CKR_DATA_LEN_RANGE",
        RvError::DeviceError => "CKR_DEVICE_ERROR",
        RvError::DeviceMemory => "CKR_DEVICE_MEMORY",
        RvError::DeviceRemoved => "CKR_DEVICE_REMOVED",
        RvError::EncryptedDataInvalid => "CKR_ENCRYPTED_DATA_INVALID",
        RvError::EncryptedDataLenRange => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        RvError::FunctionCanceled => "CKR_FUNCTION_CANCELED",
        RvError::FunctionNotParallel => "CKR_FUNCTION_NOT_PARALLEL",
        RvError::FunctionNotSupported => "CKR_FUNCTION_NOT_SUPPORTED",
        RvError::CurveNotSupported => "CKR_CURVE_NOT_SUPPORTED",
        RvError::KeyHandleInvalid => "CKR_KEY_HANDLE_INVALID",
        RvError::KeySizeRange => "CKR_KEY_SIZE_RANGE",
        RvError::KeyTypeInconsistent => "CKR_KEY_TYPE_INCONSISTENT",
        RvError::KeyNotNeeded => "CKR_KEY_NOT_NEEDED",
        RvError::KeyChanged => "CKR_KEY_CHANGED",
        RvError::KeyNeeded => "CKR_KEY_NEEDED",
        RvError::KeyIndigestible => "CKR_KEY_INDIGESTIBLE",
        RvError::KeyFunctionNotPermitted => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        RvError::KeyNotWrappable => "CKR_KEY_NOT_WRAPPABLE",
        RvError::KeyUnextractable => "CKR_KEY_UNEXTRACTABLE",
        RvError::MechanismInvalid => "CKR_MECHANISM_INVALID",
        RvError::MechanismParamInvalid => "CKR_MECHANISM_PARAM_INVALID",
        RvError::ObjectHandleInvalid => "CKR_OBJECT_HANDLE_INVALID",
        RvError::OperationActive => "CKR_OPERATION_ACTIVE",
        RvError::OperationNotInitialized => "CKR_OPERATION_NOT_INITIALIZED",
        RvError::PinIncorrect => "CKR_PIN_INCORRECT",
        RvError::PinInvalid => "CKR_PIN_INVALID",
        RvError::PinLenRange => "CKR_PIN_LEN_RANGE",
        RvError::PinExpired => "CKR_PIN_EXPIRED",
        RvError::PinLocked => "CKR_PIN_LOCKED",
        RvError::SessionClosed => "CKR_SESSION_CLOSED",
        RvError::SessionCount => "CKR_SESSION_COUNT",
        RvError::SessionHandleInvalid => "CKR_SESSION_HANDLE_INVALID",
        RvError::SessionParallelNotSupported => "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        RvError::SessionReadOnly => "CKR_SESSION_READ_ONLY",
        RvError::SessionExists => "CKR_SESSION_EXISTS",
        RvError::SessionReadOnlyExists => "CKR_SESSION_READ_ONLY_EXISTS",
        RvError::SessionReadWriteSoExists => "CKR_SESSION_READ_WRITE_SO_EXISTS",
        RvError::SignatureInvalid => "CKR_SIGNATURE_INVALID",
        RvError::SignatureLenRange => "CKR_SIGNATURE_LEN_RANGE",
        RvError::TemplateIncomplete => "CKR_TEMPLATE_INCOMPLETE",
        RvError::TemplateInconsistent => "CKR_TEMPLATE_INCONSISTENT",
        RvError::TokenNotPresent => "CKR_TOKEN_NOT_PRESENT",
        RvError::TokenNotRecognized => "CKR_TOKEN_NOT_RECOGNIZED",
        RvError::TokenWriteProtected => "CKR_TOKEN_WRITE_PROTECTED",
        RvError::UnwrappingKeyHandleInvalid => "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        RvError::UnwrappingKeySizeRange => "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        RvError::UserAlreadyLoggedIn => "CKR_USER_ALREADY_LOGGED_IN",
        RvError::UserNotLoggedIn => "CKR_USER_NOT_LOGGED_IN",
        RvError::UserPinNotInitialized => "CKR_USER_PIN_NOT_INITIALIZED",
        RvError::UserTypeInvalid => "CKR_USER_TYPE_INVALID",
        RvError::UserAnotherAlreadyLoggedIn => "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        RvError::UserTooManyTypes => "CKR_USER_TOO_MANY_TYPES",
        RvError::WrappedKeyInvalid => "CKR_WRAPPED_KEY_INVALID",
        RvError::WrappedKeyLenRange => "CKR_WRAPPED_KEY_LEN_RANGE",
        RvError::WrappingKeyHandleInvalid => "CKR_WRAPPING_KEY_HANDLE_INVALID",
        RvError::WrappingKeySizeRange => "CKR_WRAPPING_KEY_SIZE_RANGE",
        RvError::WrappingKeyTypeInconsistent => "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        RvError::RandomSeedNotSupported => "CKR_RANDOM_SEED_NOT_SUPPORTED",
        RvError::RandomNoRng => "CKR_RANDOM_NO_RNG",
        RvError::DomainParamsInvalid => "CKR_DOMAIN_PARAMS_INVALID",
        RvError::BufferTooSmall => "CKR_BUFFER_TOO_SMALL",
        RvError::SavedStateInvalid => "CKR_SAVED_STATE_INVALID",
        RvError::InformationSensitive => "CKR_INFORMATION_SENSITIVE",
        RvError::StateUnsaveable => "CKR_STATE_UNSAVEABLE",
        RvError::CryptokiNotInitialized => "CKR_CRYPTOKI_NOT_INITIALIZED",
        RvError::CryptokiAlreadyInitialized => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        RvError::MutexBad => "CKR_MUTEX_BAD",
        RvError::MutexNotLocked => "CKR_MUTEX_NOT_LOCKED",
        RvError::NewPinMode => "CKR_NEW_PIN_MODE",
        RvError::NextOtp => "CKR_NEXT_OTP",
        RvError::ExceededMaxIterations => "CKR_EXCEEDED_MAX_ITERATIONS",
        RvError::FipsSelfTestFailed => "CKR_FIPS_SELF_TEST_FAILED",
        RvError::LibraryLoadFailed => "CKR_LIBRARY_LOAD_FAILED",
        RvError::PinTooWeak => "CKR_PIN_TOO_WEAK",
        RvError::PublicKeyInvalid => "CKR_PUBLIC_KEY_INVALID",
        RvError::FunctionRejected => "CKR_FUNCTION_REJECTED",
        RvError::UnwrappingKeyTypeInconsistent => "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        RvError::VendorDefined(_) => "CKR_VENDOR_DEFINED",
        RvError::UnknownErrorCode(_) => "CKR_(unknown)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_classes() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(ckr_name(RvError::UserAlreadyLoggedIn), "CKR_USER_ALREADY_LOGGED_IN");
        assert!(is_transient_rv(RvError::DeviceRemoved));
        assert!(is_transient_rv(RvError::SessionHandleInvalid));
        assert!(!is_transient_rv(RvError::PinIncorrect));
        assert!(!is_transient_rv(RvError::MechanismInvalid));
        assert!(!is_transient_rv(RvError::TemplateIncomplete));
    }

    #[test]
    fn converts_into_keystore_error() {
        let ctx = ErrorContext::default();
        let e = Pkcs11Error::from_cryptoki(
            "sign",
            CryptokiError::Pkcs11(RvError::DeviceRemoved, cryptoki::context::Function::Sign),
            &ctx,
        );
        assert!(e.to_string().contains("C_Sign failed with CKR_DEVICE_REMOVED"), "{e}");
        let k: KeyStoreError = e.into();
        assert!(k.is_transient());
        let k: KeyStoreError =
            Pkcs11Error::KeyNotFound { selector: KeySelector::Id(vec![1, 2]), context: Box::new(ctx) }.into();
        assert!(matches!(k, KeyStoreError::KeyNotFound(id) if id.as_bytes() == [1, 2]));
    }
}
