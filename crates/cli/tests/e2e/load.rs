//! Load: 64 client threads against one server for a bounded time (`FEDML_LOAD_SECS`, default
//! 20), each doing a random mix of the SDK's calls: uploads of files of many sizes (empty to
//! multi-part), directories, overwrites of names every thread shares, downloads compared byte for
//! byte, list, metadata, user metadata, deletes. Every call must succeed, except the refusals
//! that are certain by construction (a name this thread just deleted, a name it holds uploaded
//! again without overwrite); every download must be exactly one version that was written. At the
//! end the catalogue holds exactly the expected objects, and once the collector has run no blob
//! file is left that no object owns.
//!
//! Each thread owns its private names (only it writes or deletes them, so it always knows what
//! they hold); shared names are only ever overwritten, never deleted, and each version carries a
//! header naming it, from which the whole content can be regenerated and compared.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fedml_client::{ObjectKind, ResponseCode, Target};

use crate::harness::*;
use crate::observe::under_load::{check_metrics_cover, watch};

const THREADS: usize = 64;
const USERS: usize = 2;
const SHARED_NAMES: usize = 4;
/// Files above the server's smallest part size (8 MiB) travel as several parts; at most this many.
const BIG_UPLOADS: u64 = 24;

fn load_secs() -> u64 {
    std::env::var("FEDML_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20)
}

/// A small, seedable generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// `len` bytes fully determined by `tag`: a header line naming the version, then 4 KiB blocks of
/// pseudo-random bytes each stamped with its index (so a misplaced range cannot go unnoticed).
fn content(tag: &str, len: usize) -> Vec<u8> {
    let block = bytes(4096, fnv(tag));
    let mut out = Vec::with_capacity(len);
    let mut index = 0u64;
    while out.len() < len {
        let start = out.len();
        out.extend_from_slice(&block[..(len - start).min(4096)]);
        let stamp = index.to_le_bytes();
        let n = (out.len() - start).min(8);
        out[start..start + n].copy_from_slice(&stamp[..n]);
        index += 1;
    }
    let header = format!("FEDML-LOAD {tag} {len}\n");
    let n = header.len().min(len);
    out[..n].copy_from_slice(&header.as_bytes()[..n]);
    out
}

/// The version a downloaded shared object claims to be: (tag, length) from its header.
fn version_of(data: &[u8]) -> Option<(String, usize)> {
    let line = data.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.strip_prefix("FEDML-LOAD ")?.split(' ');
    let tag = words.next()?.to_string();
    let len = words.next()?.parse().ok()?;
    Some((tag, len))
}

/// What a thread knows one of its private objects holds.
#[derive(Clone)]
struct Private {
    /// Files: [("", tag, len)]; directories: one entry per file, by relative path.
    files: Vec<(String, String, usize)>,
    kind: ObjectKind,
    size: u64,
    checksum: String,
    metadata: BTreeMap<String, String>,
}

/// What a thread leaves: its user, its private objects, how many of each operation it did.
type Outcome = (usize, BTreeMap<String, Private>, BTreeMap<&'static str, u64>);

struct Shared {
    /// Every version of every shared name that any thread has started to write.
    versions: Mutex<HashSet<String>>,
    errors: Mutex<Vec<String>>,
    mismatches: AtomicU64,
    big_uploads: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

struct Worker<'a> {
    tid: usize,
    user: usize,
    target: Target,
    rng: Rng,
    dir: PathBuf,
    own: BTreeMap<String, Private>,
    serial: u64,
    counts: BTreeMap<&'static str, u64>,
    shared: &'a Shared,
}

fn shared_name(k: usize) -> String {
    format!("shared-{k}")
}

impl Worker<'_> {
    fn error(&self, what: String) {
        self.shared.errors.lock().expect("errors").push(format!("thread {}: {what}", self.tid));
    }

    fn mismatch(&self, what: String) {
        self.shared.mismatches.fetch_add(1, Ordering::Relaxed);
        self.error(format!("MISMATCH {what}"));
    }

    fn count(&mut self, op: &'static str) {
        *self.counts.entry(op).or_default() += 1;
    }

    fn file_size(&mut self) -> usize {
        let r = self.rng.below(100);
        let size = match r {
            0..5 => 0,
            5..55 => self.rng.range(1, 16 << 10),
            55..85 => self.rng.range(16 << 10, 512 << 10),
            85..97 => self.rng.range(512 << 10, 3 << 20),
            _ => {
                if self.shared.big_uploads.fetch_add(1, Ordering::Relaxed) < BIG_UPLOADS {
                    self.rng.range((8 << 20) + 1, 20 << 20)
                } else {
                    self.rng.range(1 << 20, 3 << 20)
                }
            }
        };
        size as usize
    }

    fn next_tag(&mut self, what: &str) -> String {
        self.serial += 1;
        format!("u{}/{what}/t{}/v{}", self.user, self.tid, self.serial)
    }

    /// Uploads `data` under `name`; answers the stored (size, checksum).
    fn upload_bytes(
        &mut self,
        name: &str,
        data: &[u8],
        overwrite: bool,
        metadata: &BTreeMap<String, String>,
    ) -> Option<(u64, String)> {
        let path = self.dir.join("up.bin");
        std::fs::write(&path, data).expect("write the source");
        let mut o = upload_opts(self.target.clone(), name);
        o.overwrite = overwrite;
        o.metadata = Some(metadata.clone());
        let r = fedml_client::upload_with(&path, &o);
        let _ = std::fs::remove_file(&path);
        self.shared.bytes_up.fetch_add(data.len() as u64, Ordering::Relaxed);
        match r.data {
            Some(done) if r.code == ResponseCode::Success => {
                if done.object.size != data.len() as u64
                    || done.object.checksum != fedml_proto::checksum::of_bytes(data)
                {
                    self.mismatch(format!(
                        "upload of {name}: stored {} bytes, {}",
                        done.object.size, done.object.checksum
                    ));
                }
                Some((done.object.size, done.object.checksum))
            }
            _ => {
                self.error(format!("upload {name} ({} bytes): {} {}", data.len(), r.code, r.message));
                None
            }
        }
    }

    fn metadata_for(&self, name: &str) -> BTreeMap<String, String> {
        [
            ("thread".to_string(), self.tid.to_string()),
            ("name".to_string(), name.to_string()),
            ("serial".to_string(), self.serial.to_string()),
        ]
        .into()
    }

    fn upload_file(&mut self, name: Option<String>) {
        let overwrite = name.is_some();
        let name = name.unwrap_or_else(|| {
            self.serial += 1;
            format!("t{}-f{}", self.tid, self.serial)
        });
        let len = self.file_size();
        let tag = self.next_tag(&name);
        let data = content(&tag, len);
        let metadata = self.metadata_for(&name);
        if let Some((size, checksum)) = self.upload_bytes(&name, &data, overwrite, &metadata) {
            let files = vec![(String::new(), tag, len)];
            self.own.insert(name, Private { files, kind: ObjectKind::File, size, checksum, metadata });
        }
        self.count(if overwrite {
            "overwrite-own"
        } else if len > 8 << 20 {
            "upload-multipart"
        } else {
            "upload-file"
        });
    }

    fn upload_dir(&mut self) {
        self.serial += 1;
        let name = format!("t{}-d{}", self.tid, self.serial);
        let root = self.dir.join("tree").join(&name);
        let mut files = Vec::new();
        for i in 0..self.rng.range(1, 6) {
            let rel = match i % 3 {
                0 => format!("f{i}.bin"),
                1 => format!("sub/f{i}.bin"),
                _ => format!("sub/deeper/f{i}.bin"),
            };
            // Now and then a file that makes the archive travel as several parts.
            let big = i == 0
                && self.rng.below(25) == 0
                && self.shared.big_uploads.fetch_add(1, Ordering::Relaxed) < BIG_UPLOADS;
            let len = if big { self.rng.range((8 << 20) + 1, 12 << 20) } else { self.rng.below(64 << 10) } as usize;
            let tag = self.next_tag(&format!("{name}/{i}"));
            let path = root.join(&rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, content(&tag, len)).expect("write");
            self.shared.bytes_up.fetch_add(len as u64, Ordering::Relaxed);
            files.push((rel, tag, len));
        }
        let multipart = files.iter().any(|f| f.2 > 8 << 20);
        let metadata = self.metadata_for(&name);
        let mut o = upload_opts(self.target.clone(), &name);
        o.metadata = Some(metadata.clone());
        let r = fedml_client::upload_with(&root, &o);
        let _ = std::fs::remove_dir_all(&root);
        match r.data {
            Some(done) if r.code == ResponseCode::Success => {
                let (size, checksum) = (done.object.size, done.object.checksum);
                self.own.insert(name, Private { files, kind: ObjectKind::Directory, size, checksum, metadata });
            }
            _ => self.error(format!("upload directory {name}: {} {}", r.code, r.message)),
        }
        self.count(if multipart { "upload-dir-multipart" } else { "upload-dir" });
    }

    fn overwrite_shared(&mut self) {
        let name = shared_name(self.rng.below(SHARED_NAMES as u64) as usize);
        let len =
            if self.rng.below(10) == 0 { self.rng.range(512 << 10, 2 << 20) } else { self.rng.range(128, 256 << 10) }
                as usize;
        let tag = self.next_tag(&name);
        self.shared.versions.lock().expect("versions").insert(tag.clone());
        let data = content(&tag, len);
        let metadata = self.metadata_for(&name);
        self.upload_bytes(&name, &data, true, &metadata);
        self.count("overwrite-shared");
    }

    /// Downloads `name` and answers where it landed, or records the failure.
    fn download(&mut self, name: &str) -> Option<PathBuf> {
        let dest = self.dir.join("down");
        let r = fedml_client::download_with(name, &download_opts(self.target.clone(), &dest));
        match r.data {
            Some(path) if r.code == ResponseCode::Success => Some(path),
            _ => {
                self.error(format!("download {name}: {} {}", r.code, r.message));
                None
            }
        }
    }

    fn download_own(&mut self) {
        let Some(name) = self.pick_own() else { return self.upload_file(None) };
        let expected = self.own[&name].clone();
        if let Some(path) = self.download(&name) {
            match expected.kind {
                ObjectKind::File => {
                    let got = std::fs::read(&path).unwrap_or_default();
                    self.shared.bytes_down.fetch_add(got.len() as u64, Ordering::Relaxed);
                    let (_, tag, len) = &expected.files[0];
                    if got != content(tag, *len) {
                        self.mismatch(format!("download of {name}: {} bytes, not version {tag}", got.len()));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                ObjectKind::Directory => {
                    if let Err(e) = tree_matches(&path, &expected.files) {
                        self.mismatch(format!("download of directory {name}: {e}"));
                    }
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
        self.count("download-own");
    }

    fn download_shared(&mut self) {
        let name = shared_name(self.rng.below(SHARED_NAMES as u64) as usize);
        if let Some(path) = self.download(&name) {
            let got = std::fs::read(&path).unwrap_or_default();
            let _ = std::fs::remove_file(&path);
            self.shared.bytes_down.fetch_add(got.len() as u64, Ordering::Relaxed);
            if let Err(e) = check_shared_version(self.shared, self.user, &name, &got) {
                self.mismatch(format!("download of {name}: {e}"));
            }
        }
        self.count("download-shared");
    }

    fn pick_own(&mut self) -> Option<String> {
        if self.own.is_empty() {
            return None;
        }
        let i = self.rng.below(self.own.len() as u64) as usize;
        self.own.keys().nth(i).cloned()
    }

    fn list(&mut self) {
        let r = fedml_client::list_storage_objects_with(&self.target);
        match r.data {
            Some(objects) if r.code == ResponseCode::Success => {
                let listed: HashMap<&str, &fedml_client::ObjectMeta> =
                    objects.iter().map(|o| (o.data_name.as_str(), o)).collect();
                for (name, p) in &self.own {
                    match listed.get(name.as_str()) {
                        Some(o) if o.size == p.size && o.checksum == p.checksum && o.kind == p.kind => {}
                        Some(o) => self.mismatch(format!("list shows {name} as {} bytes {}", o.size, o.checksum)),
                        None => self.mismatch(format!("list lacks {name}")),
                    }
                }
                for k in 0..SHARED_NAMES {
                    if !listed.contains_key(shared_name(k).as_str()) {
                        self.mismatch(format!("list lacks {}", shared_name(k)));
                    }
                }
                let prefix = format!("t{}-", self.tid);
                for o in &objects {
                    if o.data_name.starts_with(&prefix) && !self.own.contains_key(&o.data_name) {
                        self.mismatch(format!("list shows {}, which this thread deleted", o.data_name));
                    }
                }
            }
            _ => self.error(format!("list: {} {}", r.code, r.message)),
        }
        self.count("list");
    }

    fn metadata(&mut self) {
        let Some(name) = self.pick_own() else { return self.upload_file(None) };
        let p = self.own[&name].clone();
        let r = fedml_client::get_storage_metadata_with(&name, None, &self.target);
        match r.data {
            Some(o) if r.code == ResponseCode::Success => {
                if o.size != p.size || o.checksum != p.checksum || o.kind != p.kind || o.user_metadata != p.metadata {
                    self.mismatch(format!("metadata of {name}: {} bytes {}", o.size, o.checksum));
                }
            }
            _ => self.error(format!("metadata {name}: {} {}", r.code, r.message)),
        }
        self.count("get-metadata");
    }

    fn user_metadata(&mut self) {
        let Some(name) = self.pick_own() else { return self.upload_file(None) };
        let expected = self.own[&name].metadata.clone();
        let r = fedml_client::get_storage_user_defined_metadata_with(&name, None, &self.target);
        match r.data {
            Some(m) if r.code == ResponseCode::Success => {
                if m != expected {
                    self.mismatch(format!("user metadata of {name}: {m:?}"));
                }
            }
            _ => self.error(format!("user metadata {name}: {} {}", r.code, r.message)),
        }
        self.count("get-user-metadata");
    }

    fn delete(&mut self) {
        let Some(name) = self.pick_own() else { return self.upload_file(None) };
        let r = fedml_client::delete_with(&name, None, &self.target);
        self.count("delete");
        if r.code != ResponseCode::Success {
            return self.error(format!("delete {name}: {} {}", r.code, r.message));
        }
        self.own.remove(&name);
        // Certain refusals: the name is gone, and only this thread could have brought it back.
        let r = fedml_client::get_storage_metadata_with(&name, None, &self.target);
        if r.code != ResponseCode::Failure || !r.message.contains("no data named") {
            self.error(format!("metadata of deleted {name}: {} {}", r.code, r.message));
        }
        self.count("expected-refusal");
    }

    fn upload_taken_name(&mut self) {
        let Some(name) = self.pick_own() else { return self.upload_file(None) };
        let path = self.dir.join("taken.bin");
        std::fs::write(&path, b"must not replace").expect("write");
        let r = fedml_client::upload_with(&path, &upload_opts(self.target.clone(), &name));
        if r.code != ResponseCode::Failure || !r.message.contains("already exists") {
            self.error(format!("upload over {name} without overwrite: {} {}", r.code, r.message));
        }
        self.count("expected-refusal");
    }

    fn step(&mut self) {
        if self.own.len() > 12 {
            return self.delete();
        }
        match self.rng.below(100) {
            0..14 => self.upload_file(None),
            14..18 => self.upload_dir(),
            18..22 => {
                let name = self.pick_own().filter(|n| self.own[n].kind == ObjectKind::File);
                self.upload_file(name)
            }
            22..33 => self.overwrite_shared(),
            33..50 => self.download_own(),
            50..62 => self.download_shared(),
            62..70 => self.list(),
            70..78 => self.metadata(),
            78..84 => self.user_metadata(),
            84..96 => self.delete(),
            _ => self.upload_taken_name(),
        }
    }
}

/// The downloaded data is exactly a version of `name` that some thread wrote.
fn check_shared_version(shared: &Shared, user: usize, name: &str, got: &[u8]) -> Result<String, String> {
    let (tag, len) = version_of(got).ok_or_else(|| format!("{} bytes with no version header", got.len()))?;
    if !tag.starts_with(&format!("u{user}/{name}/")) {
        return Err(format!("holds version {tag} of another name or user"));
    }
    if !shared.versions.lock().expect("versions").contains(&tag) {
        return Err(format!("holds version {tag}, which nobody wrote"));
    }
    if len != got.len() || got != content(&tag, len) {
        return Err(format!("{} bytes that are not version {tag} ({len} bytes)", got.len()));
    }
    Ok(tag)
}

/// The directory at `root` holds exactly `files`, byte for byte (and no other file).
fn tree_matches(root: &Path, files: &[(String, String, usize)]) -> Result<(), String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.insert(p.strip_prefix(root).map_err(|e| e.to_string())?.to_string_lossy().into_owned());
            }
        }
    }
    let expected: BTreeSet<String> = files.iter().map(|f| f.0.clone()).collect();
    if found != expected {
        return Err(format!("files {found:?} instead of {expected:?}"));
    }
    for (rel, tag, len) in files {
        if std::fs::read(root.join(rel)).map_err(|e| e.to_string())? != content(tag, *len) {
            return Err(format!("{rel} differs"));
        }
    }
    Ok(())
}

#[test]
fn sixty_four_clients_mixed_operations_zero_errors() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let keys: Vec<String> = (0..USERS).map(|u| server.new_user(&format!("load{u}"))).collect();
    let shared = Shared {
        versions: Mutex::new(HashSet::new()),
        errors: Mutex::new(Vec::new()),
        mismatches: AtomicU64::new(0),
        big_uploads: AtomicU64::new(0),
        bytes_up: AtomicU64::new(0),
        bytes_down: AtomicU64::new(0),
    };
    for (u, key) in keys.iter().enumerate() {
        for k in 0..SHARED_NAMES {
            let tag = format!("u{u}/{}/init", shared_name(k));
            shared.versions.lock().expect("versions").insert(tag.clone());
            let path = work.path().join("init.bin");
            std::fs::write(&path, content(&tag, 1000)).expect("write");
            let mut o = upload_opts(server.target(key), &shared_name(k));
            o.overwrite = true;
            assert!(fedml_client::upload_with(&path, &o).is_success());
        }
    }

    let secs = load_secs();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let (results, scrapes): (Vec<Outcome>, usize) = std::thread::scope(|s| {
        // An operator watching: the probes and /metrics while the load runs.
        let watcher = s.spawn(|| watch(&server.url, deadline));
        let handles: Vec<_> = (0..THREADS)
            .map(|tid| {
                let (shared, keys, server) = (&shared, &keys, &server);
                let dir = work.path().join(format!("t{tid}"));
                s.spawn(move || {
                    std::fs::create_dir_all(&dir).expect("mkdir");
                    let user = tid % USERS;
                    let mut w = Worker {
                        tid,
                        user,
                        target: server.target(&keys[user]),
                        rng: Rng(fnv(&format!("thread {tid}")) | 1),
                        dir,
                        own: BTreeMap::new(),
                        serial: 0,
                        counts: BTreeMap::new(),
                        shared,
                    };
                    while Instant::now() < deadline {
                        w.step();
                    }
                    (user, w.own, w.counts)
                })
            })
            .collect();
        let results = handles.into_iter().map(|h| h.join().expect("worker")).collect();
        (results, watcher.join().expect("watcher"))
    });
    let elapsed = started.elapsed();

    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (_, _, c) in &results {
        for (op, n) in c {
            *counts.entry(op).or_default() += n;
        }
    }
    let total: u64 = counts.values().sum();
    let errors = shared.errors.lock().expect("errors").clone();
    println!(
        "load: {THREADS} threads, {:.1} s, {total} operations ({:.0}/s), {:.0} MiB up, {:.0} MiB down, {} errors, {} mismatches",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        shared.bytes_up.load(Ordering::Relaxed) as f64 / 1048576.0,
        shared.bytes_down.load(Ordering::Relaxed) as f64 / 1048576.0,
        errors.len(),
        shared.mismatches.load(Ordering::Relaxed)
    );
    for (op, n) in &counts {
        println!("  {op:<20} {n:>6}");
    }
    assert!(errors.is_empty(), "{} errors, first ones:\n{}", errors.len(), errors[..errors.len().min(20)].join("\n"));
    assert_eq!(shared.mismatches.load(Ordering::Relaxed), 0);
    for op in ["upload-file", "upload-dir", "overwrite-shared", "download-own", "download-shared", "list", "delete"] {
        assert!(counts.get(op).copied().unwrap_or(0) > 0, "no {op} ran: {counts:?}");
    }
    check_metrics_cover(&server.url, &counts, scrapes);

    // The catalogue holds exactly what the threads left, and every shared name a written version.
    let mut live_blobs = BTreeSet::new();
    for (u, key) in keys.iter().enumerate() {
        let target = server.target(key);
        let listed = fedml_client::list_storage_objects_with(&target).data.expect("list");
        let mut expected: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for (user, own, _) in &results {
            if *user == u {
                expected.extend(own.iter().map(|(n, p)| (n.clone(), (p.size, p.checksum.clone()))));
            }
        }
        let names: BTreeSet<String> = listed.iter().map(|o| o.data_name.clone()).collect();
        let mut want: BTreeSet<String> = expected.keys().cloned().collect();
        want.extend((0..SHARED_NAMES).map(shared_name));
        assert_eq!(names, want, "user {u}'s catalogue");
        for o in &listed {
            if let Some((size, checksum)) = expected.get(&o.data_name) {
                assert_eq!((o.size, &o.checksum), (*size, checksum), "{}", o.data_name);
            }
            assert!(o.download_url.is_some(), "{} has a download URL", o.data_name);
        }
        let dest = work.path().join("final");
        for k in 0..SHARED_NAMES {
            let name = shared_name(k);
            let r = fedml_client::download_with(&name, &download_opts(target.clone(), &dest));
            assert!(r.is_success(), "{name}: {}", r.message);
            let got = std::fs::read(dest.join(&name)).expect("read");
            let meta = listed.iter().find(|o| o.data_name == name).expect("listed");
            assert_eq!(got.len() as u64, meta.size);
            check_shared_version(&shared, u, &name, &got).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    // Once the grace period is over and the collector has run, every blob file belongs to an
    // object (its blob, or a pack it reads): no replaced, deleted or abandoned data is left behind.
    end_grace_period(&server);
    let platform = server.platform.clone();
    let report = server.block_on(async move { platform.collect_all_garbage().await.expect("collect") });
    // On a bucket a released pack is removed once more when its PUT URLs have expired (a
    // replayed URL could have stored it again): due now too, as if they had.
    end_grace_period(&server);
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("collect") });
    let catalogue = server.platform.catalogue.clone();
    let referenced = server.block_on(async move { catalogue.referenced_blobs().await.expect("inventory") });
    live_blobs.extend(referenced.into_iter().map(|r| r.blob_key));
    assert_eq!(garbage_count(&server), 0, "garbage left after collection");
    let files: BTreeSet<String> = server
        .blob_files()
        .iter()
        .map(|p| {
            let mut c = p.components().rev().map(|c| c.as_os_str().to_string_lossy().into_owned());
            let blob = c.next().expect("blob");
            format!("{}/{blob}", c.next().expect("owner"))
        })
        .collect();
    assert_eq!(files.len(), server.blob_files().len(), "one file per blob");
    let orphans: Vec<_> = files.difference(&live_blobs).collect();
    let missing: Vec<_> = live_blobs.difference(&files).collect();
    assert!(orphans.is_empty(), "{} orphaned blob files: {orphans:?}", orphans.len());
    assert!(missing.is_empty(), "objects without their blob: {missing:?}");
    println!("load: collector reclaimed {} blobs; {} blob files, one per object", report.blobs_reclaimed, files.len());
}
