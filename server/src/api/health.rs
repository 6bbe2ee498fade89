//! The open health checks (`/livez`, `/readyz`), `/metrics` on its own listener, and the
//! answers for a path or method the API does not have.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::app::App;
use crate::problem::{Kind, Problem};

pub(super) async fn livez() -> Response {
    axum::Json(serde_json::json!({"status": "alive"})).into_response()
}

pub(super) async fn readyz(State(app): State<Arc<App>>) -> Response {
    let (ready, checks) = app.readiness();
    let body = serde_json::json!({"status": if ready { "ready" } else { "not-ready" }, "checks": checks});
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.readiness();
    let mut r = app.metrics.render().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

pub(super) async fn not_found() -> Problem {
    Problem::new(Kind::NotFound, "no such endpoint")
}

pub(super) async fn method_not_allowed() -> Problem {
    Problem::new(Kind::MethodNotAllowed, "this endpoint does not take this method")
}
