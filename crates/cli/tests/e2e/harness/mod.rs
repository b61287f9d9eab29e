use std::path::{Path, PathBuf};
use std::sync::mpsc;

use fedml_client::Target;
use fedml_platform::admin;
use fedml_platform::blobs::S3Spec;
use fedml_platform::catalogue::Retention;
use fedml_platform::operations::{Lifetimes, Platform};
use fedml_platform::quota::Quota;
use fedml_server::{ServerConfig, ServiceSpec};

mod as_user;
// Not every test binary that includes the harness runs the CLI as a user.
#[allow(unused_imports)]
pub use as_user::{As, text};
pub mod clouds;

pub struct TestServer {
    pub url: String,
    pub admin_key: String,
    pub data_dir: PathBuf,
    pub platform: std::sync::Arc<Platform>,
    pub backend: Backend,
    lifetimes: Lifetimes,
    quota: Quota,
    /// The versions kept; a [`TestServer::restart`] starts with this one.
    pub retention: Retention,
    _dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    runtime_handle: tokio::runtime::Handle,
}

/// Which backends the black-box suite runs against: `FEDML_TEST_BACKEND` unset or `embedded`
/// (SQLite + a local folder), or `postgres-s3` (a fresh PostgreSQL database and a fresh bucket
/// per server, on the servers `scripts/backends` starts), or `sqlite-gcs` / `sqlite-azure`
/// (the embedded catalogue and a fresh prefix in the Google Cloud Storage or Azure emulator's
/// bucket: `Cloud`, see `clouds`). A backend that is asked for and not reachable fails the test;
/// only checks an emulator cannot answer are skipped, each saying why ([`Backend::lacks`]).
#[derive(Clone)]
pub enum Backend {
    Embedded,
    PostgresS3 { database_url: String, endpoint: String, s3_root: PathBuf, bucket: String },
    Cloud(ServiceSpec),
}

/// What each emulator lacks that a check needs (real clouds have each).
const GCS_EMULATOR_LACKS: &[&str] = &[
    "signature checking",
    "ETag on reads",
    "check of a body against its Content-Length",
    "suffix byte ranges",
    "serving requests concurrently",
];
/// (Azurite answers `Range: bytes=-N` with 206 and no body; the client never sends one.)
const AZURITE_LACKS: &[&str] = &["suffix byte ranges"];

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("FEDML_TEST_BACKEND=postgres-s3 needs {name}; see scripts/backends"))
}

