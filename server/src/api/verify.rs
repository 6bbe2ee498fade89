//! `POST /v1/verify`: a sessionSigs map checked by a network's node rules, node by node and
//! request by request.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::extract::Json;
use super::outcome::Outcome;
use super::parse::{self, RequestBody};
use crate::app::App;
use crate::policy::DecidedBy;
use crate::problem::{Kind, Problem};
use crate::signing::{self, Generation, Timestamp};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct VerifyBody {
    session_sigs: Value,
    resource_ability_requests: Vec<RequestBody>,
    #[serde(default)]
    node_urls: Option<Vec<String>>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    now: Option<String>,
    /// Whose node rules: `datil` (default; reads the v7 and v8 messages) or `naga` (v8 only,
    /// `maxPrice` required).
    #[serde(default)]
    network: Option<String>,
}

/// `POST /v1/verify`.
pub(super) async fn verify(
    State(_app): State<Arc<App>>,
    outcome: Outcome,
    Json(body): Json<VerifyBody>,
) -> Result<Response, Problem> {
    let invalid = |detail: String| Problem::new(Kind::InvalidRequest, detail);
    let (requests, _) = parse::requests(&body.resource_ability_requests)?;
    let nodes = body.node_urls.as_deref().map(parse::nodes).transpose()?;
    let now = match &body.now {
        None => Timestamp::now(),
        Some(t) => signing::parse_time(t).map_err(|e| invalid(format!("now: {e}")))?,
    };
    if !body.session_sigs.is_object() {
        return Err(invalid("sessionSigs must be an object (a map or one SessionSig)".into()));
    }
    let generation = match body.network.as_deref() {
        None => Generation::Datil,
        Some(name) => signing::network(name).ok_or_else(|| invalid("network must be datil or naga".into()))?,
    };
    let text = body.session_sigs.to_string();
    let results = signing::verify_map(&text, nodes.as_deref(), &requests, now, body.strict, generation)
        .map_err(|e| invalid(format!("sessionSigs: {e}")))?;
    let valid = results.iter().all(|r| r.valid);
    let mut row = outcome.row();
    row.rule = Some(DecidedBy::Endpoints.name().to_string());
    row.resources = requests.iter().map(|r| r.to_string()).collect();
    row.node_count = results.len() / requests.len().max(1);
    outcome.record(row).await?;
    super::json(&serde_json::json!({"valid": valid, "results": results, "requestId": outcome.ctx.request_id}))
}
