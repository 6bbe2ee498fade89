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

mod plan;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::audit::AuditEntry;
use crate::metrics::{names, Metrics};
use crate::problem::Kind;
use crate::signing::{self, KeyFamily, SessionKeyHandle, SignError, Signer, Timestamp, TokenKey};
use crate::store::{KeyChange, KeyRow, KeyState, MintGuard, ServiceStore, StoreError};

pub use plan::{generation_of, label, NODE_GRACE_MS};
use plan::{Step, Timing, Trigger};

/// How long an operator's rotation waits for another process's maintenance pass.
const LOCK_WAIT: Duration = Duration::from_secs(15);

/// Steps per pass at most (a pass takes one to five).
const MAX_STEPS: usize = 16;

/// Destroyed keys `GET /v1/keys` still lists, newest first (the rows stay in the store).
const DESTROYED_SHOWN: usize = 10;

/// The audit endpoint of key events.
pub const AUDIT_ENDPOINT: &str = "session-key";

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
            SignError::Internal(m) => Self::Internal(m),
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
    /// How the client authenticated (`none` for the schedule).
    pub auth: String,
}

impl Actor {
    /// The service itself, on its schedule.
    fn service() -> Self {
        Self {
            request_id: format!("keys-{}", signing::random_hex(8)),
            client: "lit-session-server".into(),
            auth: "none".into(),
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
    pub fn new(signers: &BTreeMap<String, Arc<Signer>>, store: Arc<dyn ServiceStore>, settle: Duration) -> Self {
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

/// One rotating profile.
pub struct Fleet {
    profile: String,
    signer: Arc<Signer>,
    family: KeyFamily,
    timing: Timing,
    store: Arc<dyn ServiceStore>,
    // The rows as last read, and when.
    seen: Mutex<Option<(Timestamp, Vec<KeyRow>)>>,
    // Held from reading the rows to installing them.
    installing: tokio::sync::Mutex<()>,
}

/// What an operator's rotation did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The key that was current.
    pub previous: Option<KeyRow>,
    /// Its successor: published, current from `activates_at`.
    pub next: Option<KeyRow>,
    /// The previous key was revoked.
    pub revoked: bool,
}

impl Rotated {
    /// The answer's body (without the request id).
    pub fn to_json(&self, signer: &str) -> Value {
        json!({
            "signer": signer,
            "revoked": self.revoked,
            "previous": self.previous.as_ref().map(key_json),
            "next": self.next.as_ref().map(key_json),
        })
    }

    /// One line for the audit row.
    pub fn summary(&self) -> String {
        let g = |r: &Option<KeyRow>| r.as_ref().map_or("none".to_string(), |r| format!("generation {}", r.generation));
        let starts = self.next.as_ref().map(|r| time_at(r.activates_at).to_string()).unwrap_or_default();
        let verb = if self.revoked { "revoked" } else { "rotated" };
        format!("{verb}: {} → {} (current from {starts})", g(&self.previous), g(&self.next))
    }
}

fn opt_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(time_at(t).to_string()))
}

fn key_json(r: &KeyRow) -> Value {
    json!({
        "generation": r.generation,
        "label": r.label,
        "publicKey": r.public_key,
        "state": r.state.as_str(),
        "createdAt": time_at(r.created_at).to_string(),
        "activatesAt": time_at(r.activates_at).to_string(),
        "retiredAt": opt_time(r.retired_at),
        "destroyAfter": opt_time(r.destroy_after),
        "destroyedAt": opt_time(r.destroyed_at),
        "revoked": r.revoked,
    })
}

/// Drops a held lock off the runtime (releasing it may do blocking I/O).
async fn release(guard: MintGuard) {
    let _ = tokio::task::spawn_blocking(move || drop(guard)).await;
}

impl Fleet {
    fn prefix(&self) -> &str {
        &self.family.prefix
    }

    async fn tick(&self, metrics: &Metrics, wait: bool) -> Result<(), KeyError> {
        {
            let _one = self.installing.lock().await;
            let rows = self.store.session_keys(self.prefix()).await?;
            if !plan::due(&rows, self.timing, now_ms()) {
                self.install(&rows, metrics).await;
                return Ok(());
            }
        }
        // Another process may be at it (no lock): its result shows in the next round.
        if let Some(guard) = self.store.lock_session_keys(self.prefix(), wait.then_some(LOCK_WAIT)).await? {
            let done = self.maintain(&Actor::service(), metrics).await;
            release(guard).await;
            done?;
        }
        self.refresh(metrics).await
    }

