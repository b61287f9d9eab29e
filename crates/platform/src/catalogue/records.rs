//! The catalogue's records and how they are read from rows.

use std::collections::BTreeMap;

use fedml_proto::{ObjectKind, ObjectMeta};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{CatalogueError, Result};
use crate::time::rfc3339;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// Sees every user, their keys and usage in the dashboard.
    pub admin: bool,
}

pub(super) fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        admin: row.try_get::<i64, _>("is_admin")? != 0,
    })
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    /// Whether the key's user is an administrator.
    pub user_admin: bool,
    pub secret_sha256: String,
    pub read_only: bool,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The account ids of the namespaces the key is limited to; `None`: not limited.
    pub namespaces: Option<Vec<String>>,
    /// The count of membership and organisation changes when the key was read (`team_state`).
    pub teams_generation: i64,
}

/// An object row with what only the server needs (owner, blob key).
#[derive(Debug, Clone)]
pub struct ObjectRecord {
    pub id: String,
    pub owner_id: String,
    /// The object's blob; for a packed file ([`ObjectRecord::content`]) a name for it that no
    /// blob has.
    pub blob_key: String,
    /// A packed file's packs and segments; `None` for an object stored as one blob, and in
    /// listings (which never read them: see [`ObjectRecord::packed`]).
    pub content: Option<StoredContent>,
    /// Whether it is a packed file (its content is in packs), read or not.
    pub packed: bool,
    /// `meta.updated_at` in Unix milliseconds (the dashboard's sort key).
    pub updated_ms: i64,
    /// What this version added to the store; `None` when it was stored before this was counted.
    pub added_bytes: Option<u64>,
    /// What the protocol that wrote it keeps beside its content (none for the native clients').
    pub attributes: Attributes,
    pub meta: ObjectMeta,
}

/// What a protocol keeps of an object beside its content (`objects.attributes`, JSON): its media
/// type, the MD5 an S3 ETag names (of the whole content, or with `parts` of the parts' MD5s, as
/// S3 makes a multipart upload's), and the SHA-256 an LFS pointer names. Objects the native
/// clients wrote have none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// On a session only: a multipart intake, whose parts arrive one by one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multipart: bool,
    /// The S3 checksums the client asked to be kept (`crc32`, `crc32c`, `crc64nvme`, `sha1`,
    /// `sha256`: base64, of the whole content), answered with the object as S3 answers them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
    /// The sizes of the parts of an object written in parts (S3 reads a part by its number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
}

impl Attributes {
    pub fn is_empty(&self) -> bool {
        *self == Attributes::default()
    }

    /// The column's value: `NULL` for none.
    pub(crate) fn column(&self) -> Option<String> {
        (!self.is_empty()).then(|| to_json(self))
    }

    pub(crate) fn from_column(row: &dyn Columns) -> Result<Attributes> {
        match row.opt_text("attributes")? {
            Some(text) => from_json(&text, "attributes"),
            None => Ok(Attributes::default()),
        }
    }
}

/// A packed file as the catalogue keeps it (`objects.content`): the keys of the packs it
/// reads and its segments in file order, each naming a pack by its index in `packs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredContent {
    pub packs: Vec<String>,
    pub segments: Vec<fedml_proto::content::Segment>,
}

#[derive(Debug, Clone)]
pub struct UploadRecord {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub kind: ObjectKind,
    pub service: String,
    pub declared_size: Option<u64>,
    pub part_size: u64,
    /// The description, tags and user metadata the new version gets; `None` where its client
    /// left one out: a commit that replaces a version then keeps that version's, a new name
    /// starts without.
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub overwrite: bool,
    pub blob_key: String,
    /// The store's own multipart id (S3); empty for the local folder.
    pub store_upload_id: String,
    /// The API key that opened the session (none for sessions recorded before keys were kept).
    pub key_id: Option<String>,
    pub state: UploadState,
    pub expires_at: i64,
    /// Size and checksum of a blob finished ahead of its commit (FedML SDK uploads).
    pub blob_size: Option<u64>,
    pub blob_checksum: Option<String>,
    /// What the session holds of its owner's quota while live, and the most it may store: the
    /// announced size (a file's exact size, a directory's upper bound), else all its parts can hold.
    pub reserved_bytes: u64,
    /// One blob, or packs.
    pub layout: fedml_proto::content::Layout,
    /// What a session the server takes bytes in for keeps until its commit (the media type
    /// given when an S3 multipart upload began).
    pub attributes: Attributes,
}

