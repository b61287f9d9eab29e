//! What a Hub request names, read once: the caller (an API key as the Bearer token), the
//! repository (`namespace/name` of a model or a dataset, and the directory object it is), the
//! revision (`main` or a commit id), and the bodies (JSON, bounded, refused in the Hub's shape).
//!
//! The mapping (README, "Hugging Face Hub API"): the repository `ns/name` lives in the namespace
//! `ns` (a user's own or an organisation's); a model is the directory object `name`, a dataset
//! the directory object `datasets/name`, so that a model and a dataset of one id are distinct and
//! any directory uploaded with `fedml storage upload` is a model repository (or, under
//! `datasets/`, a dataset). Its versions are the repository's commits: `main` is the latest.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use fedml_api_common::AppState;
use fedml_platform::catalogue::ObjectRecord;
use fedml_platform::operations::repos::commit_id;
use fedml_platform::{Caller, Platform};
use fedml_proto::ObjectKind;
use serde::de::DeserializeOwned;

use crate::entries::Listing;
use crate::errors::{HubError, HubResult, REPO_NOT_FOUND, REVISION_NOT_FOUND};

/// The branch every repository has: its latest version.
pub const MAIN: &str = "main";

/// A model or a dataset repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    Dataset,
}

impl Kind {
    /// The `type` of a create or delete body (`None`: a model).
    pub fn from_type(repo_type: Option<&str>) -> HubResult<Kind> {
        match repo_type {
            None | Some("model") => Ok(Kind::Model),
            Some("dataset") => Ok(Kind::Dataset),
            Some(other) => {
                Err(HubError::bad(format!("this server keeps model and dataset repositories, not {other:?} ones")))
            }
        }
    }

    /// What the Hub's URLs put before `ns/name`.
    pub fn url_prefix(self) -> &'static str {
        match self {
            Kind::Model => "",
            Kind::Dataset => "datasets/",
        }
    }

    /// The Hub API's word for the kind (`/api/models/…`).
    pub fn api(self) -> &'static str {
        match self {
            Kind::Model => "models",
            Kind::Dataset => "datasets",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Dataset => "dataset",
        }
    }
}

/// The kind a route serves, as a type (`/api/models/…` and `/api/datasets/…` share handlers).
pub trait KindOf: Send + Sync + 'static {
    const KIND: Kind;
}

pub struct Models;
pub struct Datasets;

impl KindOf for Models {
    const KIND: Kind = Kind::Model;
}

impl KindOf for Datasets {
    const KIND: Kind = Kind::Dataset;
}

/// A repository `namespace/name` of a kind.
#[derive(Debug, Clone)]
pub struct Repo {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Repo {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> HubResult<Repo> {
        let bad = |what: &str| HubError::bad(format!("{what}; a repository id is NAMESPACE/NAME"));
        if namespace.is_empty() || namespace.contains('/') {
            return Err(bad(&format!("{namespace:?} is not a namespace")));
        }
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(bad(&format!("{name:?} is not a repository name")));
        }
        Ok(Repo { kind, namespace: namespace.to_string(), name: name.to_string() })
    }

    /// `ns/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The namespace the platform acts in.
    pub fn ns(&self) -> Option<&str> {
        Some(&self.namespace)
    }

    /// The directory object the repository is.
    pub fn object(&self) -> String {
        match self.kind {
            Kind::Model => self.name.clone(),
            Kind::Dataset => format!("datasets/{}", self.name),
        }
    }

    /// The repository's URL on this server (`{base}/[datasets/]ns/name`), as the Hub writes it.
    pub fn url(&self, base: &str) -> String {
        format!("{}/{}{}", base.trim_end_matches('/'), self.kind.url_prefix(), self.id())
    }

    fn missing(&self) -> HubError {
        HubError::not_found(
            REPO_NOT_FOUND,
            format!(
                "no {} repository {:?} that you can read; `huggingface_hub` lists what this key sees with \
                 whoami() and the namespace's objects with `fedml storage list`",
                self.kind.word(),
                self.id()
            ),
        )
    }
}

