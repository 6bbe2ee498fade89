//! Errors of the PKCS#11 layer.
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
//! the key, whether retrying can help, and what to do. The function, the code, the class and
//! the advice come from the error's [`Pkcs11ErrorKind`] and the tables in
//! [`error_guide`](super::error_guide), which the README's error section is generated from.
//!
//! The error has the shape of [`std::io::Error`]: a kind for programs, the details of this
//! failure, and the context (operation, module, token, slot, key) it happened in.

use std::fmt;
use std::path::PathBuf;

use cryptoki::context::Function;
use cryptoki::error::{Error as CryptokiError, RvError};
use cryptoki::mechanism::MechanismType;

use super::ckr::ckr_name;
use super::ec_point::EcPointError;
use super::error_guide::{ckr_guide, ckr_retry, Calls, Outcome, Pkcs11ErrorKind, Retry};
use super::pin::PinError;
use super::uri::UriError;

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

    /// Fills the parts that are unknown here from `outer`.
    fn fill_from(&mut self, outer: &ErrorContext) {
        self.operation = self.operation.or(outer.operation);
        if self.module.is_none() {
            self.module.clone_from(&outer.module);
        }
        if self.token.is_none() {
            self.token.clone_from(&outer.token);
        }
        if self.serial.is_none() {
            self.serial.clone_from(&outer.serial);
        }
        self.slot = self.slot.or(outer.slot);
        if self.key.is_none() {
            self.key.clone_from(&outer.key);
        }
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

/// The details of one failure: one variant per [`Pkcs11ErrorKind`].
#[derive(Debug)]
pub(crate) enum Problem {
    ModuleLoad(String),
    /// `step` is our low-level step (e.g. "sign", "find objects").
    Call {
        step: &'static str,
        function: Function,
        rv: RvError,
    },
    Cryptoki {
        step: &'static str,
        source: CryptokiError,
    },
    /// `present`: label and serial of every token that is there.
    TokenNotFound {
        selector: String,
        present: Vec<String>,
    },
    AmbiguousToken {
        selector: String,
        count: usize,
    },
    NoTokenSelector,
    /// `last`: the failure of the last attempt.
    TokenGone {
        attempts: u32,
        last: Box<Pkcs11Error>,
    },
    TokenUnavailable(RvError),
    PinIncorrect,
    PinLocked,
    PinRequired,
    Pin(PinError),
    Uri(UriError),
    Config(String),
    MechanismMissing(Vec<MechanismType>),
    /// `curve`: as messages name it; `rv`: what `C_GenerateKeyPair` answered last.
    CurveUnsupported {
        curve: &'static str,
        rv: RvError,
    },
    KeyNotFound(KeySelector),
    AmbiguousKey(KeySelector, usize),
    /// `key`: hex `CKA_ID` or `label "…"`.
    KeyUnusable {
        key: String,
        reason: String,
    },
    /// The attributes that were not as required, e.g. `CKA_NEVER_EXTRACTABLE=true`.
    KeyPolicy(Vec<&'static str>),
    EcPoint {
        key: String,
        source: EcPointError,
    },
    /// The key's `CKA_ID`, and which of how many messages signed together got the bad signature
    /// (`None` for a single one).
    BadSignature(Vec<u8>, Option<(usize, usize)>),
    Rng(String),
    WorkerPanicked,
    /// How long the layer waited for the calls in flight before a login or re-initialisation.
    ModuleBusy {
        waited: std::time::Duration,
    },
}

/// An error of the PKCS#11 layer. `Display` gives the whole story in one line (see the module
/// docs); [`kind`](Self::kind), [`function`](Self::function), [`code`](Self::code),
/// [`context`](Self::context) and [`is_transient`](Self::is_transient) give the parts to
/// programs.
#[derive(Debug)]
pub struct Pkcs11Error {
    problem: Problem,
    /// Filled in as the error travels out (see [`in_context`](Self::in_context)); empty, and
    /// not shown, for kinds that made no PKCS#11 call.
    context: Box<ErrorContext>,
}

impl Pkcs11Error {
    /// `problem` in `context`.
    pub(crate) fn new(problem: Problem, context: &ErrorContext) -> Self {
        Self { problem, context: Box::new(context.clone()) }
    }

    /// Wraps a cryptoki error from a call made for our step `step`.
    pub(crate) fn from_cryptoki(step: &'static str, err: CryptokiError, context: &ErrorContext) -> Self {
        match err {
            CryptokiError::Pkcs11(rv, function) => Self::call(step, function, rv, context),
            source => Self::new(Problem::Cryptoki { step, source }, context),
        }
    }

    /// A `Call` error made by this crate (not returned by cryptoki), e.g. a session found
    /// logged out by `C_GetSessionInfo`.
    pub(crate) fn call(step: &'static str, function: Function, rv: RvError, context: &ErrorContext) -> Self {
        Self::new(Problem::Call { step, function, rv }, context)
    }

    /// A configuration that lacks something; no PKCS#11 call was made.
    pub(crate) fn config(what: impl Into<String>) -> Self {
        Problem::Config(what.into()).into()
    }

    /// The token did not come back within the recovery policy; `last` is the last failure.
    pub(crate) fn token_gone(attempts: u32, last: Pkcs11Error) -> Self {
        let context = last.context.clone();
        Self { problem: Problem::TokenGone { attempts, last: Box::new(last) }, context }
    }

    /// The details (for the adapters' own error types).
    pub(crate) fn problem(&self) -> &Problem {
        &self.problem
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> Pkcs11ErrorKind {
        use Pkcs11ErrorKind as K;
        match &self.problem {
            Problem::ModuleLoad(_) => K::ModuleLoad,
            Problem::Call { .. } => K::Call,
            Problem::Cryptoki { .. } => K::Cryptoki,
            Problem::TokenNotFound { .. } => K::TokenNotFound,
            Problem::AmbiguousToken { .. } => K::AmbiguousToken,
            Problem::NoTokenSelector => K::NoTokenSelector,
            Problem::TokenGone { .. } => K::TokenGone,
            Problem::TokenUnavailable(_) => K::TokenUnavailable,
            Problem::PinIncorrect => K::PinIncorrect,
            Problem::PinLocked => K::PinLocked,
            Problem::PinRequired => K::PinRequired,
            Problem::Pin(_) => K::Pin,
            Problem::Uri(_) => K::Uri,
            Problem::Config(_) => K::Config,
            Problem::MechanismMissing(_) => K::MechanismMissing,
            Problem::CurveUnsupported { .. } => K::CurveUnsupported,
            Problem::KeyNotFound(_) => K::KeyNotFound,
            Problem::AmbiguousKey(..) => K::AmbiguousKey,
            Problem::KeyUnusable { .. } => K::KeyUnusable,
            Problem::KeyPolicy(_) => K::KeyPolicy,
            Problem::EcPoint { .. } => K::EcPoint,
            Problem::BadSignature(..) => K::BadSignature,
            Problem::Rng(_) => K::Rng,
            Problem::WorkerPanicked => K::WorkerPanicked,
            Problem::ModuleBusy { .. } => K::ModuleBusy,
        }
    }

    /// The PKCS#11 function whose answer was the problem (`C_Sign`, `C_FindObjects`, …), if
    /// any: the one in the error, or the last one the kind's guide lists.
    pub fn function(&self) -> Option<Function> {
        match (self.kind().guide().calls, &self.problem) {
            (Calls::Functions(functions), _) => functions.last().copied(),
            (Calls::Load, _) => Some(Function::GetFunctionList),
            (Calls::NoCall, _) => None,
            (Calls::Named(_), Problem::Call { function, .. }) => Some(*function),
            (Calls::Named(_), Problem::TokenGone { last, .. }) => last.function(),
            (Calls::Named(_), _) => None,
        }
    }

    /// The PKCS#11 return value, if this error carries one.
    pub fn rv(&self) -> Option<RvError> {
        match (&self.problem, self.kind().guide().outcome) {
            (Problem::Call { rv, .. } | Problem::TokenUnavailable(rv) | Problem::CurveUnsupported { rv, .. }, _) => {
                Some(*rv)
            }
            (Problem::TokenGone { last, .. }, _) => last.rv(),
            (_, Outcome::Code(rv)) => Some(rv),
            _ => None,
        }
    }

    /// The `CKR_*` name of the return value, or the outcome of a call that succeeded but did
    /// not give what was needed (e.g. `CKR_OK, 0 objects`).
    pub fn code(&self) -> Option<&'static str> {
        if let Some(rv) = self.rv() {
            return Some(ckr_name(rv));
        }
        match (&self.problem, self.kind().guide().outcome) {
            (Problem::TokenGone { last, .. }, _) => Some(last.code().unwrap_or("CKR_TOKEN_NOT_PRESENT")),
            (_, Outcome::Answered(outcome)) => Some(outcome),
            _ => None,
        }
    }

    /// Operation, module, token, slot and key (any part may be unknown), if the error is about
    /// a token: `None` for kinds that made no PKCS#11 call (configuration, URI, PIN source).
    pub fn context(&self) -> Option<&ErrorContext> {
        self.made_a_call().then_some(&*self.context)
    }

    /// Fills the parts of this error's context that are unknown (operation, token, serial,
    /// slot, key, module) from `outer`.
    pub(crate) fn in_context(mut self, outer: &ErrorContext) -> Self {
        if self.made_a_call() {
            self.context.fill_from(outer);
        }
        self
    }

    /// Whether retrying later may succeed (a device, memory, session, login or token
    /// problem), per the guide (see the README's error section).
    pub fn is_transient(&self) -> bool {
        self.retry() == Retry::Transient
    }

    /// The retry class, per the guide (see the README's error section).
    pub fn retry(&self) -> Retry {
        match &self.problem {
            Problem::Call { rv, .. } => ckr_retry(*rv),
            _ => self.kind().guide().retry,
        }
    }

    /// What the operator should do, per the guide (see the README's error section).
    pub fn advice(&self) -> &'static str {
        match &self.problem {
            Problem::Call { rv, .. } => ckr_guide(*rv)
                .map_or("see the PKCS#11 specification and the token vendor's documentation for this code", |g| {
                    g.action
                }),
            _ => self.kind().guide().action,
        }
    }

    /// Whether a PKCS#11 call was made, so the context (token, slot, key) means something.
    fn made_a_call(&self) -> bool {
        !matches!(self.kind().guide().calls, Calls::NoCall)
    }

    fn headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::ModuleLoad(reason) => match &self.context.module {
                Some(m) => write!(f, "cannot load PKCS#11 module {}: {reason}", m.display()),
                None => write!(f, "cannot load PKCS#11 module: {reason}"),
            },
            Problem::Call { rv, .. } => match ckr_guide(*rv) {
                Some(g) => f.write_str(g.meaning),
                None => f.write_str("the token refused the call"),
            },
            Problem::Cryptoki { source, .. } => write!(f, "PKCS#11 call failed: {source}"),
            Problem::TokenNotFound { selector, present } => {
                let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
                write!(f, "no token matches {selector}; tokens present: {present}")
            }
            Problem::AmbiguousToken { selector, count } => write!(f, "{count} tokens match {selector}"),
            Problem::NoTokenSelector => {
                f.write_str("no token selector: give token= (label) or serial= in the PKCS#11 URI")
            }
            Problem::TokenGone { attempts, .. } => {
                write!(f, "token went away and did not come back after {attempts} attempts")
            }
            Problem::TokenUnavailable(_) => f.write_str("the token no longer answers although its slot is listed"),
            Problem::PinIncorrect => f.write_str("wrong user PIN"),
            Problem::PinLocked => f.write_str("the user PIN is locked"),
            Problem::PinRequired => f.write_str("the token requires a login and no pin-source was given"),
            Problem::Pin(e) => write!(f, "{e}"),
            Problem::Uri(e) => write!(f, "{e}"),
            Problem::Config(what) => write!(f, "incomplete PKCS#11 configuration: {what}"),
            Problem::MechanismMissing(missing) => {
                let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
                write!(f, "the token does not support {}; this backend needs them", names.join(" and "))
            }
            Problem::CurveUnsupported { curve, .. } => write!(
                f,
                "the token cannot make {curve} keys: it offers the key-generation mechanism but refuses the curve"
            ),
            Problem::KeyNotFound(selector) => write!(f, "no key with {selector}"),
            Problem::AmbiguousKey(selector, count) => {
                write!(f, "{count} keys with {selector}; exactly one is required")
            }
            Problem::KeyUnusable { key, reason } => write!(f, "key {key} is unusable: {reason}"),
            Problem::KeyPolicy(failed) => write!(f, "generated key lacks {}; it was deleted", failed.join(", ")),
            Problem::EcPoint { key, source } => write!(f, "public key of {key}: {source}"),
            Problem::BadSignature(id, message) => {
                write!(f, "token returned a signature that does not verify for key {}", hex::encode(id))?;
                match message {
                    Some((index, count)) => write!(f, " (message {} of {count})", index + 1),
                    None => Ok(()),
                }
            }
            Problem::Rng(e) => write!(f, "random number generator failed: {e}"),
            Problem::WorkerPanicked => f.write_str("a signing worker thread panicked"),
            Problem::ModuleBusy { waited } => write!(
                f,
                "a call into the PKCS#11 module has not returned for {} ms, so the module cannot log in or be \
                 re-initialised now",
                waited.as_millis()
            ),
        }
    }
}

