//! What operators watch, over HTTP: the probes (`/healthz`, `/readyz`), the metrics
//! (`/metrics`), and the bytes the local store's URLs receive and serve, counted as they flow.
//! Each request's id and its line in the log and the metrics are [`crate::requests`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fedml_platform::Platform;
use fedml_platform::observe::CONTENT_TYPE;
use futures_util::{Stream, StreamExt};

use crate::reply::ApiError;

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
