//! What every HTTP front end shares: who is calling ([`Caller`], one extractor for every
//! credential a front end accepts: a Bearer API key or a dashboard session), how a body is read
//! ([`ApiJson`], [`bodies`]), how an answer is written ([`Reply`], [`ApiError`]: the envelope and
//! the one mapping of a platform error to an HTTP status), each request's id and its line in the
//! log and the metrics ([`requests`]), and what operators watch ([`observe`]: the probes, the
//! metrics, the bytes the blob URLs move), and how a GET of stored bytes answers `Range` and
//! `If-Range` ([`ranges`]).
//!
//! Architecture invariant: this crate knows no front end. It holds nothing of a protocol's
//! routes; each front end (`fedml-api-native`, `-fedml`, `-web`, `-blob`) imports it, and none
//! imports another.

pub mod bodies;
pub mod caller;
pub mod observe;
pub mod ranges;
pub mod reply;
pub mod requests;
pub mod session;

use std::sync::Arc;

pub use caller::{ApiJson, Caller, bearer_key};
pub use reply::{ApiError, ApiPath, ApiQuery, ApiResult, Namespace, Reply};

/// The state every front end's routes share: the platform.
pub type AppState = Arc<fedml_platform::Platform>;
