//! The shared state of a running service: signer profiles, store, policy (hot-swappable),
//! tokens, metrics and the readiness checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::auth::Tokens;
use crate::keys::Rotations;
use crate::metrics::{names, Metrics};
use crate::policy::{Policy, PolicyError};
use crate::signing::{Profile, Timestamp};
use crate::spool::AuditSpool;
use crate::store::{ServiceStore, StoreError};

/// Where the policy comes from.
#[derive(Debug, Clone)]
pub enum PolicySource {
    /// A file, re-read on reload.
    File(PathBuf),
    /// Fixed text (dev mode).
    Inline(String),
}

/// The running service's settings (from the configuration, or dev mode's).
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// The profile used when a request names none.
    pub default_signer: String,
    /// Limits applied to every request.
    pub limits: Limits,
    /// Where the policy comes from.
    pub policy: PolicySource,
    /// The token hash file (re-read on reload).
    pub tokens_file: Option<PathBuf>,
    /// Tokens given directly (dev mode).
    pub extra_tokens: Tokens,
    /// Where audit rows wait while the database is away (opt-in, `store.audit_spool`).
    pub audit_spool: Option<PathBuf>,
    /// How long after a rotating key retired every process has stopped signing with it: one
    /// health interval to learn of its successor, one request time limit for requests in flight.
    pub key_settle: Duration,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body.
    pub body_limit: usize,
    /// Longest request.
    pub request_timeout: Duration,
    /// Longest wait for the body.
    pub body_timeout: Duration,
}

/// The last reload, for `GET /v1/admin/reload` and readiness.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// `idle` (never reloaded), `completed` or `failed`.
    pub status: &'static str,
    /// When the last reload ran.
    #[serde(rename = "lastOperationTime", skip_serializing_if = "Option::is_none")]
    pub last_operation_time: Option<String>,
    /// Why the last reload failed.
    #[serde(rename = "lastError", skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One readiness check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// `hsm`, `store`, `policy` or `audit`.
    pub id: &'static str,
    /// `ok`, `degraded` or `down`.
    pub status: &'static str,
    /// What was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One probe at a time: a probe cut off by its time limit keeps running in its own task (its
/// PKCS#11 call cannot be cancelled), and until it returns no other is started, so a hung token
/// holds one blocking thread, not one more per health interval. Meanwhile the last result is
/// reported (a probe that timed out reports that).
#[derive(Debug, Default)]
pub struct ProbeGate {
    state: Arc<Mutex<GateState>>,
}

#[derive(Debug, Default)]
struct GateState {
    running: bool,
    last: Option<Result<(), String>>,
    started: u64,
}

impl ProbeGate {
    /// Runs `probe` unless one is still running, waiting for it at most `limit`.
    pub async fn run<F>(&self, limit: Duration, probe: F) -> Result<(), String>
    where
        F: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.running {
                return s.last.clone().unwrap_or_else(|| Err("the first probe has not answered yet".into()));
            }
            s.running = true;
            s.started += 1;
        }
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            let result = probe.await;
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.last = Some(result.clone());
            s.running = false;
            result
        });
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => {
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                s.running = false;
                let result = Err(format!("the probe task failed: {e}"));
                s.last = Some(result.clone());
                result
            }
            Err(_) => {
                let result = Err(format!("no answer within {} ms", limit.as_millis()));
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                // Unless it answered just now, it is still running: that is the state to report.
                if s.running {
                    s.last = Some(result.clone());
                    result
                } else {
                    s.last.clone().unwrap_or(result)
                }
            }
        }
    }

    /// How many probes were started.
    pub fn started(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).started
    }
}

#[derive(Debug, Default)]
struct HealthState {
    hsm_down: BTreeMap<String, String>,
    store_down: Option<String>,
    audit_down: Option<String>,
    checked: bool,
}

