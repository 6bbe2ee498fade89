//! The ed25519 session-key store on a PKCS#11 token: an adapter over [`crate::pkcs11`], which
//! does the token work for the [`ED25519`] key spec.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::Session;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::ed25519::StrictKey;
use crate::keystore::{Detail, KeyId, KeyInfo, KeyStoreError, SessionKeyStore};
use crate::pkcs11::error::Problem;
use crate::pkcs11::key_spec::ED25519;
use crate::pkcs11::signing_plan::SigningPlans;
use crate::pkcs11::token::{KeyHalf, Pkcs11Token};
use crate::pkcs11::workers::Workers;
use crate::pkcs11::{
    ErrorContext, KeyAttributes, KeySelector, ObjectType, Pkcs11Error, Pkcs11Uri, RecoveryStats, TokenConfig,
};

mod check;

use check::{Check, Made};

/// Options for [`Pkcs11KeyStore::generate_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyOptions {
    /// Create session objects (`CKA_TOKEN=false`) that vanish when the store is dropped,
    /// instead of token objects that persist. They also vanish when anything in the process
    /// logs the application out (`C_Logout` destroys private session objects; SoftHSM2 and
    /// Kryoptic both do).
    pub ephemeral: bool,
}

impl KeyOptions {
    /// Keys that vanish with the store.
    pub fn ephemeral() -> Self {
        Self { ephemeral: true }
    }
}

/// A [`SessionKeyStore`] whose ed25519 keys are generated on, and never leave, a PKCS#11
/// token (an HSM; SoftHSM2 and Kryoptic in tests).
///
/// Every signature is made by the token with `CKM_EDDSA` (pure Ed25519, NULL parameters) and
/// verified locally, as strictly as `verify_strict`, before it is returned: the signatures of one
/// [`sign_many`](SessionKeyStore::sign_many) call in batches while the token signs the rest
/// ([`crate::ed25519::verify_strict_all`]), one by one only to name a bad one. Sessions come from
/// a pool, so the store can be shared by threads (`Arc<Pkcs11KeyStore>`, or
/// `Box<dyn SessionKeyStore>`), and lost logins, sessions and tokens are recovered from (see
/// [`crate::pkcs11`]).
///
/// ```no_run
/// use lit_session_signer::keystore::{KeyOptions, Pkcs11KeyStore, SessionKeyStore};
/// use lit_session_signer::pkcs11::Pkcs11Uri;
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
/// assert!(attrs.violations().is_empty() && !attrs.value_returned);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pkcs11KeyStore {
    // Declared first so it is dropped first: its threads are joined, and no job still holds
    // `shared`, before the token (and its ephemeral keys) go away with `shared`.
    /// One thread per pooled session, shared by every `sign_many` call on this store.
    workers: Workers,
    /// How `sign_many` calls sign, from what each way has cost so far.
    plans: SigningPlans,
    /// Whether a worker thread checks signatures while the caller signs alone (there is a
    /// core for it).
    check_beside: bool,
    shared: Arc<Shared>,
}

/// What the store's worker threads use too.
struct Shared {
    token: Pkcs11Token,
    /// Public keys never change for a `CKA_ID`; caching them (with their batch checks done)
    /// saves a token round trip and a scalar multiplication per call (the local verification
    /// needs the key).
    public_keys: RwLock<HashMap<Vec<u8>, StrictKey>>,
}