impl From<Problem> for Pkcs11Error {
    /// A failure outside any token (configuration, URI, PIN source, random numbers).
    fn from(problem: Problem) -> Self {
        Self { problem, context: Box::default() }
    }
}

impl From<PinError> for Pkcs11Error {
    fn from(e: PinError) -> Self {
        Problem::Pin(e).into()
    }
}

impl From<UriError> for Pkcs11Error {
    fn from(e: UriError) -> Self {
        Problem::Uri(e).into()
    }
}

impl fmt::Display for Pkcs11Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.headline(f)?;
        let context = self.context();
        let step = match &self.problem {
            Problem::Call { step, .. } | Problem::Cryptoki { step, .. } => Some(*step),
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
            (Some(func), Some(code)) if code.contains(", ") => write!(f, ": C_{func:?} gave {code}")?,
            (Some(func), Some(code)) => write!(f, ": C_{func:?} returned {code}")?,
            (Some(func), None) => write!(f, ": C_{func:?} (no CKR code)")?,
            (None, _) if self.kind() == Pkcs11ErrorKind::Cryptoki => {
                f.write_str(" (no CKR code: failed in cryptoki)")?
            }
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

impl std::error::Error for Pkcs11Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Cryptoki { source, .. } => Some(source),
            Problem::EcPoint { source, .. } => Some(source),
            Problem::Pin(e) => Some(e),
            Problem::Uri(e) => Some(e),
            Problem::TokenGone { last, .. } => Some(last.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// One error of every kind that makes a PKCS#11 call.
    fn examples() -> Vec<Pkcs11Error> {
        let e = |p| Pkcs11Error::new(p, &ctx());
        vec![
            e(Problem::ModuleLoad("not an ELF file".into())),
            Pkcs11Error::call("sign", Function::Sign, RvError::TokenNotPresent, &ctx()),
            e(Problem::Cryptoki { step: "sign", source: CryptokiError::NullFunctionPointer }),
            e(Problem::TokenNotFound { selector: "label \"x\"".into(), present: vec![] }),
            e(Problem::AmbiguousToken { selector: "label \"x\"".into(), count: 2 }),
            Pkcs11Error::token_gone(6, e(Problem::TokenNotFound { selector: "label \"x\"".into(), present: vec![] })),
            e(Problem::TokenUnavailable(RvError::GeneralError)),
            e(Problem::PinIncorrect),
            e(Problem::PinLocked),
            e(Problem::PinRequired),
            e(Problem::MechanismMissing(vec![MechanismType::EDDSA])),
            e(Problem::CurveUnsupported { curve: "secp256k1", rv: RvError::GeneralError }),
            e(Problem::KeyNotFound(KeySelector::Id(vec![0xab, 0xcd]))),
            e(Problem::AmbiguousKey(KeySelector::Label("k".into()), 2)),
            e(Problem::KeyUnusable { key: "abcd".into(), reason: "no CKA_ID".into() }),
            e(Problem::KeyPolicy(vec!["CKA_LOCAL=true"])),
            e(Problem::EcPoint { key: "abcd".into(), source: EcPointError::Empty }),
            e(Problem::BadSignature(vec![0xab, 0xcd], Some((6, 30)))),
        ]
    }

    #[test]
    fn every_message_names_function_code_token_slot_key_and_retry_class() {
        for e in examples() {
            let m = e.to_string();
            if e.kind() != Pkcs11ErrorKind::Cryptoki {
                let function = e.function().unwrap_or_else(|| panic!("no function: {m}"));
                assert!(m.contains(&format!("C_{function:?}")), "{m}");
            }
            if e.kind() != Pkcs11ErrorKind::Cryptoki && e.kind() != Pkcs11ErrorKind::ModuleLoad {
                assert!(m.contains("CKR_"), "{m}");
            }
            for part in ["token \"lit\" (serial 9d1c5e0f3a7b2c44)", "slot 7", "key id abcd", "sign"] {
                assert!(m.contains(part), "{part:?} missing: {m}");
            }
            let class = if e.is_transient() { "transient (retrying may help)" } else { "permanent" };
            assert!(m.contains(class), "{m}");
            assert!(m.ends_with(e.advice()), "{m}");
            if e.kind() != Pkcs11ErrorKind::Call {
                assert_eq!(e.retry(), e.kind().guide().retry, "{:?}", e.kind());
            }
        }
        // A bad signature among several is named by its place.
        let bad = Pkcs11Error::new(Problem::BadSignature(vec![0xab, 0xcd], Some((6, 30))), &ctx()).to_string();
        assert!(bad.contains("does not verify for key abcd (message 7 of 30)"), "{bad}");
    }

    #[test]
    fn errors_without_a_call_show_no_context() {
        for e in [Pkcs11Error::config("x"), Problem::Rng("x".into()).into(), Problem::WorkerPanicked.into()] {
            let e = e.in_context(&ctx());
            assert!(e.context().is_none(), "{e:?}");
            let m = e.to_string();
            assert!(m.contains("(no PKCS#11 call)") && !m.contains("slot"), "{m}");
        }
        assert!(Pkcs11Error::from(Problem::Rng("x".into())).is_transient());
        assert!(!Pkcs11Error::config("x").is_transient());
    }

    #[test]
    fn token_gone_names_the_last_failure_and_keeps_it_as_source() {
        let last = Pkcs11Error::call("find objects", Function::FindObjectsInit, RvError::DeviceRemoved, &ctx());
        let gone = Pkcs11Error::token_gone(3, last);
        assert_eq!(gone.kind(), Pkcs11ErrorKind::TokenGone);
        assert_eq!(gone.rv(), Some(RvError::DeviceRemoved));
        assert!(gone.to_string().contains("C_FindObjectsInit returned CKR_DEVICE_REMOVED"), "{gone}");
        let source = std::error::Error::source(&gone).and_then(|s| s.downcast_ref::<Pkcs11Error>());
        assert_eq!(source.map(Pkcs11Error::kind), Some(Pkcs11ErrorKind::Call));
        // A module that does not load again: the code defaults to the token not being present.
        let gone = Pkcs11Error::token_gone(2, Pkcs11Error::new(Problem::ModuleLoad("gone".into()), &ctx()));
        assert!(gone.to_string().contains("C_GetFunctionList returned CKR_TOKEN_NOT_PRESENT"), "{gone}");
    }

    #[test]
    fn in_context_fills_only_unknown_parts() {
        let inner = ErrorContext { slot: Some(1), ..ErrorContext::default() };
        let e = Pkcs11Error::new(Problem::PinIncorrect, &inner).in_context(&ctx());
        let c = e.context().unwrap();
        assert_eq!(c.slot, Some(1));
        assert_eq!(c.token.as_deref(), Some("lit"));
        assert_eq!(c.operation, Some("sign"));
    }
}
