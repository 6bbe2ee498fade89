//! A secp256k1 wallet key generated on, and never leaving, a PKCS#11 token: an adapter over
//! [`crate::pkcs11`], which does the token work for the [`SECP256K1`] key spec.
//!
//! The token only ever sees the 32-byte digest (`CKM_ECDSA`, raw `r‖s`); low-s normalisation
//! and the recovery id (by trial recovery against the cached public key) happen on the host.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::Session;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::{WalletError, WalletSigner};
use crate::eth::{EthAddress, RecoverableSignature};
use crate::keystore::KeyId;
use crate::pkcs11::error::Problem;
use crate::pkcs11::key_spec::SECP256K1;
use crate::pkcs11::token::Pkcs11Token;
use crate::pkcs11::{
    ErrorContext, KeyAttributes, KeySelector, ObjectType, Pkcs11Error, Pkcs11ErrorKind, Pkcs11Uri, TokenConfig,
};

/// Counters of the signatures the token returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalletSignStats {
    /// Signatures returned by the token.
    pub signatures: u64,
    /// How many of them were high-s and were normalised to low-s on the host.
    pub high_s: u64,
}

/// A [`WalletSigner`] whose secp256k1 key lives on a PKCS#11 token (an HSM; SoftHSM2 in tests:
/// Kryoptic cannot make secp256k1 keys, and generating says so with
/// [`CurveUnsupported`](Pkcs11ErrorKind::CurveUnsupported)).
///
/// The public key and address are read once when the wallet is opened; every signature is a
/// `CKM_ECDSA` over the 32-byte digest, normalised to low-s and given the recovery id that
/// recovers the cached key (a signature that recovers to no key is refused).
///
/// ```no_run
/// use lit_session_signer::pkcs11::Pkcs11Uri;
/// use lit_session_signer::wallet::{Pkcs11Wallet, WalletSigner};
///
/// let token: Pkcs11Uri = "pkcs11:token=lit?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/lit/pin"
///     .parse()?;
/// let (wallet, _id) = Pkcs11Wallet::generate(&token, "wallet-1")?;
/// println!("{}", wallet.address());
/// // Later, or in another process:
/// let again = Pkcs11Wallet::open(&token.with_object("wallet-1"))?;
/// assert_eq!(again.address(), wallet.address());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pkcs11Wallet {
    token: Pkcs11Token,
    id: Vec<u8>,
    label: String,
    verifying_key: VerifyingKey,
    address: EthAddress,
    signatures: AtomicU64,
    high_s: AtomicU64,
}

impl fmt::Debug for Pkcs11Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Wallet")
            .field("address", &self.address)
            .field("id", &hex::encode(&self.id))
            .field("label", &self.label)
            .field("token", &self.token)
            .finish()
    }
}

fn unusable(key: String, reason: impl Into<String>, ctx: &ErrorContext) -> Pkcs11Error {
    Pkcs11Error::new(Problem::KeyUnusable { key, reason: reason.into() }, ctx)
}

impl From<Pkcs11Error> for WalletError {
    fn from(e: Pkcs11Error) -> Self {
        let transient = e.is_transient();
        WalletError::Backend { source: Box::new(e), transient }
    }
}

