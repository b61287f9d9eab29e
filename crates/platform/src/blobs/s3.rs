//! The S3-compatible backend (AWS S3, Cloudflare R2, MinIO, Garage, …) through `object_store`.
//!
//! The server only creates, completes and aborts multipart uploads and signs URLs; the bytes of
//! every part and every read go straight between the client and the bucket through presigned
//! URLs (`partNumber` and `uploadId` are part of the signature). Bucket credentials never leave
//! the server.

use std::sync::Arc;
use std::time::Duration;

use fedml_proto::CompletedPart;
use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer};

use super::{BlobError, objects};
use crate::catalogue::UploadRecord;
use crate::time::now_secs;

/// Where an S3-compatible service keeps its blobs.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Spec {
    pub bucket: String,
    /// e.g. `https://<account>.r2.cloudflarestorage.com`; none for AWS S3.
    pub endpoint: Option<String>,
    /// `auto` for R2; default `us-east-1`.
    pub region: Option<String>,
    /// Default: `AWS_ACCESS_KEY_ID` from the environment.
    pub access_key_id: Option<String>,
    /// Default: `AWS_SECRET_ACCESS_KEY` from the environment.
    pub secret_access_key: Option<String>,
    /// Address buckets as `endpoint/bucket/key` (MinIO, Garage, most local servers) rather than
    /// `bucket.endpoint/key`. Default: true when an endpoint is given.
    pub path_style: Option<bool>,
    /// A key prefix inside the bucket, e.g. `fedml/`.
    pub prefix: Option<String>,
}

impl std::fmt::Debug for S3Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are never printed.
        f.debug_struct("S3Spec")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct S3Store {
    store: Arc<AmazonS3>,
    spec: Arc<S3Spec>,
}

