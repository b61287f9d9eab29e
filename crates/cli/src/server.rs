//! `fedml server`: runs the platform with the embedded default (SQLite + a local folder under
//! one data directory) unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use fedml_platform::catalogue::Retention;
use fedml_platform::operations::Lifetimes;
use fedml_platform::quota::{Limit, Quota, parse_size};
use fedml_server::config::{FileConfig, S3Listen};
use fedml_server::{DEFAULT_PORT, Limits, ServerConfig, ServiceSpec};

use crate::Outcome;
use crate::output::say;

#[derive(Args)]
pub struct ServerArgs {
    /// A TOML configuration file; flags and environment variables override what it says.
    #[arg(long, env = "FEDML_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8780].
    #[arg(long, env = "FEDML_LISTEN")]
    listen: Option<SocketAddr>,
    /// Address the S3 API listens on, or `off` to serve none [default: 127.0.0.1:8781; when that
    /// is taken, the server starts without S3 and says so].
    #[arg(long, env = "FEDML_S3_LISTEN", value_name = "ADDR|off")]
    s3_listen: Option<String>,
    /// A domain under which `BUCKET.DOMAIN` names a bucket (virtual-host style S3 requests; a
    /// wildcard DNS record points them here). Path-style requests are always served.
    #[arg(long, env = "FEDML_S3_DOMAIN", value_name = "DOMAIN")]
    s3_domain: Option<String>,
    /// The URL S3 clients reach the S3 API at, as `fedml storage s3-credentials` gives it
    /// [default: http://<s3-listen>].
    #[arg(long, env = "FEDML_S3_PUBLIC_URL", value_name = "URL")]
    s3_public_url: Option<String>,
    /// Where the catalogue, the blobs and the admin key live.
    #[arg(long, env = "FEDML_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Catalogue database URL: sqlite://PATH or postgres://… [default: sqlite://<data-dir>/catalogue.db].
    #[arg(long, env = "FEDML_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// A storage service, NAME=local:PATH or NAME=s3://BUCKET[/PREFIX]?endpoint=URL&region=R; repeat
    /// for several [default: R2=local:<data-dir>/blobs].
    #[arg(long = "service", value_name = "NAME=BACKEND")]
    services: Vec<String>,
    /// The service used when a client names none.
    #[arg(long)]
    default_service: Option<String>,
    /// The URL clients reach this server at, used in signed URLs [default: http://<listen>].
    #[arg(long, env = "FEDML_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds an upload session (and its part URLs) stays valid [default: 86400].
    #[arg(long)]
    upload_ttl: Option<i64>,
    /// Seconds a download URL stays valid [default: 3600].
    #[arg(long)]
    download_ttl: Option<i64>,
    /// Seconds a deleted or replaced blob is kept for downloads already under way [default: 3600].
    #[arg(long)]
    reclaim_grace: Option<i64>,
    /// Seconds a dashboard sign-in lasts [default: 43200].
    #[arg(long)]
    session_ttl: Option<i64>,
    /// Seconds between runs of the collector [default: 60].
    #[arg(long)]
    gc_interval: Option<u64>,
    /// Seconds a request's headers may take, a request body may send nothing, and a client may
    /// receive nothing of a response, before the connection is closed [default: 30].
    #[arg(long)]
    idle_timeout: Option<u64>,
    /// Bytes per second every request body must average after the first idle timeout; 0: no
    /// minimum [default: 16384].
    #[arg(long)]
    min_body_rate: Option<u64>,
    /// Connections served at once; more wait until one ends [default: what the open-files limit
    /// (`ulimit -n`) leaves room for].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Connections served at once from one client address (an IPv6 client's /64); more are
    /// refused at once with HTTP 429. Behind a reverse proxy every client has the proxy's
    /// address: set 0 (no limit) there and limit clients in the proxy [default: half of
    /// --max-connections].
    #[arg(long, value_name = "N")]
    max_connections_per_client: Option<usize>,
    /// Seconds a shutdown (Ctrl-C, SIGTERM) lets requests in flight finish before closing their
    /// connections [default: 10].
    #[arg(long)]
    shutdown_grace: Option<u64>,
    /// Bytes each user may store (uploads in progress count), e.g. 10GiB, unless `fedml admin user
    /// quota` gives them their own [default: no limit].
    #[arg(long, value_name = "SIZE")]
    quota_bytes: Option<String>,
    /// Objects each user may store (uploads in progress count), unless `fedml admin user quota`
    /// gives them their own [default: no limit].
    #[arg(long, value_name = "N")]
    quota_objects: Option<u64>,
    /// Versions kept of each name, the latest included: an upload with --overwrite adds one and
    /// the oldest beyond this goes. With content-defined chunks a version costs only the bytes it
    /// changed; 1 keeps no earlier version [default: 10].
    #[arg(long, value_name = "N")]
    keep_versions: Option<u32>,
    /// Days an earlier version is kept, however few a name has [default: no limit].
    #[arg(long, value_name = "DAYS")]
    keep_version_days: Option<u64>,
    /// Days a share link (`fedml storage share`) may live at most; a link asked for longer is
    /// refused [default: 30].
    #[arg(long, value_name = "DAYS")]
    max_share_days: Option<u64>,
    /// Days the audit log (`fedml org log`) keeps its lines [default: 365].
    #[arg(long, value_name = "DAYS")]
    audit_days: Option<u64>,
    /// A token that `GET /metrics` then requires as `Authorization: Bearer <token>` [default: none,
    /// /metrics is open].
    #[arg(long, env = "FEDML_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// How log lines on stderr read: `text` for people, `json` (one object per line) for log
    /// shippers [default: text].
    #[arg(long, value_enum, env = "FEDML_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The shape of the server's log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `$FEDML_DATA_DIR`, else `$XDG_DATA_HOME/fedml-server`, else `~/.local/share/fedml-server`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("fedml-server");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local").join("share").join("fedml-server"),
        None => PathBuf::from("fedml-server-data"),
    }
}

