//! The whole log's check: the hash chain row by row, and every signed checkpoint over it.
//!
//! Feed a checkpoint, then the rows it covers, in sequence order ([`LogVerifier::checkpoint`],
//! [`LogVerifier::row`]); rows after the last checkpoint are the unsigned tail. The first
//! failure names the first bad sequence number: a row whose record does not hash to its hash
//! or does not link (the plain chain), or, with the audit public key, a row whose hash differs
//! from the hash a checkpoint signed for it (a row changed and the chain recomputed after it).
//! Without a trusted key the checkpoints are not looked at: the database's writer could have
//! written them too.

use super::checkpoint::{SignedCheckpoint, TrustedKeys};
use super::{AuditRow, ChainCheck, ChainVerifier, GENESIS};

/// The first failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {reason}")]
pub struct Broken {
    /// The first bad sequence number.
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

/// What an intact log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows checked.
    pub rows: u64,
    /// Checkpoints whose signatures were verified.
    pub checkpoints: u64,
    /// Checkpoints seen but not checked (no trusted key).
    pub unchecked: u64,
    /// The last row (sequence number and hash); the anchor's head when no row followed it.
    pub head: (i64, String),
    /// The last verified checkpoint (the trusted start of the next incremental check).
    pub last_checkpoint: Option<SignedCheckpoint>,
    /// Rows after the last verified checkpoint (first and last sequence number): chained but
    /// not yet signed.
    pub unsigned: Option<(i64, i64)>,
}

/// Checks rows and checkpoints fed in sequence order.
#[derive(Debug)]
pub struct LogVerifier {
    keys: TrustedKeys,
    chain: ChainVerifier,
    // The checkpoint covering the rows being fed, until its last row arrives.
    open: Option<SignedCheckpoint>,
    last: Option<SignedCheckpoint>,
    checkpoints: u64,
    unchecked: u64,
    unsigned: Option<(i64, i64)>,
}

impl LogVerifier {
    /// From the first row (seq 1).
    pub fn new(keys: TrustedKeys) -> Self {
        Self {
            keys,
            chain: ChainVerifier::default(),
            open: None,
            last: None,
            checkpoints: 0,
            unchecked: 0,
            unsigned: None,
        }
    }

    /// After a checkpoint whose rows are not fed (the trusted start of an incremental check, or
    /// the oldest checkpoint left in a pruned database): its signature is checked, and the
    /// next row must link to its head.
    pub fn after(keys: TrustedKeys, anchor: &SignedCheckpoint) -> Result<Self, Broken> {
        let c = &anchor.checkpoint;
        let mut v = Self::new(keys);
        if v.keys.is_empty() {
            v.unchecked = 1;
        } else {
            anchor.verify(&v.keys).map_err(|e| Broken {
                seq: c.first_seq,
                reason: format!("checkpoint {}..{} (the starting point): {e}", c.first_seq, c.last_seq),
            })?;
            v.checkpoints = 1;
            v.last = Some(anchor.clone());
        }
        v.chain = ChainVerifier::after(c.last_seq, &c.head_hash);
        Ok(v)
    }

    /// The next sequence number expected.
    pub fn next_seq(&self) -> i64 {
        self.chain.position().map_or(1, |p| p + 1)
    }

