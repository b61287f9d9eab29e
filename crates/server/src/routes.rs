//! HTTP: the native JSON API (`/api/v1/…`) and the local store's signed blob URLs (`/blob/v1/…`).
//!
//! Architecture invariant: routes never touch SQL or files directly; each handler authenticates,
//! calls one [`Platform`] operation and wraps its answer in the `{code, message, data}` envelope.
//! Errors become a response in exactly one place ([`IntoResponse for Error`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use fedml_proto::content::{KnownPack, KnownRequest, PackTicket, PacksRequest};
use fedml_proto::{
    CompleteUpload, CompletedUpload, CreateKey, CreateUpload, DeletedVersion, DownloadTicket, EditObject, Envelope,
    FilePage, FileRead, Identity, KeyInfo, NewKey, ObjectMeta, ObjectPage, ObjectVersion, PartUrl, PartUrlsRequest,
    ResponseCode, StorageUsage, UploadSession, UserInfo, VersionDiff,
};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::ApiJson;
use crate::blobs::{BlobError, BlobStore, LocalStore};
use crate::catalogue::VersionRemoved;
use crate::error::Error;
use crate::platform::{Caller, FilesRequest, ListRequest, Platform};
use crate::signing::SignatureError;
use crate::time::now_secs;

pub type AppState = Arc<Platform>;

pub fn router(platform: AppState) -> Router {
    Router::new()
        .route("/healthz", get(crate::observe::handle_healthz))
        .route("/readyz", get(crate::observe::handle_readyz))
        .route("/metrics", get(crate::observe::handle_metrics))
        .route("/api/v1/health", get(handle_health))
        .route("/api/v1/openapi.json", get(crate::openapi::handle_openapi))
        .route("/api/v1/whoami", get(handle_whoami))
        .route("/api/v1/uploads", post(handle_create_upload))
        .route("/api/v1/uploads/{id}/parts", post(handle_part_urls))
        .route("/api/v1/uploads/{id}/complete", post(handle_complete_upload))
        .route("/api/v1/uploads/{id}/known", post(handle_known_packs))
        .route("/api/v1/uploads/{id}/packs", post(handle_pack_tickets))
        .route("/api/v1/uploads/{id}", axum::routing::delete(handle_abort_upload))
        .route("/api/v1/objects", get(handle_list_objects))
        .route("/api/v1/objects/{name}", get(handle_get_object).delete(handle_delete_object).patch(handle_edit_object))
        .route("/api/v1/objects/{name}/user-metadata", get(handle_get_user_metadata))
        .route("/api/v1/objects/{name}/download", get(handle_download))
        .route("/api/v1/objects/{name}/versions", get(handle_versions))
        .route("/api/v1/objects/{name}/diff", get(handle_diff))
        .route("/api/v1/objects/{name}/files", get(handle_files))
        .route("/api/v1/objects/{name}/file", get(handle_file))
        .route("/api/v1/keys", get(handle_list_keys).post(handle_create_key))
        .route("/api/v1/keys/{id}", axum::routing::delete(handle_revoke_key))
        .route("/api/v1/usage", get(handle_usage))
        .route("/api/v1/admin/usage", get(handle_usages))
        .route("/api/v1/admin/users", get(handle_list_users))
        .route("/api/v1/admin/users/{name}/keys", get(handle_user_keys))
        .route("/blob/v1/{service}/part/{upload_id}/{part}", put(handle_put_part))
        .route("/blob/v1/{service}/object/{owner}/{blob}", get(handle_get_blob))
        .route("/blob/v1/{service}/pack/{owner}/{pack}", put(handle_put_pack))
        .route("/blob/v1/{service}/file/{owner}/{blob}", get(handle_get_assembled))
        .merge(crate::compat_routes::router())
        .merge(crate::web::router())
        .fallback(handle_unknown_route)
        .method_not_allowed_fallback(handle_wrong_method)
        .layer(middleware::from_fn_with_state(platform.clone(), crate::observe::track))
        .with_state(platform)
}

