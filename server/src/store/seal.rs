//! The half of an audit append that every backend shares: the charge's outcome applied to the
//! row, then the row sealed onto the chain's head (its sequence number, its record text and its
//! chain hash). The backends hold only the SQL around it: counting the charge, reading and
//! locking the head, inserting the row, in one transaction.

use super::Appended;
use crate::audit::{chain_hash, AuditEntry, GENESIS};
use crate::ratelimit::QuotaCharge;

/// A row ready to insert.
#[derive(Debug)]
pub(super) struct Sealed {
    /// The entry, with its sequence number (and the rate-limit denial, if refused).
    pub entry: AuditEntry,
    /// The record: the entry's JSON text, which the hash covers.
    pub record: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
    charged: bool,
}

impl Sealed {
    /// `entry` as the row after `head` (the last row's sequence number and hash; `None` for an
    /// empty log). `refused` is a charge the store found used up: the row is then the
    /// rate-limit denial.
    pub fn new(
        mut entry: AuditEntry,
        head: Option<(i64, String)>,
        refused: Option<&QuotaCharge>,
    ) -> Result<Self, serde_json::Error> {
        if let Some(charge) = refused {
            charge.refuse(&mut entry);
        }
        let (last_seq, prev_hash) = head.unwrap_or((0, GENESIS.to_string()));
        entry.seq = last_seq + 1;
        let record = serde_json::to_string(&entry)?;
        let hash = chain_hash(&prev_hash, &record);
        Ok(Self { entry, record, prev_hash, hash, charged: refused.is_none() })
    }

    /// What the append reports.
    pub fn appended(&self) -> Appended {
        Appended { seq: self.entry.seq, hash: self.hash.clone(), charged: self.charged }
    }
}
