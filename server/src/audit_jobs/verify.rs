//! `audit verify`: the archive's segments and the database as one chain, from the first row
//! or from a trusted checkpoint, every checkpoint's signature checked against the trusted keys.
//!
//! - Full (no trusted start): from row 1 through the archive (`--archive`), then the database.
//!   Without the archive, a pruned database starts at its oldest checkpoint (whose signature is
//!   checked; the first remaining row must link to its head).
//! - Incremental: from a trusted checkpoint (remembered in the state file after the last run,
//!   or given as `LAST_SEQ:HASH`), which must still be in the database (or the archive) with the
//!   same hash; only what follows is read.
//! - Rows in both the archive and the database (exported, not yet pruned) must be the same rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::checkpoint::{SignedCheckpoint, TrustedKeys};
use crate::audit::segment::Segment;
use crate::audit::verify::{Broken, LogVerifier, Summary};
use crate::audit::{chain_hash, AuditRow};
use crate::store::ServiceStore;

use super::export::list_segments;

/// A checkpoint trusted from before: its last row and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    /// The checkpoint's `last_seq`.
    pub last_seq: i64,
    /// The checkpoint's hash.
    pub hash: String,
}

impl Trusted {
    /// Parses `LAST_SEQ:HASH`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (seq, hash) = text.split_once(':').ok_or("expected LAST_SEQ:HASH")?;
        let last_seq = seq.trim().parse().map_err(|_| "LAST_SEQ: a sequence number")?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("HASH: 64 hex digits".into());
        }
        Ok(Self { last_seq, hash })
    }

    /// Reads a state file (`None` if it does not exist yet).
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes a state file atomically.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The audit public keys (none: the chain only).
    pub keys: TrustedKeys,
    /// The archive directory.
    pub archive: Option<PathBuf>,
    /// Start after this checkpoint.
    pub since: Option<Trusted>,
}

/// The result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The verifier's summary.
    pub summary: Summary,
    /// Segment files read.
    pub segments: u64,
    /// Where the check started.
    pub start: String,
}

fn broken(seq: i64, reason: impl Into<String>) -> Broken {
    Broken { seq, reason: reason.into() }
}

