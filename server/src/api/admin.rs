//! `POST /v1/admin/reload` (re-read the policy and the token file),
//! `GET /v1/admin/reload` (the last reload's status) and `POST /v1/admin/rotate` (rotate a
//! profile's session key across the fleet now).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::extract::Json;
use super::outcome::{public_detail, Outcome};
use crate::app::App;
use crate::audit::{AuditEntry, Outcome as Ended};
use crate::endpoint::Endpoint;
use crate::keys::Actor;
use crate::problem::{Kind, Problem};

/// `POST /v1/admin/reload`.
pub(super) async fn reload(State(app): State<Arc<App>>, outcome: Outcome) -> Result<Response, Problem> {
    let reloaded = app.reload().await;
    let (decision, reasons, status) = match &reloaded {
        Ok(n) => (Ended::Approved, vec![format!("policy reloaded: {n} clients")], 200),
        Err(Some(e)) => (Ended::Failed, vec![e.to_string()], 422),
        Err(None) => (Ended::Failed, vec!["a reload is already running".to_string()], 409),
    };
    // A reload is decided by the admin grant itself.
    let rule = Some(Endpoint::Admin.name().to_string());
    outcome.record(crate::audit::AuditEntry { decision, rule, reasons, status, ..outcome.row() }).await?;
    match reloaded {
        Ok(n) => {
            super::json(&serde_json::json!({"status": "completed", "clients": n, "requestId": outcome.ctx.request_id}))
        }
        Err(Some(e)) => Err(Problem::new(Kind::PolicyInvalid, e.to_string()).with("errors", e.0.clone())),
        Err(None) => Err(Problem::new(Kind::ReloadInProgress, "a reload is already running")),
    }
}

/// `GET /v1/admin/reload`.
pub(super) async fn status(State(app): State<Arc<App>>) -> Result<Response, Problem> {
    super::json(&app.reload_status())
}

/// The body of `POST /v1/admin/rotate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    /// The profile (default: the default profile).
    #[serde(default)]
    signer: Option<String>,
    /// Stop signing with the current key at once.
    #[serde(default)]
    revoke: bool,
}

/// `POST /v1/admin/rotate`: rotates a profile's session key now across the fleet (the logic is
/// [`crate::keys::Fleet::rotate`]).
pub(super) async fn rotate(
    State(app): State<Arc<App>>,
    outcome: Outcome,
    Json(body): Json<RotateBody>,
) -> Result<Response, Problem> {
    let name = body.signer.unwrap_or_else(|| app.default_signer.clone());
    // A rotation is decided by the admin grant itself.
    let row =
        AuditEntry { rule: Some(Endpoint::Admin.name().to_string()), signer: Some(name.clone()), ..outcome.row() };
    let refused = |kind: Kind, detail: String| Err((Problem::new(kind, detail.clone()), detail));
    let rotated = match (app.profiles.contains_key(&name), app.keys.get(&name)) {
        (false, _) => refused(Kind::UnknownSigner, format!("no signer profile {name:?}")),
        (true, None) => {
            refused(Kind::NotRotating, format!("the session key of profile {name:?} does not rotate across the fleet"))
        }
        (true, Some(fleet)) => {
            let actor = Actor {
                request_id: outcome.ctx.request_id.clone(),
                client: outcome.caller.client.clone(),
                auth: outcome.caller.method,
            };
            fleet.rotate(body.revoke, &actor, &app.metrics).await.map_err(|e| {
                tracing::error!(request_id = %outcome.ctx.request_id, signer = %name, error = %e, "rotation failed");
                let detail = e.public_detail().unwrap_or_else(|| public_detail(e.kind()).to_string());
                (Problem::new(e.kind(), detail), e.to_string())
            })
        }
    };
    match rotated {
        Ok(rotated) => {
            outcome.record(AuditEntry { reasons: vec![rotated.summary()], ..row }).await?;
            let mut out = rotated.to_json(&name);
            out["requestId"] = serde_json::Value::String(outcome.ctx.request_id.clone());
            super::json(&out)
        }
        Err((problem, reason)) => {
            let status = problem.kind.status().as_u16();
            outcome.record(AuditEntry { decision: Ended::Failed, reasons: vec![reason], status, ..row }).await?;
            Err(problem)
        }
    }
}
