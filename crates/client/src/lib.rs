//! The FedML storage Rust SDK.
//!
//! The functions at the top of this crate are the seed's calls with the seed's arguments —
//! [`fedml_login`], [`upload`], [`download`], [`delete`], [`get_storage_metadata`],
//! [`get_storage_user_defined_metadata`], [`list_storage_objects`] — each answering a
//! [`FedMLResponse`] of `code` (SUCCESS / FAILURE / ERROR), `message` and `data`. They block;
//! the `fedml` CLI and the Python package call exactly these (or their `*_with` forms, which take
//! every option), so each operation has one implementation.
//!
//! ```no_run
//! let response = fedml_client::upload("model.bin", None, "R2", None, Some("weights"), None, true, true, None);
//! if response.code == fedml_client::ResponseCode::Success {
//!     println!("stored at {}", response.data.unwrap_or_default());
//! }
//! ```

pub mod client;
pub mod config;
pub mod error;
pub mod pack;
pub mod place;
pub mod progress;
pub mod retry;
pub mod transfer;
pub mod unpack;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use fedml_proto::{CompletedUpload, EditObject, Identity, ObjectKind, ObjectMeta, ResponseCode};
pub use indicatif::ProgressBar;
pub use tokio_util::sync::CancellationToken;

use crate::client::{Client, ObjectRef};
use crate::error::{ClientError, Result};
use crate::progress::{DEFAULT_DOWNLOAD_DESC, DEFAULT_UPLOAD_DESC, ProgressOptions};
use crate::transfer::UploadRequest;

pub const DEFAULT_SERVICE: &str = "R2";

/// The answer of every call: what happened (`code`), in words (`message`), and the result.
#[derive(Debug, Clone, PartialEq)]
pub struct FedMLResponse<T> {
    pub code: ResponseCode,
    pub message: String,
    pub data: Option<T>,
}

impl<T> FedMLResponse<T> {
    fn from_result(result: Result<T>, success: impl FnOnce(&T) -> String) -> Self {
        match result {
            Ok(data) => FedMLResponse { code: ResponseCode::Success, message: success(&data), data: Some(data) },
            Err(e) => FedMLResponse { code: e.code(), message: e.message().to_string(), data: None },
        }
    }

    pub fn is_success(&self) -> bool {
        self.code == ResponseCode::Success
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> FedMLResponse<U> {
        FedMLResponse { code: self.code, message: self.message, data: self.data.map(f) }
    }
}

/// Which server and key a call uses; `None` means: environment, then the saved login.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub api_key: Option<String>,
    pub server: Option<String>,
    /// Parts or ranges in flight at once (default: 4 parts for an upload, 16 ranges for a download).
    pub parallel: Option<usize>,
    /// Cancels a transfer cleanly: no object stored, no file left behind.
    pub cancel: Option<CancellationToken>,
    /// The namespace every object call works in: a user's own (its user name) or an
    /// organisation's (`fedml org list`). `None` means the caller's own, as the seed's calls do.
    pub namespace: Option<String>,
}

impl Target {
    fn client(&self) -> Result<Client> {
        let server = config::resolve_server(self.server.as_deref())?;
        let key = config::resolve_api_key(self.api_key.as_deref())?;
        let mut client = Client::new(&server, &key)?;
        if let Some(namespace) = &self.namespace {
            check_namespace(namespace)?;
            client = client.in_namespace(namespace);
        }
        if let Some(p) = self.parallel {
            client.parallel = p.clamp(1, 64);
            client.download_parallel = client.parallel;
        }
        Ok(client)
    }

    fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone().unwrap_or_default()
    }
}

/// Refuses a namespace name no user or organisation can have, saying what to give instead.
pub fn check_namespace(namespace: &str) -> Result<()> {
    if namespace.is_empty() {
        return Err(ClientError::Failure(
            "the namespace is empty; name a user or organisation (`fedml org list` lists yours), or leave it out \
             for your own"
                .into(),
        ));
    }
    if namespace.chars().count() > 64 || namespace.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ClientError::Failure(format!(
            "namespace {namespace:?} is not a user or organisation name (1 to 64 characters without spaces); \
             `fedml org list` lists yours"
        )));
    }
    Ok(())
}

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 8))
                .thread_name("fedml-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ClientError::Error(format!("cannot start the I/O runtime: {e}")))
}

