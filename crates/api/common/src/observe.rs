//! What operators watch, over HTTP: the probes (`/healthz`, `/readyz`), the metrics
//! (`/metrics`), and the request id that every request's log lines, its `X-Request-Id` answer
//! header and the message of every ERROR envelope carry.
//!
//! [`track`] is the one middleware of the router: it gives the request its id, runs it inside a
//! tracing span that carries the id, times it, counts it under its route template (axum's
//! `MatchedPath`, never the raw path, which holds names) and logs one line for it.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tracing::Instrument;

use fedml_platform::Platform;
use fedml_platform::observe::{CONTENT_TYPE, UNMATCHED};

use crate::reply::ApiError;

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
    platform.observe.metrics.record_request(&route, method.as_str(), status, elapsed);
    span.in_scope(|| tracing::info!(%method, %path, status, ms = elapsed.as_millis() as u64));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

// ------------------------------------------------------------------ counting bytes

/// A part body that counts what it delivers as bytes the local store received.
pub fn count_received<S, E>(platform: &Arc<Platform>, body: S) -> impl Stream<Item = Result<Bytes, E>> + use<S, E>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let platform = platform.clone();
    body.inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            platform.observe.metrics.received(bytes.len());
        }
    })
}

/// A blob answer whose body counts what it sends as bytes the local store served. The body
/// keeps its size (and so the answer its `Content-Length`).
pub fn count_served(platform: &Arc<Platform>, response: Response) -> Response {
    let platform = platform.clone();
    response.map(|body| Body::new(Counted { inner: body, platform }))
}

struct Counted {
    inner: Body,
    platform: Arc<Platform>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.platform.observe.metrics.served(data.len());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

// ------------------------------------------------------------------ routes

/// `GET /healthz`: the process serves. No key, nothing about the configuration.
pub async fn handle_healthz() -> Response {
    envelope(StatusCode::OK, fedml_proto::ResponseCode::Success, "serving".into(), serde_json::Value::from("ok"))
}

/// `GET /readyz`: the catalogue and every configured store answer; 503 naming what does not.
pub async fn handle_readyz(State(platform): State<Arc<Platform>>) -> Response {
    let readiness = platform.readiness().await;
    let (status, code) = if readiness.ready {
        (StatusCode::OK, fedml_proto::ResponseCode::Success)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, fedml_proto::ResponseCode::Error)
    };
    let message = readiness.summary();
    envelope(status, code, message, serde_json::json!({"ready": readiness.ready, "checks": readiness.checks}))
}

/// `GET /metrics`: the counters in the OpenMetrics text format; with a metrics token
/// configured, only for `Authorization: Bearer <token>`.
pub async fn handle_metrics(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Result<Response, ApiError> {
    // The Authorization header is read only when a token is configured.
    if platform.observe.metrics_token.is_some() {
        platform.check_metrics_token(crate::caller::bearer_key(&headers)?)?;
    }
    let text = platform.metrics_text().await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

fn envelope(status: StatusCode, code: fedml_proto::ResponseCode, message: String, data: serde_json::Value) -> Response {
    (status, axum::Json(fedml_proto::Envelope { code, message, data: Some(data) })).into_response()
}
