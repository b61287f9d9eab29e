//! The FedML storage platform server: what wires the platform to its front ends.
//!
//! `start` reads the configuration ([`config`]), opens the catalogue and the blob stores of
//! every configured service, builds the one router (the probes, then each front end: the
//! native API, the FedML SDK routes, the dashboard, the signed blob URLs; under them the
//! middleware stack: request tracking, then the body limits of [`limits`]), binds the listener
//! and serves until shut down, with at most so many connections in all and per client. The same
//! server is the embedded default (SQLite + a local folder, no set-up) and, with other
//! configuration, one of several stateless instances.
//!
//! Architecture invariant: this crate decides nothing a front end or the platform decides; it
//! only puts them together.

pub mod config;
pub mod limits;
#[cfg(test)]
mod openapi_routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use fedml_api_common::observe;
use fedml_platform::admin::{self, Bootstrap};
use fedml_platform::blobs::{OpenError, Opening, open_stores};
use fedml_platform::catalogue::{self, Catalogue};
use fedml_platform::signing::UrlSigner;
use fedml_platform::{Platform, keys, maintenance};

pub use crate::config::ServerConfig;
pub use crate::limits::Limits;
pub use fedml_platform::blobs::{ServiceSpec, check_service_name};

pub const DEFAULT_PORT: u16 = 8780;
/// The S3 API's port unless configured.
pub const DEFAULT_S3_PORT: u16 = 8781;
pub const DEFAULT_SERVICE: &str = "R2";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the catalogue: {0}")]
    Catalogue(#[from] catalogue::CatalogueError),
    #[error("cannot listen on {addr}: {source}; pick another address with --listen")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot serve the S3 API on {addr}: {source}; pick another address with --s3-listen (or --s3-listen off)")]
    BindS3 { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Admin(#[from] admin::AdminError),
}

pub struct RunningServer {
    pub addr: SocketAddr,
    pub public_url: String,
    /// Where the S3 API listens, and the URL its clients are given; `None`: not served.
    pub s3_addr: Option<SocketAddr>,
    pub s3_url: Option<String>,
    pub database: String,
    /// (service name, description of its store)
    pub services: Vec<(String, String)>,
    pub default_service: String,
    pub bootstrap: Option<Bootstrap>,
    pub platform: Arc<Platform>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish for at most the shutdown grace
    /// ([`Limits::shutdown_grace`]), closes the connections still open, and returns.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.map_err(std::io::Error::other)?
    }

    /// Serves until the process is interrupted (Ctrl-C / SIGTERM).
    pub async fn wait_for_signal(self) -> std::io::Result<()> {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        ctrl_c.await?;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

fn private_dir(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Starts the platform.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    private_dir(&config.data_dir).map_err(|source| StartError::DataDir { path: config.data_dir.clone(), source })?;
    // Held while serving: `fedml admin restore` refuses a data directory a server uses.
    let data_lock =
        maintenance::lock::DataDirLock::shared(&config.data_dir).map_err(|e| StartError::Config(e.to_string()))?;
    let database = config.database_url();
    let catalogue = Catalogue::open(&database).await?.with_retention(config.retention);
    let secret = catalogue.setting_or_insert("url_signing_key", || keys::random_hex(32)).await?;
    let signer = UrlSigner::new(secret.as_bytes());

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let s3_listener = match &config.s3 {
        Some(s3) => bind_s3(s3).await?,
        None => None,
    };
    let s3_addr = s3_listener.as_ref().and_then(|l| l.local_addr().ok());
    let s3_url = s3_addr.map(|a| {
        let configured = config.s3.as_ref().and_then(|s3| s3.public_url.clone());
        configured.unwrap_or_else(|| format!("http://{a}"))
    });

    let services = open_stores(config.service_specs(), &Opening::Serve { public_url: &public_url, signer: &signer })
        .map_err(|e| match e {
            OpenError::Folder { path, source } => StartError::DataDir { path, source },
            OpenError::Config(message) => StartError::Config(message),
        })?;
    let default_service = config
        .default_service
        .clone()
        .unwrap_or_else(|| services.keys().next().cloned().unwrap_or_else(|| DEFAULT_SERVICE.into()));
    if !services.contains_key(&default_service) {
        return Err(StartError::Config(format!(
            "the default service {default_service:?} is not among the configured ones"
        )));
    }
    let described = services.iter().map(|(n, s)| (n.clone(), s.describe())).collect();

    let bootstrap = admin::bootstrap(&catalogue, &config.data_dir).await?;
    let mut platform =
        Platform::new(catalogue, services, default_service.clone(), public_url.clone(), config.lifetimes.clone())
            .with_default_quota(config.quota)
            .with_signer(signer.clone())
            .with_max_share_secs(config.max_share_secs)
            .with_audit_retention_secs(config.audit_retention_secs)
            .with_s3_url(s3_url.clone());
    platform.observe.metrics_token = config.metrics_token.clone();
    let platform = Arc::new(platform);

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut listeners = vec![(listener, limits::apply(router(platform.clone()), &config.limits))];
    if let Some(s3_listener) = s3_listener {
        let options = fedml_api_s3::S3Options { domain: config.s3.as_ref().and_then(|s3| s3.domain.clone()) };
        let app = s3_router(platform.clone(), &options).map_err(StartError::Config)?;
        listeners.push((s3_listener, limits::apply(app, &config.limits)));
    }
    let limits = config.limits.clone();
    let counters = platform.observe.metrics.connections();
    let collector = platform.clone();
    let interval = config.gc_interval;
    let task = tokio::spawn(async move {
        let _data_lock = data_lock;
        let gc = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match collector.collect_all_garbage().await {
                    Ok(r) if r.blobs_reclaimed + r.sessions_expired > 0 => {
                        tracing::info!(
                            reclaimed = r.blobs_reclaimed,
                            expired_sessions = r.sessions_expired,
                            "collector"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "collector run failed; will retry"),
                }
            }
        });
        let served = serve(listeners, &limits, counters, async {
            let _ = rx.await;
        })
        .await;
        gc.abort();
        served
    });
    Ok(RunningServer {
        addr,
        public_url,
        s3_addr,
        s3_url,
        database: redact_url(&database),
        services: described,
        default_service,
        bootstrap,
        platform,
        shutdown: Some(tx),
        task,
    })
}

/// The one router: the probes and every front end's routes over the platform; a path none of
/// them serves, or a method a path does not take, answered with the envelope; every request
/// tracked (its id, span, log line and metrics).
pub fn router(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/healthz", get(observe::handle_healthz))
        .route("/readyz", get(observe::handle_readyz))
        .route("/metrics", get(observe::handle_metrics))
        .merge(fedml_api_native::router())
        .merge(fedml_api_fedml::router())
        .merge(fedml_api_web::router())
        .merge(fedml_api_blob::router())
        .merge(fedml_api_hub::router())
        .fallback(fedml_api_common::reply::handle_unknown_route)
        .method_not_allowed_fallback(fedml_api_common::reply::handle_wrong_method)
        .layer(axum::middleware::from_fn_with_state(platform.clone(), fedml_api_common::requests::track))
        .with_state(platform)
}

/// The S3 API's listener: `None` when its default address is taken (another server on the same
/// machine), which is only warned about; an address asked for must be free.
async fn bind_s3(s3: &config::S3Listen) -> Result<Option<tokio::net::TcpListener>, StartError> {
    match tokio::net::TcpListener::bind(s3.listen).await {
        Ok(listener) => Ok(Some(listener)),
        Err(source) if s3.required => Err(StartError::BindS3 { addr: s3.listen, source }),
        Err(e) => {
            tracing::warn!(addr = %s3.listen, error = %e, "the S3 API is not served: its default address is taken; give another with --s3-listen");
            Ok(None)
        }
    }
}

/// The S3 API's router, tracked as the main one is (request ids, metrics by S3 operation, one log
/// line per request).
pub fn s3_router(platform: Arc<Platform>, options: &fedml_api_s3::S3Options) -> Result<Router, String> {
    Ok(fedml_api_s3::router(platform.clone(), options)?
        .layer(axum::middleware::from_fn_with_state(platform, fedml_api_common::requests::track)))
}

/// Most bytes hyper buffers per connection while reading a request. Its default (about 400 KiB)
/// is reached by every fast upload stream, so that a hundred concurrent part uploads held 40 MiB
/// in read buffers alone; 64 KiB keeps a loopback upload at full speed.
const READ_BUFFER: usize = 64 << 10;

/// Serves each router on its listener (the main one, the S3 API's) until `shutdown` resolves, at
/// most `limits.connection_cap()` connections at once over all of them (more wait in the kernel's
/// backlog, so that the process never runs out of file descriptors) and at most
/// `limits.per_client_cap()` from one client (more are refused at once, without holding a slot);
/// a connection whose client receives nothing of a response for the idle timeout is closed. Then
/// stops accepting, lets the requests in flight finish for at most `limits.shutdown_grace`, and
/// closes the connections still open. `counters` count the connections refused and closed.
async fn serve(
    listeners: Vec<(tokio::net::TcpListener, axum::Router)>,
    limits: &Limits,
    counters: fedml_platform::observe::ConnectionCounters,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = limits.connection_cap();
    let per_client = limits.per_client_cap(cap);
    tracing::info!(max_connections = cap, max_connections_per_client = per_client, "accepting connections");
    // Dropped when the grace is over: every connection still open is closed.
    let (close_all, closing) = tokio::sync::watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(READ_BUFFER).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.idle_timeout);
    let shared = Accepting {
        slots: Arc::new(tokio::sync::Semaphore::new(cap)),
        clients: limits::PerClient::new(per_client),
        graceful: hyper_util::server::graceful::GracefulShutdown::new(),
        http,
        closing,
        limits,
        counters,
        per_client,
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let accepting = futures_util::future::join_all(
        listeners.into_iter().map(|(listener, app)| accept(listener, app, &shared, stopping.clone())),
    );
    let signal = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    let (_, accepted) = tokio::join!(signal, accepting);
    accepted.into_iter().collect::<std::io::Result<Vec<()>>>()?;
    let Accepting { slots, graceful, .. } = shared;
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "requests still in flight at the end of the shutdown grace; closing their connections");
        drop(close_all);
        // The connections end as soon as their tasks run again.
        let all = u32::try_from(cap).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), slots.acquire_many(all)).await;
    }
    Ok(())
}