/// Runs one SDK operation to completion on the SDK's runtime.
pub fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    runtime()?.block_on(future)
}

// ---------------------------------------------------------------------- login

/// Checks `api_key` against the server and saves key and server URL (mode 0600) for later calls.
pub fn fedml_login(api_key: &str) -> FedMLResponse<Identity> {
    fedml_login_to(api_key, None)
}

/// [`fedml_login`] against a given server URL.
pub fn fedml_login_to(api_key: &str, server: Option<&str>) -> FedMLResponse<Identity> {
    let result = (|| {
        let key = api_key.trim();
        if key.is_empty() {
            return Err(ClientError::Failure("the API key is empty; give the key the server admin handed you".into()));
        }
        let server = config::resolve_server(server)?;
        let client = Client::new(&server, key)?;
        let identity = block_on(client.whoami())?;
        let mut saved = config::load().unwrap_or_default();
        saved.api_key = Some(key.to_string());
        saved.server_url = Some(server.clone());
        config::save(&saved)?;
        Ok((identity, server))
    })();
    FedMLResponse::from_result(result, |(id, server)| {
        let mut message = format!(
            "logged in to {server} as {}{}; storage services: {} (default {})",
            id.user,
            if id.read_only { " (read-only key)" } else { "" },
            id.services.join(", "),
            id.default_service
        );
        let orgs: Vec<String> =
            id.namespaces.iter().filter(|n| n.organisation).map(|n| format!("{} ({})", n.name, n.role)).collect();
        if !orgs.is_empty() {
            message.push_str(&format!("; organisations: {}", orgs.join(", ")));
        }
        if let Some(limited) = &id.key_namespaces {
            message.push_str(&format!("; this key is limited to {}", limited.join(", ")));
        }
        message
    })
    .map(|(id, _)| id)
}

// ---------------------------------------------------------------------- upload

/// Every option of an upload. `Default` gives the seed's defaults.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub target: Target,
    pub service: String,
    pub name: Option<String>,
    /// The description, user metadata and tags of the stored version. `None` gives none to a new
    /// name and, with `overwrite`, keeps those of the version it replaces; `Some` sets them
    /// (`Some("")`, `Some({})`, `Some(vec![])` clear them).
    pub description: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub tags: Option<Vec<String>>,
    pub overwrite: bool,
    pub show_progress: bool,
    pub out_progress_to_err: bool,
    pub progress_desc: Option<String>,
    /// Count progress into this (hidden) bar instead of drawing one.
    pub progress_bar: Option<ProgressBar>,
    /// Store a file as content-defined chunks in packs (the default): only the chunks the
    /// caller's store lacks are sent, and an interrupted upload run again sends only the rest.
    /// `false` stores it as one blob, as before the content store.
    pub dedup: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            target: Target::default(),
            service: DEFAULT_SERVICE.into(),
            name: None,
            description: None,
            metadata: None,
            tags: None,
            overwrite: false,
            show_progress: false,
            out_progress_to_err: true,
            progress_desc: None,
            progress_bar: None,
            dedup: true,
        }
    }
}

/// The seed's `upload`: stores a file or a directory; `data` is the URL of the stored object.
/// A `description` or `metadata` of `None` is not given (see [`UploadOptions`]).
#[allow(clippy::too_many_arguments)]
pub fn upload(
    data_path: impl AsRef<Path>,
    api_key: Option<&str>,
    service: &str,
    name: Option<&str>,
    description: Option<&str>,
    metadata: Option<BTreeMap<String, String>>,
    show_progress: bool,
    out_progress_to_err: bool,
    progress_desc: Option<&str>,
) -> FedMLResponse<String> {
    let options = UploadOptions {
        target: Target { api_key: api_key.map(str::to_string), ..Target::default() },
        service: service.to_string(),
        name: name.map(str::to_string),
        description: description.map(str::to_string),
        metadata,
        show_progress,
        out_progress_to_err,
        progress_desc: progress_desc.map(str::to_string),
        ..UploadOptions::default()
    };
    upload_with(data_path, &options).map(|done| done.url)
}

