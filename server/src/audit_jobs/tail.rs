//! `audit tail`: the log as JSON lines for a SIEM, rows as they are committed, each signed
//! checkpoint right after its last row ([`crate::audit::segment::Line`]).
//!
//! Every row carries its sequence number, its previous row's hash and its own, so the receiver
//! sees a gap or a rewrite; the feed checks the same itself and stops with an error when the log
//! changed under it (a row that does not link to the last one sent, or a head that went back:
//! the tail was cut). It resumes after a given sequence number, or, writing to a file, after
//! the last row already in the file.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::segment::Line;
use crate::store::ServiceStore;

/// What to stream.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Start after this sequence number (default: after the file's last row, else the first
    /// row in the database).
    pub after: Option<i64>,
    /// Keep going, polling for new rows.
    pub follow: bool,
    /// How often to look for new rows when following.
    pub poll: Duration,
    /// Append to this file (fsynced per batch) instead of stdout.
    pub output: Option<PathBuf>,
}

/// Why the feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The log is not what was already sent: a gap or a rewrite.
    #[error("{0}")]
    Changed(String),
    /// The store or the output failed.
    #[error("{0}")]
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> TailError {
    TailError::Failed(e.to_string())
}

/// Where a feed file stops: its last row (sequence number and hash) and the last row its
/// checkpoint lines cover (or the row before its first).
type Resume = Option<((i64, String), i64)>;

fn resume_point(path: &Path) -> Result<Resume, TailError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(format!("{}: {e}", path.display()))),
    };
    let (mut last, mut checkpoints) = (None, None);
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(failed)?;
        // A torn last line (a crash mid-write) is written again.
        match Line::parse(&line) {
            Ok(Line::Row(r)) => {
                checkpoints.get_or_insert(r.seq - 1);
                last = Some((r.seq, r.hash));
            }
            Ok(Line::Checkpoint(c)) => checkpoints = Some(c.checkpoint.last_seq),
            Err(_) => {}
        }
    }
    Ok(last.map(|l| (l, checkpoints.unwrap_or(0))))
}

/// Streams to `out` (or the options' file) until the log is read (or, following, until `stop`).
pub async fn tail(
    store: &dyn ServiceStore,
    options: &TailOptions,
    out: &mut (dyn Write + Send),
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u64, TailError> {
    let mut file = None;
    let mut resumed: Resume = None;
    if let Some(path) = &options.output {
        if options.after.is_none() {
            resumed = resume_point(path)?;
        }
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)
            .map_err(|e| failed(format!("{}: {e}", path.display())))?;
        file = Some(f);
    }
    let mut after = match (options.after, &resumed) {
        (Some(a), _) => a,
        (None, Some(((seq, _), _))) => *seq,
        (None, None) => store.audit_first_seq().await.map_err(failed)?.map_or(0, |f| f - 1),
    };
    let mut checkpoints_upto = resumed.as_ref().map_or(after, |r| r.1);
    let mut last: Option<(i64, String)> = resumed.map(|r| r.0);
    let mut sent = 0u64;
    // Checkpoints are sent once their last row has been, in order; one may be written after
    // its rows were sent.
    loop {
        let rows = store.audit_rows(after, 1000).await.map_err(failed)?;
        let batch_end = rows.last().map_or(after, |r| r.seq);
        let mut checkpoints = std::collections::VecDeque::new();
        if checkpoints_upto < batch_end {
            checkpoints.extend(
                store
                    .checkpoints(checkpoints_upto + 1, 64)
                    .await
                    .map_err(failed)?
                    .into_iter()
                    .take_while(|c| c.checkpoint.last_seq <= batch_end),
            );
        }
        let mut text = String::new();
        let mut send_checkpoints = |upto: i64, text: &mut String, checkpoints_upto: &mut i64| {
            while checkpoints.front().is_some_and(|c| c.checkpoint.last_seq <= upto) {
                if let Some(c) = checkpoints.pop_front() {
                    *checkpoints_upto = c.checkpoint.last_seq;
                    text.push_str(&Line::Checkpoint(c).to_json());
                    text.push('\n');
                }
            }
        };
        send_checkpoints(after, &mut text, &mut checkpoints_upto);
        for row in &rows {
            if row.seq != after + 1 && (last.is_some() || sent > 0 || options.after.is_some()) {
                return Err(TailError::Changed(format!(
                    "rows {}..{} are gone (pruned before they were sent, or removed)",
                    after + 1,
                    row.seq - 1
                )));
            }
            if let Some((_, hash)) = &last {
                if row.prev_hash != *hash {
                    return Err(TailError::Changed(format!(
                        "row {} does not link to the row {} sent before: the log was rewritten",
                        row.seq, after
                    )));
                }
            }
            after = row.seq;
            last = Some((row.seq, row.hash.clone()));
            text.push_str(&Line::Row(row.clone()).to_json());
            text.push('\n');
            sent += 1;
            send_checkpoints(after, &mut text, &mut checkpoints_upto);
        }
        if !text.is_empty() {
            match &mut file {
                Some(f) => {
                    f.write_all(text.as_bytes()).map_err(failed)?;
                    f.sync_data().map_err(failed)?;
                }
                None => {
                    out.write_all(text.as_bytes()).map_err(failed)?;
                    out.flush().map_err(failed)?;
                }
            }
        }
        if !rows.is_empty() {
            continue;
        }
        if let Some((head, _)) = store.audit_head().await.map_err(failed)? {
            if head < after {
                return Err(TailError::Changed(format!(
                    "the log's head went back from {after} to {head}: rows were removed"
                )));
            }
        }
        if !options.follow {
            return Ok(sent);
        }
        tokio::select! {
            _ = tokio::time::sleep(options.poll) => {}
            changed = stop.changed() => if changed.is_err() { return Ok(sent) }
        }
        if *stop.borrow() {
            return Ok(sent);
        }
    }
}
