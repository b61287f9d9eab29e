//! `fedml server`: runs the platform with the embedded default (SQLite + a local folder under
//! one data directory) unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use fedml_server::platform::Lifetimes;
use fedml_server::{DEFAULT_PORT, ServerConfig, ServiceSpec};

use crate::Outcome;

#[derive(Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "FEDML_LISTEN", default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,
    /// Where the catalogue, the blobs and the admin key live.
    #[arg(long, env = "FEDML_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Catalogue database URL (default: sqlite://<data-dir>/catalogue.db).
    #[arg(long, env = "FEDML_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// A storage service, NAME=local:PATH; repeat for several (default: R2=local:<data-dir>/blobs).
    #[arg(long = "service", value_name = "NAME=BACKEND")]
    services: Vec<String>,
    /// The service used when a client names none.
    #[arg(long)]
    default_service: Option<String>,
    /// The URL clients reach this server at, used in signed URLs (default: http://<listen>).
    #[arg(long, env = "FEDML_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds an upload session (and its part URLs) stays valid.
    #[arg(long, default_value_t = 24 * 3600)]
    upload_ttl: i64,
    /// Seconds a download URL stays valid.
    #[arg(long, default_value_t = 3600)]
    download_ttl: i64,
    /// Seconds a deleted or replaced blob is kept for downloads already under way.
    #[arg(long, default_value_t = 3600)]
    reclaim_grace: i64,
    /// Seconds between runs of the collector.
    #[arg(long, default_value_t = 60)]
    gc_interval: u64,
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

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FEDML_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(args: ServerArgs) -> Outcome {
    init_logging();
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let mut services = Vec::new();
    for text in &args.services {
        match ServiceSpec::parse_named(text) {
            Ok(s) => services.push(s),
            Err(message) => {
                eprintln!("FAILURE: --service: {message}");
                return Outcome::Failure;
            }
        }
    }
    for (name, value) in [("--upload-ttl", args.upload_ttl), ("--download-ttl", args.download_ttl)] {
        if value <= 0 {
            eprintln!("FAILURE: {name} must be a positive number of seconds");
            return Outcome::Failure;
        }
    }
    let config = ServerConfig {
        listen: args.listen,
        data_dir: data_dir.clone(),
        database_url: args.database,
        services,
        default_service: args.default_service,
        public_url: args.public_url,
        lifetimes: Lifetimes {
            upload_secs: args.upload_ttl,
            download_secs: args.download_ttl,
            reclaim_grace_secs: args.reclaim_grace.max(0),
        },
        gc_interval: Duration::from_secs(args.gc_interval.max(1)),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: cannot start the runtime: {e}");
            return Outcome::Error;
        }
    };
    runtime.block_on(async move {
        let server = match fedml_server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("FAILURE: {e}");
                return Outcome::Failure;
            }
        };
        println!("FedML storage server listening on {}", server.public_url);
        println!("  data directory: {}", data_dir.display());
        println!("  catalogue:      {}", server.database);
        for (name, store) in &server.services {
            let default = if *name == server.default_service { " (default)" } else { "" };
            println!("  service {name}{default}: {store}");
        }
        tracing::info!(url = %server.public_url, catalogue = %server.database, services = ?server.services.iter().map(|s| &s.0).collect::<Vec<_>>(), "serving");
        if let Some(boot) = &server.bootstrap {
            println!();
            println!("First start: created the user {:?} with this API key (shown only now; also in {}, mode 0600):", boot.user, boot.key_file.display());
            println!("  {}", boot.api_key);
            println!("Log in with:  fedml login <that key> --server {}", server.public_url);
        }
        match server.wait_for_signal().await {
            Ok(()) => Outcome::Success,
            Err(e) => {
                eprintln!("ERROR: the server stopped: {e}");
                Outcome::Error
            }
        }
    })
}
