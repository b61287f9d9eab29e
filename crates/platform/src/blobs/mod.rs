//! Blob stores: where the bytes live. Blobs are immutable and written once, under a fresh key
//! per upload (`<owner>/<upload-id>`); the catalogue decides which blob an object name means.
//!
//! Each backend is one variant of [`BlobStore`] and one module: `local` (a folder; the server
//! serves its own HMAC-signed URLs and assembles parts in place) and `s3` (any S3-compatible
//! store — AWS S3, Cloudflare R2, MinIO, Garage — through presigned URLs, so bytes go straight
//! between client and bucket), `gcs` (Google Cloud Storage: parts as objects of their own,
//! composed at completion) and `azure` (Azure Blob Storage: blocks staged on a per-session blob,
//! copied at completion); `cloud` holds what those two share, `objects` what the stores reached
//! through `object_store` do alike. Contract of every backend: a blob appears whole or not at all,
//! and deleting a missing blob is not an error.

mod azure;
mod cloud;
mod gcs;
mod inventory;
mod local;
mod objects;
mod read;
mod s3;
mod spec;
mod verify;

use std::io;

use fedml_proto::CompletedPart;

pub use azure::{AzureSpec, AzureStore};
pub use gcs::{GcsSpec, GcsStore};
pub use inventory::{StoredBlob, StoredPlace};
pub use local::{LocalStore, PartSlot};
pub use read::BlobFile;
pub use s3::{S3Spec, S3Store};
pub use spec::{OpenError, Opening, ServiceSpec, check_service_name, open_stores};
pub use verify::{Checked, check_pack_file, checked_index};

use crate::catalogue::UploadRecord;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Rejected(String),
    /// The upload is in a step that excludes this one right now (a part while its completion
    /// runs, a completion while parts are being written).
    #[error("{0}")]
    Busy(String),
    #[error("the upload body ended early or broke off: {0}")]
    Body(String),
    #[error("blob store I/O: {0}")]
    Io(#[from] io::Error),
    /// Stored bytes that are not what their id names (a pack failed its check while read).
    #[error("{0}")]
    Damaged(String),
    #[error("object store: {0}")]
    Store(String),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound,
            other => BlobError::Store(other.to_string()),
        }
    }
}

/// What keeps parts out of a session's bytes while its completion finishes them: the local
/// folder's exclusive lock on the staging file. An S3 bucket needs none: it only assembles the
/// parts the completion lists, by their ETags, and refuses parts once the upload is complete.
/// Nor do GCS and Azure: the object's blob is made by the server from the parts, never written
/// through a URL a client holds.
pub enum Seal {
    Local(local::Sealed),
    Remote,
}

/// One configured store. A service name maps to one of these.
#[derive(Clone)]
pub enum BlobStore {
    Local(LocalStore),
    S3(S3Store),
    Gcs(GcsStore),
    Azure(AzureStore),
}

impl BlobStore {
    /// What the store is, for the start-up log (never a credential).
    pub fn describe(&self) -> String {
        match self {
            BlobStore::Local(local) => format!("local folder {}", local.root().display()),
            BlobStore::S3(s3) => s3.describe(),
            BlobStore::Gcs(gcs) => gcs.describe(),
            BlobStore::Azure(azure) => azure.describe(),
        }
    }

    /// Whether the store received each part itself (and so can vouch for numbers and sizes).
    pub fn records_parts(&self) -> bool {
        matches!(self, BlobStore::Local(_))
    }

    /// Whether ending a session stops its part URLs at once: the local folder checks the session
    /// on every part, an S3 multipart upload refuses parts once aborted. A GCS or Azure signed
    /// URL works until it expires, so what it creates after an abort is swept once more then.
    pub fn revokes_part_urls(&self) -> bool {
        matches!(self, BlobStore::Local(_) | BlobStore::S3(_))
    }

    /// Whether a pack's PUT URL stops working once its catalogue row is gone: the local folder's
    /// does (the server receives the PUT and checks the row); a bucket's presigned PUT works
    /// until it expires.
    pub fn revokes_pack_urls(&self) -> bool {
        matches!(self, BlobStore::Local(_))
    }