/// Verifies; `Ok(Err(b))` is a broken log, `Err` a store or archive that cannot be read.
pub async fn verify(store: &dyn ServiceStore, options: &VerifyOptions) -> Result<Result<Report, Broken>, String> {
    let keys = &options.keys;
    // What is checked is what was committed when the check started: rows and checkpoints that
    // come in meanwhile are the next run's.
    let newest_cp = store.last_checkpoint().await.map_err(|e| e.to_string())?;
    let signed_upto = newest_cp.as_ref().map_or(0, |c| c.checkpoint.last_seq);
    let head = store.audit_head().await.map_err(|e| e.to_string())?.map_or(0, |h| h.0);
    let first_row = store.audit_first_seq().await.map_err(|e| e.to_string())?;
    let oldest_cp = store.checkpoints(0, 1).await.map_err(|e| e.to_string())?.into_iter().next();
    let segments = match &options.archive {
        Some(dir) => list_segments(dir).map_err(|e| format!("{}: {e}", dir.display()))?,
        None => Vec::new(),
    };
    let mut files = 0u64;

    // Where to start: a trusted checkpoint (from the database, else the archive), or row 1.
    let (mut v, start) = match &options.since {
        Some(t) => {
            if keys.is_empty() {
                return Err("a trusted checkpoint needs the audit public key".into());
            }
            let in_db = store.checkpoints(t.last_seq, 1).await.map_err(|e| e.to_string())?;
            let anchor = match in_db.into_iter().next() {
                Some(c) if c.checkpoint.last_seq == t.last_seq => Some(c),
                Some(_) if oldest_cp.as_ref().is_some_and(|o| o.checkpoint.last_seq > t.last_seq) => None,
                _ => {
                    return Ok(Err(broken(
                        t.last_seq,
                        format!(
                            "the trusted checkpoint ending at {} is not in the database: the log was cut back \
                             or rewritten",
                            t.last_seq
                        ),
                    )))
                }
            };
            let anchor = match anchor {
                Some(c) => c,
                None => {
                    let Some((_, _, path)) = segments.iter().find(|(_, last, _)| *last == t.last_seq) else {
                        return Err(format!(
                            "the trusted checkpoint ending at {} was pruned from the database; give --archive",
                            t.last_seq
                        ));
                    };
                    files += 1;
                    match read_segment(path)? {
                        Ok(seg) => seg.checkpoint,
                        Err(b) => return Ok(Err(b)),
                    }
                }
            };
            if anchor.hash != t.hash {
                return Ok(Err(broken(
                    anchor.checkpoint.first_seq,
                    format!("the checkpoint ending at {} is not the one trusted before: rewritten", t.last_seq),
                )));
            }
            match LogVerifier::after(keys.clone(), &anchor) {
                Ok(v) => (v, format!("after the trusted checkpoint ending at {}", t.last_seq)),
                Err(b) => return Ok(Err(b)),
            }
        }
        None if options.archive.is_some() || first_row.is_none_or(|f| f <= 1) => {
            (LogVerifier::new(keys.clone()), "from row 1".to_string())
        }
        None => {
            // A pruned database without the archive: from its oldest checkpoint.
            let first = first_row.unwrap_or(1);
            match &oldest_cp {
                Some(c) if c.checkpoint.last_seq == first - 1 => match LogVerifier::after(keys.clone(), c) {
                    Ok(v) => (
                        v,
                        format!(
                            "after the oldest checkpoint left, ending at {} (give --archive for the rows before)",
                            first - 1
                        ),
                    ),
                    Err(b) => return Ok(Err(b)),
                },
                _ => {
                    return Ok(Err(broken(
                        first,
                        format!("the database starts at row {first} and no checkpoint ends at {}", first - 1),
                    )))
                }
            }
        }
    };

    // The archive, in order, from where the verifier stands.
    let db_first = first_row.unwrap_or(i64::MAX);
    let mut archived_rows: BTreeMap<i64, String> = BTreeMap::new();
    let mut archived_cps: BTreeMap<i64, String> = BTreeMap::new();
    for (first, last, path) in &segments {
        if *last < v.next_seq() {
            continue;
        }
        if *first != v.next_seq() {
            return Ok(Err(broken(
                v.next_seq(),
                format!("the archive has no segment from {} (the next is {})", v.next_seq(), path.display()),
            )));
        }
        files += 1;
        let seg = match read_segment(path)? {
            Ok(s) => s,
            Err(b) => return Ok(Err(b)),
        };
        if (seg.checkpoint.checkpoint.first_seq, seg.checkpoint.checkpoint.last_seq) != (*first, *last) {
            return Ok(Err(broken(*first, format!("{} holds another range than its name", path.display()))));
        }
        if let Err(b) = v.checkpoint(&seg.checkpoint) {
            return Ok(Err(b));
        }
        for r in &seg.rows {
            if let Err(b) = v.row(r) {
                return Ok(Err(broken(b.seq, format!("{} (archive {})", b.reason, path.display()))));
            }
            if r.seq >= db_first {
                archived_rows.insert(r.seq, r.hash.clone());
            }
        }
        if seg.checkpoint.checkpoint.last_seq + 1 >= db_first {
            archived_cps.insert(seg.checkpoint.checkpoint.last_seq, seg.checkpoint.hash.clone());
        }
    }
    if options.archive.is_some() && v.next_seq() < db_first && first_row.is_some() {
        return Ok(Err(broken(
            v.next_seq(),
            format!("rows {}..{} are in neither the archive nor the database", v.next_seq(), db_first - 1),
        )));
    }

    // The database: first what the archive also holds (the same rows), then the rest.
    let mut position = v.next_seq() - 1;
    let mut after = archived_rows.keys().next().map_or(position, |f| position.min(f - 1));
    let mut cp_from = after + 1;
    let mut cps: Vec<SignedCheckpoint> = Vec::new();
    let mut cps_done = false;
    let mut prev_archived: Option<String> = None;
    loop {
        let rows = store.audit_rows(after, 1000).await.map_err(|e| e.to_string())?;
        if rows.is_empty() || after >= head {
            break;
        }
        for row in rows.iter().take_while(|r| r.seq <= head) {
            after = row.seq;
            if row.seq <= position {
                if let Err(b) = same_as_archived(row, &archived_rows, &mut prev_archived) {
                    return Ok(Err(b));
                }
                continue;
            }
            while cps.is_empty() && !cps_done {
                cps = checkpoints_upto(store, cp_from, signed_upto).await?;
                cps_done = cps.is_empty();
                if let Some(last) = cps.last() {
                    cp_from = last.checkpoint.last_seq + 1;
                }
                cps.reverse();
            }
            while cps.last().is_some_and(|c| c.checkpoint.last_seq <= position) {
                if let Some(c) = cps.pop() {
                    if archived_cps.get(&c.checkpoint.last_seq) != Some(&c.hash) {
                        return Ok(Err(broken(
                            c.checkpoint.first_seq,
                            "the database's checkpoint differs from the archived one".to_string(),
                        )));
                    }
                }
            }
            if cps.last().is_some_and(|c| c.checkpoint.first_seq <= row.seq) {
                if let Some(c) = cps.pop() {
                    if let Err(b) = v.checkpoint(&c) {
                        return Ok(Err(b));
                    }
                }
            }
            if let Err(b) = v.row(row) {
                return Ok(Err(b));
            }
            position = row.seq;
        }
    }
    // Checkpoints left over sign rows that are gone.
    loop {
        while let Some(c) = cps.pop() {
            if c.checkpoint.last_seq <= position && archived_cps.contains_key(&c.checkpoint.last_seq) {
                continue;
            }
            if let Err(b) = v.checkpoint(&c) {
                return Ok(Err(b));
            }
        }
        if cps_done {
            break;
        }
        cps = checkpoints_upto(store, cp_from, signed_upto).await?;
        cps_done = cps.is_empty();
        if let Some(last) = cps.last() {
            cp_from = last.checkpoint.last_seq + 1;
        }
        cps.reverse();
    }
    Ok(v.finish().map(|summary| Report { summary, segments: files, start }))
}

