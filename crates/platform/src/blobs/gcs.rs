//! The Google Cloud Storage backend: a parallel composite upload.
//!
//! Each part is an object of its own, `<prefix>.parts/<upload-id>/<part number>`, PUT by the
//! client to a V4 signed URL (`object_store`'s signer: path and query are signed, so a URL names
//! one part object and nothing else). Completion checks the parts the client reports against
//! the bucket's listing (numbers, and MD5 where the ETag carries it), composes them into the
//! blob `<prefix><owner>/<upload-id>` (at most 32 sources per compose, so a tree of
//! intermediate objects beyond that; every source pinned to the generation that was checked),
//! and deletes the parts. The blob is written only by the server, once (`ifGenerationMatch=0`):
//! a part URL used after the commit can only recreate a part object, which nothing reads and
//! the bucket's lifecycle rule on `.parts/` removes. Server-side calls go through the JSON API
//! with the service account's token.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use fedml_proto::CompletedPart;
use futures_util::{StreamExt, TryStreamExt};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::path::Path;
use object_store::signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer};

use super::cloud::{self, JsonClient};
use super::{BlobError, StoredBlob, StoredPlace};
use crate::catalogue::UploadRecord;

/// How many sources one compose request takes (the service's limit).
const COMPOSE_FANIN: usize = 32;
/// Where the parts of an upload live, under the service's prefix.
const PARTS: &str = ".parts/";
/// The header (and value) a pack's PUT carries so that it only creates the object.
pub(super) const CREATE_ONLY: (&str, &str) = ("x-goog-if-generation-match", "0");

/// Where a Google Cloud Storage service keeps its blobs.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsSpec {
    pub bucket: String,
    /// A key prefix inside the bucket, e.g. `fedml/`.
    pub prefix: Option<String>,
    /// The service's base URL; default `https://storage.googleapis.com` (an emulator's address
    /// for tests).
    pub endpoint: Option<String>,
    /// A service-account key file (JSON). Default: `GOOGLE_SERVICE_ACCOUNT` /
    /// `GOOGLE_APPLICATION_CREDENTIALS` from the environment. Signing URLs needs its private key.
    pub service_account_path: Option<PathBuf>,
    /// The service-account key itself (JSON text), instead of a file.
    pub service_account_key: Option<String>,
}

impl std::fmt::Debug for GcsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed; its file's path is not a secret.
        f.debug_struct("GcsSpec")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("service_account_path", &self.service_account_path)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct GcsStore {
    signer: Arc<GoogleCloudStorage>,
    json: JsonClient,
    spec: Arc<GcsSpec>,
}

/// A part or an intermediate object, pinned to the generation that was checked.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    generation: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    items: Vec<Item>,
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    name: String,
    /// A decimal string in the JSON API (a number from some emulators).
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    md5_hash: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    generation: Option<String>,
}

impl Item {
    fn size(&self) -> u64 {
        match &self.size {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        }
    }
}

fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl GcsStore {
    pub fn new(mut spec: GcsSpec) -> Result<Self, BlobError> {
        spec.prefix = cloud::normalise_prefix(spec.prefix.as_deref());
        if spec.bucket.is_empty() {
            return Err(BlobError::Rejected("a Google Cloud Storage service needs a bucket".into()));
        }
        let base = spec.endpoint.clone().unwrap_or_else(|| "https://storage.googleapis.com".into());
        let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(&spec.bucket).with_base_url(&base);
        if base.starts_with("http://") {
            builder = builder.with_client_options(object_store::ClientOptions::new().with_allow_http(true));
        }
        if let Some(path) = &spec.service_account_path {
            builder = builder.with_service_account_path(path.display().to_string());
        }
        if let Some(key) = &spec.service_account_key {
            builder = builder.with_service_account_key(key);
        }
        let signer = builder.build().map_err(|e| BlobError::Rejected(format!("Google Cloud Storage service: {e}")))?;
        let json =
            JsonClient::new(format!("{}/storage/v1/b/{}", base.trim_end_matches('/'), cloud::encode(&spec.bucket)))?;
        Ok(GcsStore { signer: Arc::new(signer), json, spec: Arc::new(spec) })
    }

    pub fn describe(&self) -> String {
        format!(
            "Google Cloud Storage bucket {}{} at {}",
            self.spec.bucket,
            self.spec.prefix.as_deref().map(|p| format!(" (prefix {p})")).unwrap_or_default(),
            self.spec.endpoint.as_deref().unwrap_or("Google")
        )
    }

    fn prefix(&self) -> &str {
        self.spec.prefix.as_deref().unwrap_or("")
    }

    fn name(&self, blob_key: &str) -> String {
        format!("{}{blob_key}", self.prefix())
    }

    fn parts_of(&self, upload_id: &str) -> String {
        format!("{}{PARTS}{upload_id}/", self.prefix())
    }

    async fn token(&self) -> Result<String, BlobError> {
        Ok(self.signer.credentials().get_credential().await?.bearer.clone())
    }

    fn object_url(&self, name: &str) -> String {
        format!("{}/o/{}", self.json.base(), cloud::encode(name))
    }

    pub(super) async fn part_url(
        &self,
        upload: &UploadRecord,
        part_number: u32,
        expires: i64,
    ) -> Result<String, BlobError> {
        let path = Path::from(format!("{}{part_number:05}", self.parts_of(&upload.id)));
        let url = self.signer.signed_url(Method::PUT, &path, cloud::lifetime(expires)).await?;
        Ok(url.to_string())
    }

    /// A V4-signed PUT of a whole object (a pack).
    /// A V4 signed PUT of a whole blob (a pack) that only creates it: `x-goog-if-generation-match:
    /// 0` is part of the signature, so the URL can never replace what is there.
    pub(super) async fn put_url(&self, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        let path = Path::from(self.name(blob_key));
        let options = SignedUrlOptions::new()
            .with_signed_header(HeaderName::from_static(CREATE_ONLY.0), HeaderValue::from_static(CREATE_ONLY.1));
        Ok(self.signer.signed_url_opts(Method::PUT, &path, cloud::lifetime(expires), &options).await?.to_string())
    }

    pub(super) async fn get_url(&self, blob_key: &str, expires: i64) -> Result<String, BlobError> {
        let path = Path::from(self.name(blob_key));
        Ok(self.signer.signed_url(Method::GET, &path, cloud::lifetime(expires)).await?.to_string())
    }

    /// Every object under `prefix`, with size, MD5 and generation.
    async fn list(&self, prefix: &str) -> Result<Vec<Item>, BlobError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix)];
            if let Some(token) = &page {
                query.push(("pageToken", token.as_str()));
            }
            let request = self.json.http().get(cloud::with_query(&format!("{}/o", self.json.base()), &query));
            let listing: Listing =
                self.json.send(request, &self.token().await?).await?.json().await.map_err(cloud::store)?;
            out.extend(listing.items);
            match listing.next_page_token {
                Some(token) if !token.is_empty() => page = Some(token),
                _ => return Ok(out),
            }
        }
    }

    async fn metadata(&self, name: &str) -> Result<Option<Item>, BlobError> {
        let request = self.json.http().get(self.object_url(name));
        match self.json.send(request, &self.token().await?).await {
            Ok(response) => Ok(Some(response.json().await.map_err(cloud::store)?)),
            Err(BlobError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BlobError> {
        let request = self.json.http().delete(self.object_url(name));
        match self.json.send(request, &self.token().await?).await {
            Ok(_) | Err(BlobError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Writes a small object from the server (the empty blob, the readiness probe), only if
    /// none exists under its name.
    async fn put_small(&self, name: &str, body: &'static [u8]) -> Result<(), BlobError> {
        let base = self.json.base().replacen("/storage/v1/b/", "/upload/storage/v1/b/", 1);
        let request = self
            .json
            .http()
            .post(cloud::with_query(
                &format!("{base}/o"),
                &[("uploadType", "media"), ("name", name), ("ifGenerationMatch", "0")],
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.json.send(request, &self.token().await?).await.map(|_| ())
    }

    /// Composes `sources` (≤ 32) into `name`; answers the new object's generation.
    async fn compose(&self, name: &str, sources: &[Source], create_only: bool) -> Result<Option<String>, BlobError> {
        let sources: Vec<serde_json::Value> = sources
            .iter()
            .map(|s| match &s.generation {
                Some(g) => serde_json::json!({"name": s.name, "objectPreconditions": {"ifGenerationMatch": g}}),
                None => serde_json::json!({"name": s.name}),
            })
            .collect();
        let body = serde_json::json!({
            "sourceObjects": sources,
            "destination": {"contentType": "application/octet-stream"},
        });
        let url = format!("{}/compose", self.object_url(name));
        let url = if create_only { cloud::with_query(&url, &[("ifGenerationMatch", "0")]) } else { url };
        let request = self.json.http().post(url).json(&body);
        let made: Item = self.json.send(request, &self.token().await?).await?.json().await.map_err(cloud::store)?;
        Ok(made.generation)
    }

    /// Checks the parts the client reports against what the bucket holds, composes them into
    /// the blob and removes them; answers the blob's size.
    pub(super) async fn finish_upload(&self, upload: &UploadRecord, parts: &[CompletedPart]) -> Result<u64, BlobError> {
        let dir = self.parts_of(&upload.id);
        let held: BTreeMap<u32, Item> = self
            .list(&dir)
            .await?
            .into_iter()
            .filter_map(|item| {
                let number = item.name.strip_prefix(&dir)?;
                let number: u32 = (number.len() == 5 && number.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| number.parse().ok())
                    .flatten()?;
                Some((number, item))
            })
            .collect();
        let mut sources = Vec::with_capacity(parts.len());
        for part in parts {
            let item = held.get(&part.part_number).ok_or_else(|| {
                BlobError::Rejected(format!("part {} is not in the store; upload it again", part.part_number))
            })?;
            if !cloud::etag_matches_md5(&part.etag, item.md5_hash.as_deref()) {
                return Err(BlobError::Rejected(format!(
                    "part {} in the store differs from what was sent; upload again",
                    part.part_number
                )));
            }
            sources.push(Source { name: item.name.clone(), generation: item.generation.clone() });
        }
        let dest = self.name(&upload.blob_key);
        if sources.is_empty() {
            self.put_small(&dest, b"").await?;
        } else {
            let mut round = 0;
            while sources.len() > COMPOSE_FANIN {
                let mut next = Vec::with_capacity(sources.len().div_ceil(COMPOSE_FANIN));
                for (i, group) in sources.chunks(COMPOSE_FANIN).enumerate() {
                    let name = format!("{dir}c{round}-{i:05}");
                    let generation = self.compose(&name, group, false).await?;
                    next.push(Source { name, generation });
                }
                sources = next;
                round += 1;
            }
            self.compose(&dest, &sources, true).await?;
        }
        let size = self.metadata(&dest).await?.ok_or(BlobError::NotFound)?.size();
        if let Err(e) = self.remove_parts(&upload.id).await {
            tracing::warn!(error = %e, "cannot remove the parts of a composed upload; the bucket's lifecycle rule will");
        }
        Ok(size)
    }

    async fn remove_parts(&self, upload_id: &str) -> Result<(), BlobError> {
        let names: Vec<String> = self.list(&self.parts_of(upload_id)).await?.into_iter().map(|i| i.name).collect();
        futures_util::stream::iter(names)
            .map(|name| async move { self.remove(&name).await })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    pub(super) async fn abort_upload(&self, upload: &UploadRecord) -> Result<(), BlobError> {
        self.remove_parts(&upload.id).await?;
        self.delete(&upload.blob_key).await
    }

    pub(super) async fn delete(&self, blob_key: &str) -> Result<(), BlobError> {
        self.remove(&self.name(blob_key)).await
    }

    pub(super) async fn read_small(&self, blob_key: &str) -> Result<Vec<u8>, BlobError> {
        let request =
            self.json.http().get(cloud::with_query(&self.object_url(&self.name(blob_key)), &[("alt", "media")]));
        let response = self.json.send(request, &self.token().await?).await?;
        Ok(response.bytes().await.map_err(|e| BlobError::Store(e.to_string()))?.to_vec())
    }

    pub(super) async fn checksum(&self, blob_key: &str) -> Result<String, BlobError> {
        let request =
            self.json.http().get(cloud::with_query(&self.object_url(&self.name(blob_key)), &[("alt", "media")]));
        let response = self.json.send(request, &self.token().await?).await?;
        cloud::blake3_of(response).await
    }

    /// Whether the bucket takes an object: a few bytes under a probe key, deleted again.
    pub(crate) async fn answers(&self) -> Result<(), BlobError> {
        let name = self.name(&format!(".fedml-ready-probe-{}", crate::keys::random_hex(8)));
        self.put_small(&name, b"ready").await?;
        self.remove(&name).await
    }

    /// Every object under the service's prefix: blobs by key, and each upload's parts (and
    /// intermediate composes) as one staging entry keyed by upload id, sizes summed.
    pub(super) async fn list_stored(&self) -> Result<Vec<StoredBlob>, BlobError> {
        let prefix = self.prefix().to_string();
        let mut staging: BTreeMap<String, u64> = BTreeMap::new();
        let mut out = Vec::new();
        for item in self.list(&prefix).await? {
            let key = item.name.strip_prefix(&prefix).unwrap_or(&item.name).to_string();
            match key.strip_prefix(PARTS).and_then(|rest| rest.split_once('/')) {
                Some((upload_id, _)) => *staging.entry(upload_id.to_string()).or_default() += item.size(),
                None => out.push(StoredBlob { place: StoredPlace::Blob, key, size: item.size() }),
            }
        }
        out.extend(staging.into_iter().map(|(key, size)| StoredBlob { place: StoredPlace::Staging, key, size }));
        Ok(out)
    }

    pub(super) async fn blob_size(&self, blob_key: &str) -> Result<Option<u64>, BlobError> {
        Ok(self.metadata(&self.name(blob_key)).await?.map(|item| item.size()))
    }
}