// ------------------------------------------------------------------ envelope and errors

pub(crate) struct Reply<T>(pub(crate) String, pub(crate) T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (StatusCode::OK, axum::Json(Envelope::success(self.0, self.1))).into_response()
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ResponseCode::Failure),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, ResponseCode::Failure),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, ResponseCode::Failure),
            Error::Conflict(_) => (StatusCode::CONFLICT, ResponseCode::Failure),
            Error::Invalid(_) => (StatusCode::BAD_REQUEST, ResponseCode::Failure),
            Error::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, ResponseCode::Failure),
            Error::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, ResponseCode::Failure),
            Error::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, ResponseCode::Error),
            Error::BadBytes(_) => (StatusCode::UNPROCESSABLE_ENTITY, ResponseCode::Failure),
            Error::Damaged(_) => (StatusCode::INTERNAL_SERVER_ERROR, ResponseCode::Error),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ResponseCode::Error),
        };
        let message = match &self {
            Error::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                crate::observe::internal_error_message()
            }
            Error::StorageFull(message) | Error::Damaged(message) => {
                tracing::warn!(%message, "request failed");
                crate::observe::with_request_id(message)
            }
            other => other.to_string(),
        };
        let body: Envelope<()> = Envelope { code, message, data: None };
        let mut response = (status, axum::Json(body)).into_response();
        if let Error::TooManyRequests(_, wait) = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*wait));
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<Reply<T>, Error>;

/// `Path`, refused like every other bad input: an envelope, not axum's plain-text rejection
/// (a path segment that is not UTF-8, a part number that is not a number).
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) if e.status().is_server_error() => Err(Error::Internal(e.body_text())),
            Err(e) => Err(Error::Invalid(e.body_text())),
        }
    }
}

/// `Query`, refused with an envelope (a repeated or malformed parameter).
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| Error::Invalid(e.body_text()))
    }
}

async fn handle_unknown_route() -> Error {
    Error::NotFound("no such API route; see the README for the API".into())
}

async fn handle_wrong_method(method: axum::http::Method) -> Error {
    Error::MethodNotAllowed(format!("this route does not take {method}; see the README for the API"))
}

// ------------------------------------------------------------------ native API

async fn handle_health() -> Reply<&'static str> {
    Reply("ok".into(), "ok")
}

async fn handle_whoami(State(p): State<AppState>, caller: Caller) -> ApiResult<Identity> {
    Ok(Reply(format!("authenticated as {}", caller.user_name), p.whoami(&caller)))
}

async fn handle_create_upload(
    State(p): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUpload>,
) -> ApiResult<UploadSession> {
    let session = p.create_upload(&caller, body).await?;
    Ok(Reply("upload session opened".into(), session))
}

async fn handle_part_urls(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PartUrlsRequest>,
) -> ApiResult<Vec<PartUrl>> {
    let urls = p.part_urls(&caller, &id, req.first, req.count).await?;
    Ok(Reply(format!("{} part URLs", urls.len()), urls))
}

async fn handle_complete_upload(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CompleteUpload>,
) -> ApiResult<CompletedUpload> {
    let done = p.complete_upload(&caller, &id, body).await?;
    Ok(Reply(format!("stored {:?}", done.object.data_name), done))
}

async fn handle_known_packs(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<KnownRequest>,
) -> ApiResult<Vec<KnownPack>> {
    let packs = p.known_packs(&caller, &id, req).await?;
    Ok(Reply(format!("{} packs already stored", packs.len()), packs))
}

async fn handle_pack_tickets(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PacksRequest>,
) -> ApiResult<Vec<PackTicket>> {
    let tickets = p.pack_tickets(&caller, &id, req).await?;
    let to_send = tickets.iter().filter(|t| !t.stored).count();
    Ok(Reply(format!("{to_send} of {} packs to send", tickets.len()), tickets))
}

