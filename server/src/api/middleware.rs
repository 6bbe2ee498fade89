//! The layers every request passes: its context (request id, time limit, metrics, access log),
//! authentication (deny by default) and, on a route that matched, the endpoint's grant.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue};

use super::outcome::Outcome;
use super::Ctx;
use crate::app::App;
use crate::auth::{self, AuthMethod, Caller, PeerIdentity};
use crate::endpoint::Endpoint;
use crate::metrics::names;
use crate::problem::{Kind, Problem};
use crate::signing;

/// The client a response was for (metrics and logs).
#[derive(Clone, Debug)]
struct ClientLabel(String);

fn usable_correlation_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("x-correlation-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| v.to_string())
}

/// Request id, time limit, metrics and the access log; the request id goes on the problem the
/// request ends with, whatever made it.
pub(super) async fn context(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = usable_correlation_id(req.headers()).unwrap_or_else(|| signing::random_hex(16));
    let ctx = Ctx { request_id: request_id.clone(), endpoint: Endpoint::at(req.uri().path()) };
    let method = req.method().clone();
    req.extensions_mut().insert(ctx.clone());
    let mut response = match tokio::time::timeout(app.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => Problem::new(Kind::Timeout, "the request took longer than the service's time limit").into_response(),
    };
    Problem::attach_request_id(&mut response, &request_id);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-correlation-id", v);
    }
    if ctx.endpoint.is_some_and(Endpoint::is_open) {
        return response;
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
    let endpoint = ctx.label();
    app.metrics.inc(names::REQUESTS, &[("endpoint", endpoint), ("client", &client), ("result", result)]);
    app.metrics.observe(names::DURATION, &[("endpoint", endpoint)], secs);
    tracing::info!(
        request_id = %request_id, client = %client, endpoint, method = %method, status = status.as_u16(),
        result, ms = secs * 1e3, "request"
    );
    response
}

fn refused(app: &App, ctx: &Ctx, kind: Kind, reason: &'static str, detail: &str) -> Response {
    app.metrics.inc(names::AUTH_FAILURES, &[("reason", reason)]);
    tracing::warn!(request_id = %ctx.request_id, endpoint = ctx.label(), reason, "authentication refused");
    Problem::new(kind, detail).into_response()
}

/// The caller of a request: its bearer token, else its client certificate's name; a credential
/// that does not identify one client is refused.
fn identify(app: &App, req: &Request) -> Result<Caller, (Kind, &'static str, &'static str)> {
    if auth::query_has_token(req.uri().query()) {
        return Err((
            Kind::TokenInQuery,
            "token-in-query",
            "a credential was sent in the query string and is refused; send it as Authorization: Bearer …",
        ));
    }
    let peer = req.extensions().get::<PeerIdentity>().and_then(|p| p.0.clone());
    let bearer = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => match v.to_str().unwrap_or("").split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Some(zeroize::Zeroizing::new(token.trim().to_string()))
            }
            _ => {
                return Err((
                    Kind::Unauthenticated,
                    "bad-authorization-header",
                    "the Authorization header must be: Bearer <token>",
                ))
            }
        },
    };
    match (bearer, peer) {
        (Some(token), peer) => match app.tokens().client_for(&token) {
            None => Err((Kind::Unauthenticated, "invalid-token", "the bearer token is not valid")),
            Some(client) if peer.as_ref().is_some_and(|p| p != &client) => Err((
                Kind::Unauthenticated,
                "identity-conflict",
                "the bearer token and the client certificate name different clients",
            )),
            Some(client) => Ok(Caller { client, method: AuthMethod::Bearer }),
        },
        (None, Some(peer)) => Ok(Caller { client: peer, method: AuthMethod::Mtls }),
        (None, None) => Err((
            Kind::Unauthenticated,
            "missing-credentials",
            "no credentials: send Authorization: Bearer <token> or a client certificate",
        )),
    }
}

/// Deny by default: identifies the caller of every endpoint but the open health checks.
pub(super) async fn authenticate(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let ctx = req.extensions().get::<Ctx>().cloned().unwrap_or(Ctx { request_id: String::new(), endpoint: None });
    if ctx.endpoint.is_some_and(Endpoint::is_open) {
        return next.run(req).await;
    }
    let caller = match identify(&app, &req) {
        Ok(caller) => caller,
        Err((kind, reason, detail)) => return refused(&app, &ctx, kind, reason, detail),
    };
    let label = app.client_label(&caller.client);
    req.extensions_mut().insert(caller);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(ClientLabel(label));
    response
}

/// The endpoint's grant in the policy (an unknown client, a way of authenticating it may not
/// use, or an endpoint it is not granted: denied, audited, 403).
pub(super) async fn grant(State((app, endpoint)): State<(Arc<App>, Endpoint)>, req: Request, next: Next) -> Response {
    let outcome = match Outcome::of(&app, req.extensions()) {
        Ok(outcome) => outcome,
        Err(problem) => return problem.into_response(),
    };
    if let Err(d) = app.policy().check_access(&outcome.caller.client, outcome.caller.method, endpoint) {
        outcome.decided(&d);
        return outcome.deny(outcome.row(), &d).await.into_response();
    }
    next.run(req).await
}
