//! The Azure Blob Storage backend: blocks staged on a per-session blob, then copied.
//!
//! A part is a block (`Put Block`, `blockid` = the part number) of the session's staging blob
//! `<prefix>.staging/<upload-id>`, PUT by the client to that blob's SAS URL (write permission on
//! that one blob). A blob SAS cannot be narrowed to one operation, so whoever holds it may also
//! `Put Blob` or `Put Block List` on that blob until it expires: the object's blob is therefore
//! never a blob a part URL names. Completion commits the reported blocks in order (`Put Block
//! List`, which refuses a block the service does not hold), copies the staging blob server-side
//! to `<prefix><owner>/<upload-id>` (only if nothing is there yet), reads back its size and
//! deletes the staging blob. A part URL used after the commit changes only a staging blob that
//! nothing reads; the container's lifecycle rule on `.staging/` removes what it leaves.
//!
//! The copy is pinned to the staging blob as committed (`x-ms-source-if-match` with the ETag that
//! `Put Block List` answered), so a `Put Blob` through a part URL between the commit and the copy
//! makes the copy fail instead of changing the object; and the completion waits for
//! `x-ms-copy-status: success` before it removes the source or answers (a copy may be
//! asynchronous). A part URL also allows leasing or snapshotting its staging blob: an abort
//! breaks any lease and deletes the blob with its snapshots.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use fedml_proto::CompletedPart;
use object_store::ObjectStoreExt;
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::{Method, Signer};

use super::{BlobError, StoredBlob, StoredPlace, cloud, objects};
use crate::catalogue::UploadRecord;

/// Where each session's staging blob lives, under the service's prefix.
const STAGING: &str = ".staging/";
/// The REST version of the calls made here rather than through `object_store` (Copy Blob with
/// source conditions, Lease Blob, Delete Blob with snapshots).
const API_VERSION: &str = "2021-08-06";
/// How long a completion waits for the service to finish copying the staging blob.
const COPY_WAIT: Duration = Duration::from_secs(30 * 60);

/// Where an Azure Blob Storage service keeps its blobs.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSpec {
    pub container: String,
    /// A key prefix inside the container, e.g. `fedml/`.
    pub prefix: Option<String>,
    /// The storage account. Default: `AZURE_STORAGE_ACCOUNT_NAME` from the environment.
    pub account: Option<String>,
    /// The blob endpoint; default `https://<account>.blob.core.windows.net` (an emulator's
    /// `http://127.0.0.1:10000/<account>` for tests).
    pub endpoint: Option<String>,
    /// The account key (signs the SAS URLs). Default: `AZURE_STORAGE_ACCOUNT_KEY`.
    pub access_key: Option<String>,
}

impl std::fmt::Debug for AzureSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The account key is never printed.
        f.debug_struct("AzureSpec")
            .field("container", &self.container)
            .field("prefix", &self.prefix)
            .field("account", &self.account)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct AzureStore {
    store: Arc<MicrosoftAzure>,
    spec: Arc<AzureSpec>,
    /// For the REST calls `object_store` does not make, authorised by SAS URLs it signs.
    http: reqwest::Client,
}

/// The block id of a part: the same length for every part, as the service requires.
fn block_of(part_number: u32) -> String {
    format!("{part_number:010}")
}

