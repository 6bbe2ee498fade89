//! `audit export`: closed segments (the rows of one checkpoint) to gzip JSON-lines files, then
//! retention: exported segments pruned from the database.
//!
//! One exporter at a time (the store's `export` lease, checked again by every write). A segment
//! file is written to a temporary name, fsynced, renamed to `audit-<first>-<last>.jsonl.gz` and
//! the directory fsynced; only then is it recorded as exported, and only recorded segments whose
//! file is present are pruned. A crash anywhere leaves either nothing, a temporary file (removed
//! by the next run), or a complete file not yet recorded (found, checked and recorded by the
//! next run): a rerun neither loses nor repeats a row.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::segment::{self, Segment};
use crate::signing::{self, Timestamp};
use crate::store::{Exported, JobLease, ServiceStore};

use super::Retention;

/// The job's name in the store's leases.
pub const JOB: &str = "export";

// Renewed before every segment; a holder that died frees it after this.
const LEASE: Duration = Duration::from_secs(10);
const TMP_PREFIX: &str = ".tmp-";

/// What one export run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Segment files written (or found complete and recorded).
    pub exported: Vec<String>,
    /// Segments pruned from the database.
    pub pruned_segments: u64,
    /// Rows pruned from the database.
    pub pruned_rows: u64,
}

/// Why an export run did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Another process holds the export lease.
    #[error("another exporter is running (the store's export lease is held)")]
    Busy,
    /// The lease ran out under this run; what it did is kept, the rest is the next run's.
    #[error("the export lease passed to another process; stopped")]
    LostLease,
    /// The store or the archive failed.
    #[error("{0}")]
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> ExportError {
    ExportError::Failed(e.to_string())
}

/// The service's exporter: every `every`, export and prune; a busy lease is another replica's
/// turn.
pub async fn run(
    store: Arc<dyn ServiceStore>,
    dir: PathBuf,
    retention: Option<Retention>,
    every: Duration,
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
        match export(&*store, &dir, retention).await {
            Ok(r) if !r.exported.is_empty() || r.pruned_rows > 0 => tracing::info!(
                segments = r.exported.len(),
                pruned_segments = r.pruned_segments,
                pruned_rows = r.pruned_rows,
                "audit segments exported"
            ),
            Ok(_) | Err(ExportError::Busy) => {}
            Err(e) => tracing::error!(error = %e, dir = %dir.display(), "audit export stopped; retried"),
        }
    }
}

/// One export run: every closed segment not yet exported, then retention.
pub async fn export(
    store: &dyn ServiceStore,
    dir: &Path,
    retention: Option<Retention>,
) -> Result<ExportReport, ExportError> {
    let lease = JobLease { job: JOB.into(), holder: super::holder() };
    if !store.take_job(&lease, LEASE).await.map_err(failed)? {
        return Err(ExportError::Busy);
    }
    let result = export_held(store, dir, retention, &lease).await;
    let _ = store.release_job(&lease).await;
    result
}