impl std::fmt::Debug for Pkcs11KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11KeyStore").field("token", &self.shared.token).finish_non_exhaustive()
    }
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
        let token = Pkcs11Token::open(config, &ED25519.required())?;
        let pool = token.pool_capacity();
        let workers = Workers::new(pool, "lit-pkcs11-sign");
        // More signing threads than cores only make the module's threads take turns.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let plans = SigningPlans::new(pool.min(cpus));
        let shared = Arc::new(Shared { token, public_keys: RwLock::new(HashMap::new()) });
        Ok(Self { workers, plans, check_beside: cpus > 1, shared })
    }

    /// The underlying token (for `internal::pkcs11`).
    pub(crate) fn token(&self) -> &Pkcs11Token {
        &self.shared.token
    }

    /// Recovery steps taken so far.
    pub fn recovery_stats(&self) -> RecoveryStats {
        self.shared.token.recovery_stats()
    }

    /// Generates an ed25519 key pair on the token with a random 16-byte `CKA_ID` and
    /// `CKA_LABEL` = `label`.
    ///
    /// The private key is created sensitive, not extractable, private, sign-only (no derive),
    /// and unmodifiable where the token accepts that. Afterwards `CKA_LOCAL`,
    /// `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` must read back true, or the pair is
    /// deleted and a [`KeyPolicy`](crate::pkcs11::Pkcs11ErrorKind::KeyPolicy) error returned.
    /// Ephemeral keys are session objects on the store's anchor session and vanish when the
    /// store is dropped.
    pub fn generate_with(&self, label: &str, options: KeyOptions) -> Result<KeyId, Pkcs11Error> {
        let op = "generate ed25519 key";
        let generate = |session: &Session, ctx: &ErrorContext| {
            ED25519.generate(&self.shared.token, session, label, !options.ephemeral, ctx)
        };
        let (id, vk) = if options.ephemeral {
            self.shared.token.run_on_anchor(op, generate)?
        } else {
            self.shared.token.run(op, generate)?
        };
        log::info!(
            "generated {} ed25519 key id {} label {label:?} on {}",
            if options.ephemeral { "an ephemeral" } else { "a token" },
            hex::encode(&id),
            self.shared.token.error_context()
        );
        self.shared.public_keys.write().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), StrictKey::new(vk));
        Ok(KeyId::from_bytes(id))
    }

    /// The `CKA_ID` of the one private ed25519 key labelled `label`.
    pub fn find_by_label(&self, label: &str) -> Result<KeyId, Pkcs11Error> {
        let selector = KeySelector::Label(label.to_string());
        self.shared.token.run("find key by label", |session, ctx| {
            let ctx = ctx.clone().with_key_label(label);
            let mut template = ED25519.all(KeyHalf::Private);
            template.push(Attribute::Label(label.as_bytes().to_vec()));
            let handle = self.shared.token.find_one(session, &template, &selector, &ctx)?;
            let attrs = self.shared.token.attributes(session, handle, &[AttributeType::Id], &ctx)?;
            match attrs.into_iter().find_map(|a| match a {
                Attribute::Id(id) if !id.is_empty() => Some(id),
                _ => None,
            }) {
                Some(id) => Ok(KeyId::from_bytes(id)),
                None => Err(Pkcs11Error::new(
                    Problem::KeyUnusable { key: format!("label {label:?}"), reason: "it has no CKA_ID".to_string() },
                    &ctx,
                )),
            }
        })
    }

    /// The key a PKCS#11 URI names, by `id=` (checked to exist) or else `object=` (label).
    pub fn resolve(&self, uri: &Pkcs11Uri) -> Result<KeyId, Pkcs11Error> {
        if let Some(t) = uri.object_type {
            if t != ObjectType::Private && t != ObjectType::Public {
                return Err(Pkcs11Error::config(format!(
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
            None => Err(Pkcs11Error::config("the URI names no key: add object=<label> or id=<%-encoded CKA_ID>")),
        }
    }

    /// Reads the private key's security attributes, so callers (and tests) can check that the
    /// key never left the token. `CKA_VALUE` is requested too: it must not come back.
    pub fn key_attributes(&self, id: &KeyId) -> Result<KeyAttributes, Pkcs11Error> {
        self.shared.token.run("read key attributes", |session, ctx| {
            ED25519.key_attributes(&self.shared.token, session, id.as_bytes(), ctx)
        })
    }

    /// The public key of `id`, from the cache or the token's public-key object.
    fn verifying_key(&self, id: &KeyId) -> Result<VerifyingKey, Pkcs11Error> {
        self.shared.verifying_key(id)
    }

    fn delete_key(&self, id: &KeyId) -> Result<(), Pkcs11Error> {
        let idb = id.as_bytes();
        self.shared.token.run("delete key", |session, ctx| ED25519.delete(&self.shared.token, session, idb, ctx))?;
        self.shared.public_keys.write().unwrap_or_else(PoisonError::into_inner).remove(idb);
        Ok(())
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>, Pkcs11Error> {
        self.shared.token.run("list keys", |session, ctx| {
            let privates = self.shared.token.find_all_logged_in(session, &ED25519.all(KeyHalf::Private), ctx)?;
            let mut out = Vec::with_capacity(privates.len());
            for handle in privates {
                let attrs =
                    self.shared.token.attributes(session, handle, &[AttributeType::Id, AttributeType::Label], ctx)?;
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
                let kctx = ctx.clone().with_key_id(&id);
                // Keys without exactly one readable public half are left out of the list.
                let publics = self.shared.token.find_all(session, &ED25519.template(KeyHalf::Public, &id), &kctx)?;
                let [public] = publics.as_slice() else {
                    continue;
                };
                let Ok(public_key) = ED25519.read_public_key(&self.shared.token, session, *public, &id, &kctx) else {
                    continue;
                };
                out.push(KeyInfo { id: KeyId::from_bytes(id), label, public_key });
            }
            Ok(out)
        })
    }
}

impl Shared {
    /// The public key of `id`, from the cache or the token's public-key object.
    fn verifying_key(&self, id: &KeyId) -> Result<VerifyingKey, Pkcs11Error> {
        Ok(*self.strict_key(id)?.key())
    }

    /// The public key of `id` ready for (batch) verification, from the cache or the token.
    fn strict_key(&self, id: &KeyId) -> Result<StrictKey, Pkcs11Error> {
        if let Some(key) = self.public_keys.read().unwrap_or_else(PoisonError::into_inner).get(id.as_bytes()) {
            return Ok(*key);
        }
        let idb = id.as_bytes();
        let vk =
            self.token.run("read public key", |session, ctx| ED25519.public_key(&self.token, session, idb, ctx))?;
        let key = StrictKey::new(vk);
        self.public_keys.write().unwrap_or_else(PoisonError::into_inner).insert(idb.to_vec(), key);
        Ok(key)
    }

    /// Signs `message` on the token with `run`'s recovery. The signature is not checked here.
    fn sign_one(&self, id: &KeyId, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let idb = id.as_bytes();
        self.token.run("sign", |session, ctx| ED25519.sign(&self.token, session, idb, message, ctx))
    }

    /// Signs messages in turns on one pooled session (with `run`'s recovery, going on after a
    /// recovered failure with the message it was signing): takes the next message no other
    /// signer has taken from `next` and signs it, until none is left, `stop` is set or `signed`
    /// (given each signature as soon as it is made) says to stop. The key's handle and the
    /// mechanism are looked up once per session, not per message.
    ///
    /// `signed` must not call into the token (`run` is not reentrant) and must not fail with a
    /// token error, which `run` would take for its own; it returns whether to go on.
    fn sign_turns<M: AsRef<[u8]>>(
        &self,
        id: &KeyId,
        messages: &[M],
        next: &AtomicUsize,
        stop: &AtomicBool,
        mut signed: impl FnMut(usize, Vec<u8>) -> bool,
    ) -> Result<(), Pkcs11Error> {
        let idb = id.as_bytes();
        let mechanism = ED25519.mechanism();
        let mut current = None;
        self.token.run("sign", |session, ctx| {
            let ctx = ctx.clone().with_key_id(idb);
            let key = ED25519.private_handle(&self.token, session, idb, &ctx)?;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let index = current.unwrap_or_else(|| next.fetch_add(1, Ordering::Relaxed));
                let Some(message) = messages.get(index) else { return Ok(()) };
                current = Some(index);
                let raw = self.token.sign(session, &mechanism, key, message.as_ref(), &ctx)?;
                current = None;
                if !signed(index, raw) {
                    return Ok(());
                }
            }
        })
    }

    /// One worker's part of a `sign_many` call ([`Self::sign_turns`]), sending each signature
    /// as soon as it is made, or the failure that ended the part.
    fn sign_share(&self, id: &KeyId, messages: &[Vec<u8>], next: &AtomicUsize, stop: &AtomicBool, out: &Sender<Made>) {
        // A closed channel: the caller has given up.
        let result =
            self.sign_turns(id, messages, next, stop, |index, raw| out.send(Made::Signature(index, raw)).is_ok());
        if let Err(e) = result {
            let _ = out.send(Made::Failure(e));
        }
    }

    fn bad_signature(&self, idb: &[u8], place: Option<(usize, usize)>) -> Pkcs11Error {
        let context = self.token.error_context().with_operation("sign").with_key_id(idb);
        let e = Pkcs11Error::new(Problem::BadSignature(idb.to_vec(), place), &context);
        log::error!("{e}");
        e
    }
}

impl From<Pkcs11Error> for KeyStoreError {
    /// Missing and ambiguous keys and bad signatures become the store-neutral variants, with
    /// the PKCS#11 error as their detail (and `source`); everything else is a backend error.
    fn from(e: Pkcs11Error) -> Self {
        match e.problem() {
            Problem::KeyNotFound(KeySelector::Id(id)) => {
                let id = KeyId::from_bytes(id.clone());
                KeyStoreError::KeyNotFound(id, Detail::from_error(e))
            }
            Problem::AmbiguousKey(KeySelector::Id(id), count) => {
                let (id, count) = (KeyId::from_bytes(id.clone()), *count);
                KeyStoreError::AmbiguousKey { id, count, detail: Detail::from_error(e) }
            }
            Problem::BadSignature(id, _) => {
                let id = KeyId::from_bytes(id.clone());
                KeyStoreError::BadSignature(id, Detail::from_error(e))
            }
            Problem::Rng(msg) => KeyStoreError::Rng(msg.clone()),
            _ => {
                let transient = e.is_transient();
                KeyStoreError::Backend { source: Box::new(e), transient }
            }
        }
    }
}

impl SessionKeyStore for Pkcs11KeyStore {
    fn generate(&self, label: &str) -> Result<KeyId, KeyStoreError> {
        Ok(self.generate_with(label, KeyOptions::default())?)
    }

    fn public_key(&self, id: &KeyId) -> Result<VerifyingKey, KeyStoreError> {
        Ok(self.verifying_key(id)?)
    }

    fn sign(&self, id: &KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
        let messages = [message];
        let mut check = Check::new(&self.shared, id, &messages)?;
        check.arrived(0, &self.shared.sign_one(id, message)?)?;
        check.verify_pending()?;
        let signed = check.finish().and_then(|mut sigs| sigs.pop());
        Ok(signed.ok_or_else(|| self.shared.bad_signature(id.as_bytes(), None))?)
    }

    /// Signs on the token and checks every signature before any is returned. The calling thread
    /// and, when that has been faster on this store, up to cores − 1 of the store's worker
    /// threads sign at once ([`SigningPlans`]), each on a pooled session of its own, taking the
    /// messages in turn; the key's handle is looked up once per session. Between its own
    /// signatures the calling thread checks, as one batch, what has arrived meanwhile, and the
    /// rest at the end; when it signs alone, a worker thread checks the batches instead while
    /// the caller signs on, so only the last signature's check is left at the end (a batch
    /// that fails is checked again by the caller, which names the bad signature; signing is not
    /// cut short by it). Results keep the messages' order. Concurrent calls share the same worker
    /// threads, so a busy service never has more signing threads than sessions plus callers.
    fn sign_many(&self, id: &KeyId, messages: &[&[u8]]) -> Result<Vec<Signature>, KeyStoreError> {
        if let [message] = messages {
            return Ok(vec![self.sign(id, message)?]);
        }
        let mut check = Check::new(&self.shared, id, messages)?;
        let next = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let plan = self.plans.choose(messages.len());
        let made = if plan.signers <= 1 {
            if self.check_beside {
                check.check_beside(&self.workers);
            }
            None
        } else {
            let owned: Arc<Vec<Vec<u8>>> = Arc::new(messages.iter().map(|m| m.to_vec()).collect());
            let (shared, key, next, stop) = (self.shared.clone(), id.clone(), next.clone(), stop.clone());
            let made =
                self.workers.stream(plan.signers - 1, move |out| shared.sign_share(&key, &owned, &next, &stop, out));
            Some(made.map_err(|_| Pkcs11Error::from(Problem::WorkerPanicked))?)
        };
        let checked = (|| {
            // The caller's own share, on one session. A failure found between two signatures
            // is held until the token call returns (`sign_turns` must not see it), then handled.
            loop {
                let mut halted = None;
                self.shared.sign_turns(id, messages, &next, &stop, |index, raw| {
                    match check.between_signatures(index, &raw, made.as_ref()) {
                        Ok(true) => true,
                        other => {
                            halted = Some(other);
                            false
                        }
                    }
                })?;
                match halted {
                    None => break,
                    // A batch failed: `verify_pending` reads the key again or names the bad
                    // signature; signing goes on if the fresh key verifies them.
                    Some(Ok(_)) => check.verify_pending()?,
                    Some(Err(e)) => return Err(e),
                }
            }
            // What arrived so far, while the workers sign their last messages.
            check.verify_pending()?;
            // The workers' signatures, checked as they come (the caller has nothing else to do
            // now). Workers that have not started yet are not waited for: they find no message
            // left (the stream ends early only if one failed).
            while check.received < messages.len() {
                match made.as_ref().map(Receiver::recv) {
                    Some(Ok(m)) => {
                        check.take(m)?;
                        for m in made.iter().flat_map(|made| made.try_iter()) {
                            check.take(m)?;
                        }
                        check.verify_pending()?;
                    }
                    _ => break,
                }
            }
            check.settle_shipped();
            check.verify_pending()?;
            check.finish().ok_or_else(|| Pkcs11Error::from(Problem::WorkerPanicked))
        })();
        match &checked {
            Ok(_) => self.plans.observed(plan, messages.len(), started.elapsed()),
            // The workers stop at their next message; what they still send is dropped.
            Err(_) => stop.store(true, Ordering::Relaxed),
        }
        Ok(checked?)
    }

    fn delete(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        Ok(self.delete_key(id)?)
    }

    fn list(&self) -> Result<Vec<KeyInfo>, KeyStoreError> {
        Ok(self.list_keys()?)
    }
}

#[cfg(test)]
mod tests {
    use cryptoki::context::Function;
    use cryptoki::error::RvError;

    use super::*;

    #[test]
    fn converts_into_keystore_error() {
        let ctx = ErrorContext::default().with_operation("sign");
        let e = Pkcs11Error::call("sign", Function::Sign, RvError::DeviceRemoved, &ctx);
        assert!(e.to_string().contains("C_Sign returned CKR_DEVICE_REMOVED"), "{e}");
        let k: KeyStoreError = e.into();
        assert!(k.is_transient());
        let k: KeyStoreError = Pkcs11Error::new(Problem::KeyNotFound(KeySelector::Id(vec![1, 2])), &ctx).into();
        assert!(matches!(k, KeyStoreError::KeyNotFound(ref id, _) if id.as_bytes() == [1, 2]));
        let source = std::error::Error::source(&k).and_then(|s| s.downcast_ref::<Pkcs11Error>());
        assert_eq!(source.map(Pkcs11Error::kind), Some(crate::pkcs11::Pkcs11ErrorKind::KeyNotFound));
    }
}
