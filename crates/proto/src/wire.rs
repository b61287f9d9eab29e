//! The JSON shapes that cross the wire between clients and the server's native API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::content::{ContentTicket, FileContent, Layout, TransferStats};

/// The outcome class of every call, as the seed defines it.
///
/// `Failure`: the request was understood and refused (not found, name taken, bad input, no
/// permission). `Error`: something broke (I/O, store unavailable, network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResponseCode {
    Success,
    Failure,
    Error,
}

impl ResponseCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseCode::Success => "SUCCESS",
            ResponseCode::Failure => "FAILURE",
            ResponseCode::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every answer of the native API: `{"code": …, "message": …, "data": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: ResponseCode,
    pub message: String,
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    pub fn success(message: impl Into<String>, data: T) -> Self {
        Envelope { code: ResponseCode::Success, message: message.into(), data: Some(data) }
    }
}

/// What a stored object is: one file, or a directory packed as a ZIP archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    File,
    Directory,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::File => "file",
            ObjectKind::Directory => "directory",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(ObjectKind::File),
            "directory" => Some(ObjectKind::Directory),
            _ => None,
        }
    }
}

/// The catalogue entry of one stored object, as every client shows it.
///
/// Field names follow the seed's examples (`dataName`, `createdAt`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub data_name: String,
    pub description: String,
    pub kind: ObjectKind,
    pub service: String,
    /// Size in bytes of the stored content (for a directory: of its archive).
    pub size: u64,
    /// `blake3:<64 hex digits>` of the stored content.
    pub checksum: String,
    pub tags: Vec<String>,
    pub user_metadata: BTreeMap<String, String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC: when this version was stored (or its metadata last edited).
    pub updated_at: String,
    /// Which version of the name this is: 1 for the first upload, one more for each
    /// overwrite (a number is never given twice to one name).
    #[serde(default = "first_version")]
    pub version: u64,
    /// A short-lived signed URL that reads the content (in metadata and list answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

fn first_version() -> u64 {
    1
}

/// One version of an object, as `GET /api/v1/objects/{name}/versions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub version: u64,
    /// Whether it is the version every call without a version reads.
    pub latest: bool,
    pub size: u64,
    /// `blake3:<64 hex digits>`.
    pub checksum: String,
    pub description: String,
    /// RFC 3339, UTC: when it was stored.
    pub updated_at: String,
    /// The bytes this version added to the store (its new chunks, or its whole blob); `None`
    /// for versions stored before the server counted them.
    pub added_bytes: Option<u64>,
}

/// `GET /api/v1/objects/{name}/diff?from=A&to=B`: the two versions and the bytes of their
/// stored content they share (counted once, whatever the order of the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDiff {
    pub from: ObjectVersion,
    pub to: ObjectVersion,
    pub shared_bytes: u64,
}

/// One entry of a directory object: a file or a folder, its path inside the object (`/`
/// separated, without the object's own top folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub path: String,
    pub kind: ObjectKind,
    pub size: u64,
    /// The CRC-32 the archive records for a file (8 hex digits), which a fetched file is
    /// checked against.
    pub crc32: String,
}

/// `GET /api/v1/objects/{name}/files`: a page of the entries of a directory object, in path
/// order; `next` (the last path of a full page) asks for the next page as `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePage {
    pub entries: Vec<ObjectEntry>,
    pub next: Option<String>,
}

/// `GET /api/v1/objects/{name}/file?path=P`: how to read one file of a directory object in
/// place: bytes `offset .. offset + length` of `url` (a signed URL of the object's archive,
/// which honours `Range`), stored as they are (`method` 0) or deflated (8; `length` is then the
/// deflated size, and `entry.size` the file's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRead {
    pub entry: ObjectEntry,
    pub url: String,
    pub offset: u64,
    pub length: u64,
    pub method: u16,
    /// Unix seconds when `url` stops working.
    pub expires_at: i64,
}

/// `DELETE /api/v1/objects/{name}?version=N`: what removing one version did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedVersion {
    /// The version removed.
    pub version: u64,
    /// When the latest was removed: the earlier version that is the latest now.
    pub latest: Option<u64>,
    /// It was the name's only version, and the name is gone with it.
    pub name_deleted: bool,
}

/// `POST /api/v1/uploads`: open an upload session.
///
/// `description`, `tags` and `metadata` are each set when given (`""`, `[]`, `{}` clear one) and
/// kept when left out (or `null`): a new version then carries those of the version it replaces,
/// as the commit finds it; a new name starts without. Clients before this rule always sent all
/// three, and are taken at their word.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateUpload {
    pub name: String,
    pub service: String,
    pub kind: ObjectKind,
    /// Total size when known in advance (files); `None` for a directory packed while streaming.
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub overwrite: bool,
    /// `packs` asks to store a file as chunks in packs (only new chunks travel); the server
    /// answers the layout it grants in [`UploadSession::layout`].
    #[serde(default, skip_serializing_if = "Layout::is_blob")]
    pub layout: Layout,
    /// The namespace to store into; the caller's own when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The answer to [`CreateUpload`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadSession {
    pub upload_id: String,
    /// Every part but the last has exactly this many bytes; a power of two, at least 8 MiB.
    pub part_size: u64,
    pub max_parts: u32,
    /// Unix seconds after which the session's URLs stop working.
    pub expires_at: i64,
    /// How the session stores the bytes: parts of one blob, or packs.
    #[serde(default)]
    pub layout: Layout,
}

/// `POST /api/v1/uploads/{id}/parts`: ask for signed URLs of some part numbers (1-based).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartUrlsRequest {
    pub first: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
}

