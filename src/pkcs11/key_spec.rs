//! How one kind of key pair is generated, found, read and used on a token, as data.
//!
//! A [`KeySpec`] holds what differs between curves: the key type, the `CKA_EC_PARAMS` forms to
//! try, the key-generation and signature mechanisms, the length of the public point and how to
//! turn it into a key. Everything else (the protected templates, the check that a new key was
//! born on the token, the handle cache, deletion) is written once here. The adapters (the
//! ed25519 session-key store, the secp256k1 wallet) pass [`ED25519`] or [`SECP256K1`]; adding
//! a curve (P-256, say) is a new constant.

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;
use rand_core::{OsRng, RngCore};

use super::attributes::{check_born_on_token, generate_protected_pair, read_key_attributes, KeyAttributes};
use super::ec_point::parse_ec_point;
use super::error::{ErrorContext, KeySelector, Pkcs11Error, Problem};
use super::token::{KeyHalf, Pkcs11Token};

/// Length of the random `CKA_ID` of generated keys.
pub(crate) const KEY_ID_LEN: usize = 16;

/// `CKA_EC_PARAMS` for ed25519 as the DER PrintableString "edwards25519" (the PKCS#11 3.0
/// example; what YubiHSM and OpenSC use).
const EC_PARAMS_EDWARDS25519_NAME: &[u8] =
    &[0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9'];
/// `CKA_EC_PARAMS` for ed25519 as the DER OID 1.3.101.112 (RFC 8410), for tokens that refuse
/// the name.
const EC_PARAMS_ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// `CKA_EC_PARAMS` for secp256k1: the DER OID 1.3.132.0.10.
const EC_PARAMS_SECP256K1_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// One kind of key pair on a token; `K` is its public key.
pub(crate) struct KeySpec<K> {
    /// `CKA_KEY_TYPE` of both halves.
    pub(crate) key_type: KeyType,
    /// The curve, as messages name it.
    curve: &'static str,
    /// `CKA_EC_PARAMS` forms for generation, tried in order while the token refuses them.
    ec_params: &'static [&'static [u8]],
    /// Whether a public key's `CKA_EC_PARAMS`, when the token returns it, must be one of
    /// `ec_params`.
    check_ec_params: bool,
    /// `C_GenerateKeyPair` mechanism.
    keygen: fn() -> Mechanism<'static>,
    /// `C_Sign` mechanism.
    sign: fn() -> Mechanism<'static>,
    /// Length of the point in `CKA_EC_POINT`.
    point_len: usize,
    /// The public key from its point; the error says why the key is unusable.
    decode: fn(&[u8]) -> Result<K, String>,
}

/// Ed25519 session keys: `CKK_EC_EDWARDS`, `CKM_EC_EDWARDS_KEY_PAIR_GEN`, pure `CKM_EDDSA`.
pub(crate) static ED25519: KeySpec<ed25519_dalek::VerifyingKey> = KeySpec {
    key_type: KeyType::EC_EDWARDS,
    curve: "ed25519",
    ec_params: &[EC_PARAMS_EDWARDS25519_NAME, EC_PARAMS_ED25519_OID],
    // Keys made by other tools carry forms we do not generate (pkcs11-tool writes the GnuPG OID
    // 1.3.6.1.4.1.11591.15.1), and the 32-byte point already rules out Ed448.
    check_ec_params: false,
    keygen: || Mechanism::EccEdwardsKeyPairGen,
    // Pure Ed25519: NULL parameters. (SoftHSM ignores CK_EDDSA_PARAMS anyway, SoftHSM#619.)
    sign: || Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
    point_len: 32,
    decode: |point| {
        let bytes = point.try_into().map_err(|_| "CKA_EC_POINT is not 32 bytes".to_string())?;
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|e| format!("CKA_EC_POINT is not a valid ed25519 point: {e}"))
    },
};

/// secp256k1 wallet keys: `CKK_EC`, `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA` over a 32-byte digest
/// (raw `r‖s`).
pub(crate) static SECP256K1: KeySpec<k256::ecdsa::VerifyingKey> = KeySpec {
    key_type: KeyType::EC,
    curve: "secp256k1",
    ec_params: &[EC_PARAMS_SECP256K1_OID],
    check_ec_params: true,
    keygen: || Mechanism::EccKeyPairGen,
    sign: || Mechanism::Ecdsa,
    // Uncompressed SEC1: 04 ‖ X ‖ Y.
    point_len: 65,
    decode: |point| {
        k256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map_err(|_| "CKA_EC_POINT is not a valid uncompressed secp256k1 point".to_string())
    },
};

