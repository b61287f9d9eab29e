//! What operators ask of the platform: its metrics, read out (behind the metrics token when one
//! is set), and its readiness: the catalogue answers a trivial query, every local folder is
//! there and takes a file, every bucket or container takes (and gives back) a probe object.
//! Readiness names each check with ok or failed and a short reason that holds no path,
//! endpoint, bucket or credential (the details go to the log).

use std::time::Duration;

use serde::Serialize;

use super::Platform;
use crate::blobs::{BlobStore, LocalStore};
use crate::error::Error;
use crate::observe::CatalogueSnapshot;

/// How long one check may take before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `catalogue` or `service <NAME>`.
    pub name: String,
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<Check>,
}

impl Readiness {
    /// One line for the envelope's message: `ready`, or what is not.
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
            .map(|c| format!("{} ({})", c.name, c.reason.as_deref().unwrap_or("failed")))
            .collect();
        if failed.is_empty() { "ready".into() } else { format!("not ready: {}", failed.join("; ")) }
    }
}

fn check(name: String, outcome: Result<(), String>) -> Check {
    match outcome {
        Ok(()) => Check { name, status: CheckStatus::Ok, reason: None },
        Err(reason) => {
            tracing::warn!(check = %name, %reason, "readiness check failed");
            Check { name, status: CheckStatus::Failed, reason: Some(reason) }
        }
    }
}

async fn within<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", PATIENCE.as_secs())))
}

impl Platform {
    pub async fn readiness(&self) -> Readiness {
        let mut checks = Vec::new();
        let catalogue = within(async {
            self.catalogue.ping().await.map_err(|e| {
                tracing::warn!(error = %e, "the catalogue does not answer");
                "the database does not answer".to_string()
            })
        })
        .await;
        checks.push(check("catalogue".into(), catalogue));
        for name in self.service_names() {
            let outcome = match self.store(&name) {
                Ok(store) => within(store_answers(store)).await,
                Err(_) => Err("not configured".into()),
            };
            checks.push(check(format!("service {name}"), outcome));
        }
        Readiness { ready: checks.iter().all(|c| c.status == CheckStatus::Ok), checks }
    }
}

async fn store_answers(store: &BlobStore) -> Result<(), String> {
    match store {
        BlobStore::Local(local) => {
            let local = local.clone();
            tokio::task::spawn_blocking(move || folder_takes_a_file(&local))
                .await
                .unwrap_or_else(|_| Err("the check did not finish".into()))
        }
        BlobStore::S3(s3) => s3.answers().await.map_err(bucket_silent),
        BlobStore::Gcs(gcs) => gcs.answers().await.map_err(bucket_silent),
        BlobStore::Azure(azure) => azure.answers().await.map_err(bucket_silent),
    }
}

fn bucket_silent(e: crate::blobs::BlobError) -> String {
    tracing::warn!(error = %e, "a bucket does not answer");
    "the bucket does not answer as expected".to_string()
}

/// The folder and its `staging` and `objects` folders are there, and a file can be made (and
/// removed) where uploads write theirs.
fn folder_takes_a_file(local: &LocalStore) -> Result<(), String> {
    let root = local.root();
    for (dir, what) in [
        (root.to_path_buf(), "its folder"),
        (root.join("staging"), "its staging folder"),
        (root.join("objects"), "its objects folder"),
    ] {
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{what} is not a folder (something else is in its place)")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(format!("{what} is missing")),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "local store unreadable");
                return Err(format!("{what} cannot be read"));
            }
        }
    }
    let probe = root.join("staging").join(format!(".ready-{}", crate::keys::random_hex(8)));
    let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).and_then(|mut f| {
        use std::io::Write;
        f.write_all(b"ready")
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| {
        tracing::warn!(path = %root.display(), error = %e, "local store not writable");
        format!("its staging folder does not take a file ({})", e.kind())
    })
}

impl Platform {
    /// Refuses a scrape that does not present the configured metrics token (compared in constant
    /// time). With no token configured, every scrape is let through, whatever it presents.
    pub fn check_metrics_token(&self, presented: Option<&str>) -> crate::error::Result<()> {
        let Some(token) = &self.observe.metrics_token else { return Ok(()) };
        let presented = presented.ok_or_else(|| {
            Error::Unauthorized(
                "/metrics needs the server's metrics token: send `Authorization: Bearer <metrics token>`".into(),
            )
        })?;
        // Digests of both: equal lengths, so the comparison's time says nothing about the token.
        let (a, b) = (crate::keys::sha256_hex(presented), crate::keys::sha256_hex(token));
        if !crate::keys::constant_time_eq(a.as_bytes(), b.as_bytes()) {
            return Err(Error::Unauthorized(
                "this is not the server's metrics token; use the one set by --metrics-token / FEDML_METRICS_TOKEN"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The metrics, with the catalogue's gauges read now.
    pub async fn metrics_text(&self) -> crate::error::Result<String> {
        let (size, idle) = self.catalogue.pool_use();
        let snapshot = CatalogueSnapshot {
            uploads_in_flight: self.catalogue.live_upload_count().await?,
            garbage_backlog: self.catalogue.garbage_backlog().await?,
            pool_size: i64::from(size),
            pool_idle: i64::try_from(idle).unwrap_or(i64::MAX),
            corrupt_packs: self.catalogue.corrupt_pack_count().await?,
        };
        self.observe.metrics.encode(snapshot).map_err(|e| Error::Internal(format!("encoding the metrics: {e}")))
    }
}