/// Whether a revision is a commit id: 40 lowercase hex digits, as the clients take it.
pub fn is_commit_id(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A repository at a revision: the version read and its commit id.
pub struct At {
    pub record: ObjectRecord,
    pub commit: String,
}

impl At {
    pub fn version(&self) -> u64 {
        self.record.meta.version
    }

    /// The repository's files at this version. A version's files never change under its blob
    /// key, so each instance keeps the listings it read (at most [`Listings::MAX_FILES`] files in
    /// all): a download of N files reads the repository's listing once, not N times. Only ever
    /// asked after [`at`], which decided that the caller may read the version.
    pub async fn listing(&self, p: &Platform, caller: &Caller, repo: &Repo) -> HubResult<Arc<Listing>> {
        let key = &self.record.blob_key;
        if let Some(found) = LISTINGS.get(key) {
            return Ok(found);
        }
        let files = p.repo_files(caller, repo.ns(), &repo.object(), Some(self.version())).await?;
        Ok(LISTINGS.put(key, Listing::new(files)))
    }
}

/// Listings of versions by blob key (see [`At::listing`]).
struct Listings(Mutex<(usize, HashMap<String, Arc<Listing>>)>);

impl Listings {
    /// The most files the kept listings hold; past it the map starts again.
    const MAX_FILES: usize = 500_000;

    fn get(&self, key: &str) -> Option<Arc<Listing>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).1.get(key).cloned()
    }

    fn put(&self, key: &str, listing: Listing) -> Arc<Listing> {
        let listing = Arc::new(listing);
        let files = listing.files().len();
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.0 + files > Self::MAX_FILES {
            *kept = (0, HashMap::new());
        }
        if files <= Self::MAX_FILES && kept.1.insert(key.to_string(), listing.clone()).is_none() {
            kept.0 += files;
        }
        listing
    }
}

static LISTINGS: LazyLock<Listings> = LazyLock::new(|| Listings(Mutex::new((0, HashMap::new()))));

/// The repository at `revision` (`None`, empty or `main`: its latest version; a commit id: that
/// version), if the caller may read it: `RepoNotFound` for a repository that is not there (or
/// not one: a file object), `RevisionNotFound` for any other revision.
pub async fn at(p: &Platform, caller: &Caller, repo: &Repo, revision: Option<&str>) -> HubResult<At> {
    let object = repo.object();
    let latest = p.repo_version(caller, repo.ns(), &object, None).await.map_err(|e| HubError::from(e).repo())?;
    if latest.meta.kind != ObjectKind::Directory {
        return Err(repo.missing());
    }
    let record = match revision.filter(|r| !r.is_empty() && *r != MAIN) {
        None => latest,
        Some(r) if is_commit_id(r) && commit_id(&latest) == r => latest,
        Some(r) if is_commit_id(r) => {
            p.repo_version(caller, repo.ns(), &object, Some(r)).await.map_err(|e| HubError::from(e).revision())?
        }
        Some(r) => {
            return Err(HubError::not_found(
                REVISION_NOT_FOUND,
                format!(
                    "{:?} has no revision {r:?}: this server keeps one branch, main, and the commit ids of its \
                     versions (list_repo_commits lists them)",
                    repo.id()
                ),
            ));
        }
    };
    Ok(At { commit: commit_id(&record), record })
}

/// The platform's caller: the Bearer token is an API key (a dashboard session cookie works too,
/// as everywhere). No key, or one that is not valid, is refused (401) before the body is read.
pub struct HubCaller(pub Caller);

impl FromRequestParts<AppState> for HubCaller {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<HubCaller, HubError> {
        let fedml_api_common::Caller(caller) = fedml_api_common::Caller::from_request_parts(parts, state).await?;
        Ok(HubCaller(caller))
    }
}

/// Path parameters, refused in the Hub's shape.
pub struct HubPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for HubPath<T> {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HubError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(HubPath(value)),
            Err(e) => Err(HubError::bad(e.body_text())),
        }
    }
}

