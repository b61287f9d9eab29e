//! Which store a service keeps its bytes in, as configured: `NAME=local:PATH`,
//! `NAME=s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true`,
//! `NAME=gs://BUCKET[/PREFIX]?endpoint=URL&service_account_path=FILE` or
//! `NAME=azure://CONTAINER[/PREFIX]?account=A&endpoint=URL`, and the store it opens.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{AzureSpec, AzureStore, BlobStore, GcsSpec, GcsStore, LocalStore, S3Spec, S3Store};
use crate::signing::UrlSigner;

/// Where a service keeps its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSpec {
    /// A folder on this machine.
    Local(PathBuf),
    /// A bucket of an S3-compatible store.
    S3(S3Spec),
    /// A Google Cloud Storage bucket.
    Gcs(GcsSpec),
    /// An Azure Blob Storage container.
    Azure(AzureSpec),
}

impl ServiceSpec {
    /// Parses `NAME=local:PATH` or `NAME=s3://BUCKET[/PREFIX]?endpoint=…&region=…&path_style=…`.
    pub fn parse_named(text: &str) -> Result<(String, ServiceSpec), String> {
        let (name, spec) = text
            .split_once('=')
            .ok_or_else(|| format!("service {text:?} must read NAME=local:PATH or NAME=s3://BUCKET"))?;
        check_service_name(name)?;
        if let Some(path) = spec.strip_prefix("local:") {
            if path.is_empty() {
                return Err(format!("service {name:?}: local: needs a folder path"));
            }
            return Ok((name.to_string(), ServiceSpec::Local(path.into())));
        }
        if spec.starts_with("s3://") {
            return parse_s3(spec)
                .map(|s| (name.to_string(), ServiceSpec::S3(s)))
                .map_err(|e| format!("service {name:?}: {e}"));
        }
        if spec.starts_with("gs://") {
            return parse_gcs(spec)
                .map(|s| (name.to_string(), ServiceSpec::Gcs(s)))
                .map_err(|e| format!("service {name:?}: {e}"));
        }
        if spec.starts_with("azure://") {
            return parse_azure(spec)
                .map(|s| (name.to_string(), ServiceSpec::Azure(s)))
                .map_err(|e| format!("service {name:?}: {e}"));
        }
        Err(format!(
            "service {name:?}: the backend must read local:PATH, s3://BUCKET, gs://BUCKET or azure://CONTAINER (got \
             {spec:?})"
        ))
    }
}

/// The bucket (or container) and the prefix of a `scheme://BUCKET[/PREFIX]?…` URL.
fn bucket_and_prefix(url: &url::Url, what: &str) -> Result<(String, Option<String>), String> {
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or(format!("{}:// needs a {what} name", url.scheme()))?;
    let prefix = url.path().trim_start_matches('/');
    Ok((bucket.to_string(), (!prefix.is_empty()).then(|| format!("{}/", prefix.trim_end_matches('/')))))
}

fn parse_gcs(text: &str) -> Result<GcsSpec, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a gs:// URL ({e})"))?;
    let (bucket, prefix) = bucket_and_prefix(&url, "bucket")?;
    let mut spec = GcsSpec { bucket, prefix, ..GcsSpec::default() };
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "endpoint" => spec.endpoint = Some(value.into_owned()),
            "service_account_path" => spec.service_account_path = Some(value.into_owned().into()),
            other => {
                return Err(format!(
                    "unknown option {other:?} (use endpoint, service_account_path; the key may also come from \
                     GOOGLE_SERVICE_ACCOUNT or the config file)"
                ));
            }
        }
    }
    Ok(spec)
}

fn parse_azure(text: &str) -> Result<AzureSpec, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not an azure:// URL ({e})"))?;
    let (container, prefix) = bucket_and_prefix(&url, "container")?;
    let mut spec = AzureSpec { container, prefix, ..AzureSpec::default() };
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "account" => spec.account = Some(value.into_owned()),
            "endpoint" => spec.endpoint = Some(value.into_owned()),
            other => {
                return Err(format!(
                    "unknown option {other:?} (use account, endpoint; the account key comes from \
                     AZURE_STORAGE_ACCOUNT_KEY or the config file)"
                ));
            }
        }
    }
    Ok(spec)
}

fn parse_s3(text: &str) -> Result<S3Spec, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not an s3:// URL ({e})"))?;
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or("s3:// needs a bucket name")?.to_string();
    let prefix = url.path().trim_start_matches('/');
    let mut spec = S3Spec {
        bucket,
        prefix: (!prefix.is_empty()).then(|| format!("{}/", prefix.trim_end_matches('/'))),
        ..S3Spec::default()
    };
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "endpoint" => spec.endpoint = Some(value.into_owned()),
            "region" => spec.region = Some(value.into_owned()),
            "path_style" => {
                spec.path_style = Some(value.parse().map_err(|_| format!("path_style={value:?}: use true or false"))?)
            }
            other => {
                return Err(format!(
                    "unknown option {other:?} (use endpoint, region, path_style; credentials come from \
                     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the config file)"
                ));
            }
        }
    }
    Ok(spec)
}

pub fn check_service_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("service name {name:?} must be 1 to 32 letters, digits, '-' or '_'"));
    }
    Ok(())
}

/// How a local folder is opened: to serve it (its signed URLs name this server's address and
/// are signed with the key every instance shares), or only to read what it holds (the folder is
/// not created).
pub enum Opening<'a> {
    Serve { public_url: &'a str, signer: &'a UrlSigner },
    Read,
}

/// Why the configured stores could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A local folder that cannot be made or used.
    #[error("cannot use the data directory {}: {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    /// A name or a store's settings that do not hold; the message names the service.
    #[error("{0}")]
    Config(String),
}

/// The stores of `services`, by name: each name checked, none twice.
pub fn open_stores(
    services: impl IntoIterator<Item = (String, ServiceSpec)>,
    opening: &Opening<'_>,
) -> Result<BTreeMap<String, BlobStore>, OpenError> {
    let config = OpenError::Config;
    let mut stores = BTreeMap::new();
    for (name, spec) in services {
        check_service_name(&name).map_err(config)?;
        let store = match spec {
            ServiceSpec::Local(root) => match opening {
                Opening::Serve { public_url, signer } => BlobStore::Local(
                    LocalStore::new(root.clone(), public_url, (*signer).clone())
                        .map_err(|source| OpenError::Folder { path: root, source })?,
                ),
                Opening::Read => BlobStore::Local(LocalStore::for_reading(root)),
            },
            ServiceSpec::S3(spec) => {
                BlobStore::S3(S3Store::new(spec).map_err(|e| config(format!("service {name:?}: {e}")))?)
            }
            ServiceSpec::Gcs(spec) => {
                BlobStore::Gcs(GcsStore::new(spec).map_err(|e| config(format!("service {name:?}: {e}")))?)
            }
            ServiceSpec::Azure(spec) => {
                BlobStore::Azure(AzureStore::new(spec).map_err(|e| config(format!("service {name:?}: {e}")))?)
            }
        };
        if stores.insert(name.clone(), store).is_some() {
            return Err(config(format!("service {name:?} is configured twice")));
        }
    }
    Ok(stores)
}
