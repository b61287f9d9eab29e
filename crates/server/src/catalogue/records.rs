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
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    pub secret_sha256: String,
    pub read_only: bool,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An object row with what only the server needs (owner, blob key).
#[derive(Debug, Clone)]
pub struct ObjectRecord {
    pub id: String,
    pub owner_id: String,
    pub blob_key: String,
    pub meta: ObjectMeta,
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
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub overwrite: bool,
    pub blob_key: String,
    /// The store's own multipart id (S3); empty for the local folder.
    pub store_upload_id: String,
    pub state: String,
    pub expires_at: i64,
    /// Size and checksum of a blob finished ahead of its commit (FedML SDK uploads).
    pub blob_size: Option<u64>,
    pub blob_checksum: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PartRecord {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct GarbageRecord {
    pub service: String,
    pub blob_key: String,
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| CatalogueError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn key_from_row(row: &AnyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        secret_sha256: row.try_get("secret_sha256")?,
        read_only: row.try_get::<i64, _>("read_only")? != 0,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn kind_of(row: &AnyRow) -> Result<ObjectKind> {
    let kind: String = row.try_get("kind")?;
    ObjectKind::parse(&kind).ok_or_else(|| CatalogueError::Corrupt(format!("unknown object kind {kind:?}")))
}

pub(super) fn object_from_row(row: &AnyRow) -> Result<ObjectRecord> {
    let tags: String = row.try_get("tags")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(ObjectRecord {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        blob_key: row.try_get("blob_key")?,
        meta: ObjectMeta {
            data_name: row.try_get("name")?,
            description: row.try_get("description")?,
            kind: kind_of(row)?,
            service: row.try_get("service")?,
            size: row.try_get::<i64, _>("size")? as u64,
            checksum: row.try_get("checksum")?,
            tags: from_json(&tags, "tags")?,
            user_metadata: from_json(&metadata, "metadata")?,
            created_at: rfc3339(row.try_get("created_at")?),
            updated_at: rfc3339(row.try_get("updated_at")?),
            download_url: None,
        },
    })
}

pub(super) fn upload_from_row(row: &AnyRow) -> Result<UploadRecord> {
    let tags: String = row.try_get("tags")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(UploadRecord {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        kind: kind_of(row)?,
        service: row.try_get("service")?,
        declared_size: row.try_get::<Option<i64>, _>("declared_size")?.map(|s| s as u64),
        part_size: row.try_get::<i64, _>("part_size")? as u64,
        description: row.try_get("description")?,
        tags: from_json(&tags, "tags")?,
        metadata: from_json(&metadata, "metadata")?,
        overwrite: row.try_get::<i64, _>("overwrite")? != 0,
        blob_key: row.try_get("blob_key")?,
        store_upload_id: row.try_get("store_upload_id")?,
        state: row.try_get("state")?,
        expires_at: row.try_get("expires_at")?,
        blob_size: row.try_get::<Option<i64>, _>("blob_size")?.map(|s| s as u64),
        blob_checksum: row.try_get("blob_checksum")?,
    })
}
