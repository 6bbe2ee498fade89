//! The service's store: AuthSigs (versioned), the hash-chained audit log, rate-limit counters,
//! mint locks and the fleet's session keys, behind one async trait with two backends: the embedded SQLite file (one
//! host, the default) and PostgreSQL (several replicas on several hosts).
//!
//! [`auth_sig_store`] gives the session manager's async cache trait
//! ([`crate::signing::AsyncAuthSigStore`]) a view of any backend's AuthSig table and mint lock.

mod cache;
mod checkpoints;
pub mod expiry;
pub mod keys;
pub mod pool;
pub mod postgres;
mod seal;
pub mod settings;
pub mod sqlite;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod upkeep;

use std::time::Duration;

use async_trait::async_trait;

use crate::audit::{AuditEntry, AuditRow};
use crate::signing;

pub use crate::ratelimit::QuotaCharge;
pub use cache::auth_sig_store;
pub use checkpoints::{Exported, JobLease};
pub use keys::{KeyChange, KeyRow, KeyState};
pub use upkeep::{AuditUpkeep, Pruned};

pub use settings::{StoreSection, StoreSettings, DEFAULT_MINT_LOCK_WAIT, DEFAULT_MINT_SIGN_TIMEOUT};

/// The newest version in a migration list (`(version, sql)` in ascending order).
const fn newest_migration(migrations: &[(i64, &str)]) -> i64 {
    let mut newest = 0;
    let mut i = 0;
    while i < migrations.len() {
        if migrations[i].0 > newest {
            newest = migrations[i].0;
        }
        i += 1;
    }
    newest
}

/// The migrations a store with versions `applied` still needs, in order. Versions are reserved
/// per change and can land out of order (4 before 2), so this goes by the set applied, not by
/// the highest one.
fn pending_migrations<'m>(
    migrations: &'m [(i64, &'m str)],
    applied: &[i64],
) -> impl Iterator<Item = (i64, &'m str)> + 'm {
    let applied = applied.to_vec();
    migrations.iter().copied().filter(move |(version, _)| !applied.contains(version))
}

/// A store failure. Messages name the database and the operation, never a secret.
///
/// Busy is not down: [`StoreError::Busy`] fails the one request that waited too long, while
/// only [`StoreError::Unreachable`] (the database itself gone, hung or read-only) marks the
/// store down for everything (PostgreSQL's fail-fast window, `/readyz`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database answered but refused the operation (a constraint, a bad row).
    #[error("store {op}: {message}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What failed.
        message: String,
    },
    /// The database could not be reached or did not answer in time (down, hung, failing
    /// over): everything that needs the store waits for it to come back.
    #[error("store {op}: {message}")]
    Unreachable {
        /// The operation.
        op: &'static str,
        /// What failed.
        message: String,
    },
    /// The database is up, but this operation waited too long: for a pooled connection, for a
    /// row or advisory lock another request holds, or past the server's statement timeout.
    /// The request fails; nothing else does.
    #[error("store {op}: {message}")]
    Busy {
        /// The operation.
        op: &'static str,
        /// What it waited for.
        message: String,
    },
    /// The database is not one this build can use (unknown schema version, foreign tables).
    #[error("{0}")]
    Schema(String),
    /// The store's own settings cannot be used (a connection string or password file).
    #[error("{0}")]
    Settings(String),
}

impl StoreError {
    /// How the session manager sees it (see [`signing::StoreFailure`]).
    pub fn failure(&self) -> signing::StoreFailure {
        match self {
            Self::Busy { .. } => signing::StoreFailure::Busy,
            _ => signing::StoreFailure::Unavailable,
        }
    }
}

/// A PostgreSQL error as one line: the server's message and code when it sent one.
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => signing::error_chain(e),
    }
}

/// A held mint lock; dropping it releases the lock (it may do I/O: drop it off the runtime).
pub type MintGuard = Box<dyn Send>;

/// Which AuthSig row: the columns a cached AuthSig is keyed by in both backends' `auth_sigs`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthSigId {
    /// The signer's address, lowercase hex without `0x`.
    pub signer: String,
    /// The session key, lowercase hex.
    pub session_key: String,
    /// The grant set's digest (lowercase hex), or empty for the one entry per signer and
    /// session key that serves every request it covers.
    pub grants: String,
}

impl AuthSigId {
    /// The row of the session manager's cache key.
    pub fn of(key: &signing::AuthSigKey) -> Self {
        Self {
            signer: hex::encode(key.signer.as_bytes()),
            session_key: hex::encode(key.session_key.as_bytes()),
            grants: key.grants.map(|g| g.to_hex()).unwrap_or_default(),
        }
    }

    /// The mint lock's name for this row.
    pub(crate) fn lock_name(&self) -> String {
        format!("auth-sig/{}/{}/{}", self.signer, self.session_key, self.grants)
    }
}

/// An AuthSig row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuthSig {
    /// The AuthSig JSON.
    pub auth_sig: String,
    /// Its SIWE expiration (unix seconds), if known.
    pub expires_at: Option<i64>,
    /// The row version (1 for the first write).
    pub version: i64,
    /// Which process wrote it.
    pub written_by: String,
}