    /// Reads the family's rows and installs them, one reader at a time, so that an older read
    /// never replaces a newer one (a revocation's successor, once installed, stays).
    async fn refresh(&self, metrics: &Metrics) -> Result<(), KeyError> {
        let _one = self.installing.lock().await;
        let rows = self.store.session_keys(self.prefix()).await?;
        self.install(&rows, metrics).await;
        Ok(())
    }

    /// `POST /v1/admin/rotate`: publishes the next key now (current after the overlap, or at
    /// once with `revoke`, which stops every process signing with the current key: this one at
    /// once, the others within one health interval). The request is recorded in the store
    /// before the key is made, so a process that stops half-way leaves it to the next one.
    pub async fn rotate(&self, revoke: bool, actor: &Actor, metrics: &Metrics) -> Result<Rotated, KeyError> {
        let guard = self.store.lock_session_keys(self.prefix(), Some(LOCK_WAIT)).await?.ok_or(KeyError::Busy)?;
        let done = self.rotate_locked(revoke, actor, metrics).await;
        release(guard).await;
        let rotated = done?;
        self.refresh(metrics).await?;
        Ok(rotated)
    }

    async fn rotate_locked(&self, revoke: bool, actor: &Actor, metrics: &Metrics) -> Result<Rotated, KeyError> {
        let now = now_ms();
        let rows = self.store.session_keys(self.prefix()).await?;
        let previous = plan::current(&rows, now).cloned();
        let waiting = plan::pending(&rows, now).is_some();
        if let Some(c) = previous.as_ref().filter(|_| !waiting) {
            let change = KeyChange { rotate_requested_at: Some(now), ..KeyChange::default() };
            // False: another process moved it on meanwhile; the pass below sees where it is.
            self.store.update_session_key(self.prefix(), c.generation, c.state, &change).await?;
        }
        // The successor is published (current after the overlap) before anything is revoked.
        let revoked = revoke && previous.is_some();
        let wrap = |e: KeyError| if revoked { KeyError::RevokedWithoutSuccessor(Box::new(e)) } else { e };
        self.maintain(actor, metrics).await.map_err(wrap)?;
        if let Some(c) = previous.as_ref().filter(|_| revoke) {
            // Revoked: the successor starts now, and only then is the key marked revoked, so
            // that every process always has a key to sign with (a replica that reads the rows
            // between the two steps signs with the successor already).
            let rows = self.store.session_keys(self.prefix()).await?;
            let now = now_ms();
            if let Some(p) = plan::pending(&rows, now).filter(|p| p.generation > c.generation) {
                let change = KeyChange { activates_at: Some(now), ..KeyChange::default() };
                self.store.update_session_key(self.prefix(), p.generation, KeyState::Generated, &change).await?;
            }
            if let Some(c) = rows.iter().find(|r| r.generation == c.generation) {
                let change = KeyChange { revoked: Some(true), ..KeyChange::default() };
                self.store.update_session_key(self.prefix(), c.generation, c.state, &change).await?;
            }
            self.maintain(actor, metrics).await.map_err(wrap)?;
        }
        let rows = self.store.session_keys(self.prefix()).await?;
        let next = rows
            .iter()
            .rev()
            .find(|r| matches!(r.state, KeyState::Generated | KeyState::Active) && !r.revoked)
            .cloned();
        let previous = previous.and_then(|p| rows.iter().find(|r| r.generation == p.generation).cloned());
        Ok(Rotated { previous, next, revoked: revoke })
    }

    /// Takes steps until nothing is due (the caller holds the family's lock).
    async fn maintain(&self, actor: &Actor, metrics: &Metrics) -> Result<(), KeyError> {
        for _ in 0..MAX_STEPS {
            let now = now_ms();
            let rows = self.store.session_keys(self.prefix()).await?;
            let token: Vec<TokenKey> = self
                .signer
                .token_keys()
                .await?
                .into_iter()
                .filter(|k| generation_of(self.prefix(), &k.label).is_some())
                .collect();
            let mut auth_expiry = BTreeMap::new();
            for r in rows.iter().filter(|r| r.state == KeyState::Retired && r.destroy_after.unwrap_or(i64::MIN) <= now)
            {
                auth_expiry.insert(r.generation, self.store.auth_sigs_expire_by(&r.public_key).await?);
            }
            let Some(step) = plan::next(self.prefix(), &rows, &token, &auth_expiry, self.timing, now) else {
                return Ok(());
            };
            self.apply(step, &rows, actor, metrics, now).await?;
        }
        tracing::warn!(signer = %self.profile, "session key rotation: still busy after {MAX_STEPS} steps; next round");
        Ok(())
    }

