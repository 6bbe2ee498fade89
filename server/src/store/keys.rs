//! The session keys a fleet rotates, as the store keeps them: one row per generation of a key
//! family (a label prefix on a shared token), never deleted, and the changes a rotation makes
//! to a row. What the states mean and when they change is the rotation's business
//! ([`crate::keys`]); the store only reads, inserts and compares-and-sets.

/// Where a key is in its life. A key only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyState {
    /// On the token and published; replicas load it and sign with it from `activates_at`.
    Generated,
    /// The family's current key.
    Active,
    /// Replaced: signs nothing new, kept until its last session and AuthSig have expired.
    Retired,
    /// Deleted from the token (the row stays as history).
    Destroyed,
}

impl KeyState {
    /// The state as the store writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Generated => "generated",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Destroyed => "destroyed",
        }
    }

    /// Reads a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Generated, Self::Active, Self::Retired, Self::Destroyed].into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One generation of a key family. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The family (its label prefix).
    pub family: String,
    /// 1, 2, … in the order the keys were made.
    pub generation: i64,
    /// The key's label on the token.
    pub label: String,
    /// Its `CKA_ID`, hex.
    pub key_id: String,
    /// Its ed25519 public key, hex.
    pub public_key: String,
    /// Where it is in its life.
    pub state: KeyState,
    /// When it was published.
    pub created_at: i64,
    /// From when replicas sign with it.
    pub activates_at: i64,
    /// When it was replaced.
    pub retired_at: Option<i64>,
    /// The earliest time it may be destroyed, as far as known.
    pub destroy_after: Option<i64>,
    /// When it was deleted from the token.
    pub destroyed_at: Option<i64>,
    /// An operator asked for its replacement at this time (`POST /v1/admin/rotate`).
    pub rotate_requested_at: Option<i64>,
    /// It was revoked: replaced at once rather than after the overlap.
    pub revoked: bool,
    /// The process that last wrote the row (set by the store).
    pub written_by: String,
}

/// A change to a key row: the fields to set (`None` keeps the stored value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyChange {
    /// The new state.
    pub state: Option<KeyState>,
    /// A new activation time.
    pub activates_at: Option<i64>,
    /// The retirement time.
    pub retired_at: Option<i64>,
    /// The earliest destruction time.
    pub destroy_after: Option<i64>,
    /// The destruction time.
    pub destroyed_at: Option<i64>,
    /// An operator's rotation request.
    pub rotate_requested_at: Option<i64>,
    /// Revoked.
    pub revoked: Option<bool>,
}

/// The lock name of a family's key maintenance (one holder across every process).
pub(super) fn lock_name(family: &str) -> String {
    format!("session-keys/{family}")
}

/// How long a key-maintenance lock outlives a holder that stopped answering (SQLite's lease,
/// PostgreSQL's idle bound on the lock's transaction). A pass takes token calls of
/// milliseconds; the rows it writes are compared-and-set, so a holder that overran cannot undo
/// the next one's work.
pub(super) const LOCK_HOLD: std::time::Duration = std::time::Duration::from_secs(10);

/// The stored form of `revoked`, `state` and the rest are the backends' own; this is what they
/// share: a row read back into a [`KeyRow`].
pub(super) const COLUMNS: &str = "family, generation, label, key_id, public_key, state, created_at, activates_at, \
                                  retired_at, destroy_after, destroyed_at, rotate_requested_at, revoked, written_by";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_order_as_a_key_lives() {
        let all = [KeyState::Generated, KeyState::Active, KeyState::Retired, KeyState::Destroyed];
        for s in all {
            assert_eq!(KeyState::parse(s.as_str()), Some(s));
        }
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(KeyState::parse("revoked"), None);
    }
}
