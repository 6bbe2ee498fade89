//! A secp256k1 wallet key generated on, and never leaving, a PKCS#11 token.
//!
//! The token only ever sees the 32-byte digest (`CKM_ECDSA`, raw `r‖s`); low-s normalisation
//! and the recovery id (by trial recovery against the cached public key) happen on the host.
//! Sessions, login and recovery come from [`Pkcs11Token`], shared with the ed25519 store.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use rand_core::{OsRng, RngCore};

use super::{WalletError, WalletSigner};
use crate::eth::{EthAddress, RecoverableSignature};
use crate::keystore::pkcs11::ec_point::parse_ec_point;
use crate::keystore::pkcs11::store::KEY_ID_LEN;
use crate::keystore::pkcs11::{
    check_born_on_token, generate_protected_pair, read_key_attributes, ErrorContext, KeyAttributes, KeySelector,
    ObjectType, Pkcs11Error, Pkcs11Token, Pkcs11Uri, TokenConfig,
};
use crate::keystore::KeyId;

/// `CKA_EC_PARAMS` for secp256k1: the DER OID 1.3.132.0.10.
pub const EC_PARAMS_SECP256K1_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// Length of an uncompressed SEC1 point (`04 ‖ X ‖ Y`).
const UNCOMPRESSED_POINT_LEN: usize = 65;

/// Handle-cache tag of private keys (`CKO_PRIVATE_KEY`).
const TAG_PRIVATE: u64 = 3;