impl Backend {
    /// A fresh, empty backend of the configured kind.
    pub fn fresh() -> Backend {
        match std::env::var("FEDML_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("embedded") => Backend::Embedded,
            Ok("postgres-s3") => {
                let admin_url = required("FEDML_TEST_POSTGRES_URL");
                let name = format!("fedml_{}", fedml_platform::keys::random_hex(6));
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                rt.block_on(async {
                    use sqlx::Connection;
                    sqlx::any::install_default_drivers();
                    let mut conn = sqlx::AnyConnection::connect(&admin_url).await.expect("PostgreSQL reachable");
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .execute(&mut conn)
                        .await
                        .expect("create database");
                });
                let database_url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("FEDML_TEST_POSTGRES_URL must end in /DATABASE"),
                };
                let s3_root = PathBuf::from(required("FEDML_TEST_S3_ROOT"));
                let bucket = format!("b{}", fedml_platform::keys::random_hex(6));
                std::fs::create_dir_all(s3_root.join(&bucket)).expect("create bucket");
                Backend::PostgresS3 { database_url, endpoint: required("FEDML_TEST_S3_ENDPOINT"), s3_root, bucket }
            }
            Ok("sqlite-gcs") => Backend::Cloud(ServiceSpec::Gcs(clouds::gcs())),
            Ok("sqlite-azure") => Backend::Cloud(ServiceSpec::Azure(clouds::azure())),
            Ok(other) => {
                panic!("unknown FEDML_TEST_BACKEND {other:?}; use embedded, postgres-s3, sqlite-gcs or sqlite-azure")
            }
        }
    }

    /// The `fedml server` flags that put a server process on this backend, with `data_dir` for
    /// its data directory (the embedded backend keeps its catalogue and blobs there).
    pub fn server_flags(&self, data_dir: &Path) -> Vec<String> {
        let mut flags = vec!["--data-dir".to_string(), data_dir.display().to_string()];
        if let Backend::PostgresS3 { database_url, endpoint, bucket, .. } = self {
            flags.extend([
                "--database".to_string(),
                database_url.clone(),
                "--service".to_string(),
                format!("R2=s3://{bucket}?endpoint={endpoint}&region=us-east-1&path_style=true"),
            ]);
        }
        if let Backend::Cloud(spec) = self {
            flags.extend(["--service".to_string(), clouds::flag(spec)]);
        }
        flags
    }

    /// Whether this backend is an emulator without `feature`; says so (the check is skipped).
    pub fn lacks(&self, feature: &str) -> bool {
        let lacking: &[&str] = match self {
            Backend::Cloud(ServiceSpec::Gcs(_)) => GCS_EMULATOR_LACKS,
            Backend::Cloud(_) => AZURITE_LACKS,
            _ => &[],
        };
        let lacks = lacking.contains(&feature);
        if lacks {
            println!("skipped on this emulator: it has no {feature}");
        }
        lacks
    }

    /// The catalogue's database URL for a server on this backend with `data_dir`.
    pub fn database_url(&self, data_dir: &Path) -> String {
        match self {
            Backend::Embedded | Backend::Cloud(_) => format!("sqlite://{}", data_dir.join("catalogue.db").display()),
            Backend::PostgresS3 { database_url, .. } => database_url.clone(),
        }
    }

    /// The files that hold blobs and unfinished uploads of a server with `data_dir` on this
    /// backend (for S3: the bucket's objects; s3s-fs keeps multipart parts beside the buckets).
    pub fn blob_files(&self, data_dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        match self {
            Backend::Embedded => {
                for sub in ["objects", "staging"] {
                    collect_files(&data_dir.join("blobs").join(sub), &mut out);
                }
            }
            Backend::PostgresS3 { s3_root, bucket, .. } => collect_files(&s3_root.join(bucket), &mut out),
            Backend::Cloud(spec) => out = clouds::blob_files(spec),
        }
        out
    }

    fn configure(&self, config: &mut ServerConfig) {
        if let Backend::PostgresS3 { database_url, endpoint, bucket, .. } = self {
            config.database_url = Some(database_url.clone());
            config.services = vec![(
                "R2".to_string(),
                ServiceSpec::S3(S3Spec {
                    bucket: bucket.clone(),
                    endpoint: Some(endpoint.clone()),
                    region: Some("us-east-1".into()),
                    path_style: Some(true),
                    ..S3Spec::default()
                }),
            )];
        }
        if let Backend::Cloud(spec) = self {
            config.services = vec![("R2".to_string(), spec.clone())];
        }
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(Lifetimes::default())
    }

    pub fn start_with(lifetimes: Lifetimes) -> TestServer {
        Self::start_with_quota(lifetimes, Quota::default())
    }

    /// A server whose users without a quota of their own get `quota`.
    pub fn start_with_quota(lifetimes: Lifetimes, quota: Quota) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::launch(Backend::fresh(), dir.path().join("data"), lifetimes, quota, Retention::default(), Some(dir), None)
    }

    /// A server keeping versions by `retention`.
    pub fn start_with_retention(retention: Retention) -> TestServer {
        Self::start_configured(Lifetimes::default(), Quota::default(), retention)
    }

    /// A server with every setting the tests vary.
    pub fn start_configured(lifetimes: Lifetimes, quota: Quota, retention: Retention) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::launch(Backend::fresh(), dir.path().join("data"), lifetimes, quota, retention, Some(dir), None)
    }

    /// A server on the embedded default over a data directory that already exists (one a release
    /// before left, say): `data_dir`, somewhere inside `dir`, which lives as long as the server.
    /// Its first start printed `admin_key`; this one bootstraps nothing.
    pub fn start_on(dir: tempfile::TempDir, data_dir: PathBuf, admin_key: String) -> TestServer {
        Self::launch(
            Backend::Embedded,
            data_dir,
            Lifetimes::default(),
            Quota::default(),
            Retention::default(),
            Some(dir),
            Some(admin_key),
        )
    }

    /// Keeping no earlier version: an overwrite replaces, as before versions.
    pub fn replacing() -> Retention {
        Retention { keep: 1, max_age_ms: None }
    }

    /// Another instance over the same catalogue and blob store (the embedded backend: the same
    /// data directory), as several stateless servers run side by side.
    pub fn start_sharing(other: &TestServer) -> TestServer {
        Self::launch(
            other.backend.clone(),
            other.data_dir.clone(),
            other.lifetimes.clone(),
            other.quota,
            other.retention,
            None,
            Some(other.admin_key.clone()),
        )
    }

    fn launch(
        backend: Backend,
        data_dir: PathBuf,
        lifetimes: Lifetimes,
        quota: Quota,
        retention: Retention,
        dir: Option<tempfile::TempDir>,
        admin_key: Option<String>,
    ) -> TestServer {
        let mut config = ServerConfig::embedded(data_dir.clone(), "127.0.0.1:0".parse().expect("addr"));
        config.lifetimes = lifetimes.clone();
        config.quota = quota;
        config.retention = retention;
        backend.configure(&mut config);
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
            rt.block_on(async move {
                let server = fedml_server::start(config).await.expect("server starts");
                tx.send((
                    server.public_url.clone(),
                    server.bootstrap.clone().map(|b| b.api_key),
                    server.platform.clone(),
                    tokio::runtime::Handle::current(),
                ))
                .expect("send");
                let _ = stop_rx.await;
                server.shutdown().await.expect("clean shutdown");
            });
        });
        let (url, bootstrap_key, platform, runtime_handle) = rx.recv().expect("server started");
        let admin_key = admin_key.or(bootstrap_key).expect("first start bootstraps an admin");
        TestServer {
            url,
            admin_key,
            data_dir,
            platform,
            backend,
            lifetimes,
            quota,
            retention,
            _dir: dir,
            stop: Some(stop_tx),
            thread: Some(thread),
            runtime_handle,
        }
    }

    /// Stops the server, runs `between` on its catalogue's URL (nothing is serving it then), and
    /// starts it again on the same data directory, catalogue and stores.
    pub fn restart(mut self, between: impl FnOnce(&str)) -> TestServer {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        between(&self.backend.database_url(&self.data_dir));
        let dir = self._dir.take();
        Self::launch(
            self.backend.clone(),
            self.data_dir.clone(),
            self.lifetimes.clone(),
            self.quota,
            self.retention,
            dir,
            Some(self.admin_key.clone()),
        )
    }

    /// Runs a future on the server's runtime (for admin operations on its catalogue).
    pub fn block_on<F: std::future::Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        let handle = self.runtime_handle.clone();
        std::thread::scope(|s| s.spawn(move || handle.block_on(f)).join().expect("join"))
    }

    pub fn new_user(&self, name: &str) -> String {
        let catalogue = self.platform.catalogue.clone();
        let name = name.to_string();
        self.block_on(async move {
            admin::create_user(&catalogue, &name).await.expect("user");
            admin::create_key(&catalogue, &name, false, "test").await.expect("key").1
        })
    }

    pub fn new_key(&self, user: &str, read_only: bool) -> String {
        let catalogue = self.platform.catalogue.clone();
        let user = user.to_string();
        self.block_on(async move { admin::create_key(&catalogue, &user, read_only, "test").await.expect("key").1 })
    }

    pub fn revoke(&self, key: &str) {
        let catalogue = self.platform.catalogue.clone();
        let key = key.to_string();
        self.block_on(async move { admin::revoke_key(&catalogue, &key).await.expect("revoke") });
    }

    pub fn target(&self, key: &str) -> Target {
        Target {
            api_key: Some(key.to_string()),
            server: Some(self.url.clone()),
            parallel: Some(3),
            ..Target::default()
        }
    }

    pub fn admin(&self) -> Target {
        self.target(&self.admin_key)
    }

    /// How `fedml admin` finds this server's catalogue.
    pub fn admin_location(&self) -> Vec<String> {
        match &self.backend {
            Backend::Embedded | Backend::Cloud(_) => vec!["--data-dir".into(), self.data_dir.display().to_string()],
            Backend::PostgresS3 { database_url, .. } => vec!["--database".into(), database_url.clone()],
        }
    }

    /// The files that hold the parts of an unfinished upload session, wherever the backend keeps
    /// them (s3s-fs keeps multipart parts beside its buckets).
    pub fn session_files(&self, upload_id: &str) -> Vec<PathBuf> {
        let catalogue = self.platform.catalogue.clone();
        let id = upload_id.to_string();
        let record = self.block_on(async move { catalogue.upload(&id).await.expect("session") });
        match &self.backend {
            Backend::Embedded => {
                let staging = self.data_dir.join("blobs").join("staging").join(upload_id);
                staging.exists().then_some(staging).into_iter().collect()
            }
            Backend::PostgresS3 { s3_root, .. } => {
                let prefix = format!(".upload_id-{}.part-", record.store_upload_id);
                std::fs::read_dir(s3_root)
                    .expect("s3 root")
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
                    .collect()
            }
            Backend::Cloud(spec) => clouds::session_files(spec, upload_id),
        }
    }

    /// The files that hold blobs and unfinished uploads, wherever the backend keeps them.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        self.backend.blob_files(&self.data_dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    for e in read.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// What acknowledges a part PUT, by the client's rule: the `ETag`, or where the store answers
