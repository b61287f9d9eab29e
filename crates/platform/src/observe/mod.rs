//! What the platform keeps for its operators: its metrics (counted by the operations, encoded
//! for `GET /metrics`), the token that guards them, and the readiness of the catalogue and of
//! every store (`GET /readyz`). The HTTP side of both (routes, request ids, counted bodies) is
//! the front ends' common part.

mod metrics;
mod ready;

pub use metrics::{CONTENT_TYPE, CatalogueSnapshot, ConnectionCounters, Metrics, UNMATCHED};
pub use ready::{Check, CheckStatus, Readiness};

use crate::error::{Error, Result};
use crate::operations::Platform;

/// What a platform keeps for its operators: its metrics and the token that guards them.
#[derive(Default)]
pub struct Observer {
    pub metrics: Metrics,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}

impl Platform {
    /// Refuses a scrape that does not present the configured metrics token (compared in constant
    /// time). With no token configured, every scrape is let through, whatever it presents.
    pub fn check_metrics_token(&self, presented: Option<&str>) -> Result<()> {
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
    pub async fn metrics_text(&self) -> Result<String> {
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
