//! Errors as RFC 9457 `application/problem+json` bodies with a stable `type`.
//!
//! The `type` URIs are part of the API: clients branch on them, so they never change once
//! released. Details are safe to show to the caller (they never carry a secret).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

/// The prefix of every problem `type`.
pub const TYPE_BASE: &str = "https://lit-session-signer.dev/problems/";

/// The problem kinds the service returns. The `type` is [`TYPE_BASE`] + [`Kind::slug`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 400: JSON, but not what the endpoint takes (wrong types, missing or unknown fields).
    InvalidRequest,
    /// 400: a resource, ability or node URL the service does not know.
    InvalidResource,
    /// 400: a message format this service does not know (it mints `v7` and `v8`).
    UnsupportedFormat,
    /// 400: a field or resource that belongs to the other format (`nodePrices`, `threshold`,
    /// `userMaxPrice` or `lit-paymentdelegation` with `v7`; `lit-ratelimitincrease` with `v8`).
    FormatMismatch,
    /// 400: a price that is not a number, is negative, or is 2^256 or more.
    InvalidPrice,
    /// 400: the chosen nodes' own prices add up to more than the user maximum (the v8 SDK's
    /// `MaxPriceTooLow`).
    MaxPriceTooLow,
    /// 401: no credentials, or credentials that are not valid.
    Unauthenticated,
    /// 401: a token offered in the query string (refused, wherever it is valid).
    TokenInQuery,
    /// 403: the policy denied the request.
    Denied,
    /// 404: no such endpoint.
    NotFound,
    /// 404: no such signer profile.
    UnknownSigner,
    /// 405: the endpoint does not take this method.
    MethodNotAllowed,
    /// 408: the client was too slow sending its request.
    RequestTimeout,
    /// 409: another policy reload is running.
    ReloadInProgress,
    /// 409: the signer profile's session key does not rotate across the fleet (it is named,
    /// in memory, or rotated per process).
    NotRotating,
    /// 409: another process kept the profile's session-key lock (a rotation is under way).
    RotationInProgress,
    /// 413: the body is larger than the limit.
    BodyTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: a policy reload found an invalid file (the old policy stays in force).
    PolicyInvalid,
    /// 429: the client's rate limit is used up.
    RateLimited,
    /// 503: the session key or wallet (HSM) cannot sign now.
    HsmUnavailable,
    /// 503: the store cannot be read or written.
    StoreUnavailable,
    /// 503: the store is up but this request waited too long for it (a lock, a connection);
    /// the service stays ready and a retry may succeed at once.
    StoreBusy,
    /// 503: the audit row could not be written, so nothing was handed out (fail-closed).
    AuditUnavailable,
    /// 503: the signer (wallet or custody callback) refused or failed.
    SignerUnavailable,
    /// 503: the request took longer than the service's time limit.
    Timeout,
    /// 503: the service is shutting down.
    ShuttingDown,
    /// 500: a bug. Never expected; the detail names the request id to report.
    Internal,
}

impl Kind {
    /// The stable last part of the `type` URI.
    pub const fn slug(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::InvalidRequest => "invalid-request",
            Self::InvalidResource => "invalid-resource",
            Self::UnsupportedFormat => "unsupported-format",
            Self::FormatMismatch => "format-mismatch",
            Self::InvalidPrice => "invalid-price",
            Self::MaxPriceTooLow => "max-price-too-low",
            Self::Unauthenticated => "unauthenticated",
            Self::TokenInQuery => "token-in-query",
            Self::Denied => "denied",
            Self::NotFound => "not-found",
            Self::UnknownSigner => "unknown-signer",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::RequestTimeout => "request-timeout",
            Self::ReloadInProgress => "reload-in-progress",
            Self::NotRotating => "not-rotating",
            Self::RotationInProgress => "rotation-in-progress",
            Self::BodyTooLarge => "body-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::PolicyInvalid => "policy-invalid",
            Self::RateLimited => "rate-limited",
            Self::HsmUnavailable => "hsm-unavailable",
            Self::StoreUnavailable => "store-unavailable",
            Self::StoreBusy => "store-busy",
            Self::AuditUnavailable => "audit-unavailable",
            Self::SignerUnavailable => "signer-unavailable",
            Self::Timeout => "timeout",
            Self::ShuttingDown => "shutting-down",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson
            | Self::InvalidRequest
            | Self::InvalidResource
            | Self::UnsupportedFormat
            | Self::FormatMismatch
            | Self::InvalidPrice
            | Self::MaxPriceTooLow => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::TokenInQuery => StatusCode::UNAUTHORIZED,
            Self::Denied => StatusCode::FORBIDDEN,
            Self::NotFound | Self::UnknownSigner => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ReloadInProgress | Self::NotRotating | Self::RotationInProgress => StatusCode::CONFLICT,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PolicyInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::HsmUnavailable
            | Self::StoreUnavailable
            | Self::StoreBusy
            | Self::AuditUnavailable
            | Self::SignerUnavailable
            | Self::Timeout
            | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short human title.
    pub const fn title(self) -> &'static str {
        match self {
            Self::MalformedJson => "The request body is not valid JSON",
            Self::InvalidRequest => "The request does not match the endpoint's schema",
            Self::InvalidResource => "Unknown or malformed resource, ability or node URL",
            Self::UnsupportedFormat => "Unknown message format (v7 or v8)",
            Self::FormatMismatch => "The request mixes the v7 and v8 formats",
            Self::InvalidPrice => "A price is not a number from 0 to 2^256 - 1",
            Self::MaxPriceTooLow => "The chosen nodes cost more than the maximum price",
            Self::Unauthenticated => "Authentication required",
            Self::TokenInQuery => "Tokens are only accepted in the Authorization header",
            Self::Denied => "Denied by policy",
            Self::NotFound => "No such endpoint",
            Self::UnknownSigner => "No such signer profile",
            Self::MethodNotAllowed => "Method not allowed",
            Self::RequestTimeout => "The request was not received in time",
            Self::ReloadInProgress => "A policy reload is already running",
            Self::NotRotating => "The signer profile's session key does not rotate across the fleet",
            Self::RotationInProgress => "Another process is rotating this profile's session key",
            Self::BodyTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "The request body must be application/json",
            Self::PolicyInvalid => "The policy file is invalid; the previous policy stays in force",
            Self::RateLimited => "Rate limit exceeded",
            Self::HsmUnavailable => "The key store cannot sign now",
            Self::StoreUnavailable => "The store is unavailable",
            Self::StoreBusy => "The store is busy; the request ran out of time",
            Self::AuditUnavailable => "The audit log cannot be written",
            Self::SignerUnavailable => "The AuthSig signer failed",
            Self::Timeout => "The request took too long",
            Self::ShuttingDown => "The service is shutting down",
            Self::Internal => "Internal error",
        }
    }

