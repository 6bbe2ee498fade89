//! The security attributes that show a private key never left its token, read the same way for
//! every key type.

use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectHandle};
use cryptoki::session::Session;

use super::error::{ErrorContext, Pkcs11Error};
use super::token::Pkcs11Token;

/// The security attributes of a private key, as read back from the token.
///
/// Attributes the token does not return count against the key: a missing `CKA_SENSITIVE`
/// reads as `sensitive: false`, a missing `CKA_EXTRACTABLE` as `extractable: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyAttributes {
    /// `CKA_SENSITIVE`: the value can never be read in the clear.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: the key can be wrapped out.
    pub extractable: bool,
    /// `CKA_ALWAYS_SENSITIVE`: it has been sensitive since creation.
    pub always_sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`: it has never been extractable.
    pub never_extractable: bool,
    /// `CKA_LOCAL`: generated on the token (not imported).
    pub local: bool,
    /// `CKA_TOKEN`: a persistent token object (false for ephemeral keys).
    pub token: bool,
    /// `CKA_PRIVATE`: only visible after login.
    pub private: bool,
    /// Whether reading `CKA_VALUE` returned any bytes (it must not).
    pub value_returned: bool,
    /// Whether the token answered `CKR_ATTRIBUTE_SENSITIVE` for `CKA_VALUE`.
    pub value_sensitive: bool,
}

/// The security attributes of a private key; missing attributes count against it.
pub fn read_key_attributes(
    token: &Pkcs11Token,
    session: &Session,
    handle: ObjectHandle,
    ctx: &ErrorContext,
) -> Result<KeyAttributes, Pkcs11Error> {
    let attrs = token.attributes(
        session,
        handle,
        &[
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
            AttributeType::Local,
            AttributeType::Token,
            AttributeType::Private,
            AttributeType::Value,
        ],
        ctx,
    )?;
    let mut out = KeyAttributes {
        sensitive: false,
        extractable: true,
        always_sensitive: false,
        never_extractable: false,
        local: false,
        token: false,
        private: false,
        value_returned: false,
        value_sensitive: false,
    };
    for a in attrs {
        match a {
            Attribute::Sensitive(b) => out.sensitive = b,
            Attribute::Extractable(b) => out.extractable = b,
            Attribute::AlwaysSensitive(b) => out.always_sensitive = b,
            Attribute::NeverExtractable(b) => out.never_extractable = b,
            Attribute::Local(b) => out.local = b,
            Attribute::Token(b) => out.token = b,
            Attribute::Private(b) => out.private = b,
            Attribute::Value(_) => out.value_returned = true,
            _ => {}
        }
    }
    // cryptoki's get_attributes silently drops withheld attributes, so ask why.
    let info = session
        .get_attribute_info(handle, &[AttributeType::Value])
        .map_err(|e| Pkcs11Error::from_cryptoki("read attribute info", e, ctx))?;
    out.value_sensitive = matches!(info.first(), Some(AttributeInfo::Sensitive));
    Ok(out)
}
