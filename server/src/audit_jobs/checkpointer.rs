//! The checkpoint writer: reads the committed head, and when `checkpoint_rows` rows or
//! `checkpoint_interval` have passed since the last checkpoint, signs the rows after it (at most
//! `checkpoint_rows` per checkpoint) with the audit key. It never touches the append path: it
//! reads what is committed, however rows were appended.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::audit::GENESIS;
use crate::signing::{AuditKey, Timestamp};
use crate::store::{JobLease, ServiceStore};

/// The job's name in the store's leases.
pub const JOB: &str = "checkpoint";

// Longest a checkpoint round may hold the lease; a holder that died frees it after this.
const LEASE: Duration = Duration::from_secs(10);
// Longest signature (a hung token fails the round, not the service).
const SIGN_BOUND: Duration = Duration::from_secs(10);

/// Runs until `stop` turns true, checking the head every quarter interval (50 ms to 1 s).
pub async fn run(
    store: Arc<dyn ServiceStore>,
    key: Arc<AuditKey>,
    rows: u64,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let poll = (every / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => if changed.is_err() { break }
        }
        if *stop.borrow() {
            return;
        }
        match write_due(&*store, &key, rows, every).await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("audit checkpoints are written again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, "audit checkpoint not written; retried");
            }
            Err(_) => {}
        }
    }
}

fn age_of(at: &str) -> Duration {
    let now = Timestamp::now().unix_millis();
    let then = at.parse::<Timestamp>().map_or(0, |t| t.unix_millis());
    Duration::from_millis(u64::try_from(now - then).unwrap_or(0))
}

/// Writes the checkpoints that are due; returns how many. `Ok(0)` when none is due or another
/// process holds the job. Every full `rows` rows get a checkpoint; the rows after the last full
/// one get theirs once the oldest of them is `every` old.
pub async fn write_due(
    store: &dyn ServiceStore,
    key: &Arc<AuditKey>,
    rows: u64,
    every: Duration,
) -> Result<u64, String> {
    let Some((head, _)) = store.audit_head().await.map_err(|e| e.to_string())? else { return Ok(0) };
    let covered = store.last_checkpoint().await.map_err(|e| e.to_string())?.map_or(0, |c| c.checkpoint.last_seq);
    if head <= covered {
        return Ok(0);
    }
    let full = covered + ((head - covered) as u64 / rows * rows) as i64;
    let oldest = store.audit_rows(covered, 1).await.map_err(|e| e.to_string())?;
    let waited = oldest.first().and_then(|r| serde_json::from_str::<crate::audit::AuditEntry>(&r.record).ok());
    let upto = if waited.is_some_and(|e| age_of(&e.at) >= every) { head } else { full };
    if upto <= covered {
        return Ok(0);
    }
    let lease = JobLease { job: JOB.into(), holder: super::holder() };
    if !store.take_job(&lease, LEASE).await.map_err(|e| e.to_string())? {
        return Ok(0);
    }
    let written = write_up_to(store, key, rows, upto, &lease).await;
    let _ = store.release_job(&lease).await;
    written
}

/// Checkpoints every row up to `head`, `rows` at most each, under `lease`.
pub async fn write_up_to(
    store: &dyn ServiceStore,
    key: &Arc<AuditKey>,
    rows: u64,
    head: i64,
    lease: &JobLease,
) -> Result<u64, String> {
    let mut written = 0;
    // Read again under the lease: another process may have written meanwhile.
    let mut last = store.last_checkpoint().await.map_err(|e| e.to_string())?;
    loop {
        let covered = last.as_ref().map_or(0, |c| c.checkpoint.last_seq);
        if covered >= head {
            return Ok(written);
        }
        let hashes = store.audit_hashes(covered, rows as usize).await.map_err(|e| e.to_string())?;
        let hashes: Vec<_> = hashes.into_iter().take_while(|(seq, _, _)| *seq <= head).collect();
        let Some(last_seq) = hashes.last().map(|(s, _, _)| *s) else { return Ok(written) };
        check_links(last.as_ref(), covered, &hashes)?;
        let list: Vec<String> = hashes.into_iter().map(|(_, _, h)| h).collect();
        let checkpoint = Checkpoint::next(last.as_ref(), last_seq, &list, Timestamp::now().to_string());
        let message = checkpoint.signed_bytes();
        let k = key.clone();
        let signature = tokio::time::timeout(SIGN_BOUND, tokio::task::spawn_blocking(move || k.sign(&message)))
            .await
            .map_err(|_| format!("the audit key did not sign within {} s", SIGN_BOUND.as_secs()))?
            .map_err(|e| e.to_string())??;
        let sealed = checkpoint.sealed(key.public_key().to_string(), &signature, list);
        if !store.add_checkpoint(&sealed, lease).await.map_err(|e| e.to_string())? {
            // The lease ran out, or another process wrote this range first: its turn.
            return Ok(written);
        }
        written += 1;
        last = Some(sealed);
        if !store.take_job(lease, LEASE).await.map_err(|e| e.to_string())? {
            return Ok(written);
        }
    }
}

/// The rows to sign must follow the last checkpoint without a gap, each linking to the one
/// before: a checkpoint never signs a chain that is already broken.
fn check_links(last: Option<&SignedCheckpoint>, covered: i64, hashes: &[(i64, String, String)]) -> Result<(), String> {
    let mut prev = match last {
        Some(c) => (c.checkpoint.last_seq, c.checkpoint.head_hash.clone()),
        None => match hashes.first() {
            Some((1, _, _)) => (0, GENESIS.to_string()),
            Some((seq, p, _)) => (seq - 1, p.clone()),
            None => return Ok(()),
        },
    };
    if last.is_none() && covered == 0 && prev.0 != 0 {
        return Err(format!("the log starts at seq {} with no checkpoint before it; not signing", prev.0 + 1));
    }
    for (seq, prev_hash, hash) in hashes {
        if *seq != prev.0 + 1 || *prev_hash != prev.1 {
            return Err(format!("the audit chain does not link at seq {seq}; not signing it (run audit verify)"));
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("row {seq} has a malformed hash; not signing it (run audit verify)"));
        }
        prev = (*seq, hash.clone());
    }
    Ok(())
}
