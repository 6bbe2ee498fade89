//! The audit chain's append on PostgreSQL: one batch of rows in one transaction, in two round
//! trips (BEGIN, the rate-limit charges and the chain head's row lock pipelined; the sealed rows
//! and the new head in one statement sent with COMMIT and the flush), so appends from every
//! replica form one chain.
//!
//! The transaction commits asynchronously (`synchronous_commit = off` for it alone), so the
//! chain head's row lock is released as soon as the commit record is written, not after its
//! WAL flush: replicas queued on the head do not wait out one another's flushes. The flush
//! comes from the statement pipelined right after COMMIT ([`FLUSH`]): an autocommit transaction
//! that writes WAL and so, at the session's `synchronous_commit`, waits for the WAL to be
//! flushed (and replicated to a synchronous standby) up to its own commit record, which lies
//! after ours. The batch is answered only when it returns. Flushes of several replicas overlap
//! and PostgreSQL serves them with one `fdatasync`.

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::{db_error, BoxFut, Inner};
use crate::audit::AuditEntry;
use crate::store::seal::Sealed;
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
    /// COMMIT was sent and its answer, or the flush's, is late or lost.
    Unknown { xid: String, rows: Vec<Sealed> },
}

impl Inner {
    /// Appends a batch of rows in one transaction: BEGIN, every rate-limit charge and the chain
    /// head's lock in one round trip, the sealed rows and the new head in one statement sent
    /// with COMMIT and [`FLUSH`]. A failure before COMMIT leaves no row; a COMMIT or a flush
    /// whose answer is lost is resolved before anyone is answered.
    pub(super) async fn append_batch(&self, items: Vec<(AuditEntry, Option<QuotaCharge>)>) -> Batch {
        const OP: &str = "audit append";
        if let Err(e) = self.fail_fast(OP) {
            return Batch::Done(Err(e));
        }
        let bound = self.query_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let mut conn = match self.connection(OP, deadline).await {
            Ok(c) => c,
            Err(e) => return Batch::Done(self.record(Err(e))),
        };
        // Up to COMMIT, a failure or a timeout leaves no row: the connection is closed, which
        // rolls the transaction back.
        let (rows, xid) = match tokio::time::timeout_at(deadline, stage(conn.client(), items)).await {
            Ok(Ok(staged)) => staged,
            Ok(Err(e)) => return Batch::Done(self.record(Err(e))),
            Err(_) => {
                drop(conn);
                return Batch::Done(self.record(Err(self.timed_out(OP, bound, "waited for the database").await)));
            }
        };
        let Some(last) = rows.last() else { return Batch::Done(Ok(Vec::new())) };
        let column = |f: fn(&Sealed) -> String| rows.iter().map(f).collect::<Vec<String>>();
        let seqs: Vec<i64> = rows.iter().map(|r| r.entry.seq).collect();
        let (at, request_id, client, endpoint, decision) = (
            column(|r| r.entry.at.clone()),
            column(|r| r.entry.request_id.clone()),
            column(|r| r.entry.client.clone()),
            column(|r| r.entry.endpoint.name().to_string()),
            column(|r| r.entry.decision.as_str().to_string()),
        );
        let rule: Vec<Option<String>> = rows.iter().map(|r| r.entry.rule.clone()).collect();
        let (record, prev_hash, hash) =
            (column(|r| r.record.clone()), column(|r| r.prev_hash.clone()), column(|r| r.hash.clone()));
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 12] = [
            (&seqs, Type::INT8_ARRAY),
            (&at, Type::TEXT_ARRAY),
            (&request_id, Type::TEXT_ARRAY),
            (&client, Type::TEXT_ARRAY),
            (&endpoint, Type::TEXT_ARRAY),
            (&decision, Type::TEXT_ARRAY),
            (&rule, Type::TEXT_ARRAY),
            (&record, Type::TEXT_ARRAY),
            (&prev_hash, Type::TEXT_ARRAY),
            (&hash, Type::TEXT_ARRAY),
            (&last.entry.seq, Type::INT8),
            (&last.hash, Type::TEXT),
        ];
        let c = conn.client();
        let insert = c.query_typed(
            "WITH appended AS (
                 INSERT INTO audit (seq, at, request_id, client, endpoint, decision, rule, record, prev_hash, hash)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::text[], $8::text[], $9::text[], $10::text[]))
             UPDATE audit_head SET seq = $11, hash = $12 WHERE id = 1",
            &params,
        );
        let commit = c.batch_execute("COMMIT");
        let flush = c.batch_execute(FLUSH);
        let outcome = match tokio::time::timeout_at(deadline, async { tokio::join!(insert, commit, flush) }).await {
            Ok((Ok(_), Ok(()), Ok(()))) => {
                conn.keep();
                Some(self.record(Ok(())))
            }
            // The rows were refused: the COMMIT that followed rolled the transaction back.
            Ok((Err(e), _, _)) if e.as_db_error().is_some() => Some(self.record(Err(db_error(OP)(e)))),
            // The server answered COMMIT with an error: rolled back.
            Ok((Ok(_), Err(e), _)) if e.as_db_error().is_some() => Some(self.record(Err(db_error(OP)(e)))),
            // Committed, but the flush failed: whether the rows are durable is found on the side.
            Ok((Ok(_), Ok(()), Err(e))) => {
                tracing::warn!(error = %super::pg_message(&e), "audit append: the flush after COMMIT failed");
                None
            }
            // COMMIT or the flush was sent and its answer is late or lost: the rows may be
            // committed, and durable. The answer waits for the outcome, looked up on another
            // connection.
            _ => None,
        };
        match outcome {
            Some(outcome) => Batch::Done(outcome.map(|()| rows.iter().map(Sealed::appended).collect())),
            None => {
                drop(conn);
                Batch::Unknown { xid, rows }
            }
        }
    }
}

