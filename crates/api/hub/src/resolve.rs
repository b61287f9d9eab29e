//! `HEAD`/`GET /[datasets/]{ns}/{name}/resolve/{rev}/{path}`: a file of a repository, streamed by
//! this server itself (no redirect: same origin, the key stays on it), whole or one byte range
//! (`Range`, `If-Range`: resumed downloads, `HfFileSystem` reads). Every answer names the commit
//! it was read at (`X-Repo-Commit`) and the file's ETag (for an LFS file, its SHA-256, also as
//! `X-Linked-Etag`, with `X-Linked-Size`), which the clients' caches are keyed by.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fedml_api_common::AppState;
use fedml_api_common::ranges;
use fedml_platform::Error;

use crate::entries::{etag, is_lfs};
use crate::errors::{ENTRY_NOT_FOUND, HubError, HubResult};
use crate::repo::{HubCaller, HubPath, KindOf, Repo, at, check_path};

/// `HEAD`/`GET /{ns}/{name}/resolve/{rev}/{path}` (models) and `/datasets/…` (datasets).
pub async fn handle_resolve<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev, path)): HubPath<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> HubResult<Response> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    check_path(&path)?;
    let at = at(&p, &caller, &repo, Some(&rev)).await?;
    let listing = at.listing(&p, &caller, &repo).await?;
    let Some(file) = listing.file(&path) else {
        let what = if listing.is_folder(&path) { "a folder, not a file" } else { "not there" };
        return Err(HubError::not_found(
            ENTRY_NOT_FOUND,
            format!("{path:?} of {:?} is {what} at commit {}", repo.id(), at.commit),
        )
        .entry(&at.commit));
    };
    let size = file.size;
    let tag = format!("\"{}\"", etag(file));
    let lfs = is_lfs(size);
    let described = |mut response: Response| {
        let h = response.headers_mut();
        for (name, value) in [("x-repo-commit", at.commit.as_str()), ("etag", tag.as_str())] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
        if lfs {
            if let Ok(v) = HeaderValue::from_str(&tag) {
                h.insert("x-linked-etag", v);
            }
            h.insert("x-linked-size", HeaderValue::from(size));
        }
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        response
    };
    if method == Method::HEAD {
        let mut response = StatusCode::OK.into_response();
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        return Ok(described(response));
    }
    let readable = p
        .readable_file(&caller, repo.ns(), &repo.object(), Some(at.version()), &path)
        .await
        .map_err(|e| HubError::from(e).entry(&at.commit))?;
    if readable.size() != size {
        return Err(Error::Internal(format!(
            "{path:?} of {:?} at {} is {} bytes in its archive and {size} in its hashes",
            repo.id(),
            at.commit,
            readable.size()
        ))
        .into());
    }
    let range = match ranges::plan(&headers, size, &tag) {
        Ok(range) => range,
        Err(refusal) => return Ok(described(refusal.into_response())),
    };
    let mut stream = p.read(&readable, range).await?;
    // A read that fails before its first byte is answered as an error; one that fails later ends
    // the body early, never as a complete one.
    let first = match futures_util::StreamExt::next(&mut stream).await {
        Some(Err(e)) => return Err(Error::from(e).into()),
        first => first,
    };
    let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), stream);
    let body = Body::from_stream(futures_util::StreamExt::map(stream, |r| r.map_err(std::io::Error::other)));
    let response = described(ranges::respond(&headers, range, size, &tag, body));
    Ok(fedml_api_common::observe::count_served(&p, response))
}
