//! The audit chain's append on PostgreSQL: one batch of rows in one transaction, in one round
//! trip. The `audit_append` function (each row's rate-limit charge, the chain head's row lock,
//! the rows sealed onto the head and inserted, the new head) is a statement and a transaction
//! of its own, sent together with the flush, so the head's lock is held only while the database
//! works, never across the network, and appends from every replica form one chain.
//!
//! The transaction commits asynchronously (`synchronous_commit = off` for it alone), so the
//! chain head's row lock is released as soon as the commit record is written, not after its
//! WAL flush: replicas queued on the head do not wait out one another's flushes. The flush
//! comes from the statement pipelined right after the append ([`FLUSH`]): an autocommit transaction
//! that writes WAL and so, at the session's `synchronous_commit`, waits for the WAL to be
//! flushed (and replicated to a synchronous standby) up to its own commit record, which lies
//! after ours. The batch is answered only when it returns. Flushes of several replicas overlap
//! and PostgreSQL serves them with one `fdatasync`.
//!
//! The commit comes with the rows, so an answer that is late or lost leaves the outcome unknown
//! until another connection finds it (the group's resolver): the batch's server process ended,
//! then its rows looked up by their content.

use tokio_postgres::types::{ToSql, Type};

use super::{db_error, Inner};
use crate::audit::{AuditEntry, DOMAIN};
use crate::store::pool::Backend;
use crate::store::seal::{Unsealed, RECORD_HEAD};
use crate::store::{Appended, QuotaCharge, StoreError};

/// Makes every commit before it durable: a transaction that writes a (transactional, empty)
/// logical-decoding message, so it has a transaction id and WAL of its own, and its commit
/// waits for the WAL flush and a synchronous standby as `synchronous_commit` says. (A
/// transaction that only takes an id, such as `SELECT txid_current()`, writes no WAL before
/// its commit record and commits without waiting for the flush.) Sent as a simple query, whose
/// answer comes after the commit.
pub(super) const FLUSH: &str = "SELECT pg_logical_emit_message(true, 'lit-session-server', '')";

/// What one batch came to.
pub(super) enum Batch {
    /// Known: every row is durable, or none is.
    Done(Result<Vec<Appended>, StoreError>),
    /// The append was sent and an answer (its own or the flush's) is late or lost: the rows
    /// may be committed. `backend` is the server process that has the transaction.
    Unknown { backend: Backend, rows: Vec<Unsealed> },
}

/// The statement: the rows' columns, as arrays, to `audit_append` (migration 0005). Prepared
/// on each connection once.
const APPEND: &str = "SELECT appended_seq, appended_hash, appended_charged FROM audit_append(
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

impl Inner {
    /// Appends a batch of rows in one transaction and one round trip: `audit_append` (its own
    /// transaction) and [`FLUSH`] sent together. The database refuses (lock timeout) a batch
    /// whose locks it could not take before this call's deadline, so a busy database gives a
    /// clear refusal and no row; an answer that is still missing at the deadline makes the
    /// outcome [`Batch::Unknown`]. A batch the database reaches too late to be looked up (it
    /// stalled and resumed) is refused there.
    pub(super) async fn append_batch(&self, items: Vec<(AuditEntry, Option<QuotaCharge>)>) -> Batch {
        const OP: &str = "audit append";
        if let Err(e) = self.fail_fast(OP) {
            return Batch::Done(Err(e));
        }
        let rows = match items.into_iter().map(|(e, c)| Unsealed::new(e, c)).collect::<Result<Vec<_>, _>>() {
            Ok(rows) if rows.is_empty() => return Batch::Done(Ok(Vec::new())),
            Ok(rows) => rows,
            Err(e) => return Batch::Done(Err(StoreError::Unavailable { op: OP, message: e.to_string() })),
        };
        let bound = self.query_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let mut conn = match self.connection(OP, deadline).await {
            Ok(c) => c,
            Err(e) => return Batch::Done(self.record(Err(e))),
        };
        // The server gives up on the batch's lock waits (quota rows, the head) a tenth of the
        // time left before this process would: a refusal it answers, not an unknown outcome.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let lock_ms = i32::try_from(left.as_millis() * 9 / 10).unwrap_or(i32::MAX);
        // The database refuses to seal the batch after this (by this host's clock): until
        // then, the resolver of an unknown outcome is still looking (half its bound).
        let not_after = std::time::SystemTime::now() + left + self.commit_resolve / 2;
        let not_after_us = not_after
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let columns = Columns::of(&rows);
        let params = columns.params(&not_after_us, &lock_ms);
        let backend = conn.backend();
        // Prepared once per connection (a round trip the first time): nothing is written yet,
        // so a failure or a timeout here leaves no row.
        let append = match tokio::time::timeout_at(deadline, conn.prepared(APPEND, &APPEND_TYPES)).await {
            Ok(Ok(statement)) => statement,
            Ok(Err(e)) => return Batch::Done(self.record(Err(db_error(OP)(e)))),
            Err(_) => {
                drop(conn);
                return Batch::Done(self.record(Err(self.timed_out(OP, bound, "waited for the database").await)));
            }
        };
        let c = conn.client();
        // The append is its own transaction, committed (asynchronously) before its answer
        // comes back; the flush follows it.
        let (appended, flushed) = (c.query(&append, &params), c.batch_execute(FLUSH));
        let answers = tokio::time::timeout_at(deadline, async { tokio::join!(appended, flushed) });
        let outcome = match answers.await {
            Ok((Ok(found), Ok(()))) => match appended_rows(&found, rows.len()) {
                Ok(appended) => {
                    conn.keep();
                    self.record(Ok(appended))
                }
                // Committed, but the answer does not say how: the rows say it.
                Err(e) => {
                    tracing::warn!(error = %e, "audit append: an answer that does not match the batch");
                    return Batch::Unknown { backend, rows };
                }
            },
            // The batch was refused (its transaction rolled back): no row.
            Ok((Err(e), _)) if e.as_db_error().is_some() => self.record(Err(db_error(OP)(e))),
            // Committed, but the flush failed; or an answer is late or lost. The rows may be
            // committed (and durable): the answer waits for the outcome, found on another
            // connection.
            Ok((Ok(_), Err(e))) if e.as_db_error().is_some() => {
                tracing::warn!(error = %super::pg_message(&e), "audit append: the flush after the append failed");
                return Batch::Unknown { backend, rows };
            }
            _ => return Batch::Unknown { backend, rows },
        };
        Batch::Done(outcome)
    }
}