    /// The `result` label of metrics and audit: `denied` for policy refusals (including the
    /// rate limit), `failed` for everything else that is not a success.
    pub const fn result(self) -> &'static str {
        match self {
            Self::Denied | Self::RateLimited => "denied",
            _ => "failed",
        }
    }
}

/// A problem body. Extra members (`decision`, `rule`, `reasons`, …) go in `extra`.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The kind (serialised as `type`, `title`, `status`).
    pub kind: Kind,
    /// What went wrong for this request.
    pub detail: String,
    /// The request id, if one was assigned.
    pub request_id: Option<String>,
    /// Endpoint-specific members, in order.
    pub extra: Vec<(String, serde_json::Value)>,
    /// Seconds after which a retry may succeed (the `Retry-After` header), when known.
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        // A busy store may have room again at once; other kinds say when, or nothing.
        let retry_after = (kind == Kind::StoreBusy).then_some(1);
        Self { kind, detail: detail.into(), request_id: None, extra: Vec::new(), retry_after }
    }

    /// Adds the request id (the API's outermost layer does, for every problem it sees:
    /// [`Problem::attach_request_id`]).
    pub fn with_request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_string());
        self
    }

    /// Sets the `Retry-After` header: seconds (at least 1) until a retry may succeed.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// Adds a member.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.push((key.to_string(), value.into()));
        self
    }

    /// The full JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("type".into(), format!("{TYPE_BASE}{}", self.kind.slug()).into());
        map.insert("title".into(), self.kind.title().into());
        map.insert("status".into(), self.kind.status().as_u16().into());
        map.insert("detail".into(), self.detail.clone().into());
        if let Some(id) = &self.request_id {
            map.insert("requestId".into(), id.clone().into());
        }
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        serde_json::Value::Object(map)
    }
}

impl Problem {
    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).unwrap_or_default()
    }

    fn render(&self) -> Response {
        let status = self.kind.status();
        let mut response = (status, self.bytes()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(id) = self.request_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok()) {
            response.headers_mut().insert("x-correlation-id", id);
        }
        response
    }

    /// Adds the request id to the problem `response` answers with, if any: a problem response
    /// carries its problem, so a request's id is attached in one place, whichever layer or
    /// handler failed it.
    pub fn attach_request_id(response: &mut Response, id: &str) {
        let Some(problem) = response.extensions_mut().remove::<Problem>() else { return };
        *response.body_mut() = Body::from(problem.with_request_id(id).bytes());
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.render();
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(problem: Problem) -> Option<String> {
        let response = problem.into_response();
        response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap_or_default().to_string())
    }

    #[test]
    fn retry_after_is_sent_when_a_retry_can_be_timed() {
        assert_eq!(retry_after(Problem::new(Kind::RateLimited, "used up").with_retry_after(42)).as_deref(), Some("42"));
        // Never 0: a client told "now" would spin.
        assert_eq!(retry_after(Problem::new(Kind::RateLimited, "used up").with_retry_after(0)).as_deref(), Some("1"));
        assert_eq!(retry_after(Problem::new(Kind::StoreBusy, "busy")).as_deref(), Some("1"));
        for kind in [Kind::Denied, Kind::StoreUnavailable, Kind::Internal, Kind::ShuttingDown] {
            assert_eq!(retry_after(Problem::new(kind, "x")), None, "{kind:?}");
        }
    }
}
