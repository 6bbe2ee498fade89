//! Which session key the manager signs with, when it makes a new one, and when a replaced one
//! is deleted.

use std::sync::atomic::Ordering;

use time::Duration;

use super::blocking::blocking;
use super::{ManagerError, SessionManager, State};
use crate::eth::EthAddress;
use crate::keystore::{KeyId, KeyInfo, KeyStoreError, VerifyingKey};
use crate::timestamp::Timestamp;

/// The node's grace on session expiry: a retired key stays until its last AuthSig is past it.
const NODE_EXPIRY_GRACE: Duration = Duration::seconds(60);

/// How the manager picks its session key.
#[derive(Debug, Clone)]
pub enum SessionKeyPolicy {
    /// One key, e.g. resolved from a `pkcs11:` URI after a restart. Never rotated or deleted
    /// (except by [`super::SessionManager::forget`] when asked).
    Fixed(KeyId),
    /// Keys labelled `<prefix>-<unix seconds of creation>`. The newest is current; the manager
    /// generates one when there is none, or when the current one is older than `rotate_after`.
    /// A replaced key is deleted once the AuthSigs it could carry have expired.
    Labelled {
        /// The label prefix, e.g. `lit-session`.
        prefix: String,
        /// The age after which a new key is made; `None` never rotates.
        rotate_after: Option<Duration>,
    },
}

/// A key the manager made under [`SessionKeyPolicy::Labelled`], with its creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelledKey {
    pub id: KeyId,
    pub created: Timestamp,
}

fn label_for(prefix: &str, created: Timestamp) -> String {
    format!("{prefix}-{}", created.unix_millis() / 1000)
}

/// The keys of `prefix`, oldest first; other labels are ignored.
fn labelled_keys(keys: &[KeyInfo], prefix: &str) -> Vec<LabelledKey> {
    let mut out: Vec<LabelledKey> = keys
        .iter()
        .filter_map(|k| {
            let secs: i64 = k.label.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()?;
            let created = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
            Some(LabelledKey { id: k.id.clone(), created: Timestamp::from_datetime(created) })
        })
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.as_bytes().cmp(b.id.as_bytes())));
    out
}

/// Whether `key` is due for replacement at `now`.
fn due(key: &LabelledKey, rotate_after: Option<Duration>, now: Timestamp) -> bool {
    rotate_after.is_some_and(|age| key.created.saturating_add(age) <= now)
}

/// The key the manager signs with now.
#[derive(Debug, Clone)]
pub(super) struct CurrentKey {
    pub id: KeyId,
    pub public: VerifyingKey,
    /// The public key in hex, as a SIWE URI names it.
    pub address: String,
    /// When a labelled key was made (`None` for a fixed key).
    pub created: Option<Timestamp>,
}

impl CurrentKey {
    fn new(id: KeyId, public: VerifyingKey, created: Option<Timestamp>) -> Self {
        Self { id, public, address: hex::encode(public.as_bytes()), created }
    }
}

/// A replaced key, kept until the sessions it signed have expired.
#[derive(Debug)]
pub(super) struct RetiredKey {
    id: KeyId,
    public: VerifyingKey,
    delete_after: Timestamp,
}

fn retire(
    id: KeyId,
    public: VerifyingKey,
    replaced_at: Timestamp,
    last_auth_expiration: Option<Timestamp>,
    lifetime: Duration,
) -> RetiredKey {
    // Sessions signed before the replacement live until their AuthSig expires; after a restart
    // that is unknown, and no AuthSig made before the replacement outlives one lifetime.
    let last = last_auth_expiration.unwrap_or_else(|| replaced_at.saturating_add(lifetime));
    RetiredKey { id, public, delete_after: last.saturating_add(NODE_EXPIRY_GRACE) }
}

impl SessionManager {
    /// The longest an AuthSig made by this manager lives without an explicit session expiration.
    fn longest_auth_sig(&self) -> Duration {
        self.config.auth_sig_lifetime.map_or(self.config.lifetime, |l| l.max(self.config.lifetime))
    }

