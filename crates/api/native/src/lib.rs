//! The native JSON API (`/api/v1/…`) that the `fedml` CLI, the Rust SDK, the Python package and
//! the dashboard speak, and its OpenAPI document ([`openapi`]).
//!
//! Architecture invariant: routes never touch SQL or files directly; each handler authenticates
//! (the common [`Caller`] extractor), parses its body once, calls one [`fedml_platform::Platform`] operation and
//! wraps its answer in the `{code, message, data}` envelope. Errors become a response in exactly
//! one place, the common [`ApiError`].

pub mod openapi;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fedml_proto::content::{KnownPack, KnownRequest, PackTicket, PacksRequest};
use fedml_proto::{AuditPage, CreateOrg, CreateShare, Member, NamespaceInfo, NewShare, OrgInfo, SetMember, ShareInfo};
use fedml_proto::{
    CompleteUpload, CompletedUpload, CreateKey, CreateUpload, DeletedVersion, DownloadTicket, EditObject, FilePage,
    FileRead, Identity, KeyInfo, NewKey, ObjectMeta, ObjectPage, ObjectVersion, PartUrl, PartUrlsRequest,
    S3Credentials, StorageUsage, UploadSession, UserInfo, VersionDiff,
};
use serde::Deserialize;

use fedml_api_common::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, Namespace, Reply};
use fedml_platform::catalogue::VersionRemoved;
use fedml_platform::operations::{FilesRequest, ListRequest};

/// The native API's routes, over the platform the server gives as state.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(handle_health))
        .route("/api/v1/openapi.json", get(openapi::handle_openapi))
        .route("/api/v1/whoami", get(handle_whoami))
        .route("/api/v1/s3-credentials", get(handle_s3_credentials))
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
        .route("/api/v1/namespaces", get(handle_namespaces))
        .route("/api/v1/orgs", get(handle_list_orgs).post(handle_create_org))
        .route("/api/v1/orgs/{org}", axum::routing::delete(handle_delete_org))
        .route("/api/v1/orgs/{org}/members", get(handle_members))
        .route("/api/v1/orgs/{org}/members/{user}", axum::routing::put(handle_set_member).delete(handle_remove_member))
        .route("/api/v1/shares", get(handle_list_shares).post(handle_create_share))
        .route("/api/v1/shares/{id}", axum::routing::delete(handle_unshare))
        .route("/api/v1/log", get(handle_audit_log))
}

// ------------------------------------------------------------------ native API

async fn handle_health() -> Reply<&'static str> {
    Reply("ok".into(), "ok")
}

async fn handle_whoami(State(p): State<AppState>, caller: Caller) -> ApiResult<Identity> {
    Ok(Reply(format!("authenticated as {}", caller.user_name), p.whoami(&caller).await?))
}

