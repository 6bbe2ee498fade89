//! The HTTP API: routes, the request-id/limits/metrics middleware, authentication, and the
//! handlers. Every endpoint except `/livez` and `/readyz` needs an authenticated client that the
//! policy allows to call it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::app::App;
use crate::audit::AuditEntry;
use crate::auth::{self, Caller, PeerIdentity};
use crate::metrics::names;
use crate::policy::{
    AuthMethod, CapacityQuery, Decision, Endpoint, Format, PaymentQuery, RequestedResource, SigsQuery, Verdict,
};
use crate::problem::{Kind, Problem};
use crate::ratelimit::{self, QuotaCharge};
use crate::signing::{self, CapacityInput, MintInput, NodePricing, PaymentInput, Price, SignError, Timestamp};
use crate::store::StoreError;

/// Per-request context set by the outermost middleware.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// `x-correlation-id` if the client sent a usable one, else generated.
    pub request_id: String,
    /// The endpoint name for logs and metrics.
    pub endpoint: &'static str,
}

/// The client a response was for (metrics and logs).
#[derive(Clone, Debug)]
struct ClientLabel(String);

// Limits of a session-sigs request, far above what a Lit network needs.
const MAX_NODES: usize = 256;
const MAX_REQUESTS: usize = 64;
const MAX_CAPABILITIES: usize = 16;
const MAX_TEXT: usize = 4096;

/// The router of the API listener.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/v1/session-sigs", post(session_sigs))
        .route("/v1/policy/evaluate", post(policy_evaluate))
        .route("/v1/verify", post(verify))
        .route("/v1/keys", get(keys))
        .route("/v1/capacity-delegation", post(capacity_delegation))
        .route("/v1/payment-delegation", post(payment_delegation))
        .route("/v1/admin/reload", post(reload).get(reload_status))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), authenticate))
        .layer(middleware::from_fn_with_state(app.clone(), context))
        .with_state(app)
}

/// The router of the metrics listener.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(app)
}

fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/livez" => "livez",
        "/readyz" => "readyz",
        "/v1/session-sigs" => "session-sigs",
        "/v1/policy/evaluate" => "policy-evaluate",
        "/v1/verify" => "verify",
        "/v1/keys" => "keys",
        "/v1/capacity-delegation" => "capacity-delegation",
        "/v1/payment-delegation" => "payment-delegation",
        "/v1/admin/reload" => "admin",
        _ => "other",
    }
}

fn usable_correlation_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("x-correlation-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| v.to_string())
}

/// Request id, time limit, metrics and the access log.
async fn context(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = usable_correlation_id(req.headers()).unwrap_or_else(|| signing::random_hex(16));
    let endpoint = endpoint_of(req.uri().path());
    let method = req.method().clone();
    let ctx = Ctx { request_id: request_id.clone(), endpoint };
    req.extensions_mut().insert(ctx);
    let mut response = match tokio::time::timeout(app.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => Problem::new(Kind::Timeout, "the request took longer than the service's time limit")
            .with_request_id(&request_id)
            .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-correlation-id", v);
    }
    let status = response.status();
    let result = if status.is_success() {
        "approved"
    } else if matches!(status.as_u16(), 401 | 403 | 429) {
        "denied"
    } else {
        "failed"
    };
    let client = response.extensions().get::<ClientLabel>().map(|c| c.0.clone()).unwrap_or_else(|| "unknown".into());
    let secs = started.elapsed().as_secs_f64();
    if !matches!(endpoint, "livez" | "readyz") {
        let (r, d) = (names::REQUESTS, names::DURATION);
        app.metrics.inc(r.0, r.1, &[("endpoint", endpoint), ("client", &client), ("result", result)]);
        app.metrics.observe(d.0, d.1, &[("endpoint", endpoint)], secs);
        tracing::info!(
            request_id = %request_id, client = %client, endpoint, method = %method, status = status.as_u16(),
            result, ms = secs * 1e3, "request"
        );
    }
    response
}

fn with_client(mut r: Response, client: &str) -> Response {
    r.extensions_mut().insert(ClientLabel(client.to_string()));
    r
}

fn auth_failure(app: &App, ctx: &Ctx, kind: Kind, reason: &'static str, detail: &str) -> Response {
    let f = names::AUTH_FAILURES;
    app.metrics.inc(f.0, f.1, &[("reason", reason)]);
    tracing::warn!(request_id = %ctx.request_id, endpoint = ctx.endpoint, reason, "authentication refused");
    Problem::new(kind, detail).with_request_id(&ctx.request_id).into_response()
}

/// Deny by default: identifies the caller of every endpoint except `/livez` and `/readyz`.
async fn authenticate(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/livez" || path == "/readyz" {
        return next.run(req).await;
    }
    let ctx = req
        .extensions()
        .get::<Ctx>()
        .cloned()
        .unwrap_or(Ctx { request_id: signing::random_hex(16), endpoint: "other" });
    if auth::query_has_token(req.uri().query()) {
        return auth_failure(
            &app,
            &ctx,
            Kind::TokenInQuery,
            "token-in-query",
            "a credential was sent in the query string and is refused; send it as Authorization: Bearer …",
        );
    }
    let peer = req.extensions().get::<PeerIdentity>().and_then(|p| p.0.clone());
    let bearer = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let text = v.to_str().unwrap_or("");
            match text.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                    Some(token.trim().to_string())
                }
                _ => {
                    return auth_failure(
                        &app,
                        &ctx,
                        Kind::Unauthenticated,
                        "bad-authorization-header",
                        "the Authorization header must be: Bearer <token>",
                    )
                }
            }
        }
    };
    let caller = match (bearer, peer) {
        (Some(token), peer) => {
            let token = zeroize::Zeroizing::new(token);
            match app.tokens().client_for(&token) {
                None => {
                    return auth_failure(
                        &app,
                        &ctx,
                        Kind::Unauthenticated,
                        "invalid-token",
                        "the bearer token is not valid",
                    )
                }
                Some(client) if peer.as_ref().is_some_and(|p| p != &client) => {
                    return auth_failure(
                        &app,
                        &ctx,
                        Kind::Unauthenticated,
                        "identity-conflict",
                        "the bearer token and the client certificate name different clients",
                    )
                }
                Some(client) => Caller { client, method: AuthMethod::Bearer },
            }
        }
        (None, Some(peer)) => Caller { client: peer, method: AuthMethod::Mtls },
        (None, None) => {
            return auth_failure(
                &app,
                &ctx,
                Kind::Unauthenticated,
                "missing-credentials",
                "no credentials: send Authorization: Bearer <token> or a client certificate",
            )
        }
    };
    let label = app.client_label(&caller.client);
    req.extensions_mut().insert(caller);
    with_client(next.run(req).await, &label)
}

