//! Crash safety of the real `fedml server` process. Client threads drive a workload through the
//! SDK (small files, multi-part files, directories, overwrites, deletes) while the server is
//! killed with SIGKILL at a random moment; the server is then restarted on the same data (same
//! data directory, or the same database and bucket) and the catalogue is checked against what
//! the clients were told: nothing acknowledged is lost, nothing is half-visible or corrupt, an
//! interrupted upload can be retried, and once the sessions expire the collector leaves exactly
//! the blobs the catalogue references. The PRNG seed is printed; `FEDML_CRASH_SEED=<seed>`
//! replays the same workload and kill points, `FEDML_CRASH_CYCLES=<n>` runs more kill/restart
//! cycles (default 3).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fedml_client::{ObjectKind, ResponseCode, Target};

use crate::harness::*;
use crate::process::{Scratch, ServerProcess, admin_key};

// ---------------------------------------------------------------------- randomness

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

// ---------------------------------------------------------------------- content

/// One content a client wrote: a file or a tree, identified by a digest of its bytes and names.
#[derive(Clone, Debug, PartialEq)]
struct Version {
    kind: ObjectKind,
    digest: String,
    label: String,
}

/// What a name holds: nothing, or one version.
type State = Option<Version>;

/// A digest of a file's bytes, or of a tree's names, empty folders and file bytes.
fn digest_of(path: &Path) -> Version {
    let meta = std::fs::metadata(path).expect("downloaded path");
    if meta.is_file() {
        let data = std::fs::read(path).expect("read");
        return Version {
            kind: ObjectKind::File,
            digest: fedml_proto::checksum::of_bytes(&data),
            label: String::new(),
        };
    }
    let mut lines = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(path).expect("prefix").to_string_lossy().into_owned();
            if p.is_dir() {
                lines.push(format!("D {rel}"));
                stack.push(p);
            } else {
                lines.push(format!("F {rel} {}", fedml_proto::checksum::of_bytes(&std::fs::read(&p).expect("read"))));
            }
        }
    }
    lines.sort();
    Version {
        kind: ObjectKind::Directory,
        digest: fedml_proto::checksum::of_bytes(lines.join("\n").as_bytes()),
        label: String::new(),
    }
}

/// Writes a fresh source for an upload under `at`: a small file, a multi-part file (more than
/// the 8 MiB part size) or a small tree (sometimes with a multi-part file inside). A third of the
/// files are one of a few shared contents, or one of them with a few bytes changed: uploaded
/// under several names, overwritten and deleted, their packs are shared between objects.
fn make_source(rng: &mut Rng, at: &Path) -> Version {
    let seed = rng.next();
    let roll = rng.below(100);
    let label;
    if roll < 35 {
        let shared = rng.below(3);
        let mut data = bytes((5 << 20) + (shared as usize) * (3 << 20), 9000 + shared);
        let edited = rng.chance(50);
        if edited {
            let at = rng.below(data.len() as u64 - 16) as usize;
            data[at..at + 16].copy_from_slice(&bytes(16, seed));
        }
        std::fs::write(at, &data).expect("write source");
        label = format!("shared content {shared}{}", if edited { ", edited" } else { "" });
    } else if roll < 55 {
        let len = rng.below(256 << 10) as usize;
        std::fs::write(at, bytes(len, seed)).expect("write source");
        label = format!("file of {len} bytes");
    } else if roll < 75 {
        let len = (8 << 20) + rng.below(9 << 20) as usize;
        std::fs::write(at, bytes(len, seed)).expect("write source");
        label = format!("multi-part file of {len} bytes");
    } else {
        std::fs::create_dir_all(at.join("sub/deeper")).expect("mkdir");
        std::fs::create_dir_all(at.join("empty")).expect("mkdir");
        let files = 1 + rng.below(5);
        for i in 0..files {
            let dir = if i % 2 == 0 { at.to_path_buf() } else { at.join("sub/deeper") };
            std::fs::write(dir.join(format!("f{i}.bin")), bytes(rng.below(64 << 10) as usize, seed + i))
                .expect("write");
        }
        let big = rng.chance(25);
        if big {
            std::fs::write(at.join("sub/big.bin"), bytes((8 << 20) + (1 << 20), seed)).expect("write");
        }
        label = format!("tree of {files} files{}", if big { " and a multi-part one" } else { "" });
    }
    let mut v = digest_of(at);
    v.label = label;
    v
}

