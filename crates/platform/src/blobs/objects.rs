//! What every store reached through `object_store` (S3 and its kin, Azure) does alike: read a
//! blob back for its checksum, its size, delete it (a missing one is not an error), list what is
//! under a prefix, and the readiness probe.

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::BlobError;

/// The `blake3:<hex>` of the blob at `path`, read as a stream.
pub(super) async fn checksum<S: ObjectStore>(store: &S, path: &Path) -> Result<String, BlobError> {
    let mut stream = store.get(path).await?.into_stream();
    let mut hasher = blake3::Hasher::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(format!("{}{}", fedml_proto::checksum::PREFIX, hasher.finalize().to_hex()))
}

/// The bytes of the blob at `path`, whole.
pub(super) async fn read<S: ObjectStore>(store: &S, path: &Path) -> Result<Vec<u8>, BlobError> {
    Ok(store.get(path).await?.bytes().await?.to_vec())
}

/// The size of the blob at `path`; `None` when there is none.
pub(super) async fn size<S: ObjectStore>(store: &S, path: &Path) -> Result<Option<u64>, BlobError> {
    match store.head(path).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the blob at `path`; deleting a missing blob is not an error.
pub(super) async fn remove<S: ObjectStore>(store: &S, path: &Path) -> Result<(), BlobError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every blob under `prefix`, as (key with the prefix taken off, size).
pub(super) async fn listed<S: ObjectStore>(store: &S, prefix: &str) -> Result<Vec<(String, u64)>, BlobError> {
    let under = (!prefix.is_empty()).then(|| Path::from(prefix.trim_end_matches('/')));
    let listed: Vec<object_store::ObjectMeta> = store.list(under.as_ref()).try_collect().await?;
    Ok(listed
        .into_iter()
        .map(|meta| {
            let location = meta.location.to_string();
            (location.strip_prefix(prefix).unwrap_or(&location).to_string(), meta.size)
        })
        .collect())
}

/// Whether the store takes a blob: a few bytes under the probe key `path`, deleted again (a
/// HEAD would not tell a missing bucket from a missing key).
pub(super) async fn probe<S: ObjectStore>(store: &S, path: &Path) -> Result<(), BlobError> {
    store.put(path, object_store::PutPayload::from_static(b"ready")).await?;
    remove(store, path).await
}