async fn not_found(Extension(ctx): Extension<Ctx>) -> Response {
    Problem::new(Kind::NotFound, "no such endpoint").with_request_id(&ctx.request_id).into_response()
}

async fn method_not_allowed(Extension(ctx): Extension<Ctx>) -> Response {
    Problem::new(Kind::MethodNotAllowed, "this endpoint does not take this method")
        .with_request_id(&ctx.request_id)
        .into_response()
}

async fn livez() -> Response {
    axum::Json(serde_json::json!({"status": "alive"})).into_response()
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let (ready, checks) = app.readiness();
    let body = serde_json::json!({"status": if ready { "ready" } else { "not-ready" }, "checks": checks});
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.readiness();
    let mut r = app.metrics.render().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

// ---- body reading ------------------------------------------------------------------------

async fn read_json<T: DeserializeOwned>(app: &App, ctx: &Ctx, headers: &HeaderMap, body: Body) -> Result<T, Problem> {
    let problem = |kind: Kind, detail: String| Problem::new(kind, detail).with_request_id(&ctx.request_id);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(problem(Kind::UnsupportedMediaType, "send the body as Content-Type: application/json".into()));
    }
    let limit = app.limits.body_limit;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(problem(Kind::BodyTooLarge, format!("the body is larger than {limit} bytes")));
    }
    let limited = http_body_util::Limited::new(body, limit);
    let bytes = match tokio::time::timeout(app.limits.body_timeout, limited.collect()).await {
        Err(_) => return Err(problem(Kind::RequestTimeout, "the body did not arrive in time".into())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(problem(Kind::BodyTooLarge, format!("the body is larger than {limit} bytes")))
        }
        Ok(Err(_)) => return Err(problem(Kind::InvalidRequest, "the body could not be read".into())),
        Ok(Ok(c)) => c.to_bytes(),
    };
    serde_json::from_slice::<T>(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => problem(Kind::InvalidRequest, e.to_string()),
        _ => problem(Kind::MalformedJson, e.to_string()),
    })
}

// ---- shared pieces -----------------------------------------------------------------------

/// `{resource, resourcePrefix}` as the SDK serialises its resource classes.
#[derive(Debug, Deserialize)]
struct ResourceBody {
    resource: String,
    #[serde(rename = "resourcePrefix")]
    resource_prefix: String,
}

/// One `resourceAbilityRequests` entry.
#[derive(Debug, Deserialize)]
struct RequestBody {
    resource: ResourceBody,
    ability: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SessionSigsBody {
    node_urls: Vec<String>,
    resource_ability_requests: Vec<RequestBody>,
    #[serde(default)]
    expiration: Option<String>,
    nonce: String,
    #[serde(default)]
    capability_auth_sigs: Vec<Value>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    statement: Option<String>,
    #[serde(default)]
    chain_id: Option<u64>,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    format: Option<String>,
    /// v8 only: each node's own price for the operation at hand, by node URL (a node not
    /// listed costs 0).
    #[serde(default)]
    node_prices: Option<NodePrices>,
    /// v8 only: keep this many of the cheapest nodes (default: every node).
    #[serde(default)]
    threshold: Option<u64>,
    /// v8 only: the user maximum, split over the chosen nodes as the SDK splits it (default
    /// 2^128 − 1).
    #[serde(default)]
    user_max_price: Option<Box<RawValue>>,
}

/// `nodePrices`: URL → price, in the order given; a URL given twice is refused rather than
/// one of its prices silently winning.
#[derive(Debug)]
struct NodePrices(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for NodePrices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = NodePrices;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of node URL to price")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NodePrices, A::Error> {
                let mut out: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(serde::de::Error::custom(format!("nodePrices: {k} is given twice")));
                    }
                    if out.len() >= MAX_NODES {
                        return Err(serde::de::Error::custom(format!("nodePrices has more than {MAX_NODES} entries")));
                    }
                    out.push((k, v));
                }
                Ok(NodePrices(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A price as JSON: a string of decimal digits or `0x` + hex digits, or a non-negative
/// integer (any size: read from the number's own text, so nothing is rounded). Returns the
/// price and its text (decimal digits for a number, the string as given otherwise).
fn parse_price(raw: &RawValue, what: &str) -> Result<(Price, String), (Kind, String)> {
    let text = raw.get();
    if text.len() > 300 {
        return Err((Kind::InvalidPrice, format!("{what}: too long for a price below 2^256")));
    }
    let given = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|e| (Kind::InvalidPrice, format!("{what}: {e}")))?
    } else if text.starts_with('-') || text.bytes().all(|b| b.is_ascii_digit()) {
        // A JSON number: an integer is read as decimal digits, a negative one refused by name.
        text.to_string()
    } else {
        return Err((
            Kind::InvalidPrice,
            format!("{what}: {text} is not a price (a whole number, or a string of decimal or 0x-hex digits)"),
        ));
    };
    let price = given.parse::<Price>().map_err(|e| (Kind::InvalidPrice, format!("{what}: {e}")))?;
    Ok((price, given))
}

/// A parsed session-sigs request.
struct Parsed {
    signer: String,
    nodes: Vec<signing::NodeUrl>,
    /// The nodes the policy checks, as given: every node (v7), the chosen ones (v8).
    node_strings: Vec<String>,
    requests: Vec<signing::ResourceAbilityRequest>,
    requested: Vec<RequestedResource>,
    expiration: Option<Timestamp>,
    format: Format,
    pricing: Option<NodePricing>,
    /// v8: each chosen node, cheapest first, with the `maxPrice` it will sign.
    max_prices: Vec<(String, Price)>,
    body: SessionSigsBody,
}

fn parse_requests(
    list: &[RequestBody],
    ctx: &Ctx,
) -> Result<(Vec<signing::ResourceAbilityRequest>, Vec<RequestedResource>), Problem> {
    let bad = |kind: Kind, d: String| Problem::new(kind, d).with_request_id(&ctx.request_id);
    if list.is_empty() {
        return Err(bad(Kind::InvalidRequest, "resourceAbilityRequests is empty".into()));
    }
    if list.len() > MAX_REQUESTS {
        return Err(bad(Kind::InvalidRequest, format!("resourceAbilityRequests has more than {MAX_REQUESTS} entries")));
    }
    let mut requests = Vec::new();
    let mut requested = Vec::new();
    for (i, r) in list.iter().enumerate() {
        if r.resource.resource.len() > MAX_TEXT {
            return Err(bad(
                Kind::InvalidResource,
                format!("resourceAbilityRequests[{i}]: the resource id is too long"),
            ));
        }
        let req = signing::parse_request(&r.resource.resource_prefix, &r.resource.resource, &r.ability, r.data.clone())
            .map_err(|e| bad(Kind::InvalidResource, format!("resourceAbilityRequests[{i}]: {e}")))?;
        let prefix = signing::parse_prefix(&r.resource.resource_prefix)
            .map_err(|e| bad(Kind::InvalidResource, format!("resourceAbilityRequests[{i}]: {e}")))?;
        let id = signing::normalize_id(prefix, &r.resource.resource)
            .map_err(|e| bad(Kind::InvalidResource, format!("resourceAbilityRequests[{i}]: {e}")))?;
        let ability = signing::parse_ability(&r.ability)
            .map_err(|e| bad(Kind::InvalidResource, format!("resourceAbilityRequests[{i}]: {e}")))?;
        requested.push(RequestedResource { prefix, id, ability, display: req.to_string() });
        requests.push(req);
    }
    Ok((requests, requested))
}