impl Pkcs11Wallet {
    /// Opens the wallet key a PKCS#11 URI names by `id=` or `object=` (label), on the token
    /// the URI names (`module-path`, `token`/`serial`, `pin-source`).
    ///
    /// Fails with a [`Pkcs11ErrorKind::Config`] error if the URI names no key,
    /// [`KeyNotFound`](Pkcs11ErrorKind::KeyNotFound) / [`AmbiguousKey`](Pkcs11ErrorKind::AmbiguousKey)
    /// if not exactly one private key matches, and [`KeyUnusable`](Pkcs11ErrorKind::KeyUnusable)
    /// if the key is not a secp256k1 key with a public half.
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        Self::open_with(TokenConfig::from_uri(uri)?, uri)
    }

    /// Like [`open`](Self::open) with an explicit token configuration; only the key
    /// selector (`id=`, `object=`, `type=`) of `key` is used.
    pub fn open_with(config: TokenConfig, key: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        if let Some(t) = key.object_type {
            if t != ObjectType::Private && t != ObjectType::Public {
                return Err(Pkcs11Error::config(format!("the URI names a {t:?} object; a wallet is a key pair")));
            }
        }
        // With both id= and object=, the id selects and the label must match too (RFC 7512).
        let selector = match (&key.id, &key.object) {
            (Some(id), _) => KeySelector::Id(id.clone()),
            (None, Some(label)) => KeySelector::Label(label.clone()),
            (None, None) => {
                return Err(Pkcs11Error::config(
                    "the URI names no wallet key: add object=<label> or id=<%-encoded CKA_ID>",
                ))
            }
        };
        let label = key.id.as_ref().and(key.object.as_deref());
        let token = Pkcs11Token::open(config, &SECP256K1.required())?;
        let (id, label, verifying_key) =
            token.run("open wallet key", |session, ctx| load_key(&token, session, &selector, label, ctx))?;
        Ok(Self::from_parts(token, id, label, verifying_key))
    }

    /// Generates a secp256k1 key pair on the token the URI names (any `object`/`id` in it is
    /// ignored), with a random 16-byte `CKA_ID` and `CKA_LABEL` = `label`.
    ///
    /// The private key is a token object, private, sensitive, not extractable, sign-only (no
    /// derive) and unmodifiable where the token accepts that. Afterwards `CKA_LOCAL`,
    /// `CKA_ALWAYS_SENSITIVE`, `CKA_NEVER_EXTRACTABLE`, `CKA_SENSITIVE` and
    /// `CKA_EXTRACTABLE=false` must read back, or the pair is deleted and a
    /// [`KeyPolicy`](Pkcs11ErrorKind::KeyPolicy) error returned.
    ///
    /// A token that lists EC key generation but has no secp256k1 (Kryoptic 1.5.4) gives a
    /// [`CurveUnsupported`](Pkcs11ErrorKind::CurveUnsupported) error: only trying shows it.
    pub fn generate(uri: &Pkcs11Uri, label: &str) -> Result<(Self, KeyId), Pkcs11Error> {
        Self::generate_with(TokenConfig::from_uri(uri)?, label)
    }

    /// Like [`generate`](Self::generate) with an explicit token configuration.
    pub fn generate_with(config: TokenConfig, label: &str) -> Result<(Self, KeyId), Pkcs11Error> {
        let token = Pkcs11Token::open(config, &SECP256K1.required())?;
        let (id, verifying_key) = token.run("generate secp256k1 wallet key", |session, ctx| {
            SECP256K1.generate(&token, session, label, true, ctx)
        })?;
        let key_id = KeyId::from_bytes(id.clone());
        log::info!("generated secp256k1 wallet key id {key_id} label {label:?} on {}", token.error_context());
        Ok((Self::from_parts(token, id, label.to_string(), verifying_key), key_id))
    }

    fn from_parts(token: Pkcs11Token, id: Vec<u8>, label: String, verifying_key: VerifyingKey) -> Self {
        let address = EthAddress::from_verifying_key(&verifying_key);
        Self { token, id, label, verifying_key, address, signatures: AtomicU64::new(0), high_s: AtomicU64::new(0) }
    }

    /// The key's `CKA_ID`.
    pub fn key_id(&self) -> KeyId {
        KeyId::from_bytes(self.id.clone())
    }

    /// The key's `CKA_LABEL` (empty if it has none).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The public key (read from `CKA_EC_POINT` when the wallet was opened).
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// How many signatures the token made and how many of them were high-s.
    pub fn sign_stats(&self) -> WalletSignStats {
        WalletSignStats {
            signatures: self.signatures.load(Ordering::Relaxed),
            high_s: self.high_s.load(Ordering::Relaxed),
        }
    }

    /// Reads the private key's security attributes, so callers can check that the key never
    /// left the token. `CKA_VALUE` is requested too: it must not come back.
    pub fn key_attributes(&self) -> Result<KeyAttributes, Pkcs11Error> {
        self.token.run("read wallet key attributes", |session, ctx| {
            SECP256K1.key_attributes(&self.token, session, &self.id, ctx)
        })
    }

    /// Destroys the key pair on the token.
    pub fn delete(self) -> Result<(), Pkcs11Error> {
        self.token.run("delete wallet key", |session, ctx| SECP256K1.delete(&self.token, session, &self.id, ctx))
    }

    /// `CKM_ECDSA` on the token: the raw 64-byte `r‖s`.
    fn sign_raw(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Pkcs11Error> {
        self.token.run("wallet sign", |session, ctx| SECP256K1.sign(&self.token, session, &self.id, digest, ctx))
    }
}

