//! What both backends share for the audit log's upkeep: a checkpoint's stored columns, the
//! archive's record of an exported segment, and the leases that keep each audit job to one
//! process at a time.

use crate::audit::checkpoint::{Checkpoint, SignedCheckpoint};

use super::StoreError;

/// A lease on an audit job (`checkpoint`, `export`): the job's writes check that `holder` still
/// holds it, so a holder that stalled past its lease cannot write over the next one's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// The job.
    pub job: String,
    /// Who holds it (unique per process and take).
    pub holder: String,
}

/// A segment written to the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Its first row.
    pub first_seq: i64,
    /// Its last row (its checkpoint's `last_seq`).
    pub last_seq: i64,
    /// The hash of the checkpoint it ends with.
    pub checkpoint_hash: String,
    /// The file name in the archive.
    pub file: String,
    /// When it was written (RFC 3339).
    pub exported_at: String,
}

/// The row hashes as stored: 32 bytes each.
pub(super) fn pack_rows(rows: &[String]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(rows.len() * 32);
    for r in rows {
        match hex::decode(r) {
            Ok(b) if b.len() == 32 => out.extend(b),
            _ => {
                return Err(StoreError::Unavailable {
                    op: "add checkpoint",
                    message: format!("row hash {r:?} is not 64 hex digits"),
                })
            }
        }
    }
    Ok(out)
}

/// A checkpoint from its columns, in the order of [`COLUMNS`].
#[allow(clippy::too_many_arguments)]
pub(super) fn unpack(
    first_seq: i64,
    last_seq: i64,
    head_hash: String,
    previous_checkpoint_hash: String,
    row_hashes: String,
    at: String,
    hash: String,
    key: String,
    signature: String,
    rows: Vec<u8>,
) -> SignedCheckpoint {
    SignedCheckpoint {
        checkpoint: Checkpoint { first_seq, last_seq, head_hash, previous_checkpoint_hash, row_hashes, at },
        hash,
        key,
        signature,
        rows: rows.chunks(32).map(hex::encode).collect(),
    }
}

/// The checkpoint columns, in the order [`unpack`] takes them.
pub(super) const COLUMNS: &str =
    "first_seq, last_seq, head_hash, previous_checkpoint_hash, row_hashes, at, hash, key, signature, rows";
