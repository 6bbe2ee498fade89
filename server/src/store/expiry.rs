//! The store's per-request rows pruned as they run out (see
//! [`AuditUpkeep::prune_expired`](super::AuditUpkeep::prune_expired)), so the database does not
//! grow with the number of requests: every replica runs this; the deletes are idempotent, so
//! replicas need no lease for it.

use std::sync::Arc;
use std::time::Duration;

use super::ServiceStore;
use crate::signing::Timestamp;

/// How often the service prunes expired rows.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Every `every` until `stop`: prunes expired rows, keeping rate-limit windows younger than
/// `longest_window()` seconds (the longest window of the policy in force).
pub async fn run(
    store: Arc<dyn ServiceStore>,
    every: Duration,
    longest_window: impl Fn() -> i64 + Send + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            changed = stop.changed() => if changed.is_err() { break }
        }
        if *stop.borrow() {
            return;
        }
        let now = (Timestamp::now().unix_millis() / 1000) as i64;
        match store.prune_expired(now, now - longest_window().max(0)).await {
            Ok(p) if p != super::Pruned::default() => tracing::debug!(
                auth_sigs = p.auth_sigs,
                windows = p.windows,
                mint_locks = p.mint_locks,
                "expired rows pruned"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning expired rows failed; retried"),
        }
    }
}
