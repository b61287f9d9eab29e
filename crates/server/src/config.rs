//! Server configuration: built from a TOML file (`--config`), then environment and flags (the
//! CLI applies those on top). Service names map to stores: `NAME=local:PATH` or
//! `NAME=s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true`,
//! `NAME=gs://BUCKET[/PREFIX]?endpoint=URL&service_account_path=FILE` or
//! `NAME=azure://CONTAINER[/PREFIX]?account=A&endpoint=URL` on the command line, or a
//! `[services.NAME]` table in the file. Credentials are never printed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::limits::Limits;
use fedml_platform::Lifetimes;
use fedml_platform::blobs::{AzureSpec, GcsSpec, S3Spec, ServiceSpec, check_service_name};
use fedml_platform::quota::Quota;

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
    /// How many versions of each name are kept, and for how long.
    pub retention: fedml_platform::catalogue::Retention,
    /// When set, `GET /metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// The longest a share link lives, in seconds (30 days by default).
    pub max_share_secs: u64,
    /// How long audit lines are kept, in seconds (a year by default).
    pub audit_retention_secs: u64,
    /// The S3 API's listener; `None`: the S3 API is not served.
    pub s3: Option<S3Listen>,
}

/// Where and how the S3 API is served.
#[derive(Debug, Clone)]
pub struct S3Listen {
    pub listen: SocketAddr,
    /// Whether the address was asked for: then a failure to listen on it stops the start; the
    /// default address, when taken (by another server on the same machine), is only warned about.
    pub required: bool,
    /// `BUCKET.DOMAIN` names a bucket (virtual-host style); path-style is always served.
    pub domain: Option<String>,
    /// The URL clients reach the S3 API at (what `fedml storage s3-credentials` gives);
    /// default: `http://<its listener>`.
    pub public_url: Option<String>,
}

