use std::path::{Path, PathBuf};
use std::sync::mpsc;

use fedml_client::Target;
use fedml_server::platform::{Lifetimes, Platform};
use fedml_server::{ServerConfig, admin};

pub struct TestServer {
    pub url: String,
    pub admin_key: String,
    pub data_dir: PathBuf,
    pub platform: std::sync::Arc<Platform>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    runtime_handle: tokio::runtime::Handle,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(Lifetimes::default())
    }

    pub fn start_with(lifetimes: Lifetimes) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let mut config = ServerConfig::embedded(data_dir.clone(), "127.0.0.1:0".parse().expect("addr"));
        config.lifetimes = lifetimes;
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
            rt.block_on(async move {
                let server = fedml_server::start(config).await.expect("server starts");
                tx.send((
                    server.public_url.clone(),
                    server.bootstrap.clone().expect("first start bootstraps").api_key,
                    server.platform.clone(),
                    tokio::runtime::Handle::current(),
                ))
                .expect("send");
                let _ = stop_rx.await;
                server.shutdown().await.expect("clean shutdown");
            });
        });
        let (url, admin_key, platform, runtime_handle) = rx.recv().expect("server started");
        TestServer {
            url,
            admin_key,
            data_dir,
            platform,
            _dir: dir,
            stop: Some(stop_tx),
            thread: Some(thread),
            runtime_handle,
        }
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
        Target { api_key: Some(key.to_string()), server: Some(self.url.clone()), parallel: Some(3), cancel: None }
    }

    pub fn admin(&self) -> Target {
        self.target(&self.admin_key)
    }

    /// Files under the blob folder's `objects` and `staging` directories.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for sub in ["objects", "staging"] {
            collect_files(&self.data_dir.join("blobs").join(sub), &mut out);
        }
        out
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

/// Both trees hold the same directories and the same files, byte for byte.
pub fn assert_same_tree(a: &Path, b: &Path) {
    fn listing(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
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
    let (la, lb) = (listing(a), listing(b));
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