impl<K> KeySpec<K> {
    /// The mechanisms a token must offer: signature, then key-pair generation.
    pub(crate) fn required(&self) -> [MechanismType; 2] {
        [(self.sign)().mechanism_type(), (self.keygen)().mechanism_type()]
    }

    /// A search for every `half` of this kind: class and key type.
    pub(crate) fn all(&self, half: KeyHalf) -> Vec<Attribute> {
        vec![Attribute::Class(half.class()), Attribute::KeyType(self.key_type)]
    }

    /// A search for `half` of key pair `id`: class, key type and `CKA_ID`.
    pub(crate) fn template(&self, half: KeyHalf, id: &[u8]) -> Vec<Attribute> {
        let mut template = self.all(half);
        template.push(Attribute::Id(id.to_vec()));
        template
    }

    /// The one object that is `half` of pair `id` (`KeyNotFound` / `AmbiguousKey` otherwise).
    fn find(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        half: KeyHalf,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<ObjectHandle, Pkcs11Error> {
        token.find_one(session, &self.template(half, id), &KeySelector::Id(id.to_vec()), ctx)
    }

    /// Generates a key pair with a random `CKA_ID` and `CKA_LABEL` = `label`: token objects,
    /// or session objects on `session` if `!token_object`.
    ///
    /// The private key is sensitive, not extractable, private, sign-only (no derive), and
    /// unmodifiable where the token accepts that. Afterwards `CKA_LOCAL`,
    /// `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` must read back true
    /// ([`KeyAttributes::violations`]) and the public key must read; otherwise the pair is
    /// deleted and the error returned (`KeyPolicy` for the attributes).
    pub(crate) fn generate(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        label: &str,
        token_object: bool,
        ctx: &ErrorContext,
    ) -> Result<(Vec<u8>, K), Pkcs11Error> {
        // A fresh id per attempt: a failed attempt may have left a pair behind.
        let mut id = vec![0u8; KEY_ID_LEN];
        OsRng.try_fill_bytes(&mut id).map_err(|e| Pkcs11Error::from(Problem::Rng(e.to_string())))?;
        let ctx = ctx.clone().with_key_id(&id);
        let (public, private) = self.generate_pair(session, label, &id, token_object, &ctx)?;
        let checked = check_born_on_token(token, session, private, &ctx)
            .and_then(|()| self.read_public_key(token, session, public, &id, &ctx));
        match checked {
            Ok(key) => Ok((id, key)),
            Err(e) => {
                // Best effort: the pair is unusable or unproven; do not leave it behind.
                let _ = session.destroy_object(private);
                let _ = session.destroy_object(public);
                Err(e)
            }
        }
    }

    /// `C_GenerateKeyPair`, trying each `CKA_EC_PARAMS` form with and without
    /// `CKA_MODIFIABLE=false` while the token refuses the template.
    fn generate_pair(
        &self,
        session: &Session,
        label: &str,
        id: &[u8],
        token_object: bool,
        ctx: &ErrorContext,
    ) -> Result<(ObjectHandle, ObjectHandle), Pkcs11Error> {
        let public_variants: Vec<Vec<Attribute>> = self
            .ec_params
            .iter()
            .map(|params| {
                vec![
                    Attribute::Token(token_object),
                    Attribute::Private(false),
                    Attribute::Verify(true),
                    Attribute::EcParams(params.to_vec()),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(id.to_vec()),
                ]
            })
            .collect();
        generate_protected_pair(session, &(self.keygen)(), &public_variants, label, id, token_object, self.curve, ctx)
    }

    /// Reads the public key of public-key object `public` (of pair `id`): `CKA_EC_POINT` in
    /// any encoding tokens use, and `CKA_EC_PARAMS` where this kind checks the curve.
    pub(crate) fn read_public_key(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        public: ObjectHandle,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<K, Pkcs11Error> {
        let types: &[AttributeType] = if self.check_ec_params {
            &[AttributeType::EcParams, AttributeType::EcPoint]
        } else {
            &[AttributeType::EcPoint]
        };
        let (mut params, mut point) = (None, None);
        for a in token.attributes(session, public, types, ctx)? {
            match a {
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        let key = hex::encode(id);
        let unusable = |reason: String| Pkcs11Error::new(Problem::KeyUnusable { key: key.clone(), reason }, ctx);
        if let Some(p) = params.filter(|p| !self.ec_params.contains(&p.as_slice())) {
            return Err(unusable(format!("its curve (CKA_EC_PARAMS {}) is not {}", hex::encode(p), self.curve)));
        }
        let point = point.ok_or_else(|| unusable("its public key has no CKA_EC_POINT".to_string()))?;
        let (bytes, _) = parse_ec_point(&point, self.point_len)
            .map_err(|source| Pkcs11Error::new(Problem::EcPoint { key: key.clone(), source }, ctx))?;
        (self.decode)(bytes).map_err(unusable)
    }

    /// The public key of pair `id`, from its public-key object.
    pub(crate) fn public_key(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<K, Pkcs11Error> {
        let ctx = ctx.clone().with_key_id(id);
        let public = self.find(token, session, KeyHalf::Public, id, &ctx)?;
        self.read_public_key(token, session, public, id, &ctx)
    }

    /// Signs `data` with the private key of pair `id` (its handle cached).
    pub(crate) fn sign(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        id: &[u8],
        data: &[u8],
        ctx: &ErrorContext,
    ) -> Result<Vec<u8>, Pkcs11Error> {
        let ctx = ctx.clone().with_key_id(id);
        let private = self.private_handle(token, session, id, &ctx)?;
        token.sign(session, &self.mechanism(), private, data, &ctx)
    }

    /// The handle of the private key of pair `id` (cached), for signing many messages with
    /// [`Pkcs11Token::sign`] and [`Self::mechanism`] without a look-up each. The template is
    /// built only on a cache miss.
    pub(crate) fn private_handle(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<ObjectHandle, Pkcs11Error> {
        match token.handle_if_cached(KeyHalf::Private, id) {
            Some(h) => Ok(h),
            None => token.cached_handle(session, KeyHalf::Private, id, &self.template(KeyHalf::Private, id), ctx),
        }
    }

    /// The `C_Sign` mechanism.
    pub(crate) fn mechanism(&self) -> Mechanism<'static> {
        (self.sign)()
    }

    /// The security attributes of the private key of pair `id`. `CKA_VALUE` is requested too:
    /// it must not come back.
    pub(crate) fn key_attributes(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<KeyAttributes, Pkcs11Error> {
        let ctx = ctx.clone().with_key_id(id);
        let private = self.find(token, session, KeyHalf::Private, id, &ctx)?;
        read_key_attributes(token, session, private, &ctx)
    }

    /// Destroys the private key of pair `id` (exactly one must exist) and every public key
    /// with its `CKA_ID`.
    pub(crate) fn delete(
        &self,
        token: &Pkcs11Token,
        session: &Session,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<(), Pkcs11Error> {
        let ctx = ctx.clone().with_key_id(id);
        let private = self.find(token, session, KeyHalf::Private, id, &ctx)?;
        let publics = token.find_all(session, &self.template(KeyHalf::Public, id), &ctx)?;
        session.destroy_object(private).map_err(|e| Pkcs11Error::from_cryptoki("delete private key", e, &ctx))?;
        token.forget_handle(KeyHalf::Private, id);
        for public in publics {
            session.destroy_object(public).map_err(|e| Pkcs11Error::from_cryptoki("delete public key", e, &ctx))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_params_are_the_curves_oids_and_name() {
        assert_eq!(hex::encode(EC_PARAMS_SECP256K1_OID), "06052b8104000a");
        assert_eq!(hex::encode(EC_PARAMS_ED25519_OID), "06032b6570");
        assert_eq!(&EC_PARAMS_EDWARDS25519_NAME[2..], b"edwards25519");
    }

    #[test]
    fn required_mechanisms_are_signature_then_key_generation() {
        assert_eq!(ED25519.required(), [MechanismType::EDDSA, MechanismType::ECC_EDWARDS_KEY_PAIR_GEN]);
        assert_eq!(SECP256K1.required(), [MechanismType::ECDSA, MechanismType::ECC_KEY_PAIR_GEN]);
    }

    #[test]
    fn decoding_checks_the_point() {
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!((ED25519.decode)(ed.as_bytes()), Ok(ed));
        assert!((ED25519.decode)(&[0u8; 31]).is_err());
        let k = k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let point = k.verifying_key().to_encoded_point(false);
        assert_eq!((SECP256K1.decode)(point.as_bytes()).ok().as_ref(), Some(k.verifying_key()));
        assert!((SECP256K1.decode)(&[4u8; 65]).is_err());
    }
}
