//! What the platform keeps for its operators: its metrics (counted by the operations, encoded
//! for `GET /metrics`) and the token that guards them. The operations that read them out (and
//! the readiness of the catalogue and of every store) are `operations::operators`; the HTTP side
//! (routes, request ids, counted bodies) is the front ends' common part.

mod metrics;

pub use metrics::{CONTENT_TYPE, CatalogueSnapshot, ConnectionCounters, Metrics, UNMATCHED};

/// What a platform keeps for its operators: its metrics and the token that guards them.
#[derive(Default)]
pub struct Observer {
    pub metrics: Metrics,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}