/// The default object name for a path: its last component (of the absolute path for `.`).
pub fn default_name(path: &Path) -> Result<String> {
    let named = path
        .file_name()
        .map(|n| n.to_os_string())
        .or_else(|| path.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_os_string())));
    let name = named.ok_or_else(|| {
        ClientError::Failure(format!("cannot take a name from {}; give one with name= / -n", path.display()))
    })?;
    name.into_string().map_err(|raw| {
        ClientError::Failure(format!("the file name {raw:?} is not valid UTF-8; give a name with name= / -n"))
    })
}

/// [`upload`] with every option; `data` holds the stored object's metadata and URL.
pub fn upload_with(data_path: impl AsRef<Path>, options: &UploadOptions) -> FedMLResponse<CompletedUpload> {
    let path = data_path.as_ref();
    let result = (|| {
        let name = match &options.name {
            Some(n) => n.clone(),
            None => default_name(path)?,
        };
        fedml_proto::rules::check_name(&name).map_err(ClientError::Failure)?;
        if let Some(description) = &options.description {
            fedml_proto::rules::check_description(description).map_err(ClientError::Failure)?;
        }
        if let Some(metadata) = &options.metadata {
            fedml_proto::rules::check_metadata(metadata).map_err(ClientError::Failure)?;
        }
        if let Some(tags) = &options.tags {
            fedml_proto::rules::check_tags(tags).map_err(ClientError::Failure)?;
        }
        if !path.exists() {
            return Err(ClientError::Failure(format!("{} does not exist; check the data path", path.display())));
        }
        let client = options.target.client()?;
        let progress = ProgressOptions {
            show: options.show_progress,
            to_stderr: options.out_progress_to_err,
            description: options.progress_desc.clone().unwrap_or_else(|| DEFAULT_UPLOAD_DESC.into()),
            external: options.progress_bar.clone(),
        };
        let request = UploadRequest {
            name,
            service: options.service.clone(),
            description: options.description.clone(),
            tags: options.tags.clone(),
            metadata: options.metadata.clone(),
            overwrite: options.overwrite,
            dedup: options.dedup,
        };
        let cancel = options.target.cancel_token();
        block_on(transfer::upload(&client, path, request, &progress, &cancel))
    })();
    FedMLResponse::from_result(result, |done| {
        let mut message =
            format!("uploaded {:?} ({} bytes) to {}", done.object.data_name, done.object.size, done.object.service);
        if let Some(moved) = &done.transfer {
            message.push_str(&format!(
                "; sent {} bytes, {} already stored{}",
                moved.sent_bytes,
                moved.stored_bytes,
                if moved.resumed { ", resumed an interrupted upload" } else { "" }
            ));
        }
        message
    })
}

// ---------------------------------------------------------------------- download

#[derive(Debug, Clone)]
pub struct DownloadOptions {
    pub target: Target,
    /// A configured service name; the data is read from the service it was stored in.
    pub service: Option<String>,
    /// Which version to download (`fedml storage versions` lists them); the latest with `None`.
    pub version: Option<u64>,
    /// The directory to download into (default: the current directory).
    pub dest_path: Option<PathBuf>,
    /// Replace whatever is at `dest_path/<last part of the name>` (a directory, a link, …).
    /// Without it only a regular file (for a file object) or an earlier download of the same
    /// directory object (for a directory object) is replaced; anything else is refused and left
    /// untouched.
    pub replace: bool,
    pub show_progress: bool,
    pub out_progress_to_err: bool,
    pub progress_desc: Option<String>,
    /// Count progress into this (hidden) bar instead of drawing one.
    pub progress_bar: Option<ProgressBar>,
}