fn parse_nodes(list: &[String], ctx: &Ctx) -> Result<Vec<signing::NodeUrl>, Problem> {
    let bad = |kind: Kind, d: String| Problem::new(kind, d).with_request_id(&ctx.request_id);
    if list.is_empty() {
        return Err(bad(Kind::InvalidRequest, "nodeUrls is empty".into()));
    }
    if list.len() > MAX_NODES {
        return Err(bad(Kind::InvalidRequest, format!("nodeUrls has more than {MAX_NODES} entries")));
    }
    let mut out: Vec<signing::NodeUrl> = Vec::with_capacity(list.len());
    for (i, n) in list.iter().enumerate() {
        if n.len() > MAX_TEXT {
            return Err(bad(Kind::InvalidResource, format!("nodeUrls[{i}] is too long")));
        }
        let url = signing::parse_node_url(n).map_err(|e| bad(Kind::InvalidResource, format!("nodeUrls[{i}]: {e}")))?;
        if out.contains(&url) {
            return Err(bad(Kind::InvalidRequest, format!("nodeUrls[{i}]: {n} is given twice")));
        }
        out.push(url);
    }
    Ok(out)
}

fn parse_session_sigs(app: &App, ctx: &Ctx, body: SessionSigsBody, now: Timestamp) -> Result<Parsed, Problem> {
    parse_session_sigs_with(&app.default_signer, &|s| app.signers.contains_key(s), ctx, body, now)
}

fn parse_session_sigs_with(
    default_signer: &str,
    known_signer: &dyn Fn(&str) -> bool,
    ctx: &Ctx,
    body: SessionSigsBody,
    now: Timestamp,
) -> Result<Parsed, Problem> {
    let bad = |kind: Kind, d: String| Problem::new(kind, d).with_request_id(&ctx.request_id);
    let format = match body.format.as_deref() {
        None => Format::V7,
        Some(f) => Format::parse(f).ok_or_else(|| {
            let shown: String = f.chars().take(32).collect();
            bad(Kind::UnsupportedFormat, format!("unknown format {shown:?} (v7 or v8)"))
        })?,
    };
    if format == Format::V7 {
        let v8_only = [
            ("nodePrices", body.node_prices.is_some()),
            ("threshold", body.threshold.is_some()),
            ("userMaxPrice", body.user_max_price.is_some()),
        ];
        if let Some((field, _)) = v8_only.iter().find(|(_, given)| *given) {
            return Err(bad(
                Kind::FormatMismatch,
                format!("{field} needs format v8 (the v7 format signs no maxPrice)"),
            ));
        }
    }
    let nodes = parse_nodes(&body.node_urls, ctx)?;
    let (requests, requested) = parse_requests(&body.resource_ability_requests, ctx)?;
    if let Some(r) = requested.iter().find(|r| !format.session_format().knows(r.prefix)) {
        let why = match format {
            Format::V7 => "payment delegation is a Naga feature: use format v8",
            Format::V8 => "Naga has no capacity credits: use a payment delegation",
        };
        return Err(bad(Kind::FormatMismatch, format!("{} cannot be signed with format {format}: {why}", r.display)));
    }
    let (pricing, max_prices) = match format {
        Format::V7 => (None, Vec::new()),
        Format::V8 => {
            let pricing = parse_pricing(&body, &nodes).map_err(|(k, d)| bad(k, d))?;
            let plan = pricing.plan(&nodes).map_err(|e| {
                let kind = match e {
                    signing::PricingError::MaxPriceTooLow { .. }
                    | signing::PricingError::TotalOverflows { .. }
                    | signing::PricingError::NodeAboveMaxPrice { .. } => Kind::MaxPriceTooLow,
                    _ => Kind::InvalidRequest,
                };
                bad(kind, e.to_string())
            })?;
            (Some(pricing), plan.into_iter().map(|(n, p)| (n.to_string(), p)).collect())
        }
    };
    check_nonce(&body.nonce).map_err(|e| bad(Kind::InvalidRequest, e))?;
    if body.capability_auth_sigs.len() > MAX_CAPABILITIES {
        return Err(bad(Kind::InvalidRequest, format!("capabilityAuthSigs has more than {MAX_CAPABILITIES} entries")));
    }
    for (i, capability) in body.capability_auth_sigs.iter().enumerate() {
        signing::check_delegation_capability(capability)
            .map_err(|e| bad(Kind::InvalidRequest, format!("capabilityAuthSigs[{i}]: {e}")))?;
    }
    check_siwe_text(&body.domain, &body.statement).map_err(|e| bad(Kind::InvalidRequest, e))?;
    let expiration = future_expiration(body.expiration.as_deref(), now).map_err(|e| bad(Kind::InvalidRequest, e))?;
    let signer = body.signer.clone().unwrap_or_else(|| default_signer.to_string());
    if !known_signer(&signer) {
        return Err(bad(Kind::UnknownSigner, format!("no signer profile {signer:?}")));
    }
    let node_strings = match format {
        Format::V7 => body.node_urls.clone(),
        Format::V8 => max_prices.iter().map(|(n, _)| n.clone()).collect(),
    };
    Ok(Parsed { signer, nodes, node_strings, requests, requested, expiration, format, pricing, max_prices, body })
}

/// The v8 pricing from `nodePrices`, `threshold` and `userMaxPrice`.
/// The nonce rule of every minting endpoint.
fn check_nonce(nonce: &str) -> Result<(), String> {
    if nonce.trim().is_empty() || nonce.len() > 256 {
        return Err("nonce must be a non-empty string of at most 256 characters".into());
    }
    Ok(())
}

/// The SIWE `domain` and `statement` a client may set: one line each, bounded.
fn check_siwe_text(domain: &Option<String>, statement: &Option<String>) -> Result<(), String> {
    for (what, v) in [("domain", domain), ("statement", statement)] {
        if v.as_ref().is_some_and(|v| v.len() > MAX_TEXT || v.contains('\n') || v.contains('\r')) {
            return Err(format!("{what} must be one line of at most {MAX_TEXT} bytes"));
        }
    }
    Ok(())
}