/// The outcome of a versioned AuthSig write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written; the new version.
    Saved(i64),
    /// Someone else wrote first; the version now stored (0 if the row is gone).
    Conflict(i64),
}

/// The outcome of [`ServiceStore::append_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The row's sequence number.
    pub seq: i64,
    /// The row's hash.
    pub hash: String,
    /// False when the charge found the limit used up: the row was written as a rate-limit
    /// denial instead, and nothing may be handed out.
    pub charged: bool,
}

/// The service store. Every method is bounded in time by the backend's timeouts. The audit
/// log's upkeep (checkpoints, export, retention) is its supertrait [`AuditUpkeep`]: callable
/// through `dyn ServiceStore` as is, on a concrete backend with `AuditUpkeep` in scope.
#[async_trait]
pub trait ServiceStore: AuditUpkeep {
    /// The backend's name (`sqlite`, `postgres`), for metrics and readiness.
    fn backend(&self) -> &'static str;

    /// Where the data lives, for messages (a path or a host list; never a password).
    fn location(&self) -> String;

    /// Reads and takes the write lock once: can this store serve a request now?
    async fn health(&self) -> Result<(), StoreError>;

    /// Inserts a probe row into the audit table and rolls it back (and, on PostgreSQL, checks
    /// that the role may call the append function): does an append work now?
    async fn audit_probe(&self) -> Result<(), StoreError>;

    /// The AuthSig row `id`.
    async fn load_auth_sig(&self, id: &AuthSigId) -> Result<Option<StoredAuthSig>, StoreError>;

    /// Writes the AuthSig row `id` if its stored version is `expected_version` (`None`: no row
    /// yet).
    async fn save_auth_sig(
        &self,
        id: &AuthSigId,
        auth_sig: &str,
        expires_at: Option<i64>,
        expected_version: Option<i64>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Deletes the AuthSig row `id`, if any.
    async fn remove_auth_sig(&self, id: &AuthSigId) -> Result<(), StoreError>;

    /// Deletes every AuthSig row of (signer, session key), whatever its grant set.
    async fn remove_auth_sigs(&self, signer: &str, session_key: &str) -> Result<(), StoreError>;

    /// Takes the mint lock for row `id`: one holder at a time across every process sharing the
    /// store, waiting up to the backend's configured bound. A lock whose holder died is
    /// released (PostgreSQL: with its session; SQLite: when its lease runs out).
    async fn lock_for_mint(&self, id: &AuthSigId) -> Result<MintGuard, StoreError>;

    /// How much of the charge's window is used.
    async fn quota_used(&self, charge: &QuotaCharge) -> Result<u64, StoreError>;

    /// Appends `entry` to the audit chain (setting its `seq`), charging `charge` in the same
    /// transaction. When the charge finds the limit used up, the entry is written as a
    /// rate-limit denial and [`Appended::charged`] is false. Fails closed: an error means no row.
    async fn append_audit(&self, entry: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, StoreError>;

    /// Whether an audit row with this request id and time exists (flushing a spool twice).
    async fn audit_contains(&self, request_id: &str, at: &str) -> Result<bool, StoreError>;

    /// Audit rows with `seq > after`, in order, at most `limit`.
    async fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError>;

    /// The latest `expires_at` (unix seconds) of the AuthSigs stored for `session_key` (hex),
    /// whoever signed them and for whichever grants.
    async fn auth_sigs_expire_by(&self, session_key: &str) -> Result<Option<i64>, StoreError>;

    /// The rows of a session-key family, oldest generation first.
    async fn session_keys(&self, family: &str) -> Result<Vec<KeyRow>, StoreError>;

    /// Inserts a new generation (with this process as `written_by`); false when the family
    /// already has that generation.
    async fn insert_session_key(&self, row: &KeyRow) -> Result<bool, StoreError>;

    /// Applies `change` to a row if it is still in state `from` (compare-and-set); false when
    /// it is not (another process moved it on) or does not exist.
    async fn update_session_key(
        &self,
        family: &str,
        generation: i64,
        from: KeyState,
        change: &KeyChange,
    ) -> Result<bool, StoreError>;

    /// Takes the lock of a family's key maintenance: one holder across every process sharing
    /// the store. `wait: None` tries once (`Ok(None)`: another process holds it); otherwise it
    /// waits up to `wait`. A holder that died frees it (PostgreSQL: with its session; SQLite:
    /// when its short lease runs out).
    async fn lock_session_keys(&self, family: &str, wait: Option<Duration>) -> Result<Option<MintGuard>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::{newest_migration, pending_migrations};

    #[test]
    fn migrations_go_by_the_versions_applied_not_the_highest() {
        let list: &[(i64, &str)] = &[(1, "a"), (2, "b"), (3, "c"), (4, "d")];
        assert_eq!(newest_migration(list), 4);
        // A store that got 1 and 4 first (4 landed before 2 and 3) still gets 2 and 3.
        let pending: Vec<i64> = pending_migrations(list, &[1, 4]).map(|(v, _)| v).collect();
        assert_eq!(pending, [2, 3]);
        let pending: Vec<i64> = pending_migrations(list, &[]).map(|(v, _)| v).collect();
        assert_eq!(pending, [1, 2, 3, 4]);
        assert_eq!(pending_migrations(list, &[1, 2, 3, 4]).count(), 0);
    }
}
