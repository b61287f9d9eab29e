//! LFS objects, as `huggingface_hub` uploads a commit's large files before the commit: the batch
//! (`POST /[datasets/]{ns}/{name}.git/info/lfs/objects/batch`, the git LFS batch API) answers, per
//! object, nothing when the namespace holds its bytes already, else one signed URL to PUT them to
//! (the basic transfer: one PUT, no `chunk_size`, no verify step); the PUT (`/hub/lfs-upload/…`,
//! no key: its signature names the key, read again, so a revoked key's URL stops working) takes
//! the bytes in, checked against the SHA-256 and size the batch named, and keeps them for the
//! commit that names them.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fedml_api_common::AppState;
use fedml_platform::Error;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::{HubError, HubResult, REPO_NOT_FOUND};
use crate::repo::{HubCaller, HubJson, HubPath, KindOf, Repo, at};

/// The most objects one batch may name (the client sends 256 at a time).
pub const MAX_BATCH_OBJECTS: usize = 1000;
/// The media type of the LFS batch API.
const LFS_JSON: &str = "application/vnd.git-lfs+json";

#[derive(Deserialize)]
pub struct Batch {
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    transfers: Option<Vec<String>>,
    objects: Vec<BatchObject>,
}

#[derive(Deserialize)]
struct BatchObject {
    oid: String,
    size: u64,
}

/// `POST /{ns}/{name}.git/info/lfs/objects/batch` (models) and `/datasets/…` (datasets).
pub async fn handle_batch<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name)): HubPath<(String, String)>,
    HubJson(batch): HubJson<Batch>,
) -> HubResult<Response> {
    let Some(name) = name.strip_suffix(".git") else {
        return Err(HubError::not_found(REPO_NOT_FOUND, "the LFS batch API is at NAMESPACE/NAME.git/info/lfs/…"));
    };
    let repo = Repo::new(K::KIND, &ns, name)?;
    match batch.operation.as_deref() {
        None | Some("upload") => {}
        Some(other) => {
            return Err(HubError::bad(format!(
                "the LFS batch takes uploads only, not {other:?}: read files through /resolve/"
            )));
        }
    }
    if batch.transfers.as_ref().is_some_and(|t| !t.is_empty() && !t.iter().any(|t| t == "basic")) {
        return Err(HubError::bad("this server sends LFS objects with the basic transfer only"));
    }
    if batch.objects.len() > MAX_BATCH_OBJECTS {
        return Err(HubError::bad(format!(
            "{} objects named at once; name at most {MAX_BATCH_OBJECTS} per batch",
            batch.objects.len()
        )));
    }
    for o in &batch.objects {
        if o.oid.len() != 64 || !o.oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(HubError::bad(format!("{:?} is not a SHA-256 (64 lowercase hex digits)", o.oid)));
        }
    }
    let objects: Vec<(String, u64)> = batch.objects.iter().map(|o| (o.oid.clone(), o.size)).collect();
    // Whether the caller may write there is decided first: a refusal reads the same whether the
    // repository exists or not.
    let hrefs = p.lfs_uploads(&caller, repo.ns(), &objects).await.map_err(|e| HubError::from(e).repo())?;
    at(&p, &caller, &repo, None).await?;
    let base = p.public_url().trim_end_matches('/');
    let expires_in = p.lifetimes().upload_secs;
    let answered: Vec<Value> = objects
        .iter()
        .zip(hrefs)
        .map(|((oid, size), href)| match href {
            None => json!({"oid": oid, "size": size}),
            Some(href) => json!({"oid": oid, "size": size, "authenticated": true,
                                 "actions": {"upload": {"href": format!("{base}{href}"), "expires_in": expires_in}}}),
        })
        .collect();
    let mut response = Json(json!({"transfer": "basic", "objects": answered, "hash_algo": "sha256"})).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(LFS_JSON));
    Ok(response)
}

/// `PUT /hub/lfs-upload/{namespace}/{sha256}/{size}/{key}?exp=…&sig=…`: an LFS object's bytes.
pub async fn handle_upload(State(p): State<AppState>, uri: Uri, body: Body) -> HubResult<Response> {
    let (caller, namespace, sha256, size) = p.lfs_upload_caller(uri.path(), uri.query().unwrap_or("")).await?;
    let counted = fedml_api_common::observe::count_received(&p, body.into_data_stream());
    let stream = counted.map(|piece| piece.map_err(|e| Error::Invalid(format!("the upload broke off: {e}")))).boxed();
    p.stage_file(&caller, Some(&namespace), &sha256, size, stream).await?;
    let mut response = StatusCode::OK.into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}