/// Logs to stderr. Each request's lines carry its id (the `request` span's `request_id`): in the
/// text format as `request{request_id=…}:`, in JSON as `"span":{"request_id":…}`.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FEDML_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}

/// The S3 API's listener from `--s3-listen` (an address or `off`), `--s3-domain` and
/// `--s3-public-url`; by default on 127.0.0.1:8781 (any free port when `listen`'s is 0).
fn s3_listen(
    given: Option<String>,
    domain: Option<String>,
    public_url: Option<String>,
    listen: SocketAddr,
) -> Result<Option<S3Listen>, String> {
    let mut s3 = match given.as_deref().map(str::trim) {
        Some("off") => return Ok(None),
        Some(text) => {
            let addr = text
                .parse::<SocketAddr>()
                .map_err(|e| format!("--s3-listen {text:?}: {e}; give an address such as 127.0.0.1:8781, or off"))?;
            S3Listen { listen: addr, required: true, domain: None, public_url: None }
        }
        None if listen.port() == 0 => S3Listen::beside(listen),
        None => S3Listen::beside(SocketAddr::from(([127, 0, 0, 1], fedml_server::DEFAULT_S3_PORT))),
    };
    if let Some(domain) = domain.filter(|d| !d.trim().is_empty()) {
        s3.domain = Some(domain.trim().trim_end_matches('.').to_ascii_lowercase());
    }
    if let Some(url) = public_url {
        let parsed = url::Url::parse(&url).map_err(|e| format!("--s3-public-url {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--s3-public-url {url:?}: give an http:// or https:// URL"));
        }
        s3.public_url = Some(url.trim_end_matches('/').to_string());
    }
    Ok(Some(s3))
}

