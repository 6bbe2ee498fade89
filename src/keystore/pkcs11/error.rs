//! Errors of the PKCS#11 backend.
//!
//! Every [`Pkcs11Error`] message says what failed and everything an operator needs to act on
//! it, in one line:
//!
//! ```text
//! wrong user PIN: open store: C_Login returned CKR_PIN_INCORRECT; token "lit" (serial 9d1c5e0f3a7b2c44),
//! slot 1834468200, key n/a; permanent (retrying will not help): put the token's user PIN in the pin-source …
//! ```
//!
//! that is: a headline, our operation, the PKCS#11 function and its `CKR_*` code (or the
//! outcome when the call succeeded but found nothing), the token's label and serial, the slot,
//! the key, whether retrying can help, and what to do. The class and the advice come from the
//! tables in [`error_guide`](super::error_guide), which the README's error table is generated
//! from.

use std::fmt;
use std::path::PathBuf;

use cryptoki::error::{Error as CryptokiError, RvError};

use super::ec_point::EcPointError;
use super::error_guide::{ckr_guide, ckr_retry, kind_guide, Retry};
use super::pin::PinError;
use super::uri::UriError;
use crate::keystore::{Detail, KeyId, KeyStoreError};

/// Which operation, module, token, slot and key an error is about. Any part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// Our high-level operation (e.g. `sign`, `open store`), when known.
    pub operation: Option<&'static str>,
    /// The PKCS#11 module path.
    pub module: Option<PathBuf>,
    /// The token label.
    pub token: Option<String>,
    /// The token serial number.
    pub serial: Option<String>,
    /// The slot id at the time of the error (slot ids change; for diagnostics only).
    pub slot: Option<u64>,
    /// The key.
    pub key: Option<KeySelector>,
}

impl ErrorContext {
    /// This context with the key set.
    pub fn with_key(mut self, key: KeySelector) -> Self {
        self.key = Some(key);
        self
    }

    /// This context with the key set to `CKA_ID` `id`.
    pub fn with_key_id(self, id: &[u8]) -> Self {
        self.with_key(KeySelector::Id(id.to_vec()))
    }

    /// This context with the key set to `CKA_LABEL` `label`.
    pub fn with_key_label(self, label: &str) -> Self {
        self.with_key(KeySelector::Label(label.to_string()))
    }

    /// This context with the operation set.
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.token, &self.serial) {
            (Some(t), Some(s)) => write!(f, "token {t:?} (serial {s})")?,
            (Some(t), None) => write!(f, "token {t:?} (serial unknown)")?,
            (None, Some(s)) => write!(f, "token with serial {s}")?,
            (None, None) => f.write_str("token unknown")?,
        }
        match self.slot {
            Some(s) => write!(f, ", slot {s}")?,
            None => f.write_str(", slot unknown")?,
        }
        match &self.key {
            Some(k) => write!(f, ", key {k}")?,
            None => f.write_str(", key n/a")?,
        }
        if let Some(m) = &self.module {
            write!(f, ", module {}", m.display())?;
        }
        Ok(())
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

