//! Advisory locks on PostgreSQL (the mint lock, the session-key lock): a transaction on a
//! connection of its own, which the server ends (and so frees the lock) when its holder stops.

use std::time::Duration;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use super::{db_error, PgStore};
use crate::store::pool::Pooled;
use crate::store::StoreError;

impl PgStore {
    /// Takes the advisory lock `key` in a transaction on a connection of its own, held until
    /// the returned lock is dropped: once (`wait: None`; `Ok(None)` when another session holds
    /// it) or waiting up to `wait` (`Ok(None)` when that ran out). The transaction may idle
    /// `hold` before the server ends it, which frees the lock of a holder that stopped.
    pub(super) async fn advisory_lock(
        &self,
        op: &'static str,
        key: String,
        wait: Option<Duration>,
        hold: Duration,
    ) -> Result<Option<AdvisoryLock>, StoreError> {
        let bound = wait.unwrap_or_default() + self.inner.query_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let take = async {
            let mut conn = self.inner.connection(op, deadline).await?;
            // The wait is bounded on the server too, so an abandoned waiter does not queue.
            let ms = wait.map_or(0, |w| w.as_millis().max(1));
            let bounds = transaction_bounds(ms.max(1), ms + 1000, hold.as_millis().max(1));
            if wait.is_none() {
                let sql = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))";
                let (begun, taken) = begin_and_lock(conn.client(), &bounds, sql, &key).await;
                begun.map_err(db_error(op))?;
                let taken = taken.map_err(db_error(op))?;
                if !taken.first().is_some_and(|row| row.get::<_, bool>(0)) {
                    conn.client().batch_execute("ROLLBACK").await.map_err(db_error(op))?;
                    conn.keep();
                    return Ok(None);
                }
                return Ok(Some(AdvisoryLock::new(conn, self.inner.query_timeout)));
            }
            let sql = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
            let (begun, taken) = begin_and_lock(conn.client(), &bounds, sql, &key).await;
            begun.map_err(db_error(op))?;
            match taken {
                Ok(_) => Ok(Some(AdvisoryLock::new(conn, self.inner.query_timeout))),
                Err(e) => {
                    end_refused(&mut conn, &e).await;
                    match e.as_db_error().map(|d| d.code().code()) {
                        Some("55P03") => Ok(None),
                        _ => Err(db_error(op)(e)),
                    }
                }
            }
        };
        self.inner.fail_fast(op)?;
        let result = match tokio::time::timeout_at(deadline, take).await {
            Ok(r) => r,
            Err(_) => Err(self.inner.timed_out(op, bound, "waited for the database").await),
        };
        self.inner.record(result)
    }
}

/// `BEGIN` and the transaction's bounds (milliseconds): how long a lock may be waited for, a
/// statement may run, and the transaction may idle before the server ends it (which frees the
/// lock of a holder that stopped).
fn transaction_bounds(lock_ms: u128, statement_ms: u128, idle_ms: u128) -> String {
    format!(
        "BEGIN; SET LOCAL lock_timeout = {lock_ms}; SET LOCAL statement_timeout = {statement_ms}; \
         SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"
    )
}

/// `begin` (from [`transaction_bounds`]) and the advisory-lock statement `lock` on `key`, sent
/// together in one round trip; their outcomes. A failed `begin` leaves `lock` outside a
/// transaction, where an advisory transaction lock ends with its statement.
async fn begin_and_lock(
    c: &Client,
    begin: &str,
    lock: &str,
    key: &str,
) -> (Result<(), tokio_postgres::Error>, Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>) {
    let params: [(&(dyn ToSql + Sync), Type); 1] = [(&key, Type::TEXT)];
    // Polled in this order, so BEGIN goes out first.
    tokio::join!(c.batch_execute(begin), c.query_typed(lock, &params))
}

/// After a lock statement the server refused (a lock wait that ran out, a statement timeout):
/// ends the aborted transaction and keeps the connection for the pool. A connection-level
/// failure, or a ROLLBACK that fails, leaves it to be closed.
async fn end_refused(conn: &mut Pooled, refused: &tokio_postgres::Error) {
    if refused.as_db_error().is_some() && conn.client().batch_execute("ROLLBACK").await.is_ok() {
        conn.keep();
    }
}

/// A held advisory lock (minting, key maintenance): the transaction on its own connection.
/// Dropping it sends ROLLBACK, which ends the transaction and so releases the lock, and gives the
/// connection back to the pool: opening a new connection (a new server process) for the next
/// lock cost several milliseconds per AuthSig minted. A ROLLBACK that fails or takes longer
/// than `bound`, or a drop outside the runtime, closes the connection instead, which releases
/// the lock too.
pub(super) struct AdvisoryLock {
    conn: Option<Pooled>,
    bound: Duration,
}

impl AdvisoryLock {
    fn new(conn: Pooled, bound: Duration) -> Self {
        Self { conn: Some(conn), bound }
    }
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        let (Some(mut conn), Ok(runtime)) = (self.conn.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let bound = self.bound;
        runtime.spawn(async move {
            if let Ok(Ok(())) = tokio::time::timeout(bound, conn.client().batch_execute("ROLLBACK")).await {
                conn.keep();
            }
        });
    }
}
