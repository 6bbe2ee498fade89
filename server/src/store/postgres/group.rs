//! Group commit of the audit log on PostgreSQL: the process's rows go to the database one batch
//! at a time, each answered when its batch is durable; a batch whose COMMIT went unanswered is
//! resolved on another connection before anyone is answered.

use std::time::Duration;

use tokio_postgres::types::Type;

use super::chain::{Batch, FLUSH};
use super::{db_error, Inner};
use crate::audit::AuditEntry;
use crate::store::pool::Backend;
use crate::store::seal::Unsealed;
use crate::store::{Appended, QuotaCharge, StoreError};

/// An audit row waiting for its batch, and where its outcome goes.
pub(super) struct Pending {
    pub entry: AuditEntry,
    pub charge: Option<QuotaCharge>,
    pub reply: tokio::sync::oneshot::Sender<Result<Appended, StoreError>>,
}

/// Rows at most in one audit batch.
const MAX_BATCH: usize = 256;

/// Group commit: the process's audit rows go to the database one batch at a time. The rows
/// that arrive while a batch commits form the next one, which is sealed onto the chain in one
/// transaction (one head lock, one insert, one flush) and answered when it is durable. The
/// task ends when the store is dropped.
pub(super) async fn appender(inner: std::sync::Weak<Inner>, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else { break };
        let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| ((p.entry, p.charge), p.reply)).unzip();
        match inner.append_batch(items).await {
            Batch::Done(outcome) => answer(replies, outcome),
            // Its outcome is found on the side: the next batch does not wait for it (it reads
            // the head under the lock, after these rows if they committed, before them if not).
            Batch::Unknown { backend, rows } => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let outcome = inner.resolve_commit(backend, &rows).await;
                    answer(replies, outcome);
                });
            }
        }
    }
}

