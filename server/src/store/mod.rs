//! The service's store: AuthSigs (versioned), the hash-chained audit log, rate-limit counters
//! and mint locks, behind one async trait so another backend (PostgreSQL for several replicas)
//! can stand in for the embedded SQLite one.
//!
//! The session manager's own cache trait ([`crate::signing::AuthSigStore`]) is synchronous; a
//! backend also provides that view of its AuthSig table ([`ServiceStore::auth_sig_cache`]).

pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::audit::{AuditEntry, AuditRow};
use crate::signing::AuthSigStore;

/// A store failure. Messages name the database and the operation, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, read or written.
    #[error("store {op}: {message}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What failed.
        message: String,
    },
    /// The database is not one this build can use (unknown schema version, foreign tables).
    #[error("{0}")]
    Schema(String),
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

/// A rate-limit charge made together with an audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCharge {
    /// The client.
    pub client: String,
    /// The rule the limit belongs to.
    pub rule: String,
    /// The window's start (unix seconds).
    pub window_start: i64,
    /// Requests allowed per window.
    pub limit: u64,
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

/// The service store. Every method is bounded in time by the backend's timeouts.
#[async_trait]
pub trait ServiceStore: Send + Sync {
    /// The backend's name (`sqlite`, `postgres`), for metrics and readiness.
    fn backend(&self) -> &'static str;

    /// Where the data lives, for messages (a path or a host list; never a password).
    fn location(&self) -> String;

    /// The manager's synchronous view of the AuthSig table.
    fn auth_sig_cache(self: Arc<Self>) -> Arc<dyn AuthSigStore>;

    /// Reads and takes the write lock once: can this store serve a request now?
    async fn health(&self) -> Result<(), StoreError>;

    /// Inserts a probe row into the audit table and rolls it back: does an append work now?
    async fn audit_probe(&self) -> Result<(), StoreError>;

    /// The AuthSig row for (signer, session key), both lowercase hex.
    async fn load_auth_sig(&self, signer: &str, session_key: &str) -> Result<Option<StoredAuthSig>, StoreError>;

    /// Writes the AuthSig if the stored version is `expected_version` (`None`: no row yet).
    async fn save_auth_sig(
        &self,
        signer: &str,
        session_key: &str,
        auth_sig: &str,
        expires_at: Option<i64>,
        expected_version: Option<i64>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Takes the mint lease for `key` (one holder at a time, across processes), waiting up to
    /// `wait`. `Ok(false)` if another holder kept it for longer. A lease ends after `lease` even
    /// if its holder died.
    async fn acquire_mint_lock(
        &self,
        key: &str,
        holder: &str,
        lease: Duration,
        wait: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the mint lease back (only if `holder` still has it).
    async fn release_mint_lock(&self, key: &str, holder: &str) -> Result<(), StoreError>;

    /// How much of the window's limit is used.
    async fn quota_used(&self, client: &str, rule: &str, window_start: i64) -> Result<u64, StoreError>;

    /// Appends `entry` to the audit chain (setting its `seq`), charging `charge` in the same
    /// transaction. When the charge finds the limit used up, the entry is written as a
    /// rate-limit denial and [`Appended::charged`] is false. Fails closed: an error means no row.
    async fn append_audit(&self, entry: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, StoreError>;

    /// Audit rows with `seq > after`, in order, at most `limit`.
    async fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRow>, StoreError>;
}
