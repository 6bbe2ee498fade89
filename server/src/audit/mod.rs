//! Audit records and their hash chain.
//!
//! Every decision (approved, denied or failed) becomes one record. The store writes it as JSON
//! together with `hash = sha256("litsigner-audit-v1\n" || prev_hash || "\n" || record)`, where
//! `prev_hash` is the previous row's hash (64 zeros for the first). The record includes its own
//! sequence number, so removing, changing or reordering rows breaks the chain from there on.

pub mod checkpoint;
pub mod segment;
pub mod verify;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::AuthMethod;
use crate::endpoint::Endpoint;
use crate::signing::{AuthUse, Format};

/// The hash of "no previous row".
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What every chain hash starts with ([`chain_hash`]).
pub(crate) const DOMAIN: &[u8] = b"litsigner-audit-v1\n";

/// How a request ended, as audit rows and metrics name it; on rows of endpoint
/// [`Endpoint::SessionKey`], which step of a session key's life the row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Allowed, and what it asked for was handed out.
    Approved,
    /// Refused by the policy (including the rate limit).
    Denied,
    /// Allowed, but it failed on the service's side (or the library refused the input).
    Failed,
    /// A session key was made on the token and published (fleet rotation).
    Generated,
    /// A published session key became current.
    Activated,
    /// A session key was replaced or revoked: it signs nothing new.
    Retired,
    /// A retired (or never published) session key was deleted from the token.
    Destroyed,
}

impl Outcome {
    /// `approved`, `denied`, `failed`, or a key event's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Failed => "failed",
            Self::Generated => "generated",
            Self::Activated => "activated",
            Self::Retired => "retired",
            Self::Destroyed => "destroyed",
        }
    }
}

/// One decision, as written to the audit log. Field order is the serialised order, and each
/// typed field serialises to its name: the chain hashes these bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number (set by the store when it appends).
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The request id (`x-correlation-id` or generated).
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// The authenticated client, or `unknown`.
    pub client: String,
    /// How the client authenticated.
    pub auth: AuthMethod,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// How it ended.
    pub decision: Outcome,
    /// The policy rule that decided, if any.
    pub rule: Option<String>,
    /// Why (safe to show).
    pub reasons: Vec<String>,
    /// The signer profile.
    pub signer: Option<String>,
    /// The session key that signed (hex), when something was signed.
    #[serde(rename = "sessionKey")]
    pub session_key: Option<String>,
    /// The requested resources, `PREFIX://ID=ABILITY`.
    pub resources: Vec<String>,
    /// How many node URLs were asked for.
    #[serde(rename = "nodeCount")]
    pub node_count: usize,
    /// The session expiration handed out (after any clamp).
    pub expiration: Option<String>,
    /// Where the AuthSig came from, when sigs were minted.
    #[serde(rename = "authSig")]
    pub auth_sig: Option<AuthUse>,
    /// The HTTP status returned.
    pub status: u16,
    /// The session's message format; absent on rows of other endpoints and on rows written
    /// before formats were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// v8 sessions: the highest `maxPrice` signed for a node; payment delegations: their
    /// `max_price` (decimal).
    #[serde(rename = "maxPrice", default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<String>,
}

/// The chain hash of `record` (the row's JSON text) after `prev_hash`.
pub fn chain_hash(prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record.as_bytes());
    hex::encode(h.finalize())
}

/// A row as stored.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// Sequence number.
    pub seq: i64,
    /// The record JSON.
    pub record: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every row links and hashes correctly.
    Intact {
        /// Rows checked.
        rows: u64,
        /// The last hash (64 zeros for an empty log).
        head: String,
    },
    /// The first bad row.
    Broken {
        /// Its sequence number.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
}

/// Incremental chain checker: feed rows in sequence order.
#[derive(Debug)]
pub struct ChainVerifier {
    prev_hash: String,
    prev_seq: Option<i64>,
    rows: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self { prev_hash: GENESIS.to_string(), prev_seq: None, rows: 0 }
    }
}

