//! Signed checkpoints: an ed25519 signature, by a key the database cannot reach, over a range of
//! the chain.
//!
//! A checkpoint covers rows `first_seq..=last_seq` (the rows after the previous checkpoint) and
//! names the hash of its last row (`head_hash`), a digest of every row hash in the range
//! (`row_hashes`, so a verifier can name the exact row that differs), the previous checkpoint's
//! hash (checkpoints chain like rows) and when it was made. The signed message is fixed text,
//! one `name:value` line per field in this order, after a domain line:
//!
//! ```text
//! lit-session-server/audit-checkpoint/v1
//! first_seq:<decimal>
//! last_seq:<decimal>
//! head_hash:<64 lowercase hex>
//! previous_checkpoint_hash:<64 lowercase hex, 64 zeros for the first checkpoint>
//! row_hashes:<64 lowercase hex: sha256 of the 32-byte row hashes first..last, concatenated>
//! at:<RFC 3339 UTC time>
//! ```
//!
//! Each line ends in `\n`. The checkpoint's own hash is `sha256` of these bytes; the signature
//! is pure ed25519 over them. [`Checkpoint::signed_bytes`] is the one writer of this text, and
//! both the checkpoint writer and every verifier use it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::GENESIS;

const DOMAIN: &str = "lit-session-server/audit-checkpoint/v1\n";

/// The unsigned part of a checkpoint: what the signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The first row covered (the previous checkpoint's `last_seq` + 1).
    pub first_seq: i64,
    /// The last row covered.
    pub last_seq: i64,
    /// The chain hash of row `last_seq`.
    pub head_hash: String,
    /// The previous checkpoint's hash ([`GENESIS`] for the first).
    pub previous_checkpoint_hash: String,
    /// [`row_hashes_digest`] of the rows' hashes.
    pub row_hashes: String,
    /// When it was made (RFC 3339, UTC).
    pub at: String,
}

/// A checkpoint with its signature, as stored and archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// What is signed.
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// The hash of the signed bytes (what the next checkpoint names as its previous).
    pub hash: String,
    /// The signer's ed25519 public key (hex); the verifier accepts only keys it was given.
    pub key: String,
    /// The ed25519 signature (hex, 64 bytes).
    pub signature: String,
    /// The row hashes in the range, in order (each 64 hex), so a changed row is named exactly.
    pub rows: Vec<String>,
}

/// Why a checkpoint is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// A field does not have its fixed form.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// Signed by a key the verifier was not given.
    #[error("signed by {0}, which is not a trusted audit key")]
    UntrustedKey(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// The stored row hashes or hash do not match what was signed.
    #[error("{0}")]
    Mismatch(String),
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The digest of a range's row hashes (each 64 hex digits): sha256 over their 32-byte values.
/// A hash that is not 64 hex digits is hashed as its text, so it never matches a real digest.
pub fn row_hashes_digest<S: AsRef<str>>(hashes: &[S]) -> String {
    let mut h = Sha256::new();
    for hash in hashes {
        match hex::decode(hash.as_ref()) {
            Ok(bytes) if bytes.len() == 32 => h.update(&bytes),
            _ => h.update(hash.as_ref().as_bytes()),
        }
    }
    hex::encode(h.finalize())
}

impl Checkpoint {
    /// The checkpoint after `previous` (`None`: the first) over rows whose hashes are `rows`
    /// (in order, ending at `last_seq`), made at `at`.
    pub fn next(previous: Option<&SignedCheckpoint>, last_seq: i64, rows: &[String], at: String) -> Self {
        let (first_seq, previous_checkpoint_hash) = match previous {
            Some(p) => (p.checkpoint.last_seq + 1, p.hash.clone()),
            None => (last_seq + 1 - rows.len() as i64, GENESIS.to_string()),
        };
        Self {
            first_seq,
            last_seq,
            head_hash: rows.last().cloned().unwrap_or_default(),
            previous_checkpoint_hash,
            row_hashes: row_hashes_digest(rows),
            at,
        }
    }

    /// Checks every field's form: the signed text must be unambiguous.
    pub fn check_form(&self) -> Result<(), CheckpointError> {
        let bad = |m: &str| Err(CheckpointError::Malformed(m.to_string()));
        if self.first_seq < 1 || self.last_seq < self.first_seq {
            return bad("first_seq must be at least 1 and at most last_seq");
        }
        if !is_hash(&self.head_hash) || !is_hash(&self.previous_checkpoint_hash) || !is_hash(&self.row_hashes) {
            return bad("hashes must be 64 lowercase hex digits");
        }
        if time::OffsetDateTime::parse(&self.at, &time::format_description::well_known::Rfc3339).is_err()
            || self.at.contains('\n')
        {
            return bad("at must be an RFC 3339 time");
        }
        Ok(())
    }

    /// The signed message (see the module documentation).
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "{DOMAIN}first_seq:{}\nlast_seq:{}\nhead_hash:{}\nprevious_checkpoint_hash:{}\nrow_hashes:{}\nat:{}\n",
            self.first_seq, self.last_seq, self.head_hash, self.previous_checkpoint_hash, self.row_hashes, self.at
        )
        .into_bytes()
    }

    /// The checkpoint's hash: sha256 of [`Self::signed_bytes`].
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.signed_bytes()))
    }

    /// Seals it with a signature over [`Self::signed_bytes`] by `key` (hex public key).
    pub fn sealed(self, key: String, signature: &[u8; 64], rows: Vec<String>) -> SignedCheckpoint {
        SignedCheckpoint { hash: self.hash(), checkpoint: self, key, signature: hex::encode(signature), rows }
    }
}