fn remove_path(p: &Path) {
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

// ---------------------------------------------------------------------- the workload

/// What one client operation tried to make a name hold, and how it ended.
struct OpRecord {
    name: String,
    /// The state the operation would leave (None: a delete).
    effect: State,
    /// The upload's source, kept while the upload is unacknowledged (to retry it).
    source: Option<PathBuf>,
    code: ResponseCode,
    message: String,
    /// Whether the kill had begun when the call returned.
    after_kill: bool,
    took: Duration,
}

/// What the test knows of a name: its acknowledged state and the effects of operations whose
/// outcome the clients never learned.
#[derive(Default)]
struct Knowledge {
    acked: State,
    pending: Vec<(State, Option<PathBuf>)>,
}

struct Workload {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    /// SDK calls under way (a kill then lands in the middle of a transfer).
    in_call: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<Vec<OpRecord>>>,
}

const THREADS: usize = 3;
const NAMES_PER_THREAD: usize = 4;
const OPS_PER_CYCLE: usize = 50;

fn name_of(thread: usize, k: usize) -> String {
    format!("t{thread}-n{k}")
}

/// Starts the client threads: `OPS_PER_CYCLE` operations in all, each thread on its own names
/// (so that the order of operations on one name is known), each thread on `targets[i % len]`.
fn start_workload(
    seed: u64,
    targets: &[Target],
    known: &BTreeMap<String, Knowledge>,
    work: &Path,
    cycle: usize,
) -> Workload {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let in_call = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..THREADS {
        let target = targets[t % targets.len()].clone();
        let mut believed: BTreeMap<String, State> =
            (0..NAMES_PER_THREAD).map(|k| (name_of(t, k), known[&name_of(t, k)].acked.clone())).collect();
        let (stop, done, in_call) = (stop.clone(), done.clone(), in_call.clone());
        let dir = work.join(format!("c{cycle}-t{t}"));
        let mut rng = Rng::new(seed ^ ((cycle as u64) << 32) ^ (t as u64 + 1));
        let ops = OPS_PER_CYCLE / THREADS + usize::from(t < OPS_PER_CYCLE % THREADS);
        threads.push(std::thread::spawn(move || {
            std::fs::create_dir_all(&dir).expect("mkdir");
            let mut records = Vec::new();
            for i in 0..ops {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = name_of(t, rng.below(NAMES_PER_THREAD as u64) as usize);
                let present = believed[&name].is_some();
                let (effect, source, response, took) = if present && rng.chance(30) {
                    let started = Instant::now();
                    in_call.fetch_add(1, Ordering::SeqCst);
                    let r = fedml_client::delete_with(&name, None, &target);
                    in_call.fetch_sub(1, Ordering::SeqCst);
                    (None, None, (r.code, r.message), started.elapsed())
                } else {
                    let source = dir.join(format!("op{i}"));
                    let version = make_source(&mut rng, &source);
                    let mut options = upload_opts(target.clone(), &name);
                    options.overwrite = present;
                    let started = Instant::now();
                    in_call.fetch_add(1, Ordering::SeqCst);
                    let r = fedml_client::upload_with(&source, &options);
                    in_call.fetch_sub(1, Ordering::SeqCst);
                    (Some(version), Some(source), (r.code, r.message), started.elapsed())
                };
                let after_kill = stop.load(Ordering::SeqCst);
                let (code, message) = response;
                if code == ResponseCode::Success {
                    believed.insert(name.clone(), effect.clone());
                }
                let keep = code != ResponseCode::Success;
                let source = match source {
                    Some(s) if keep => Some(s),
                    Some(s) => {
                        remove_path(&s);
                        None
                    }
                    None => None,
                };
                records.push(OpRecord { name, effect, source, code, message, after_kill, took });
                done.fetch_add(1, Ordering::SeqCst);
                if code != ResponseCode::Success {
                    break;
                }
            }
            records
        }));
    }
    Workload { stop, done, in_call, threads }
}

/// Folds the outcome of a cycle's operations into what the test knows.
fn account(known: &mut BTreeMap<String, Knowledge>, records: Vec<OpRecord>) {
    for r in records {
        let k = known.get_mut(&r.name).expect("known name");
        if r.code == ResponseCode::Success {
            k.acked = r.effect;
            for (_, source) in k.pending.drain(..) {
                if let Some(s) = source {
                    remove_path(&s);
                }
            }
        } else {
            assert!(
                r.after_kill,
                "an operation on {:?} failed while the server was up: {:?} {}",
                r.name, r.code, r.message
            );
            assert!(
                r.message.len() > 20 && !r.message.contains("panicked"),
                "an interrupted operation on {:?} must say what happened: {:?}",
                r.name,
                r.message
            );
            // Bounded retries: a call against a dead server gives up (a few backoffs, not a hang).
            assert!(r.took < Duration::from_secs(60), "an interrupted call took {:?}: {}", r.took, r.message);
            k.pending.push((r.effect, r.source));
        }
    }
}

/// Checks what the server holds against what the clients were told, then retries every
/// interrupted upload; afterwards every name's state is known exactly again.
fn verify(target: &Target, known: &mut BTreeMap<String, Knowledge>, work: &Path, round: &str) -> usize {
    let listed = fedml_client::list_storage_objects_with(target);
    assert!(listed.is_success(), "{round}: listing after the restart: {}", listed.message);
    let listed: BTreeMap<String, fedml_client::ObjectMeta> =
        listed.data.unwrap_or_default().into_iter().map(|o| (o.data_name.clone(), o)).collect();
    for name in listed.keys() {
        assert!(known.contains_key(name), "{round}: {name:?} is listed but no client ever wrote it");
    }
    let mut retried = 0;
    for (name, k) in known.iter_mut() {
        let observed = match listed.get(name) {
            None => None,
            Some(meta) => {
                let dest = work.join(format!("verify-{round}-{name}"));
                let r = fedml_client::download_with(name, &download_opts(target.clone(), &dest));
                assert!(r.is_success(), "{round}: {name:?} is listed but does not download intact: {}", r.message);
                let path = r.data.expect("path");
                let mut v = digest_of(&path);
                assert_eq!(v.kind, meta.kind, "{round}: {name:?}: kind");
                if v.kind == ObjectKind::File {
                    let len = std::fs::metadata(&path).expect("meta").len();
                    assert_eq!(len, meta.size, "{round}: {name:?}: the listed size differs from the bytes");
                    assert_eq!(
                        v.digest, meta.checksum,
                        "{round}: {name:?}: the listed checksum differs from the bytes"
                    );
                }
                remove_path(&dest);
                v.label = "observed".into();
                Some(v)
            }
        };
        let same = |a: &State, b: &State| match (a, b) {
            (None, None) => true,
            (Some(x), Some(y)) => x.kind == y.kind && x.digest == y.digest,
            _ => false,
        };
        let allowed = same(&observed, &k.acked) || k.pending.iter().any(|(e, _)| same(&observed, e));
        assert!(
            allowed,
            "{round}: {name:?} holds {:?}, but the last acknowledged state was {:?} and the unacknowledged \
             operations would have left {:?}",
            observed.as_ref().map(|v| (&v.kind, &v.digest)),
            k.acked.as_ref().map(|v| (&v.kind, &v.digest, &v.label)),
            k.pending.iter().map(|(e, _)| e.as_ref().map(|v| &v.label)).collect::<Vec<_>>()
        );
        k.acked = observed;
        // An upload cut off by the kill is sent again, whole, and must go through.
        let interrupted = k.pending.iter().rev().find_map(|(e, s)| Some((e.clone()?, s.clone()?)));
        if let Some((version, source)) = interrupted {
            let mut options = upload_opts(target.clone(), name);
            options.overwrite = true;
            let r = fedml_client::upload_with(&source, &options);
            assert!(r.is_success(), "{round}: retrying the interrupted upload of {name:?} failed: {}", r.message);
            k.acked = Some(version);
            retried += 1;
        }
        for (_, source) in k.pending.drain(..) {
            if let Some(s) = source {
                remove_path(&s);
            }
        }
    }
    retried
}

// ---------------------------------------------------------------------- the catalogue as stored

/// What the catalogue references and holds open, read from its database directly.
struct CatalogueView {
    /// The blobs the catalogue references: objects stored as one blob, and packs.
    blob_keys: BTreeSet<String>,
    objects: usize,
    open_sessions: Vec<(String, i64)>,
    store_upload_ids: Vec<String>,
    garbage: i64,
}

fn catalogue_view(database_url: &str) -> CatalogueView {
    use sqlx::Row;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(database_url).await.expect("catalogue");
        let blob_keys =
            sqlx::query("SELECT blob_key FROM objects WHERE content IS NULL UNION ALL SELECT blob_key FROM packs")
                .fetch_all(&pool)
                .await
                .expect("objects")
                .iter()
                .map(|r| r.get::<String, _>("blob_key"))
                .collect();
        let objects = sqlx::query("SELECT COUNT(*) AS n FROM objects")
            .fetch_one(&pool)
            .await
            .expect("objects")
            .get::<i64, _>("n") as usize;
        let sessions = sqlx::query("SELECT id, state, expires_at, store_upload_id FROM uploads")
            .fetch_all(&pool)
            .await
            .expect("uploads");
        let open_sessions = sessions
            .iter()
            .filter(|r| r.get::<String, _>("state") == "open")
            .map(|r| (r.get::<String, _>("id"), r.get::<i64, _>("expires_at")))
            .collect();
        let store_upload_ids =
            sessions.iter().map(|r| r.get::<String, _>("store_upload_id")).filter(|s| !s.is_empty()).collect();
        let garbage = sqlx::query("SELECT COUNT(*) AS n FROM garbage")
            .fetch_one(&pool)
            .await
            .expect("garbage")
            .get::<i64, _>("n");
        pool.close().await;
        CatalogueView { blob_keys, objects, open_sessions, store_upload_ids, garbage }
    })
}

