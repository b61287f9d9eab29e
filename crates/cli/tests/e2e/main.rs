//! Black-box tests: each starts the real server on 127.0.0.1:0 with a temporary data directory
//! and drives it through the Rust SDK and the built `fedml` binary. The same suite runs against
//! the embedded default and, with `FEDML_TEST_BACKEND=postgres-s3`, against PostgreSQL and an
//! S3-compatible server (see `harness::Backend` and `scripts/backends`).

/// Over forty bad inputs, each a clear FAILURE that stores nothing.
mod bad_input;
/// The `fedml` binary: login, every storage command, tables, JSON, exit status.
mod cli;
/// Starting servers, making users and keys, making and comparing trees.
mod harness;
/// The OpenAPI document against real answers of every native operation.
mod openapi;
/// Integrity and safety: checksums, zip-slip, links, cancellation, the collector.
mod safety;
/// Several servers over one catalogue and one store: consistency and races on one name.
mod scale_out;
/// The SDK's calls: round trips of files, directories, empty data; overwrite; listing.
mod sdk;
/// Keys (bad, revoked, read-only), isolation between users, signed URLs.
mod security;
