//! The local store's signed blob URLs (`/blob/v1/…`): the part and pack PUTs and the blob GETs
//! that the platform's signed URLs name when a service keeps its bytes in a folder of this
//! server, and the one-URL read of a packed file (whatever the store) assembled by the platform.
//! A request carries no key: its URL's signature, checked here, is its authority. Share links
//! (`/s/…`, [`shares`]) are the other key-less credential: the link itself, checked by the
//! platform.

mod ranges;
mod shares;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use fedml_api_common::{ApiError, ApiPath, ApiQuery, AppState};
use fedml_platform::blobs::{BlobError, BlobStore, LocalStore};
use fedml_platform::signing::SignatureError;
use fedml_platform::time::now_secs;
use fedml_platform::{Error, Platform};
use serde::Deserialize;

/// The blob URLs' routes, over the platform the server gives as state.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/blob/v1/{service}/part/{upload_id}/{part}", put(handle_put_part))
        .route("/blob/v1/{service}/object/{owner}/{blob}", get(handle_get_blob))
        .route("/blob/v1/{service}/pack/{owner}/{pack}", put(handle_put_pack))
        .route("/blob/v1/{service}/file/{owner}/{blob}", get(handle_get_assembled))
        .route("/s/{token}", get(shares::handle_shared))
}

#[derive(Deserialize)]
struct Signature {
    exp: Option<i64>,
    sig: Option<String>,
}

fn local_store<'a>(p: &'a Platform, service: &str) -> Result<&'a LocalStore, Error> {
    match p.store(service) {
        Ok(BlobStore::Local(local)) => Ok(local),
        _ => Err(Error::NotFound("no such blob".into())),
    }
}

fn check_signature(store: &LocalStore, method: &str, path: &str, sig: &Signature) -> Result<(), Error> {
    store.signer().verify(method, path, sig.exp, sig.sig.as_deref(), now_secs()).map_err(signature_error)
}

fn signature_error(e: SignatureError) -> Error {
    match e {
        SignatureError::Missing => Error::Unauthorized("this URL carries no signature".into()),
        SignatureError::Invalid => Error::Forbidden("the URL signature is not valid".into()),
        SignatureError::Expired => Error::Forbidden("this signed URL has expired; ask for a new one".into()),
    }
}

async fn handle_put_part(
    State(p): State<AppState>,
    ApiPath((service, upload_id, part)): ApiPath<(String, String, u32)>,
    ApiQuery(sig): ApiQuery<Signature>,
    body: Body,
) -> Result<Response, ApiError> {
    let store = local_store(&p, &service)?;
    check_signature(store, "PUT", &LocalStore::part_path(&service, &upload_id, part), &sig)?;
    let body = fedml_api_common::observe::count_received(&p, body.into_data_stream());
    let etag = p.receive_part(&service, &upload_id, part, body).await?;
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

async fn handle_put_pack(
    State(p): State<AppState>,
    ApiPath((service, owner, pack)): ApiPath<(String, String, String)>,
    ApiQuery(sig): ApiQuery<Signature>,
    body: Body,
) -> Result<Response, ApiError> {
    let store = local_store(&p, &service)?;
    let key = format!("{owner}/{pack}");
    check_signature(store, "PUT", &LocalStore::pack_url_path(&service, &key), &sig)?;
    let body = fedml_api_common::observe::count_received(&p, body.into_data_stream());
    let etag = p.receive_pack(&service, &key, body).await?;
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// Serves a packed file, whole or the byte range asked for (as a blob is served), read from its
/// packs in order whatever the store.
async fn handle_get_assembled(
    State(p): State<AppState>,
    ApiPath((service, owner, blob)): ApiPath<(String, String, String)>,
    ApiQuery(sig): ApiQuery<Signature>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = format!("{owner}/{blob}");
    p.check_assembled_signature(
        &fedml_platform::operations::assembled_path(&service, &key),
        sig.exp,
        sig.sig.as_deref(),
    )
    .map_err(signature_error)?;
    let (size, etag, content) = p.assembled(&service, &key).await?;
    let range = match ranges::plan(&headers, size, &etag) {
        Ok(range) => range,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    let mut stream = p.read_assembled(&service, content, range)?;
    // A read that fails before its first byte (a damaged pack, say) is answered as an error; one
    // that fails later ends the body early, never as a complete one.
    let first = match futures_util::StreamExt::next(&mut stream).await {
        Some(Err(e)) => return Err(e.into()),
        first => first,
    };
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), stream);
    let body = Body::from_stream(futures_util::StreamExt::map(stream, |r| r.map_err(std::io::Error::other)));
    let response = ranges::respond(&headers, range, size, &etag, body);
    Ok(fedml_api_common::observe::count_served(&p, response))
}

/// Serves a finished blob of the local store; byte ranges (`Range`, `If-Range`) are the store's
/// business (`blobs::serve`).
async fn handle_get_blob(
    State(p): State<AppState>,
    ApiPath((service, owner, blob)): ApiPath<(String, String, String)>,
    ApiQuery(sig): ApiQuery<Signature>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = local_store(&p, &service)?;
    let key = format!("{owner}/{blob}");
    check_signature(store, "GET", &LocalStore::object_url_path(&service, &key), &sig)?;
    let response = ranges::serve(store, &key, &headers).await.map_err(|e| match e {
        BlobError::NotFound => Error::NotFound("the data behind this URL no longer exists".into()),
        other => other.into(),
    })?;
    Ok(fedml_api_common::observe::count_served(&p, response))
}