/// Flags and environment over the file over the defaults.
fn build_config(args: ServerArgs) -> Result<(ServerConfig, PathBuf), String> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let data_dir = args.data_dir.or(file.data_dir.clone()).unwrap_or_else(default_data_dir);
    let services = if args.services.is_empty() {
        file.service_specs()?
    } else {
        args.services
            .iter()
            .map(|t| ServiceSpec::parse_named(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--service: {e}"))?
    };
    let defaults = Lifetimes::default();
    let lifetimes = Lifetimes {
        upload_secs: args.upload_ttl.or(file.upload_ttl).unwrap_or(defaults.upload_secs),
        download_secs: args.download_ttl.or(file.download_ttl).unwrap_or(defaults.download_secs),
        reclaim_grace_secs: args.reclaim_grace.or(file.reclaim_grace).unwrap_or(defaults.reclaim_grace_secs).max(0),
        session_secs: args.session_ttl.or(file.session_ttl).unwrap_or(defaults.session_secs),
    };
    for (name, value) in [
        ("upload_ttl", lifetimes.upload_secs),
        ("download_ttl", lifetimes.download_secs),
        ("session_ttl", lifetimes.session_secs),
    ] {
        if value <= 0 {
            return Err(format!("{name} must be a positive number of seconds"));
        }
    }
    let default_limits = Limits::default();
    let idle_timeout = args.idle_timeout.or(file.idle_timeout).map_or(default_limits.idle_timeout, Duration::from_secs);
    if idle_timeout.is_zero() {
        return Err("idle_timeout must be a positive number of seconds".into());
    }
    if args.max_connections.or(file.max_connections) == Some(0) {
        return Err("max_connections must be at least 1".into());
    }
    let limits = Limits {
        idle_timeout,
        min_body_rate: args.min_body_rate.or(file.min_body_rate).unwrap_or(default_limits.min_body_rate),
        max_connections: args.max_connections.or(file.max_connections),
        max_connections_per_client: args.max_connections_per_client.or(file.max_connections_per_client),
        shutdown_grace: args
            .shutdown_grace
            .or(file.shutdown_grace)
            .map_or(default_limits.shutdown_grace, Duration::from_secs),
    };
    let quota_bytes = match args.quota_bytes {
        Some(text) => Some(parse_size(&text).map_err(|e| format!("--quota-bytes: {e}"))?),
        None => file.quota_bytes.as_ref().map(|s| s.bytes().map_err(|e| format!("quota_bytes: {e}"))).transpose()?,
    };
    let limit = |n: Option<u64>| n.map_or(Limit::Unlimited, Limit::Max);
    let quota = Quota { bytes: limit(quota_bytes), objects: limit(args.quota_objects.or(file.quota_objects)) };
    let keep = args.keep_versions.or(file.keep_versions).unwrap_or(Retention::default().keep);
    if keep == 0 {
        return Err("keep_versions must be at least 1 (the latest version is always kept)".into());
    }
    let max_age_ms = match args.keep_version_days.or(file.keep_version_days) {
        Some(0) => {
            return Err("keep_version_days must be at least 1; leave it out to keep versions for any time".into());
        }
        Some(days) => Some(i64::try_from(days.saturating_mul(24 * 3600 * 1000)).unwrap_or(i64::MAX)),
        None => None,
    };
    let days = |name: &str, value: Option<u64>, default: u64| match value {
        Some(0) => Err(format!("{name} must be at least 1")),
        Some(days) => Ok(days.saturating_mul(24 * 3600)),
        None => Ok(default),
    };
    let max_share_secs = days(
        "max_share_days",
        args.max_share_days.or(file.max_share_days),
        fedml_platform::operations::DEFAULT_MAX_SHARE_SECS,
    )?;
    let audit_retention_secs = days(
        "audit_days",
        args.audit_days.or(file.audit_days),
        fedml_platform::operations::DEFAULT_AUDIT_RETENTION_SECS,
    )?;
    let listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
    let s3 = s3_listen(
        args.s3_listen.or(file.s3_listen),
        args.s3_domain.or(file.s3_domain),
        args.s3_public_url.or(file.s3_public_url),
        listen,
    )?;
    let config = ServerConfig {
        listen,
        data_dir: data_dir.clone(),
        database_url: args.database.or(file.database),
        services,
        default_service: args.default_service.or(file.default_service),
        public_url: args.public_url.or(file.public_url),
        lifetimes,
        gc_interval: Duration::from_secs(args.gc_interval.or(file.gc_interval).unwrap_or(60).max(1)),
        limits,
        quota,
        retention: Retention { keep, max_age_ms },
        max_share_secs,
        audit_retention_secs,
        metrics_token: match args.metrics_token.or(file.metrics_token) {
            Some(token) if token.trim().is_empty() => {
                return Err("metrics_token is empty; give a token, or leave it out to keep /metrics open".into());
            }
            token => token,
        },
        s3,
    };
    Ok((config, data_dir))
}

pub fn run(args: ServerArgs) -> Outcome {
    init_logging(args.log_format);
    let (config, data_dir) = match build_config(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{}", crate::output::message("FAILURE", &message));
            return Outcome::Failure;
        }
    };
    // File writes of received parts run on the blocking pool: a few dozen threads keep the disk
    // busy; tokio's default of 512 only adds stacks and scheduling when hundreds of parts arrive.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(64).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: cannot start the runtime: {e}");
            return Outcome::Error;
        }
    };
    let outcome = runtime.block_on(async move {
        let server = match fedml_server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}", crate::output::message("FAILURE", &e.to_string()));
                return Outcome::Failure;
            }
        };
        say!("FedML storage server listening on {}", server.public_url);
        say!("  dashboard:      {}/", server.public_url.trim_end_matches('/'));
        match &server.s3_url {
            Some(url) => say!("  S3 API:         {url} (credentials: fedml storage s3-credentials)"),
            None => say!("  S3 API:         off"),
        }
        say!("  data directory: {}", data_dir.display());
        say!("  catalogue:      {}", server.database);
        for (name, store) in &server.services {
            let default = if *name == server.default_service { " (default)" } else { "" };
            say!("  service {name}{default}: {store}");
        }
        tracing::info!(url = %server.public_url, catalogue = %server.database, services = ?server.services.iter().map(|s| &s.0).collect::<Vec<_>>(), "serving");
        if let Some(boot) = &server.bootstrap {
            say!();
            say!("First start: created the user {:?} with this API key (shown only now; also in {}, mode 0600):", boot.user, boot.key_file.display());
            say!("  {}", boot.api_key);
            say!("Log in with:  fedml login <that key> --server {}", server.public_url);
        }
        match server.wait_for_signal().await {
            Ok(()) => Outcome::Success,
            Err(e) => {
                eprintln!("{}", crate::output::message("ERROR", &format!("the server stopped: {e}")));
                Outcome::Error
            }
        }
    });
    // The connections are closed; a file write of the blocking pool still running is given a
    // moment, not a wait without end.
    runtime.shutdown_timeout(Duration::from_secs(2));
    outcome
}

/// The configuration `fedml admin` commands that reach the blob stores read: the same file,
/// flags and defaults as `fedml server`, so that they see the services the server serves.
pub fn admin_config(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    services: Vec<String>,
) -> Result<ServerConfig, String> {
    let args = ServerArgs {
        config,
        listen: None,
        s3_listen: Some("off".into()),
        s3_domain: None,
        s3_public_url: None,
        data_dir,
        database,
        services,
        default_service: None,
        public_url: None,
        upload_ttl: None,
        download_ttl: None,
        reclaim_grace: None,
        session_ttl: None,
        gc_interval: None,
        idle_timeout: None,
        min_body_rate: None,
        max_connections: None,
        max_connections_per_client: None,
        shutdown_grace: None,
        quota_bytes: None,
        quota_objects: None,
        keep_versions: None,
        keep_version_days: None,
        max_share_days: None,
        audit_days: None,
        metrics_token: None,
        log_format: LogFormat::Text,
    };
    build_config(args).map(|(config, _)| config)
}
