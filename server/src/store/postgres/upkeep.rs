//! The audit log's upkeep on PostgreSQL ([`AuditUpkeep`]): job leases, checkpoints, export
//! records and pruning. A job's writes check its lease in the same transaction.

use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::Client;

use super::{db_error, PgStore};
use crate::audit::checkpoint::SignedCheckpoint;
use crate::store::checkpoints::{self, Exported, JobLease};
use crate::store::{AuditUpkeep, Pruned, StoreError};

#[async_trait]
impl AuditUpkeep for PgStore {
    async fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        self.with("audit head", |c| {
            Box::pin(async move {
                let row = c
                    .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
                    .await
                    .map_err(db_error("audit head"))?;
                Ok(row.map(|r| (r.get(0), r.get(1))))
            })
        })
        .await
    }

    async fn audit_first_seq(&self) -> Result<Option<i64>, StoreError> {
        self.with("audit read", |c| {
            Box::pin(async move {
                let row = c
                    .query_one("SELECT min(seq) FROM audit WHERE seq > 0", &[])
                    .await
                    .map_err(db_error("audit read"))?;
                Ok(row.get(0))
            })
        })
        .await
    }

    async fn audit_hashes(&self, after: i64, limit: usize) -> Result<Vec<(i64, String, String)>, StoreError> {
        let limit = limit as i64;
        self.with("audit read", move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT seq, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                        &[&after, &limit],
                    )
                    .await
                    .map_err(db_error("audit read"))?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
            })
        })
        .await
    }

    async fn take_job(&self, lease: &JobLease, ttl: Duration) -> Result<bool, StoreError> {
        let lease = lease.clone();
        self.with("audit job lease", move |c| {
            Box::pin(async move {
                let now = now_millis();
                let until = now + ttl.as_millis() as i64;
                let n = c
                    .execute(
                        "INSERT INTO audit_jobs (job, holder, expires_at) VALUES ($1, $2, $3)
                         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                         WHERE audit_jobs.expires_at <= $4 OR audit_jobs.holder = excluded.holder",
                        &[&lease.job, &lease.holder, &until, &now],
                    )
                    .await
                    .map_err(db_error("audit job lease"))?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn release_job(&self, lease: &JobLease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.with("audit job lease", move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM audit_jobs WHERE job = $1 AND holder = $2", &[&lease.job, &lease.holder])
                    .await
                    .map(drop)
                    .map_err(db_error("audit job lease"))
            })
        })
        .await
    }

    async fn last_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.with("checkpoint read", |c| {
            Box::pin(async move {
                let sql =
                    format!("SELECT {} FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1", checkpoints::COLUMNS);
                let row = c.query_opt(&sql, &[]).await.map_err(db_error("checkpoint read"))?;
                Ok(row.as_ref().map(checkpoint_row))
            })
        })
        .await
    }

    async fn checkpoints(&self, from: i64, limit: usize) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let limit = limit as i64;
        self.with("checkpoint read", move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {} FROM audit_checkpoints WHERE last_seq >= $1 ORDER BY last_seq LIMIT $2",
                    checkpoints::COLUMNS
                );
                let rows = c.query(&sql, &[&from, &limit]).await.map_err(db_error("checkpoint read"))?;
                Ok(rows.iter().map(checkpoint_row).collect())
            })
        })
        .await
    }

    async fn add_checkpoint(&self, checkpoint: &SignedCheckpoint, lease: &JobLease) -> Result<bool, StoreError> {
        let rows = checkpoints::pack_rows(&checkpoint.rows)?;
        let (cp, lease) = (checkpoint.clone(), lease.clone());
        self.with("add checkpoint", move |c| Box::pin(add_checkpoint(c, cp, rows, lease))).await
    }

    async fn exports(&self, from: i64, limit: usize) -> Result<Vec<Exported>, StoreError> {
        let limit = limit as i64;
        self.with("export read", move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT first_seq, last_seq, checkpoint_hash, file, exported_at FROM audit_exports
                         WHERE last_seq >= $1 ORDER BY last_seq LIMIT $2",
                        &[&from, &limit],
                    )
                    .await
                    .map_err(db_error("export read"))?;
                Ok(rows.iter().map(export_row).collect())
            })
        })
        .await
    }

    async fn last_export(&self) -> Result<Option<Exported>, StoreError> {
        self.with("export read", |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT first_seq, last_seq, checkpoint_hash, file, exported_at FROM audit_exports
                         ORDER BY last_seq DESC LIMIT 1",
                        &[],
                    )
                    .await
                    .map_err(db_error("export read"))?;
                Ok(row.as_ref().map(export_row))
            })
        })
        .await
    }

    async fn add_export(&self, export: &Exported, lease: &JobLease) -> Result<bool, StoreError> {
        let (e, lease) = (export.clone(), lease.clone());
        self.with("add export", move |c| Box::pin(add_export(c, e, lease))).await
    }

    async fn prune_segment(&self, first_seq: i64, last_seq: i64, lease: &JobLease) -> Result<u64, StoreError> {
        let lease = lease.clone();
        self.with("audit prune", move |c| Box::pin(prune_segment(c, first_seq, last_seq, lease))).await
    }

    async fn prune_expired(&self, now: i64, windows_before: i64) -> Result<Pruned, StoreError> {
        self.with("prune expired", move |c| {
            Box::pin(async move {
                let err = db_error("prune expired");
                let auth_sigs =
                    c.execute("DELETE FROM auth_sigs WHERE expires_at < $1", &[&now]).await.map_err(&err)?;
                let windows =
                    c.execute("DELETE FROM quota WHERE window_start < $1", &[&windows_before]).await.map_err(&err)?;
                Ok(Pruned { auth_sigs, windows, mint_locks: 0 })
            })
        })
        .await
    }
}

fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Whether `lease` still holds its job; locks the lease row until the transaction ends, so the
/// lease cannot pass to another holder before the caller's write commits.
async fn holds(tx: &tokio_postgres::Transaction<'_>, lease: &JobLease) -> Result<bool, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT 1 FROM audit_jobs WHERE job = $1 AND holder = $2 AND expires_at > $3 FOR UPDATE",
            &[&lease.job, &lease.holder, &now_millis()],
        )
        .await?;
    Ok(row.is_some())
}

fn checkpoint_row(r: &tokio_postgres::Row) -> SignedCheckpoint {
    checkpoints::unpack(
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get(7),
        r.get(8),
        r.get(9),
    )
}

fn export_row(r: &tokio_postgres::Row) -> Exported {
    Exported {
        first_seq: r.get(0),
        last_seq: r.get(1),
        checkpoint_hash: r.get(2),
        file: r.get(3),
        exported_at: r.get(4),
    }
}

async fn add_checkpoint(
    c: &mut Client,
    cp: SignedCheckpoint,
    rows: Vec<u8>,
    lease: JobLease,
) -> Result<bool, StoreError> {
    let err = db_error("add checkpoint");
    let tx = c.transaction().await.map_err(&err)?;
    if !holds(&tx, &lease).await.map_err(&err)? {
        return Ok(false);
    }
    let k = &cp.checkpoint;
    let n = tx
        .execute(
            &format!(
                "INSERT INTO audit_checkpoints ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                checkpoints::COLUMNS
            ),
            &[&k.first_seq, &k.last_seq, &k.head_hash, &k.previous_checkpoint_hash, &k.row_hashes, &k.at, &cp.hash, &cp.key, &cp.signature, &rows],
        )
        .await
        .map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(n > 0)
}

async fn add_export(c: &mut Client, e: Exported, lease: JobLease) -> Result<bool, StoreError> {
    let err = db_error("add export");
    let tx = c.transaction().await.map_err(&err)?;
    if !holds(&tx, &lease).await.map_err(&err)? {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO audit_exports (first_seq, last_seq, checkpoint_hash, file, exported_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        &[&e.first_seq, &e.last_seq, &e.checkpoint_hash, &e.file, &e.exported_at],
    )
    .await
    .map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(true)
}

async fn prune_segment(c: &mut Client, first: i64, last: i64, lease: JobLease) -> Result<u64, StoreError> {
    let err = db_error("audit prune");
    let tx = c.transaction().await.map_err(&err)?;
    if !holds(&tx, &lease).await.map_err(&err)? {
        return Ok(0);
    }
    let exported: i64 = tx
        .query_one("SELECT count(*) FROM audit_exports WHERE first_seq = $1 AND last_seq = $2", &[&first, &last])
        .await
        .map_err(&err)?
        .get(0);
    let head: i64 = tx.query_one("SELECT coalesce(max(seq), 0)::bigint FROM audit", &[]).await.map_err(&err)?.get(0);
    if exported == 0 || head <= last {
        return Ok(0);
    }
    let removed =
        tx.execute("DELETE FROM audit WHERE seq >= $1 AND seq <= $2", &[&first, &last]).await.map_err(&err)?;
    tx.execute("DELETE FROM audit_checkpoints WHERE last_seq < $1", &[&last]).await.map_err(&err)?;
    tx.execute("DELETE FROM audit_exports WHERE last_seq < $1", &[&last]).await.map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(removed)
}