/// Where an upload session stands. Every change of state is a compare-and-set in the catalogue
/// (`UPDATE … WHERE state = <expected>`), so that of any number of requests racing on one
/// session (completions, aborts, part uploads, the collector, a key's revocation) exactly one
/// moves it on, and the others see what happened instead.
///
/// ```text
/// open ──claim──> completing ──commit──> committed
///   │                 │  └──blob done (FedML SDK)──> finished ──dataset record──> committed
///   └──abort / expiry / revocation / failure of the claimant──> aborted  (from any but committed)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Accepting parts.
    Open,
    /// One request has claimed the session and is finishing its blob; no part is accepted.
    Completing,
    /// The blob is finished and waits for the FedML SDK's dataset record to name it.
    Finished,
    /// The object is in the catalogue.
    Committed,
    /// Abandoned; its bytes are garbage.
    Aborted,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Open => "open",
            UploadState::Completing => "completing",
            UploadState::Finished => "finished",
            UploadState::Committed => "committed",
            UploadState::Aborted => "aborted",
        }
    }

    pub fn parse(text: &str) -> Option<UploadState> {
        [
            UploadState::Open,
            UploadState::Completing,
            UploadState::Finished,
            UploadState::Committed,
            UploadState::Aborted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether the session can still come to something (and so expires, and pins its bytes).
    pub fn is_live(self) -> bool {
        matches!(self, UploadState::Open | UploadState::Completing | UploadState::Finished)
    }
}

impl std::fmt::Display for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct PartRecord {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
}

/// What a garbage row hands to the collector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Garbage {
    /// One finished blob that no object points at any more (replaced or deleted).
    Blob(String),
    /// Whatever an ended upload session left, by its id: its staging file or multipart upload,
    /// and its blob if it was finished but never committed.
    Session(String),
    /// A pack that no object reads and no session pins any more, by its key: removed when due.
    Pack(String),
    /// A pack removed once already, removed again when every PUT URL issued for it has expired:
    /// a bucket's presigned PUT cannot be revoked, so a client replaying its own URL after the
    /// first removal would otherwise leave a blob that nothing references.
    PackAgain(String),
}

impl Garbage {
    /// How a session's garbage is written in the `garbage.blob_key` column (a blob key never
    /// holds a colon: it is `<hex>/<hex>`).
    const SESSION_PREFIX: &'static str = "upload:";
    const PACK_PREFIX: &'static str = "pack:";
    const PACK_AGAIN_PREFIX: &'static str = "pack-again:";

    /// The value of the `garbage.blob_key` column.
    pub fn column(&self) -> String {
        match self {
            Garbage::Blob(key) => key.clone(),
            Garbage::Session(upload_id) => format!("{}{upload_id}", Self::SESSION_PREFIX),
            Garbage::Pack(key) => format!("{}{key}", Self::PACK_PREFIX),
            Garbage::PackAgain(key) => format!("{}{key}", Self::PACK_AGAIN_PREFIX),
        }
    }

    pub fn from_column(value: &str) -> Garbage {
        if let Some(upload_id) = value.strip_prefix(Self::SESSION_PREFIX) {
            Garbage::Session(upload_id.to_string())
        } else if let Some(key) = value.strip_prefix(Self::PACK_PREFIX) {
            Garbage::Pack(key.to_string())
        } else if let Some(key) = value.strip_prefix(Self::PACK_AGAIN_PREFIX) {
            Garbage::PackAgain(key.to_string())
        } else {
            Garbage::Blob(value.to_string())
        }
    }