/// The blob files that should exist for the referenced keys, and those that do (with any
/// multipart parts the S3 server keeps for this catalogue's sessions); parts no S3 call can
/// reach any more go to `unreachable_parts`.
fn stored_vs_referenced(
    backend: &Backend,
    data_dir: &Path,
    view: &CatalogueView,
    unreachable_parts: &mut Vec<PathBuf>,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (root, parts_dir) = match backend {
        Backend::Embedded => (data_dir.join("blobs").join("objects"), None),
        Backend::PostgresS3 { s3_root, bucket, .. } => (s3_root.join(bucket), Some(s3_root.clone())),
        Backend::Cloud(_) => (PathBuf::from("blob"), None),
    };
    let mut expected: Vec<PathBuf> = view.blob_keys.iter().map(|k| root.join(k)).collect();
    expected.sort();
    let mut stored = backend.blob_files(data_dir);
    if let Some(dir) = parts_dir {
        // s3s-fs forgets an upload id first when it completes a multipart upload, then reads
        // its parts; a completion cut short (our server killed while waiting for it) leaves
        // parts of an upload it no longer knows, which no S3 call can reach or remove (AWS
        // completes atomically). Those are counted apart; parts of uploads s3s-fs still knows
        // must all be gone.
        for id in &view.store_upload_ids {
            let prefix = format!(".upload_id-{id}.part-");
            let known = dir.join(format!(".upload-{id}.json")).exists();
            for e in std::fs::read_dir(&dir).expect("s3 root").flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    if known {
                        stored.push(e.path());
                    } else {
                        unreachable_parts.push(e.path());
                    }
                }
            }
        }
    }
    stored.sort();
    (expected, stored)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