/// An optional requested expiration, which must lie after `now`.
fn future_expiration(text: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, String> {
    let Some(text) = text else { return Ok(None) };
    let t = signing::parse_time(text).map_err(|e| format!("expiration: {e}"))?;
    if t <= now {
        return Err(format!("expiration {t} is not in the future"));
    }
    Ok(Some(t))
}

/// The signer profile a request names, or the default one.
fn signer_profile(app: &App, name: Option<&str>) -> Result<(String, Arc<signing::Signer>), String> {
    let name = name.unwrap_or(&app.default_signer);
    match app.signers.get(name) {
        Some(signer) => Ok((name.to_string(), signer.clone())),
        None => Err(format!("no signer profile {name:?}")),
    }
}

fn parse_pricing(body: &SessionSigsBody, nodes: &[signing::NodeUrl]) -> Result<NodePricing, (Kind, String)> {
    let mut pricing = NodePricing::new();
    for (url, raw) in body.node_prices.iter().flat_map(|p| p.0.iter()) {
        let shown: String = url.chars().take(200).collect();
        let node = signing::parse_node_url(url).map_err(|e| (Kind::InvalidResource, format!("nodePrices: {e}")))?;
        if !nodes.contains(&node) {
            return Err((Kind::InvalidRequest, format!("nodePrices: {shown} is not one of nodeUrls")));
        }
        let (price, _) = parse_price(raw, &format!("nodePrices[{shown}]"))?;
        pricing = pricing.with_node_price(node, price);
    }
    if let Some(k) = body.threshold {
        let k = usize::try_from(k).map_err(|_| (Kind::InvalidRequest, "threshold is too large".to_string()))?;
        pricing = pricing.with_threshold(k);
    }
    if let Some(raw) = &body.user_max_price {
        let (max, _) = parse_price(raw, "userMaxPrice")?;
        pricing = pricing.with_max_price(signing::MaxPrice::Split(max));
    }
    Ok(pricing)
}

fn decision_metrics(app: &App, client: &str, d: &Decision) {
    let m = names::DECISIONS;
    let (c, r) = (app.client_label(client), app.rule_label(&d.rule));
    app.metrics.inc(m.0, m.1, &[("client", &c), ("rule", &r), ("result", d.result.as_str())]);
}

#[allow(clippy::too_many_arguments)]
fn entry(
    ctx: &Ctx,
    caller: &Caller,
    decision: &str,
    rule: Option<String>,
    reasons: Vec<String>,
    signer: Option<String>,
    parsed: Option<&Parsed>,
    status: u16,
) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: Timestamp::now().to_string(),
        request_id: ctx.request_id.clone(),
        client: caller.client.clone(),
        auth: caller.method.as_str().into(),
        endpoint: ctx.endpoint.into(),
        decision: decision.into(),
        rule,
        reasons,
        signer,
        session_key: None,
        resources: parsed.map(|p| p.requested.iter().map(|r| r.display.clone()).collect()).unwrap_or_default(),
        node_count: parsed.map_or(0, |p| p.node_strings.len()),
        expiration: None,
        auth_sig: None,
        status,
        format: parsed.map(|p| p.format.as_str().to_string()),
        max_price: parsed.and_then(|p| p.max_prices.iter().map(|(_, m)| *m).max()).map(|m| m.to_string()),
    }
}

/// Writes an audit row; a failure fails the request (fail-closed).
async fn audit(
    app: &App,
    ctx: &Ctx,
    e: AuditEntry,
    charge: Option<QuotaCharge>,
) -> Result<crate::store::Appended, Problem> {
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
                    let s = names::AUDIT_SPOOLED;
                    app.metrics.inc(s.0, s.1, &[]);
                    Ok(crate::store::Appended { seq: 0, hash: String::new(), charged: true })
                }
                _ => Err(Problem::new(
                    Kind::StoreUnavailable,
                    "the audit row could not be written, so nothing is handed out",
                )
                .with_request_id(&ctx.request_id)),
            }
        }
        Err(err @ StoreError::Busy { .. }) => {
            // Busy is not down: this request ran out of time; the audit log and the store are
            // fine for the next one (readiness stays true).
            let s = names::STORE_ERRORS;
            app.metrics.inc(s.0, s.1, &[("backend", app.store.backend())]);
            tracing::warn!(request_id = %ctx.request_id, error = %err, "audit append timed out; the request fails");
            Err(Problem::new(Kind::StoreBusy, "the audit row could not be written in time, so nothing is handed out")
                .with_request_id(&ctx.request_id))
        }
        Err(err) => {
            let (f, s) = (names::AUDIT_FAILURES, names::STORE_ERRORS);
            app.metrics.inc(f.0, f.1, &[]);
            app.metrics.inc(s.0, s.1, &[("backend", app.store.backend())]);
            app.set_audit(Some(err.to_string()));
            tracing::error!(request_id = %ctx.request_id, error = %err, "audit append failed; the request fails");
            // The database away (down, hung, failing over) is the store's outage; a database that
            // answers but refuses the row is the audit log's.
            let kind = match err {
                StoreError::Unreachable { .. } => Kind::StoreUnavailable,
                _ => Kind::AuditUnavailable,
            };
            Err(Problem::new(kind, "the audit row could not be written, so nothing is handed out")
                .with_request_id(&ctx.request_id))
        }
    }
}

fn denied_problem(ctx: &Ctx, d: &Decision) -> Problem {
    let kind = if d.rule == ratelimit::RULE { Kind::RateLimited } else { Kind::Denied };
    Problem::new(kind, d.reasons.first().cloned().unwrap_or_else(|| "denied by policy".into()))
        .with_request_id(&ctx.request_id)
        .with("decision", "denied")
        .with("rule", d.rule.clone())
        .with("reasons", d.reasons.clone())
}

/// Audits a request the policy denied (403) and gives the client's problem.
async fn audit_denied(app: &App, ctx: &Ctx, mut row: AuditEntry, d: &Decision) -> Problem {
    row.status = 403;
    match audit(app, ctx, row, None).await {
        Ok(_) => denied_problem(ctx, d),
        Err(p) => p,
    }
}

/// Audits an approved request whose signature failed (the row keeps the full reason; the
/// client's detail is generic) and gives the client's problem.
async fn audit_signing_failure(app: &App, ctx: &Ctx, mut row: AuditEntry, signer: &str, e: &SignError) -> Problem {
    let p = sign_problem(app, ctx, signer, e);
    row.decision = "failed".into();
    row.status = p.kind.status().as_u16();
    row.reasons.push(e.to_string());
    match audit(app, ctx, row, None).await {
        Ok(_) => p,
        Err(audit_problem) => audit_problem,
    }
}

/// The rate-limit counter could not be read: the request fails (503) with an audit row.
struct QuotaReadFailed {
    decision: Decision,
    error: String,
    busy: bool,
}