/// A batch up to its last statement, in one round trip: BEGIN (an asynchronous commit), each row's rate-limit charge
/// (in order: two rows of one client count one after the other) and the chain head's lock
/// (which orders appends from every replica; after a wait it reads the new head), sent
/// together. Returns the rows sealed onto the head, in order, and the transaction's id (to
/// resolve a COMMIT whose answer is lost).
async fn stage(c: &Client, items: Vec<(AuditEntry, Option<QuotaCharge>)>) -> Result<(Vec<Sealed>, String), StoreError> {
    enum Step {
        Begun,
        Counted(bool),
        Head(tokio_postgres::Row),
    }
    let err = db_error("audit append");
    let mut steps: Vec<BoxFut<'_, Step>> = Vec::with_capacity(items.len() + 2);
    // Committed asynchronously: the head's lock goes with the commit record, before the flush.
    steps.push(Box::pin(async {
        c.batch_execute("BEGIN; SET LOCAL synchronous_commit = off").await.map(|()| Step::Begun).map_err(&err)
    }));
    for (_, charge) in &items {
        if let Some(q) = charge {
            steps.push(Box::pin(async { take_quota(c, q).await.map(Step::Counted).map_err(&err) }));
        }
    }
    steps.push(Box::pin(async {
        c.query_typed_one("SELECT seq, hash, txid_current()::text FROM audit_head WHERE id = 1 FOR UPDATE", &[])
            .await
            .map(Step::Head)
            .map_err(&err)
    }));
    let mut counted = Vec::new();
    let mut head = None;
    for step in join_in_order(steps).await {
        match step? {
            Step::Begun => {}
            Step::Counted(c) => counted.push(c),
            Step::Head(row) => head = Some(row),
        }
    }
    let head = head.ok_or(StoreError::Unavailable { op: "audit append", message: "no chain head".into() })?;
    let xid: String = head.get(2);
    let mut prev: (i64, String) = (head.get(0), head.get(1));
    let mut counted = counted.into_iter();
    let mut rows = Vec::with_capacity(items.len());
    for (entry, charge) in items {
        let refused = match &charge {
            Some(q) if !counted.next().unwrap_or(false) => Some(q),
            _ => None,
        };
        let row = Sealed::new(entry, Some(prev), refused)
            .map_err(|e| StoreError::Unavailable { op: "audit append", message: e.to_string() })?;
        prev = (row.entry.seq, row.hash.clone());
        rows.push(row);
    }
    Ok((rows, xid))
}

/// Runs `futures` together on one connection, each first polled in order, so their statements
/// go out in order in one round trip (pipelined); their outcomes, in order.
async fn join_in_order<T>(mut futures: Vec<BoxFut<'_, T>>) -> Vec<Result<T, StoreError>> {
    use std::task::Poll;
    let mut done: Vec<Option<Result<T, StoreError>>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(r) => *slot = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Unavailable { op: "audit append", message: "a step never ran".into() })))
        .collect()
}

/// Counts one unit of the charge's window, unless the limit is used up (false), and drops the
/// client's older windows (of no use once a newer one is counted). One statement counts and
/// checks: concurrent replicas cannot both take the last unit.
async fn take_quota(c: &Client, q: &QuotaCharge) -> Result<bool, tokio_postgres::Error> {
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(false);
    }
    let counted: i64 = c
        .query_typed_one(
            "WITH counted AS (
                 INSERT INTO quota (client, rule, window_start, used) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (client, rule, window_start) DO UPDATE SET used = quota.used + 1
                 WHERE quota.used < $4 RETURNING used),
             old AS (
                 DELETE FROM quota WHERE client = $1 AND rule = $2 AND window_start < $3
                 AND EXISTS (SELECT 1 FROM counted))
             SELECT count(*) FROM counted",
            &[(&q.client, Type::TEXT), (&q.rule, Type::TEXT), (&q.window_start, Type::INT8), (&limit, Type::INT8)],
        )
        .await?
        .get(0);
    Ok(counted > 0)
}
