//! The async core of the SDK: one authenticated connection pool to one server, and one method
//! per native API call. Transfers (`transfer`) and the seed-shaped functions (`lib`) build on it.

use std::time::Duration;

use fedml_proto::{
    AuditPage, CreateKey, CreateOrg, CreateShare, KeyInfo, Member, NamespaceInfo, NewKey, NewShare, OrgInfo, Role,
    S3Credentials, SetMember, ShareInfo,
};
use fedml_proto::{
    CompleteUpload, CompletedUpload, CreateUpload, DeletedVersion, DownloadTicket, Envelope, FilePage, FileRead,
    Identity, ObjectMeta, ObjectPage, ObjectVersion, PartUrl, PartUrlsRequest, ResponseCode, UploadSession,
    VersionDiff,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};
use crate::retry::{self, Failed};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: String,
    /// Parts (or packs) an upload sends at once: each is a buffer in memory.
    pub parallel: usize,
    /// Ranges a download reads at once: each streams to the file through a 1 MiB buffer, so a
    /// store that serves each request slowly (S3 servers) is kept busy at little cost.
    pub download_parallel: usize,
    /// The namespace object calls work in (`?namespace=`, or `namespace` of an upload's body);
    /// the caller's own with `None`.
    namespace: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("parallel", &self.parallel)
            .field("download_parallel", &self.download_parallel)
            .field("namespace", &self.namespace)
            .finish()
    }
}

pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(16)
        .user_agent(concat!("fedml-rust/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::Error(format!("cannot set up HTTP: {e}")))
}

pub use fedml_proto::encode_path_segment as encode_segment;

/// Says what went wrong talking to a server, without any secret.
pub fn network_error(base: &str, e: &reqwest::Error) -> ClientError {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = format!("{cause}: {s}");
        source = s.source();
    }
    // reqwest repeats the URL (which may carry a signature): keep only the cause.
    if let Some(url) = e.url() {
        cause = cause.replace(url.as_str(), "<url>");
    }
    if e.is_connect() {
        ClientError::Error(format!(
            "cannot reach the FedML server at {base} ({cause}); start it with `fedml server`, or point \
             --server / FEDML_SERVER_URL at the right address"
        ))
    } else if e.is_timeout() {
        ClientError::Error(format!("the server at {base} did not answer in time ({cause}); try again"))
    } else {
        ClientError::Error(format!("talking to {base} failed: {cause}"))
    }
}

impl Client {
    pub fn new(base: &str, api_key: &str) -> Result<Client> {
        Ok(Client {
            http: http_client()?,
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            parallel: 4,
            download_parallel: 16,
            namespace: None,
        })
    }

