//! The FedML storage platform: everything the server does, and nothing of how it is asked.
//!
//! [`Platform`] holds the catalogue and the blob stores of every configured service; its
//! operations (one function per operation, in [`operations`]) are what every front end calls,
//! whatever protocol it speaks. They answer in the platform's own types and its one [`Error`],
//! which each front end maps to its protocol.
//!
//! From the bottom up:
//! - [`time`], [`keys`], [`signing`], [`quota`] (the quota's types and arithmetic): leaves.
//! - [`catalogue`]: users, keys, objects, versions, sessions, packs, garbage, in one SQL schema
//!   served by SQLite or PostgreSQL.
//! - [`blobs`]: the stores (local folder, S3, GCS, Azure) and the checks of what they hold.
//! - [`operations`]: the platform itself (uploads, the content store's rules, downloads,
//!   versions, listings, keys, the collector), with [`observe`] (metrics, readiness).
//! - [`admin`] (users and keys for `fedml admin`) and [`maintenance`] (backup, restore, fsck).
//!
//! Architecture invariant: this crate knows nothing of HTTP. It depends on no HTTP framework
//! (no `axum`, `hyper` or `tower`); a caller is a [`Caller`], a refusal an [`Error`].

pub mod admin;
pub mod blobs;
pub mod catalogue;
pub mod error;
pub mod keys;
pub mod maintenance;
pub mod observe;
pub mod operations;
pub mod quota;
pub mod signing;
pub mod time;

pub use error::{Error, Result};
pub use operations::{Caller, GcReport, Lifetimes, Platform};