impl QuotaReadFailed {
    /// Writes the failed row (fail-closed) and returns the problem to answer.
    async fn fail(self, app: &App, ctx: &Ctx, caller: &Caller, p: &Parsed) -> Problem {
        tracing::warn!(request_id = %ctx.request_id, error = %self.error, "rate-limit counter unreadable");
        let kind = if self.busy { Kind::StoreBusy } else { Kind::StoreUnavailable };
        let e = entry(
            ctx,
            caller,
            "failed",
            Some(self.decision.rule.clone()),
            vec![self.error],
            Some(p.signer.clone()),
            Some(p),
            kind.status().as_u16(),
        );
        if let Err(p) = audit(app, ctx, e, None).await {
            return p;
        }
        Problem::new(kind, public_detail(kind)).with_request_id(&ctx.request_id)
    }
}

/// Policy for a session-sigs request, including the rate-limit precheck.
async fn decide(
    app: &App,
    caller: &Caller,
    endpoint: Endpoint,
    p: &Parsed,
    now: Timestamp,
) -> Result<(Decision, Option<QuotaCharge>), QuotaReadFailed> {
    let policy = app.policy();
    if let Err(d) = policy.check_access(&caller.client, caller.method, endpoint) {
        return Ok((d, None));
    }
    let q = SigsQuery {
        client: &caller.client,
        signer: &p.signer,
        requests: &p.requested,
        nodes: &p.node_strings,
        expiration: p.expiration,
        default_lifetime: (p.format == Format::V8).then_some(signing::V8_SESSION_LIFETIME),
        format: p.format,
        max_prices: &p.max_prices,
        now,
    };
    let d = policy.evaluate(&q);
    if d.result == Verdict::Denied {
        return Ok((d, None));
    }
    let Some(rate) = policy.rate(&caller.client) else { return Ok((d, None)) };
    let charge = rate.charge(&caller.client, now);
    let used = match app.store.quota_used(&charge).await {
        Ok(used) => used,
        Err(e) => {
            let busy = matches!(e, StoreError::Busy { .. });
            return Err(QuotaReadFailed { decision: d, error: format!("rate limit: {e}"), busy });
        }
    };
    if let Err(exceeded) = charge.check(used) {
        return Ok((exceeded.into(), None));
    }
    Ok((d, Some(charge)))
}

fn clamped_json(d: &Decision) -> Value {
    match &d.clamped {
        None => Value::Null,
        Some(c) => serde_json::json!({"requested": c.requested.to_string(), "maxLifetimeSeconds": c.max_lifetime_secs}),
    }
}

fn sign_problem(app: &App, ctx: &Ctx, signer: &str, e: &SignError) -> Problem {
    let kind = match e {
        SignError::Request(_) => Kind::InvalidRequest,
        SignError::Hsm(m) => {
            let h = names::HSM_ERRORS;
            app.metrics.inc(h.0, h.1, &[("kind", "request")]);
            app.set_hsm(signer, Some(m.clone()));
            Kind::HsmUnavailable
        }
        SignError::Signer(_) => Kind::SignerUnavailable,
        SignError::Store(_) => Kind::StoreUnavailable,
        SignError::StoreBusy(_) => Kind::StoreBusy,
        SignError::Internal(_) => Kind::Internal,
    };
    tracing::warn!(request_id = %ctx.request_id, signer, error = %e, "signing failed");
    // The full text (module path, token, slot, key id, database) is for the log and the audit
    // row; the client learns the kind of failure only. A refused request is about its own input.
    let detail = match e {
        SignError::Request(m) => m.clone(),
        _ => public_detail(kind).to_string(),
    };
    Problem::new(kind, detail).with_request_id(&ctx.request_id)
}

/// What a client is told about a failure on the service's side; the request id finds the rest
/// in the log and the audit row.
fn public_detail(kind: Kind) -> &'static str {
    match kind {
        Kind::HsmUnavailable => "the session key or wallet cannot sign now; retry later",
        Kind::SignerUnavailable => "the wallet signer refused or failed; retry later",
        Kind::StoreUnavailable => "the store cannot be read or written now; retry later",
        Kind::StoreBusy => "the store is busy and this request ran out of time; retry",
        _ => "the service failed; report the request id",
    }
}

/// The session-sigs request parser on its own (for fuzzing): JSON text → the parsed request or
/// the 4xx problem the endpoint would answer. Signer profiles `default` and `treasury` exist.
/// Returns the problem's status, or 200 for a request that would reach the policy.
pub fn parse_session_sigs_request(bytes: &[u8]) -> u16 {
    let ctx = Ctx { request_id: "fuzz".into(), endpoint: "session-sigs" };
    let body = match serde_json::from_slice::<SessionSigsBody>(bytes) {
        Ok(b) => b,
        Err(_) => return 400,
    };
    let known = |s: &str| s == "default" || s == "treasury";
    match parse_session_sigs_with("default", &known, &ctx, body, Timestamp::now()) {
        Ok(p) => {
            // What the policy sees must be consistent with what is signed.
            assert_eq!(p.requested.len(), p.requests.len());
            match p.format {
                Format::V7 => assert_eq!(p.nodes.len(), p.node_strings.len()),
                Format::V8 => {
                    assert_eq!(p.max_prices.len(), p.node_strings.len());
                    assert!(p.node_strings.iter().all(|n| p.body.node_urls.contains(n)));
                    // Cheapest first: equal shares on top of ascending prices.
                    assert!(p.max_prices.windows(2).all(|w| w[0].1 <= w[1].1));
                }
            }
            200
        }
        Err(problem) => {
            let status = problem.kind.status().as_u16();
            assert!((400..500).contains(&status), "a parse error must be a 4xx: {problem}");
            status
        }
    }
}

// ---- POST /v1/session-sigs ---------------------------------------------------------------

#[derive(Serialize)]
struct AuthSigSummary<'a> {
    #[serde(rename = "use")]
    use_: &'a str,
    address: &'a str,
    expiration: String,
}

#[derive(Serialize)]
struct SessionSigsResponse<'a> {
    #[serde(rename = "sessionSigs")]
    session_sigs: &'a RawValue,
    #[serde(rename = "sessionKey")]
    session_key: &'a str,
    expiration: String,
    #[serde(rename = "authSig")]
    auth_sig: AuthSigSummary<'a>,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    policy: Value,
}