/// A JSON body (whatever its `Content-Type`: the LFS batch sends `application/vnd.git-lfs+json`),
/// at most `fedml_api_common::bodies::JSON_BODY_LIMIT` bytes.
pub struct HubJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for HubJson<T> {
    type Rejection = HubError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HubError> {
        let bytes = body_bytes(request, state).await?;
        serde_json::from_slice(&bytes)
            .map(HubJson)
            .map_err(|e| HubError::bad(format!("the request body is not the JSON this call takes: {e}")))
    }
}

/// A whole body of at most `JSON_BODY_LIMIT` bytes.
pub async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> HubResult<Bytes> {
    let limit = fedml_api_common::bodies::JSON_BODY_LIMIT;
    Bytes::from_request(request, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HubError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than this call takes (at most {limit} bytes)"),
            )
        } else {
            HubError::bad(format!("the request body could not be read: {}", e.body_text()))
        }
    })
}

/// A query parameter's value as a flag: `true`, `True` and `1` are true (Python clients write
/// booleans either way).
pub fn flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The query's parameters.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// The first value of parameter `name`.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Checks a path inside a repository as a commit names it: relative, `/`-separated, no empty,
/// `.` or `..` part (nothing may land outside the repository).
pub fn check_path(path: &str) -> HubResult<()> {
    if path.is_empty() {
        return Err(HubError::bad("a file path in the repository is empty"));
    }
    if path.starts_with('/') {
        return Err(HubError::bad(format!("the path {path:?} is absolute; paths in a repository are relative")));
    }
    for part in path.split('/') {
        fedml_proto::archive::check_segment(part).map_err(|why| HubError::bad(format!("the path {path:?} {why}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_and_a_dataset_of_one_id_are_distinct_objects() {
        let model = Repo::new(Kind::Model, "team", "tiny").expect("repo");
        let dataset = Repo::new(Kind::Dataset, "team", "tiny").expect("repo");
        assert_eq!((model.object(), dataset.object()), ("tiny".to_string(), "datasets/tiny".to_string()));
        assert_eq!(model.url("http://h/"), "http://h/team/tiny");
        assert_eq!(dataset.url("http://h"), "http://h/datasets/team/tiny");
        for (ns, name) in [("", "x"), ("a/b", "x"), ("a", ""), ("a", "b/c"), ("a", ".."), ("a", ".")] {
            assert!(Repo::new(Kind::Model, ns, name).is_err(), "{ns:?}/{name:?}");
        }
    }

    #[test]
    fn commit_ids_are_forty_lowercase_hex_digits() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(!is_commit_id(&"A".repeat(40)));
        assert!(!is_commit_id(&"a".repeat(39)));
        assert!(!is_commit_id("main"));
    }

    #[test]
    fn paths_stay_inside_the_repository() {
        for good in ["a.txt", "a/b/c.bin", ".gitattributes", "a..b"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a//b", "a/../b", "..", "./a", "a/", "a\\b", "C:x"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kept_listings_are_bounded_by_their_files() {
        use fedml_platform::operations::repos::RepoFile;
        let files = |n: usize| {
            Listing::new(
                (0..n)
                    .map(|i| RepoFile {
                        path: format!("f{i}"),
                        size: 1,
                        sha256: String::new(),
                        git_sha1: String::new(),
                    })
                    .collect(),
            )
        };
        let kept = Listings(Mutex::new((0, HashMap::new())));
        kept.put("a", files(Listings::MAX_FILES - 10));
        kept.put("b", files(10));
        assert!(kept.get("a").is_some() && kept.get("b").is_some());
        // Past the bound the map starts again, with the new listing.
        kept.put("c", files(1));
        assert!(kept.get("a").is_none() && kept.get("c").is_some());
        // One listing larger than the bound is answered, not kept.
        assert_eq!(kept.put("d", files(Listings::MAX_FILES + 1)).files().len(), Listings::MAX_FILES + 1);
        assert!(kept.get("d").is_none());
    }

    #[test]
    fn flags_read_as_python_writes_them() {
        assert!(flag(Some("true")) && flag(Some("True")) && flag(Some("1")));
        assert!(!flag(Some("false")) && !flag(Some("False")) && !flag(None));
    }
}
