//! What the clients ask about the caller and a repository: `whoami-v2` (the login check), a
//! repository's info at a revision (`model_info`, `dataset_info`, `repo_info`: its commit id and
//! files), and its commits (`list_repo_commits`: one per version, newest first).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fedml_api_common::AppState;
use fedml_platform::Platform;
use fedml_platform::operations::repos::commit_id;
use fedml_proto::Role;
use serde_json::{Value, json};

use crate::entries::sibling;
use crate::errors::{HubError, HubResult};
use crate::repo::{At, HubCaller, HubPath, KindOf, Repo, at, flag, param, query_pairs};

/// Commits per page of `list_repo_commits`.
const COMMITS_PAGE: usize = 100;

/// `GET /api/whoami-v2`: the key's user, its organisations and the key's rights, as `hf auth
/// login` and `whoami()` read them (`name`, `orgs[].name`, `auth.accessToken.{displayName, role}`).
pub async fn handle_whoami(State(p): State<AppState>, HubCaller(caller): HubCaller) -> HubResult<Json<Value>> {
    let identity = p.whoami(&caller).await?;
    let orgs: Vec<Value> = identity
        .namespaces
        .iter()
        .filter(|n| n.organisation)
        .map(|n| json!({"type": "org", "name": n.name, "fullname": n.name, "roleInOrg": hub_role(n.role)}))
        .collect();
    let role = if caller.read_only { "read" } else { "write" };
    Ok(Json(json!({
        "type": "user",
        "id": caller.user_id,
        "name": identity.user,
        "fullname": identity.user,
        "email": null,
        "emailVerified": false,
        "isPro": false,
        "canPay": false,
        "avatarUrl": "",
        "orgs": orgs,
        "auth": {"type": "access_token", "accessToken": {"displayName": identity.key_id, "role": role}},
    })))
}

fn hub_role(role: Role) -> &'static str {
    match role {
        Role::Reader => "read",
        Role::Writer => "write",
        Role::Admin | Role::Owner => "admin",
    }
}

/// `GET /api/{models|datasets}/{ns}/{name}`: the repository at `main`.
pub async fn handle_info<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name)): HubPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> HubResult<Json<Value>> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    info(&p, &caller, &repo, None, query.as_deref()).await
}

/// `GET /api/{models|datasets}/{ns}/{name}/revision/{rev}`: the repository at a revision.
pub async fn handle_info_at<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev)): HubPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> HubResult<Json<Value>> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    info(&p, &caller, &repo, Some(&rev), query.as_deref()).await
}

/// The repository's info: `id`, `sha` (its commit), `siblings` (every file; with `blobs=true`
/// their sizes, ids and LFS pointers), dates, and what the Hub's answers always carry.
async fn info(
    p: &Platform,
    caller: &fedml_platform::Caller,
    repo: &Repo,
    rev: Option<&str>,
    query: Option<&str>,
) -> HubResult<Json<Value>> {
    let blobs = flag(param(&query_pairs(query), "blobs"));
    let at = at(p, caller, repo, rev).await?;
    let listing = at.listing(p, caller, repo).await?;
    let siblings: Vec<Value> = listing.files().iter().map(|f| sibling(f, blobs)).collect();
    let meta = &at.record.meta;
    let mut info = json!({
        "id": repo.id(),
        "author": repo.namespace,
        "sha": at.commit,
        "lastModified": meta.updated_at,
        "createdAt": meta.created_at,
        "private": true,
        "gated": false,
        "disabled": false,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "usedStorage": meta.size,
    });
    if repo.kind == crate::repo::Kind::Model {
        info["modelId"] = json!(repo.id());
    }
    Ok(Json(info))
}

/// `GET /api/{models|datasets}/{ns}/{name}/commits/{rev}`: the commits from `rev` back, newest
/// first, a page at a time (`Link: <…>; rel="next"`).
pub async fn handle_commits<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev)): HubPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> HubResult<Response> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    let pairs = query_pairs(query.as_deref());
    let page: usize = match param(&pairs, "p") {
        None => 0,
        Some(p) => p.parse().map_err(|_| HubError::bad(format!("the page {p:?} is not a number")))?,
    };
    let at: At = at(&p, &caller, &repo, Some(&rev)).await?;
    let records = p.version_records(&caller, repo.ns(), &repo.object()).await.map_err(|e| HubError::from(e).repo())?;
    let from: Vec<_> = records.iter().filter(|r| r.meta.version <= at.version()).collect();
    let start = page.saturating_mul(COMMITS_PAGE);
    let commits: Vec<Value> = from
        .iter()
        .skip(start)
        .take(COMMITS_PAGE)
        .map(|r| {
            let (title, message) = title_and_message(&r.meta.description);
            json!({"id": commit_id(r), "title": title, "message": message, "date": r.meta.updated_at,
                   "authors": []})
        })
        .collect();
    let mut response = Json(commits).into_response();
    if start + COMMITS_PAGE < from.len() {
        let next = format!(
            "{}/api/{}/{}/commits/{}?p={}",
            p.public_url().trim_end_matches('/'),
            repo.kind.api(),
            repo.id(),
            at.commit,
            page + 1
        );
        if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

/// A commit's message as the Hub splits it: its first line, and what follows the blank line.
pub fn title_and_message(text: &str) -> (&str, &str) {
    match text.split_once('\n') {
        Some((title, rest)) => (title.trim_end(), rest.trim_start_matches('\n')),
        None => (text, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_message_is_a_title_and_a_body() {
        assert_eq!(title_and_message("Add weights"), ("Add weights", ""));
        assert_eq!(title_and_message("Add weights\n\nthe big ones"), ("Add weights", "the big ones"));
        assert_eq!(title_and_message(""), ("", ""));
    }
}