/// The mechanisms the wallet needs, probed when the token is opened.
const REQUIRED: [(MechanismType, &str); 2] =
    [(MechanismType::ECDSA, "CKM_ECDSA"), (MechanismType::ECC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN")];

/// Counters of the signatures the token returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalletSignStats {
    /// Signatures returned by the token.
    pub signatures: u64,
    /// How many of them were high-s and were normalised to low-s on the host.
    pub high_s: u64,
}

/// A [`WalletSigner`] whose secp256k1 key lives on a PKCS#11 token (an HSM; SoftHSM2 in tests).
///
/// The public key and address are read once when the wallet is opened; every signature is a
/// `CKM_ECDSA` over the 32-byte digest, normalised to low-s and given the recovery id that
/// recovers the cached key (a signature that recovers to no key is refused).
///
/// ```no_run
/// use lit_session_signer::keystore::pkcs11::Pkcs11Uri;
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

fn private_template(id: &[u8]) -> Vec<Attribute> {
    vec![Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::KeyType(KeyType::EC), Attribute::Id(id.to_vec())]
}

fn public_template(id: &[u8]) -> Vec<Attribute> {
    vec![Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::KeyType(KeyType::EC), Attribute::Id(id.to_vec())]
}

fn key_ctx(ctx: &ErrorContext, id: &[u8]) -> ErrorContext {
    ctx.clone().with_key_id(id)
}

fn unusable(key: String, reason: impl Into<String>, ctx: &ErrorContext) -> Pkcs11Error {
    Pkcs11Error::KeyUnusable { key, reason: reason.into(), context: Box::new(ctx.clone()) }
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
    /// Fails with [`Pkcs11Error::Config`] if the URI names no key, [`Pkcs11Error::KeyNotFound`]
    /// / [`Pkcs11Error::AmbiguousKey`] if not exactly one private key matches, and
    /// [`Pkcs11Error::KeyUnusable`] if the key is not a secp256k1 key with a public half.
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        Self::open_with(TokenConfig::from_uri(uri)?, uri)
    }

    /// Like [`open`](Self::open) with an explicit token configuration; only the key
    /// selector (`id=`, `object=`, `type=`) of `key` is used.
    pub fn open_with(config: TokenConfig, key: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        if let Some(t) = key.object_type {
            if t != ObjectType::Private && t != ObjectType::Public {
                return Err(Pkcs11Error::Config(format!("the URI names a {t:?} object; a wallet is a key pair")));
            }
        }
        // With both id= and object=, the id selects and the label must match too (RFC 7512).
        let selector = match (&key.id, &key.object) {
            (Some(id), _) => KeySelector::Id(id.clone()),
            (None, Some(label)) => KeySelector::Label(label.clone()),
            (None, None) => {
                return Err(Pkcs11Error::Config(
                    "the URI names no wallet key: add object=<label> or id=<%-encoded CKA_ID>".to_string(),
                ))
            }
        };
        let label = key.id.as_ref().and(key.object.as_deref());
        let token = Pkcs11Token::open(config, &REQUIRED)?;
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
    /// `CKA_EXTRACTABLE=false` must read back, or the pair is deleted and
    /// [`Pkcs11Error::KeyPolicy`] returned.
    pub fn generate(uri: &Pkcs11Uri, label: &str) -> Result<(Self, KeyId), Pkcs11Error> {
        Self::generate_with(TokenConfig::from_uri(uri)?, label)
    }

    /// Like [`generate`](Self::generate) with an explicit token configuration.
    pub fn generate_with(config: TokenConfig, label: &str) -> Result<(Self, KeyId), Pkcs11Error> {
        let token = Pkcs11Token::open(config, &REQUIRED)?;
        let (id, verifying_key) = token.run("generate secp256k1 wallet key", |session, ctx| {
            // A fresh id per attempt: a failed attempt may have left a pair behind.
            let mut id = vec![0u8; KEY_ID_LEN];
            OsRng.try_fill_bytes(&mut id).map_err(|e| Pkcs11Error::Rng(e.to_string()))?;
            let ctx = key_ctx(ctx, &id);
            let (public, private) = generate_pair(session, label, &id, &ctx)?;
            let checked = check_born_on_token(&token, session, private, &ctx)
                .and_then(|()| read_public_key(&token, session, public, &hex::encode(&id), &ctx));
            match checked {
                Ok(vk) => Ok((id, vk)),
                Err(e) => {
                    // Best effort: the pair is unusable or unproven; do not leave it behind.
                    let _ = session.destroy_object(private);
                    let _ = session.destroy_object(public);
                    Err(e)
                }
            }
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

    /// The underlying token (context, slot, recovery statistics).
    pub fn token(&self) -> &Pkcs11Token {
        &self.token
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
        let id = &self.id;
        self.token.run("read wallet key attributes", |session, ctx| {
            let ctx = key_ctx(ctx, id);
            let handle = self.token.find_one(session, &private_template(id), &KeySelector::Id(id.clone()), &ctx)?;
            read_key_attributes(&self.token, session, handle, &ctx)
        })
    }

    /// Destroys the key pair on the token.
    pub fn delete(self) -> Result<(), Pkcs11Error> {
        let id = &self.id;
        self.token.run("delete wallet key", |session, ctx| {
            let ctx = key_ctx(ctx, id);
            let private = self.token.find_one(session, &private_template(id), &KeySelector::Id(id.clone()), &ctx)?;
            let publics = self.token.find_all(session, &public_template(id), &ctx)?;
            session.destroy_object(private).map_err(|e| Pkcs11Error::from_cryptoki("delete private key", e, &ctx))?;
            for p in publics {
                session.destroy_object(p).map_err(|e| Pkcs11Error::from_cryptoki("delete public key", e, &ctx))?;
            }
            Ok(())
        })?;
        self.token.forget_handle(TAG_PRIVATE, id);
        Ok(())
    }

    /// `CKM_ECDSA` on the token: the raw 64-byte `r‖s`.
    fn sign_raw(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Pkcs11Error> {
        let id = &self.id;
        self.token.run("wallet sign", |session, ctx| {
            let ctx = key_ctx(ctx, id);
            let handle = self.token.cached_handle(session, TAG_PRIVATE, id, &private_template(id), &ctx)?;
            session.sign(&Mechanism::Ecdsa, handle, digest).map_err(|e| Pkcs11Error::from_cryptoki("sign", e, &ctx))
        })
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
        KeySelector::Id(id) => (vec![Attribute::Id(id.clone())], key_ctx(ctx, id)),
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
        Some(t) if t == KeyType::EC => {}
        Some(t) => return Err(unusable(name, format!("it is a {t} key, not a secp256k1 (CKK_EC) wallet key"), &base)),
        None => return Err(unusable(name, "it has no CKA_KEY_TYPE", &base)),
    }
    if id.is_empty() {
        return Err(unusable(name, "it has no CKA_ID, so its public key cannot be found", &base));
    }
    let ctx = key_ctx(&ctx, &id);
    let public =
        token.find_one(session, &public_template(&id), &KeySelector::Id(id.clone()), &ctx).map_err(|e| match e {
            Pkcs11Error::KeyNotFound { .. } => {
                unusable(hex::encode(&id), "it has no public-key object with the same CKA_ID", &ctx)
            }
            other => other,
        })?;
    let vk = read_public_key(token, session, public, &hex::encode(&id), &ctx)?;
    Ok((id, label, vk))
}

/// `C_GenerateKeyPair` for secp256k1, with and then without `CKA_MODIFIABLE=false`.
fn generate_pair(
    session: &Session,
    label: &str,
    id: &[u8],
    ctx: &ErrorContext,
) -> Result<(ObjectHandle, ObjectHandle), Pkcs11Error> {
    let public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(EC_PARAMS_SECP256K1_OID.to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    generate_protected_pair(session, &Mechanism::EccKeyPairGen, &[public], label, id, true, ctx)
}

/// Reads `CKA_EC_PARAMS` (must be secp256k1 when present) and `CKA_EC_POINT` (a DER OCTET
/// STRING or the raw 65-byte uncompressed point) of a public-key object.
fn read_public_key(
    token: &Pkcs11Token,
    session: &Session,
    public: ObjectHandle,
    key: &str,
    ctx: &ErrorContext,
) -> Result<VerifyingKey, Pkcs11Error> {
    let attrs = token.attributes(session, public, &[AttributeType::EcParams, AttributeType::EcPoint], ctx)?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    if let Some(p) = params {
        if p != EC_PARAMS_SECP256K1_OID {
            return Err(unusable(
                key.to_string(),
                format!("its curve (CKA_EC_PARAMS {}) is not secp256k1", hex::encode(&p)),
                ctx,
            ));
        }
    }
    let point = point.ok_or_else(|| unusable(key.to_string(), "its public key has no CKA_EC_POINT", ctx))?;
    let (bytes, _) = parse_ec_point(&point, UNCOMPRESSED_POINT_LEN).map_err(|source| Pkcs11Error::EcPoint {
        key: key.to_string(),
        source,
        context: Box::new(ctx.clone()),
    })?;
    VerifyingKey::from_sec1_bytes(bytes)
        .map_err(|_| unusable(key.to_string(), "CKA_EC_POINT is not a valid uncompressed secp256k1 point", ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secp256k1_oid_is_1_3_132_0_10() {
        assert_eq!(hex::encode(EC_PARAMS_SECP256K1_OID), "06052b8104000a");
    }

    #[test]
    fn pkcs11_errors_become_backend_errors() {
        let e: WalletError = Pkcs11Error::Config("x".into()).into();
        assert!(matches!(e, WalletError::Backend { transient: false, .. }));
        let e: WalletError = Pkcs11Error::Rng("x".into()).into();
        assert!(matches!(e, WalletError::Backend { transient: true, .. }));
    }
}
