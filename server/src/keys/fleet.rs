//! One rotating profile: its maintenance passes under the family's lock (the steps [`plan`]
//! chooses, each an audit event), an operator's rotation, and the switch to the published keys.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::plan::{self, generation_of, label, Step, Timing, Trigger, NODE_GRACE_MS};
use super::{now_ms, time_at, Actor, KeyError, DESTROYED_SHOWN, LOCK_WAIT, MAX_STEPS};
use crate::audit::{AuditEntry, Outcome};
use crate::endpoint::Endpoint;
use crate::metrics::{names, Metrics};
use crate::signing::{KeyFamily, Profile, SessionKeyHandle, Timestamp, TokenKey};
use crate::store::{KeyChange, KeyRow, KeyState, MintGuard, ServiceStore};

/// One rotating profile.
pub struct Fleet {
    pub(super) profile: String,
    pub(super) signer: Arc<Profile>,
    pub(super) family: KeyFamily,
    pub(super) timing: Timing,
    pub(super) store: Arc<dyn ServiceStore>,
    // The rows as last read, and when.
    pub(super) seen: Mutex<Option<(Timestamp, Vec<KeyRow>)>>,
    // Held from reading the rows to installing them.
    pub(super) installing: tokio::sync::Mutex<()>,
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

    pub(super) async fn tick(&self, metrics: &Metrics, wait: bool) -> Result<(), KeyError> {
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
                    self.event(actor, metrics, Outcome::Destroyed, "orphan", &key.public_key, reasons).await?;
                }
            }
            Step::Activate { generation } => {
                let r = row(generation)?;
                let reasons =
                    vec![format!("generation {generation} ({}) signs from {}", r.label, time_at(r.activates_at))];
                self.event(actor, metrics, Outcome::Activated, "took-over", &r.public_key, reasons).await?;
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
                self.event(actor, metrics, Outcome::Retired, rule, &r.public_key, reasons).await?;
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
                self.event(actor, metrics, Outcome::Destroyed, "expired", &r.public_key, reasons).await?;
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
        self.event(actor, metrics, Outcome::Generated, trigger.as_str(), &key.public_key, reasons).await?;
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
        decision: Outcome,
        rule: &str,
        public_key: &str,
        reasons: Vec<String>,
    ) -> Result<(), KeyError> {
        let entry = AuditEntry {
            seq: 0,
            at: Timestamp::now().to_string(),
            request_id: actor.request_id.clone(),
            client: actor.client.clone(),
            auth: actor.auth,
            endpoint: Endpoint::SessionKey,
            decision,
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
        metrics.inc(names::KEY_EVENTS, &[("signer", &self.profile), ("event", decision.as_str())]);
        tracing::info!(signer = %self.profile, event = decision.as_str(), rule, detail = %reason, "session key");
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
        metrics.set(names::KEY_GENERATION, &[("signer", &self.profile)], generation as f64);
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

    pub(super) fn describe(&self) -> Value {
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