/// none (Azure's Put Block) the digest it computed (`x-ms-content-crc64`, `Content-MD5`).
pub fn part_tag(headers: &reqwest::header::HeaderMap) -> Option<String> {
    ["etag", "x-ms-content-crc64", "content-md5"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()))
        .map(str::to_string)
}

/// Whether `status` answers a part PUT that the store took: 200, or Azure's 201 for Put Block.
pub fn part_taken(backend: &Backend, status: u16) -> bool {
    status == 200 || (status == 201 && matches!(backend, Backend::Cloud(ServiceSpec::Azure(_))))
}

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// What opens a packed upload session of a file `name` of `size` bytes, nothing else given.
pub fn packed_upload(name: &str, size: u64) -> fedml_proto::CreateUpload {
    fedml_proto::CreateUpload {
        name: name.into(),
        service: "R2".into(),
        kind: fedml_proto::ObjectKind::File,
        size: Some(size),
        description: None,
        tags: None,
        metadata: None,
        overwrite: false,
        layout: fedml_proto::content::Layout::Packs,
        namespace: None,
    }
}

/// `data` as one pack, as a client builds it: its chunks back to back and their index; answers
/// the index (whose `pack_id` names the pack) and the pack's bytes.
pub fn one_pack(data: &[u8]) -> (fedml_proto::content::PackIndex, Vec<u8>) {
    let mut at = 0;
    let index = fedml_proto::content::PackIndex {
        chunks: fedml_proto::content::Chunker
            .lengths(data)
            .into_iter()
            .map(|len| {
                at += len;
                fedml_proto::content::IndexEntry {
                    id: fedml_proto::content::chunk_id(&data[at - len..at]),
                    len: len as u32,
                }
            })
            .collect(),
    };
    let mut pack = data.to_vec();
    pack.extend_from_slice(&index.encode());
    (index, pack)
}

