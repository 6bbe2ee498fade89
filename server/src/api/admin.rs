//! `POST /v1/admin/reload` (re-read the policy and the token file) and
//! `GET /v1/admin/reload` (the last reload's status).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::outcome::Outcome;
use crate::app::App;
use crate::audit::Outcome as Ended;
use crate::endpoint::Endpoint;
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