async fn handle_abort_upload(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<bool> {
    let aborted = p.abort_upload(&caller, &id).await?;
    let message = if aborted { "upload session aborted" } else { "the upload session was already aborted" };
    Ok(Reply(message.into(), aborted))
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
    q: Option<String>,
    sort: Option<String>,
    order: Option<Order>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

async fn handle_list_objects(
    State(p): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ObjectPage> {
    let request = ListRequest {
        after: q.after.as_deref(),
        limit: q.limit,
        query: q.q.as_deref(),
        sort: q.sort.as_deref(),
        descending: q.order == Some(Order::Desc),
    };
    let page = p.list(&caller, &request).await?;
    Ok(Reply(format!("{} objects", page.objects.len()), page))
}

async fn handle_edit_object(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(edit): ApiJson<EditObject>,
) -> ApiResult<ObjectMeta> {
    let object = p.edit_object(&caller, &name, edit).await?;
    Ok(Reply(format!("updated {name:?}"), object))
}

async fn handle_list_keys(State(p): State<AppState>, caller: Caller) -> ApiResult<Vec<KeyInfo>> {
    let keys = p.keys(&caller).await?;
    Ok(Reply(format!("{} API keys", keys.len()), keys))
}

async fn handle_create_key(
    State(p): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<NewKey> {
    let key = p.create_key(&caller, &body.label, body.read_only).await?;
    Ok(Reply("API key created; it is shown only now, keep it safe".into(), key))
}

async fn handle_revoke_key(State(p): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<bool> {
    let revoked = p.revoke_key(&caller, &id).await?;
    let message = if revoked { "API key revoked" } else { "the API key was already revoked" };
    Ok(Reply(message.into(), revoked))
}

async fn handle_usage(State(p): State<AppState>, caller: Caller) -> ApiResult<StorageUsage> {
    let usage = p.storage_usage(&caller).await?;
    Ok(Reply(format!("{} objects", usage.objects), usage))
}

async fn handle_usages(State(p): State<AppState>, caller: Caller) -> ApiResult<Vec<StorageUsage>> {
    let usages = p.storage_usages(&caller).await?;
    Ok(Reply(format!("{} users", usages.len()), usages))
}

async fn handle_list_users(State(p): State<AppState>, caller: Caller) -> ApiResult<Vec<UserInfo>> {
    let users = p.users(&caller).await?;
    Ok(Reply(format!("{} users", users.len()), users))
}

async fn handle_user_keys(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Vec<KeyInfo>> {
    let keys = p.user_keys(&caller, &name).await?;
    Ok(Reply(format!("{} API keys", keys.len()), keys))
}

/// `?version=N`: which version of the object a call means (the latest without it).
#[derive(Deserialize)]
struct VersionQuery {
    version: Option<u64>,
}

async fn handle_get_object(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<ObjectMeta> {
    Ok(Reply("metadata".into(), p.object(&caller, &name, q.version).await?))
}

async fn handle_get_user_metadata(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<BTreeMap<String, String>> {
    Ok(Reply("user-defined metadata".into(), p.user_metadata(&caller, &name, q.version).await?))
}

#[derive(Deserialize)]
struct ObjectQuery {
    service: Option<String>,
    version: Option<u64>,
}

async fn handle_download(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ObjectQuery>,
) -> ApiResult<DownloadTicket> {
    Ok(Reply("download URL".into(), p.download(&caller, &name, q.service.as_deref(), q.version).await?))
}

/// Without `version`, the name goes with all its versions (`data`: `true`); with it, that one
/// version (`data`: a [`DeletedVersion`]).
async fn handle_delete_object(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ObjectQuery>,
) -> Result<Response, Error> {
    let Some(version) = q.version else {
        let deleted = p.delete(&caller, &name, q.service.as_deref()).await?;
        return Ok(Reply(format!("deleted {name:?}"), deleted).into_response());
    };
    let removed = p.delete_version(&caller, &name, q.service.as_deref(), version).await?;
    let (latest, message) = match removed {
        VersionRemoved::Earlier => (None, format!("deleted version {version} of {name:?}")),
        VersionRemoved::RolledBack(latest) => {
            (Some(latest), format!("deleted version {version} of {name:?}; version {latest} is the latest now"))
        }
        VersionRemoved::Name => {
            (None, format!("deleted version {version} of {name:?}, its only version: the name is gone"))
        }
    };
    let name_deleted = removed == VersionRemoved::Name;
    Ok(Reply(message, DeletedVersion { version, latest, name_deleted }).into_response())
}

async fn handle_versions(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Vec<ObjectVersion>> {
    let versions = p.versions(&caller, &name).await?;
    Ok(Reply(format!("{} versions of {name:?}", versions.len()), versions))
}

#[derive(Deserialize)]
struct DiffQuery {
    from: u64,
    /// The latest when left out.
    to: Option<u64>,
}

async fn handle_diff(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<VersionDiff> {
    let diff = p.diff(&caller, &name, q.from, q.to).await?;
    Ok(Reply(format!("versions {} and {} of {name:?}", diff.from.version, diff.to.version), diff))
}

#[derive(Deserialize)]
struct FilesQuery {
    path: Option<String>,
    recursive: Option<bool>,
    after: Option<String>,
    limit: Option<u32>,
    version: Option<u64>,
}

async fn handle_files(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<FilePage> {
    let request = FilesRequest {
        path: q.path.as_deref().unwrap_or(""),
        recursive: q.recursive.unwrap_or(false),
        after: q.after.as_deref(),
        limit: q.limit,
    };
    let page = p.files(&caller, &name, q.version, &request).await?;
    Ok(Reply(format!("{} entries", page.entries.len()), page))
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
    version: Option<u64>,
}

async fn handle_file(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> ApiResult<FileRead> {
    let read = p.file(&caller, &name, q.version, &q.path).await?;
    Ok(Reply(format!("bytes {} to {} of the URL", read.offset, read.offset + read.length), read))
}

// ------------------------------------------------------------------ local store blob URLs

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
) -> Result<Response, Error> {
    let store = local_store(&p, &service)?;
    check_signature(store, "PUT", &LocalStore::part_path(&service, &upload_id, part), &sig)?;
    let body = crate::observe::count_received(&p, body.into_data_stream());
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
) -> Result<Response, Error> {
    let store = local_store(&p, &service)?;
    let key = format!("{owner}/{pack}");
    check_signature(store, "PUT", &LocalStore::pack_url_path(&service, &key), &sig)?;
    let body = crate::observe::count_received(&p, body.into_data_stream());
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
) -> Result<Response, Error> {
    let key = format!("{owner}/{blob}");
    p.check_assembled_signature(&crate::platform::assembled_path(&service, &key), sig.exp, sig.sig.as_deref())
        .map_err(signature_error)?;
    let (size, etag, content) = p.assembled(&service, &key).await?;
    let range = match crate::blobs::serve::plan(&headers, size, &etag) {
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
    let response = crate::blobs::serve::respond(&headers, range, size, &etag, body);
    Ok(crate::observe::count_served(&p, response))
}

/// Serves a finished blob of the local store; byte ranges (`Range`, `If-Range`) are the store's
/// business (`blobs::serve`).
async fn handle_get_blob(
    State(p): State<AppState>,
    ApiPath((service, owner, blob)): ApiPath<(String, String, String)>,
    ApiQuery(sig): ApiQuery<Signature>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let store = local_store(&p, &service)?;
    let key = format!("{owner}/{blob}");
    check_signature(store, "GET", &LocalStore::object_url_path(&service, &key), &sig)?;
    let response = store.serve(&key, &headers).await.map_err(|e| match e {
        BlobError::NotFound => Error::NotFound("the data behind this URL no longer exists".into()),
        other => other.into(),
    })?;
    Ok(crate::observe::count_served(&p, response))
}
