//! The HTTP API. One request's way through it:
//!
//! 1. [`middleware::context`]: the request id (attached here, once, to whatever problem the
//!    request ends with), the time limit, metrics and the access log;
//! 2. [`middleware::authenticate`]: deny by default, every endpoint but the open health checks
//!    needs a client (bearer token or client certificate);
//! 3. [`middleware::grant`]: the endpoint's grant in the policy, checked before the body is read
//!    (a denial is audited);
//! 4. the handler (one file per endpoint family): the body ([`extract::Json`]) parsed
//!    ([`parse`]), the policy, the signing door;
//! 5. [`outcome::Outcome`]: the one step that writes the audit row, counts the decision and
//!    makes the problem.
//!
//! Handlers return `Result<Response, Problem>`.

mod admin;
mod delegation;
mod extract;
mod health;
mod keys;
mod middleware;
mod outcome;
pub mod parse;
mod session_sigs;
mod verify;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::app::App;
use crate::endpoint::{Endpoint, ADMIN_ROTATE};
use crate::problem::{Kind, Problem};

pub use parse::parse_session_sigs_request;

/// Per-request context, set by the outermost middleware.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// `x-correlation-id` if the client sent a usable one, else generated.
    pub request_id: String,
    /// The endpoint asked for (`None`: no such path).
    pub endpoint: Option<Endpoint>,
}

impl Ctx {
    /// The endpoint's label for logs and metrics (`other` for an unknown path).
    pub fn label(&self) -> &'static str {
        self.endpoint.map_or("other", Endpoint::name)
    }
}

/// The router of the API listener: each endpoint of the table with its handler, and behind
/// every one that is not open, the check of its grant.
pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new();
    for endpoint in Endpoint::ALL {
        for path in endpoint.paths() {
            let mut route = handler(endpoint, path);
            if !endpoint.is_open() {
                // A route layer: a method the endpoint does not take is a 405, not a grant check.
                route = route.route_layer(from_fn_with_state((app.clone(), endpoint), middleware::grant));
            }
            router = router.route(path, route);
        }
    }
    router
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(from_fn_with_state(app.clone(), middleware::authenticate))
        .layer(from_fn_with_state(app.clone(), middleware::context))
        .with_state(app)
}

/// Each endpoint's handlers at `path`, by method.
fn handler(endpoint: Endpoint, path: &str) -> MethodRouter<Arc<App>> {
    match endpoint {
        Endpoint::Livez => get(health::livez),
        Endpoint::Readyz => get(health::readyz),
        Endpoint::SessionSigs => post(session_sigs::mint),
        Endpoint::PolicyEvaluate => post(session_sigs::evaluate),
        Endpoint::Verify => post(verify::verify),
        Endpoint::Keys => get(keys::keys),
        Endpoint::CapacityDelegation => post(delegation::capacity),
        Endpoint::PaymentDelegation => post(delegation::payment),
        Endpoint::Admin if path == ADMIN_ROTATE => post(admin::rotate),
        Endpoint::Admin => post(admin::reload).get(admin::status),
        // No path, so never routed.
        Endpoint::SessionKey => MethodRouter::new(),
    }
}

/// The router of the metrics listener.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(health::metrics)).with_state(app)
}

/// A JSON response.
fn json<T: Serialize>(body: &T) -> Result<Response, Problem> {
    let bytes =
        serde_json::to_vec(body).map_err(|e| Problem::new(Kind::Internal, format!("response encoding: {e}")))?;
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}
