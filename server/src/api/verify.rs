//! `POST /v1/verify`: a sessionSigs map checked by a network's node rules, node by node and
//! request by request.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::extract::Json;
use super::outcome::Outcome;
use super::parse::{self, RequestBody};
use crate::app::App;
use crate::policy::DecidedBy;
use crate::problem::{Kind, Problem};
use crate::signing::{self, Generation, Route, Timestamp, VerifyOptions};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct VerifyBody {
    session_sigs: Box<RawValue>,
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
    /// Datil: `v1` (default) or `unversioned` (the v7 SDK's decrypt and ACC-signing routes,
    /// which fall back to an older check).
    #[serde(default)]
    route: Option<String>,
    /// Naga: the node's current price for the operation; `maxPrice` must cover it.
    #[serde(default)]
    node_price: Option<Box<RawValue>>,
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
    if !body.session_sigs.get().starts_with('{') {
        return Err(invalid("sessionSigs must be an object (a map or one SessionSig)".into()));
    }
    let generation = match body.network.as_deref() {
        None => Generation::Datil,
        Some(name) => signing::network(name).ok_or_else(|| invalid("network must be datil or naga".into()))?,
    };
    let route = match (body.route.as_deref(), generation) {
        (None | Some("v1"), _) => Route::V1,
        (Some("unversioned"), Generation::Datil) => Route::Unversioned,
        (Some("unversioned"), _) => return Err(invalid("route unversioned applies to network datil".into())),
        (Some(_), _) => return Err(invalid("route must be v1 or unversioned".into())),
    };
    let node_price = match (&body.node_price, generation) {
        (None, _) => None,
        (Some(raw), Generation::Naga) => Some(parse::price(raw, "nodePrice")?.0),
        (Some(_), _) => return Err(invalid("nodePrice applies to network naga".into())),
    };
    if let Some(r) = requests.iter().find(|r| !generation.format().knows(r.resource().prefix())) {
        let detail = format!("{r}: {generation} nodes have no such resource");
        return Err(Problem::new(Kind::InvalidResource, detail));
    }
    let options = VerifyOptions { strict: body.strict, generation, route, node_price };
    let results = signing::verify_map_with(body.session_sigs.get(), nodes.as_deref(), &requests, now, &options)
        .map_err(|e| invalid(format!("sessionSigs: {e}")))?;
    let valid = results.iter().all(|r| r.valid);
    let mut row = outcome.row();
    row.rule = Some(DecidedBy::Endpoints.name().to_string());
    row.resources = requests.iter().map(|r| r.to_string()).collect();
    row.node_count = results.len() / requests.len().max(1);
    outcome.record(row).await?;
    super::json(&serde_json::json!({"valid": valid, "results": results, "requestId": outcome.ctx.request_id}))
}