impl S3Listen {
    /// The default: port [`crate::DEFAULT_S3_PORT`] on the main listener's address, or any free
    /// port when the main listener asks for one (port 0: tests and scripts that start several
    /// servers at once).
    pub fn beside(listen: SocketAddr) -> S3Listen {
        let port = if listen.port() == 0 { 0 } else { crate::DEFAULT_S3_PORT };
        S3Listen { listen: SocketAddr::new(listen.ip(), port), required: false, domain: None, public_url: None }
    }
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
            retention: fedml_platform::catalogue::Retention::default(),
            max_share_secs: fedml_platform::operations::DEFAULT_MAX_SHARE_SECS,
            audit_retention_secs: fedml_platform::operations::DEFAULT_AUDIT_RETENTION_SECS,
            s3: Some(S3Listen::beside(listen)),
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
    /// Connections at once from one client address; 0: no limit.
    pub max_connections_per_client: Option<usize>,
    pub shutdown_grace: Option<u64>,
    /// The default quota: a number of bytes or a size such as "10GiB".
    pub quota_bytes: Option<SizeValue>,
    pub quota_objects: Option<u64>,
    /// Versions kept of each name, the latest included.
    pub keep_versions: Option<u32>,
    /// Days an earlier version is kept.
    pub keep_version_days: Option<u64>,
    /// Days a share link may live at most.
    pub max_share_days: Option<u64>,
    /// Days audit lines are kept.
    pub audit_days: Option<u64>,
    pub metrics_token: Option<String>,
    /// The S3 API's address, or "off".
    pub s3_listen: Option<String>,
    /// The domain of virtual-host style S3 requests.
    pub s3_domain: Option<String>,
    /// The URL clients reach the S3 API at.
    pub s3_public_url: Option<String>,
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
            SizeValue::Text(text) => fedml_platform::quota::parse_size(text),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum ServiceFile {
    Local { path: PathBuf },
    S3(S3Spec),
    Gcs(GcsSpec),
    Azure(AzureSpec),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // toml's own rendering quotes the offending line, which may hold a key or a password:
        // only the message and where it is are shown.
        toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            format!("{}{at}: {}", path.display(), e.message())
        })
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
                        ServiceFile::Gcs(spec) => ServiceSpec::Gcs(spec.clone()),
                        ServiceFile::Azure(spec) => ServiceSpec::Azure(spec.clone()),
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
    fn cloud_service_specs() {
        let (name, gcs) = ServiceSpec::parse_named(
            "GCS=gs://fedml-models/team-a/?endpoint=http://127.0.0.1:9023&service_account_path=/etc/fedml/sa.json",
        )
        .expect("gs spec");
        let ServiceSpec::Gcs(gcs) = gcs else { panic!("not gcs") };
        assert_eq!(name, "GCS");
        assert_eq!(gcs.bucket, "fedml-models");
        assert_eq!(gcs.prefix.as_deref(), Some("team-a/"));
        assert_eq!(gcs.endpoint.as_deref(), Some("http://127.0.0.1:9023"));
        assert_eq!(gcs.service_account_path.as_deref(), Some(Path::new("/etc/fedml/sa.json")));
        let (_, gcs) = ServiceSpec::parse_named("G=gs://b").expect("bare bucket");
        assert!(
            matches!(gcs, ServiceSpec::Gcs(GcsSpec { ref bucket, prefix: None, endpoint: None, .. }) if bucket == "b")
        );

        let (_, azure) = ServiceSpec::parse_named(
            "AZ=azure://models/a/b?account=fedmlacct&endpoint=http://127.0.0.1:10000/fedmlacct",
        )
        .expect("azure spec");
        let ServiceSpec::Azure(azure) = azure else { panic!("not azure") };
        assert_eq!(azure.container, "models");
        assert_eq!(azure.prefix.as_deref(), Some("a/b/"));
        assert_eq!(azure.account.as_deref(), Some("fedmlacct"));
        assert_eq!(azure.endpoint.as_deref(), Some("http://127.0.0.1:10000/fedmlacct"));
        assert_eq!(azure.access_key, None);

        for bad in [
            "G=gs://",
            "G=gs://b?secret=x",
            "G=gs://b?service_account_key={}",
            "A=azure://",
            "A=azure://c?access_key=x",
            "A=azure://c?region=x",
            "A=azurite://c",
        ] {
            assert!(ServiceSpec::parse_named(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cloud_credentials_stay_out_of_debug() {
        let gcs =
            GcsSpec { bucket: "b".into(), service_account_key: Some("PRIVATE-KEY-TEXT".into()), ..GcsSpec::default() };
        let azure =
            AzureSpec { container: "c".into(), access_key: Some("ACCOUNT-KEY-TEXT".into()), ..AzureSpec::default() };
        let shown = format!("{gcs:?} {azure:?} {:?}", ServiceSpec::Azure(azure.clone()));
        assert!(!shown.contains("PRIVATE-KEY-TEXT") && !shown.contains("ACCOUNT-KEY-TEXT"), "{shown}");
    }

    #[test]
    fn cloud_config_file() {
        let text = r#"
            [services.GCS]
            backend = "gcs"
            bucket = "fedml-models"
            prefix = "team-a/"
            service_account_path = "/etc/fedml/sa.json"
            [services.AZ]
            backend = "azure"
            container = "fedml"
            account = "fedmlacct"
            access_key = "c2VjcmV0"
        "#;
        let file: FileConfig = toml::from_str(text).expect("parses");
        let specs = file.service_specs().expect("specs");
        assert!(matches!(&specs[0].1, ServiceSpec::Azure(a) if a.account.as_deref() == Some("fedmlacct")));
        assert!(matches!(&specs[1].1, ServiceSpec::Gcs(g) if g.prefix.as_deref() == Some("team-a/")));
        assert!(
            toml::from_str::<FileConfig>("[services.x]\nbackend = \"gcs\"\nbucket = \"b\"\nregion = \"x\"").is_err()
        );
        assert!(toml::from_str::<FileConfig>("[services.x]\nbackend = \"azure\"").is_err(), "a container is needed");
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
            toml::from_str("idle_timeout = 5\nmin_body_rate = 0\nmax_connections = 100\nshutdown_grace = 3\nmax_connections_per_client = 0")
                .expect("limits parse");
        assert_eq!(
            (limits.idle_timeout, limits.min_body_rate, limits.max_connections, limits.shutdown_grace),
            (Some(5), Some(0), Some(100), Some(3))
        );
        assert_eq!(limits.max_connections_per_client, Some(0));
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
