//! The security attributes that show a private key never left its token, read the same way for
//! every key type, and the protected template every key pair is generated with.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectHandle};
use cryptoki::session::Session;

use super::error::{ErrorContext, Pkcs11Error, Problem};
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

impl KeyAttributes {
    /// The requirements of a key generated on the token that these attributes break, e.g.
    /// `CKA_NEVER_EXTRACTABLE=true`; empty for a key that was born on the token, has always
    /// been sensitive and can never leave it. Keys that break one are deleted right after
    /// generation ([`Pkcs11ErrorKind::KeyPolicy`](super::Pkcs11ErrorKind::KeyPolicy)).
    pub fn violations(&self) -> Vec<&'static str> {
        [
            ("CKA_LOCAL=true", self.local),
            ("CKA_ALWAYS_SENSITIVE=true", self.always_sensitive),
            ("CKA_NEVER_EXTRACTABLE=true", self.never_extractable),
            ("CKA_SENSITIVE=true", self.sensitive),
            ("CKA_EXTRACTABLE=false", !self.extractable),
            ("no CKA_VALUE", !self.value_returned),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(requirement, _)| requirement)
        .collect()
    }
}

/// The security attributes of a private key; missing attributes count against it.
pub(crate) fn read_key_attributes(
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

/// Checks that a new private key reads back as generated on the token, always sensitive and
/// never extractable, with no `CKA_VALUE`. The caller deletes the pair when this fails.
pub(crate) fn check_born_on_token(
    token: &Pkcs11Token,
    session: &Session,
    private: ObjectHandle,
    ctx: &ErrorContext,
) -> Result<(), Pkcs11Error> {
    let failed = read_key_attributes(token, session, private, ctx)?.violations();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Pkcs11Error::new(Problem::KeyPolicy(failed), ctx))
    }
}

/// The private-key template of every key we generate: sensitive, not extractable, sign only,
/// and (when the token accepts it) not modifiable.
fn private_key_template(label: &str, id: &[u8], token_object: bool, unmodifiable: bool) -> Vec<Attribute> {
    let mut private = vec![
        Attribute::Token(token_object),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    if unmodifiable {
        private.push(Attribute::Modifiable(false));
    }
    private
}

/// Why `C_GenerateKeyPair` refused one template variant, when another variant may be accepted.
enum Refusal {
    /// An attribute or a combination the token does not take.
    Template,
    /// The curve in `CKA_EC_PARAMS`, in this form at least.
    Curve(cryptoki::error::RvError),
}

/// Sorts a `C_GenerateKeyPair` failure: a refusal of this variant, or `None` for a failure that
/// no other template changes (returned at once, and recovered from by the caller).
fn refusal(e: &cryptoki::error::Error, session: &Session) -> Option<Refusal> {
    use cryptoki::error::{Error, RvError};
    use cryptoki::session::SessionState;
    match e {
        Error::Pkcs11(
            RvError::AttributeValueInvalid
            | RvError::AttributeTypeInvalid
            | RvError::AttributeReadOnly
            | RvError::TemplateInconsistent,
            _,
        ) => Some(Refusal::Template),
        Error::Pkcs11(rv @ (RvError::CurveNotSupported | RvError::DomainParamsInvalid), _) => Some(Refusal::Curve(*rv)),
        // Kryoptic 1.5.4 lists CKM_EC_KEY_PAIR_GEN for 256 to 521 bits and answers
        // CKR_GENERAL_ERROR for secp256k1, which it has no tables for. From a session that is
        // still logged in that is the curve; otherwise (SoftHSM 2.6.1 answers it when a logout
        // races a call) the caller's recovery handles it.
        Error::Pkcs11(RvError::GeneralError, _) => session
            .get_session_info()
            .is_ok_and(|i| matches!(i.session_state(), SessionState::RoUser | SessionState::RwUser))
            .then_some(Refusal::Curve(RvError::GeneralError)),
        _ => None,
    }
}

/// `C_GenerateKeyPair` with our private-key template, trying each public template first with
/// `CKA_MODIFIABLE=false` and then without, while the token refuses the template.
///
/// When the token refused the curve in every form it understood (`CurveUnsupported`), no
/// template would help: the error says the token cannot make `curve` keys.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
pub(crate) fn generate_protected_pair(
    session: &Session,
    mechanism: &Mechanism,
    public_variants: &[Vec<Attribute>],
    label: &str,
    id: &[u8],
    token_object: bool,
    curve: &'static str,
    ctx: &ErrorContext,
) -> Result<(ObjectHandle, ObjectHandle), Pkcs11Error> {
    let mut last = None;
    let mut curve_refused = None;
    for unmodifiable in [true, false] {
        let private = private_key_template(label, id, token_object, unmodifiable);
        for public in public_variants {
            match session.generate_key_pair(mechanism, public, &private) {
                Ok(pair) => return Ok(pair),
                Err(e) => match refusal(&e, session) {
                    Some(Refusal::Template) => last = Some(e),
                    Some(Refusal::Curve(rv)) => {
                        curve_refused = Some(rv);
                        last = Some(e);
                    }
                    None => return Err(Pkcs11Error::from_cryptoki("generate key pair", e, ctx)),
                },
            }
        }
    }
    if let Some(rv) = curve_refused {
        log::debug!("{ctx}: C_GenerateKeyPair refused {curve} in every form ({})", super::ckr::ckr_name(rv));
        return Err(Pkcs11Error::new(Problem::CurveUnsupported { curve, rv }, ctx));
    }
    Err(match last {
        Some(e) => Pkcs11Error::from_cryptoki("generate key pair", e, ctx),
        None => Pkcs11Error::config("no key template variant was tried"),
    })
}