    /// The blob this item removes, when it names one by its key (a session's bytes are found
    /// through the session).
    pub fn blob_key(&self) -> Option<&str> {
        match self {
            Garbage::Blob(key) | Garbage::Pack(key) | Garbage::PackAgain(key) => Some(key),
            Garbage::Session(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GarbageRecord {
    pub service: String,
    pub item: Garbage,
}

pub(super) fn garbage_from_row(row: &dyn Columns) -> Result<GarbageRecord> {
    Ok(GarbageRecord { service: row.text("service")?, item: Garbage::from_column(&row.text("blob_key")?) })
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| CatalogueError::Corrupt(format!("{what}: {e}")))
}

/// A row of either driver (sqlx's for PostgreSQL and writes, SQLite's own for direct reads),
/// read by column name: one mapping per record type serves both.
pub(crate) trait Columns {
    fn text(&self, name: &str) -> Result<String>;
    fn opt_text(&self, name: &str) -> Result<Option<String>>;
    fn int(&self, name: &str) -> Result<i64>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>>;
}

impl Columns for AnyRow {
    fn text(&self, name: &str) -> Result<String> {
        Ok(self.try_get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.try_get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64> {
        Ok(self.try_get(name)?)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.try_get(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String> {
        Ok(self.get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64> {
        Ok(self.get(name)?)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.get(name)?)
    }
}

pub(super) fn key_from_row(row: &dyn Columns) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        user_name: row.text("user_name")?,
        user_admin: row.int("user_admin")? != 0,
        secret_sha256: row.text("secret_sha256")?,
        read_only: row.int("read_only")? != 0,
        label: row.text("label")?,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
        namespaces: row
            .opt_text("namespaces")?
            .map(|ids| ids.split(',').filter(|id| !id.is_empty()).map(str::to_string).collect()),
        teams_generation: row.opt_int("teams_generation")?.unwrap_or(-1),
    })
}

fn kind_of(row: &dyn Columns) -> Result<ObjectKind> {
    let kind: String = row.text("kind")?;
    ObjectKind::parse(&kind).ok_or_else(|| CatalogueError::Corrupt(format!("unknown object kind {kind:?}")))
}

pub(super) fn object_from_row(row: &dyn Columns) -> Result<ObjectRecord> {
    let content: Option<StoredContent> = match row.opt_text("content")? {
        Some(text) => Some(from_json(&text, "content")?),
        None => None,
    };
    let packed = content.is_some();
    object_with(row, content, packed)
}

/// An object row of a listing: its `packed` column, and no content (a listing never reads a
/// file's packs and segments, however many it has).
pub(super) fn listed_object_from_row(row: &dyn Columns) -> Result<ObjectRecord> {
    let packed = row.int("packed")? != 0;
    object_with(row, None, packed)
}

fn object_with(row: &dyn Columns, content: Option<StoredContent>, packed: bool) -> Result<ObjectRecord> {
    let tags: String = row.text("tags")?;
    let metadata: String = row.text("metadata")?;
    Ok(ObjectRecord {
        id: row.text("id")?,
        owner_id: row.text("owner_id")?,
        blob_key: row.text("blob_key")?,
        content,
        packed,
        updated_ms: row.int("updated_at")?,
        added_bytes: row.opt_int("added_bytes")?.map(|n| n.max(0) as u64),
        attributes: Attributes::from_column(row)?,
        meta: ObjectMeta {
            data_name: row.text("name")?,
            description: row.text("description")?,
            kind: kind_of(row)?,
            service: row.text("service")?,
            size: row.int("size")? as u64,
            checksum: row.text("checksum")?,
            tags: from_json(&tags, "tags")?,
            user_metadata: from_json(&metadata, "metadata")?,
            created_at: rfc3339(row.int("created_at")?),
            updated_at: rfc3339(row.int("updated_at")?),
            version: row.int("version")?.max(1) as u64,
            download_url: None,
        },
    })
}

impl ObjectRecord {
    /// The version as `fedml storage versions` lists it.
    pub fn version_info(&self, latest: bool) -> fedml_proto::ObjectVersion {
        fedml_proto::ObjectVersion {
            version: self.meta.version,
            latest,
            size: self.meta.size,
            checksum: self.meta.checksum.clone(),
            description: self.meta.description.clone(),
            updated_at: self.meta.updated_at.clone(),
            added_bytes: self.added_bytes,
        }
    }
}

pub(super) fn upload_from_row(row: &dyn Columns) -> Result<UploadRecord> {
    let tags: String = row.text("tags")?;
    let metadata: String = row.text("metadata")?;
    Ok(UploadRecord {
        id: row.text("id")?,
        owner_id: row.text("owner_id")?,
        name: row.text("name")?,
        kind: kind_of(row)?,
        service: row.text("service")?,
        declared_size: row.opt_int("declared_size")?.map(|s| s as u64),
        part_size: row.int("part_size")? as u64,
        description: if row.int("keep_description")? != 0 { None } else { Some(row.text("description")?) },
        tags: if row.int("keep_tags")? != 0 { None } else { Some(from_json(&tags, "tags")?) },
        metadata: if row.int("keep_metadata")? != 0 { None } else { Some(from_json(&metadata, "metadata")?) },
        overwrite: row.int("overwrite")? != 0,
        blob_key: row.text("blob_key")?,
        store_upload_id: row.text("store_upload_id")?,
        key_id: row.opt_text("key_id")?,
        state: {
            let state = row.text("state")?;
            UploadState::parse(&state)
                .ok_or_else(|| CatalogueError::Corrupt(format!("unknown upload state {state:?}")))?
        },
        expires_at: row.int("expires_at")?,
        blob_size: row.opt_int("blob_size")?.map(|s| s as u64),
        blob_checksum: row.opt_text("blob_checksum")?,
        reserved_bytes: row.int("reserved_bytes")? as u64,
        layout: match row.text("layout")?.as_str() {
            "packs" => fedml_proto::content::Layout::Packs,
            _ => fedml_proto::content::Layout::Blob,
        },
        attributes: Attributes::from_column(row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::Garbage;

    #[test]
    fn garbage_reads_back_as_written() {
        let items = [
            Garbage::Blob("0a1b/2c3d".into()),
            Garbage::Session("4e5f".into()),
            Garbage::Pack("0a1b/pk6a7b".into()),
            Garbage::PackAgain("0a1b/pk6a7b".into()),
        ];
        for item in items {
            assert_eq!(Garbage::from_column(&item.column()), item);
        }
        // Rows written before packs had kinds of their own are blobs.
        assert_eq!(Garbage::from_column("0a1b/pk6a7b"), Garbage::Blob("0a1b/pk6a7b".into()));
        assert_eq!(Garbage::Pack("k/p".into()).blob_key(), Some("k/p"));
        assert_eq!(Garbage::Session("s".into()).blob_key(), None);
    }
}