impl DownloadOptions {
    /// The object these options download of `data_name`.
    pub(crate) fn object<'a>(&'a self, data_name: &'a str) -> ObjectRef<'a> {
        ObjectRef { name: data_name, service: self.service.as_deref(), version: self.version }
    }

    pub(crate) fn progress(&self) -> ProgressOptions {
        ProgressOptions {
            show: self.show_progress,
            to_stderr: self.out_progress_to_err,
            description: self.progress_desc.clone().unwrap_or_else(|| DEFAULT_DOWNLOAD_DESC.into()),
            external: self.progress_bar.clone(),
        }
    }
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            target: Target::default(),
            service: None,
            version: None,
            dest_path: None,
            replace: false,
            show_progress: true,
            out_progress_to_err: true,
            progress_desc: None,
            progress_bar: None,
        }
    }
}

/// The seed's `download`: `data` is the path of the downloaded file or directory.
pub fn download(
    data_name: &str,
    api_key: Option<&str>,
    service: &str,
    dest_path: Option<&Path>,
    show_progress: bool,
) -> FedMLResponse<PathBuf> {
    let options = DownloadOptions {
        target: Target { api_key: api_key.map(str::to_string), ..Target::default() },
        service: Some(service.to_string()),
        dest_path: dest_path.map(Path::to_path_buf),
        show_progress,
        ..DownloadOptions::default()
    };
    download_with(data_name, &options)
}

/// [`download`] with every option: a version, a progress bar of the caller's, replacing what is
/// in the way. `data` is the path of the downloaded file or directory.
pub fn download_with(data_name: &str, options: &DownloadOptions) -> FedMLResponse<PathBuf> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = options.target.client()?;
        let dest = options.dest_path.clone().unwrap_or_else(|| PathBuf::from("."));
        let progress = options.progress();
        let cancel = options.target.cancel_token();
        let path = block_on(transfer::download(
            &client,
            options.object(data_name),
            &dest,
            options.replace,
            &progress,
            &cancel,
        ))?;
        Ok(std::path::absolute(&path).unwrap_or(path))
    })();
    FedMLResponse::from_result(result, |p| format!("downloaded {data_name:?} to {}", p.display()))
}

// ---------------------------------------------------------------------- inside objects, versions

mod inside_api;
mod teams_api;
mod versions_api;

pub use inside_api::{
    DirectoryReader, FilePage, FilesQuery, ObjectEntry, download_files_with, list_object_files_page_with,
    list_object_files_with,
};
pub use teams_api::{
    AuditEntry, AuditPage, CreateKey, CreateShare, KeyInfo, Member, NamespaceInfo, NewKey, NewShare, OrgInfo, Role,
    S3Credentials, ShareInfo, audit_log, create_key, list_keys, namespaces, org_create, org_delete, org_list,
    org_members, org_remove_member, org_set_member, parse_duration, parse_role, s3_credentials, share, shares, unshare,
};
pub use versions_api::{
    Change, DeletedVersion, FileChange, ObjectVersion, VersionChanges, delete_version_with, diff_versions_with,
    list_versions_with,
};

// ---------------------------------------------------------------------- catalogue calls

/// The seed's `delete`: `data` is `true` once the object is gone.
pub fn delete(data_name: &str, service: &str, api_key: Option<&str>) -> FedMLResponse<bool> {
    let target = Target { api_key: api_key.map(str::to_string), ..Target::default() };
    delete_with(data_name, Some(service), &target)
}

/// [`delete`] with every option: the name goes with all its versions
/// ([`delete_version_with`] removes one).
pub fn delete_with(data_name: &str, service: Option<&str>, target: &Target) -> FedMLResponse<bool> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        block_on(client.delete(data_name, service))
    })();
    FedMLResponse::from_result(result, |_| format!("deleted {data_name:?}"))
}

/// The seed's `get_storage_metadata`.
pub fn get_storage_metadata(data_name: &str, api_key: Option<&str>) -> FedMLResponse<ObjectMeta> {
    let target = Target { api_key: api_key.map(str::to_string), ..Target::default() };
    get_storage_metadata_with(data_name, None, &target)
}