/// A tree with nesting, an empty directory, an empty file, binary data and Unicode names.
pub fn sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("nested/deeper/deepest")).expect("mkdir");
    std::fs::create_dir_all(root.join("empty-dir")).expect("mkdir");
    std::fs::write(root.join("readme.txt"), b"hello\n").expect("write");
    std::fs::write(root.join("empty.bin"), b"").expect("write");
    std::fs::write(root.join("nested/weights.bin"), bytes(9 << 20, 7)).expect("write");
    std::fs::write(root.join("nested/deeper/données 数据 ✓.json"), "{\"é\": 1}").expect("write");
    std::fs::write(root.join("nested/deeper/deepest/zero"), b"").expect("write");
}

/// Every path under `root` with a file's bytes (`None` for a directory), sorted.
pub fn tree_listing(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
            if p.is_dir() {
                out.push((rel, None));
                stack.push(p);
            } else {
                out.push((rel, Some(std::fs::read(&p).expect("read"))));
            }
        }
    }
    out.sort();
    out
}

/// Both trees hold the same directories and the same files, byte for byte.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let (la, lb) = (tree_listing(a), tree_listing(b));
    assert_eq!(
        la.len(),
        lb.len(),
        "different number of entries: {:?} vs {:?}",
        la.iter().map(|e| &e.0).collect::<Vec<_>>(),
        lb.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x.0, y.0);
        assert!(x.1 == y.1, "content of {} differs", x.0);
    }
}

/// Upload options for a path under a given name.
pub fn upload_opts(target: Target, name: &str) -> fedml_client::UploadOptions {
    fedml_client::UploadOptions { target, name: Some(name.to_string()), ..Default::default() }
}

pub fn download_opts(target: Target, dest: &Path) -> fedml_client::DownloadOptions {
    fedml_client::DownloadOptions {
        target,
        dest_path: Some(dest.to_path_buf()),
        show_progress: false,
        ..Default::default()
    }
}