/// What the listeners of one server share: the connection cap, the per-client cap, the graceful
/// shutdown of every connection.
struct Accepting<'a> {
    slots: Arc<tokio::sync::Semaphore>,
    clients: Arc<limits::PerClient>,
    graceful: hyper_util::server::graceful::GracefulShutdown,
    http: hyper::server::conn::http1::Builder,
    closing: tokio::sync::watch::Receiver<()>,
    limits: &'a Limits,
    counters: fedml_platform::observe::ConnectionCounters,
    per_client: usize,
}

/// Accepts connections on `listener` for `app` until `stopping` turns true.
async fn accept(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shared: &Accepting<'_>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limits = shared.limits;
    let stopped = async move {
        while !*stopping.borrow_and_update() {
            if stopping.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::pin!(stopped);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let Some(admitted) = shared.clients.admit(Some(peer.ip())) else {
            shared.counters.refused.inc();
            tracing::debug!(%peer, max_connections_per_client = shared.per_client, "refused a connection: its client has the most it may have open");
            shared.clients.refuse(stream);
            continue;
        };
        // A slot of the cap every listener shares, taken once a connection is accepted (a
        // listener waiting for one would hold a slot the others need): at most one accepted
        // connection per listener waits for a slot, the rest wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = shared.slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        // Each request knows the address it came from (the dashboard's sign-in limit).
        let app = tower::ServiceExt::map_request(app.clone(), move |mut request: axum::extract::Request<_>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            request
        });
        let service = hyper_util::service::TowerToHyperService::new(app);
        let io = limits::TimedWrites::new(stream, limits.idle_timeout, Some(peer), shared.counters.stalled.clone());
        let connection = shared.graceful.watch(shared.http.serve_connection(hyper_util::rt::TokioIo::new(io), service));
        let mut closing = shared.closing.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                _ = closing.changed() => tracing::debug!("connection closed at shutdown"),
            }
            drop(admitted);
            drop(slot);
        });
    }
    Ok(())
}

/// A database URL fit for a log line: any password is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite:///x/y.db"), "sqlite:///x/y.db");
    }
}