/// The next checkpoints from `from`, none ending after `upto`.
async fn checkpoints_upto(store: &dyn ServiceStore, from: i64, upto: i64) -> Result<Vec<SignedCheckpoint>, String> {
    let mut cps = store.checkpoints(from, 64).await.map_err(|e| e.to_string())?;
    cps.retain(|c| c.checkpoint.last_seq <= upto);
    Ok(cps)
}

/// A database row the archive holds too: the same hash, and a record that hashes to it.
fn same_as_archived(row: &AuditRow, archived: &BTreeMap<i64, String>, prev: &mut Option<String>) -> Result<(), Broken> {
    let Some(hash) = archived.get(&row.seq) else {
        return Err(broken(row.seq, "the row is in the database but not in the archive segment that covers it"));
    };
    if *hash != row.hash || chain_hash(&row.prev_hash, &row.record) != row.hash {
        return Err(broken(row.seq, "the database row differs from the archived one"));
    }
    if prev.as_ref().is_some_and(|p| *p != row.prev_hash) {
        return Err(broken(row.seq, "the database row does not link to the one before it"));
    }
    *prev = Some(row.hash.clone());
    Ok(())
}

fn read_segment(path: &Path) -> Result<Result<Segment, Broken>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = path.file_name().and_then(|n| n.to_str()).and_then(crate::audit::segment::parse_file_name);
    Ok(Segment::decode(&bytes).map_err(|e| broken(first.map_or(0, |f| f.0), format!("{}: {e}", path.display()))))
}
