//! The counters and gauges behind `GET /metrics`, one set per platform (several servers in one
//! process keep their own), encoded by `prometheus-client` in the OpenMetrics text format that
//! Prometheus scrapes.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label a request is counted under when no route matched (its raw path holds names).
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

type Bytes = Counter<u64, AtomicU64>;

/// What the catalogue says at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogueSnapshot {
    pub uploads_in_flight: i64,
    pub garbage_backlog: i64,
    pub pool_size: i64,
    pub pool_idle: i64,
    pub corrupt_packs: i64,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    upload_url_bytes: Bytes,
    download_url_bytes: Bytes,
    local_bytes_served: Bytes,
    local_bytes_received: Bytes,
    sessions_expired: Counter,
    reclaimed_blobs: Counter,
    failed_pack_checks: Counter,
    corrupt_packs: Gauge,
    uploads_in_flight: Gauge,
    garbage_backlog: Gauge,
    pool_size: Gauge,
    pool_idle: Gauge,
    connections: ConnectionCounters,
}

/// What the accept loop counts of the connections it ends itself (see `crate::limits`); clones
/// count into the same registry.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCounters {
    /// Connections refused because their client address had as many open as it may.
    pub refused: Counter,
    /// Connections closed because their client received nothing of a response for the idle
    /// timeout.
    pub stalled: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let m = Metrics {
            registry: Registry::default(),
            requests,
            durations,
            upload_url_bytes: Bytes::default(),
            download_url_bytes: Bytes::default(),
            local_bytes_served: Bytes::default(),
            local_bytes_received: Bytes::default(),
            sessions_expired: Counter::default(),
            reclaimed_blobs: Counter::default(),
            failed_pack_checks: Counter::default(),
            corrupt_packs: Gauge::default(),
            uploads_in_flight: Gauge::default(),
            garbage_backlog: Gauge::default(),
            pool_size: Gauge::default(),
            pool_idle: Gauge::default(),
            connections: ConnectionCounters::default(),
        };
        // Counters get their `_total` suffix from the encoder.
        registry.register(
            "fedml_http_requests",
            "HTTP requests answered, by route template, method and status",
            m.requests.clone(),
        );
        registry.register(
            "fedml_http_request_duration_seconds",
            "Time from a request's arrival to its response headers, by route template and method",
            m.durations.clone(),
        );
        registry.register(
            "fedml_upload_url_bytes",
            "Bytes covered by signed part URLs handed out (part size times parts)",
            m.upload_url_bytes.clone(),
        );
        registry.register(
            "fedml_download_url_bytes",
            "Bytes covered by download tickets handed out (object sizes)",
            m.download_url_bytes.clone(),
        );
        registry.register(
            "fedml_local_bytes_served",
            "Bytes the local store's blob URLs sent",
            m.local_bytes_served.clone(),
        );
        registry.register(
            "fedml_local_bytes_received",
            "Bytes the local store's part URLs received",
            m.local_bytes_received.clone(),
        );
        registry.register(
            "fedml_sessions_expired",
            "Upload sessions the collector ended as expired",
            m.sessions_expired.clone(),
        );
        registry.register(
            "fedml_reclaimed_blobs",
            "Blobs and abandoned uploads the collector removed",
            m.reclaimed_blobs.clone(),
        );
        registry.register(
            "fedml_pack_checks_failed",
            "Packs this instance read back and found not to be what their id names (on receipt, at a completion, \
             at a read)",
            m.failed_pack_checks.clone(),
        );
        registry.register(
            "fedml_corrupt_packs",
            "Packs recorded as corrupt in the catalogue (never reused; `fedml admin fsck` lists them)",
            m.corrupt_packs.clone(),
        );
        registry.register(
            "fedml_uploads_in_flight",
            "Upload sessions not yet committed or aborted (open, completing, finished), in the catalogue",
            m.uploads_in_flight.clone(),
        );
        registry.register(
            "fedml_garbage_backlog",
            "Blobs recorded as garbage and not yet removed (including those in their grace period)",
            m.garbage_backlog.clone(),
        );
        registry.register("fedml_catalogue_pool_size", "Connections open in the catalogue's pool", m.pool_size.clone());
        registry.register("fedml_catalogue_pool_idle", "Idle connections in the catalogue's pool", m.pool_idle.clone());
        registry.register(
            "fedml_connections_refused",
            "Connections refused at once because their client address had the most open connections it may have",
            m.connections.refused.clone(),
        );
        registry.register(
            "fedml_connections_stalled",
            "Connections closed because their client received nothing of a response for the idle timeout",
            m.connections.stalled.clone(),
        );
        Metrics { registry, ..m }
    }
}

/// A method as a label: the ones HTTP defines, anything else as `other` (a label per made-up
/// method would let any client grow the answer without bound).
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|m| **m == method).copied().unwrap_or("other")
}

impl Metrics {
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let method = method_label(method).to_string();
        let route = route.to_string();
        self.requests
            .get_or_create(&RequestLabels { route: route.clone(), method: method.clone(), status: status.to_string() })
            .inc();
        self.durations.get_or_create(&RouteLabels { route, method }).observe(elapsed.as_secs_f64());
    }

    pub fn upload_urls(&self, part_size: u64, parts: usize) {
        self.upload_url_bytes.inc_by(part_size.saturating_mul(parts as u64));
    }

    pub fn download_ticket(&self, size: u64) {
        self.download_url_bytes.inc_by(size);
    }

    pub fn served(&self, bytes: usize) {
        self.local_bytes_served.inc_by(bytes as u64);
    }

    pub fn received(&self, bytes: usize) {
        self.local_bytes_received.inc_by(bytes as u64);
    }

    /// The counter of packs found not to be what their id names (shared: increments land here).
    pub fn failed_pack_checks(&self) -> Counter {
        self.failed_pack_checks.clone()
    }

    /// What one run of the collector did: sessions it expired, blobs it reclaimed.
    pub fn collected(&self, sessions_expired: u64, blobs_reclaimed: u64) {
        self.sessions_expired.inc_by(sessions_expired);
        self.reclaimed_blobs.inc_by(blobs_reclaimed);
    }

    /// The counters of the connections the accept loop ends itself.
    pub fn connections(&self) -> ConnectionCounters {
        self.connections.clone()
    }

    /// The text answer, with the gauges set from `snapshot`.
    pub fn encode(&self, snapshot: CatalogueSnapshot) -> Result<String, std::fmt::Error> {
        self.uploads_in_flight.set(snapshot.uploads_in_flight);
        self.garbage_backlog.set(snapshot.garbage_backlog);
        self.pool_size.set(snapshot.pool_size);
        self.pool_idle.set(snapshot.pool_idle);
        self.corrupt_packs.set(snapshot.corrupt_packs);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
