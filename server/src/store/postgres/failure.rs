//! What a failed or timed-out PostgreSQL operation means: busy (the database answers, this
//! request waited too long: 503 store-busy for it alone) or unreachable (no answer, a failed
//! connection: the fail-fast window opens so queued requests do not each wait out a timeout).

use std::time::Duration;

use super::{pg_message, Inner, StoreError};
use crate::store::pool::Pooled;

// How long one liveness check's answer serves other requests that timed out.
const LIVENESS_REUSE: Duration = Duration::from_millis(250);

impl Inner {
    pub(super) fn fail_fast(&self, op: &'static str) -> Result<(), StoreError> {
        let until = *self.fail_fast_until.lock().unwrap_or_else(|p| p.into_inner());
        match until {
            Some(t) if tokio::time::Instant::now() < t => Err(StoreError::Unreachable {
                op,
                message: "the database did not answer moments ago; not waiting for it again yet".into(),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn record<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut until = self.fail_fast_until.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => *until = None,
            Err(StoreError::Unreachable { .. }) => {
                *until = Some(tokio::time::Instant::now() + self.query_timeout);
                // Idle connections may lead to the same dead or hung server.
                self.pool.clear();
            }
            Err(_) => {}
        }
        result
    }

    /// What an operation that ran out of time means: the database is busy (it still answers
    /// a trivial query on a new connection: every pooled connection in use, row or advisory
    /// locks, a queue of commits) or it is gone (no answer: hung, unreachable). `waited_for`
    /// says what the operation was waiting for.
    pub(super) async fn timed_out(&self, op: &'static str, waited: Duration, waited_for: &str) -> StoreError {
        let answers = {
            let mut last = self.liveness.lock().await;
            match *last {
                Some((at, answered)) if at.elapsed() < LIVENESS_REUSE => answered,
                _ => {
                    let answered = self.pool.answers().await;
                    *last = Some((tokio::time::Instant::now(), answered));
                    answered
                }
            }
        };
        let ms = waited.as_millis();
        if answers {
            StoreError::Busy { op, message: format!("{waited_for} for more than {ms} ms; the database is up but busy") }
        } else {
            StoreError::Unreachable { op, message: format!("no answer within {ms} ms") }
        }
    }

    /// A pooled connection within `deadline`.
    pub(super) async fn connection(
        &self,
        op: &'static str,
        deadline: tokio::time::Instant,
    ) -> Result<Pooled, StoreError> {
        match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(r) => r,
            Err(_) => Err(self.timed_out(op, self.query_timeout, "waited for a free pooled connection").await),
        }
    }
}

pub(super) fn db_error(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        let message = pg_message(&e);
        match e.as_db_error().map(|d| d.code().code()) {
            // No answer from the server (a closed connection, I/O), or the server going away or
            // refusing writes: connection exceptions (08), shutdown (57P01-57P03), a standby
            // (25006), no connection slots (53300).
            None => StoreError::Unreachable { op, message },
            Some(c) if c.starts_with("08") || c.starts_with("57P") || c == "25006" || c == "53300" => {
                StoreError::Unreachable { op, message }
            }
            // The server answered that this statement waited too long or lost a race: the
            // statement timeout (57014, which also ends lock waits), a lock timeout (55P03),
            // a serialization failure or deadlock (40001, 40P01).
            Some("57014" | "55P03" | "40001" | "40P01") => StoreError::Busy { op, message },
            Some(_) => StoreError::Unavailable { op, message },
        }
    }
}