async fn renew(store: &dyn ServiceStore, lease: &JobLease) -> Result<(), ExportError> {
    if store.take_job(lease, LEASE).await.map_err(failed)? {
        Ok(())
    } else {
        Err(ExportError::LostLease)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::task::spawn_blocking(f).await.map_err(failed)?.map_err(failed)
}

async fn export_held(
    store: &dyn ServiceStore,
    dir: &Path,
    retention: Option<Retention>,
    lease: &JobLease,
) -> Result<ExportReport, ExportError> {
    let mut report = ExportReport::default();
    let d = dir.to_path_buf();
    blocking(move || prepare_dir(&d)).await?;
    let mut upto = store.last_export().await.map_err(failed)?.map_or(0, |e| e.last_seq);
    loop {
        let checkpoints = store.checkpoints(upto + 1, 16).await.map_err(failed)?;
        if checkpoints.is_empty() {
            break;
        }
        for cp in checkpoints {
            let c = &cp.checkpoint;
            if upto > 0 && c.first_seq != upto + 1 {
                return Err(failed(format!(
                    "checkpoint {}..{} does not follow the last exported segment (…{upto}); run audit verify",
                    c.first_seq, c.last_seq
                )));
            }
            let count = (c.last_seq - c.first_seq + 1) as usize;
            let rows = store.audit_rows(c.first_seq - 1, count).await.map_err(failed)?;
            if rows.len() != count || rows.first().map(|r| r.seq) != Some(c.first_seq) {
                return Err(failed(format!(
                    "rows {}..{} of checkpoint are not all in the database; run audit verify",
                    c.first_seq, c.last_seq
                )));
            }
            let name = segment::file_name(c.first_seq, c.last_seq);
            let hash = cp.hash.clone();
            let (first_seq, last_seq) = (c.first_seq, c.last_seq);
            let seg = Segment { rows, checkpoint: cp };
            let (d, n) = (dir.to_path_buf(), name.clone());
            blocking(move || write_segment(&d, &n, &seg)).await?;
            renew(store, lease).await?;
            let record = Exported {
                first_seq,
                last_seq,
                checkpoint_hash: hash,
                file: name.clone(),
                exported_at: Timestamp::now().to_string(),
            };
            if !store.add_export(&record, lease).await.map_err(failed)? {
                return Err(ExportError::LostLease);
            }
            report.exported.push(name);
            upto = last_seq;
        }
    }
    if let Some(retention) = retention {
        prune(store, dir, retention, lease, &mut report).await?;
    }
    Ok(report)
}

/// Makes the directory (0750) and removes temporary files a crashed run left.
fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o750).create(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Writes the segment atomically. A complete file of the same segment (a run that crashed
/// before recording it) is kept if it holds the same checkpoint; a different one is an error,
/// never overwritten.
fn write_segment(dir: &Path, name: &str, seg: &Segment) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read(&path) {
        return match Segment::decode(&existing) {
            Ok(found) if found.checkpoint.hash == seg.checkpoint.hash && found.rows.len() == seg.rows.len() => Ok(()),
            _ => Err(std::io::Error::other(format!(
                "{} exists and holds something else; move it away and rerun",
                path.display()
            ))),
        };
    }
    let bytes = seg.encode()?;
    let tmp = dir.join(format!("{TMP_PREFIX}{name}-{}", signing::random_hex(4)));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o640).open(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()
}

async fn prune(
    store: &dyn ServiceStore,
    dir: &Path,
    retention: Retention,
    lease: &JobLease,
    report: &mut ExportReport,
) -> Result<(), ExportError> {
    let Some((head, _)) = store.audit_head().await.map_err(failed)? else { return Ok(()) };
    let Some(first) = store.audit_first_seq().await.map_err(failed)? else { return Ok(()) };
    let exported = store.exports(first, 4096).await.map_err(failed)?;
    for e in exported.into_iter().filter(|e| e.first_seq >= first) {
        // Never the head, and never a segment without its file.
        if e.last_seq >= head || !dir.join(&e.file).is_file() {
            break;
        }
        let old_enough = match retention {
            Retention::Rows(keep) => (head - e.last_seq) as u64 >= keep,
            Retention::Age(age) => {
                let cp = store.checkpoints(e.last_seq, 1).await.map_err(failed)?;
                cp.first().is_some_and(|c| c.checkpoint.last_seq == e.last_seq && age_of(&c.checkpoint.at) >= age)
            }
        };
        if !old_enough {
            break;
        }
        renew(store, lease).await?;
        let removed = store.prune_segment(e.first_seq, e.last_seq, lease).await.map_err(failed)?;
        if removed == 0 {
            break;
        }
        report.pruned_segments += 1;
        report.pruned_rows += removed;
    }
    Ok(())
}

fn age_of(at: &str) -> Duration {
    let now = Timestamp::now().unix_millis();
    let then = at.parse::<Timestamp>().map_or(now, |t| t.unix_millis());
    Duration::from_millis(u64::try_from(now - then).unwrap_or(0))
}

/// The archive's segment files, sorted by range: `(first_seq, last_seq, path)`.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(i64, i64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some((a, b)) = entry.file_name().to_str().and_then(segment::parse_file_name) {
            out.push((a, b, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}
