//! One request's outcome: every audit row, decision metric and problem a handler produces goes
//! through [`Outcome`], so each endpoint ends the same way:
//!
//! - denied ([`Outcome::deny`]): a `denied` row (403, or 429 for the rate limit) and the
//!   problem with the decision;
//! - failed on the service's side ([`Outcome::fail`], [`Outcome::fail_store`]): a `failed` row
//!   with the full reason, and a problem whose detail is generic;
//! - approved ([`Outcome::record`]): the row, written before anything is handed out.
//!
//! Rows are fail-closed: a row that cannot be written fails the request.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::Extensions;

use super::Ctx;
use crate::app::App;
use crate::audit::{AuditEntry, Outcome as Ended};
use crate::auth::Caller;
use crate::endpoint::Endpoint;
use crate::metrics::names;
use crate::policy::{DecidedBy, Decision, Verdict};
use crate::problem::{Kind, Problem};
use crate::ratelimit::QuotaCharge;
use crate::signing::{SignError, Timestamp};
use crate::store::{Appended, StoreError};

/// A request of an authenticated caller to an endpoint, on its way to its outcome.
#[derive(Clone)]
pub(super) struct Outcome {
    pub app: Arc<App>,
    pub ctx: Ctx,
    pub caller: Caller,
    endpoint: Endpoint,
}

impl Outcome {
    /// The request whose extensions are `ext` (set by the context and authentication layers).
    pub fn of(app: &Arc<App>, ext: &Extensions) -> Result<Self, Problem> {
        let missing = || Problem::new(Kind::Internal, "the request reached a handler without its caller");
        let ctx = ext.get::<Ctx>().cloned().ok_or_else(missing)?;
        let caller = ext.get::<Caller>().cloned().ok_or_else(missing)?;
        let endpoint = ctx.endpoint.ok_or_else(missing)?;
        Ok(Self { app: app.clone(), ctx, caller, endpoint })
    }