/// An error of the PKCS#11 backend. `Display` gives the whole story in one line (see the
/// module docs); [`kind`](Self::kind), [`function`](Self::function), [`code`](Self::code)
/// and [`is_transient`](Self::is_transient) give the parts to programs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The PKCS#11 library could not be loaded (wrong path, wrong architecture, missing symbols).
    ModuleLoad {
        /// Why loading failed.
        reason: String,
        /// Module (and token, when known).
        context: Box<ErrorContext>,
    },
    /// A PKCS#11 function returned an error code.
    Call {
        /// Our low-level step (e.g. "sign", "find objects").
        operation: &'static str,
        /// The PKCS#11 function, e.g. `C_Sign`.
        function: String,
        /// The `CKR_*` name.
        code: &'static str,
        /// The return value.
        rv: RvError,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// cryptoki failed without a PKCS#11 return code (conversion, null function pointer, …).
    Cryptoki {
        /// Our low-level step.
        operation: &'static str,
        /// cryptoki's error.
        #[source]
        source: CryptokiError,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// No token matches the selector.
    TokenNotFound {
        /// The selector, e.g. `label "lit"`.
        selector: String,
        /// Labels (and serials) of the tokens that are present.
        present: Vec<String>,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// Several tokens match the selector.
    AmbiguousToken {
        /// The selector.
        selector: String,
        /// How many matched.
        count: usize,
        /// Module and token.
        context: Box<ErrorContext>,
    },
    /// The selector names no token attribute.
    NoTokenSelector,
    /// The token was present and then disappeared, and did not come back in time.
    TokenGone {
        /// Attempts made.
        attempts: u32,
        /// The PKCS#11 function of the last failure.
        function: String,
        /// The `CKR_*` code of the last failure (or the outcome, e.g. no matching token).
        code: &'static str,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// The token stopped answering about itself (`C_GetTokenInfo` failed) although its slot is
    /// still listed: SoftHSM 2.6.1 does this once its token directory went away, until the
    /// module is re-initialised.
    TokenUnavailable {
        /// The PKCS#11 function that failed.
        function: String,
        /// Its `CKR_*` code.
        code: &'static str,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// `C_Login` refused the PIN.
    PinIncorrect {
        /// Operation, module, token and slot.
        context: Box<ErrorContext>,
    },
    /// The user PIN is locked.
    PinLocked {
        /// Operation, module, token and slot.
        context: Box<ErrorContext>,
    },
    /// The token requires a login and no PIN source was given.
    PinRequired {
        /// Module, token and slot.
        context: Box<ErrorContext>,
    },
    /// The PIN could not be read.
    Pin(#[from] PinError),
    /// The PKCS#11 URI was refused.
    Uri(#[from] UriError),
    /// The URI or configuration lacks something required.
    Config(String),
    /// The token lacks mechanisms this backend needs.
    MechanismMissing {
        /// The `CKM_*` names that are missing.
        missing: Vec<&'static str>,
        /// Module, token and slot.
        context: Box<ErrorContext>,
    },
    /// No key matches.
    KeyNotFound {
        /// How the key was looked up.
        selector: KeySelector,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// Several keys match; look-ups require exactly one.
    AmbiguousKey {
        /// How the key was looked up.
        selector: KeySelector,
        /// How many matched.
        count: usize,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// A key exists but lacks something (e.g. its public half) or has the wrong type.
    KeyUnusable {
        /// The key (hex `CKA_ID` or `label "…"`).
        key: String,
        /// What is wrong.
        reason: String,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// A freshly generated key does not have the security attributes that prove it was made
    /// on the token and can never leave it; it was deleted again.
    KeyPolicy {
        /// The attributes that were not as required, e.g. `CKA_NEVER_EXTRACTABLE=true`.
        failed: Vec<String>,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// `CKA_EC_POINT` could not be read.
    EcPoint {
        /// The key (hex `CKA_ID`).
        key: String,
        /// The parse error.
        #[source]
        source: EcPointError,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// The token returned a signature that does not verify under the key's public key.
    BadSignature {
        /// The key's `CKA_ID`.
        id: Vec<u8>,
        /// Operation, module, token, slot and key.
        context: Box<ErrorContext>,
    },
    /// The operating system's random number generator failed.
    Rng(String),
    /// A worker thread of `sign_many` panicked (a bug; reported instead of propagated).
    WorkerPanicked,
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

// Every variant that carries an `ErrorContext`, listed once for `context` and `in_context`.
macro_rules! with_context {
    ($value:expr, $ctx:ident => $found:expr, $other:expr) => {
        match $value {
            Pkcs11Error::ModuleLoad { context: $ctx, .. }
            | Pkcs11Error::Call { context: $ctx, .. }
            | Pkcs11Error::Cryptoki { context: $ctx, .. }
            | Pkcs11Error::TokenNotFound { context: $ctx, .. }
            | Pkcs11Error::AmbiguousToken { context: $ctx, .. }
            | Pkcs11Error::TokenGone { context: $ctx, .. }
            | Pkcs11Error::TokenUnavailable { context: $ctx, .. }
            | Pkcs11Error::PinIncorrect { context: $ctx, .. }
            | Pkcs11Error::PinLocked { context: $ctx, .. }
            | Pkcs11Error::PinRequired { context: $ctx, .. }
            | Pkcs11Error::MechanismMissing { context: $ctx, .. }
            | Pkcs11Error::KeyNotFound { context: $ctx, .. }
            | Pkcs11Error::AmbiguousKey { context: $ctx, .. }
            | Pkcs11Error::KeyUnusable { context: $ctx, .. }
            | Pkcs11Error::KeyPolicy { context: $ctx, .. }
            | Pkcs11Error::EcPoint { context: $ctx, .. }
            | Pkcs11Error::BadSignature { context: $ctx, .. } => $found,
            _ => $other,
        }
    };
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

    /// A `Call` error made by this crate (not returned by cryptoki), e.g. a session found
    /// logged out by `C_GetSessionInfo`.
    pub fn call(operation: &'static str, function: &str, rv: RvError, context: &ErrorContext) -> Self {
        Self::Call {
            operation,
            function: function.to_string(),
            code: ckr_name(rv),
            rv,
            context: Box::new(context.clone()),
        }
    }

    /// The PKCS#11 return value, if this error carries one.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Self::Call { rv, .. } => Some(*rv),
            Self::PinIncorrect { .. } => Some(RvError::PinIncorrect),
            Self::PinLocked { .. } => Some(RvError::PinLocked),
            _ => None,
        }
    }

    /// The variant's name (`Call`, `KeyNotFound`, …), as in the README's error table.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ModuleLoad { .. } => "ModuleLoad",
            Self::Call { .. } => "Call",
            Self::Cryptoki { .. } => "Cryptoki",
            Self::TokenNotFound { .. } => "TokenNotFound",
            Self::AmbiguousToken { .. } => "AmbiguousToken",
            Self::NoTokenSelector => "NoTokenSelector",
            Self::TokenGone { .. } => "TokenGone",
            Self::TokenUnavailable { .. } => "TokenUnavailable",
            Self::PinIncorrect { .. } => "PinIncorrect",
            Self::PinLocked { .. } => "PinLocked",
            Self::PinRequired { .. } => "PinRequired",
            Self::Pin(_) => "Pin",
            Self::Uri(_) => "Uri",
            Self::Config(_) => "Config",
            Self::MechanismMissing { .. } => "MechanismMissing",
            Self::KeyNotFound { .. } => "KeyNotFound",
            Self::AmbiguousKey { .. } => "AmbiguousKey",
            Self::KeyUnusable { .. } => "KeyUnusable",
            Self::KeyPolicy { .. } => "KeyPolicy",
            Self::EcPoint { .. } => "EcPoint",
            Self::BadSignature { .. } => "BadSignature",
            Self::Rng(_) => "Rng",
            Self::WorkerPanicked => "WorkerPanicked",
        }
    }

    /// The PKCS#11 function involved (`C_Sign`, `C_FindObjects`, …), if any.
    pub fn function(&self) -> Option<&str> {
        match self {
            Self::Call { function, .. }
            | Self::TokenGone { function, .. }
            | Self::TokenUnavailable { function, .. } => Some(function),
            Self::ModuleLoad { .. } => Some("C_GetFunctionList"),
            Self::TokenNotFound { .. } | Self::AmbiguousToken { .. } => Some("C_GetTokenInfo"),
            Self::PinIncorrect { .. } | Self::PinLocked { .. } => Some("C_Login"),
            Self::PinRequired { .. } => Some("C_GetTokenInfo"),
            Self::MechanismMissing { .. } => Some("C_GetMechanismList"),
            Self::KeyNotFound { .. } | Self::AmbiguousKey { .. } => Some("C_FindObjects"),
            Self::KeyUnusable { .. } | Self::KeyPolicy { .. } | Self::EcPoint { .. } => Some("C_GetAttributeValue"),
            Self::BadSignature { .. } => Some("C_Sign"),
            _ => None,
        }
    }

    /// The `CKR_*` code, or the outcome of a call that succeeded but did not give what was
    /// needed (e.g. `CKR_OK, 0 objects`).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Call { code, .. } | Self::TokenGone { code, .. } | Self::TokenUnavailable { code, .. } => Some(code),
            Self::Cryptoki { .. } | Self::ModuleLoad { .. } => None,
            other => kind_guide(other.kind()).map(|g| g.code).filter(|c| c.starts_with("CKR_")),
        }
    }

    /// Operation, module, token, slot and key, if the error has them.
    pub fn context(&self) -> Option<&ErrorContext> {
        with_context!(self, context => Some(context), None)
    }

    /// Fills the parts of this error's context that are unknown (operation, token, serial,
    /// slot, key, module) from `outer`.
    pub fn in_context(mut self, outer: &ErrorContext) -> Self {
        let ctx = with_context!(&mut self, context => context, return self);
        let c = ctx.as_mut();
        c.operation = c.operation.or(outer.operation);
        if c.module.is_none() {
            c.module.clone_from(&outer.module);
        }
        if c.token.is_none() {
            c.token.clone_from(&outer.token);
        }
        if c.serial.is_none() {
            c.serial.clone_from(&outer.serial);
        }
        c.slot = c.slot.or(outer.slot);
        if c.key.is_none() {
            c.key.clone_from(&outer.key);
        }
        self
    }

    /// Whether retrying later may succeed (a device, memory, session, login or token
    /// problem), per the tables in [`error_guide`](super::error_guide).
    pub fn is_transient(&self) -> bool {
        self.retry() == Retry::Transient
    }

    /// The retry class, per the tables in [`error_guide`](super::error_guide).
    pub fn retry(&self) -> Retry {
        match self {
            Self::Call { rv, .. } => ckr_retry(*rv),
            other => kind_guide(other.kind()).map_or(Retry::Permanent, |g| g.retry),
        }
    }

    /// What the operator should do, per the tables in [`error_guide`](super::error_guide).
    pub fn advice(&self) -> &'static str {
        match self {
            Self::Call { rv, .. } => ckr_guide(*rv)
                .map_or("see the PKCS#11 specification and the token vendor's documentation for this code", |g| {
                    g.action
                }),
            other => kind_guide(other.kind()).map_or("report it with this message", |g| g.action),
        }
    }

    fn headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ModuleLoad { reason, context } => match &context.module {
                Some(m) => write!(f, "cannot load PKCS#11 module {}: {reason}", m.display()),
                None => write!(f, "cannot load PKCS#11 module: {reason}"),
            },
            Self::Call { rv, .. } => match ckr_guide(*rv) {
                Some(g) => f.write_str(g.meaning),
                None => f.write_str("the token refused the call"),
            },
            Self::Cryptoki { source, .. } => write!(f, "PKCS#11 call failed: {source}"),
            Self::TokenNotFound { selector, present, .. } => {
                write!(f, "no token matches {selector}; tokens present: {}", list_or_none(present))
            }
            Self::AmbiguousToken { selector, count, .. } => write!(f, "{count} tokens match {selector}"),
            Self::NoTokenSelector => {
                f.write_str("no token selector: give token= (label) or serial= in the PKCS#11 URI")
            }
            Self::TokenGone { attempts, .. } => {
                write!(f, "token went away and did not come back after {attempts} attempts")
            }
            Self::TokenUnavailable { .. } => f.write_str("the token no longer answers although its slot is listed"),
            Self::PinIncorrect { .. } => f.write_str("wrong user PIN"),
            Self::PinLocked { .. } => f.write_str("the user PIN is locked"),
            Self::PinRequired { .. } => f.write_str("the token requires a login and no pin-source was given"),
            Self::Pin(e) => write!(f, "{e}"),
            Self::Uri(e) => write!(f, "{e}"),
            Self::Config(what) => write!(f, "incomplete PKCS#11 configuration: {what}"),
            Self::MechanismMissing { missing, .. } => {
                write!(f, "the token does not support {}; this backend needs them", missing.join(" and "))
            }
            Self::KeyNotFound { selector, .. } => write!(f, "no key with {selector}"),
            Self::AmbiguousKey { selector, count, .. } => {
                write!(f, "{count} keys with {selector}; exactly one is required")
            }
            Self::KeyUnusable { key, reason, .. } => write!(f, "key {key} is unusable: {reason}"),
            Self::KeyPolicy { failed, .. } => write!(f, "generated key lacks {}; it was deleted", failed.join(", ")),
            Self::EcPoint { key, source, .. } => write!(f, "public key of {key}: {source}"),
            Self::BadSignature { id, .. } => {
                write!(f, "token returned a signature that does not verify for key {}", hex::encode(id))
            }
            Self::Rng(e) => write!(f, "random number generator failed: {e}"),
            Self::WorkerPanicked => f.write_str("a signing worker thread panicked"),
        }
    }
}

impl fmt::Display for Pkcs11Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.headline(f)?;
        let context = self.context();
        let step = match self {
            Self::Call { operation, .. } | Self::Cryptoki { operation, .. } => Some(*operation),
            _ => None,
        };
        let operation = match (context.and_then(|c| c.operation), step) {
            (Some(high), Some(low)) if high != low => Some(format!("{high} ({low})")),
            (Some(op), _) | (None, Some(op)) => Some(op.to_string()),
            (None, None) => None,
        };
        if let Some(op) = operation {
            write!(f, ": {op}")?;
        }
        match (self.function(), self.code()) {
            (Some(func), Some(code)) if code.contains(", ") => write!(f, ": {func} gave {code}")?,
            (Some(func), Some(code)) => write!(f, ": {func} returned {code}")?,
            (Some(func), None) => write!(f, ": {func} (no CKR code)")?,
            (None, _) if matches!(self, Self::Cryptoki { .. }) => f.write_str(" (no CKR code: failed in cryptoki)")?,
            (None, _) => f.write_str(" (no PKCS#11 call)")?,
        }
        if let Some(c) = context {
            write!(f, "; {c}")?;
        }
        let class = match self.retry() {
            Retry::Transient => "transient (retrying may help)",
            _ => "permanent (retrying will not help)",
        };
        write!(f, "; {class}: {}", self.advice())
    }
}

impl From<Pkcs11Error> for KeyStoreError {
    fn from(e: Pkcs11Error) -> Self {
        match e {
            Pkcs11Error::KeyNotFound { selector: KeySelector::Id(ref id), .. } => {
                KeyStoreError::KeyNotFound(KeyId::from_bytes(id.clone()), Detail::from_error(e))
            }
            Pkcs11Error::AmbiguousKey { selector: KeySelector::Id(ref id), count, .. } => {
                KeyStoreError::AmbiguousKey { id: KeyId::from_bytes(id.clone()), count, detail: Detail::from_error(e) }
            }
            Pkcs11Error::BadSignature { ref id, .. } => {
                KeyStoreError::BadSignature(KeyId::from_bytes(id.clone()), Detail::from_error(e))
            }
            Pkcs11Error::Rng(msg) => KeyStoreError::Rng(msg),
            other => {
                let transient = other.is_transient();
                KeyStoreError::Backend { source: Box::new(other), transient }
            }
        }
    }
}

/// Whether retrying a call that returned `rv` may succeed later (the `retry` column of
/// [`CKR_GUIDE`](super::error_guide::CKR_GUIDE)).
pub fn is_transient_rv(rv: RvError) -> bool {
    ckr_retry(rv) == Retry::Transient
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
    use crate::keystore::pkcs11::error_guide::KIND_GUIDE;

    fn ctx() -> ErrorContext {
        ErrorContext {
            operation: Some("sign"),
            module: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            token: Some("lit".into()),
            serial: Some("9d1c5e0f3a7b2c44".into()),
            slot: Some(7),
            key: Some(KeySelector::Id(vec![0xab, 0xcd])),
        }
    }

    #[test]
    fn names_and_classes() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(ckr_name(RvError::UserAlreadyLoggedIn), "CKR_USER_ALREADY_LOGGED_IN");
        assert!(is_transient_rv(RvError::DeviceRemoved));
        assert!(is_transient_rv(RvError::SessionHandleInvalid));
        assert!(!is_transient_rv(RvError::PinIncorrect));
        assert!(!is_transient_rv(RvError::MechanismInvalid));
        assert!(!is_transient_rv(RvError::TemplateIncomplete));
        assert!(!is_transient_rv(RvError::NewPinMode), "unlisted codes are permanent");
    }

    #[test]
    fn converts_into_keystore_error() {
        let e = Pkcs11Error::from_cryptoki(
            "sign",
            CryptokiError::Pkcs11(RvError::DeviceRemoved, cryptoki::context::Function::Sign),
            &ctx(),
        );
        assert!(e.to_string().contains("C_Sign returned CKR_DEVICE_REMOVED"), "{e}");
        let k: KeyStoreError = e.into();
        assert!(k.is_transient());
        let k: KeyStoreError =
            Pkcs11Error::KeyNotFound { selector: KeySelector::Id(vec![1, 2]), context: Box::new(ctx()) }.into();
        assert!(matches!(k, KeyStoreError::KeyNotFound(ref id, _) if id.as_bytes() == [1, 2]));
    }

    /// One error of every kind that carries a context.
    fn examples() -> Vec<Pkcs11Error> {
        let c = || Box::new(ctx());
        vec![
            Pkcs11Error::ModuleLoad { reason: "not an ELF file".into(), context: c() },
            Pkcs11Error::call("sign", "C_Sign", RvError::TokenNotPresent, &ctx()),
            Pkcs11Error::Cryptoki { operation: "sign", source: CryptokiError::NullFunctionPointer, context: c() },
            Pkcs11Error::TokenNotFound { selector: "label \"x\"".into(), present: vec![], context: c() },
            Pkcs11Error::AmbiguousToken { selector: "label \"x\"".into(), count: 2, context: c() },
            Pkcs11Error::TokenGone {
                attempts: 6,
                function: "C_GetSlotList".into(),
                code: "CKR_TOKEN_NOT_PRESENT",
                context: c(),
            },
            Pkcs11Error::TokenUnavailable {
                function: "C_GetTokenInfo".into(),
                code: "CKR_GENERAL_ERROR",
                context: c(),
            },
            Pkcs11Error::PinIncorrect { context: c() },
            Pkcs11Error::PinLocked { context: c() },
            Pkcs11Error::PinRequired { context: c() },
            Pkcs11Error::MechanismMissing { missing: vec!["CKM_EDDSA"], context: c() },
            Pkcs11Error::KeyNotFound { selector: KeySelector::Id(vec![0xab, 0xcd]), context: c() },
            Pkcs11Error::AmbiguousKey { selector: KeySelector::Label("k".into()), count: 2, context: c() },
            Pkcs11Error::KeyUnusable { key: "abcd".into(), reason: "no CKA_ID".into(), context: c() },
            Pkcs11Error::KeyPolicy { failed: vec!["CKA_LOCAL=true".into()], context: c() },
            Pkcs11Error::BadSignature { id: vec![0xab, 0xcd], context: c() },
        ]
    }

    #[test]
    fn every_message_names_function_code_token_slot_key_and_retry_class() {
        for e in examples() {
            let m = e.to_string();
            assert!(kind_guide(e.kind()).is_some(), "{} is missing from KIND_GUIDE", e.kind());
            if e.kind() != "Cryptoki" {
                let function = e.function().unwrap_or_else(|| panic!("no function: {m}"));
                assert!(m.contains(function) && function.starts_with("C_"), "{m}");
            }
            if e.kind() != "Cryptoki" && e.kind() != "ModuleLoad" {
                assert!(m.contains("CKR_"), "{m}");
            }
            for part in ["token \"lit\" (serial 9d1c5e0f3a7b2c44)", "slot 7", "key id abcd", "sign"] {
                assert!(m.contains(part), "{part:?} missing: {m}");
            }
            let class = if e.is_transient() { "transient (retrying may help)" } else { "permanent" };
            assert!(m.contains(class), "{m}");
            assert!(m.ends_with(e.advice()), "{m}");
        }
    }

    #[test]
    fn the_kind_table_covers_every_variant_and_its_class() {
        let mut kinds: Vec<&str> = examples().iter().map(Pkcs11Error::kind).collect();
        kinds.extend(["NoTokenSelector", "Pin", "Uri", "Config", "Rng", "WorkerPanicked", "EcPoint"]);
        for k in &kinds {
            assert!(kind_guide(k).is_some(), "{k} missing from KIND_GUIDE");
        }
        assert_eq!(kinds.len(), KIND_GUIDE.len(), "KIND_GUIDE lists a kind that does not exist");
        for e in examples() {
            let g = kind_guide(e.kind()).unwrap();
            if e.kind() != "Call" {
                assert_eq!(e.retry(), g.retry, "{}", e.kind());
            }
        }
        assert!(Pkcs11Error::Rng("x".into()).is_transient());
        assert!(!Pkcs11Error::Config("x".into()).is_transient());
    }

    #[test]
    fn in_context_fills_only_unknown_parts() {
        let inner = ErrorContext { slot: Some(1), ..ErrorContext::default() };
        let e = Pkcs11Error::PinIncorrect { context: Box::new(inner) }.in_context(&ctx());
        let c = e.context().unwrap();
        assert_eq!(c.slot, Some(1));
        assert_eq!(c.token.as_deref(), Some("lit"));
        assert_eq!(c.operation, Some("sign"));
    }
}