impl ChainVerifier {
    /// A checker that continues after row `seq` whose hash is `hash` (a trusted checkpoint's
    /// head): the next row must be `seq + 1` and link to `hash`.
    pub fn after(seq: i64, hash: &str) -> Self {
        Self { prev_hash: hash.to_string(), prev_seq: Some(seq), rows: 0 }
    }

    /// The last row checked (or the anchor), if any.
    pub fn position(&self) -> Option<i64> {
        self.prev_seq
    }

    /// The hash of the last row checked (or of the anchor; 64 zeros at the start).
    pub fn head(&self) -> &str {
        &self.prev_hash
    }

    /// Rows checked.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Checks the next row.
    pub fn push(&mut self, row: &AuditRow) -> Result<(), ChainCheck> {
        let broken = |reason: String| ChainCheck::Broken { seq: row.seq, reason };
        if let Some(prev) = self.prev_seq {
            if row.seq != prev + 1 {
                return Err(broken(format!("sequence gap: {prev} is followed by {}", row.seq)));
            }
        }
        if row.prev_hash != self.prev_hash {
            return Err(broken("prev_hash does not match the previous row's hash".into()));
        }
        let entry: AuditEntry =
            serde_json::from_str(&row.record).map_err(|e| broken(format!("record is not an audit entry: {e}")))?;
        if entry.seq != row.seq {
            return Err(broken(format!("record says seq {}, row is {}", entry.seq, row.seq)));
        }
        if chain_hash(&row.prev_hash, &row.record) != row.hash {
            return Err(broken("hash does not match the record".into()));
        }
        self.prev_hash = row.hash.clone();
        self.prev_seq = Some(row.seq);
        self.rows += 1;
        Ok(())
    }