    /// The current key: looked up once, then rotated and retired as the policy says.
    pub(super) async fn ensure_key(
        &self,
        state: &mut State,
        now: Timestamp,
        signer: EthAddress,
    ) -> Result<CurrentKey, ManagerError> {
        match &self.policy {
            SessionKeyPolicy::Fixed(id) => {
                if let Some(current) = &state.current {
                    return Ok(current.clone());
                }
                if state.key_deleted {
                    return Err(ManagerError::NoSessionKey);
                }
                let current = CurrentKey::new(id.clone(), self.public_key(id).await?, None);
                state.current = Some(current.clone());
                Ok(current)
            }
            SessionKeyPolicy::Labelled { prefix, rotate_after } => {
                if !state.discovered {
                    self.discover(state, prefix).await?;
                }
                let rotate = match &state.current {
                    None => true,
                    Some(c) => {
                        due(&LabelledKey { id: c.id.clone(), created: c.created.unwrap_or(now) }, *rotate_after, now)
                    }
                };
                if rotate {
                    let keys = self.keys.clone();
                    let label = label_for(prefix, now);
                    let id = blocking(move || keys.generate(&label)).await??;
                    self.keys_generated.fetch_add(1, Ordering::Relaxed);
                    let public = self.public_key(&id).await?;
                    if let Some(old) = state.current.replace(CurrentKey::new(id, public, Some(now))) {
                        let last_auth = state.latest_auth_expiration.take();
                        state.retired.push(retire(old.id, old.public, now, last_auth, self.longest_auth_sig()));
                        state.rotated = true;
                    }
                    state.key_deleted = false;
                }
                self.delete_retired(state, now, signer).await;
                state.current.clone().ok_or(ManagerError::NoSessionKey)
            }
        }
    }

    /// The current key without making a new one: a labelled key found after a restart, or the
    /// fixed key; `None` when there is none (never made, or deleted).
    pub(super) async fn existing_key(
        &self,
        state: &mut State,
        signer: EthAddress,
    ) -> Result<Option<CurrentKey>, ManagerError> {
        // After a restart the current labelled key is on the token but not yet known here.
        if let SessionKeyPolicy::Labelled { prefix, .. } = &self.policy {
            if !state.discovered {
                self.discover(state, prefix).await?;
            }
        }
        Ok(match (&state.current, &self.policy) {
            (Some(c), _) => Some(c.clone()),
            (None, SessionKeyPolicy::Fixed(_)) if !state.key_deleted => {
                Some(self.ensure_key(state, (self.clock)(), signer).await?)
            }
            _ => None,
        })
    }

    /// Finds the labelled keys a previous process left: the newest is current, the others
    /// retired.
    async fn discover(&self, state: &mut State, prefix: &str) -> Result<(), ManagerError> {
        let keys = self.keys.clone();
        let infos = blocking(move || keys.list()).await??;
        let labelled = labelled_keys(&infos, prefix);
        let public_of = |id: &KeyId| infos.iter().find(|i| &i.id == id).map(|i| i.public_key);
        for pair in labelled.windows(2) {
            if let Some(public) = public_of(&pair[0].id) {
                state.retired.push(retire(pair[0].id.clone(), public, pair[1].created, None, self.longest_auth_sig()));
            }
        }
        if let Some(last) = labelled.last() {
            if let Some(public) = public_of(&last.id) {
                state.current = Some(CurrentKey::new(last.id.clone(), public, Some(last.created)));
            }
        }
        state.discovered = true;
        Ok(())
    }

    // Best effort: a key that cannot be deleted now is retried on a later call.
    async fn delete_retired(&self, state: &mut State, now: Timestamp, signer: EthAddress) {
        let (due_now, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut state.retired).into_iter().partition(|r| r.delete_after <= now);
        state.retired = later;
        for r in due_now {
            let _ = self.store.remove_all(signer, &r.public).await;
            let keys = self.keys.clone();
            let id = r.id.clone();
            let deleted = blocking(move || keys.delete(&id)).await;
            match deleted {
                Ok(Ok(())) | Ok(Err(KeyStoreError::KeyNotFound(..))) => {
                    self.keys_deleted.fetch_add(1, Ordering::Relaxed);
                }
                _ => state.retired.push(r),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::{MemoryKeyStore, SessionKeyStore};

    #[test]
    fn labels_round_trip_and_sort_oldest_first() {
        let store = MemoryKeyStore::new();
        let t0: Timestamp = "2026-01-01T00:00:00.000Z".parse().unwrap();
        let t1 = t0.saturating_add(Duration::hours(5));
        let b = store.generate(&label_for("p", t1)).unwrap();
        let a = store.generate(&label_for("p", t0)).unwrap();
        store.generate("p-notanumber").unwrap();
        store.generate("other-100").unwrap();
        store.generate(&label_for("px", t0)).unwrap();
        let keys = labelled_keys(&store.list().unwrap(), "p");
        assert_eq!(keys, vec![LabelledKey { id: a, created: t0 }, LabelledKey { id: b, created: t1 }]);
        assert!(!due(&keys[0], None, t1));
        assert!(due(&keys[0], Some(Duration::hours(5)), t1));
        assert!(!due(&keys[1], Some(Duration::hours(5)), t1));
    }
}