async fn session_sigs(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match session_sigs_inner(&app, &ctx, &caller, &headers, body).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn session_sigs_inner(
    app: &App,
    ctx: &Ctx,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if app.shutting_down.load(Ordering::Relaxed) {
        return Err(Problem::new(Kind::ShuttingDown, "the service is shutting down").with_request_id(&ctx.request_id));
    }
    let now = Timestamp::now();
    let body: SessionSigsBody = read_json(app, ctx, headers, body).await?;
    let parsed = parse_session_sigs(app, ctx, body, now)?;
    let (decision, charge) = match decide(app, caller, Endpoint::SessionSigs, &parsed, now).await {
        Ok(d) => d,
        Err(failed) => return Err(failed.fail(app, ctx, caller, &parsed).await),
    };
    decision_metrics(app, &caller.client, &decision);
    if decision.result == Verdict::Denied {
        let status = if decision.rule == ratelimit::RULE { 429 } else { 403 };
        let e = entry(
            ctx,
            caller,
            "denied",
            Some(decision.rule.clone()),
            decision.reasons.clone(),
            Some(parsed.signer.clone()),
            Some(&parsed),
            status,
        );
        audit(app, ctx, e, None).await?;
        return Err(denied_problem(ctx, &decision));
    }
    // What the policy decided; minting may still move a v8 default later by the time it took
    // to get here.
    let decided = decision.expiration.unwrap_or(now);
    // v8 without an expiration: 15 minutes from minting, within the rule's maximum.
    let (expiration, default_lifetime) = match (parsed.format, parsed.expiration) {
        (Format::V8, None) => (decision.latest.unwrap_or(decided), Some(signing::V8_SESSION_LIFETIME)),
        _ => (decided, None),
    };
    let signer = app.signers.get(&parsed.signer).cloned().ok_or_else(|| {
        Problem::new(Kind::UnknownSigner, format!("no signer profile {:?}", parsed.signer))
            .with_request_id(&ctx.request_id)
    })?;
    let input = MintInput {
        nodes: parsed.nodes.clone(),
        requests: parsed.requests.clone(),
        nonce: parsed.body.nonce.clone(),
        expiration,
        capability_auth_sigs: parsed.body.capability_auth_sigs.clone(),
        domain: parsed.body.domain.clone(),
        statement: parsed.body.statement.clone(),
        chain_id: parsed.body.chain_id,
        format: parsed.format.session_format(),
        pricing: parsed.pricing.clone(),
        default_lifetime,
    };
    let minted = match signer.mint(&input).await {
        Ok(m) => {
            app.set_hsm(&parsed.signer, None);
            m
        }
        Err(e) => {
            let problem = sign_problem(app, ctx, &parsed.signer, &e);
            // Every outcome has its row, with the full reason (the client's detail is generic).
            let mut row = entry(
                ctx,
                caller,
                "failed",
                Some(decision.rule.clone()),
                vec![e.to_string()],
                Some(parsed.signer.clone()),
                Some(&parsed),
                problem.kind.status().as_u16(),
            );
            row.expiration = Some(decided.to_string());
            // Fail-closed as everywhere: a row that cannot be written is the answer.
            audit(app, ctx, row, None).await?;
            return Err(problem);
        }
    };
    for w in &minted.warnings {
        tracing::warn!(request_id = %ctx.request_id, signer = %parsed.signer, warning = %w, "session manager");
    }
    let mut row = entry(
        ctx,
        caller,
        "approved",
        Some(decision.rule.clone()),
        decision.reasons.clone(),
        Some(parsed.signer.clone()),
        Some(&parsed),
        200,
    );
    row.session_key = Some(minted.session_key.clone());
    row.expiration = Some(minted.expiration.to_string());
    row.node_count = minted.count;
    row.auth_sig = Some(minted.auth_use.to_string());
    let appended = audit(app, ctx, row, charge.clone()).await?;
    if let Some(charge) = charge.filter(|_| !appended.charged) {
        return Err(denied_problem(ctx, &charge.exceeded_at_commit().into()));
    }
    let (a, i) = (names::AUTH_SIG, names::ISSUED);
    app.metrics.inc(a.0, a.1, &[("outcome", minted.auth_use)]);
    app.metrics.inc_by(i.0, i.1, &[("client", &app.client_label(&caller.client))], minted.count as u64);
    let response = SessionSigsResponse {
        session_sigs: &minted.session_sigs,
        session_key: &minted.session_key,
        expiration: minted.expiration.to_string(),
        auth_sig: AuthSigSummary {
            use_: minted.auth_use,
            address: &minted.auth_address,
            expiration: minted.auth_expiration.to_string(),
        },
        request_id: &ctx.request_id,
        policy: serde_json::json!({"rule": decision.rule, "clamped": clamped_json(&decision), "reasons": decision.reasons}),
    };
    Ok(json_response(StatusCode::OK, &response))
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => Problem::new(Kind::Internal, format!("response encoding: {e}")).into_response(),
    }
}

// ---- POST /v1/policy/evaluate ------------------------------------------------------------

async fn policy_evaluate(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let now = Timestamp::now();
        let policy = app.policy();
        if let Err(d) = policy.check_access(&caller.client, caller.method, Endpoint::PolicyEvaluate) {
            decision_metrics(&app, &caller.client, &d);
            let e = entry(&ctx, &caller, "denied", Some(d.rule.clone()), d.reasons.clone(), None, None, 403);
            audit(&app, &ctx, e, None).await?;
            return Err(denied_problem(&ctx, &d));
        }
        let body: SessionSigsBody = read_json(&app, &ctx, &headers, body).await?;
        let parsed = parse_session_sigs(&app, &ctx, body, now)?;
        let (d, _) = match decide(&app, &caller, Endpoint::SessionSigs, &parsed, now).await {
            Ok(d) => d,
            Err(failed) => return Err(failed.fail(&app, &ctx, &caller, &parsed).await),
        };
        let mut e = entry(
            &ctx,
            &caller,
            d.result.as_str(),
            Some(d.rule.clone()),
            d.reasons.clone(),
            Some(parsed.signer.clone()),
            Some(&parsed),
            200,
        );
        e.expiration = d.expiration.map(|t| t.to_string());
        audit(&app, &ctx, e, None).await?;
        let body = serde_json::json!({
            "decision": d.result.as_str(),
            "rule": d.rule,
            "reasons": d.reasons,
            "expiration": d.expiration.map(|t| t.to_string()),
            "clamped": clamped_json(&d),
            "requestId": ctx.request_id,
        });
        Ok(json_response(StatusCode::OK, &body))
    }
    .await;
    result.unwrap_or_else(|p: Problem| p.into_response())
}

/// Checks endpoint access, auditing a denial.
async fn gate(app: &App, ctx: &Ctx, caller: &Caller, endpoint: Endpoint) -> Result<(), Problem> {
    if let Err(d) = app.policy().check_access(&caller.client, caller.method, endpoint) {
        decision_metrics(app, &caller.client, &d);
        let e = entry(ctx, caller, "denied", Some(d.rule.clone()), d.reasons.clone(), None, None, 403);
        audit(app, ctx, e, None).await?;
        return Err(denied_problem(ctx, &d));
    }
    Ok(())
}

// ---- POST /v1/verify ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VerifyBody {
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