fn answer(
    replies: Vec<tokio::sync::oneshot::Sender<Result<Appended, StoreError>>>,
    outcome: Result<Vec<Appended>, StoreError>,
) {
    match outcome {
        Ok(appended) => {
            for (reply, a) in replies.into_iter().zip(appended) {
                let _ = reply.send(Ok(a));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

impl Inner {
    /// The outcome of an audit batch whose answer (the append's, its COMMIT's or the flush's)
    /// went missing (a timeout, a lost connection), as another connection sees it. First the
    /// batch's server process is ended (`pg_terminate_backend`) and found gone, so its
    /// transaction is over, committed or not, and nothing of it can change; then its rows are
    /// looked up by their content (request id, time, and the record as charged or as the
    /// denial). Found: it committed, but an asynchronous commit is visible before it is
    /// durable, so the lookup then commits a flush of its own ([`FLUSH`], after the rows were
    /// seen, so after their commit record); once that returns the rows are durable (and on a
    /// synchronous standby) and the append succeeded (the row says the request was answered, so
    /// it is). Not found: it did not, and there is no row. Until one of the two holds (the
    /// database is hung or away, the flush waits for a standby) it asks again, for at most
    /// [`super::PgOptions::commit_resolve_bound`]; after that the outcome is unknown and the
    /// append fails as unreachable, logged as such (the rows may yet appear, or be there
    /// already and become durable later).
    pub(super) async fn resolve_commit(
        &self,
        backend: Backend,
        rows: &[Unsealed],
    ) -> Result<Vec<Appended>, StoreError> {
        const OP: &str = "audit append";
        let Some(last) = rows.last() else { return Ok(Vec::new()) };
        let started = tokio::time::Instant::now();
        let give_up = started + self.commit_resolve;
        loop {
            match self.look_up(backend, rows, give_up).await {
                Ok(Lookup::Durable(appended)) => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        "audit COMMIT unanswered in time; it committed, the request is answered"
                    );
                    return self.record(Ok(appended));
                }
                Ok(Lookup::RolledBack) => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        "audit COMMIT unanswered in time; it was rolled back, the request fails"
                    );
                    let e = self.timed_out(OP, self.query_timeout, "waited for the COMMIT").await;
                    return self.record(Err(e));
                }
                Ok(Lookup::Pending) | Err(_) => {}
            }
            if tokio::time::Instant::now() >= give_up {
                tracing::error!(
                    request_id = %last.entry.request_id,
                    "audit COMMIT outcome unknown: the request fails, the row may yet appear"
                );
                return self.record(Err(StoreError::Unreachable {
                    op: OP,
                    message: format!(
                        "the COMMIT's outcome is still unknown after {} ms",
                        started.elapsed().as_millis()
                    ),
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One look at a batch's outcome: its server process still there (asked to end: pending),
    /// or gone and its rows found (then made durable by a flush whose commit is waited for
    /// until `give_up`, one query timeout at least) or not.
    async fn look_up(
        &self,
        backend: Backend,
        rows: &[Unsealed],
        give_up: tokio::time::Instant,
    ) -> Result<Lookup, StoreError> {
        const OP: &str = "audit append";
        let request_ids: Vec<&str> = rows.iter().map(|r| r.entry.request_id.as_str()).collect();
        let ats: Vec<&str> = rows.iter().map(|r| r.entry.at.as_str()).collect();
        let lookup = async {
            let mut conn = self.pool.get().await?;
            let c = conn.client();
            let ended: Vec<tokio_postgres::Row> = c
                .query_typed(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE pid = $1 AND (extract(epoch FROM backend_start) * 1000000)::bigint = $2",
                    &[(&backend.pid, Type::INT4), (&backend.started_us, Type::INT8)],
                )
                .await
                .map_err(db_error(OP))?;
            if !ended.is_empty() {
                conn.keep();
                return Ok::<_, StoreError>(None);
            }
            let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
                [(&request_ids, Type::TEXT_ARRAY), (&ats, Type::TEXT_ARRAY)];
            let (begun, found) = tokio::join!(
                c.batch_execute("BEGIN"),
                c.query_typed(
                    "SELECT seq, hash, record FROM audit WHERE request_id = ANY($1) AND at = ANY($2) ORDER BY seq",
                    &params,
                )
            );
            begun.map_err(db_error(OP))?;
            let found = found.map_err(db_error(OP))?;
            Ok(Some((conn, found)))
        };
        let (mut conn, found) = match tokio::time::timeout(self.query_timeout, lookup).await {
            Ok(Ok(Some(found))) => found,
            Ok(Ok(None)) | Err(_) => return Ok(Lookup::Pending),
            Ok(Err(e)) => return Err(e),
        };
        let Some(appended) = recognise(rows, &found)? else {
            let c = conn.client();
            if tokio::time::timeout(self.query_timeout, c.batch_execute("ROLLBACK")).await.is_ok_and(|r| r.is_ok()) {
                conn.keep();
            }
            return Ok(Lookup::RolledBack);
        };
        // The flush's WAL comes after the commit record of the rows just seen. One connection
        // waits for it (until `give_up`), rather than a new one per query timeout each left
        // waiting on the server for a slow standby.
        let c = conn.client();
        let flushed = async {
            let (message, commit) = tokio::join!(c.batch_execute(FLUSH), c.batch_execute("COMMIT"));
            message.and(commit)
        };
        let until = give_up.max(tokio::time::Instant::now() + self.query_timeout);
        match tokio::time::timeout_at(until, flushed).await {
            Ok(Ok(())) => {
                conn.keep();
                Ok(Lookup::Durable(appended))
            }
            Ok(Err(e)) => Err(db_error(OP)(e)),
            Err(_) => Ok(Lookup::Pending),
        }
    }
}

/// The batch's rows among `found` (rows with their request ids and times, in order): all of
/// them, at consecutive sequence numbers (it committed), or none (it did not).
fn recognise(rows: &[Unsealed], found: &[tokio_postgres::Row]) -> Result<Option<Vec<Appended>>, StoreError> {
    let err = db_error("audit append");
    let mut candidates = Vec::with_capacity(found.len());
    for r in found {
        let (seq, hash, record): (i64, String, String) =
            (r.try_get(0).map_err(&err)?, r.try_get(1).map_err(&err)?, r.try_get(2).map_err(&err)?);
        candidates.push((seq, hash, record));
    }
    // The batch's first row fixes where it lies; the others follow it.
    let first = rows
        .first()
        .and_then(|row| candidates.iter().rev().find_map(|(seq, _, record)| row.recognise(*seq, record).map(|_| *seq)));
    let Some(first) = first else { return Ok(None) };
    let mut appended = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let seq = first + i as i64;
        let hit = candidates.iter().find_map(|(s, hash, record)| {
            (*s == seq)
                .then(|| row.recognise(seq, record).map(|charged| Appended { seq, hash: hash.clone(), charged }))?
        });
        match hit {
            Some(a) => appended.push(a),
            None => {
                return Err(StoreError::Unavailable {
                    op: "audit append",
                    message: format!("the batch's row {} is not at sequence number {seq}", row.entry.request_id),
                })
            }
        }
    }
    Ok(Some(appended))
}

/// What one look at an unanswered batch found.
enum Lookup {
    /// Its rows are committed and durable.
    Durable(Vec<Appended>),
    /// Its transaction is over and left no row.
    RolledBack,
    /// Not known yet.
    Pending,
}
