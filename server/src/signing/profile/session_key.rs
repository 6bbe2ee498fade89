//! A profile's session keys: opened from the configuration, and when they rotate across the
//! fleet ([`crate::keys`]) one session manager per published key, the current one and the next
//! with the moment it takes over, and the token operations the rotation needs (list, generate,
//! open, destroy).

use std::sync::Arc;

use time::Duration;

use lit_session_signer::keystore::{KeyId, KeyStoreError};
use lit_session_signer::manager::{SessionKeyPolicy, SessionManager};

use lit_session_signer::keystore::{MemoryKeyStore, Pkcs11KeyStore, SessionKeyStore};

use super::{blocking, hsm, parse_uri, read_key32, OpenError, Profile, ProfileSpec, SessionKeySpec};
use crate::signing::{error_chain, Cause, Context, KeyPart, SignError, Timestamp};

/// Who rotates a profile's managed session keys (a `pkcs11:` URI without `object=`/`id=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRotation {
    /// Every process sharing the store, together ([`crate::keys`]): one key family on the
    /// token, the next key published `overlap` before it becomes current.
    Fleet {
        /// How long a new key is published before replicas sign with it.
        overlap: Duration,
    },
    /// The library's per-process rotation (keys labelled `<prefix>-<unix time>`): one process
    /// only, each on its own clock.
    Process,
}

/// A key family a profile rotates across the fleet: its keys are the token's keys whose label
/// starts with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFamily {
    /// The label prefix.
    pub prefix: String,
    /// How long a key is current before the next one replaces it (`None`: only on request).
    pub rotate_after: Option<Duration>,
    /// How long the next key is published before it becomes current.
    pub overlap: Duration,
}

/// A session key on the token, as the token lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// Its `CKA_ID`, hex.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Its ed25519 public key, hex.
    pub public_key: String,
}

/// A session key opened for signing: its session manager, which caches the key's AuthSigs.
#[derive(Clone)]
pub struct SessionKeyHandle {
    // The key's id and public key in hex (`None`: labelled keys the manager picks itself).
    pub(super) key: Option<(KeyId, String)>,
    pub(super) manager: Arc<SessionManager>,
}

impl SessionKeyHandle {
    /// The key's `CKA_ID`, hex (`None` for a manager that picks its keys itself).
    pub fn id(&self) -> Option<String> {
        self.key.as_ref().map(|(id, _)| id.to_string())
    }
}

impl std::fmt::Debug for SessionKeyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeyHandle").field("key", &self.key).finish_non_exhaustive()
    }
}

/// The keys a profile signs with: the current one, and for a rotating fleet the next one with
/// the moment it takes over.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub current: Option<SessionKeyHandle>,
    pub next: Option<(Timestamp, SessionKeyHandle)>,
}

/// No key of the fleet's family is published yet.
#[derive(Debug, thiserror::Error)]
#[error("no session key is published for this profile yet")]
struct NoKey;

fn no_key() -> SignError {
    SignError::Hsm { part: Some(KeyPart::SessionKey), cause: Box::new(NoKey) }
}