/// [`get_storage_metadata`] of version `version` (the latest with `None`).
pub fn get_storage_metadata_with(data_name: &str, version: Option<u64>, target: &Target) -> FedMLResponse<ObjectMeta> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        block_on(client.object(ObjectRef { name: data_name, service: None, version }))
    })();
    FedMLResponse::from_result(result, |m| format!("metadata of {data_name:?} (version {})", m.version))
}

/// The seed's `get_storage_user_defined_metadata`: the string map given at upload.
pub fn get_storage_user_defined_metadata(
    data_name: &str,
    api_key: Option<&str>,
) -> FedMLResponse<BTreeMap<String, String>> {
    let target = Target { api_key: api_key.map(str::to_string), ..Target::default() };
    get_storage_user_defined_metadata_with(data_name, None, &target)
}

/// [`get_storage_user_defined_metadata`] of version `version` (the latest with `None`).
pub fn get_storage_user_defined_metadata_with(
    data_name: &str,
    version: Option<u64>,
    target: &Target,
) -> FedMLResponse<BTreeMap<String, String>> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        block_on(client.user_metadata(ObjectRef { name: data_name, service: None, version }))
    })();
    FedMLResponse::from_result(result, |_| format!("user-defined metadata of {data_name:?}"))
}

/// Changes the description, tags or user-defined metadata of stored data; what is `None` stays
/// as it is (the bytes never change). `data` is the object's metadata as it now is.
pub fn update_storage_metadata(
    data_name: &str,
    description: Option<&str>,
    tags: Option<Vec<String>>,
    user_metadata: Option<BTreeMap<String, String>>,
    api_key: Option<&str>,
) -> FedMLResponse<ObjectMeta> {
    let target = Target { api_key: api_key.map(str::to_string), ..Target::default() };
    let edit = EditObject { description: description.map(str::to_string), tags, user_metadata };
    update_storage_metadata_with(data_name, &edit, &target)
}

/// [`update_storage_metadata`] with every option.
pub fn update_storage_metadata_with(data_name: &str, edit: &EditObject, target: &Target) -> FedMLResponse<ObjectMeta> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        if let Some(description) = &edit.description {
            fedml_proto::rules::check_description(description).map_err(ClientError::Failure)?;
        }
        if let Some(tags) = &edit.tags {
            fedml_proto::rules::check_tags(tags).map_err(ClientError::Failure)?;
        }
        if let Some(metadata) = &edit.user_metadata {
            fedml_proto::rules::check_metadata(metadata).map_err(ClientError::Failure)?;
        }
        let client = target.client()?;
        block_on(client.edit(data_name, edit))
    })();
    FedMLResponse::from_result(result, |_| format!("updated the metadata of {data_name:?}"))
}

/// The seed's `list_storage_objects`: every object of the caller, in name order.
pub fn list_storage_objects(api_key: Option<&str>) -> FedMLResponse<Vec<ObjectMeta>> {
    let target = Target { api_key: api_key.map(str::to_string), ..Target::default() };
    list_storage_objects_with(&target)
}

/// What the objects of the caller's namespace (or of [`Target::namespace`]) hold
/// (`logical_bytes`) and what the server's stores really hold for them (`stored_bytes`: data
/// shared between objects, or between versions, counted once).
pub fn storage_usage_with(target: &Target) -> FedMLResponse<fedml_proto::StorageUsage> {
    let result = (|| {
        let client = target.client()?;
        block_on(client.storage_usage())
    })();
    FedMLResponse::from_result(result, |u| {
        format!("{} objects, {} bytes, {} bytes stored", u.objects, u.logical_bytes, u.stored_bytes)
    })
}

pub fn list_storage_objects_with(target: &Target) -> FedMLResponse<Vec<ObjectMeta>> {
    let result = (|| {
        let client = target.client()?;
        block_on(client.list_all())
    })();
    FedMLResponse::from_result(result, |list| format!("{} objects", list.len()))
}
