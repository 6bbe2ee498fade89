//! Session keys rotated across the fleet: every process that shares the store, and the token,
//! keeps a rotating profile's keys together.
//!
//! - A profile names a key family: a label prefix on the shared token, `rotate_after` and an
//!   overlap. Generation N of the family is the token key labelled `<prefix>-g<N>`, and the
//!   store's row N (`session_keys`) says where it is: generated → active → retired →
//!   destroyed.
//! - One process at a time maintains a family, under the store's key lock: it makes the next
//!   key on the token and publishes it (row N, `generated`, starting `overlap` later), records
//!   that it took over (`active`) and that its predecessor `retired`, and deletes a retired key
//!   from the token (`destroyed`) once every process has stopped signing with it and its last
//!   AuthSig, and so its last session, has expired, plus the node's 60 s grace. Each of these
//!   is an audit row (endpoint `session-key`, decision `generated`, `activated`, `retired`,
//!   `destroyed`) on the one audit chain.
//! - Every process reads the family's rows once per health interval, opens the published key
//!   ahead of its start and signs with it from that moment by its own clock: with an overlap of
//!   at least one health interval the fleet switches at one instant, otherwise each process
//!   within one health interval of the publication. The key a process signed with before
//!   finishes the requests in flight.
//! - A maintainer that stops between making a key and publishing it leaves a key whose label
//!   names a generation without a row; the next maintainer adopts it when that generation is
//!   due (it always is: the schedule, an operator's request and a revocation are in the store
//!   before the key is made) and destroys any other such key ([`plan`]).

mod fleet;
mod plan;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::auth::AuthMethod;
use crate::metrics::Metrics;
use crate::problem::Kind;
use crate::signing::{self, Profile, SignError, Timestamp};
use crate::store::{ServiceStore, StoreError};

pub use fleet::{Fleet, Rotated};
use plan::Timing;
pub use plan::{generation_of, label, NODE_GRACE_MS};

/// How long an operator's rotation waits for another process's maintenance pass.
const LOCK_WAIT: Duration = Duration::from_secs(15);

/// Steps per pass at most (a pass takes one to five).
const MAX_STEPS: usize = 16;

/// Destroyed keys `GET /v1/keys` still lists, newest first (the rows stay in the store).
const DESTROYED_SHOWN: usize = 10;

/// A key-rotation failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store could not be read or written.
    #[error("session keys: {0}")]
    Store(#[from] StoreError),
    /// The token could not make, open or delete a key.
    #[error("{0}")]
    Hsm(String),
    /// Another process kept the family's key lock longer than an operator's request waits.
    #[error("another process kept the session-key lock for more than {} s", LOCK_WAIT.as_secs())]
    Busy,
    /// A key event could not be audited, so it did not happen.
    #[error("the key event could not be audited: {0}")]
    Audit(StoreError),
    /// The current key is revoked, but its successor could not be made yet.
    #[error("{REVOKED_WITHOUT_SUCCESSOR}: {0}")]
    RevokedWithoutSuccessor(Box<KeyError>),
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

const REVOKED_WITHOUT_SUCCESSOR: &str = "the key is revoked (no process signs with it), but its successor could \
                                         not be made, so the profile cannot sign until it is (retried every health \
                                         interval)";

impl KeyError {
    /// The problem type an HTTP caller gets.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Store(_) => Kind::StoreUnavailable,
            Self::Hsm(_) => Kind::HsmUnavailable,
            Self::Busy => Kind::RotationInProgress,
            Self::Audit(_) => Kind::AuditUnavailable,
            Self::RevokedWithoutSuccessor(e) => e.kind(),
            Self::Internal(_) => Kind::Internal,
        }
    }

    /// What an HTTP caller may be told beyond the kind (the full text, which may name the token
    /// or the database, is for the log and the audit row).
    pub fn public_detail(&self) -> Option<String> {
        match self {
            Self::Busy => Some(self.to_string()),
            Self::Audit(_) => Some("the key event could not be audited, so it did not happen".into()),
            Self::RevokedWithoutSuccessor(_) => Some(REVOKED_WITHOUT_SUCCESSOR.to_string()),
            _ => None,
        }
    }
}

impl From<SignError> for KeyError {
    fn from(e: SignError) -> Self {
        match e {
            e @ SignError::Internal(_) => Self::Internal(e.to_string()),
            other => Self::Hsm(other.to_string()),
        }
    }
}

/// Who a maintenance pass acts for, in its audit rows.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The request id (an operator's request, or one per background pass).
    pub request_id: String,
    /// The client (`lit-session-server` for the schedule).
    pub client: String,
    /// How the client authenticated ([`AuthMethod::Service`] for the schedule).
    pub auth: AuthMethod,
}

impl Actor {
    /// The service itself, on its schedule.
    fn service() -> Self {
        Self {
            request_id: format!("keys-{}", signing::random_hex(8)),
            client: "lit-session-server".into(),
            auth: AuthMethod::Service,
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(Timestamp::now().unix_millis()).unwrap_or(i64::MAX)
}

fn time_at(ms: i64) -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH).saturating_add(time::Duration::milliseconds(ms))
}

fn millis(d: time::Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}

/// The profiles of this process whose keys rotate across the fleet.
#[derive(Default)]
pub struct Rotations {
    fleets: BTreeMap<String, Arc<Fleet>>,
}

impl std::fmt::Debug for Rotations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotations").field("profiles", &self.fleets.keys().collect::<Vec<_>>()).finish()
    }
}

impl Rotations {
    /// The rotating profiles among `signers`, kept in `store`. `settle` is how long after a key
    /// retired every process has stopped signing with it (a health interval and a request's
    /// time limit).
    pub fn new(signers: &BTreeMap<String, Arc<Profile>>, store: Arc<dyn ServiceStore>, settle: Duration) -> Self {
        let fleets = signers
            .iter()
            .filter_map(|(name, signer)| {
                let family = signer.key_family()?.clone();
                let timing = Timing {
                    rotate_after: family.rotate_after.map(millis),
                    overlap: millis(family.overlap),
                    settle: i64::try_from(settle.as_millis()).unwrap_or(i64::MAX),
                };
                let fleet = Fleet {
                    profile: name.clone(),
                    signer: signer.clone(),
                    family,
                    timing,
                    store: store.clone(),
                    seen: Mutex::new(None),
                    installing: tokio::sync::Mutex::new(()),
                };
                Some((name.clone(), Arc::new(fleet)))
            })
            .collect();
        Self { fleets }
    }

    /// Whether no profile rotates across the fleet.
    pub fn is_empty(&self) -> bool {
        self.fleets.is_empty()
    }

    /// The rotating profile `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Fleet>> {
        self.fleets.get(name)
    }

    /// Reads every family's rows, maintains those with something due (when the lock is free;
    /// with `wait`, as at start-up, waiting for it) and switches to the published keys.
    /// Failures are logged: the next round tries again.
    pub async fn tick(&self, metrics: &Metrics, wait: bool) {
        for fleet in self.fleets.values() {
            if let Err(e) = fleet.tick(metrics, wait).await {
                tracing::warn!(signer = %fleet.profile, error = %e, "session key rotation: retried next round");
            }
        }
    }

    /// `GET /v1/keys`' view of profile `name`'s family, as last read.
    pub fn describe(&self, name: &str) -> Option<Value> {
        self.fleets.get(name).map(|f| f.describe())
    }
}
