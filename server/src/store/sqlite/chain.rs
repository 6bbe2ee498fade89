//! The audit chain's append in the SQLite file: the rate-limit charge, the chain head and the
//! sealed row in one immediate transaction.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::audit::AuditEntry;
use crate::store::seal::Sealed;
use crate::store::{Appended, QuotaCharge};

pub(super) fn append(
    conn: &mut Connection,
    entry: AuditEntry,
    charge: Option<QuotaCharge>,
) -> Result<Appended, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let refused = match &charge {
        Some(c) if !take_quota(&tx, c)? => Some(c),
        _ => None,
    };
    // The write lock (BEGIN IMMEDIATE) orders appends from every process on the file.
    let head = tx
        .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let row = Sealed::new(entry, head, refused).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let e = &row.entry;
    tx.execute(
        "INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.seq,
            e.at,
            e.request_id,
            e.client,
            e.endpoint.name(),
            e.decision.as_str(),
            e.rule,
            row.record,
            row.prev_hash,
            row.hash
        ],
    )?;
    tx.commit()?;
    Ok(row.appended())
}

/// Counts one unit of the charge's window, unless the limit is used up (false).
fn take_quota(tx: &rusqlite::Transaction<'_>, c: &QuotaCharge) -> Result<bool, rusqlite::Error> {
    let used: i64 = tx
        .query_row(
            "SELECT used FROM quota WHERE client = ?1 AND rule = ?2 AND window_start = ?3",
            params![c.client, c.rule, c.window_start],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    if used as u64 >= c.limit {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO quota (client, rule, window_start, used) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (client, rule, window_start) DO UPDATE SET used = used + 1",
        params![c.client, c.rule, c.window_start],
    )?;
    // Old windows are of no use once a newer one is counted.
    tx.execute(
        "DELETE FROM quota WHERE client = ?1 AND rule = ?2 AND window_start < ?3",
        params![c.client, c.rule, c.window_start],
    )?;
    Ok(true)
}