async fn verify(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        gate(&app, &ctx, &caller, Endpoint::Verify).await?;
        let body: VerifyBody = read_json(&app, &ctx, &headers, body).await?;
        let bad = |kind: Kind, d: String| Problem::new(kind, d).with_request_id(&ctx.request_id);
        let (requests, _) = parse_requests(&body.resource_ability_requests, &ctx)?;
        let nodes = body.node_urls.as_deref().map(|n| parse_nodes(n, &ctx)).transpose()?;
        let now = match &body.now {
            None => Timestamp::now(),
            Some(t) => signing::parse_time(t).map_err(|e| bad(Kind::InvalidRequest, format!("now: {e}")))?,
        };
        if !body.session_sigs.get().starts_with('{') {
            return Err(bad(Kind::InvalidRequest, "sessionSigs must be an object (a map or one SessionSig)".into()));
        }
        let generation = match body.network.as_deref() {
            None | Some("datil") => signing::Generation::Datil,
            Some("naga") => signing::Generation::Naga,
            Some(_) => return Err(bad(Kind::InvalidRequest, "network must be datil or naga".into())),
        };
        let route = match (body.route.as_deref(), generation) {
            (None | Some("v1"), _) => signing::Route::V1,
            (Some("unversioned"), signing::Generation::Datil) => signing::Route::Unversioned,
            (Some("unversioned"), _) => {
                return Err(bad(Kind::InvalidRequest, "route unversioned applies to network datil".into()))
            }
            (Some(_), _) => return Err(bad(Kind::InvalidRequest, "route must be v1 or unversioned".into())),
        };
        let node_price = match (&body.node_price, generation) {
            (None, _) => None,
            (Some(raw), signing::Generation::Naga) => {
                Some(parse_price(raw, "nodePrice").map_err(|(kind, d)| bad(kind, d))?.0)
            }
            (Some(_), _) => return Err(bad(Kind::InvalidRequest, "nodePrice applies to network naga".into())),
        };
        if let Some(r) = requests.iter().find(|r| !generation.format().knows(r.resource().prefix())) {
            return Err(bad(Kind::InvalidResource, format!("{r}: {generation} nodes have no such resource")));
        }
        let options = signing::VerifyOptions { strict: body.strict, generation, route, node_price };
        let results = signing::verify_map_with(body.session_sigs.get(), nodes.as_deref(), &requests, now, &options)
            .map_err(|e| bad(Kind::InvalidRequest, format!("sessionSigs: {e}")))?;
        let valid = results.iter().all(|r| r.valid);
        let mut row = entry(&ctx, &caller, "approved", Some("endpoints".into()), vec![], None, None, 200);
        row.resources = requests.iter().map(|r| r.to_string()).collect();
        row.node_count = results.len() / requests.len().max(1);
        audit(&app, &ctx, row, None).await?;
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({"valid": valid, "results": results, "requestId": ctx.request_id}),
        ))
    }
    .await;
    result.unwrap_or_else(|p: Problem| p.into_response())
}

// ---- GET /v1/keys ------------------------------------------------------------------------

async fn keys(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let result = async {
        gate(&app, &ctx, &caller, Endpoint::Keys).await?;
        let visible = app.policy().visible_signers(&caller.client);
        let mut out = Vec::new();
        for (name, s) in &app.signers {
            if visible.as_ref().is_some_and(|v| !v.contains(name)) {
                continue;
            }
            let session_key = match s.session_public_key().await {
                Ok(k) => k,
                Err(e) => {
                    let p = sign_problem(&app, &ctx, name, &e);
                    let reasons = vec![format!("signer {name}: {e}")];
                    let row = entry(
                        &ctx,
                        &caller,
                        "failed",
                        Some("endpoints".into()),
                        reasons,
                        None,
                        None,
                        p.kind.status().as_u16(),
                    );
                    audit(&app, &ctx, row, None).await?;
                    return Err(p);
                }
            };
            out.push(serde_json::json!({
                "name": name,
                "sessionKey": session_key,
                "sessionKeyBackend": s.session_backend,
                "walletAddress": s.wallet_address,
                "walletBackend": s.wallet_backend,
                "default": *name == app.default_signer,
            }));
        }
        let e = entry(&ctx, &caller, "approved", Some("endpoints".into()), vec![], None, None, 200);
        audit(&app, &ctx, e, None).await?;
        Ok(json_response(StatusCode::OK, &serde_json::json!({"signers": out, "requestId": ctx.request_id})))
    }
    .await;
    result.unwrap_or_else(|p: Problem| p.into_response())
}

// ---- POST /v1/capacity-delegation --------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CapacityBody {
    nonce: String,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    capacity_token_id: Option<String>,
    #[serde(default)]
    delegatee_addresses: Option<Vec<String>>,
    /// A number or a decimal string (the SDK takes a string).
    #[serde(default)]
    uses: Option<Value>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

async fn capacity_delegation(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        gate(&app, &ctx, &caller, Endpoint::CapacityDelegation).await?;
        let body: CapacityBody = read_json(&app, &ctx, &headers, body).await?;
        let bad = |kind: Kind, d: String| Problem::new(kind, d).with_request_id(&ctx.request_id);
        let now = Timestamp::now();
        let uses = match &body.uses {
            None => None,
            Some(Value::Number(n)) => {
                Some(n.as_u64().ok_or_else(|| bad(Kind::InvalidRequest, "uses must be a whole number".into()))?)
            }
            Some(Value::String(s)) => {
                Some(s.parse::<u64>().map_err(|_| bad(Kind::InvalidRequest, "uses must be a whole number".into()))?)
            }
            Some(_) => return Err(bad(Kind::InvalidRequest, "uses must be a number or a decimal string".into())),
        };
        let expiration = body
            .expiration
            .as_deref()
            .map(|e| signing::parse_time(e).map_err(|e| bad(Kind::InvalidRequest, format!("expiration: {e}"))))
            .transpose()?;
        check_nonce(&body.nonce).map_err(|e| bad(Kind::InvalidRequest, e))?;
        let (signer_name, signer) =
            signer_profile(&app, body.signer.as_deref()).map_err(|e| bad(Kind::UnknownSigner, e))?;
        let q = CapacityQuery {
            client: &caller.client,
            signer: &signer_name,
            uses,
            token_id: body.capacity_token_id.as_deref(),
            expiration,
            now,
        };
        let d = app.policy().evaluate_capacity(&q);
        decision_metrics(&app, &caller.client, &d);
        let resources = vec![format!(
            "lit-ratelimitincrease://{}=rate-limit-increase-auth",
            body.capacity_token_id.as_deref().unwrap_or("*")
        )];
        let mut row = entry(
            &ctx,
            &caller,
            d.result.as_str(),
            Some(d.rule.clone()),
            d.reasons.clone(),
            Some(signer_name.clone()),
            None,
            200,
        );
        row.resources = resources;
        if d.result == Verdict::Denied {
            return Err(audit_denied(&app, &ctx, row, &d).await);
        }
        let input = CapacityInput {
            nonce: body.nonce.clone(),
            token_id: body.capacity_token_id.clone(),
            delegatees: body.delegatee_addresses.clone(),
            uses,
            expiration: d.expiration,
            domain: body.domain.clone(),
            statement: body.statement.clone(),
        };
        let auth_sig = match signer.capacity_delegation(input).await {
            Ok(a) => a,
            Err(e) => return Err(audit_signing_failure(&app, &ctx, row, &signer_name, &e).await),
        };
        row.expiration = d.expiration.map(|t| t.to_string());
        audit(&app, &ctx, row, None).await?;
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "capacityDelegationAuthSig": auth_sig,
                "expiration": d.expiration.map(|t| t.to_string()),
                "clamped": clamped_json(&d),
                "requestId": ctx.request_id,
            }),
        ))
    }
    .await;
    result.unwrap_or_else(|p: Problem| p.into_response())
}

