//! Which session key the manager signs with, and when it makes a new one.

use time::Duration;

use crate::keystore::{KeyId, KeyInfo};
use crate::timestamp::Timestamp;

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
pub(crate) struct LabelledKey {
    pub id: KeyId,
    pub created: Timestamp,
}

pub(crate) fn label_for(prefix: &str, created: Timestamp) -> String {
    format!("{prefix}-{}", created.unix_millis() / 1000)
}

/// The keys of `prefix`, oldest first; other labels are ignored.
pub(crate) fn labelled_keys(keys: &[KeyInfo], prefix: &str) -> Vec<LabelledKey> {
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
pub(crate) fn due(key: &LabelledKey, rotate_after: Option<Duration>, now: Timestamp) -> bool {
    rotate_after.is_some_and(|age| key.created.saturating_add(age) <= now)
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