    /// Whether the store gives each upload an id of its own (which the session record must then
    /// hold): S3's multipart uploads do; a local staging file is named after the session. A crash
    /// between starting such an upload and recording it leaves an upload without parts, which
    /// the bucket's lifecycle rule for incomplete multipart uploads removes.
    pub fn names_its_uploads(&self) -> bool {
        matches!(self, BlobStore::S3(_))
    }

    /// Prepares a multipart upload; returns the store's own upload id (empty when none).
    pub async fn begin_upload(&self, upload: &UploadRecord) -> Result<String, BlobError> {
        match self {
            BlobStore::Local(local) => local.begin_upload(upload).await.map(|()| String::new()),
            BlobStore::S3(s3) => s3.begin_upload(upload).await,
            // Nothing exists in the store until the first part arrives.
            BlobStore::Gcs(_) | BlobStore::Azure(_) => Ok(String::new()),
        }
    }

    /// A URL that accepts part `part_number` (1-based) of `upload` until `expires` (Unix seconds).
    pub async fn part_url(
        &self,
        service: &str,
        upload: &UploadRecord,
        part_number: u32,
        expires: i64,
    ) -> Result<String, BlobError> {
        match self {
            BlobStore::Local(local) => Ok(local.part_url(service, &upload.id, part_number, expires)),
            BlobStore::S3(s3) => s3.part_url(upload, part_number, expires).await,
            BlobStore::Gcs(gcs) => gcs.part_url(upload, part_number, expires).await,
            BlobStore::Azure(azure) => azure.part_url(upload, part_number, expires).await,
        }
    }

    /// Seals the session's bytes for its completion (see [`Seal`]); [`BlobError::Busy`] while
    /// parts are still being written, [`BlobError::NotFound`] when the bytes are gone.
    pub async fn seal(&self, upload: &UploadRecord) -> Result<Seal, BlobError> {
        match self {
            BlobStore::Local(local) => local.seal(upload).await.map(Seal::Local),
            BlobStore::S3(_) | BlobStore::Gcs(_) | BlobStore::Azure(_) => Ok(Seal::Remote),
        }
    }

    /// Makes the uploaded parts the blob `upload.blob_key`; returns its size in bytes. `total`
    /// is what the store recorded receiving, where it records parts.
    pub async fn finish_upload(
        &self,
        upload: &UploadRecord,
        total: Option<u64>,
        parts: &[CompletedPart],
        seal: Seal,
    ) -> Result<u64, BlobError> {
        match (self, seal) {
            (BlobStore::Local(local), Seal::Local(sealed)) => {
                let total = total.ok_or_else(|| BlobError::Rejected("the received parts are not known".into()))?;
                local.finish_upload(upload, total, sealed).await.map(|()| total)
            }
            (BlobStore::S3(s3), _) => s3.finish_upload(upload, parts).await,
            (BlobStore::Gcs(gcs), _) => gcs.finish_upload(upload, parts).await,
            (BlobStore::Azure(azure), _) => azure.finish_upload(upload, parts).await,
            (BlobStore::Local(_), Seal::Remote) => {
                Err(BlobError::Rejected("a local upload must be sealed before it is finished".into()))
            }
        }
    }

    /// Gives back the room an expired upload's bytes take while its abort cannot be recorded
    /// (the disk is full): the local staging file is emptied, under the seal so that no part or
    /// completion is writing it. Nothing to do for a bucket.
    pub async fn release_space(&self, upload: &UploadRecord) -> Result<(), BlobError> {
        match self {
            BlobStore::Local(local) => match local.seal(upload).await {
                Ok(sealed) => local.empty(sealed).await,
                Err(BlobError::NotFound) => Ok(()),
                Err(e) => Err(e),
            },
            BlobStore::S3(_) | BlobStore::Gcs(_) | BlobStore::Azure(_) => Ok(()),
        }
    }