async fn handle_s3_credentials(State(p): State<AppState>, caller: Caller) -> ApiResult<S3Credentials> {
    let credentials = p.s3_credentials(&caller).await?;
    Ok(Reply(format!("the S3 credentials of API key {}", caller.key_id), credentials))
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
    ns: Namespace,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ObjectPage> {
    let request = ListRequest {
        after: q.after.as_deref(),
        limit: q.limit,
        query: q.q.as_deref(),
        sort: q.sort.as_deref(),
        descending: q.order == Some(Order::Desc),
    };
    let page = p.list(&caller, ns.as_deref(), &request).await?;
    Ok(Reply(format!("{} objects", page.objects.len()), page))
}

async fn handle_edit_object(
    State(p): State<AppState>,
    caller: Caller,
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiJson(edit): ApiJson<EditObject>,
) -> ApiResult<ObjectMeta> {
    let object = p.edit_object(&caller, ns.as_deref(), &name, edit).await?;
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
    let key = p.create_key(&caller, &body.label, body.read_only, body.namespaces.as_deref()).await?;
    Ok(Reply("API key created; it is shown only now, keep it safe".into(), key))
}

async fn handle_revoke_key(State(p): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<bool> {
    let revoked = p.revoke_key(&caller, &id).await?;
    let message = if revoked { "API key revoked" } else { "the API key was already revoked" };
    Ok(Reply(message.into(), revoked))
}

async fn handle_usage(State(p): State<AppState>, caller: Caller, ns: Namespace) -> ApiResult<StorageUsage> {
    let usage = p.storage_usage(&caller, ns.as_deref()).await?;
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
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<ObjectMeta> {
    Ok(Reply("metadata".into(), p.object(&caller, ns.as_deref(), &name, q.version).await?))
}

async fn handle_get_user_metadata(
    State(p): State<AppState>,
    caller: Caller,
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<BTreeMap<String, String>> {
    Ok(Reply("user-defined metadata".into(), p.user_metadata(&caller, ns.as_deref(), &name, q.version).await?))
}

#[derive(Deserialize)]
struct ObjectQuery {
    service: Option<String>,
    version: Option<u64>,
}

async fn handle_download(
    State(p): State<AppState>,
    caller: Caller,
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ObjectQuery>,
) -> ApiResult<DownloadTicket> {
    Ok(Reply("download URL".into(), p.download(&caller, ns.as_deref(), &name, q.service.as_deref(), q.version).await?))
}

/// Without `version`, the name goes with all its versions (`data`: `true`); with it, that one
/// version (`data`: a [`DeletedVersion`]).
async fn handle_delete_object(
    State(p): State<AppState>,
    caller: Caller,
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ObjectQuery>,
) -> Result<Response, ApiError> {
    let Some(version) = q.version else {
        let deleted = p.delete(&caller, ns.as_deref(), &name, q.service.as_deref()).await?;
        return Ok(Reply(format!("deleted {name:?}"), deleted).into_response());
    };
    let removed = p.delete_version(&caller, ns.as_deref(), &name, q.service.as_deref(), version).await?;
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
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Vec<ObjectVersion>> {
    let versions = p.versions(&caller, ns.as_deref(), &name).await?;
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
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<VersionDiff> {
    let diff = p.diff(&caller, ns.as_deref(), &name, q.from, q.to).await?;
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
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<FilePage> {
    let request = FilesRequest {
        path: q.path.as_deref().unwrap_or(""),
        recursive: q.recursive.unwrap_or(false),
        after: q.after.as_deref(),
        limit: q.limit,
    };
    let page = p.files(&caller, ns.as_deref(), &name, q.version, &request).await?;
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
    ns: Namespace,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> ApiResult<FileRead> {
    let read = p.file(&caller, ns.as_deref(), &name, q.version, &q.path).await?;
    Ok(Reply(format!("bytes {} to {} of the URL", read.offset, read.offset + read.length), read))
}

// ------------------------------------------------------------------ teams

async fn handle_namespaces(State(p): State<AppState>, caller: Caller) -> ApiResult<Vec<NamespaceInfo>> {
    let namespaces = p.namespaces(&caller).await?;
    Ok(Reply(format!("{} namespaces", namespaces.len()), namespaces))
}

async fn handle_list_orgs(State(p): State<AppState>, caller: Caller) -> ApiResult<Vec<OrgInfo>> {
    let orgs = p.orgs(&caller).await?;
    Ok(Reply(format!("{} organisations", orgs.len()), orgs))
}

async fn handle_create_org(
    State(p): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateOrg>,
) -> ApiResult<OrgInfo> {
    let org = p.create_org(&caller, &body).await?;
    Ok(Reply(format!("created organisation {:?}; you are its admin", org.name), org))
}

#[derive(Deserialize)]
struct ForceQuery {
    force: Option<bool>,
}

async fn handle_delete_org(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiQuery(q): ApiQuery<ForceQuery>,
) -> ApiResult<bool> {
    let deleted = p.delete_org(&caller, &org, q.force.unwrap_or(false)).await?;
    Ok(Reply(format!("deleted organisation {org:?}"), deleted))
}

async fn handle_members(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> ApiResult<Vec<Member>> {
    let members = p.members(&caller, &org).await?;
    Ok(Reply(format!("{} members of {org:?}", members.len()), members))
}

async fn handle_set_member(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetMember>,
) -> ApiResult<Member> {
    let member = p.set_member(&caller, &org, &user, body.role).await?;
    Ok(Reply(format!("{user:?} is a {} of {org:?}", member.role), member))
}

async fn handle_remove_member(
    State(p): State<AppState>,
    caller: Caller,
    ApiPath((org, user)): ApiPath<(String, String)>,
) -> ApiResult<bool> {
    let removed = p.remove_member(&caller, &org, &user).await?;
    let message = if removed {
        format!("removed {user:?} from {org:?}")
    } else {
        format!("{user:?} was not a member of {org:?}")
    };
    Ok(Reply(message, removed))
}

async fn handle_create_share(
    State(p): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateShare>,
) -> ApiResult<NewShare> {
    let share = p.share(&caller, &body).await?;
    Ok(Reply(format!("link to {:?} until {}; it is shown only now", share.share.name, share.share.expires_at), share))
}

async fn handle_list_shares(State(p): State<AppState>, caller: Caller, ns: Namespace) -> ApiResult<Vec<ShareInfo>> {
    let shares = p.shares(&caller, ns.as_deref()).await?;
    Ok(Reply(format!("{} live links", shares.len()), shares))
}

async fn handle_unshare(State(p): State<AppState>, caller: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<bool> {
    let ended = p.unshare(&caller, &id).await?;
    let message = if ended { format!("link {id} ended") } else { format!("link {id} had already ended") };
    Ok(Reply(message, ended))
}

#[derive(Deserialize)]
struct LogQuery {
    before: Option<String>,
    limit: Option<u32>,
}

async fn handle_audit_log(
    State(p): State<AppState>,
    caller: Caller,
    ns: Namespace,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<AuditPage> {
    let page = p.audit_log(&caller, ns.as_deref(), q.before.as_deref(), q.limit).await?;
    Ok(Reply(format!("{} audit lines", page.entries.len()), page))
}