/// The rows `audit_append` returned, one per row sent.
fn appended_rows(found: &[tokio_postgres::Row], sent: usize) -> Result<Vec<Appended>, StoreError> {
    if found.len() != sent {
        return Err(StoreError::Unavailable {
            op: "audit append",
            message: format!("audit_append returned {} rows for {sent}", found.len()),
        });
    }
    found
        .iter()
        .map(|r| {
            Ok(Appended {
                seq: r.try_get(0).map_err(db_error("audit append"))?,
                hash: r.try_get(1).map_err(db_error("audit append"))?,
                charged: r.try_get(2).map_err(db_error("audit append"))?,
            })
        })
        .collect()
}

/// A batch's rows as the columns `audit_append` takes.
#[derive(Default)]
struct Columns {
    tail: Vec<String>,
    refused_tail: Vec<Option<String>>,
    at: Vec<String>,
    request_id: Vec<String>,
    client: Vec<String>,
    endpoint: Vec<String>,
    decision: Vec<String>,
    refused_decision: Vec<Option<String>>,
    rule: Vec<Option<String>>,
    refused_rule: Vec<Option<String>>,
    quota_client: Vec<Option<String>>,
    quota_rule: Vec<Option<String>>,
    quota_window: Vec<Option<i64>>,
    quota_limit: Vec<Option<i64>>,
}

impl Columns {
    fn of(rows: &[Unsealed]) -> Self {
        let mut c = Self::default();
        for r in rows {
            let e = &r.entry;
            c.tail.push(r.tail.clone());
            c.at.push(e.at.clone());
            c.request_id.push(e.request_id.clone());
            c.client.push(e.client.clone());
            c.endpoint.push(e.endpoint.name().to_string());
            c.decision.push(e.decision.as_str().to_string());
            c.rule.push(e.rule.clone());
            // A charged row: its charge, and the denial it becomes if the limit is used up.
            let charge = r.charge.as_ref();
            c.refused_tail.push(charge.map(|(_, _, tail)| tail.clone()));
            c.refused_decision.push(charge.map(|(_, denial, _)| denial.decision.as_str().to_string()));
            c.refused_rule.push(charge.and_then(|(_, denial, _)| denial.rule.clone()));
            c.quota_client.push(charge.map(|(q, _, _)| q.client.clone()));
            c.quota_rule.push(charge.map(|(q, _, _)| q.rule.clone()));
            c.quota_window.push(charge.map(|(q, _, _)| q.window_start));
            c.quota_limit.push(charge.map(|(q, _, _)| i64::try_from(q.limit).unwrap_or(i64::MAX)));
        }
        c
    }

    /// The values, in [`APPEND_TYPES`]' order.
    fn params<'a>(&'a self, not_after_us: &'a i64, lock_ms: &'a i32) -> [&'a (dyn ToSql + Sync); 18] {
        [
            &DOMAIN,
            &RECORD_HEAD,
            &self.tail,
            &self.refused_tail,
            &self.at,
            &self.request_id,
            &self.client,
            &self.endpoint,
            &self.decision,
            &self.refused_decision,
            &self.rule,
            &self.refused_rule,
            &self.quota_client,
            &self.quota_rule,
            &self.quota_window,
            &self.quota_limit,
            not_after_us,
            lock_ms,
        ]
    }
}

/// The types of [`APPEND`]'s parameters.
const APPEND_TYPES: [Type; 18] = [
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT8_ARRAY,
    Type::INT8_ARRAY,
    Type::INT8,
    Type::INT4,
];
