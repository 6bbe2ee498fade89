//! `GET /v1/keys`: the signer profiles a client's rules name, with their session keys and
//! wallet addresses (and for keys rotating across the fleet, the rotation's view).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::outcome::Outcome;
use crate::app::App;
use crate::policy::DecidedBy;
use crate::problem::Problem;

/// `GET /v1/keys`.
pub(super) async fn keys(State(app): State<Arc<App>>, outcome: Outcome) -> Result<Response, Problem> {
    let visible = app.policy().visible_signers(&outcome.caller.client);
    let mut row = outcome.row();
    row.rule = Some(DecidedBy::Endpoints.name().to_string());
    let mut out = Vec::new();
    for (name, p) in &app.profiles {
        if visible.as_ref().is_some_and(|v| !v.contains(name)) {
            continue;
        }
        let session_key = match p.session_public_key().await {
            Ok(k) => k,
            Err(e) => {
                let reason = format!("signer {name}: {e}");
                return Err(outcome.fail_because(row, name, &e, reason).await);
            }
        };
        let mut profile = serde_json::json!({
            "name": name,
            "sessionKey": session_key,
            "sessionKeyBackend": p.session_backend,
            "walletAddress": p.wallet_address,
            "walletBackend": p.wallet_backend,
            "default": *name == app.default_signer,
        });
        // A profile whose keys rotate across the fleet: its family's keys and their states.
        if let Some(rotation) = app.keys.describe(name) {
            profile["rotation"] = rotation;
        }
        out.push(profile);
    }
    outcome.record(row).await?;
    let mut body = serde_json::json!({"signers": out, "requestId": outcome.ctx.request_id});
    if let Some((public_key, backend)) = &app.audit_key {
        body["auditKey"] = serde_json::json!({"publicKey": public_key, "backend": backend});
    }
    super::json(&body)
}
