//! The request id that every request's log lines, its `X-Request-Id` answer header and the
//! message of every ERROR envelope carry, and [`track`], the one middleware of the router: it
//! gives the request its id, runs it inside a tracing span that carries the id, times it, counts
//! it under its route template (axum's `MatchedPath`, never the raw path, which holds names) and
//! logs one line for it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use fedml_platform::Platform;
use fedml_platform::observe::UNMATCHED;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming `X-Request-Id` taken as the request's id.
const MAX_REQUEST_ID: usize = 64;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being served on this task, if any.
pub fn current_request_id() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// The message of every ERROR envelope: the details stay in the log, under the request's id.
pub fn internal_error_message() -> String {
    match current_request_id() {
        Some(id) => format!(
            "the server could not complete the request; its log has the details (request {id}; quote it to your \
             administrator)"
        ),
        None => "the server could not complete the request; its log has the details".to_string(),
    }
}

/// `message` with the request's id after it, for ERROR messages that say what happened.
pub fn with_request_id(message: &str) -> String {
    match current_request_id() {
        Some(id) => format!("{message} (request {id})"),
        None => message.to_string(),
    }
}

/// The caller's `X-Request-Id` when it is sane (1 to 64 visible ASCII characters), else a fresh
/// one of 16 hex digits.
fn request_id(headers: &HeaderMap) -> Arc<str> {
    let given = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic()));
    match given {
        Some(id) => id.into(),
        None => fedml_platform::keys::random_hex(8).into(),
    }
}

/// The label a front end whose routes are not axum's (the S3 API: one path for every operation)
/// puts in its answer's extensions: counted and logged under it instead of the route template.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

/// The router's middleware: request id, span, timing, metrics, the request's log line.
pub async fn track(State(platform): State<Arc<Platform>>, request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let method = request.method().clone();
    // The path only: query strings carry URL signatures.
    let path = request.uri().path().to_string();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let mut response = CURRENT.scope(id.clone(), next.run(request).instrument(span.clone())).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response.extensions().get::<RouteLabel>().map_or(route, |label| label.0.clone());
    platform.observe.metrics.record_request(&route, method.as_str(), status, elapsed);
    span.in_scope(|| tracing::info!(%method, %path, %route, status, ms = elapsed.as_millis() as u64));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
