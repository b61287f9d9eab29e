//! The cloud emulators of the black-box suite:
//! `FEDML_TEST_BACKEND=sqlite-gcs` (gcp-storage-emulator) and `sqlite-azure` (Azurite), each
//! with the embedded SQLite catalogue and a fresh prefix per server in the bucket or container
//! that `scripts/backends` made. What a store holds is read through its own API (neither
//! emulator keeps objects as plain files).

use std::path::{Path, PathBuf};

use fedml_platform::blobs::{AzureSpec, BlobStore, GcsSpec, StoredPlace};
use fedml_server::{ServerConfig, ServiceSpec};

fn required(backend: &str, name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("FEDML_TEST_BACKEND={backend} needs {name}; see scripts/backends"))
}

fn fresh_prefix() -> String {
    format!("t{}/", fedml_platform::keys::random_hex(6))
}

pub fn gcs() -> GcsSpec {
    GcsSpec {
        bucket: required("sqlite-gcs", "FEDML_TEST_GCS_BUCKET"),
        prefix: Some(fresh_prefix()),
        endpoint: Some(required("sqlite-gcs", "FEDML_TEST_GCS_ENDPOINT")),
        service_account_path: Some(required("sqlite-gcs", "FEDML_TEST_GCS_KEY").into()),
        service_account_key: None,
    }
}

pub fn azure() -> AzureSpec {
    AzureSpec {
        container: required("sqlite-azure", "FEDML_TEST_AZURE_CONTAINER"),
        prefix: Some(fresh_prefix()),
        account: Some(required("sqlite-azure", "FEDML_TEST_AZURE_ACCOUNT")),
        endpoint: Some(required("sqlite-azure", "FEDML_TEST_AZURE_ENDPOINT")),
        // The key comes from AZURE_STORAGE_ACCOUNT_KEY, as a server process reads it too.
        access_key: None,
    }
}

/// The `--service` flag of a server process on this store (credentials from the environment).
pub fn flag(spec: &ServiceSpec) -> String {
    match spec {
        ServiceSpec::Gcs(g) => format!(
            "R2=gs://{}/{}?endpoint={}&service_account_path={}",
            g.bucket,
            g.prefix.as_deref().unwrap_or(""),
            g.endpoint.as_deref().unwrap_or(""),
            g.service_account_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
        ),
        ServiceSpec::Azure(a) => format!(
            "R2=azure://{}/{}?account={}&endpoint={}",
            a.container,
            a.prefix.as_deref().unwrap_or(""),
            a.account.as_deref().unwrap_or(""),
            a.endpoint.as_deref().unwrap_or("")
        ),
        other => panic!("not a cloud store: {other:?}"),
    }
}

/// Runs `f` on a runtime of its own, on a thread of its own (callers may be inside one).
fn run<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(f))
            .join()
            .expect("join")
    })
}

pub fn store(spec: &ServiceSpec) -> BlobStore {
    let config = ServerConfig {
        services: vec![("R2".to_string(), spec.clone())],
        ..ServerConfig::embedded(PathBuf::from("/nonexistent"), "127.0.0.1:0".parse().expect("addr"))
    };
    fedml_platform::blobs::open_stores(config.service_specs(), &fedml_platform::blobs::Opening::Read)
        .expect("store")
        .remove("R2")
        .expect("R2")
}

/// Everything the store holds under the server's prefix, as `blob/<key>` and
/// `staging/<upload id>` (an upload's part objects, or a committed staging blob).
pub fn blob_files(spec: &ServiceSpec) -> Vec<PathBuf> {
    let store = store(spec);
    let mut files: Vec<PathBuf> = run(async { store.list_stored().await.expect("the store lists") })
        .into_iter()
        .map(|f| match f.place {
            StoredPlace::Blob => Path::new("blob").join(f.key),
            StoredPlace::Staging => Path::new("staging").join(f.key),
        })
        .collect();
    files.sort();
    files
}

/// What the store holds of an unfinished upload: its part objects (GCS) or its staged blocks
/// (Azure), as names.
pub fn session_files(spec: &ServiceSpec, upload_id: &str) -> Vec<PathBuf> {
    let store = store(spec);
    match &store {
        BlobStore::Azure(azure) => run(async { azure.staged_blocks(upload_id).await.expect("Get Block List") })
            .into_iter()
            .map(|b| Path::new("block").join(b))
            .chain(blob_files(spec).into_iter().filter(|p| p == &Path::new("staging").join(upload_id)))
            .collect(),
        _ => blob_files(spec).into_iter().filter(|p| p == &Path::new("staging").join(upload_id)).collect(),
    }
}

/// The object `name` under the server's prefix, as an operator at the cloud console would reach
/// it (for the fsck tests that damage blobs on purpose).
fn raw_store(spec: &ServiceSpec) -> (std::sync::Arc<dyn object_store::ObjectStore>, String) {
    match spec {
        ServiceSpec::Azure(a) => {
            let store = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(&a.container)
                .with_account(a.account.clone().unwrap_or_default())
                .with_endpoint(a.endpoint.clone().unwrap_or_default())
                .with_allow_http(true)
                .build()
                .expect("azure store");
            (std::sync::Arc::new(store), a.prefix.clone().unwrap_or_default())
        }
        other => panic!("no raw store for {other:?}"),
    }
}

/// Writes `data` as the blob `key` (replacing it), behind the server's back.
pub fn write_blob(spec: &ServiceSpec, key: &str, data: &[u8]) {
    let data = data.to_vec();
    match spec {
        ServiceSpec::Gcs(g) => run(async {
            let url = format!(
                "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}{}",
                g.endpoint.as_deref().unwrap_or(""),
                g.bucket,
                g.prefix.as_deref().unwrap_or("").replace('/', "%2F"),
                key.replace('/', "%2F")
            );
            let r = reqwest::Client::new().post(url).body(data).send().await.expect("emulator reachable");
            assert!(r.status().is_success(), "write {key}: {}", r.status());
        }),
        _ => {
            let (store, prefix) = raw_store(spec);
            run(async move {
                use object_store::ObjectStoreExt;
                let path = object_store::path::Path::from(format!("{prefix}{key}"));
                store.put(&path, data.into()).await.expect("write a blob");
            })
        }
    }
}

/// The bytes of the blob `key`.
pub fn read_blob(spec: &ServiceSpec, key: &str) -> Vec<u8> {
    let url = run(async { store(spec).get_url("R2", key, fedml_platform::time::now_secs() + 60).await.expect("url") });
    run(async move { reqwest::get(url).await.expect("get").bytes().await.expect("body").to_vec() })
}

/// Deletes the blob `key`, behind the server's back.
pub fn delete_blob(spec: &ServiceSpec, key: &str) {
    let store = store(spec);
    run(async { store.delete(key).await.expect("delete a blob") })
}