/// One uploaded part as the client saw it acknowledged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedPart {
    pub part_number: u32,
    /// The `ETag` the store answered for the part, verbatim.
    pub etag: String,
}

/// `POST /api/v1/uploads/{id}/complete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompleteUpload {
    pub parts: Vec<CompletedPart>,
    pub size: u64,
    /// `blake3:<hex>` the client computed while reading the data.
    pub checksum: String,
    /// A packed upload's packs and segments (its `parts` are then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<FileContent>,
}

/// The answer to [`CompleteUpload`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedUpload {
    pub object: ObjectMeta,
    /// Where the object's catalogue entry can be read.
    pub url: String,
    /// What the upload moved (filled in by the client that made it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferStats>,
}

/// `GET /api/v1/objects/{name}/download`: a short-lived signed URL for the content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadTicket {
    pub object: ObjectMeta,
    /// Reads the whole content (for a packed file, assembled by the server).
    pub url: String,
    pub expires_at: i64,
    /// A packed file's packs and segments, read straight from the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentTicket>,
}

/// `GET /api/v1/whoami`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub user: String,
    pub key_id: String,
    pub read_only: bool,
    pub services: Vec<String>,
    pub default_service: String,
    /// The namespaces the caller may use (its own first), with its role in each.
    #[serde(default)]
    pub namespaces: Vec<crate::NamespaceInfo>,
    /// The namespaces this key is limited to; `None` when it is not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_namespaces: Option<Vec<String>>,
}

/// `GET /api/v1/s3-credentials`: the S3 access key of the API key in use, with exactly its rights
/// (its namespaces, read-only or not); it stops working when the API key is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The URL of the server's S3 endpoint (path-style requests), as its operator configured it.
    pub endpoint_url: String,
    /// The region to sign requests for.
    pub region: String,
    /// A bucket name is a namespace's name (the caller's own, or an organisation's).
    pub buckets: Vec<String>,
}

/// `GET /api/v1/objects` answer page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectPage {
    pub objects: Vec<ObjectMeta>,
    /// Pass as `after` to read the next page; `None` on the last page.
    pub next: Option<String>,
    /// How many objects match in all; on the first page (asked without `after`) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `PATCH /api/v1/objects/{name}`: change an object's description, tags or user metadata
/// (its bytes stay as they are). A field left out stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<BTreeMap<String, String>>,
}

/// An API key as its owner (or an administrator) sees it: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub user: String,
    pub label: String,
    pub read_only: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; `None` while the key works.
    pub revoked_at: Option<String>,
    /// The namespaces the key is limited to; `None` when it is not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
}

/// `POST /api/v1/keys`: mint a key for the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub read_only: bool,
    /// Limit the key to these namespaces (each one the caller may use); every namespace the
    /// caller may use when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
}

/// The answer to [`CreateKey`]: the only time the whole key is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewKey {
    pub key: KeyInfo,
    pub api_key: String,
}

/// `POST /api/v1/session`: exchange an API key for a dashboard session (an HttpOnly cookie).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub api_key: String,
}

/// The signed-in dashboard session: who it is, and the token its state-changing requests carry
/// in `X-CSRF-Token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: String,
    pub key_id: String,
    pub read_only: bool,
    pub admin: bool,
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub services: Vec<String>,
    pub default_service: String,
}

/// One user as an administrator sees them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub admin: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub objects: u64,
    pub stored_bytes: u64,
    pub active_keys: u64,
}

/// `GET /api/v1/usage` (the caller) and `GET /api/v1/admin/usage` (every user): the bytes of the
/// objects (`logical_bytes`, what downloads give) and the bytes the stores really hold for them
/// (`stored_bytes`: each blob, and each pack once however many objects share it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageUsage {
    /// The namespace (a user's own, or an organisation's).
    pub user: String,
    pub objects: u64,
    pub logical_bytes: u64,
    pub stored_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_leaves_out_what_it_keeps_and_sends_what_it_sets() {
        let read = |json: serde_json::Value| serde_json::from_value::<CreateUpload>(json).expect("a CreateUpload");
        let base = serde_json::json!({"name": "n", "service": "R2", "kind": "file", "size": 1});
        // Left out, or null: kept.
        let kept = read(base.clone());
        assert_eq!((kept.description, kept.tags, kept.metadata), (None, None, None));
        let mut nulls = base.clone();
        for field in ["description", "tags", "metadata"] {
            nulls[field] = serde_json::Value::Null;
        }
        let kept = read(nulls);
        assert_eq!((kept.description, kept.tags, kept.metadata), (None, None, None));
        // Given, even empty (what every client before this rule sent): set.
        let mut empty = base;
        empty["description"] = "".into();
        empty["tags"] = serde_json::json!([]);
        empty["metadata"] = serde_json::json!({});
        let set = read(empty);
        assert_eq!(set.description.as_deref(), Some(""));
        assert_eq!(set.tags, Some(vec![]));
        assert_eq!(set.metadata, Some(BTreeMap::new()));
        // A client leaves out what it was not given.
        let sent = serde_json::to_value(CreateUpload { description: None, tags: None, metadata: None, ..kept })
            .expect("serialise");
        let fields: Vec<&str> = sent.as_object().expect("an object").keys().map(String::as_str).collect();
        assert!(!fields.iter().any(|f| ["description", "tags", "metadata"].contains(f)), "{fields:?}");
        assert!(serde_json::to_value(set).expect("serialise")["tags"] == serde_json::json!([]));
    }
}
