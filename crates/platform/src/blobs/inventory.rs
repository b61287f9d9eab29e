//! Listing and sizes of what a store holds, for `fedml admin fsck` (read-only).

use super::{BlobError, BlobStore};

/// Where in a store a file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredPlace {
    /// A finished blob (local `objects/`, or an object of the bucket); keyed by blob key.
    Blob,
    /// A local upload's staging file, keyed by upload id; or a pack being received into the
    /// local folder, keyed by the last part of its blob key (a packed session has no staging
    /// file of its own).
    Staging,
}

/// One file the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub place: StoredPlace,
    pub key: String,
    pub size: u64,
}

impl BlobStore {
    /// Everything the store holds: finished blobs and staging files (local folder; GCS: an
    /// upload's part objects, as one entry; Azure: a committed staging blob). An S3 bucket's
    /// unfinished multipart uploads and Azure's uncommitted blocks are not listed (the bucket's
    /// lifecycle rule, or the service after a week, removes them).
    pub async fn list_stored(&self) -> Result<Vec<StoredBlob>, BlobError> {
        match self {
            BlobStore::Local(local) => {
                let local = local.clone();
                tokio::task::spawn_blocking(move || local.list_stored())
                    .await
                    .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
            }
            BlobStore::S3(s3) => s3.list_stored().await,
            BlobStore::Gcs(gcs) => gcs.list_stored().await,
            BlobStore::Azure(azure) => azure.list_stored().await,
        }
    }

    /// The size of a finished blob; `None` when the store has none under that key.
    pub async fn blob_size(&self, blob_key: &str) -> Result<Option<u64>, BlobError> {
        match self {
            BlobStore::Local(local) => local.blob_size(blob_key),
            BlobStore::S3(s3) => s3.blob_size(blob_key).await,
            BlobStore::Gcs(gcs) => gcs.blob_size(blob_key).await,
            BlobStore::Azure(azure) => azure.blob_size(blob_key).await,
        }
    }

    /// The size of a live blob session's staging file (local folder); `None` when absent, and
    /// always `None` for stores that keep no staging file of their own (and for a packed
    /// session, whose bytes are its packs).
    pub fn staging_size(&self, upload_id: &str) -> Result<Option<u64>, BlobError> {
        match self {
            BlobStore::Local(local) => local.staging_size(upload_id),
            BlobStore::S3(_) | BlobStore::Gcs(_) | BlobStore::Azure(_) => Ok(None),
        }
    }
}
