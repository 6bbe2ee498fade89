//! Finding a token by what it is (label, serial, …), never by slot id, and probing its
//! mechanisms.
//!
//! Slot ids are not stable: SoftHSM renumbers a slot after `C_InitToken` and gives it a new id
//! on the next load (parsec#380, Krill's comment in `signer.rs`). Token fields are blank-padded
//! fixed-size strings; cryptoki strips trailing blanks, and we trim both sides of both values
//! before comparing.

use std::fmt;
use std::path::Path;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CryptokiError, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::slot::{Slot, TokenInfo};

use super::error::{ErrorContext, Pkcs11Error, Problem};
use super::uri::Pkcs11Uri;

/// Which token to use. Every given field must match; at least one must be given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenSelector {
    /// Token label (`CK_TOKEN_INFO.label`).
    pub label: Option<String>,
    /// Token serial number.
    pub serial: Option<String>,
    /// Token manufacturer.
    pub manufacturer: Option<String>,
    /// Token model.
    pub model: Option<String>,
}

impl TokenSelector {
    /// Selects by label.
    pub fn label(label: &str) -> Self {
        Self { label: Some(label.to_string()), ..Self::default() }
    }

    /// Selects by serial number.
    pub fn serial(serial: &str) -> Self {
        Self { serial: Some(serial.to_string()), ..Self::default() }
    }

    /// The token attributes of a PKCS#11 URI.
    pub fn from_uri(uri: &Pkcs11Uri) -> Self {
        Self {
            label: uri.token.clone(),
            serial: uri.serial.clone(),
            manufacturer: uri.manufacturer.clone(),
            model: uri.model.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.label.is_none() && self.serial.is_none() && self.manufacturer.is_none() && self.model.is_none()
    }

    /// Whether `info` matches every given field.
    pub(crate) fn matches(&self, info: &TokenInfo) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().map_or(true, |w| w.trim() == have.trim());
        eq(&self.label, info.label())
            && eq(&self.serial, info.serial_number())
            && eq(&self.manufacturer, info.manufacturer_id())
            && eq(&self.model, info.model())
    }
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = &self.label {
            parts.push(format!("label {v:?}"));
        }
        if let Some(v) = &self.serial {
            parts.push(format!("serial {v:?}"));
        }
        if let Some(v) = &self.manufacturer {
            parts.push(format!("manufacturer {v:?}"));
        }
        if let Some(v) = &self.model {
            parts.push(format!("model {v:?}"));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// Finds the one slot whose token matches `selector`.
pub(crate) fn find_token(
    pkcs11: &Pkcs11,
    module: &Path,
    selector: &TokenSelector,
) -> Result<(Slot, TokenInfo), Pkcs11Error> {
    if selector.is_empty() {
        return Err(Problem::NoTokenSelector.into());
    }
    let ctx = ErrorContext {
        module: Some(module.to_path_buf()),
        token: selector.label.clone(),
        serial: selector.serial.clone(),
        ..ErrorContext::default()
    };
    let slots = pkcs11.get_slots_with_token().map_err(|e| Pkcs11Error::from_cryptoki("list slots", e, &ctx))?;
    let mut present = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        // A slot whose token cannot be read (e.g. removed meanwhile) is skipped, not fatal.
        let Ok(info) = pkcs11.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        present.push(format!("{:?} (serial {})", info.label().trim(), info.serial_number().trim()));
        if selector.matches(&info) {
            matching.push((slot, info));
        }
    }
    let selector = selector.to_string();
    match matching.len() {
        1 => matching.pop().ok_or_else(|| Problem::NoTokenSelector.into()),
        0 => Err(Pkcs11Error::new(Problem::TokenNotFound { selector, present }, &ctx)),
        count => Err(Pkcs11Error::new(Problem::AmbiguousToken { selector, count }, &ctx)),
    }
}

/// Checks that the token offers every mechanism in `required`; the error names each one that
/// is missing.
///
/// Asks `C_GetMechanismInfo` for each one (`CKR_MECHANISM_INVALID`: missing) rather than
/// reading `C_GetMechanismList`: cryptoki logs an error for every listed mechanism it has no
/// name for, and Kryoptic lists dozens (ML-KEM, SP 800-108, vendor ones).
pub(crate) fn require_mechanisms(
    pkcs11: &Pkcs11,
    slot: Slot,
    required: &[MechanismType],
    ctx: &ErrorContext,
) -> Result<(), Pkcs11Error> {
    let mut missing = Vec::new();
    for mechanism in required {
        match pkcs11.get_mechanism_info(slot, *mechanism) {
            Ok(_) => {}
            Err(CryptokiError::Pkcs11(RvError::MechanismInvalid, _)) => missing.push(*mechanism),
            Err(e) => return Err(Pkcs11Error::from_cryptoki("mechanism info", e, ctx)),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Pkcs11Error::new(Problem::MechanismMissing(missing), ctx))
    }
}
