//! Black-box tests: each starts the real server on 127.0.0.1:0 with a temporary data directory
//! and drives it through the Rust SDK and the built `fedml` binary. The same suite runs against
//! the embedded default and, with `FEDML_TEST_BACKEND=postgres-s3`, against PostgreSQL and an
//! S3-compatible server (see `harness::Backend` and `scripts/backends`).

/// Over forty bad inputs, each a clear FAILURE that stores nothing.
mod bad_input;
/// The `fedml` binary: login, every storage command, tables, JSON, exit status.
mod cli;
/// The collector against a backlog larger than one pass, and garbage of a retired service.
mod collector;
/// The real server process killed (SIGKILL) at random moments of a workload and restarted: nothing
/// acknowledged lost, nothing half-visible, interrupted uploads retried, no orphaned blob; SQLite
/// recovery after a kill mid-transaction; two servers over one data directory.
mod crash;
/// The dashboard's API calls as any client sees them: administrators, search/sort/paging over
/// thousands of objects, `fedml storage edit`, sessions across instances.
mod dashboard;
/// The content store: only new bytes travel, never across users; interrupted uploads resume;
/// completions that lie about packs and segments are refused; no upload or read relies on a pack
/// the server has not checked (planted, damaged, packs of the release before).
mod dedup;
/// Where a download lands: what it may replace without being asked, what it refuses and leaves
/// untouched, `--replace`, names at the 255-byte limit; a folder of downloads uploaded without
/// what they left in it.
mod downloads;
/// Failures from outside: the server killed mid-transfer, full disks on either side, lying
/// Content-Lengths, unreadable or changing files in a directory upload.
mod failures;
/// Starting servers, making users and keys, making and comparing trees.
mod harness;
/// The Hugging Face Hub API as `huggingface_hub` calls it: repositories, LFS uploads, commits,
/// listings, ranged reads, errors and their codes, roles and scoped keys.
mod hub;
/// Inside a directory object: `fedml storage ls`, and downloading only some of its files
/// (`--path`, `--include`), packed or stored as one blob, reading only what they need.
mod inside;
/// Every route of both APIs and every signed URL against every caller but the owner: refused,
/// nothing leaked, nothing changed.
mod isolation;
/// What a new version keeps: the description, tags and user metadata an overwrite is not given,
/// from the version it replaces (racing overwrites included); what is given empty is cleared.
mod kept;
/// What a client can hold of the server: stalled bodies, the open-files limit, SIGTERM, downloads
/// nobody reads, slow readers, the per-client connection cap.
mod limits;
/// 64 concurrent clients doing mixed operations: zero errors, exact bytes, a consistent catalogue.
mod load;
/// Names that differ only by Unicode normalisation are one name (stored in NFC) on every path;
/// objects stored before under another form stay reachable by it.
mod names;
/// Probes, metrics (exact counts by route and status), the metrics token, request ids in ERROR
/// messages and log lines, JSON logs.
mod observe;
/// The OpenAPI document against real answers of every native operation.
mod openapi;
/// `fedml admin backup`, `restore` and `fsck`: a backup taken under writes, a restored data
/// directory serving, each damaged or unknown blob reported, restores refused where they would
/// lose data.
mod ops;
/// Names as paths (`team/data/x.bin`) on every path; a download at the last part; a name is
/// either data or a folder of other names; names that are not paths refused.
mod paths;
/// The real `fedml server` process, started, signalled and killed by the tests that need one.
mod process;
/// Quotas: default and per-user limits, refusal at the start, deletes, overwrites, object counts,
/// the FedML presign, uploads racing for the last bytes over two servers.
mod quotas;
/// Races on one upload session (completions, aborts, part uploads, revocation), repeated with
/// barriers across two servers: one outcome, truthful answers, committed bytes unchanged.
mod races;
/// Byte ranges on a real signed download URL: 206, invalid ranges ignored, 416, If-Range.
mod ranges;
/// A rolling restart of two instances behind a balancer under load: no request lost.
mod rolling;
/// The S3 API through a real S3 client: credentials, buckets as namespaces, reads (ranges,
/// conditions, versions), directory objects' files as read-only keys.
pub mod s3;
/// Integrity and safety: checksums, zip-slip, links, cancellation, the collector.
mod safety;
/// Several servers over one catalogue and one store: consistency and races on one name.
mod scale_out;
/// The SDK's calls: round trips of files, directories, empty data; overwrite; listing.
mod sdk;
/// Keys (bad, revoked, read-only), isolation between users, signed URLs.
mod security;
/// Teams through the `fedml` binary: organisations, members and roles, `--namespace` on the
/// storage commands, the audit log, share links fetched with no key, listed and ended.
mod teams_cli;
/// What people are shown: stored control and bidirectional characters escaped in every table and
/// message, exact in `--output json`.
mod terminal;
/// The upgrade to teams on a data directory of the release before (a fixture): objects stay in
/// their owners' namespaces, list, download, keep their versions and delete; old keys still work.
mod upgrade;
/// Versions: every version reads back as stored and costs only what it changed; one or all
/// deleted; diff of files; retention at commit and as versions age; overwrites at once.
mod versions;
