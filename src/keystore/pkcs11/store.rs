//! The ed25519 session-key store on a PKCS#11 token.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::{OsRng, RngCore};

use super::attributes::{check_born_on_token, generate_protected_pair, read_key_attributes, KeyAttributes};
use super::ec_point::parse_edwards_point;
use super::error::{ErrorContext, KeySelector, Pkcs11Error};
use super::token::{Pkcs11Token, RecoveryStats, TokenConfig};
use super::uri::{ObjectType, Pkcs11Uri};
use crate::keystore::{KeyId, KeyInfo, KeyStoreError, SessionKeyStore};

/// `CKA_EC_PARAMS` for ed25519 as the DER PrintableString "edwards25519" (the PKCS#11 3.0
/// example; what YubiHSM and OpenSC use).
pub const EC_PARAMS_EDWARDS25519_NAME: &[u8] =
    &[0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9'];
/// `CKA_EC_PARAMS` for ed25519 as the DER OID 1.3.101.112 (RFC 8410), for tokens that refuse
/// the name.
pub const EC_PARAMS_ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// Length of the random `CKA_ID` of generated keys.
pub const KEY_ID_LEN: usize = 16;

/// Handle-cache tags (the `CKO_*` values).
const TAG_PUBLIC: u64 = 2;
const TAG_PRIVATE: u64 = 3;

/// The mechanisms the store needs, probed when it opens.
const REQUIRED: [(MechanismType, &str); 2] =
    [(MechanismType::EDDSA, "CKM_EDDSA"), (MechanismType::ECC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN")];

/// Options for [`Pkcs11KeyStore::generate_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyOptions {
    /// Create session objects (`CKA_TOKEN=false`) that vanish when the store is dropped,
    /// instead of token objects that persist.
    pub ephemeral: bool,
}

impl KeyOptions {
    /// Keys that vanish with the store.
    pub fn ephemeral() -> Self {
        Self { ephemeral: true }
    }
}

/// A [`SessionKeyStore`] whose ed25519 keys are generated on, and never leave, a PKCS#11
/// token (an HSM, SoftHSM2 in tests).
///
/// Every signature is made by the token with `CKM_EDDSA` (pure Ed25519, NULL parameters) and
/// verified locally with `verify_strict` before it is returned. Sessions come from a pool, so
/// the store can be shared by threads (`Arc<Pkcs11KeyStore>`, or `Box<dyn SessionKeyStore>`),
/// and lost logins, sessions and tokens are recovered from (see [`Pkcs11Token`]).
///
/// ```no_run
/// use lit_session_signer::keystore::pkcs11::{KeyOptions, Pkcs11KeyStore, Pkcs11Uri};
/// use lit_session_signer::keystore::SessionKeyStore;
///
/// let uri: Pkcs11Uri = "pkcs11:token=lit?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/lit/pin"
///     .parse()?;
/// let store = Pkcs11KeyStore::open(&uri)?;
/// let id = store.generate_with("session-1", KeyOptions::default())?;
/// let sig = store.sign(&id, b"hello")?;
/// store.public_key(&id)?.verify_strict(b"hello", &sig)?;
///
/// // Later, or in another process: find the key again by its label.
/// let again = store.resolve(&uri.with_object("session-1"))?;
/// assert_eq!(again, id);
/// let attrs = store.key_attributes(&id)?;
/// assert!(attrs.sensitive && attrs.never_extractable && !attrs.value_returned);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pkcs11KeyStore {
    token: Pkcs11Token,
    /// Public keys never change for a `CKA_ID`; caching them saves a token round trip per
    /// signature (the local verification needs the key).
    public_keys: RwLock<HashMap<Vec<u8>, VerifyingKey>>,
}

impl std::fmt::Debug for Pkcs11KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11KeyStore").field("token", &self.token).finish_non_exhaustive()
    }
}

fn private_template(id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC_EDWARDS),
        Attribute::Id(id.to_vec()),
    ]
}

fn public_template(id: &[u8]) -> Vec<Attribute> {
    vec![Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::KeyType(KeyType::EC_EDWARDS), Attribute::Id(id.to_vec())]
}

fn eddsa() -> Mechanism<'static> {
    // Pure Ed25519: NULL parameters. (SoftHSM ignores CK_EDDSA_PARAMS anyway, SoftHSM#619.)
    Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
}

fn key_ctx(ctx: &ErrorContext, id: &[u8]) -> ErrorContext {
    ctx.clone().with_key_id(id)
}

