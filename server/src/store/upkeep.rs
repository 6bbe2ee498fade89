//! The audit log's upkeep, the supertrait of [`ServiceStore`](super::ServiceStore): the reads a
//! checkpoint covers, the leases that keep each audit job to one process, checkpoints, the
//! archive's export records, pruning of exported segments and of what has run out (see
//! `crate::audit_jobs` and [`super::expiry`]).

use std::time::Duration;

use async_trait::async_trait;

use super::checkpoints::{Exported, JobLease};
use super::StoreError;
use crate::audit::checkpoint::SignedCheckpoint;

/// The audit log's upkeep: checkpoints, export, retention. Every method is bounded in time by
/// the backend's timeouts.
#[async_trait]
pub trait AuditUpkeep: Send + Sync {
    /// The last committed row: its sequence number and hash (`None` for an empty log).
    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError>;

    /// The oldest row still in the database (`None` for an empty log).
    async fn audit_first_seq(&self) -> Result<Option<i64>, StoreError>;

    /// `(seq, prev_hash, hash)` of the rows with `seq > after`, in order, at most `limit`: what
    /// a checkpoint covers, without the records.
    async fn audit_hashes(&self, after: i64, limit: usize) -> Result<Vec<(i64, String, String)>, StoreError>;

    /// Takes (or, for its holder, renews) the lease on an audit job for `ttl`; false when
    /// another holder's lease has not run out.
    async fn take_job(&self, lease: &JobLease, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease up (if `lease` still holds it).
    async fn release_job(&self, lease: &JobLease) -> Result<(), StoreError>;

    /// The newest checkpoint.
    async fn last_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// Checkpoints with `last_seq >= from`, in order, at most `limit`.
    async fn checkpoints(&self, from: i64, limit: usize) -> Result<Vec<SignedCheckpoint>, StoreError>;

    /// Adds the next checkpoint if `lease` (the `checkpoint` job) is still held; false when it
    /// is not, or when a checkpoint for the same rows or after the same previous one exists.
    async fn add_checkpoint(&self, checkpoint: &SignedCheckpoint, lease: &JobLease) -> Result<bool, StoreError>;

    /// The exported segments with `last_seq >= from`, in order, at most `limit`.
    async fn exports(&self, from: i64, limit: usize) -> Result<Vec<Exported>, StoreError>;

    /// The newest exported segment.
    async fn last_export(&self) -> Result<Option<Exported>, StoreError>;

    /// Records an exported segment if `lease` (the `export` job) is still held (false if not);
    /// recording one twice is a no-op.
    async fn add_export(&self, export: &Exported, lease: &JobLease) -> Result<bool, StoreError>;

    /// Prunes the exported segment `first_seq..=last_seq`: its rows, the checkpoints before its
    /// own (the one ending at `last_seq` stays: the first remaining row links to its head) and
    /// the older export records. Refused (0) unless `lease` still holds the `export` job, the
    /// segment is recorded as exported, and the head row is after it. Returns the rows removed.
    async fn prune_segment(&self, first_seq: i64, last_seq: i64, lease: &JobLease) -> Result<u64, StoreError>;

    /// Removes what has run out, so no table grows with the number of requests: AuthSigs
    /// whose SIWE expired before `now` (unix seconds; one may be minted again), rate-limit
    /// windows that started before `windows_before` (the caller passes now minus the longest
    /// window in force, so no current window goes), and mint leases that ran out.
    async fn prune_expired(&self, now: i64, windows_before: i64) -> Result<Pruned, StoreError>;
}

/// What [`AuditUpkeep::prune_expired`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Expired AuthSigs.
    pub auth_sigs: u64,
    /// Ended rate-limit windows.
    pub windows: u64,
    /// Mint leases that ran out (SQLite; PostgreSQL's are advisory locks, not rows).
    pub mint_locks: u64,
}