// ---- POST /v1/payment-delegation ---------------------------------------------------------

/// The v8 SDK's `createPaymentDelegationAuthSig` parameters (the signer is a profile here).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PaymentBody {
    nonce: String,
    #[serde(default)]
    signer: Option<String>,
    delegatee_addresses: Vec<String>,
    max_price: Box<RawValue>,
    scopes: Vec<String>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

async fn payment_delegation(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        gate(&app, &ctx, &caller, Endpoint::PaymentDelegation).await?;
        let body: PaymentBody = read_json(&app, &ctx, &headers, body).await?;
        let bad = |kind: Kind, d: String| Problem::new(kind, d).with_request_id(&ctx.request_id);
        let now = Timestamp::now();
        check_nonce(&body.nonce).map_err(|e| bad(Kind::InvalidRequest, e))?;
        if body.delegatee_addresses.is_empty() {
            return Err(bad(
                Kind::InvalidRequest,
                "delegateeAddresses is empty: the delegation would pay for nobody".into(),
            ));
        }
        if body.scopes.is_empty() {
            return Err(bad(
                Kind::InvalidRequest,
                "scopes is empty: name what the payments are for (encryption_sign, lit_action, pkp_sign, \
                 sign_session_key)"
                    .into(),
            ));
        }
        if body.delegatee_addresses.len() > MAX_NODES || body.scopes.len() > 16 {
            return Err(bad(Kind::InvalidRequest, "too many delegateeAddresses or scopes".into()));
        }
        check_siwe_text(&body.domain, &body.statement).map_err(|e| bad(Kind::InvalidRequest, e))?;
        let (max_price, max_price_text) = parse_price(&body.max_price, "maxPrice").map_err(|(k, d)| bad(k, d))?;
        let scopes = body
            .scopes
            .iter()
            .map(|s| signing::parse_scope(s).map_err(|e| bad(Kind::InvalidRequest, format!("scopes: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let delegatees = body
            .delegatee_addresses
            .iter()
            .map(|a| signing::address_key(a).map_err(|e| bad(Kind::InvalidRequest, format!("delegateeAddresses: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let expiration =
            future_expiration(body.expiration.as_deref(), now).map_err(|e| bad(Kind::InvalidRequest, e))?;
        let (signer_name, signer) =
            signer_profile(&app, body.signer.as_deref()).map_err(|e| bad(Kind::UnknownSigner, e))?;
        let mut input = PaymentInput {
            nonce: body.nonce.clone(),
            delegatees: body.delegatee_addresses.clone(),
            max_price: max_price_text,
            scopes: scopes.clone(),
            expiration: now,
            domain: body.domain.clone(),
            statement: body.statement.clone(),
        };
        // Everything the library would refuse is refused before the policy and the wallet.
        signing::check_payment_delegation(&input).map_err(|e| bad(Kind::InvalidRequest, e))?;
        let q = PaymentQuery {
            client: &caller.client,
            signer: &signer_name,
            max_price,
            scopes: &scopes,
            delegatees: &delegatees,
            expiration,
            now,
        };
        let d = app.policy().evaluate_payment(&q);
        decision_metrics(&app, &caller.client, &d);
        let mut row = entry(
            &ctx,
            &caller,
            d.result.as_str(),
            Some(d.rule.clone()),
            d.reasons.clone(),
            Some(signer_name.clone()),
            None,
            200,
        );
        row.resources = vec!["lit-paymentdelegation://*=lit-payment-delegation".into()];
        row.max_price = Some(max_price.to_string());
        if d.result == Verdict::Denied {
            return Err(audit_denied(&app, &ctx, row, &d).await);
        }
        input.expiration = d.expiration.unwrap_or(now);
        let auth_sig = match signer.payment_delegation(input).await {
            Ok(a) => {
                app.set_hsm(&signer_name, None);
                a
            }
            Err(e) => return Err(audit_signing_failure(&app, &ctx, row, &signer_name, &e).await),
        };
        row.expiration = d.expiration.map(|t| t.to_string());
        audit(&app, &ctx, row, None).await?;
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "paymentDelegationAuthSig": auth_sig,
                "expiration": d.expiration.map(|t| t.to_string()),
                "clamped": clamped_json(&d),
                "requestId": ctx.request_id,
            }),
        ))
    }
    .await;
    result.unwrap_or_else(|p: Problem| p.into_response())
}

// ---- /v1/admin/reload --------------------------------------------------------------------

async fn reload(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let result =
        async {
            gate(&app, &ctx, &caller, Endpoint::Admin).await?;
            let outcome = app.reload().await;
            let (decision, reasons, status) = match &outcome {
                Ok(n) => ("approved", vec![format!("policy reloaded: {n} clients")], 200),
                Err(Some(e)) => ("failed", vec![e.to_string()], 422),
                Err(None) => ("failed", vec!["a reload is already running".to_string()], 409),
            };
            let e = entry(&ctx, &caller, decision, Some("admin".into()), reasons, None, None, status);
            audit(&app, &ctx, e, None).await?;
            match outcome {
                Ok(n) => Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({"status": "completed", "clients": n, "requestId": ctx.request_id}),
                )),
                Err(Some(e)) => Err(Problem::new(Kind::PolicyInvalid, e.to_string())
                    .with_request_id(&ctx.request_id)
                    .with("errors", e.0.clone())),
                Err(None) => Err(Problem::new(Kind::ReloadInProgress, "a reload is already running")
                    .with_request_id(&ctx.request_id)),
            }
        }
        .await;
    result.unwrap_or_else(|p: Problem| p.into_response())
}

async fn reload_status(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Response {
    if let Err(p) = gate(&app, &ctx, &caller, Endpoint::Admin).await {
        return p.into_response();
    }
    json_response(StatusCode::OK, &app.reload_status())
}
