//! Group commit of the audit log on PostgreSQL: the process's rows go to the database one batch
//! at a time, each answered when its batch is durable; a batch whose COMMIT went unanswered is
//! resolved on another connection before anyone is answered.

use std::time::Duration;

use tokio_postgres::types::Type;

use super::chain::{Batch, FLUSH};
use super::{db_error, Inner};
use crate::audit::AuditEntry;
use crate::store::seal::Sealed;
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
            Batch::Unknown { xid, rows } => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let outcome = match rows.last() {
                        Some(last) => inner.resolve_commit(&xid, last).await,
                        None => Ok(()),
                    };
                    answer(replies, outcome.map(|()| rows.iter().map(Sealed::appended).collect()));
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
    /// The outcome of an audit batch whose COMMIT, or the flush after it, went unanswered (a
    /// timeout, a lost connection), as another connection sees it. Its last row visible: it
    /// committed, but an asynchronous commit is visible before it is durable, so the lookup
    /// then commits a flush of its own ([`FLUSH`], after the row was seen, so after its commit
    /// record); once that returns the rows are durable (and on a synchronous standby) and the
    /// append succeeded (the row says the request was answered, so it is). The transaction
    /// aborted (`txid_status`): it did not, and there is no row. Until one of the two holds (the
    /// backend is stalled or has not yet seen its client go, the flush waits for a standby, or
    /// the database is away) it asks again, for at most
    /// [`super::PgOptions::commit_resolve_bound`]; after that the outcome is unknown and the
    /// append fails as unreachable, logged as such (the row may yet appear, or be there already
    /// and become durable later).
    pub(super) async fn resolve_commit(&self, xid: &str, last: &Sealed) -> Result<(), StoreError> {
        const OP: &str = "audit append";
        let started = tokio::time::Instant::now();
        let give_up = started + self.commit_resolve;
        loop {
            match self.look_up(xid, last, give_up).await {
                Ok(Lookup::Durable) => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        seq = last.entry.seq,
                        "audit COMMIT unanswered in time; it committed, the request is answered"
                    );
                    return self.record(Ok(()));
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
                    seq = last.entry.seq,
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

    /// One look at a batch's outcome: its last row (visible, then made durable by a flush
    /// whose commit is waited for until `give_up`, one query timeout at least) or its
    /// transaction's status (within a query timeout).
    async fn look_up(&self, xid: &str, last: &Sealed, give_up: tokio::time::Instant) -> Result<Lookup, StoreError> {
        const OP: &str = "audit append";
        let lookup = async {
            let mut conn = self.pool.get().await?;
            let c = conn.client();
            let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] =
                [(&last.entry.seq, Type::INT8), (&last.hash, Type::TEXT), (&xid, Type::TEXT)];
            let (begun, found) = tokio::join!(
                c.batch_execute("BEGIN"),
                c.query_typed_one(
                    "SELECT EXISTS (SELECT 1 FROM audit WHERE seq = $1 AND hash = $2),
                            CASE WHEN $3::text::bigint >= txid_snapshot_xmax(txid_current_snapshot()) THEN 'never'
                                 ELSE coalesce(txid_status($3::text::bigint), 'unknown') END",
                    &params,
                )
            );
            begun.map_err(db_error(OP))?;
            let found = found.map_err(db_error(OP))?;
            Ok::<_, StoreError>((conn, found.get::<_, bool>(0), found.get::<_, String>(1)))
        };
        let (mut conn, visible, status) = match tokio::time::timeout(self.query_timeout, lookup).await {
            Ok(r) => r?,
            Err(_) => return Ok(Lookup::Pending),
        };
        if !visible {
            let c = conn.client();
            if tokio::time::timeout(self.query_timeout, c.batch_execute("ROLLBACK")).await.is_ok_and(|r| r.is_ok()) {
                conn.keep();
            }
            // Aborted, or (after a failover) an id this server never gave out: no row.
            return Ok(if status == "aborted" || status == "never" { Lookup::RolledBack } else { Lookup::Pending });
        }
        // The flush's WAL comes after the commit record of the row just seen. One connection
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
                Ok(Lookup::Durable)
            }
            Ok(Err(e)) => Err(db_error(OP)(e)),
            Err(_) => Ok(Lookup::Pending),
        }
    }
}

/// What one look at an unanswered batch found.
enum Lookup {
    /// Its rows are committed and durable.
    Durable,
    /// Its transaction aborted (or never was): no row.
    RolledBack,
    /// Not known yet.
    Pending,
}