    /// This client working in `namespace` (a user's own or an organisation's) for every object
    /// call: listing, reading, uploading, editing, deleting, usage.
    pub fn in_namespace(mut self, namespace: &str) -> Client {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// The namespace object calls work in; `None`: the caller's own.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// `path` with `namespace=NS` added to its query when this client works in a namespace.
    fn scoped(&self, path: String) -> String {
        match &self.namespace {
            None => path,
            Some(ns) => with_query(path, "namespace", ns),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn call<B: Serialize, T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&B>) -> Result<T> {
        self.call_sent(method, path, body).await.0
    }

    /// [`Client::call`], sent again (through [`retry::with_retries`]) when it never reached the
    /// server or its connection broke before an answer came, as when a server behind a load
    /// balancer restarts and closes its idle connections, or it was refused as one too many at
    /// once (HTTP 429, before the server did anything); answers the result and how many times
    /// the request was sent. Every call of this API may be sent twice: reads change nothing, a
    /// repeated completion or abort answers as the first did, a repeated opening of an upload
    /// leaves a session that expires unused, and [`Client::delete`] takes a repeat that finds
    /// nothing for the delete it repeats. A time-out is not repeated.
    async fn call_sent<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> (Result<T>, u32) {
        let sent = std::sync::atomic::AtomicU32::new(0);
        let result = retry::with_retries(|| {
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.call_once(method.clone(), path, body)
        })
        .await;
        (result, sent.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn call_once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> std::result::Result<T, Failed> {
        let (_, answer) = self.answer_once(method, path, body).await?;
        answer
    }

    /// One request: the HTTP status, and the answer as [`Client::call`] reads it (a refusal is
    /// [`Failed::give_up`] but for one sent again after a wait: HTTP 429).
    async fn answer_once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> std::result::Result<(StatusCode, std::result::Result<T, Failed>), Failed> {
        let broken = |e: reqwest::Error| {
            let error = network_error(&self.base, &e);
            if e.is_timeout() { Failed::give_up(error) } else { Failed::retry(error) }
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .timeout(Duration::from_secs(300));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(broken)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(broken)?;
        let envelope: Envelope<T> = match serde_json::from_slice(&bytes) {
            Ok(env) => env,
            Err(_) => {
                return Err(Failed::give_up(ClientError::Error(format!(
                    "the server at {} answered HTTP {status} with something that is not a FedML reply; \
                     is this the right address?",
                    self.base
                ))));
            }
        };
        // Too many at once (the server's per-client connection cap): refused before anything was
        // done, so sent again after a wait.
        if status == StatusCode::TOO_MANY_REQUESTS && envelope.code != ResponseCode::Success {
            return Err(Failed::retry(ClientError::Failure(envelope.message)));
        }
        Ok((
            status,
            match envelope.code {
                ResponseCode::Success => envelope.data.ok_or_else(|| {
                    Failed::give_up(ClientError::Error(format!("the server answered {path} without data")))
                }),
                ResponseCode::Failure => Err(Failed::give_up(ClientError::Failure(envelope.message))),
                ResponseCode::Error => Err(Failed::give_up(ClientError::Error(envelope.message))),
            },
        ))
    }

    pub async fn whoami(&self) -> Result<Identity> {
        self.call::<(), _>(Method::GET, "/api/v1/whoami", None).await
    }

    pub async fn create_upload(&self, req: &CreateUpload) -> Result<UploadSession> {
        self.call(Method::POST, "/api/v1/uploads", Some(req)).await
    }

    pub async fn part_urls(&self, upload_id: &str, first: u32, count: u32) -> Result<Vec<PartUrl>> {
        let path = format!("/api/v1/uploads/{}/parts", encode_segment(upload_id));
        self.call(Method::POST, &path, Some(&PartUrlsRequest { first, count })).await
    }

    pub async fn complete_upload(&self, upload_id: &str, req: &CompleteUpload) -> Result<CompletedUpload> {
        let path = format!("/api/v1/uploads/{}/complete", encode_segment(upload_id));
        self.call(Method::POST, &path, Some(req)).await
    }

    /// Completes an upload, telling apart the one refusal that sending again mends: a pack the
    /// completion names was not what its id names (damaged on its way, or sent by another
    /// upload that lied; HTTP 422). The server never offers that pack again, so the same data
    /// sent again in the same session stores it anew.
    pub async fn complete_upload_checked(&self, upload_id: &str, req: &CompleteUpload) -> Result<Completion> {
        let path = format!("/api/v1/uploads/{}/complete", encode_segment(upload_id));
        let answer = retry::with_retries(|| async {
            match self.answer_once::<_, CompletedUpload>(Method::POST, &path, Some(req)).await? {
                (_, Ok(done)) => Ok(Completion::Done(Box::new(done))),
                (StatusCode::UNPROCESSABLE_ENTITY, Err(Failed { error: ClientError::Failure(message), .. })) => {
                    Ok(Completion::SendAgain(message))
                }
                (_, Err(failed)) => Err(failed),
            }
        });
        answer.await
    }

    /// The caller's stored packs that hold any of these sample chunks (pinned for the session).
    pub async fn known_packs(
        &self,
        upload_id: &str,
        req: &fedml_proto::content::KnownRequest,
    ) -> Result<Vec<fedml_proto::content::KnownPack>> {
        let path = format!("/api/v1/uploads/{}/known", encode_segment(upload_id));
        self.call(Method::POST, &path, Some(req)).await
    }

    /// For each pack: stored already, or where to PUT it.
    pub async fn pack_tickets(
        &self,
        upload_id: &str,
        req: &fedml_proto::content::PacksRequest,
    ) -> Result<Vec<fedml_proto::content::PackTicket>> {
        let path = format!("/api/v1/uploads/{}/packs", encode_segment(upload_id));
        self.call(Method::POST, &path, Some(req)).await
    }

    /// What the namespace's objects hold and what the stores really hold for them.
    pub async fn storage_usage(&self) -> Result<fedml_proto::StorageUsage> {
        self.call::<(), _>(Method::GET, &self.scoped("/api/v1/usage".to_string()), None).await
    }

    pub async fn abort_upload(&self, upload_id: &str) -> Result<bool> {
        let path = format!("/api/v1/uploads/{}", encode_segment(upload_id));
        self.call::<(), _>(Method::DELETE, &path, None).await
    }

    /// The metadata of the object (the version `at` names, else the latest).
    pub async fn object(&self, at: ObjectRef<'_>) -> Result<ObjectMeta> {
        self.call::<(), _>(Method::GET, &self.scoped(at.path("")), None).await
    }

    pub async fn user_metadata(&self, at: ObjectRef<'_>) -> Result<std::collections::BTreeMap<String, String>> {
        self.call::<(), _>(Method::GET, &self.scoped(at.path("/user-metadata")), None).await
    }

    /// Every version of object `name` the server keeps, newest first (the first is the latest).
    pub async fn versions(&self, name: &str) -> Result<Vec<ObjectVersion>> {
        self.call::<(), _>(Method::GET, &self.scoped(ObjectRef::latest(name).path("/versions")), None).await
    }

    /// Versions `from` and `to` (the latest with `None`) of object `name`, and the bytes of
    /// stored content they share.
    pub async fn diff(&self, name: &str, from: u64, to: Option<u64>) -> Result<VersionDiff> {
        let mut path = format!("{}?from={from}", ObjectRef::latest(name).path("/diff"));
        if let Some(to) = to {
            path.push_str(&format!("&to={to}"));
        }
        self.call::<(), _>(Method::GET, &self.scoped(path), None).await
    }

    /// Changes an object's description, tags or user metadata (`PATCH`; repeating it is
    /// harmless) and answers the object as it now is.
    pub async fn edit(&self, name: &str, edit: &fedml_proto::EditObject) -> Result<ObjectMeta> {
        let path = self.scoped(format!("/api/v1/objects/{}", encode_segment(name)));
        self.call(Method::PATCH, &path, Some(edit)).await
    }

    /// All of the namespace's objects, reading page after page.
    pub async fn list_all(&self) -> Result<Vec<ObjectMeta>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/objects?limit=1000&after={}", encode_segment(a)),
                None => "/api/v1/objects?limit=1000".to_string(),
            };
            let page: ObjectPage = self.call::<(), _>(Method::GET, &self.scoped(path), None).await?;
            all.extend(page.objects);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Signed URLs for the content of the object (the version `at` names, else the latest).
    pub async fn download_ticket(&self, at: ObjectRef<'_>) -> Result<DownloadTicket> {
        self.call::<(), _>(Method::GET, &self.scoped(at.path("/download")), None).await
    }

    /// A page of the entries of a directory object under its folder `path`, in path order,
    /// after the path `after`; read by the server from its index of the object's files.
    pub async fn files(
        &self,
        at: ObjectRef<'_>,
        path: &str,
        recursive: bool,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<FilePage> {
        let mut query = vec![format!("path={}", encode_segment(path)), format!("recursive={recursive}")];
        if let Some(after) = after {
            query.push(format!("after={}", encode_segment(after)));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        self.call::<(), _>(Method::GET, &self.scoped(at.path_with("/files", query)), None).await
    }

    /// Where the bytes of the file at `path` of a directory object lie: a signed URL and a range.
    pub async fn file(&self, at: ObjectRef<'_>, path: &str) -> Result<FileRead> {
        let query = vec![format!("path={}", encode_segment(path))];
        self.call::<(), _>(Method::GET, &self.scoped(at.path_with("/file", query)), None).await
    }

    /// Deletes object `name` with all its versions.
    pub async fn delete(&self, name: &str, service: Option<&str>) -> Result<bool> {
        let at = ObjectRef { name, service, version: None };
        match self.call_sent::<(), bool>(Method::DELETE, &self.scoped(at.path("")), None).await {
            // Sent twice after a broken connection, and the second found nothing: the first
            // most likely deleted it. Whatever did, it is gone, which is what was asked.
            (Err(ClientError::Failure(m)), sent) if sent > 1 => match self.object(ObjectRef::latest(name)).await {
                Err(ClientError::Failure(_)) => Ok(true),
                _ => Err(ClientError::Failure(m)),
            },
            (result, _) => result,
        }
    }

    /// Deletes one version of an object (`at.version`, which must be given).
    pub async fn delete_version(&self, at: ObjectRef<'_>) -> Result<DeletedVersion> {
        let Some(version) = at.version else {
            return Err(ClientError::Failure("name the version to delete".into()));
        };
        match self.call_sent::<(), DeletedVersion>(Method::DELETE, &self.scoped(at.path("")), None).await {
            // Sent twice, and the second found nothing: the first removed it.
            (Err(ClientError::Failure(m)), sent) if sent > 1 => match self.object(at).await {
                Err(ClientError::Failure(_)) => Ok(DeletedVersion { version, latest: None, name_deleted: false }),
                _ => Err(ClientError::Failure(m)),
            },
            (result, _) => result,
        }
    }
}

/// The calls of teams: namespaces, organisations and their members, share links, the audit log,
/// keys. Each is one native API call; none depends on the client's namespace but where it says.
impl Client {
    /// The namespaces the caller may use, its own first, with its role in each.
    pub async fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        self.call::<(), _>(Method::GET, "/api/v1/namespaces", None).await
    }

    /// Creates organisation `name`; the caller becomes its admin. Sent twice after a broken
    /// connection, a second answer that the name is taken while the caller is its admin is the
    /// first one's success.
    pub async fn create_org(&self, name: &str) -> Result<OrgInfo> {
        let body = CreateOrg { name: name.to_string() };
        match self.call_sent::<_, OrgInfo>(Method::POST, "/api/v1/orgs", Some(&body)).await {
            (Err(ClientError::Failure(m)), sent) if sent > 1 => {
                match self.orgs().await.map(|orgs| orgs.into_iter().find(|o| o.name == name)) {
                    Ok(Some(org)) if org.role == Some(Role::Admin) && org.members == 1 => Ok(org),
                    _ => Err(ClientError::Failure(m)),
                }
            }
            (result, _) => result,
        }
    }

    /// The organisations the caller belongs to (a server administrator: every one).
    pub async fn orgs(&self) -> Result<Vec<OrgInfo>> {
        self.call::<(), _>(Method::GET, "/api/v1/orgs", None).await
    }

    /// The members of organisation `org` with their roles.
    pub async fn members(&self, org: &str) -> Result<Vec<Member>> {
        let path = format!("/api/v1/orgs/{}/members", encode_segment(org));
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// Adds `user` to `org` with `role`, or changes their role (repeating it is harmless).
    pub async fn set_member(&self, org: &str, user: &str, role: Role) -> Result<Member> {
        let path = format!("/api/v1/orgs/{}/members/{}", encode_segment(org), encode_segment(user));
        self.call(Method::PUT, &path, Some(&SetMember { role })).await
    }

    /// Removes `user` from `org`. Sent twice, a second answer that finds no such member while
    /// `user` is indeed no member is the first one's success.
    pub async fn remove_member(&self, org: &str, user: &str) -> Result<bool> {
        let path = format!("/api/v1/orgs/{}/members/{}", encode_segment(org), encode_segment(user));
        match self.call_sent::<(), bool>(Method::DELETE, &path, None).await {
            (Err(ClientError::Failure(m)), sent) if sent > 1 => match self.members(org).await {
                Ok(members) if !members.iter().any(|x| x.user == user) => Ok(true),
                // Removed themself: they can no longer read the list.
                Err(ClientError::Failure(_)) => Ok(true),
                _ => Err(ClientError::Failure(m)),
            },
            (result, _) => result,
        }
    }

    /// Deletes organisation `org`; with `force` even while it holds objects (they go with it).
    pub async fn delete_org(&self, org: &str, force: bool) -> Result<bool> {
        let mut path = format!("/api/v1/orgs/{}", encode_segment(org));
        if force {
            path.push_str("?force=true");
        }
        match self.call_sent::<(), bool>(Method::DELETE, &path, None).await {
            (Err(ClientError::Failure(m)), sent) if sent > 1 => match self.orgs().await {
                Ok(orgs) if !orgs.iter().any(|o| o.name == org) => Ok(true),
                _ => Err(ClientError::Failure(m)),
            },
            (result, _) => result,
        }
    }

    /// Creates a share link (`share.namespace`, else this client's namespace, else the
    /// caller's own); the answer holds the link, shown only this once.
    pub async fn create_share(&self, share: &CreateShare) -> Result<NewShare> {
        let mut body = share.clone();
        if body.namespace.is_none() {
            body.namespace = self.namespace.clone();
        }
        self.call(Method::POST, "/api/v1/shares", Some(&body)).await
    }

    /// The live share links of this client's namespace (the caller's own with none).
    pub async fn shares(&self) -> Result<Vec<ShareInfo>> {
        self.call::<(), _>(Method::GET, &self.scoped("/api/v1/shares".to_string()), None).await
    }

    /// Ends share link `id` at once.
    pub async fn delete_share(&self, id: &str) -> Result<bool> {
        let path = format!("/api/v1/shares/{}", encode_segment(id));
        self.call::<(), _>(Method::DELETE, &path, None).await
    }

    /// A page of this client's namespace's audit log, newest first: the entries older than
    /// `before` (an entry id; the newest with `None`), at most `limit` of them.
    pub async fn audit_log(&self, before: Option<&str>, limit: Option<u32>) -> Result<AuditPage> {
        let mut path = self.scoped("/api/v1/log".to_string());
        if let Some(before) = before {
            path = with_query(path, "before", before);
        }
        if let Some(limit) = limit {
            path = with_query(path, "limit", &limit.to_string());
        }
        self.call::<(), _>(Method::GET, &path, None).await
    }

    /// Mints an API key for the caller (read-only, limited to some namespaces, as asked); the
    /// answer holds the key, shown only this once.
    pub async fn create_key(&self, req: &CreateKey) -> Result<NewKey> {
        self.call(Method::POST, "/api/v1/keys", Some(req)).await
    }

    /// The caller's API keys (never their secrets).
    pub async fn keys(&self) -> Result<Vec<KeyInfo>> {
        self.call::<(), _>(Method::GET, "/api/v1/keys", None).await
    }

    /// The S3 credentials of the API key in use (derived from it, dead with it).
    pub async fn s3_credentials(&self) -> Result<S3Credentials> {
        self.call::<(), _>(Method::GET, "/api/v1/s3-credentials", None).await
    }
}

/// `path` with `name=value` (the value encoded) added to its query.
pub(crate) fn with_query(mut path: String, name: &str, value: &str) -> String {
    path.push(if path.contains('?') { '&' } else { '?' });
    path.push_str(name);
    path.push('=');
    path.push_str(&encode_segment(value));
    path
}

/// Which stored data a call means: a name, one of its versions (the latest with `None`), and a
/// storage service the server must offer (the bytes are read from the object's own).
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'a> {
    pub name: &'a str,
    pub service: Option<&'a str>,
    pub version: Option<u64>,
}

impl<'a> ObjectRef<'a> {
    /// The latest version of `name`.
    pub fn latest(name: &'a str) -> Self {
        ObjectRef { name, service: None, version: None }
    }

    /// `/api/v1/objects/<name><suffix>`, with the service and version as query parameters.
    fn path(&self, suffix: &str) -> String {
        self.path_with(suffix, Vec::new())
    }

    /// [`ObjectRef::path`] with more query parameters (`name=value`, the value encoded).
    fn path_with(&self, suffix: &str, mut query: Vec<String>) -> String {
        let mut path = format!("/api/v1/objects/{}{suffix}", encode_segment(self.name));
        if let Some(service) = self.service {
            query.push(format!("service={}", encode_segment(service)));
        }
        if let Some(version) = self.version {
            query.push(format!("version={version}"));
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        path
    }
}

/// Whether an HTTP status from a blob URL is worth another try.
/// How a completion ended (see [`Client::complete_upload_checked`]).
#[derive(Debug)]
pub enum Completion {
    Done(Box<CompletedUpload>),
    /// Refused for a pack it named that was not what its id names: the message says which.
    SendAgain(String),
}

pub fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
}
