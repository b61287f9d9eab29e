//! How the local store serves a finished blob over its signed URL: the whole blob, or one byte
//! range as `Range` and `If-Range` ask (the rules: `fedml_api_common::ranges`).

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
pub use fedml_api_common::ranges::{plan, respond};
use fedml_platform::blobs::{BlobError, LocalStore};

/// Answers a GET of the finished blob `blob_key`: the whole blob or the range the request's
/// `Range` / `If-Range` headers ask for (see the module's documentation), streamed from the
/// file. A missing blob is [`BlobError::NotFound`].
pub async fn serve(store: &LocalStore, blob_key: &str, request: &HeaderMap) -> Result<Response, BlobError> {
    let file = store.open_blob(blob_key).await?;
    let len = file.len;
    // Blobs never change once written, so the key names the content: a strong validator.
    let etag = format!("\"{}\"", blob_key.rsplit('/').next().unwrap_or(blob_key));
    let (first, count) = match plan(request, len, &etag) {
        Ok(range) => range,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    Ok(respond(request, (first, count), len, &etag, Body::from_stream(file.range(first, count))))
}
