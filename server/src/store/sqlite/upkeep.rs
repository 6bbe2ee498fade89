//! The audit log's upkeep on SQLite ([`AuditUpkeep`]): job leases, checkpoints, export records
//! and pruning. A job's writes check its lease in the same `BEGIN IMMEDIATE` transaction.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{unavailable, SqliteStore};
use crate::audit::checkpoint::SignedCheckpoint;
use crate::store::checkpoints::{self, Exported, JobLease};
use crate::store::{AuditUpkeep, Pruned, StoreError};

#[async_trait]
impl AuditUpkeep for SqliteStore {
    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        self.run(|conn| {
            conn.query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(unavailable("audit head"))
        })
        .await
    }

    async fn audit_first_seq(&self) -> Result<Option<i64>, StoreError> {
        self.run(|conn| {
            conn.query_row("SELECT min(seq) FROM audit WHERE seq > 0", [], |r| r.get(0))
                .map_err(unavailable("audit read"))
        })
        .await
    }

    async fn audit_hashes(&self, after: i64, limit: usize) -> Result<Vec<(i64, String, String)>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare("SELECT seq, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .map_err(unavailable("audit read"))?;
            let rows = stmt
                .query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(unavailable("audit read"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable("audit read"))
        })
        .await
    }

    async fn take_job(&self, lease: &JobLease, ttl: Duration) -> Result<bool, StoreError> {
        let lease = lease.clone();
        self.run(move |conn| {
            let now = now_millis();
            conn.execute(
                "INSERT INTO audit_jobs (job, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE audit_jobs.expires_at <= ?4 OR audit_jobs.holder = excluded.holder",
                params![lease.job, lease.holder, now + ttl.as_millis() as i64, now],
            )
            .map(|n| n > 0)
            .map_err(unavailable("audit job lease"))
        })
        .await
    }

    async fn release_job(&self, lease: &JobLease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.run(move |conn| {
            conn.execute("DELETE FROM audit_jobs WHERE job = ?1 AND holder = ?2", params![lease.job, lease.holder])
                .map(drop)
                .map_err(unavailable("audit job lease"))
        })
        .await
    }

    async fn last_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.run(|conn| {
            conn.query_row(
                &format!("SELECT {} FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1", checkpoints::COLUMNS),
                [],
                checkpoint_row,
            )
            .optional()
            .map_err(unavailable("checkpoint read"))
        })
        .await
    }

    async fn checkpoints(&self, from: i64, limit: usize) -> Result<Vec<SignedCheckpoint>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {} FROM audit_checkpoints WHERE last_seq >= ?1 ORDER BY last_seq LIMIT ?2",
                    checkpoints::COLUMNS
                ))
                .map_err(unavailable("checkpoint read"))?;
            let rows =
                stmt.query_map(params![from, limit as i64], checkpoint_row).map_err(unavailable("checkpoint read"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable("checkpoint read"))
        })
        .await
    }

    async fn add_checkpoint(&self, checkpoint: &SignedCheckpoint, lease: &JobLease) -> Result<bool, StoreError> {
        let rows = checkpoints::pack_rows(&checkpoint.rows)?;
        let (cp, lease) = (checkpoint.clone(), lease.clone());
        self.run(move |conn| add_checkpoint(conn, &cp, &rows, &lease).map_err(unavailable("add checkpoint"))).await
    }

    async fn exports(&self, from: i64, limit: usize) -> Result<Vec<Exported>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT first_seq, last_seq, checkpoint_hash, file, exported_at FROM audit_exports
                     WHERE last_seq >= ?1 ORDER BY last_seq LIMIT ?2",
                )
                .map_err(unavailable("export read"))?;
            let rows = stmt.query_map(params![from, limit as i64], export_row).map_err(unavailable("export read"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable("export read"))
        })
        .await
    }

    async fn last_export(&self) -> Result<Option<Exported>, StoreError> {
        self.run(|conn| {
            conn.query_row(
                "SELECT first_seq, last_seq, checkpoint_hash, file, exported_at FROM audit_exports
                 ORDER BY last_seq DESC LIMIT 1",
                [],
                export_row,
            )
            .optional()
            .map_err(unavailable("export read"))
        })
        .await
    }

    async fn add_export(&self, export: &Exported, lease: &JobLease) -> Result<bool, StoreError> {
        let (e, lease) = (export.clone(), lease.clone());
        self.run(move |conn| add_export(conn, &e, &lease).map_err(unavailable("add export"))).await
    }

    async fn prune_segment(&self, first_seq: i64, last_seq: i64, lease: &JobLease) -> Result<u64, StoreError> {
        let lease = lease.clone();
        self.run(move |conn| prune_segment(conn, first_seq, last_seq, &lease).map_err(unavailable("audit prune"))).await
    }

    async fn prune_expired(&self, now: i64, windows_before: i64) -> Result<Pruned, StoreError> {
        self.run(move |conn| prune_expired(conn, now, windows_before).map_err(unavailable("prune expired"))).await
    }
}

fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Whether `lease` still holds its job (inside the caller's transaction).
fn holds(tx: &rusqlite::Transaction<'_>, lease: &JobLease) -> Result<bool, rusqlite::Error> {
    tx.query_row(
        "SELECT count(*) FROM audit_jobs WHERE job = ?1 AND holder = ?2 AND expires_at > ?3",
        params![lease.job, lease.holder, now_millis()],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn checkpoint_row(r: &rusqlite::Row<'_>) -> Result<SignedCheckpoint, rusqlite::Error> {
    Ok(checkpoints::unpack(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn export_row(r: &rusqlite::Row<'_>) -> Result<Exported, rusqlite::Error> {
    Ok(Exported {
        first_seq: r.get(0)?,
        last_seq: r.get(1)?,
        checkpoint_hash: r.get(2)?,
        file: r.get(3)?,
        exported_at: r.get(4)?,
    })
}

fn add_checkpoint(
    conn: &mut Connection,
    cp: &SignedCheckpoint,
    rows: &[u8],
    lease: &JobLease,
) -> Result<bool, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !holds(&tx, lease)? {
        return Ok(false);
    }
    let c = &cp.checkpoint;
    let n = tx.execute(
        &format!("INSERT INTO audit_checkpoints ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING", checkpoints::COLUMNS),
        params![c.first_seq, c.last_seq, c.head_hash, c.previous_checkpoint_hash, c.row_hashes, c.at, cp.hash, cp.key, cp.signature, rows],
    )?;
    tx.commit()?;
    Ok(n > 0)
}

fn add_export(conn: &mut Connection, e: &Exported, lease: &JobLease) -> Result<bool, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !holds(&tx, lease)? {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO audit_exports (first_seq, last_seq, checkpoint_hash, file, exported_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![e.first_seq, e.last_seq, e.checkpoint_hash, e.file, e.exported_at],
    )?;
    tx.commit()?;
    Ok(true)
}

fn prune_segment(conn: &mut Connection, first: i64, last: i64, lease: &JobLease) -> Result<u64, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exported: i64 = tx.query_row(
        "SELECT count(*) FROM audit_exports WHERE first_seq = ?1 AND last_seq = ?2",
        params![first, last],
        |r| r.get(0),
    )?;
    let head: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM audit", [], |r| r.get(0))?;
    if !holds(&tx, lease)? || exported == 0 || head <= last {
        return Ok(0);
    }
    let removed = tx.execute("DELETE FROM audit WHERE seq >= ?1 AND seq <= ?2", params![first, last])?;
    tx.execute("DELETE FROM audit_checkpoints WHERE last_seq < ?1", params![last])?;
    tx.execute("DELETE FROM audit_exports WHERE last_seq < ?1", params![last])?;
    tx.commit()?;
    Ok(removed as u64)
}

fn prune_expired(conn: &mut Connection, now: i64, windows_before: i64) -> Result<Pruned, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let auth_sigs = tx.execute("DELETE FROM auth_sigs WHERE expires_at < ?1", params![now])?;
    let windows = tx.execute("DELETE FROM quota WHERE window_start < ?1", params![windows_before])?;
    let mint_locks = tx.execute("DELETE FROM mint_locks WHERE expires_at < ?1", params![now])?;
    tx.commit()?;
    Ok(Pruned { auth_sigs: auth_sigs as u64, windows: windows as u64, mint_locks: mint_locks as u64 })
}