/// Opens an upload session through the native API and fetches the URL of its first part.
pub async fn open_raw_upload(
    client: &fedml_client::client::Client,
    name: &str,
    kind: fedml_proto::ObjectKind,
    size: u64,
) -> fedml_client::error::Result<(fedml_proto::UploadSession, Vec<fedml_proto::PartUrl>)> {
    let session = client
        .create_upload(&fedml_proto::CreateUpload {
            name: name.into(),
            service: "R2".into(),
            kind,
            size: Some(size),
            description: None,
            tags: None,
            metadata: None,
            overwrite: false,
            layout: Default::default(),
            namespace: None,
        })
        .await?;
    let urls = client.part_urls(&session.upload_id, 1, 1).await?;
    Ok((session, urls))
}

/// CRC-32C (Castagnoli), as the local store's ETags.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// One request of a race, run on its own thread by [`at_once`].
pub type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Runs `jobs` at the same moment (released together by a barrier), each on its own thread;
/// answers their results in order.
pub fn at_once<T: Send + 'static>(jobs: Vec<Job<T>>) -> Vec<T> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                job()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("a racing thread")).collect()
}

/// Runs `fedml admin ARGS` with no FedML settings inherited from the environment.
pub fn fedml_admin<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .arg("admin")
        .args(args)
        .env_remove("FEDML_DATA_DIR")
        .env_remove("FEDML_DATABASE_URL")
        .env_remove("FEDML_SERVER_CONFIG")
        .output()
        .expect("run fedml admin")
}

/// Runs SQL on the server's catalogue, as an operator at the database would.
pub fn catalogue_sql(server: &TestServer, sql: String) {
    let url = server.backend.database_url(&server.data_dir);
    server.block_on(async move {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("catalogue reachable");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("SQL runs");
        conn.close().await.expect("close");
    });
}

/// The number a counting query (`SELECT COUNT(*) AS n …`) answers on the server's catalogue.
pub fn catalogue_count(server: &TestServer, sql: &str) -> i64 {
    let url = server.backend.database_url(&server.data_dir);
    let sql = sql.to_string();
    server.block_on(async move {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("catalogue reachable");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&mut conn).await.expect("SQL runs").get("n");
        conn.close().await.expect("close");
        n
    })
}

/// Makes every blob the catalogue holds for later reclamation due now, as if the grace period
/// (kept so that download URLs already handed out keep working) had passed. The load itself
/// runs with the default grace: a shorter one would let the collector remove a replaced version
/// that a concurrent download of a shared name is still reading, a refusal by design.
pub fn end_grace_period(server: &TestServer) {
    catalogue_sql(server, "UPDATE garbage SET reclaim_after = 0".into());
}

/// Runs the collector until nothing is due, then checks the store holds nothing at all.
pub fn collects_to_nothing(server: &TestServer) {
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
}

pub fn garbage_count(server: &TestServer) -> i64 {
    let catalogue = server.platform.catalogue.clone();
    server.block_on(async move { catalogue.garbage_count().await.expect("garbage") })
}

/// The blob files no object references (its blob, or a pack it reads), once nothing is in flight.
pub fn unreferenced_files(server: &TestServer) -> Vec<PathBuf> {
    let catalogue = server.platform.catalogue.clone();
    let referenced: std::collections::BTreeSet<String> = server
        .block_on(async move { catalogue.referenced_blobs().await.expect("inventory") })
        .into_iter()
        .map(|r| r.blob_key)
        .collect();
    server
        .blob_files()
        .into_iter()
        .filter(|p| {
            let mut c = p.components().rev().map(|c| c.as_os_str().to_string_lossy().into_owned());
            let blob = c.next().unwrap_or_default();
            let owner = c.next().unwrap_or_default();
            !referenced.contains(&format!("{owner}/{blob}"))
        })
        .collect()
}

/// The bytes the local store's URLs have served so far (the server's own counter; 0 on other
/// stores, whose bytes never pass through the server).
pub fn bytes_served(server: &TestServer) -> u64 {
    let url = format!("{}/metrics", server.url);
    let text = server.block_on(async move { reqwest::get(url).await.expect("GET").text().await.expect("text") });
    text.lines()
        .find_map(|l| l.strip_prefix("fedml_local_bytes_served_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