/// The running service.
pub struct App {
    /// Signer profiles by name.
    pub profiles: BTreeMap<String, Arc<Profile>>,
    /// The profile used when a request names none.
    pub default_signer: String,
    /// The store.
    pub store: Arc<dyn ServiceStore>,
    /// Where audit rows wait while the database is away (opt-in).
    pub audit_spool: Option<Arc<AuditSpool>>,
    /// Request limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Metrics,
    /// Set once SIGTERM arrived.
    pub shutting_down: AtomicBool,
    /// The profiles whose session keys rotate across the fleet.
    pub keys: Rotations,
    /// The audit checkpoint key: its public key (hex) and backend, when checkpoints are signed.
    pub audit_key: Option<(String, &'static str)>,
    policy: RwLock<Arc<Policy>>,
    policy_source: PolicySource,
    tokens_file: Option<PathBuf>,
    tokens: RwLock<Arc<Tokens>>,
    reload: Mutex<ReloadStatus>,
    reload_running: tokio::sync::Mutex<()>,
    health: Mutex<HealthState>,
    probes: BTreeMap<String, ProbeGate>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("profiles", &self.profiles.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl App {
    /// Loads the policy and tokens and builds the state around the opened profiles and store.
    /// A policy that does not load is fatal at start (there is no old policy to keep).
    pub fn new(
        settings: AppSettings,
        profiles: BTreeMap<String, Arc<Profile>>,
        store: Arc<dyn ServiceStore>,
    ) -> Result<Self, String> {
        let names: BTreeSet<String> = profiles.keys().cloned().collect();
        let policy = load_policy(&settings.policy, &names).map_err(|e| e.to_string())?;
        let tokens = match &settings.tokens_file {
            Some(path) => Tokens::read(path).map_err(|e| e.to_string())?,
            None => settings.extra_tokens.clone(),
        };
        let probes = profiles.keys().map(|name| (name.clone(), ProbeGate::default())).collect();
        let keys = Rotations::new(&profiles, store.clone(), settings.key_settle);
        let app = Self {
            keys,
            probes,
            profiles,
            default_signer: settings.default_signer,
            store,
            audit_spool: settings.audit_spool.as_deref().map(|p| Arc::new(AuditSpool::new(p))),
            limits: settings.limits,
            metrics: Metrics::default(),
            shutting_down: AtomicBool::new(false),
            audit_key: None,
            policy: RwLock::new(Arc::new(policy)),
            policy_source: settings.policy,
            tokens_file: settings.tokens_file,
            tokens: RwLock::new(Arc::new(tokens)),
            reload: Mutex::new(ReloadStatus { status: "idle", last_operation_time: None, last_error: None }),
            reload_running: tokio::sync::Mutex::new(()),
            health: Mutex::new(HealthState::default()),
        };
        app.publish_policy_metrics();
        app.metrics.set(names::BUILD, &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
        app.metrics.set(names::START, &[], now);
        Ok(app)
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The tokens in force.
    pub fn tokens(&self) -> Arc<Tokens> {
        self.tokens.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The metric label for `client`: its name if configured, else `unknown`.
    pub fn client_label(&self, client: &str) -> String {
        if self.policy().knows(client) {
            client.to_string()
        } else {
            "unknown".into()
        }
    }

    /// The metric label for a rule name (rule names of the policy in force, else `other`).
    pub fn rule_label(&self, rule: &str) -> String {
        if self.policy().rule_names().contains(rule) {
            rule.to_string()
        } else {
            "other".into()
        }
    }

    fn publish_policy_metrics(&self) {
        let policy = self.policy();
        self.metrics.clear_gauge(names::RULES);
        for c in policy.client_names() {
            self.metrics.set(names::RULES, &[("client", c)], policy.rule_count(c) as f64);
        }
    }

    /// Re-reads the policy (and the token file). A file with errors leaves everything as it
    /// was and marks the policy check degraded. `Err(None)` if a reload is already running.
    pub async fn reload(&self) -> Result<usize, Option<PolicyError>> {
        let Ok(_guard) = self.reload_running.try_lock() else {
            return Err(None);
        };
        let names: BTreeSet<String> = self.profiles.keys().cloned().collect();
        let loaded = load_policy(&self.policy_source, &names).and_then(|p| {
            let tokens = match &self.tokens_file {
                Some(path) => Some(Tokens::read(path).map_err(|e| PolicyError(vec![e.to_string()]))?),
                None => None,
            };
            Ok((p, tokens))
        });
        let at = Some(Timestamp::now().to_string());
        match loaded {
            Ok((policy, tokens)) => {
                let clients = policy.client_names().count();
                *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
                if let Some(t) = tokens {
                    *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(t);
                }
                *self.reload.lock().unwrap_or_else(|p| p.into_inner()) =
                    ReloadStatus { status: "completed", last_operation_time: at, last_error: None };
                self.publish_policy_metrics();
                self.metrics.inc(names::RELOADS, &[("result", "ok")]);
                tracing::info!(clients, "policy reloaded");
                Ok(clients)
            }
            Err(e) => {
                *self.reload.lock().unwrap_or_else(|p| p.into_inner()) =
                    ReloadStatus { status: "failed", last_operation_time: at, last_error: Some(e.to_string()) };
                self.metrics.inc(names::RELOADS, &[("result", "error")]);
                tracing::error!(error = %e, "policy reload failed; the previous policy stays in force");
                Err(Some(e))
            }
        }
    }

    /// The last reload's status.
    pub fn reload_status(&self) -> ReloadStatus {
        self.reload.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Marks a profile's key store down (a request saw an HSM error) or up.
    pub fn set_hsm(&self, signer: &str, error: Option<String>) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(e) => {
                h.hsm_down.insert(signer.to_string(), e);
            }
            None => {
                h.hsm_down.remove(signer);
            }
        }
    }

    /// Marks the audit log down (an append failed) or up.
    pub fn set_audit(&self, error: Option<String>) {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).audit_down = error;
    }

    /// Runs every probe once (HSM per profile, store, audit), each bounded by `limit` (a hung
    /// HSM or database counts as down), and records the results.
    pub async fn probe(&self, limit: Duration) {
        let timed_out = || format!("no answer within {} ms", limit.as_millis());
        let mut hsm = BTreeMap::new();
        for (name, s) in &self.profiles {
            let Some(gate) = self.probes.get(name) else { continue };
            let s = s.clone();
            if let Err(e) = gate.run(limit, async move { s.probe().await.map_err(|e| e.to_string()) }).await {
                hsm.insert(name.clone(), e);
            }
        }
        // A store that is up but kept the probe waiting (every connection in use, a lock) is
        // busy, not down: readiness stays true and requests keep their own time bounds.
        let down = |r: Result<(), StoreError>| match r {
            Ok(()) | Err(StoreError::Busy { .. }) => None,
            Err(e) => Some(e.to_string()),
        };
        let store = match tokio::time::timeout(limit, self.store.health()).await {
            Ok(r) => down(r),
            Err(_) => Some(timed_out()),
        };
        let audit = match &store {
            Some(_) => Some("the store is unavailable".to_string()),
            None => match tokio::time::timeout(limit, self.store.audit_probe()).await {
                Ok(r) => down(r),
                Err(_) => Some(timed_out()),
            },
        };
        if let (None, Some(spool)) = (&store, &self.audit_spool) {
            match spool.flush(&*self.store).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "spooled audit rows added to the chain"),
                Err(e) => tracing::warn!(error = %e, "audit spool flush stopped; retried at the next probe"),
            }
        }
        self.metrics.set(
            names::STORE_UP,
            &[("backend", self.store.backend())],
            if store.is_none() { 1.0 } else { 0.0 },
        );
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        // The full text goes to the log (once per change); /readyz, which anyone may read,
        // says only what is down.
        for (name, e) in &hsm {
            if h.hsm_down.get(name) != Some(e) {
                tracing::warn!(signer = %name, error = %e, "readiness probe: the profile cannot sign");
            }
        }
        for (what, now, before) in [("store", &store, &h.store_down), ("audit", &audit, &h.audit_down)] {
            if let Some(e) = now.as_ref().filter(|e| before.as_ref() != Some(*e)) {
                tracing::warn!(check = what, error = %e, "readiness probe failed");
            }
        }
        h.hsm_down = hsm;
        h.store_down = store;
        h.audit_down = audit;
        h.checked = true;
    }

    /// The readiness checks and whether the service is ready (it can sign and audit).
    pub fn readiness(&self) -> (bool, Vec<Check>) {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let reload = self.reload_status();
        let mut checks = Vec::new();
        let pending = (!h.checked).then(|| "not checked yet".to_string());
        let hsm_detail = if h.hsm_down.is_empty() {
            pending.clone()
        } else {
            Some(h.hsm_down.keys().map(|k| format!("{k}: cannot sign now")).collect::<Vec<_>>().join("; "))
        };
        let down = |d: &Option<String>| if d.is_some() { "down" } else { "ok" };
        checks.push(Check {
            id: "hsm",
            status: if !h.hsm_down.is_empty() || !h.checked { "down" } else { "ok" },
            detail: hsm_detail,
        });
        checks.push(Check {
            id: "store",
            status: if h.checked { down(&h.store_down) } else { "down" },
            detail: h
                .store_down
                .as_ref()
                .map(|_| "the store cannot be read or written now".to_string())
                .or(pending.clone()),
        });
        checks.push(Check {
            id: "policy",
            status: if reload.status == "failed" { "degraded" } else { "ok" },
            detail: reload.last_error.map(|e| format!("the previous policy stays in force: {e}")),
        });
        checks.push(Check {
            id: "audit",
            status: if h.checked { down(&h.audit_down) } else { "down" },
            detail: h.audit_down.as_ref().map(|_| "audit rows cannot be written now".to_string()).or(pending),
        });
        drop(h);
        let ready = !self.shutting_down.load(Ordering::Relaxed) && checks.iter().all(|c| c.status != "down");
        self.metrics.set(names::READY, &[], if ready { 1.0 } else { 0.0 });
        (ready, checks)
    }
}

fn load_policy(source: &PolicySource, signers: &BTreeSet<String>) -> Result<Policy, PolicyError> {
    let text = match source {
        PolicySource::Inline(t) => t.clone(),
        PolicySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| PolicyError(vec![format!("cannot read {}: {e}", path.display())]))?,
    };
    Policy::parse(&text, signers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_probe_is_not_started_again_and_reports_down_until_it_answers() {
        let gate = ProbeGate::default();
        let limit = Duration::from_millis(100);
        assert_eq!(gate.run(limit, async { Ok(()) }).await, Ok(()));
        // A probe stuck in a blocking call (a hung token) until released.
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let stuck = async move {
            tokio::task::spawn_blocking(move || hung.recv().map_err(|e| e.to_string()))
                .await
                .map_err(|e| e.to_string())?
        };
        let first = gate.run(limit, stuck).await;
        assert!(first.as_ref().is_err_and(|e| e.contains("no answer within 100 ms")), "{first:?}");
        assert_eq!(gate.started(), 2);
        // Later rounds report the hung probe's state and start nothing.
        for _ in 0..5 {
            let again = gate.run(limit, async { panic!("a second probe started") }).await;
            assert_eq!(again, first);
        }
        assert_eq!(gate.started(), 2);
        // Once it answers, the next round probes again.
        release.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(gate.run(limit, async { Ok(()) }).await, Ok(()));
        assert_eq!(gate.started(), 3);
    }
}