    /// Removes whatever an unfinished or abandoned upload left (parts and any finished blob).
    pub async fn abort_upload(&self, upload: &UploadRecord) -> Result<(), BlobError> {
        match self {
            BlobStore::Local(local) => local.remove(&upload.blob_key).await,
            BlobStore::S3(s3) => s3.abort_upload(upload).await,
            BlobStore::Gcs(gcs) => gcs.abort_upload(upload).await,
            BlobStore::Azure(azure) => azure.abort_upload(upload).await,
        }
    }

    /// A URL that reads the blob (honouring `Range`) until `expires` (Unix seconds).
    pub async fn get_url(&self, service: &str, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        match self {
            BlobStore::Local(local) => Ok(local.get_url(service, blob_key, expires)),
            BlobStore::S3(s3) => s3.get_url(blob_key, expires).await,
            BlobStore::Gcs(gcs) => gcs.get_url(blob_key, expires).await,
            BlobStore::Azure(azure) => azure.get_url(blob_key, expires).await,
        }
    }

    /// A URL that takes a whole pack by PUT until `expires`, with the headers the PUT must carry.
    /// On S3 and Google Cloud Storage the URL only creates (a precondition signed into it), so a
    /// pack the server has checked cannot be replaced through it; an Azure SAS cannot be narrowed
    /// so (see docs/design.md), and the local folder never replaces a pack in place.
    pub async fn pack_url(
        &self,
        service: &str,
        blob_key: &str,
        expires: i64,
    ) -> Result<(String, std::collections::BTreeMap<String, String>), BlobError> {
        let mut headers = std::collections::BTreeMap::new();
        let url = match self {
            BlobStore::Local(local) => local.pack_url(service, blob_key, expires),
            BlobStore::S3(s3) => {
                headers.insert("if-none-match".to_string(), "*".to_string());
                s3.put_url(blob_key, expires).await?
            }
            BlobStore::Gcs(gcs) => {
                headers.insert(gcs::CREATE_ONLY.0.to_string(), gcs::CREATE_ONLY.1.to_string());
                gcs.put_url(blob_key, expires).await?
            }
            BlobStore::Azure(azure) => {
                headers.insert("x-ms-blob-type".to_string(), "BlockBlob".to_string());
                azure.put_url(blob_key, expires).await?
            }
        };
        Ok((url, headers))
    }

    /// The `blake3:<hex>` checksum of a finished blob, read back from the store (for uploads
    /// whose client sent none: the FedML SDK's).
    pub async fn checksum(&self, blob_key: &str) -> Result<String, BlobError> {
        match self {
            BlobStore::Local(local) => local.checksum(blob_key).await,
            BlobStore::S3(s3) => s3.checksum(blob_key).await,
            BlobStore::Gcs(gcs) => gcs.checksum(blob_key).await,
            BlobStore::Azure(azure) => azure.checksum(blob_key).await,
        }
    }

    /// A small blob's bytes, whole (a pack, for `fedml admin fsck --deep`).
    pub async fn read_small(&self, blob_key: &str) -> Result<Vec<u8>, BlobError> {
        match self {
            BlobStore::Local(local) => {
                let path = local.object_path(blob_key).ok_or(BlobError::NotFound)?;
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(bytes),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::NotFound),
                    Err(e) => Err(e.into()),
                }
            }
            BlobStore::S3(s3) => s3.read_small(blob_key).await,
            BlobStore::Gcs(gcs) => gcs.read_small(blob_key).await,
            BlobStore::Azure(azure) => azure.read_small(blob_key).await,
        }
    }

    /// Deletes a blob; deleting a missing blob is not an error.
    pub async fn delete(&self, blob_key: &str) -> Result<(), BlobError> {
        match self {
            BlobStore::Local(local) => local.remove(blob_key).await,
            BlobStore::S3(s3) => s3.delete(blob_key).await,
            BlobStore::Gcs(gcs) => gcs.delete(blob_key).await,
            BlobStore::Azure(azure) => azure.delete(blob_key).await,
        }
    }
}