/// A session key id the store or the caller named that is not hex.
fn bad_id(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> SignError {
    SignError::Internal(Box::new(Context::new(what, e)))
}

/// A token operation on one session key failed: `session key: <what>: <cause>`.
fn token_error(what: String, e: KeyStoreError) -> SignError {
    hsm(KeyPart::SessionKey, format!("{what}: {}", error_chain(&e)))
}

/// What fails while a profile opens: what was being opened, and why.
type Fail<'a> = &'a dyn Fn(Option<&'static str>, Cause) -> OpenError;

/// A profile's session keys as the configuration opens them.
pub(super) struct Opened {
    pub keys: Arc<dyn SessionKeyStore>,
    /// The policy of the profile's one manager (`None`: a fleet family, whose keys come from
    /// the store once they are published).
    pub policy: Option<SessionKeyPolicy>,
    /// `memory` or `pkcs11`.
    pub backend: &'static str,
    pub family: Option<KeyFamily>,
}

/// Opens the profile's session-key store and says how its keys are picked.
pub(super) fn open_session_key(spec: &ProfileSpec, fail: Fail<'_>) -> Result<Opened, OpenError> {
    let (keys, policy, session_backend): (Arc<dyn SessionKeyStore>, Option<SessionKeyPolicy>, &'static str) =
        match &spec.session_key {
            SessionKeySpec::Memory => {
                let store = MemoryKeyStore::new();
                let id = store.generate(&format!("{}-session", spec.name)).map_err(|e| fail(None, e.into()))?;
                (Arc::new(store), Some(SessionKeyPolicy::Fixed(id)), "memory")
            }
            SessionKeySpec::SeedFile(path) => {
                let store = MemoryKeyStore::new();
                let seed = read_key32(path).map_err(|e| fail(Some("session key seed"), e.into()))?;
                let id =
                    store.import_seed(&format!("{}-session", spec.name), seed).map_err(|e| fail(None, e.into()))?;
                (Arc::new(store), Some(SessionKeyPolicy::Fixed(id)), "memory")
            }
            SessionKeySpec::Pkcs11 { uri, label_prefix, rotate_after, rotation } => {
                let parsed = parse_uri(uri).map_err(|e| fail(Some("session key"), e.into()))?;
                let store = Pkcs11KeyStore::open(&parsed).map_err(|e| fail(Some("session key"), e.into()))?;
                let policy = if parsed.id.is_some() || parsed.object.is_some() {
                    let id = store.resolve(&parsed).map_err(|e| fail(Some("session key"), e.into()))?;
                    Some(SessionKeyPolicy::Fixed(id))
                } else {
                    match rotation {
                        KeyRotation::Process => Some(SessionKeyPolicy::Labelled {
                            prefix: label_prefix.clone().unwrap_or_else(|| format!("lit-session-{}", spec.name)),
                            rotate_after: *rotate_after,
                        }),
                        KeyRotation::Fleet { .. } => None,
                    }
                };
                (Arc::new(store), policy, "pkcs11")
            }
        };
    let family = match (&spec.session_key, &policy) {
        (SessionKeySpec::Pkcs11 { label_prefix, rotate_after, rotation: KeyRotation::Fleet { overlap }, .. }, None) => {
            Some(KeyFamily {
                prefix: label_prefix.clone().unwrap_or_else(|| format!("lit-session-{}", spec.name)),
                rotate_after: *rotate_after,
                overlap: *overlap,
            })
        }
        _ => None,
    };
    Ok(Opened { keys, policy, backend: session_backend, family })
}

impl Profile {
    /// The key family this profile rotates across the fleet, if it does.
    pub fn key_family(&self) -> Option<&KeyFamily> {
        self.family.as_ref()
    }

    /// The key to sign with now: the next one once its time has come.
    pub(super) fn current(&self) -> Result<SessionKeyHandle, SignError> {
        let now = Timestamp::now();
        {
            let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
            if slot.next.as_ref().is_none_or(|(from, _)| *from > now) {
                return slot.current.clone().ok_or_else(no_key);
            }
        }
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if slot.next.as_ref().is_some_and(|(from, _)| *from <= now) {
            slot.current = slot.next.take().map(|(_, k)| k);
        }
        slot.current.clone().ok_or_else(no_key)
    }

    /// The keys installed now: the current one, and the next with the moment it takes over.
    pub fn handles(&self) -> (Option<SessionKeyHandle>, Option<(Timestamp, SessionKeyHandle)>) {
        let current = self.current().ok();
        let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
        (current, slot.next.clone())
    }

    /// Installs the keys a rotating fleet published: `current` signs from now on (requests in
    /// flight finish with the key they started with), `next` from its time.
    pub fn install(&self, current: Option<SessionKeyHandle>, next: Option<(Timestamp, SessionKeyHandle)>) {
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        *slot = Slot { current, next };
    }

    /// Opens the published key `id` (hex `CKA_ID`) for signing, after checking that the token
    /// holds it with the public key the store names.
    pub async fn open_key(&self, id: &str, public_key: &str) -> Result<SessionKeyHandle, SignError> {
        let key_id = KeyId::from_hex(id).map_err(|e| bad_id("a published session key", e))?;
        let keys = self.keys.clone();
        let lookup = key_id.clone();
        let found = blocking(move || keys.public_key(&lookup)).await?;
        let found = hex::encode(found.map_err(|e| token_error(id.to_string(), e))?.as_bytes());
        if found != public_key {
            let message = format!("{id}: the token's public key {found} is not the published {public_key}");
            return Err(hsm(KeyPart::SessionKey, message));
        }
        let manager = SessionManager::new_async(
            self.keys.clone(),
            SessionKeyPolicy::Fixed(key_id.clone()),
            self.auth.clone(),
            self.cache.clone(),
        )
        .with_config(self.config);
        Ok(SessionKeyHandle { key: Some((key_id, found)), manager: Arc::new(manager) })
    }

    /// The token's session keys (every label).
    pub async fn token_keys(&self) -> Result<Vec<TokenKey>, SignError> {
        let keys = self.keys.clone();
        let listed = blocking(move || keys.list()).await?.map_err(|e| hsm(KeyPart::SessionKey, e))?;
        Ok(listed
            .into_iter()
            .map(|k| TokenKey {
                id: k.id.to_string(),
                label: k.label,
                public_key: hex::encode(k.public_key.as_bytes()),
            })
            .collect())
    }

    /// Generates a session key labelled `label` on the token.
    pub async fn generate_token_key(&self, label: &str) -> Result<TokenKey, SignError> {
        let keys = self.keys.clone();
        let label = label.to_string();
        let l = label.clone();
        let made = blocking(move || keys.generate(&l).and_then(|id| keys.public_key(&id).map(|p| (id, p)))).await?;
        let (id, public) = made.map_err(|e| token_error(format!("generate {label}"), e))?;
        Ok(TokenKey { id: id.to_string(), label, public_key: hex::encode(public.as_bytes()) })
    }

    /// Deletes session key `id` (hex `CKA_ID`) from the token; false when it was not there.
    pub async fn destroy_token_key(&self, id: &str) -> Result<bool, SignError> {
        let key_id = KeyId::from_hex(id).map_err(|e| bad_id("a session key id", e))?;
        let keys = self.keys.clone();
        match blocking(move || keys.delete(&key_id)).await? {
            Ok(()) => Ok(true),
            Err(KeyStoreError::KeyNotFound(..)) => Ok(false),
            Err(e) => Err(token_error(format!("destroy {id}"), e)),
        }
    }
}