    /// The last verified checkpoint.
    pub fn last_checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.last.as_ref()
    }

    /// The next checkpoint: it must start right after the previous one and name its hash, and
    /// every row of the previous one must have been fed.
    pub fn checkpoint(&mut self, cp: &SignedCheckpoint) -> Result<(), Broken> {
        if self.keys.is_empty() {
            self.unchecked += 1;
            return Ok(());
        }
        let c = &cp.checkpoint;
        let range = format!("checkpoint {}..{}", c.first_seq, c.last_seq);
        if let Some(open) = &self.open {
            return Err(Broken {
                seq: self.next_seq(),
                reason: format!(
                    "rows {}..{} signed by checkpoint {}..{} are missing",
                    self.next_seq(),
                    open.checkpoint.last_seq,
                    open.checkpoint.first_seq,
                    open.checkpoint.last_seq
                ),
            });
        }
        let (expected_first, expected_previous) = match &self.last {
            Some(p) => (p.checkpoint.last_seq + 1, p.hash.as_str()),
            None => (self.next_seq(), GENESIS),
        };
        if let Some((first, _)) = self.unsigned {
            return Err(Broken {
                seq: first,
                reason: format!("rows from {first} on are covered by no checkpoint, yet {range} follows them"),
            });
        }
        if c.first_seq != expected_first || c.previous_checkpoint_hash != expected_previous {
            return Err(Broken {
                seq: expected_first.min(c.first_seq.max(1)),
                reason: format!(
                    "{range} does not follow the previous checkpoint (expected first_seq {expected_first} and its \
                     hash): a checkpoint was removed or replaced"
                ),
            });
        }
        cp.verify(&self.keys).map_err(|e| Broken { seq: c.first_seq, reason: format!("{range}: {e}") })?;
        self.checkpoints += 1;
        self.open = Some(cp.clone());
        Ok(())
    }

    /// The next row.
    pub fn row(&mut self, row: &AuditRow) -> Result<(), Broken> {
        self.chain.push(row).map_err(|e| match e {
            ChainCheck::Broken { seq, reason } => Broken { seq, reason },
            ChainCheck::Intact { .. } => Broken { seq: row.seq, reason: "unexpected".into() },
        })?;
        match self.open.take() {
            Some(cp) => {
                let signed = cp.row_hash(row.seq).unwrap_or_default();
                if signed != row.hash {
                    return Err(Broken {
                        seq: row.seq,
                        reason: format!(
                            "the row's hash is not the one checkpoint {}..{} signed for it: the row was changed \
                             and the chain recomputed after it",
                            cp.checkpoint.first_seq, cp.checkpoint.last_seq
                        ),
                    });
                }
                if row.seq == cp.checkpoint.last_seq {
                    self.last = Some(cp);
                } else {
                    self.open = Some(cp);
                }
            }
            None => {
                let first = self.unsigned.map_or(row.seq, |(f, _)| f);
                self.unsigned = Some((first, row.seq));
            }
        }
        Ok(())
    }

    /// The result: every checkpoint fed must have had all its rows.
    pub fn finish(self) -> Result<Summary, Broken> {
        if let Some(open) = &self.open {
            return Err(Broken {
                seq: self.next_seq(),
                reason: format!(
                    "rows {}..{} signed by checkpoint {}..{} are missing",
                    self.next_seq(),
                    open.checkpoint.last_seq,
                    open.checkpoint.first_seq,
                    open.checkpoint.last_seq
                ),
            });
        }
        let head = (self.chain.position().unwrap_or(0), self.chain.head().to_string());
        Ok(Summary {
            rows: self.chain.rows(),
            checkpoints: self.checkpoints,
            unchecked: self.unchecked,
            head,
            last_checkpoint: self.last,
            unsigned: self.unsigned,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::checkpoint::Checkpoint;
    use crate::audit::{chain_hash, AuditEntry};
    use ed25519_dalek::Signer;

    pub(crate) fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[3u8; 32])
    }

    pub(crate) fn trusted() -> TrustedKeys {
        TrustedKeys::parse(&[hex::encode(key().verifying_key().as_bytes())]).unwrap()
    }

    pub(crate) fn entry(seq: i64, client: &str) -> AuditEntry {
        serde_json::from_value(serde_json::json!({
            "seq": seq, "at": "2026-01-01T00:00:00.000Z", "requestId": format!("r{seq}"), "client": client,
            "auth": "bearer", "endpoint": "session-sigs", "decision": "approved", "rule": null, "reasons": [],
            "signer": null, "sessionKey": null, "resources": [], "nodeCount": 1, "expiration": null,
            "authSig": null, "status": 200
        }))
        .unwrap()
    }

    /// Rows 1..=n, chained from `from`, with the client of row k given by `client(k)`.
    pub(crate) fn chain_from(from: &[AuditRow], n: i64, client: impl Fn(i64) -> String) -> Vec<AuditRow> {
        let mut out: Vec<AuditRow> = from.to_vec();
        let start = out.len() as i64 + 1;
        for seq in start..=n {
            let prev = out.last().map_or(GENESIS.to_string(), |r| r.hash.clone());
            let record = serde_json::to_string(&entry(seq, &client(seq))).unwrap();
            out.push(AuditRow { seq, hash: chain_hash(&prev, &record), record, prev_hash: prev });
        }
        out
    }

    /// Checkpoints every `every` rows over `rows`.
    pub(crate) fn checkpoints(rows: &[AuditRow], every: usize) -> Vec<SignedCheckpoint> {
        let mut out: Vec<SignedCheckpoint> = Vec::new();
        for part in rows.chunks(every).filter(|p| p.len() == every) {
            let hashes: Vec<String> = part.iter().map(|r| r.hash.clone()).collect();
            let last = part.last().unwrap().seq;
            let c = Checkpoint::next(out.last(), last, &hashes, "2026-01-01T00:00:00Z".into());
            let sig = key().sign(&c.signed_bytes()).to_bytes();
            out.push(c.sealed(hex::encode(key().verifying_key().as_bytes()), &sig, hashes));
        }
        out
    }

    pub(crate) fn run(keys: TrustedKeys, rows: &[AuditRow], cps: &[SignedCheckpoint]) -> Result<Summary, Broken> {
        let mut v = LogVerifier::new(keys);
        let mut cps = cps.iter().peekable();
        for r in rows {
            if let Some(cp) = cps.next_if(|c| c.checkpoint.first_seq == r.seq) {
                v.checkpoint(cp)?;
            }
            v.row(r)?;
        }
        for cp in cps {
            v.checkpoint(cp)?;
        }
        v.finish()
    }

    #[test]
    fn an_edited_and_rechained_row_is_named_exactly_with_the_key_and_passes_without() {
        let rows = chain_from(&[], 25, |_| "c".into());
        let cps = checkpoints(&rows, 10);
        let ok = run(trusted(), &rows, &cps).unwrap();
        assert_eq!((ok.rows, ok.checkpoints, ok.unsigned), (25, 2, Some((21, 25))));
        assert_eq!(ok.last_checkpoint.as_ref().map(|c| c.checkpoint.last_seq), Some(20));

        // Row 14 edited and every hash after it recomputed: the chain alone is intact.
        let edited = chain_from(&rows[..13], 25, |k| if k == 14 { "mallory".into() } else { "c".into() });
        let plain = run(TrustedKeys::default(), &edited, &cps).unwrap();
        assert_eq!((plain.rows, plain.checkpoints, plain.unchecked), (25, 0, 2));
        let broken = run(trusted(), &edited, &cps).unwrap_err();
        assert_eq!(broken.seq, 14, "{broken}");
        assert!(broken.reason.contains("checkpoint 11..20"), "{broken}");

        // The same edit in the unsigned tail is not caught: what the checkpoint interval bounds.
        let tail = chain_from(&rows[..22], 25, |k| if k == 23 { "mallory".into() } else { "c".into() });
        assert!(run(trusted(), &tail, &cps).is_ok());
    }

    #[test]
    fn removed_rows_and_checkpoints_are_caught() {
        let rows = chain_from(&[], 30, |_| "c".into());
        let cps = checkpoints(&rows, 10);
        // The last checkpoint's last rows removed.
        let err = run(trusted(), &rows[..27], &cps).unwrap_err();
        assert_eq!(err.seq, 28, "{err}");
        // A checkpoint in the middle removed.
        let err = run(trusted(), &rows, &[cps[0].clone(), cps[2].clone()]).unwrap_err();
        assert_eq!(err.seq, 11, "{err}");
        // A checkpoint re-signed by another key.
        let mut forged = cps.clone();
        forged[1].key = hex::encode(ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes());
        assert_eq!(run(trusted(), &rows, &forged).unwrap_err().seq, 11);
        // Truncation back to a checkpoint, with the later checkpoints removed too, is a shorter
        // log that verifies: only a remembered checkpoint, the archive or the feed show it.
        let short = run(trusted(), &rows[..20], &cps[..2]).unwrap();
        assert_eq!(short.head.0, 20);
    }

    #[test]
    fn starts_after_an_anchor() {
        let rows = chain_from(&[], 30, |_| "c".into());
        let cps = checkpoints(&rows, 10);
        let mut v = LogVerifier::after(trusted(), &cps[1]).unwrap();
        v.checkpoint(&cps[2]).unwrap();
        for r in &rows[20..] {
            v.row(r).unwrap();
        }
        let s = v.finish().unwrap();
        assert_eq!((s.rows, s.checkpoints, s.head.0), (10, 2, 30));
        // A row that does not link to the anchor's head.
        let mut v = LogVerifier::after(trusted(), &cps[0]).unwrap();
        assert_eq!(v.row(&rows[11]).unwrap_err().seq, 12);
    }
}
