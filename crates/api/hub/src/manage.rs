//! Making and removing repositories (`create_repo`, `delete_repo`), what comes before a commit
//! (`preupload`: which files travel as LFS objects and which inside the commit) and the README
//! check every commit of a `README.md` makes (`validate-yaml`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fedml_api_common::AppState;
use fedml_platform::operations::Need;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::entries::{is_lfs, upload_oid};
use crate::errors::{HubError, HubResult};
use crate::repo::{HubCaller, HubJson, HubPath, Kind, KindOf, Repo, at, check_path};

/// The most files one `preupload` call may name (the client sends 256 at a time).
pub const MAX_PREUPLOAD_FILES: usize = 1000;
/// The bytes of regular files one `preupload` answer lets travel inside the commit; past them,
/// even small files go as LFS objects, so that a commit's body stays small however many small
/// files a folder holds.
pub const REGULAR_BUDGET: u64 = 8 << 20;

/// `POST /api/repos/create` and `DELETE /api/repos/delete`'s body.
#[derive(Deserialize)]
pub struct RepoBody {
    name: String,
    organization: Option<String>,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

impl RepoBody {
    /// The repository, in the organisation named or the caller's own namespace.
    fn repo(&self, caller: &fedml_platform::Caller) -> HubResult<Repo> {
        let kind = Kind::from_type(self.repo_type.as_deref())?;
        let ns = self.organization.as_deref().filter(|o| !o.is_empty()).unwrap_or(&caller.user_name);
        Repo::new(kind, ns, &self.name)
    }
}

/// `POST /api/repos/create`: an empty repository (one empty version); 409 when the name is
/// taken (`create_repo(exist_ok=True)` takes that as success).
pub async fn handle_create(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubJson(body): HubJson<RepoBody>,
) -> HubResult<Response> {
    let repo = body.repo(&caller)?;
    let url = repo.url(p.public_url());
    match p.create_repo(&caller, repo.ns(), &repo.object()).await {
        Ok(_) => Ok(Json(json!({"url": url, "name": repo.id(), "id": repo.id()})).into_response()),
        Err(fedml_platform::Error::Conflict(message)) => {
            Ok((StatusCode::CONFLICT, Json(json!({"error": message, "url": url}))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /api/repos/delete`: the repository with all its versions.
pub async fn handle_delete(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubJson(body): HubJson<RepoBody>,
) -> HubResult<StatusCode> {
    let repo = body.repo(&caller)?;
    // Whether the caller may delete there is decided first: a refusal reads the same whether the
    // repository exists or not. Then only a repository: a file object of the name is not one.
    p.namespace(&caller, &repo.namespace, Need::Write).await.map_err(|e| HubError::from(e).repo())?;
    at(&p, &caller, &repo, None).await?;
    p.delete(&caller, repo.ns(), &repo.object(), None).await.map_err(|e| HubError::from(e).repo())?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
pub struct PreuploadBody {
    files: Vec<PreuploadFile>,
}

#[derive(Deserialize)]
struct PreuploadFile {
    path: String,
    size: u64,
}

/// `POST /api/{models|datasets}/{ns}/{name}/preupload/{rev}`: how each file travels — an LFS
/// object (a file of [`crate::entries::LFS_THRESHOLD`] bytes or more, or past this answer's
/// [`REGULAR_BUDGET`]) or inside the commit (`regular`) — and the `oid` of the file already at
/// that path, which the client compares with its own to leave an unchanged file out. Nothing is
/// ignored (`shouldIgnore`: false).
pub async fn handle_preupload<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev)): HubPath<(String, String, String)>,
    HubJson(body): HubJson<PreuploadBody>,
) -> HubResult<Json<Value>> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    if body.files.len() > MAX_PREUPLOAD_FILES {
        return Err(HubError::bad(format!(
            "{} files named at once; name at most {MAX_PREUPLOAD_FILES} per call",
            body.files.len()
        )));
    }
    for f in &body.files {
        check_path(&f.path)?;
    }
    // A preupload prepares a write: refused first to a caller who may not write there, as the
    // commit would be (the same refusal whether the repository exists or not).
    p.namespace(&caller, &repo.namespace, Need::Write).await.map_err(|e| HubError::from(e).repo())?;
    let at = at(&p, &caller, &repo, Some(&rev)).await?;
    let listing = at.listing(&p, &caller, &repo).await?;
    let mut regular_bytes = 0u64;
    let files: Vec<Value> = body
        .files
        .iter()
        .map(|f| {
            let lfs = f.size > 0 && (is_lfs(f.size) || regular_bytes.saturating_add(f.size) > REGULAR_BUDGET);
            if !lfs {
                regular_bytes += f.size;
            }
            let mut answer = json!({"path": f.path, "uploadMode": if lfs { "lfs" } else { "regular" },
                                    "shouldIgnore": false});
            if let Some(existing) = listing.file(&f.path) {
                answer["oid"] = json!(upload_oid(existing, lfs));
            }
            answer
        })
        .collect();
    Ok(Json(json!({"files": files, "commitOid": at.commit})))
}

/// `POST /api/validate-yaml`: a README's metadata is not checked here; always valid.
pub async fn handle_validate_yaml(
    HubCaller(_caller): HubCaller,
    HubJson(_body): HubJson<Value>,
) -> HubResult<Json<Value>> {
    Ok(Json(json!({"errors": [], "warnings": []})))
}