/// The audit public keys a verifier accepts.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<(String, ed25519_dalek::VerifyingKey)>,
}

impl TrustedKeys {
    /// Parses hex ed25519 public keys (32 bytes each).
    pub fn parse<S: AsRef<str>>(keys: &[S]) -> Result<Self, String> {
        let mut out = Vec::new();
        for k in keys {
            let text = k.as_ref().trim().to_ascii_lowercase();
            let bytes: [u8; 32] = hex::decode(&text)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("audit public key {text:?}: expected 64 hex digits"))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| format!("audit public key {text}: not an ed25519 point"))?;
            out.push((text, key));
        }
        Ok(Self { keys: out })
    }

    /// No key: checkpoints cannot be checked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl SignedCheckpoint {
    /// Checks the form, the hash, the row hashes against their digest, and the signature by a
    /// trusted key.
    pub fn verify(&self, keys: &TrustedKeys) -> Result<(), CheckpointError> {
        let c = &self.checkpoint;
        c.check_form()?;
        if self.hash != c.hash() {
            return Err(CheckpointError::Mismatch("its hash is not the hash of its signed fields".into()));
        }
        let count = c.last_seq - c.first_seq + 1;
        if self.rows.len() as i64 != count || row_hashes_digest(&self.rows) != c.row_hashes {
            return Err(CheckpointError::Mismatch("its row hash list is not the one it signed".into()));
        }
        if self.rows.last() != Some(&c.head_hash) {
            return Err(CheckpointError::Mismatch("its head hash is not the last row hash".into()));
        }
        let key = keys
            .keys
            .iter()
            .find(|(hex, _)| *hex == self.key)
            .ok_or_else(|| CheckpointError::UntrustedKey(self.key.clone()))?;
        let signature: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| CheckpointError::Malformed("the signature is not 64 bytes of hex".into()))?;
        key.1
            .verify_strict(&c.signed_bytes(), &ed25519_dalek::Signature::from_bytes(&signature))
            .map_err(|_| CheckpointError::BadSignature)
    }

    /// The hash the row `seq` had when this checkpoint was signed, if it covers `seq`.
    pub fn row_hash(&self, seq: i64) -> Option<&str> {
        let c = &self.checkpoint;
        if seq < c.first_seq || seq > c.last_seq {
            return None;
        }
        self.rows.get((seq - c.first_seq) as usize).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer;

    fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
    }

    fn sign(c: Checkpoint, rows: Vec<String>) -> SignedCheckpoint {
        let k = key();
        let sig = k.sign(&c.signed_bytes()).to_bytes();
        c.sealed(hex::encode(k.verifying_key().as_bytes()), &sig, rows)
    }

    fn rows(n: usize, tag: u8) -> Vec<String> {
        (0..n).map(|i| hex::encode(Sha256::digest([tag, i as u8]))).collect()
    }

    /// The signed bytes are fixed for good: a verifier written from the module documentation
    /// alone must reproduce them.
    #[test]
    fn signed_bytes_are_the_documented_text() {
        let c = Checkpoint {
            first_seq: 1,
            last_seq: 3,
            head_hash: "ab".repeat(32),
            previous_checkpoint_hash: GENESIS.into(),
            row_hashes: row_hashes_digest(&["00".repeat(32), "11".repeat(32), "ab".repeat(32)]),
            at: "2026-01-01T00:00:00.000Z".into(),
        };
        let text = String::from_utf8(c.signed_bytes()).unwrap();
        assert_eq!(
            text,
            format!(
                "lit-session-server/audit-checkpoint/v1\nfirst_seq:1\nlast_seq:3\nhead_hash:{}\n\
                 previous_checkpoint_hash:{GENESIS}\nrow_hashes:{}\nat:2026-01-01T00:00:00.000Z\n",
                "ab".repeat(32),
                c.row_hashes
            )
        );
        let mut raw = Vec::new();
        for h in ["00".repeat(32), "11".repeat(32), "ab".repeat(32)] {
            raw.extend(hex::decode(h).unwrap());
        }
        assert_eq!(c.row_hashes, hex::encode(Sha256::digest(&raw)));
        assert_eq!(c.hash(), hex::encode(Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn verifies_with_a_trusted_key_only() {
        let first = sign(Checkpoint::next(None, 3, &rows(3, 1), "2026-01-01T00:00:00Z".into()), rows(3, 1));
        let second = sign(Checkpoint::next(Some(&first), 5, &rows(2, 2), "2026-01-01T00:00:10Z".into()), rows(2, 2));
        assert_eq!((second.checkpoint.first_seq, second.checkpoint.last_seq), (4, 5));
        assert_eq!(second.checkpoint.previous_checkpoint_hash, first.hash);
        let trusted = TrustedKeys::parse(&[hex::encode(key().verifying_key().as_bytes())]).unwrap();
        first.verify(&trusted).unwrap();
        second.verify(&trusted).unwrap();
        assert_eq!(second.row_hash(5), Some(rows(2, 2)[1].as_str()));
        assert_eq!(second.row_hash(3), None);

        let other = TrustedKeys::parse(&[hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]).verifying_key().as_bytes(),
        )])
        .unwrap();
        assert!(matches!(first.verify(&other), Err(CheckpointError::UntrustedKey(_))));

        // Any signed field changed (and the hash recomputed, as a database writer could).
        let mut moved = first.clone();
        moved.checkpoint.last_seq = 4;
        moved.rows.push(rows(1, 9)[0].clone());
        moved.checkpoint.row_hashes = row_hashes_digest(&moved.rows);
        moved.checkpoint.head_hash = moved.rows[3].clone();
        moved.hash = moved.checkpoint.hash();
        assert_eq!(moved.verify(&trusted), Err(CheckpointError::BadSignature));
        // A row hash list rewritten without the digest.
        let mut listed = first.clone();
        listed.rows[1] = "cd".repeat(32);
        assert!(matches!(listed.verify(&trusted), Err(CheckpointError::Mismatch(_))));
        // A hash that is not the hash of the fields.
        let mut rehashed = first;
        rehashed.hash = "00".repeat(32);
        assert!(matches!(rehashed.verify(&trusted), Err(CheckpointError::Mismatch(_))));
    }

    #[test]
    fn malformed_fields_are_refused() {
        let good = Checkpoint::next(None, 2, &rows(2, 1), "2026-01-01T00:00:00Z".into());
        good.check_form().unwrap();
        for bad in [
            Checkpoint { first_seq: 0, ..good.clone() },
            Checkpoint { last_seq: 0, ..good.clone() },
            Checkpoint { head_hash: "AB".repeat(32), ..good.clone() },
            Checkpoint { at: "2026-01-01T00:00:00Z\nfirst_seq:9".into(), ..good.clone() },
            Checkpoint { at: "yesterday".into(), ..good.clone() },
        ] {
            assert!(matches!(bad.check_form(), Err(CheckpointError::Malformed(_))), "{bad:?}");
        }
        assert!(TrustedKeys::parse(&["zz"]).is_err());
    }
}