impl WalletSigner for Pkcs11Wallet {
    fn address(&self) -> EthAddress {
        self.address
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<RecoverableSignature, WalletError> {
        let raw = self.sign_raw(digest)?;
        self.signatures.fetch_add(1, Ordering::Relaxed);
        let bad = || WalletError::BadSignature(self.address);
        // Raw r‖s only: a DER or otherwise sized answer is a token we do not understand.
        if raw.len() != 64 {
            return Err(bad());
        }
        let sig = Signature::from_slice(&raw).map_err(|_| bad())?;
        if sig.normalize_s().is_some() {
            self.high_s.fetch_add(1, Ordering::Relaxed);
        }
        RecoverableSignature::from_signature(sig, digest, &self.verifying_key).map_err(|_| bad())
    }
}

impl signature::hazmat::PrehashSigner<(Signature, RecoveryId)> for Pkcs11Wallet {
    fn sign_prehash(&self, prehash: &[u8]) -> Result<(Signature, RecoveryId), signature::Error> {
        let digest: &[u8; 32] = prehash.try_into().map_err(|_| signature::Error::new())?;
        let sig = self.sign_digest(digest).map_err(signature::Error::from_source)?;
        Ok((*sig.signature(), sig.recovery_id()))
    }
}

/// Finds the private key `selector` names (and labelled `also_label`, if given), checks it is a
/// secp256k1 key, and reads its `CKA_ID`, label and public key.
fn load_key(
    token: &Pkcs11Token,
    session: &Session,
    selector: &KeySelector,
    also_label: Option<&str>,
    ctx: &ErrorContext,
) -> Result<(Vec<u8>, String, VerifyingKey), Pkcs11Error> {
    let (mut template, ctx) = match selector {
        KeySelector::Id(id) => (vec![Attribute::Id(id.clone())], ctx.clone().with_key_id(id)),
        KeySelector::Label(l) => (vec![Attribute::Label(l.as_bytes().to_vec())], ctx.clone().with_key_label(l)),
    };
    if let Some(l) = also_label {
        template.push(Attribute::Label(l.as_bytes().to_vec()));
    }
    template.push(Attribute::Class(ObjectClass::PRIVATE_KEY));
    // No key type in the template: a key of the wrong type is reported as such, not as missing.
    let private = token.find_one(session, &template, selector, &ctx)?;
    let attrs =
        token.attributes(session, private, &[AttributeType::KeyType, AttributeType::Id, AttributeType::Label], &ctx)?;
    let (mut key_type, mut id, mut label) = (None, Vec::new(), String::new());
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
            _ => {}
        }
    }
    // The selector names the key in the message; the context need not repeat it.
    let name = selector.to_string();
    let base = ErrorContext { key: None, ..ctx.clone() };
    match key_type {
        Some(t) if t == SECP256K1.key_type => {}
        Some(t) => return Err(unusable(name, format!("it is a {t} key, not a secp256k1 (CKK_EC) wallet key"), &base)),
        None => return Err(unusable(name, "it has no CKA_KEY_TYPE", &base)),
    }
    if id.is_empty() {
        return Err(unusable(name, "it has no CKA_ID, so its public key cannot be found", &base));
    }
    let vk = SECP256K1.public_key(token, session, &id, &ctx).map_err(|e| match e.kind() {
        Pkcs11ErrorKind::KeyNotFound => unusable(
            hex::encode(&id),
            "it has no public-key object with the same CKA_ID",
            &ctx.clone().with_key_id(&id),
        ),
        _ => e,
    })?;
    Ok((id, label, vk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs11_errors_become_backend_errors() {
        let e: WalletError = Pkcs11Error::config("x").into();
        assert!(matches!(e, WalletError::Backend { transient: false, .. }));
        let e: WalletError = Pkcs11Error::from(Problem::Rng("x".into())).into();
        assert!(matches!(e, WalletError::Backend { transient: true, .. }));
    }
}
