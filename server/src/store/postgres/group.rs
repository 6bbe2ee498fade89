//! Group commit of the audit log on PostgreSQL: the process's rows go to the database one batch
//! at a time, each answered when its batch is durable; a batch whose COMMIT went unanswered is
//! resolved on another connection before anyone is answered.

use std::time::Duration;

use tokio_postgres::types::Type;

use super::chain::Batch;
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
/// transaction (one head lock, one insert, one WAL flush) and answered when it is durable. The
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
    /// The outcome of an audit batch whose COMMIT went unanswered (a timeout, a lost
    /// connection), as another connection sees it: its last row visible → it committed and every
    /// wait the COMMIT makes (its WAL flush, a synchronous standby) is over, so the append
    /// succeeded (the row says the request was answered, so it is); the transaction aborted
    /// (`txid_status`) → it did not, and there is no row. Until one of the two holds (the
    /// backend is stalled, still waiting for a standby, or has not yet seen its client go, or
    /// the database is away) it asks again, for at most [`super::PgOptions::commit_resolve_bound`];
    /// after that the outcome is unknown and the append fails as unreachable, logged as such
    /// (the row may yet appear).
    pub(super) async fn resolve_commit(&self, xid: &str, last: &Sealed) -> Result<(), StoreError> {
        const OP: &str = "audit append";
        let started = tokio::time::Instant::now();
        let give_up = started + self.commit_resolve;
        loop {
            let lookup = async {
                let mut conn = self.pool.get().await?;
                let found = conn
                    .client()
                    .query_typed_one(
                        "SELECT EXISTS (SELECT 1 FROM audit WHERE seq = $1 AND hash = $2),
                                CASE WHEN $3::text::bigint >= txid_snapshot_xmax(txid_current_snapshot()) THEN 'never'
                                     ELSE coalesce(txid_status($3::text::bigint), 'unknown') END",
                        &[(&last.entry.seq, Type::INT8), (&last.hash, Type::TEXT), (&xid, Type::TEXT)],
                    )
                    .await
                    .map_err(db_error(OP))?;
                conn.keep();
                Ok::<(bool, String), StoreError>((found.get(0), found.get(1)))
            };
            match tokio::time::timeout(self.query_timeout, lookup).await {
                Ok(Ok((true, _))) => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        seq = last.entry.seq,
                        "audit COMMIT unanswered in time; it committed, the request is answered"
                    );
                    return self.record(Ok(()));
                }
                // Aborted, or (after a failover) an id this server never gave out: no row.
                Ok(Ok((false, status))) if status == "aborted" || status == "never" => {
                    tracing::warn!(
                        request_id = %last.entry.request_id,
                        "audit COMMIT unanswered in time; it was rolled back, the request fails"
                    );
                    let e = self.timed_out(OP, self.query_timeout, "waited for the COMMIT").await;
                    return self.record(Err(e));
                }
                _ => {}
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
}