    /// The result after the last row.
    pub fn finish(self) -> ChainCheck {
        ChainCheck::Intact { rows: self.rows, head: self.prev_hash }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64) -> AuditEntry {
        AuditEntry {
            seq,
            at: "2026-01-01T00:00:00.000Z".into(),
            request_id: format!("r{seq}"),
            client: "c".into(),
            auth: AuthMethod::Bearer,
            endpoint: Endpoint::SessionSigs,
            decision: Outcome::Approved,
            rule: Some("allow[0]".into()),
            reasons: vec![],
            signer: Some("default".into()),
            session_key: None,
            resources: vec!["lit-pkp://*=pkp-signing".into()],
            node_count: 3,
            expiration: None,
            auth_sig: None,
            status: 200,
            format: None,
            max_price: None,
        }
    }

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let record = serde_json::to_string(&entry(seq)).unwrap();
                let hash = chain_hash(&prev, &record);
                let row = AuditRow { seq, record, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                row
            })
            .collect()
    }

    fn check(rows: &[AuditRow]) -> ChainCheck {
        let mut v = ChainVerifier::default();
        for r in rows {
            if let Err(e) = v.push(r) {
                return e;
            }
        }
        v.finish()
    }

    /// The chain hashes each record's JSON text, so a row's bytes are fixed for good: every
    /// field in its order, each decision, auth method and endpoint by its name, the optional
    /// members left out when absent, and the rate-limit rewrite.
    #[test]
    fn rows_serialise_to_their_golden_bytes() {
        let approved = AuditEntry {
            seq: 7,
            request_id: "req-1".into(),
            reasons: vec!["expiration clamped".into()],
            session_key: Some("ab".repeat(32)),
            expiration: Some("2026-01-01T00:10:00.000Z".into()),
            auth_sig: Some(AuthUse::Reused),
            format: Some(Format::V8),
            max_price: Some("1000".into()),
            ..entry(7)
        };
        let denied = AuditEntry {
            auth: AuthMethod::Mtls,
            endpoint: Endpoint::Keys,
            decision: Outcome::Denied,
            rule: Some("endpoints".into()),
            reasons: vec!["client \"c\" may not call keys".into()],
            signer: None,
            resources: vec![],
            node_count: 0,
            status: 403,
            ..entry(8)
        };
        let failed = AuditEntry {
            endpoint: Endpoint::CapacityDelegation,
            decision: Outcome::Failed,
            rule: Some("capacity-delegation".into()),
            reasons: vec!["wallet: gone".into()],
            status: 503,
            ..entry(9)
        };
        let mut limited = approved.clone();
        limited.seq = 10;
        let charge =
            crate::ratelimit::Rate { count: 3, per_secs: 60 }.charge("c", "2026-01-01T00:00:00Z".parse().unwrap());
        charge.refuse(&mut limited);
        let golden = [
            (
                approved,
                r#"{"seq":7,"at":"2026-01-01T00:00:00.000Z","requestId":"req-1","client":"c","auth":"bearer","endpoint":"session-sigs","decision":"approved","rule":"allow[0]","reasons":["expiration clamped"],"signer":"default","sessionKey":"abababababababababababababababababababababababababababababababab","resources":["lit-pkp://*=pkp-signing"],"nodeCount":3,"expiration":"2026-01-01T00:10:00.000Z","authSig":"reused","status":200,"format":"v8","maxPrice":"1000"}"#,
                "16c6da21944afeb0837c51398c1783367f45f4feeda8808ea8d13491127ddfae",
            ),
            (
                denied,
                r#"{"seq":8,"at":"2026-01-01T00:00:00.000Z","requestId":"r8","client":"c","auth":"mtls","endpoint":"keys","decision":"denied","rule":"endpoints","reasons":["client \"c\" may not call keys"],"signer":null,"sessionKey":null,"resources":[],"nodeCount":0,"expiration":null,"authSig":null,"status":403}"#,
                "ff3e0a79a5963b210fcfb09cd7c45eaa5ed590607ebfcd596924ecaa1504df4b",
            ),
            (
                failed,
                r#"{"seq":9,"at":"2026-01-01T00:00:00.000Z","requestId":"r9","client":"c","auth":"bearer","endpoint":"capacity-delegation","decision":"failed","rule":"capacity-delegation","reasons":["wallet: gone"],"signer":"default","sessionKey":null,"resources":["lit-pkp://*=pkp-signing"],"nodeCount":3,"expiration":null,"authSig":null,"status":503}"#,
                "c5658dfc75aaa07c5461fd56afdb15a789d54f1d5e8841866c883fb81509790d",
            ),
            (
                limited,
                r#"{"seq":10,"at":"2026-01-01T00:00:00.000Z","requestId":"req-1","client":"c","auth":"bearer","endpoint":"session-sigs","decision":"denied","rule":"rate-limit","reasons":["expiration clamped","rate limit of 3 requests per window reached"],"signer":"default","sessionKey":null,"resources":["lit-pkp://*=pkp-signing"],"nodeCount":3,"expiration":"2026-01-01T00:10:00.000Z","authSig":null,"status":429,"format":"v8","maxPrice":"1000"}"#,
                "c049cfc75a0847a9944a7e9c9cb86aac460c6fe639ce16d7deb7609eadd20108",
            ),
        ];
        let mut prev = GENESIS.to_string();
        for (row, bytes, hash) in golden {
            let record = serde_json::to_string(&row).unwrap();
            assert_eq!(record, bytes);
            assert_eq!(serde_json::from_str::<AuditEntry>(&record).unwrap(), row);
            let h = chain_hash(&prev, &record);
            assert_eq!(h, hash, "row {}", row.seq);
            prev = h;
        }
    }

    #[test]
    fn intact_and_tampered() {
        let rows = chain(5);
        assert!(matches!(check(&rows), ChainCheck::Intact { rows: 5, .. }));
        let mut changed = rows.clone();
        changed[2].record = changed[2].record.replace("approved", "denied");
        assert!(matches!(check(&changed), ChainCheck::Broken { seq: 3, .. }));
        let mut removed = rows.clone();
        removed.remove(1);
        assert!(matches!(check(&removed), ChainCheck::Broken { seq: 3, .. }));
        let mut swapped = rows;
        swapped.swap(3, 4);
        assert!(matches!(check(&swapped), ChainCheck::Broken { .. }));
    }
}