    /// A row for this request: approved, status 200, no facts yet.
    pub fn row(&self) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: Timestamp::now().to_string(),
            request_id: self.ctx.request_id.clone(),
            client: self.caller.client.clone(),
            auth: self.caller.method,
            endpoint: self.endpoint,
            decision: Ended::Approved,
            rule: None,
            reasons: Vec::new(),
            signer: None,
            session_key: None,
            resources: Vec::new(),
            node_count: 0,
            expiration: None,
            auth_sig: None,
            status: 200,
            format: None,
            max_price: None,
        }
    }

    /// A row for the policy's decision `d`: its verdict, what decided and why.
    pub fn row_for(&self, d: &Decision) -> AuditEntry {
        let decision = match d.result {
            Verdict::Approved => Ended::Approved,
            Verdict::Denied => Ended::Denied,
        };
        AuditEntry { decision, rule: Some(d.by.name().to_string()), reasons: d.reasons.clone(), ..self.row() }
    }

    /// Counts a policy decision (client, rule, result).
    pub fn decided(&self, d: &Decision) {
        let (c, r) = (self.app.client_label(&self.caller.client), self.app.rule_label(d.by.name()));
        self.app.metrics.inc(names::DECISIONS, &[("client", &c), ("rule", &r), ("result", d.result.as_str())]);
    }

    /// Writes `row`.
    pub async fn record(&self, row: AuditEntry) -> Result<(), Problem> {
        self.append(row, None).await.map(drop)
    }

    /// Writes `row` and charges the rate limit in the same transaction.
    pub async fn record_charged(&self, row: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, Problem> {
        self.append(row, charge).await
    }

    /// A request the policy denied: its row (403, or 429 for the rate limit), and the problem.
    pub async fn deny(&self, mut row: AuditEntry, d: &Decision) -> Problem {
        let problem = denied(d);
        row.decision = Ended::Denied;
        row.rule = Some(d.by.name().to_string());
        row.reasons = d.reasons.clone();
        row.status = problem.kind.status().as_u16();
        self.record(row).await.err().unwrap_or(problem)
    }

    /// A signature that failed: the row keeps the full reason, the client's detail is generic
    /// (a refused request is about its own input, and says so).
    pub async fn fail(&self, row: AuditEntry, profile: &str, e: &SignError) -> Problem {
        self.fail_because(row, profile, e, e.to_string()).await
    }

    /// [`Self::fail`] with the row's reason given.
    pub async fn fail_because(&self, mut row: AuditEntry, profile: &str, e: &SignError, reason: String) -> Problem {
        let problem = self.sign_problem(profile, e);
        row.decision = Ended::Failed;
        row.reasons = vec![reason];
        row.status = problem.kind.status().as_u16();
        self.record(row).await.err().unwrap_or(problem)
    }

    /// The store could not read the rate-limit counter: 503 (`store-busy` when it is up but
    /// the read ran out of time), with its row.
    pub async fn fail_store(&self, mut row: AuditEntry, e: &StoreError) -> Problem {
        let error = format!("rate limit: {e}");
        tracing::warn!(request_id = %self.ctx.request_id, error = %error, "rate-limit counter unreadable");
        let kind = if matches!(e, StoreError::Busy { .. }) { Kind::StoreBusy } else { Kind::StoreUnavailable };
        row.decision = Ended::Failed;
        row.reasons = vec![error];
        row.status = kind.status().as_u16();
        self.record(row).await.err().unwrap_or_else(|| Problem::new(kind, public_detail(kind)))
    }

    /// The profile signed: its keys are up.
    pub fn signed(&self, profile: &str) {
        self.app.set_hsm(profile, None);
    }

    fn sign_problem(&self, profile: &str, e: &SignError) -> Problem {
        let kind = match e {
            SignError::Request(_) => Kind::InvalidRequest,
            SignError::Hsm { .. } => {
                self.app.metrics.inc(names::HSM_ERRORS, &[("kind", "request")]);
                self.app.set_hsm(profile, Some(e.to_string()));
                Kind::HsmUnavailable
            }
            SignError::Signer(_) => Kind::SignerUnavailable,
            SignError::Store(_) => Kind::StoreUnavailable,
            SignError::StoreBusy(_) => Kind::StoreBusy,
            SignError::Internal(_) => Kind::Internal,
        };
        tracing::warn!(request_id = %self.ctx.request_id, signer = profile, error = %e, "signing failed");
        // The full text (module path, token, slot, key id, database) is for the log and the audit
        // row; the client learns the kind of failure only.
        let detail = match e {
            SignError::Request(_) => e.to_string(),
            _ => public_detail(kind).to_string(),
        };
        Problem::new(kind, detail)
    }

    /// Writes a row; a failure fails the request (fail-closed).
    async fn append(&self, e: AuditEntry, charge: Option<QuotaCharge>) -> Result<Appended, Problem> {
        let app = &self.app;
        let failed = |kind| Problem::new(kind, "the audit row could not be written, so nothing is handed out");
        // Only a row that needs nothing else from the store may wait in the spool.
        let fallback = app.audit_spool.clone().filter(|_| charge.is_none()).map(|s| (s, e.clone()));
        match app.store.append_audit(e, charge).await {
            Ok(a) => {
                app.set_audit(None);
                Ok(a)
            }
            Err(StoreError::Unreachable { .. }) if fallback.is_some() => {
                // Answered without the database (it is away): the row waits in the spool.
                let Some((spool, entry)) = fallback else { unreachable!("checked by the guard") };
                match tokio::task::spawn_blocking(move || spool.append(&entry)).await {
                    Ok(Ok(())) => {
                        app.metrics.inc(names::AUDIT_SPOOLED, &[]);
                        Ok(Appended { seq: 0, hash: String::new(), charged: true })
                    }
                    _ => Err(failed(Kind::StoreUnavailable)),
                }
            }
            Err(err @ StoreError::Busy { .. }) => {
                // Busy is not down: this request ran out of time; the audit log and the store
                // are fine for the next one (readiness stays true).
                app.metrics.inc(names::STORE_ERRORS, &[("backend", app.store.backend())]);
                tracing::warn!(request_id = %self.ctx.request_id, error = %err, "audit append timed out; the request fails");
                Err(Problem::new(
                    Kind::StoreBusy,
                    "the audit row could not be written in time, so nothing is handed out",
                ))
            }
            Err(err) => {
                app.metrics.inc(names::AUDIT_FAILURES, &[]);
                app.metrics.inc(names::STORE_ERRORS, &[("backend", app.store.backend())]);
                app.set_audit(Some(err.to_string()));
                tracing::error!(request_id = %self.ctx.request_id, error = %err, "audit append failed; the request fails");
                // The database away (down, hung, failing over) is the store's outage; a database
                // that answers but refuses the row is the audit log's.
                Err(failed(match err {
                    StoreError::Unreachable { .. } => Kind::StoreUnavailable,
                    _ => Kind::AuditUnavailable,
                }))
            }
        }
    }
}

impl FromRequestParts<Arc<App>> for Outcome {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Problem> {
        Self::of(app, &parts.extensions)
    }
}

/// The problem of a denial: 403 `denied`, or 429 `rate-limited` (with `Retry-After`: the
/// seconds left in the window), with the decision.
pub(super) fn denied(d: &Decision) -> Problem {
    let kind = if d.by == DecidedBy::RateLimit { Kind::RateLimited } else { Kind::Denied };
    let problem = Problem::new(kind, d.reasons.first().cloned().unwrap_or_else(|| "denied by policy".into()))
        .with("decision", "denied")
        .with("rule", d.by.name())
        .with("reasons", d.reasons.clone());
    match d.retry_after {
        Some(secs) => problem.with_retry_after(secs.into()),
        None => problem,
    }
}

/// What a client is told about a failure on the service's side; the request id finds the rest
/// in the log and the audit row.
pub(super) fn public_detail(kind: Kind) -> &'static str {
    match kind {
        Kind::HsmUnavailable => "the session key or wallet cannot sign now; retry later",
        Kind::SignerUnavailable => "the wallet signer refused or failed; retry later",
        Kind::StoreUnavailable => "the store cannot be read or written now; retry later",
        Kind::StoreBusy => "the store is busy and this request ran out of time; retry",
        _ => "the service failed; report the request id",
    }
}

/// `clamped` of a response: what was asked for, when the expiration was cut.
pub(super) fn clamped_json(d: &Decision) -> serde_json::Value {
    match &d.clamped {
        None => serde_json::Value::Null,
        Some(c) => {
            serde_json::json!({"requested": c.requested.to_string(), "maxLifetimeSeconds": c.max_lifetime_secs})
        }
    }
}