impl AzureStore {
    pub fn new(mut spec: AzureSpec) -> Result<Self, BlobError> {
        spec.prefix = cloud::normalise_prefix(spec.prefix.as_deref());
        if spec.container.is_empty() {
            return Err(BlobError::Rejected("an Azure Blob Storage service needs a container".into()));
        }
        let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(&spec.container);
        if let Some(account) = &spec.account {
            builder = builder.with_account(account);
        }
        if let Some(key) = &spec.access_key {
            builder = builder.with_access_key(key);
        }
        if let Some(endpoint) = &spec.endpoint {
            builder = builder.with_endpoint(endpoint.clone()).with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| BlobError::Rejected(format!("Azure Blob Storage service: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(cloud::store)?;
        Ok(AzureStore { store: Arc::new(store), spec: Arc::new(spec), http })
    }

    pub fn describe(&self) -> String {
        format!(
            "Azure container {}{} at {}",
            self.spec.container,
            self.spec.prefix.as_deref().map(|p| format!(" (prefix {p})")).unwrap_or_default(),
            self.spec.endpoint.as_deref().or(self.spec.account.as_deref()).unwrap_or("Azure")
        )
    }

    fn prefix(&self) -> &str {
        self.spec.prefix.as_deref().unwrap_or("")
    }

    fn path(&self, blob_key: &str) -> Path {
        Path::from(format!("{}{blob_key}", self.prefix()))
    }

    fn staging(&self, upload_id: &str) -> Path {
        Path::from(format!("{}{STAGING}{upload_id}", self.prefix()))
    }

    pub(super) async fn part_url(
        &self,
        upload: &UploadRecord,
        part_number: u32,
        expires: i64,
    ) -> Result<String, BlobError> {
        let mut url = self.store.signed_url(Method::PUT, &self.staging(&upload.id), cloud::lifetime(expires)).await?;
        let block = base64::engine::general_purpose::STANDARD.encode(block_of(part_number));
        url.query_pairs_mut().append_pair("comp", "block").append_pair("blockid", &block);
        Ok(url.to_string())
    }

    /// A SAS URL for a Put Blob of a whole blob (a pack; the client sends `x-ms-blob-type`).
    pub(super) async fn put_url(&self, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        Ok(self.store.signed_url(Method::PUT, &self.path(blob_key), cloud::lifetime(expires)).await?.to_string())
    }

    pub(super) async fn get_url(&self, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        Ok(self.store.signed_url(Method::GET, &self.path(blob_key), cloud::lifetime(expires)).await?.to_string())
    }

    /// Commits the reported blocks on the staging blob, copies it to the object's blob and
    /// removes it; answers the blob's size.
    pub(super) async fn finish_upload(&self, upload: &UploadRecord, parts: &[CompletedPart]) -> Result<u64, BlobError> {
        let staging = self.staging(&upload.id);
        let blocks = parts.iter().map(|p| PartId { content_id: block_of(p.part_number) }).collect();
        let committed = self.store.complete_multipart(&staging, &String::new(), blocks).await.map_err(|e| {
            tracing::warn!(error = %e, "the store refused to commit the blocks of an upload");
            BlobError::Rejected(
                "the store refused to complete the upload: a part is missing or differs from what was sent; upload \
                 again"
                    .into(),
            )
        })?;
        let committed = committed.e_tag.ok_or_else(|| {
            BlobError::Store("the service answered the block list without an ETag; the copy cannot be pinned".into())
        })?;
        let dest = self.path(&upload.blob_key);
        self.copy_pinned(&staging, &committed, &dest).await?;
        let size = self.store.head(&dest).await?.size;
        if let Err(e) = self.remove_all(&staging).await {
            tracing::warn!(error = %e, "cannot remove a staging blob; the container's lifecycle rule will");
        }
        Ok(size)
    }

    /// A SAS URL of `path` for `method` (its permission: GET read, PUT write, DELETE delete),
    /// valid for an hour.
    async fn sas(&self, method: Method, path: &Path) -> Result<url::Url, BlobError> {
        Ok(self.store.signed_url(method, path, Duration::from_secs(3600)).await?)
    }

    /// Copies `source` (as it was when its ETag was `etag`) to `dest`, which must not exist, and
    /// waits until the service says the copy succeeded.
    async fn copy_pinned(&self, source: &Path, etag: &str, dest: &Path) -> Result<(), BlobError> {
        let from = self.sas(Method::GET, source).await?;
        let to = self.sas(Method::PUT, dest).await?;
        let response = self
            .http
            .put(to.as_str())
            .header("x-ms-version", API_VERSION)
            .header("x-ms-copy-source", from.as_str())
            .header("x-ms-source-if-match", etag)
            .header("if-none-match", "*")
            .header("content-length", "0")
            .send()
            .await
            .map_err(cloud::store)?;
        let status = response.status().as_u16();
        let copy_status = |r: &reqwest::Response| {
            r.headers().get("x-ms-copy-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
        };
        let mut state = copy_status(&response);
        match status {
            200..=299 => {}
            409 | 412 => {
                let said: String = response.text().await.unwrap_or_default().chars().take(300).collect();
                tracing::warn!(status, answer = %said, "the service refused to copy a staging blob");
                return Err(BlobError::Rejected(
                    "the upload's bytes changed while it completed (or its object already exists); upload again".into(),
                ));
            }
            _ => return Err(BlobError::Store(format!("Copy Blob answered HTTP {status}"))),
        }
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        let head = self.sas(Method::GET, dest).await?;
        while state == "pending" {
            if started.elapsed() > COPY_WAIT {
                return Err(BlobError::Store("the service did not finish copying the upload in 30 minutes".into()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            let response =
                self.http.head(head.as_str()).header("x-ms-version", API_VERSION).send().await.map_err(cloud::store)?;
            if !response.status().is_success() {
                return Err(BlobError::Store(format!("reading the copy's state answered HTTP {}", response.status())));
            }
            state = copy_status(&response);
        }
        // A copy the service finished at once says `success` (or nothing, on some emulators).
        if !(state == "success" || state.is_empty()) {
            return Err(BlobError::Store(format!("the service's copy of the upload ended {state:?}")));
        }
        Ok(())
    }

    /// Removes a blob whatever a part URL did to it: any lease is broken, snapshots go with it.
    async fn remove_all(&self, path: &Path) -> Result<(), BlobError> {
        let mut lease = self.sas(Method::PUT, path).await?;
        lease.query_pairs_mut().append_pair("comp", "lease");
        let broken = self
            .http
            .put(lease.as_str())
            .header("x-ms-version", API_VERSION)
            .header("x-ms-lease-action", "break")
            .header("x-ms-lease-break-period", "0")
            .header("content-length", "0")
            .send()
            .await
            .map_err(cloud::store)?;
        // 404: no blob; 409: no lease to break.
        let status = broken.status().as_u16();
        if !(broken.status().is_success() || status == 404 || status == 409) {
            return Err(BlobError::Store(format!("breaking a lease answered HTTP {status}")));
        }
        let gone = self
            .http
            .delete(self.sas(Method::DELETE, path).await?.as_str())
            .header("x-ms-version", API_VERSION)
            .header("x-ms-delete-snapshots", "include")
            .send()
            .await
            .map_err(cloud::store)?;
        match gone.status().as_u16() {
            200..=299 | 404 => Ok(()),
            status => Err(BlobError::Store(format!("deleting a staging blob answered HTTP {status}"))),
        }
    }

    async fn remove(&self, path: &Path) -> Result<(), BlobError> {
        objects::remove(self.store.as_ref(), path).await
    }

    /// Drops the staged blocks (committing an empty block list discards every uncommitted
    /// block; a blob of uncommitted blocks only cannot be deleted), then the staging blob and
    /// any finished blob.
    pub(super) async fn abort_upload(&self, upload: &UploadRecord) -> Result<(), BlobError> {
        let staging = self.staging(&upload.id);
        // A lease taken through a part URL would refuse the block list: broken first.
        self.remove_all(&staging).await?;
        self.store.complete_multipart(&staging, &String::new(), Vec::new()).await?;
        self.remove_all(&staging).await?;
        self.delete(&upload.blob_key).await
    }

    /// The blocks staged for an upload and not committed (Get Block List), by their ids: what
    /// the service holds of an open session, which no listing shows.
    pub async fn staged_blocks(&self, upload_id: &str) -> Result<Vec<String>, BlobError> {
        let mut url = self
            .store
            .signed_url(Method::GET, &self.staging(upload_id), cloud::lifetime(crate::time::now_secs() + 60))
            .await?;
        url.query_pairs_mut().append_pair("comp", "blocklist").append_pair("blocklisttype", "uncommitted");
        let response = self.http.get(url.as_str()).send().await.map_err(cloud::store)?;
        match response.status().as_u16() {
            404 => return Ok(Vec::new()),
            s if !(200..300).contains(&s) => return Err(BlobError::Store(format!("Get Block List answered HTTP {s}"))),
            _ => {}
        }
        let text = response.text().await.map_err(cloud::store)?;
        Ok(text
            .split("<Name>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Name>").map(|(n, _)| n.to_string()))
            .collect())
    }

    pub(super) async fn delete(&self, blob_key: &str) -> Result<(), BlobError> {
        self.remove(&self.path(blob_key)).await
    }

    pub(super) async fn read_small(&self, blob_key: &str) -> Result<Vec<u8>, BlobError> {
        objects::read(self.store.as_ref(), &self.path(blob_key)).await
    }

    pub(super) async fn checksum(&self, blob_key: &str) -> Result<String, BlobError> {
        objects::checksum(self.store.as_ref(), &self.path(blob_key)).await
    }

    /// Whether the container takes a blob (one fixed probe key: a failed delete leaves one
    /// blob, not one per probe).
    pub(crate) async fn answers(&self) -> Result<(), BlobError> {
        objects::probe(self.store.as_ref(), &self.path(".fedml-ready-probe")).await
    }

    /// Every blob under the service's prefix: objects' blobs by key, committed staging blobs by
    /// upload id (blocks not yet committed are not listed by the service).
    pub(super) async fn list_stored(&self) -> Result<Vec<StoredBlob>, BlobError> {
        Ok(objects::listed(self.store.as_ref(), self.prefix())
            .await?
            .into_iter()
            .map(|(key, size)| match key.strip_prefix(STAGING) {
                Some(id) => StoredBlob { place: StoredPlace::Staging, key: id.to_string(), size },
                None => StoredBlob { place: StoredPlace::Blob, key, size },
            })
            .collect())
    }

    pub(super) async fn blob_size(&self, blob_key: &str) -> Result<Option<u64>, BlobError> {
        objects::size(self.store.as_ref(), &self.path(blob_key)).await
    }
}