impl Pkcs11KeyStore {
    /// Opens the store named by a PKCS#11 URI (`module-path`, `token`/`serial`, `pin-source`;
    /// any `object`/`id` is ignored here, see [`resolve`](Self::resolve)).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        Self::open_with(TokenConfig::from_uri(uri)?)
    }

    /// Opens the store with an explicit configuration. Fails fast (no retries) on a wrong
    /// module path, token, PIN, or a token without `CKM_EDDSA` / `CKM_EC_EDWARDS_KEY_PAIR_GEN`.
    pub fn open_with(config: TokenConfig) -> Result<Self, Pkcs11Error> {
        Ok(Self { token: Pkcs11Token::open(config, &REQUIRED)?, public_keys: RwLock::new(HashMap::new()) })
    }

    /// The underlying token (context, slot, recovery statistics).
    pub fn token(&self) -> &Pkcs11Token {
        &self.token
    }

    /// Recovery steps taken so far.
    pub fn recovery_stats(&self) -> RecoveryStats {
        self.token.recovery_stats()
    }

    /// Generates an ed25519 key pair on the token with a random 16-byte `CKA_ID` and
    /// `CKA_LABEL` = `label`.
    ///
    /// The private key is created sensitive, not extractable, private, sign-only (no derive),
    /// and unmodifiable where the token accepts that. Afterwards `CKA_LOCAL`,
    /// `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` must read back true, or the pair is
    /// deleted and [`Pkcs11Error::KeyPolicy`] returned. Ephemeral keys are session objects on
    /// the store's anchor session and vanish when the store is dropped.
    pub fn generate_with(&self, label: &str, options: KeyOptions) -> Result<KeyId, Pkcs11Error> {
        let op = "generate ed25519 key";
        let gen = |session: &Session, ctx: &ErrorContext| {
            // A fresh id per attempt: a failed attempt may have left a pair behind.
            let mut id = vec![0u8; KEY_ID_LEN];
            OsRng.try_fill_bytes(&mut id).map_err(|e| Pkcs11Error::Rng(e.to_string()))?;
            let ctx = key_ctx(ctx, &id);
            let (public, private) = generate_pair(session, label, &id, options.ephemeral, &ctx)?;
            match self.check_new_pair(session, public, private, &id, &ctx) {
                Ok(vk) => Ok((id, vk)),
                Err(e) => {
                    // Best effort: the pair is unusable or unproven; do not leave it behind.
                    let _ = session.destroy_object(private);
                    let _ = session.destroy_object(public);
                    Err(e)
                }
            }
        };
        let (id, vk) = if options.ephemeral { self.token.run_on_anchor(op, gen)? } else { self.token.run(op, gen)? };
        log::info!(
            "generated {} ed25519 key id {} label {label:?} on {}",
            if options.ephemeral { "an ephemeral" } else { "a token" },
            hex::encode(&id),
            self.token.error_context()
        );
        self.public_keys.write().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), vk);
        Ok(KeyId::from_bytes(id))
    }

    /// Checks the security attributes of a new pair and reads its public key.
    fn check_new_pair(
        &self,
        session: &Session,
        public: ObjectHandle,
        private: ObjectHandle,
        id: &[u8],
        ctx: &ErrorContext,
    ) -> Result<VerifyingKey, Pkcs11Error> {
        check_born_on_token(&self.token, session, private, ctx)?;
        read_public_key(&self.token, session, public, id, ctx)
    }

    /// The `CKA_ID` of the one private ed25519 key labelled `label`.
    pub fn find_by_label(&self, label: &str) -> Result<KeyId, Pkcs11Error> {
        let selector = KeySelector::Label(label.to_string());
        self.token.run("find key by label", |session, ctx| {
            let ctx = ctx.clone().with_key_label(label);
            let template = [
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC_EDWARDS),
                Attribute::Label(label.as_bytes().to_vec()),
            ];
            let handle = self.token.find_one(session, &template, &selector, &ctx)?;
            let attrs = self.token.attributes(session, handle, &[AttributeType::Id], &ctx)?;
            match attrs.into_iter().find_map(|a| match a {
                Attribute::Id(id) if !id.is_empty() => Some(id),
                _ => None,
            }) {
                Some(id) => Ok(KeyId::from_bytes(id)),
                None => Err(Pkcs11Error::KeyUnusable {
                    key: format!("label {label:?}"),
                    reason: "it has no CKA_ID".to_string(),
                    context: Box::new(ctx),
                }),
            }
        })
    }

    /// The key a PKCS#11 URI names, by `id=` (checked to exist) or else `object=` (label).
    pub fn resolve(&self, uri: &Pkcs11Uri) -> Result<KeyId, Pkcs11Error> {
        if let Some(t) = uri.object_type {
            if t != ObjectType::Private && t != ObjectType::Public {
                return Err(Pkcs11Error::Config(format!(
                    "the URI names a {t:?} object; session keys are private/public keys"
                )));
            }
        }
        if let Some(id) = &uri.id {
            let id = KeyId::from_bytes(id.clone());
            self.verifying_key(&id)?;
            return Ok(id);
        }
        match &uri.object {
            Some(label) => self.find_by_label(label),
            None => Err(Pkcs11Error::Config(
                "the URI names no key: add object=<label> or id=<%-encoded CKA_ID>".to_string(),
            )),
        }
    }

    /// Reads the private key's security attributes, so callers (and tests) can check that the
    /// key never left the token. `CKA_VALUE` is requested too: it must not come back.
    pub fn key_attributes(&self, id: &KeyId) -> Result<KeyAttributes, Pkcs11Error> {
        let idb = id.as_bytes();
        self.token.run("read key attributes", |session, ctx| {
            let ctx = key_ctx(ctx, idb);
            let handle = self.token.find_one(session, &private_template(idb), &KeySelector::Id(idb.to_vec()), &ctx)?;
            read_key_attributes(&self.token, session, handle, &ctx)
        })
    }

    /// The public key of `id`, from the cache or the token's public-key object.
    fn verifying_key(&self, id: &KeyId) -> Result<VerifyingKey, Pkcs11Error> {
        if let Some(vk) = self.public_keys.read().unwrap_or_else(PoisonError::into_inner).get(id.as_bytes()) {
            return Ok(*vk);
        }
        let idb = id.as_bytes();
        let vk = self.token.run("read public key", |session, ctx| {
            let ctx = key_ctx(ctx, idb);
            let handle = self.token.find_one(session, &public_template(idb), &KeySelector::Id(idb.to_vec()), &ctx)?;
            read_public_key(&self.token, session, handle, idb, &ctx)
        })?;
        self.public_keys.write().unwrap_or_else(PoisonError::into_inner).insert(idb.to_vec(), vk);
        Ok(vk)
    }

    /// Signs on the token and verifies locally.
    fn sign_verified(&self, id: &KeyId, message: &[u8]) -> Result<Signature, Pkcs11Error> {
        let vk = self.verifying_key(id)?;
        let idb = id.as_bytes();
        let raw = self.token.run("sign", |session, ctx| {
            let ctx = key_ctx(ctx, idb);
            let handle = self.token.cached_handle(session, TAG_PRIVATE, idb, &private_template(idb), &ctx)?;
            session.sign(&eddsa(), handle, message).map_err(|e| Pkcs11Error::from_cryptoki("sign", e, &ctx))
        })?;
        let bad = || {
            let context = self.token.error_context().with_operation("sign").with_key_id(idb);
            log::error!("the token returned a signature that does not verify on {context}");
            Pkcs11Error::BadSignature { id: idb.to_vec(), context: Box::new(context) }
        };
        let sig = Signature::from_slice(&raw).map_err(|_| bad())?;
        if vk.verify_strict(message, &sig).is_ok() {
            return Ok(sig);
        }
        // The cached public key may be stale (key deleted and re-created with the same id
        // elsewhere): re-read it once before calling the signature bad.
        self.public_keys.write().unwrap_or_else(PoisonError::into_inner).remove(idb);
        let fresh = self.verifying_key(id)?;
        if fresh != vk && fresh.verify_strict(message, &sig).is_ok() {
            return Ok(sig);
        }
        Err(bad())
    }

    fn delete_key(&self, id: &KeyId) -> Result<(), Pkcs11Error> {
        let idb = id.as_bytes();
        self.token.run("delete key", |session, ctx| {
            let ctx = key_ctx(ctx, idb);
            let private = self.token.find_one(session, &private_template(idb), &KeySelector::Id(idb.to_vec()), &ctx)?;
            let publics = self.token.find_all(session, &public_template(idb), &ctx)?;
            session.destroy_object(private).map_err(|e| Pkcs11Error::from_cryptoki("delete private key", e, &ctx))?;
            for p in publics {
                session.destroy_object(p).map_err(|e| Pkcs11Error::from_cryptoki("delete public key", e, &ctx))?;
            }
            Ok(())
        })?;
        self.token.forget_handle(TAG_PRIVATE, idb);
        self.token.forget_handle(TAG_PUBLIC, idb);
        self.public_keys.write().unwrap_or_else(PoisonError::into_inner).remove(idb);
        Ok(())
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>, Pkcs11Error> {
        self.token.run("list keys", |session, ctx| {
            let privates = self.token.find_all_logged_in(
                session,
                &[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::KeyType(KeyType::EC_EDWARDS)],
                ctx,
            )?;
            let mut out = Vec::with_capacity(privates.len());
            for handle in privates {
                let attrs = self.token.attributes(session, handle, &[AttributeType::Id, AttributeType::Label], ctx)?;
                let mut id = Vec::new();
                let mut label = String::new();
                for a in attrs {
                    match a {
                        Attribute::Id(v) => id = v,
                        Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                        _ => {}
                    }
                }
                if id.is_empty() {
                    continue; // not addressable by id, so not one of ours
                }
                let kctx = key_ctx(ctx, &id);
                // Keys without exactly one readable public half are left out of the list.
                let publics = self.token.find_all(session, &public_template(&id), &kctx)?;
                let [public] = publics.as_slice() else {
                    continue;
                };
                let Ok(public_key) = read_public_key(&self.token, session, *public, &id, &kctx) else {
                    continue;
                };
                out.push(KeyInfo { id: KeyId::from_bytes(id), label, public_key });
            }
            Ok(out)
        })
    }
}

