//! Black-box tests: each starts the real server on 127.0.0.1:0 with a temporary data directory
//! and drives it through the Rust SDK and the built `fedml` binary.

/// Starting servers, making users and keys, making and comparing trees.
mod harness;
/// The SDK's calls: round trips of files, directories, empty data; overwrite; listing.
mod sdk;
/// The `fedml` binary: login, every storage command, tables, JSON, exit status.
mod cli;
/// Keys (bad, revoked, read-only), isolation between users, signed URLs.
mod security;
/// Integrity and safety: checksums, zip-slip, links, cancellation, the collector.
mod safety;
