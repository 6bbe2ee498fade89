//! Advisory locks on PostgreSQL (the mint lock, the session-key lock): a transaction on a
//! connection of its own, which the server ends (and so frees the lock) when its holder stops.

use std::time::Duration;

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
            let c = conn.client();
            c.batch_execute("BEGIN").await.map_err(db_error(op))?;
            // The wait is bounded on the server too, so an abandoned waiter does not queue.
            let ms = wait.map_or(0, |w| w.as_millis().max(1));
            let idle = hold.as_millis().max(1);
            c.batch_execute(&format!(
                "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}; \
                 SET LOCAL idle_in_transaction_session_timeout = {idle}",
                ms.max(1),
                ms + 1000
            ))
            .await
            .map_err(db_error(op))?;
            if wait.is_none() {
                let row = c
                    .query_one("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", &[&key])
                    .await
                    .map_err(db_error(op))?;
                if !row.get::<_, bool>(0) {
                    c.batch_execute("ROLLBACK").await.map_err(db_error(op))?;
                    conn.keep();
                    return Ok(None);
                }
                return Ok(Some(AdvisoryLock { _conn: conn }));
            }
            match c.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key]).await {
                Ok(_) => Ok(Some(AdvisoryLock { _conn: conn })),
                Err(e) if e.as_db_error().map(|d| d.code().code()) == Some("55P03") => Ok(None),
                Err(e) => Err(db_error(op)(e)),
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

/// A held advisory lock (minting, key maintenance): the transaction on its own connection.
/// Dropping it closes the connection, which ends the transaction and so releases the lock
/// (both are rare).
pub(super) struct AdvisoryLock {
    pub(super) _conn: Pooled,
}
