//! The audit chain's append on PostgreSQL: the rate-limit charge, the chain head row lock and
//! the sealed row in one transaction, so appends from every replica form one chain.

use tokio_postgres::Client;

use super::db_error;
use crate::audit::AuditEntry;
use crate::store::seal::Sealed;
use crate::store::{Appended, QuotaCharge, StoreError};

/// Appends `entry` (sealed onto the chain head) and takes `charge`'s unit; a charge the limit
/// refuses is sealed into the row as refused rather than failing the append.
pub(super) async fn append(
    c: &mut Client,
    entry: AuditEntry,
    charge: Option<QuotaCharge>,
) -> Result<Appended, StoreError> {
    let err = db_error("audit append");
    let tx = c.transaction().await.map_err(&err)?;
    let refused = match &charge {
        Some(q) if !take_quota(&tx, q).await.map_err(&err)? => Some(q),
        _ => None,
    };
    // The head row lock orders appends from every replica; after a wait it reads the new head.
    let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[]).await.map_err(&err)?;
    let row = Sealed::new(entry, Some((head.get(0), head.get(1))), refused)
        .map_err(|e| StoreError::Unavailable { op: "audit append", message: e.to_string() })?;
    let e = &row.entry;
    tx.execute(
        "INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &e.seq,
            &e.at,
            &e.request_id,
            &e.client,
            &e.endpoint.name(),
            &e.decision.as_str(),
            &e.rule,
            &row.record,
            &row.prev_hash,
            &row.hash,
        ],
    )
    .await
    .map_err(&err)?;
    tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[&e.seq, &row.hash]).await.map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(row.appended())
}

/// Counts one unit of the charge's window, unless the limit is used up (false). One statement
/// counts and checks: concurrent replicas cannot both take the last unit.
async fn take_quota(tx: &tokio_postgres::Transaction<'_>, q: &QuotaCharge) -> Result<bool, tokio_postgres::Error> {
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(false);
    }
    let counted = tx
        .query_opt(
            "INSERT INTO quota (client, rule, window_start, used) VALUES ($1, $2, $3, 1)
             ON CONFLICT (client, rule, window_start) DO UPDATE SET used = quota.used + 1
             WHERE quota.used < $4 RETURNING used",
            &[&q.client, &q.rule, &q.window_start, &limit],
        )
        .await?;
    if counted.is_none() {
        return Ok(false);
    }
    // Old windows are of no use once a newer one is counted.
    tx.execute(
        "DELETE FROM quota WHERE client = $1 AND rule = $2 AND window_start < $3",
        &[&q.client, &q.rule, &q.window_start],
    )
    .await?;
    Ok(true)
}