    async fn apply(
        &self,
        step: Step,
        rows: &[KeyRow],
        actor: &Actor,
        metrics: &Metrics,
        now: i64,
    ) -> Result<(), KeyError> {
        let row = |generation: i64| {
            rows.iter()
                .find(|r| r.generation == generation)
                .ok_or_else(|| KeyError::Internal(format!("session key generation {generation} is not in the store")))
        };
        let prefix = self.prefix();
        let update = |generation: i64, from: KeyState, change: KeyChange| async move {
            // False: another process moved the row on first; the next step reads where it is.
            self.store.update_session_key(prefix, generation, from, &change).await.map(drop)
        };
        match step {
            Step::Sweep { key, why } => {
                let gone = self.signer.destroy_token_key(&key.id).await?;
                let reasons = vec![format!("{} ({}): {why}; it was never published", key.label, key.id)];
                if gone {
                    self.event(actor, metrics, "destroyed", "orphan", &key.public_key, reasons).await?;
                }
            }
            Step::Activate { generation } => {
                let r = row(generation)?;
                let reasons =
                    vec![format!("generation {generation} ({}) signs from {}", r.label, time_at(r.activates_at))];
                self.event(actor, metrics, "activated", "took-over", &r.public_key, reasons).await?;
                update(
                    generation,
                    KeyState::Generated,
                    KeyChange { state: Some(KeyState::Active), ..KeyChange::default() },
                )
                .await?;
            }
            Step::Retire { generation, from, at } => {
                let r = row(generation)?;
                let destroy_after = at.saturating_add(self.timing.settle);
                let (rule, why) = if r.revoked { ("revoke", "revoked") } else { ("superseded", "replaced") };
                let reasons = vec![format!(
                    "generation {generation} ({}) {why} at {}; it signs nothing new and is destroyed once its last \
                     session and AuthSig have expired (not before {})",
                    r.label,
                    time_at(at),
                    time_at(destroy_after)
                )];
                self.event(actor, metrics, "retired", rule, &r.public_key, reasons).await?;
                let change = KeyChange {
                    state: Some(KeyState::Retired),
                    retired_at: Some(at),
                    destroy_after: Some(destroy_after),
                    ..KeyChange::default()
                };
                update(generation, from, change).await?;
            }
            Step::Hasten { generation, at } => {
                update(generation, KeyState::Generated, KeyChange { activates_at: Some(at), ..KeyChange::default() })
                    .await?;
            }
            Step::Publish { generation, adopt, activates_at, trigger } => {
                self.publish(generation, adopt, activates_at, trigger, actor, metrics, now).await?;
            }
            Step::Postpone { generation, destroy_after } => {
                let change = KeyChange { destroy_after: Some(destroy_after), ..KeyChange::default() };
                update(generation, KeyState::Retired, change).await?;
            }
            Step::Destroy { generation, key_id } => {
                let r = row(generation)?;
                let was_there = self.signer.destroy_token_key(&key_id).await?;
                let mut reasons = vec![format!(
                    "generation {generation} ({}): every process stopped signing with it and its last session and \
                     AuthSig expired (with the node's {} s grace) by {}",
                    r.label,
                    NODE_GRACE_MS / 1000,
                    opt_time(r.destroy_after)
                )];
                if !was_there {
                    reasons.push("it was already gone from the token".into());
                }
                self.event(actor, metrics, "destroyed", "expired", &r.public_key, reasons).await?;
                let change =
                    KeyChange { state: Some(KeyState::Destroyed), destroyed_at: Some(now), ..KeyChange::default() };
                update(generation, KeyState::Retired, change).await?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &self,
        generation: i64,
        adopt: Option<TokenKey>,
        activates_at: i64,
        trigger: Trigger,
        actor: &Actor,
        metrics: &Metrics,
        now: i64,
    ) -> Result<(), KeyError> {
        let adopted = adopt.is_some();
        let key = match adopt {
            Some(key) => key,
            None => self.signer.generate_token_key(&label(self.prefix(), generation)).await?,
        };
        #[cfg(feature = "test-util")]
        if !adopted && trigger == Trigger::Admin {
            fault::after_generate(&key.label).await;
        }
        let row = KeyRow {
            family: self.prefix().to_string(),
            generation,
            label: key.label.clone(),
            key_id: key.id.clone(),
            public_key: key.public_key.clone(),
            state: KeyState::Generated,
            created_at: now,
            activates_at,
            retired_at: None,
            destroy_after: None,
            destroyed_at: None,
            rotate_requested_at: None,
            revoked: false,
            written_by: String::new(),
        };
        let mut reasons = vec![format!("generation {generation} ({}) signs from {}", key.label, time_at(activates_at))];
        if adopted {
            reasons.push("adopted: a process made it and stopped before publishing it".into());
        }
        self.event(actor, metrics, "generated", trigger.as_str(), &key.public_key, reasons).await?;
        // False: another process published this generation meanwhile; if its key is not this
        // one, the next step finds this one unpublished and destroys it.
        self.store.insert_session_key(&row).await?;
        Ok(())
    }

    /// Writes a key event's audit row; without it the event does not happen.
    #[allow(clippy::too_many_arguments)]
    async fn event(
        &self,
        actor: &Actor,
        metrics: &Metrics,
        decision: &'static str,
        rule: &str,
        public_key: &str,
        reasons: Vec<String>,
    ) -> Result<(), KeyError> {
        let entry = AuditEntry {
            seq: 0,
            at: Timestamp::now().to_string(),
            request_id: actor.request_id.clone(),
            client: actor.client.clone(),
            auth: actor.auth.clone(),
            endpoint: AUDIT_ENDPOINT.into(),
            decision: decision.into(),
            rule: Some(rule.into()),
            reasons,
            signer: Some(self.profile.clone()),
            session_key: Some(public_key.into()),
            resources: vec![],
            node_count: 0,
            expiration: None,
            auth_sig: None,
            status: 0,
            format: None,
            max_price: None,
        };
        let reason = entry.reasons.first().cloned().unwrap_or_default();
        self.store.append_audit(entry, None).await.map_err(KeyError::Audit)?;
        let m = names::KEY_EVENTS;
        metrics.inc(m.0, m.1, &[("signer", &self.profile), ("event", decision)]);
        tracing::info!(signer = %self.profile, event = decision, rule, detail = %reason, "session key");
        Ok(())
    }

    /// Signs with the key the rows make current, and opens the published successor ahead of
    /// its start. A key this process cannot open is not signed with (requests fail with
    /// `hsm-unavailable` until it can); the next round tries again.
    async fn install(&self, rows: &[KeyRow], metrics: &Metrics) {
        let now = now_ms();
        let (have_current, have_next) = self.signer.handles();
        let have: Vec<SessionKeyHandle> = have_current.into_iter().chain(have_next.map(|(_, h)| h)).collect();
        let current = match plan::current(rows, now) {
            Some(row) => self.open(row, &have).await,
            None => None,
        };
        let next = match plan::pending(rows, now) {
            Some(row) => self.open(row, &have).await.map(|h| (time_at(row.activates_at), h)),
            None => None,
        };
        self.signer.install(current, next);
        let generation = plan::current(rows, now).map_or(0, |r| r.generation);
        let g = names::KEY_GENERATION;
        metrics.set(g.0, g.1, &[("signer", &self.profile)], generation as f64);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((Timestamp::now(), rows.to_vec()));
    }

    /// The key of `row`: already open here (`have`), or opened now.
    async fn open(&self, row: &KeyRow, have: &[SessionKeyHandle]) -> Option<SessionKeyHandle> {
        if let Some(h) = have.iter().find(|h| h.id().as_deref() == Some(row.key_id.as_str())) {
            return Some(h.clone());
        }
        match self.signer.open_key(&row.key_id, &row.public_key).await {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(
                    signer = %self.profile, generation = row.generation, error = %e,
                    "a published session key cannot be opened here; retried next round"
                );
                None
            }
        }
    }

    fn describe(&self) -> Value {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (as_of, rows) = seen.unwrap_or_else(|| (Timestamp::now(), Vec::new()));
        let now = now_ms();
        let current = plan::current(&rows, now).map(|r| r.generation);
        let mut shown: Vec<&KeyRow> = rows.iter().filter(|r| r.state != KeyState::Destroyed).collect();
        shown.extend(rows.iter().rev().filter(|r| r.state == KeyState::Destroyed).take(DESTROYED_SHOWN));
        shown.sort_by_key(|r| r.generation);
        json!({
            "family": self.family.prefix,
            "rotateAfterSeconds": self.family.rotate_after.map(|d| d.whole_seconds()),
            "overlapSeconds": self.family.overlap.whole_seconds(),
            "current": current,
            "asOf": as_of.to_string(),
            "keys": shown.into_iter().map(key_json).collect::<Vec<_>>(),
        })
    }
}

/// Faults the replica tests inject into a real process (feature `test-util` only).
#[cfg(feature = "test-util")]
mod fault {
    /// `LITSIGNER_TEST_FAULT=pause-after-generate`: an operator's rotation stops for good
    /// between making its key on the token and publishing it, holding the family's lock, as
    /// a process killed there would (the test kills it then).
    pub async fn after_generate(label: &str) {
        if std::env::var("LITSIGNER_TEST_FAULT").as_deref() == Ok("pause-after-generate") {
            tracing::warn!(label, "test fault: paused after generating a session key, before publishing it");
            std::future::pending::<()>().await;
        }
    }
}