impl S3Store {
    pub fn new(spec: S3Spec) -> Result<Self, BlobError> {
        if spec.bucket.is_empty() {
            return Err(BlobError::Rejected("an S3 service needs a bucket".into()));
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&spec.bucket)
            .with_region(spec.region.clone().unwrap_or_else(|| "us-east-1".into()));
        if let Some(endpoint) = &spec.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(!spec.path_style.unwrap_or(true));
        } else if let Some(path_style) = spec.path_style {
            builder = builder.with_virtual_hosted_style_request(!path_style);
        }
        if let Some(key) = &spec.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &spec.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| BlobError::Rejected(format!("S3 service: {e}")))?;
        Ok(S3Store { store: Arc::new(store), spec: Arc::new(spec) })
    }

    pub fn describe(&self) -> String {
        format!(
            "S3 bucket {}{} at {}",
            self.spec.bucket,
            self.spec.prefix.as_deref().map(|p| format!(" (prefix {p})")).unwrap_or_default(),
            self.spec.endpoint.as_deref().unwrap_or("AWS")
        )
    }

    fn path(&self, blob_key: &str) -> Path {
        Path::from(format!("{}{blob_key}", self.spec.prefix.as_deref().unwrap_or("")))
    }

    fn lifetime(expires: i64) -> Duration {
        Duration::from_secs((expires - now_secs()).clamp(1, 7 * 24 * 3600) as u64)
    }

    pub(super) async fn begin_upload(&self, upload: &UploadRecord) -> Result<String, BlobError> {
        Ok(self.store.create_multipart(&self.path(&upload.blob_key)).await?)
    }

    pub(super) async fn part_url(
        &self,
        upload: &UploadRecord,
        part_number: u32,
        expires: i64,
    ) -> Result<String, BlobError> {
        let options = SignedUrlOptions::new().with_query([
            ("partNumber".to_string(), part_number.to_string()),
            ("uploadId".to_string(), upload.store_upload_id.clone()),
        ]);
        let url = self
            .store
            .signed_url_opts(Method::PUT, &self.path(&upload.blob_key), Self::lifetime(expires), &options)
            .await?;
        Ok(url.to_string())
    }

    /// Completes the multipart upload with the parts the client reports (the store checks each
    /// ETag) and answers the size the store now holds.
    pub(super) async fn finish_upload(&self, upload: &UploadRecord, parts: &[CompletedPart]) -> Result<u64, BlobError> {
        let path = self.path(&upload.blob_key);
        let mut ids: Vec<PartId> = parts.iter().map(|p| PartId { content_id: p.etag.clone() }).collect();
        if ids.is_empty() {
            // An empty object (the FedML SDK sends no part for it): S3 wants one part, so the
            // server adds an empty one.
            ids.push(
                self.store.put_part(&path, &upload.store_upload_id, 0, object_store::PutPayload::default()).await?,
            );
        }
        self.store.complete_multipart(&path, &upload.store_upload_id, ids).await.map_err(|e| {
            // The store's own words name its endpoint and paths: they go to the log; the
            // client gets the S3 error code and what to do.
            let detail = e.to_string();
            tracing::warn!(error = %detail, "the store refused to complete a multipart upload");
            let code = detail
                .split_once("<Code>")
                .and_then(|(_, rest)| rest.split_once("</Code>"))
                .map(|(code, _)| format!(" ({code})"))
                .unwrap_or_default();
            BlobError::Rejected(format!(
                "the store refused to complete the upload{code}: a part is missing or differs from what was \
                     sent; upload again"
            ))
        })?;
        Ok(self.store.head(&path).await?.size)
    }

    pub(super) async fn read_small(&self, blob_key: &str) -> Result<Vec<u8>, BlobError> {
        super::objects::read(self.store.as_ref(), &self.path(blob_key)).await
    }

    pub(super) async fn checksum(&self, blob_key: &str) -> Result<String, BlobError> {
        super::objects::checksum(self.store.as_ref(), &self.path(blob_key)).await
    }

    pub(super) async fn abort_upload(&self, upload: &UploadRecord) -> Result<(), BlobError> {
        let path = self.path(&upload.blob_key);
        if !upload.store_upload_id.is_empty() {
            match self.store.abort_multipart(&path, &upload.store_upload_id).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                // Not a missing upload (completed, then the blob is deleted below, or already
                // aborted): its parts may stay in the bucket; say so.
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot abort a multipart upload; its parts may stay in the bucket until a lifecycle rule removes them"
                ),
            }
        }
        self.delete(&upload.blob_key).await
    }

    /// A presigned PUT of a whole blob (a pack) that only creates it: `If-None-Match: *` is part
    /// of the signature, so the URL can never replace what is there (a pack the server has
    /// checked stays what it checked, whoever holds the URL, until it expires).
    pub(super) async fn put_url(&self, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        let options = SignedUrlOptions::new()
            .with_signed_header(HeaderName::from_static("if-none-match"), HeaderValue::from_static("*"));
        let url =
            self.store.signed_url_opts(Method::PUT, &self.path(blob_key), Self::lifetime(expires), &options).await?;
        Ok(url.to_string())
    }

    pub(super) async fn get_url(&self, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        Ok(self.store.signed_url(Method::GET, &self.path(blob_key), Self::lifetime(expires)).await?.to_string())
    }

    pub(super) async fn delete(&self, blob_key: &str) -> Result<(), BlobError> {
        objects::remove(self.store.as_ref(), &self.path(blob_key)).await
    }

    /// Whether the bucket takes an object: a few bytes put under a key of the probe's own and
    /// deleted again.
    pub(crate) async fn answers(&self) -> Result<(), BlobError> {
        objects::probe(self.store.as_ref(), &self.path(".fedml-ready-probe")).await
    }
}

/// What `fedml admin fsck` reads of the bucket: listing and sizes, never a change.
impl S3Store {
    /// Every object under the service's prefix, as blob keys (the prefix taken off), with sizes.
    pub(super) async fn list_stored(&self) -> Result<Vec<super::StoredBlob>, BlobError> {
        let prefix = self.spec.prefix.as_deref().unwrap_or("");
        Ok(objects::listed(self.store.as_ref(), prefix)
            .await?
            .into_iter()
            .map(|(key, size)| super::StoredBlob { place: super::StoredPlace::Blob, key, size })
            .collect())
    }

    /// The size of a blob, `None` when the bucket has none under its key.
    pub(super) async fn blob_size(&self, blob_key: &str) -> Result<Option<u64>, BlobError> {
        objects::size(self.store.as_ref(), &self.path(blob_key)).await
    }
}
