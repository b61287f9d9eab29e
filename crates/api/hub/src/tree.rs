//! Listing a repository at a revision: `tree` (`list_repo_tree`, `snapshot_download`,
//! `HfFileSystem.ls`: a folder's entries, or everything below it with `recursive`, a page at a
//! time, the next page named by `Link: <…>; rel="next"`) and `paths-info` (`get_paths_info`,
//! `HfFileSystem.info`, `datasets`: the entries of given paths, those that do not exist left out).

use axum::Json;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fedml_api_common::AppState;
use fedml_platform::{Caller, Platform};
use serde::Deserialize;
use serde_json::Value;

use crate::errors::{ENTRY_NOT_FOUND, HubError, HubResult};
use crate::repo::{HubCaller, HubPath, KindOf, Repo, at, body_bytes, flag, param, query_pairs};

/// Entries per page of `tree` (the Hub's).
const TREE_PAGE: usize = 1000;
/// The most paths one `paths-info` call may name (the Hub's limit).
pub const MAX_PATHS: usize = 1000;

/// `GET /api/{models|datasets}/{ns}/{name}/tree/{rev}`: the top of the repository.
pub async fn handle_tree<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev)): HubPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> HubResult<Response> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    tree(&p, &caller, &repo, &rev, "", query.as_deref()).await
}

/// `GET /api/{models|datasets}/{ns}/{name}/tree/{rev}/{path}`: a folder of the repository.
pub async fn handle_tree_path<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev, path)): HubPath<(String, String, String, String)>,
    RawQuery(query): RawQuery,
) -> HubResult<Response> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    tree(&p, &caller, &repo, &rev, path.trim_matches('/'), query.as_deref()).await
}

async fn tree(
    p: &Platform,
    caller: &Caller,
    repo: &Repo,
    rev: &str,
    folder: &str,
    query: Option<&str>,
) -> HubResult<Response> {
    let pairs = query_pairs(query);
    let recursive = flag(param(&pairs, "recursive"));
    let cursor = param(&pairs, "cursor").filter(|c| !c.is_empty());
    let at = at(p, caller, repo, Some(rev)).await?;
    let listing = at.listing(p, caller, repo).await?;
    if !listing.is_folder(folder) {
        return Err(HubError::not_found(
            ENTRY_NOT_FOUND,
            format!("{:?} holds no folder {folder:?} at {}", repo.id(), at.commit),
        )
        .entry(&at.commit));
    }
    let entries = listing.under(folder, recursive, cursor);
    let page: Vec<Value> = entries.iter().take(TREE_PAGE).map(|e| e.json(&at.commit)).collect();
    let mut response = Json(page).into_response();
    if entries.len() > TREE_PAGE {
        let last = entries[TREE_PAGE - 1].path();
        let mut next = url::Url::parse(&format!(
            "{}/api/{}/{}/tree/{}",
            p.public_url().trim_end_matches('/'),
            repo.kind.api(),
            repo.id(),
            at.commit
        ))
        .map_err(|e| fedml_platform::Error::Internal(format!("the next page's URL: {e}")))?;
        if !folder.is_empty() {
            next.path_segments_mut()
                .map_err(|()| fedml_platform::Error::Internal("the next page's URL has no path".into()))?
                .extend(folder.split('/'));
        }
        next.query_pairs_mut()
            .append_pair("recursive", if recursive { "true" } else { "false" })
            .append_pair("cursor", last);
        if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

/// A `paths-info` body as JSON.
#[derive(Deserialize)]
struct PathsJson {
    paths: PathsField,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PathsField {
    One(String),
    Many(Vec<String>),
}

/// `POST /api/{models|datasets}/{ns}/{name}/paths-info/{rev}`: the entries of the paths a form
/// (`paths=a&paths=b`, as `huggingface_hub` sends it) or a JSON body (`{"paths": [...]}`) names.
pub async fn handle_paths_info<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev)): HubPath<(String, String, String)>,
    request: Request,
) -> HubResult<Json<Vec<Value>>> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let body = body_bytes(request, &()).await?;
    let paths = if json {
        let parsed: PathsJson = serde_json::from_slice(&body)
            .map_err(|e| HubError::bad(format!("the request body is not {{\"paths\": [...]}}: {e}")))?;
        match parsed.paths {
            PathsField::One(p) => vec![p],
            PathsField::Many(ps) => ps,
        }
    } else {
        url::form_urlencoded::parse(&body)
            .filter(|(k, _)| k == "paths" || k == "paths[]")
            .map(|(_, v)| v.into_owned())
            .collect()
    };
    if paths.len() > MAX_PATHS {
        return Err(HubError::bad(format!(
            "{} paths asked at once; ask for at most {MAX_PATHS} per call",
            paths.len()
        )));
    }
    let at = at(&p, &caller, &repo, Some(&rev)).await?;
    let listing = at.listing(&p, &caller, &repo).await?;
    let mut seen = std::collections::BTreeSet::new();
    let found = paths
        .iter()
        .filter_map(|path| listing.find(path))
        .filter(|e| !e.path().is_empty() && seen.insert(e.path().to_string()))
        .map(|e| e.json(&at.commit))
        .collect();
    Ok(Json(found))
}
