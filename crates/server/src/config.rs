//! Server configuration: built from a TOML file (`--config`), then environment and flags (the
//! CLI applies those on top). Service names map to stores: `NAME=local:PATH` or
//! `NAME=s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true` on the command line, or a
//! `[services.NAME]` table in the file. Credentials are never printed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::blobs::S3Spec;
use crate::limits::Limits;
use crate::platform::Lifetimes;
use crate::quota::Quota;

/// Where a service keeps its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSpec {
    /// A folder on this machine.
    Local(PathBuf),
    /// A bucket of an S3-compatible store.
    S3(S3Spec),
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
        Err(format!("service {name:?}: the backend must read local:PATH or s3://BUCKET (got {spec:?})"))
    }
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

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://<data_dir>/catalogue.db`.
    pub database_url: Option<String>,
    /// Service name → store; default: `R2` in `<data_dir>/blobs`.
    pub services: Vec<(String, ServiceSpec)>,
    pub default_service: Option<String>,
    /// The address clients reach this server at (for signed URLs); default: `http://<listen>`.
    pub public_url: Option<String>,
    pub lifetimes: Lifetimes,
    pub gc_interval: Duration,
    /// What one client can hold: body timeouts, connections, the shutdown bound.
    pub limits: Limits,
    /// The quota of users without their own; unlimited by default.
    pub quota: Quota,
    /// When set, `GET /metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}

impl ServerConfig {
    pub fn embedded(data_dir: PathBuf, listen: SocketAddr) -> Self {
        ServerConfig {
            listen,
            data_dir,
            database_url: None,
            services: Vec::new(),
            default_service: None,
            public_url: None,
            lifetimes: Lifetimes::default(),
            gc_interval: Duration::from_secs(60),
            limits: Limits::default(),
            metrics_token: None,
            quota: Quota::default(),
        }
    }

    /// The configured services, or the default: `R2` in `<data_dir>/blobs`.
    pub fn service_specs(&self) -> Vec<(String, ServiceSpec)> {
        if self.services.is_empty() {
            vec![(crate::DEFAULT_SERVICE.to_string(), ServiceSpec::Local(self.data_dir.join("blobs")))]
        } else {
            self.services.clone()
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("catalogue.db").display()))
    }
}

/// The configuration file (TOML). Every field is optional; flags and environment override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub public_url: Option<String>,
    pub default_service: Option<String>,
    pub upload_ttl: Option<i64>,
    pub download_ttl: Option<i64>,
    pub reclaim_grace: Option<i64>,
    pub session_ttl: Option<i64>,
    pub gc_interval: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub min_body_rate: Option<u64>,
    pub max_connections: Option<usize>,
    pub shutdown_grace: Option<u64>,
    /// The default quota: a number of bytes or a size such as "10GiB".
    pub quota_bytes: Option<SizeValue>,
    pub quota_objects: Option<u64>,
    pub metrics_token: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceFile>,
}

/// A size in the file: `10737418240` or `"10GiB"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            SizeValue::Bytes(n) => Ok(*n),
            SizeValue::Text(text) => crate::quota::parse_size(text),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum ServiceFile {
    Local { path: PathBuf },
    S3(S3Spec),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn service_specs(&self) -> Result<Vec<(String, ServiceSpec)>, String> {
        self.services
            .iter()
            .map(|(name, s)| {
                check_service_name(name)?;
                Ok((
                    name.clone(),
                    match s {
                        ServiceFile::Local { path } => ServiceSpec::Local(path.clone()),
                        ServiceFile::S3(spec) => ServiceSpec::S3(spec.clone()),
                    },
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_specs() {
        assert_eq!(ServiceSpec::parse_named("R2=local:/tmp/x"), Ok(("R2".into(), ServiceSpec::Local("/tmp/x".into()))));
        let (_, s3) = ServiceSpec::parse_named("R2=s3://models/team-a?endpoint=http://127.0.0.1:9000&region=auto")
            .expect("s3 spec");
        let ServiceSpec::S3(s3) = s3 else { panic!("not s3") };
        assert_eq!(s3.bucket, "models");
        assert_eq!(s3.prefix.as_deref(), Some("team-a/"));
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region.as_deref(), Some("auto"));
        for bad in ["R2", "R 2=local:/x", "R2=ftp:/x", "R2=local:", "R2=s3://b?secret=x", "R2=s3://?endpoint=x"] {
            assert!(ServiceSpec::parse_named(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn config_file() {
        let text = r#"
            listen = "0.0.0.0:9000"
            database = "postgres://fedml@db/fedml"
            default_service = "R2"
            [services.R2]
            backend = "s3"
            bucket = "fedml"
            endpoint = "https://account.r2.cloudflarestorage.com"
            region = "auto"
            [services.scratch]
            backend = "local"
            path = "/srv/scratch"
        "#;
        let file: FileConfig = toml::from_str(text).expect("parses");
        let specs = file.service_specs().expect("specs");
        assert_eq!(specs.len(), 2);
        assert!(matches!(&specs[0].1, ServiceSpec::S3(s) if s.region.as_deref() == Some("auto")));
        let limits: FileConfig =
            toml::from_str("idle_timeout = 5\nmin_body_rate = 0\nmax_connections = 100\nshutdown_grace = 3")
                .expect("limits parse");
        assert_eq!(
            (limits.idle_timeout, limits.min_body_rate, limits.max_connections, limits.shutdown_grace),
            (Some(5), Some(0), Some(100), Some(3))
        );
        let quota: FileConfig = toml::from_str("quota_bytes = \"10GiB\"\nquota_objects = 7").expect("quota parses");
        assert_eq!(quota.quota_bytes.map(|q| q.bytes()), Some(Ok(10 << 30)));
        assert_eq!(quota.quota_objects, Some(7));
        let quota: FileConfig = toml::from_str("quota_bytes = 1000").expect("quota in bytes");
        assert_eq!(quota.quota_bytes.map(|q| q.bytes()), Some(Ok(1000)));
        let quota: FileConfig = toml::from_str("quota_bytes = \"lots\"").expect("parsed, refused at start");
        assert!(quota.quota_bytes.map(|q| q.bytes()).is_some_and(|r| r.is_err()));
        assert!(toml::from_str::<FileConfig>("quota_objects = -1").is_err());
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err(), "typos are reported");
        assert!(toml::from_str::<FileConfig>("[services.x]\nbackend = \"ftp\"").is_err());
    }
}
