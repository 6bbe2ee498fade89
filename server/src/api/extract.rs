//! What handlers take from a request besides its [`super::outcome::Outcome`]: the JSON body,
//! read within the service's limits, every refusal a problem+json answer; and, for minting,
//! that the service is not shutting down.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header;
use http::request::Parts;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::problem::{Kind, Problem};

/// A JSON body of type `T`: `Content-Type: application/json`, within the body limit, arrived
/// within the body time limit, and of the endpoint's schema.
pub(super) struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Problem> {
        let headers = req.headers();
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(Problem::new(Kind::UnsupportedMediaType, "send the body as Content-Type: application/json"));
        }
        let limit = app.limits.body_limit;
        let too_large = || Problem::new(Kind::BodyTooLarge, format!("the body is larger than {limit} bytes"));
        let declared =
            headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let limited = http_body_util::Limited::new(req.into_body(), limit);
        let bytes = match tokio::time::timeout(app.limits.body_timeout, limited.collect()).await {
            Err(_) => return Err(Problem::new(Kind::RequestTimeout, "the body did not arrive in time")),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Ok(Err(_)) => return Err(Problem::new(Kind::InvalidRequest, "the body could not be read")),
            Ok(Ok(c)) => c.to_bytes(),
        };
        serde_json::from_slice::<T>(&bytes).map(Json).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Problem::new(Kind::InvalidRequest, e.to_string()),
            _ => Problem::new(Kind::MalformedJson, e.to_string()),
        })
    }
}

/// The service still takes new minting requests (a shutdown began: 503, before the body is
/// read).
pub(super) struct Minting;

impl FromRequestParts<Arc<App>> for Minting {
    type Rejection = Problem;

    async fn from_request_parts(_: &mut Parts, app: &Arc<App>) -> Result<Self, Problem> {
        if app.shutting_down.load(Ordering::Relaxed) {
            return Err(Problem::new(Kind::ShuttingDown, "the service is shutting down"));
        }
        Ok(Minting)
    }
}