/// `C_GenerateKeyPair` for ed25519, trying the curve name then the OID, with and without
/// `CKA_MODIFIABLE=false`, while the token refuses the template.
fn generate_pair(
    session: &Session,
    label: &str,
    id: &[u8],
    ephemeral: bool,
    ctx: &ErrorContext,
) -> Result<(ObjectHandle, ObjectHandle), Pkcs11Error> {
    let public = |params: &[u8]| {
        vec![
            Attribute::Token(!ephemeral),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ]
    };
    let variants = [public(EC_PARAMS_EDWARDS25519_NAME), public(EC_PARAMS_ED25519_OID)];
    generate_protected_pair(session, &Mechanism::EccEdwardsKeyPairGen, &variants, label, id, !ephemeral, ctx)
}

/// Reads and parses `CKA_EC_POINT` of a public-key object.
fn read_public_key(
    token: &Pkcs11Token,
    session: &Session,
    public: ObjectHandle,
    id: &[u8],
    ctx: &ErrorContext,
) -> Result<VerifyingKey, Pkcs11Error> {
    let attrs = token.attributes(session, public, &[AttributeType::EcPoint], ctx)?;
    let point = attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(|| Pkcs11Error::KeyUnusable {
            key: hex::encode(id),
            reason: "its public key has no CKA_EC_POINT".to_string(),
            context: Box::new(ctx.clone()),
        })?;
    let bytes = parse_edwards_point(&point).map_err(|source| Pkcs11Error::EcPoint {
        key: hex::encode(id),
        source,
        context: Box::new(ctx.clone()),
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| Pkcs11Error::KeyUnusable {
        key: hex::encode(id),
        reason: format!("CKA_EC_POINT is not a valid ed25519 point: {e}"),
        context: Box::new(ctx.clone()),
    })
}

impl SessionKeyStore for Pkcs11KeyStore {
    fn generate(&self, label: &str) -> Result<KeyId, KeyStoreError> {
        Ok(self.generate_with(label, KeyOptions::default())?)
    }

    fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, KeyStoreError> {
        Ok(self.verifying_key(id)?)
    }

    fn sign(&self, id: &KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
        Ok(self.sign_verified(id, message)?)
    }

    /// Spreads the messages over the session pool with scoped threads (in contiguous chunks,
    /// so order is kept), when the pool has more than one session and there is more than
    /// one message.
    fn sign_many(&self, id: &KeyId, messages: &[&[u8]]) -> Result<Vec<Signature>, KeyStoreError> {
        let workers = self.token.pool_capacity().min(messages.len());
        if workers <= 1 {
            return messages.iter().map(|m| self.sign(id, m)).collect();
        }
        // Fill the caches once, so workers do not all look the key up at the same time.
        self.verifying_key(id)?;
        let chunk = messages.len().div_ceil(workers);
        let results: Vec<Result<Vec<Signature>, Pkcs11Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = messages
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().map(|m| self.sign_verified(id, m)).collect::<Result<Vec<_>, _>>())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(Err(Pkcs11Error::WorkerPanicked))).collect()
        });
        let mut out = Vec::with_capacity(messages.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        Ok(self.delete_key(id)?)
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        Ok(self.list_keys()?)
    }
}
