//! The half of an audit append that every backend shares: the charge's outcome applied to the
//! row, then the row sealed onto the chain's head (its sequence number, its record text and its
//! chain hash). SQLite seals here, between reading the head and inserting the row; PostgreSQL
//! seals in the database ([`Unsealed`] is what it is handed), composing the record from the
//! same parts as [`record`].

use super::Appended;
use crate::audit::{chain_hash, AuditEntry, GENESIS};
use crate::ratelimit::QuotaCharge;

/// How a record's text starts: the sequence number is the entry's first field, so the record
/// is this, the number, then the rest of the entry's JSON (its tail).
pub(super) const RECORD_HEAD: &str = "{\"seq\":";

/// The record of the row at `seq` whose JSON after the sequence number is `tail`.
pub(super) fn record(seq: i64, tail: &str) -> String {
    format!("{RECORD_HEAD}{seq}{tail}")
}

/// The entry's JSON after its sequence number.
fn tail(entry: &AuditEntry) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(entry)?;
    let number = entry.seq.to_string();
    json.strip_prefix(RECORD_HEAD)
        .and_then(|rest| rest.strip_prefix(number.as_str()))
        .map(str::to_string)
        .ok_or_else(|| serde::ser::Error::custom("an audit record does not start with its sequence number"))
}

/// A row before its place in the chain is known: both records it may become (as charged, and
/// as the rate-limit denial if its charge finds the limit used up), for a store that seals rows
/// where it locks the head.
#[derive(Debug)]
pub(super) struct Unsealed {
    /// The entry as charged (its `seq` not yet set).
    pub entry: AuditEntry,
    /// Its record's tail.
    pub tail: String,
    /// The charge, with the denial's entry and tail.
    pub charge: Option<(QuotaCharge, AuditEntry, String)>,
}

impl Unsealed {
    /// `entry`, to be charged `charge` when it is appended.
    pub fn new(entry: AuditEntry, charge: Option<QuotaCharge>) -> Result<Self, serde_json::Error> {
        let charge = match charge {
            None => None,
            Some(q) => {
                let mut refused = entry.clone();
                q.refuse(&mut refused);
                let refused_tail = tail(&refused)?;
                Some((q, refused, refused_tail))
            }
        };
        Ok(Self { tail: tail(&entry)?, entry, charge })
    }

    /// Whether `text` is this row's record at `seq`: `Some(true)` as charged, `Some(false)` as
    /// the denial.
    pub fn recognise(&self, seq: i64, text: &str) -> Option<bool> {
        if record(seq, &self.tail) == text {
            return Some(true);
        }
        match &self.charge {
            Some((_, _, refused)) if record(seq, refused) == text => Some(false),
            _ => None,
        }
    }
}

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
        let record = record(entry.seq, &tail(&entry)?);
        let hash = chain_hash(&prev_hash, &record);
        Ok(Self { entry, record, prev_hash, hash, charged: refused.is_none() })
    }

    /// What the append reports.
    pub fn appended(&self) -> Appended {
        Appended { seq: self.entry.seq, hash: self.hash.clone(), charged: self.charged }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Rate;
    use crate::store::testing::audit_entry;

    #[test]
    fn a_record_is_its_head_number_and_tail_as_serde_writes_it() {
        let charge = Rate { count: 1, per_secs: 60 }.charge("client", "2026-01-01T00:00:30Z".parse().unwrap());
        for seq in [1, 9, 10, 12_345_678_901] {
            let row = Unsealed::new(audit_entry(seq), Some(charge.clone())).unwrap();
            let mut entry = audit_entry(seq);
            entry.seq = seq;
            let charged = serde_json::to_string(&entry).unwrap();
            assert_eq!(record(seq, &row.tail), charged);
            charge.refuse(&mut entry);
            let refused = serde_json::to_string(&entry).unwrap();
            // Recognised at its own place only, as charged or as the denial.
            assert_eq!((row.recognise(seq, &charged), row.recognise(seq, &refused)), (Some(true), Some(false)));
            assert_eq!(row.recognise(seq + 1, &charged), None);
            // Sealed by this process, the row has the same record and its chain hash.
            let sealed = Sealed::new(audit_entry(seq), Some((seq - 1, GENESIS.to_string())), None).unwrap();
            assert_eq!(
                (sealed.record.as_str(), sealed.hash.clone()),
                (charged.as_str(), chain_hash(GENESIS, &charged))
            );
        }
        let plain = Unsealed::new(audit_entry(1), None).unwrap();
        assert!(plain.charge.is_none());
        assert_eq!(plain.recognise(1, "{\"seq\":1}"), None);
    }
}