// ---------------------------------------------------------------------- the tests

/// Upload sessions live this long in the crash test, so that abandoned ones expire within it.
const UPLOAD_TTL: u64 = 8;

#[test]
fn kill_9_during_a_workload_loses_nothing_acknowledged_and_leaves_no_orphans() {
    let seed = env_number("FEDML_CRASH_SEED").unwrap_or_else(|| now_ms() as u64);
    let cycles = env_number("FEDML_CRASH_CYCLES").unwrap_or(3).max(1) as usize;
    println!("crash seed {seed}, {cycles} cycles (replay with FEDML_CRASH_SEED={seed} FEDML_CRASH_CYCLES={cycles})");
    let mut rng = Rng::new(seed);
    let backend = Backend::fresh();
    let scratch = Scratch::new();
    let data_dir = scratch.path().join("data");
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let log = scratch.path().join("server.log");
    let mut flags = backend.server_flags(&data_dir);
    flags.extend(
        ["--upload-ttl", &UPLOAD_TTL.to_string(), "--reclaim-grace", "1", "--gc-interval", "1"].map(str::to_string),
    );

    let mut known: BTreeMap<String, Knowledge> = (0..THREADS)
        .flat_map(|t| (0..NAMES_PER_THREAD).map(move |k| name_of(t, k)))
        .map(|n| (n, Knowledge::default()))
        .collect();
    let mut server = ServerProcess::start(&flags, &log);
    let key = admin_key(&data_dir);
    let (mut acknowledged, mut interrupted, mut retried) = (0, 0, 0);

    for cycle in 0..cycles {
        // The second cycle runs two servers on the same data, both killed.
        let second = (cycle == 1).then(|| ServerProcess::start(&flags, &log));
        let mut targets = vec![server.target(&key)];
        if let Some(s) = &second {
            targets.push(s.target(&key));
        }
        let kill_after = 3 + rng.below(OPS_PER_CYCLE as u64 - 10) as usize;
        let delay = Duration::from_millis(rng.below(40));
        let workload = start_workload(seed, &targets, &known, &work, cycle);
        let deadline = Instant::now() + Duration::from_secs(120);
        let running = || !workload.threads.iter().all(|t| t.is_finished()) && Instant::now() < deadline;
        while workload.done.load(Ordering::SeqCst) < kill_after && running() {
            std::thread::sleep(Duration::from_millis(2));
        }
        // Then the kill lands while a call is under way.
        while workload.in_call.load(Ordering::SeqCst) == 0 && running() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        workload.stop.store(true, Ordering::SeqCst);
        println!("cycle {cycle}: SIGKILL after {} operations + {delay:?}", workload.done.load(Ordering::SeqCst));
        server.kill();
        if let Some(s) = second {
            s.kill();
        }
        for t in workload.threads {
            let records = t.join().expect("client thread");
            acknowledged += records.iter().filter(|r| r.code == ResponseCode::Success).count();
            interrupted += records.iter().filter(|r| r.code != ResponseCode::Success).count();
            account(&mut known, records);
        }
        server = ServerProcess::start(&flags, &log);
        retried += verify(&server.target(&key), &mut known, &work, &format!("cycle {cycle}"));
    }
    println!("{acknowledged} operations acknowledged, {interrupted} interrupted, {retried} uploads retried");

    // Every abandoned session expires; then the collector leaves exactly the referenced blobs.
    let database_url = backend.database_url(&data_dir);
    let deadline = Instant::now() + Duration::from_secs(UPLOAD_TTL + 30);
    let mut first = true;
    loop {
        let view = catalogue_view(&database_url);
        if first {
            println!("{} abandoned upload sessions wait for their expiry", view.open_sessions.len());
            first = false;
        }
        let mut unreachable = Vec::new();
        let (expected, stored) = stored_vs_referenced(&backend, &data_dir, &view, &mut unreachable);
        let settled = view.open_sessions.is_empty() && view.garbage == 0 && expected == stored;
        if settled {
            assert_eq!(view.objects, known.values().filter(|k| k.acked.is_some()).count());
            if !unreachable.is_empty() {
                println!("{} parts of s3s-fs completions cut short by the kill: {unreachable:?}", unreachable.len());
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the collector did not settle: open sessions {:?} (now {}), {} garbage rows, stored but not referenced \
             {:?}, referenced but not stored {:?}",
            view.open_sessions,
            now_ms(),
            view.garbage,
            stored.iter().filter(|p| !expected.contains(p)).collect::<Vec<_>>(),
            expected.iter().filter(|p| !stored.contains(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // And what is stored is still what the clients were told.
    verify(&server.target(&key), &mut known, &work, "final");
    server.kill();
}

/// Run by `sqlite_recovers_from_a_kill_mid_transaction` as a child process: commits one row,
/// then holds a large write transaction open (spilled into the WAL) until it is killed.
#[test]
#[ignore = "a helper process, run by sqlite_recovers_from_a_kill_mid_transaction"]
fn wal_holder() {
    let Ok(url) = std::env::var("FEDML_CRASH_WAL_DB") else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("open");
        for pragma in ["PRAGMA wal_autocheckpoint = 0", "PRAGMA cache_size = 20", "PRAGMA synchronous = NORMAL"] {
            sqlx::query(pragma).execute(&mut conn).await.expect("pragma");
        }
        sqlx::query("INSERT INTO settings (name, value) VALUES ('crash_committed', 'yes')")
            .execute(&mut conn)
            .await
            .expect("committed row");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("begin");
        sqlx::query("DELETE FROM objects").execute(&mut conn).await.expect("delete");
        for i in 0..20_000 {
            sqlx::query("INSERT INTO garbage (service, blob_key, reclaim_after) VALUES ('R2', $1, 0)")
                .bind(format!("half-written/{i}/{}", "x".repeat(200)))
                .execute(&mut conn)
                .await
                .expect("insert");
        }
        println!("HOLDING");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

/// SQLite (the embedded backend, whatever `FEDML_TEST_BACKEND` says): a process killed in the
/// middle of a large write transaction leaves a WAL with uncommitted frames; the server starts,
/// keeps what was committed, shows nothing of the half transaction, and serves. A second server
/// started beside the first over the same data changes nothing either.
#[test]
fn sqlite_recovers_from_a_kill_mid_transaction() {
    let scratch = Scratch::new();
    let data_dir = scratch.path().join("data");
    let log = scratch.path().join("server.log");
    let flags = Backend::Embedded.server_flags(&data_dir);
    let server = ServerProcess::start(&flags, &log);
    let key = admin_key(&data_dir);
    let file = scratch.path().join("kept.bin");
    std::fs::write(&file, bytes(3 << 20, 11)).expect("write");
    let r = fedml_client::upload_with(&file, &upload_opts(server.target(&key), "kept"));
    assert!(r.is_success(), "{}", r.message);
    server.kill();

    let db = data_dir.join("catalogue.db");
    let wal = data_dir.join("catalogue.db-wal");
    let mut holder = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "crash::wal_holder", "--nocapture", "--test-threads", "1"])
        .env("FEDML_CRASH_WAL_DB", format!("sqlite://{}", db.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the holder");
    let out = BufReader::new(holder.stdout.take().expect("stdout"));
    let mut holding = false;
    for line in out.lines() {
        if line.expect("holder output").contains("HOLDING") {
            holding = true;
            break;
        }
    }
    assert!(holding, "the holder process never reached its open transaction");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(wal_len > 1 << 20, "the open transaction should have spilled into the WAL ({wal_len} bytes)");
    holder.kill().expect("SIGKILL the holder");
    let _ = holder.wait();

    // The first server and a second one over the same data, side by side.
    let first = ServerProcess::start(&flags, &log);
    let second = ServerProcess::start(&flags, &log);
    let view = catalogue_view(&format!("sqlite://{}", db.display()));
    assert_eq!(view.garbage, 0, "rows of the killed transaction are visible");
    assert_eq!(view.objects, 1, "the committed object must survive");
    let work = scratch.path().join("work");
    for (i, s) in [&first, &second].into_iter().enumerate() {
        let dest = work.join(format!("d{i}"));
        let r = fedml_client::download_with("kept", &download_opts(s.target(&key), &dest));
        assert!(r.is_success(), "server {i}: {}", r.message);
        assert_eq!(std::fs::read(dest.join("kept")).expect("read"), std::fs::read(&file).expect("read"));
        let name = format!("new-{i}");
        let r = fedml_client::upload_with(&file, &upload_opts(s.target(&key), &name));
        assert!(r.is_success(), "server {i} takes uploads after the recovery: {}", r.message);
    }
    let r = fedml_client::list_storage_objects_with(&second.target(&key));
    let names: Vec<String> = r.data.expect("list").into_iter().map(|o| o.data_name).collect();
    assert_eq!(names, ["kept", "new-0", "new-1"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let committed = rt.block_on(async {
        use sqlx::Row;
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open");
        let row = sqlx::query("SELECT COUNT(*) AS n FROM settings WHERE name = 'crash_committed'")
            .fetch_one(&pool)
            .await
            .expect("settings");
        row.get::<i64, _>("n")
    });
    assert_eq!(committed, 1, "a transaction committed before the kill must survive it");
    first.kill();
    second.kill();
}
