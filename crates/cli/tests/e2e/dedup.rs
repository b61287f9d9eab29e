//! The content store as a user sees it: only new bytes travel (a new version, the same data
//! under another name), never across users; an interrupted upload resumes; every copy downloads
//! and verifies; deleting everything leaves the store empty; completions that lie about packs
//! and segments are refused.

use serde_json::{Value, json};

use crate::harness::*;

fn no_grace() -> fedml_server::platform::Lifetimes {
    fedml_server::platform::Lifetimes { reclaim_grace_secs: 0, ..Default::default() }
}

fn upload(
    target: &fedml_client::Target,
    path: &std::path::Path,
    name: &str,
    overwrite: bool,
) -> fedml_proto::content::TransferStats {
    let mut o = upload_opts(target.clone(), name);
    o.overwrite = overwrite;
    o.dedup = true;
    let done = fedml_client::upload_with(path, &o);
    assert!(done.is_success(), "{}", done.message);
    done.data.expect("answer").transfer.expect("what the upload moved")
}

/// The share of the bytes read that an upload sent, printed under `what`.
fn sent_share(what: &str, moved: &fedml_proto::content::TransferStats) -> f64 {
    let share = moved.sent_bytes as f64 / moved.read_bytes as f64;
    println!("{what}: sent {} of {} bytes ({:.2}%)", moved.sent_bytes, moved.read_bytes, share * 100.0);
    share
}

fn downloads_as(target: &fedml_client::Target, name: &str, expected: &[u8]) {
    let dest = tempfile::tempdir().expect("tmp");
    let got = fedml_client::download_with(name, &download_opts(target.clone(), dest.path()));
    assert!(got.is_success(), "{}", got.message);
    let read = std::fs::read(dest.path().join(name)).expect("downloaded");
    assert!(read == expected, "{name} downloaded other bytes");
}

/// The file after edits like the benchmark's: 1 MiB inserted at the start and `edits` scattered
/// 64 KiB overwrites.
fn edited(data: &[u8], edits: usize) -> Vec<u8> {
    let mut body = data.to_vec();
    for i in 0..edits {
        let at = (i * 7919 * 4096) % (body.len() - (64 << 10));
        body[at..at + (64 << 10)].copy_from_slice(&bytes(64 << 10, 1000 + i as u64));
    }
    let mut out = bytes(1 << 20, 77);
    out.extend_from_slice(&body);
    out
}

#[test]
fn only_new_bytes_travel_and_never_across_users() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let bob = server.target(&server.new_user("bob"));
    let size = 48 << 20;
    let v1 = bytes(size, 5);
    let path = work.path().join("model.bin");
    std::fs::write(&path, &v1).expect("write");

    let first = upload(&alice, &path, "model.bin", false);
    assert_eq!(first.read_bytes, size as u64);
    assert!(first.sent_bytes >= size as u64 && first.stored_bytes == 0, "{first:?}");

    // A new version: an insertion at the start and 10 scattered edits.
    let v2 = edited(&v1, 10);
    std::fs::write(&path, &v2).expect("write");
    let second = upload(&alice, &path, "model.bin", true);
    let share = second.sent_bytes as f64 / v2.len() as f64;
    println!("new version: sent {} of {} bytes ({:.2}%)", second.sent_bytes, v2.len(), share * 100.0);
    assert!(share < 0.06, "a new version re-sent {:.1}% of its bytes: {second:?}", share * 100.0);
    assert!(second.stored_bytes as f64 > v2.len() as f64 * 0.9, "{second:?}");

    // The same bytes under a second name: nothing but what the server lacks (nothing).
    let copy = upload(&alice, &path, "copy.bin", false);
    println!("same bytes, second name: sent {} of {}", copy.sent_bytes, copy.read_bytes);
    assert!((copy.sent_bytes as f64) < v2.len() as f64 * 0.005, "{copy:?}");

    // What it costs: two objects of v2's size, stored about once.
    let usage = fedml_client::storage_usage_with(&alice).data.expect("usage");
    assert_eq!((usage.objects, usage.logical_bytes), (2, 2 * v2.len() as u64), "{usage:?}");
    assert!(usage.stored_bytes >= v2.len() as u64 && usage.stored_bytes < v2.len() as u64 * 11 / 10, "{usage:?}");

    // Another user's upload of the same bytes sends all of them, and learns nothing.
    let theirs = upload(&bob, &path, "model.bin", false);
    assert!(theirs.sent_bytes >= v2.len() as u64 && theirs.stored_bytes == 0, "{theirs:?}");

    let theirs_usage = fedml_client::storage_usage_with(&bob).data.expect("usage");
    assert!(theirs_usage.stored_bytes >= v2.len() as u64, "bob's store holds his own copy: {theirs_usage:?}");
    downloads_as(&alice, "model.bin", &v2);
    downloads_as(&alice, "copy.bin", &v2);
    downloads_as(&bob, "model.bin", &v2);
    // The whole-file URL (the FedML SDK's, `download_url`) reads the assembled file.
    let meta = fedml_client::get_storage_metadata_with("copy.bin", None, &alice).data.expect("metadata");
    let url = meta.download_url.expect("url");
    let whole = server.block_on(async move { reqwest::get(url).await.expect("GET").bytes().await.expect("body") });
    assert!(whole.as_ref() == v2.as_slice(), "the assembled file differs");

    // Deleting everything leaves nothing in the store once collected.
    for (who, name) in [(&alice, "model.bin"), (&alice, "copy.bin"), (&bob, "model.bin")] {
        assert!(fedml_client::delete_with(name, None, who).is_success());
    }
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
}

/// A new version whose new chunks lie one in each block the client reads the data in (2 MiB),
/// sent one pack at a time (the smallest read-ahead budget): the pack being filled gathers
/// chunks of far more blocks than the budget holds, so it must copy them rather than keep
/// their blocks alive, or the reader would wait for memory nothing frees. Repeated at three
/// strides; each upload must finish within two minutes and download as written.
#[test]
fn a_new_version_with_an_edit_in_every_block_uploads() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let mut alice = server.target(&server.new_user("alice"));
    alice.parallel = Some(1);
    let size = 96 << 20;
    let v1 = bytes(size, 41);
    let path = work.path().join("weights.bin");
    std::fs::write(&path, &v1).expect("write");
    upload(&alice, &path, "weights.bin", false);
    for (round, stride) in [(1u64, 2usize << 20), (2, 1 << 20), (3, 3 << 19)].into_iter() {
        let mut next = v1.clone();
        for at in (0..size - (64 << 10)).step_by(stride) {
            next[at..at + (16 << 10)].copy_from_slice(&bytes(16 << 10, 500 * round + at as u64));
        }
        std::fs::write(&path, &next).expect("write");
        let (tx, rx) = std::sync::mpsc::channel();
        let (target, file) = (alice.clone(), path.clone());
        std::thread::spawn(move || {
            let _ = tx.send(upload(&target, &file, "weights.bin", true));
        });
        let sent = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the upload with an edit every {stride} bytes did not finish in 2 minutes"));
        let edits = size.div_ceil(stride) as u64;
        assert!(sent.sent_bytes < edits * (384 << 10), "sent {} for {edits} edits", sent.sent_bytes);
        downloads_as(&alice, "weights.bin", &next);
    }
}

#[test]
fn an_interrupted_upload_resumes_sending_only_the_rest() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let key = server.new_user("carol");
    let target = server.target(&key);
    let data = bytes(96 << 20, 9);
    let path = work.path().join("ckpt.bin");
    std::fs::write(&path, &data).expect("write");
    let config = work.path().join("cfg");
    let login = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["login", &key, "--server", &server.url])
        .env("FEDML_CONFIG_DIR", &config)
        .output()
        .expect("login");
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    // Killed (SIGKILL: no chance to clean up) once about half of it is on its way: five of its
    // twelve packs announced, one at a time.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["storage", "upload", path.to_str().expect("path"), "--no-progress", "--parallel", "1"])
        .env("FEDML_CONFIG_DIR", &config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("upload");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let announced = catalogue_count(&server, "SELECT COUNT(*) AS n FROM packs");
        assert!(std::time::Instant::now() < deadline, "the upload never got going");
        if announced >= 6 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    // Nothing half-uploaded is visible.
    assert_eq!(fedml_client::list_storage_objects_with(&target).data, Some(vec![]));
    let again = upload(&target, &path, "ckpt.bin", false);
    println!("resumed: sent {} of {} bytes", again.sent_bytes, again.read_bytes);
    assert!(again.resumed, "{again:?}");
    assert!(again.sent_bytes < data.len() as u64 * 7 / 10, "{again:?}");
    downloads_as(&target, "ckpt.bin", &data);
}

/// A native API call made by hand: its HTTP status and envelope.
fn post(server: &TestServer, key: &str, path: &str, body: Value) -> (u16, Value) {
    let http = fedml_client::client::http_client().expect("HTTP client");
    let url = format!("{}{path}", server.url);
    let key = key.to_string();
    server.block_on(async move {
        let answer = http.post(url).bearer_auth(key).json(&body).send().await.expect("sent");
        let status = answer.status().as_u16();
        (status, answer.json::<Value>().await.expect("an envelope"))
    })
}

/// A completion of a packed session, built by hand.
fn complete(server: &TestServer, key: &str, id: &str, body: Value) -> (u16, Value) {
    post(server, key, &format!("/api/v1/uploads/{id}/complete"), body)
}

#[test]
fn completions_that_lie_about_packs_or_segments_are_refused() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let key = server.new_user("dave");
    let other = server.new_user("erin");
    let data = bytes(3 << 20, 21);
    let path = work.path().join("f.bin");
    std::fs::write(&path, &data).expect("write");
    upload(&server.target(&other), &path, "theirs.bin", false);
    upload(&server.target(&key), &path, "mine.bin", false);
    let api = |key: &str, path: &str, body: Value| post(&server, key, path, body);
    let (_, session) = api(
        &key,
        "/api/v1/uploads",
        json!({"name": "lie.bin", "service": "R2", "kind": "file", "size": 1000, "layout": "packs"}),
    );
    let id = session["data"]["upload_id"].as_str().expect("id").to_string();
    let checksum = fedml_proto::checksum::of_bytes(&[0u8; 1000]);
    // Erin's pack, whose id dave knows (the same bytes): never found or usable for dave's session.
    let first = fedml_proto::content::Chunker.cut(&data).unwrap_or(data.len());
    let chunk = hex::encode(fedml_proto::content::chunk_id(&data[..first]));
    let (_, found) = api(&key, &format!("/api/v1/uploads/{id}/known"), json!({"chunks": [chunk]}));
    let packs = found["data"].as_array().expect("packs").clone();
    assert_eq!(packs.len(), 1, "dave's own pack only: {found}");
    let dave_pack = packs[0]["pack"].as_str().expect("id").to_string();
    let dave_size = packs[0]["size"].as_u64().expect("size");
    let cases = [
        (
            "a pack never announced",
            json!({"packs": ["0".repeat(64)], "segments": [{"pack": 0, "offset": 0, "length": 1000}]}),
        ),
        (
            "a segment past its pack",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": dave_size, "length": 1000}]}),
        ),
        (
            "a segment of a pack not listed",
            json!({"packs": [dave_pack], "segments": [{"pack": 1, "offset": 0, "length": 1000}]}),
        ),
        (
            "segments that do not add up",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 999}]}),
        ),
        (
            "an empty segment",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 0}, {"pack": 0, "offset": 0, "length": 1000}]}),
        ),
        (
            "a pack listed twice",
            json!({"packs": [dave_pack, dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 1000}]}),
        ),
        (
            "an offset that overflows",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": u64::MAX, "length": 1000}]}),
        ),
        (
            "a sample of a pack not listed",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 1000}], "samples": [[chunk, 3]]}),
        ),
    ];
    for (what, content) in cases {
        let (status, answer) =
            complete(&server, &key, &id, json!({"parts": [], "size": 1000, "checksum": checksum, "content": content}));
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["code"], "FAILURE", "{what}: {answer}");
        println!("{what}: {}", answer["message"]);
    }
    // Parts on a packed session, packs on a part session, a pack of a bad size or id.
    let (status, answer) = complete(
        &server,
        &key,
        &id,
        json!({"parts": [{"part_number": 1, "etag": "x"}], "size": 1000, "checksum": checksum}),
    );
    assert_eq!(status, 400, "{answer}");
    for pack in [json!({"pack": "0".repeat(64), "size": 1u64 << 40}), json!({"pack": "xyz", "size": 100})] {
        let (status, answer) = api(&key, &format!("/api/v1/uploads/{id}/packs"), json!({"packs": [pack]}));
        assert_eq!(status, 400, "{answer}");
    }
    // Erin cannot use dave's session, nor see it.
    let (status, _) = api(&other, &format!("/api/v1/uploads/{id}/known"), json!({"chunks": []}));
    assert_eq!(status, 404);
    // Nothing was stored by any of it, and both files still read back.
    let listed = fedml_client::list_storage_objects_with(&server.target(&key)).data.expect("list");
    assert_eq!(listed.iter().map(|o| o.data_name.as_str()).collect::<Vec<_>>(), vec!["mine.bin"]);
    downloads_as(&server.target(&key), "mine.bin", &data);
    downloads_as(&server.target(&other), "theirs.bin", &data);
}

#[test]
fn fsck_checks_every_pack_against_its_index() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let path = work.path().join("w.bin");
    std::fs::write(&path, bytes(3 << 20, 31)).expect("write");
    let target = server.admin();
    upload(&target, &path, "weights.bin", false);
    upload(&target, &path, "same-weights.bin", false);
    let flags = server.backend.server_flags(&server.data_dir);
    let fsck = |deep: bool| {
        let mut args = vec!["fsck".to_string(), "-o".into(), "json".into()];
        if deep {
            args.push("--deep".into());
        }
        args.extend(flags.iter().cloned());
        let out = fedml_admin(&args);
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (out.status.code(), report)
    };
    let (code, report) = fsck(true);
    assert_eq!(code, Some(0), "a healthy store: {report}");
    assert_eq!(report["data"]["objects_checked"], 1, "one pack for both objects: {report}");
    let Backend::Embedded = server.backend else { return };
    // One flipped byte in the pack: only the deep check, which reads the pack against its
    // index, sees it, and names an object that reads it.
    let pack = server.blob_files().into_iter().next().expect("the pack");
    let mut data = std::fs::read(&pack).expect("read");
    data[4321] ^= 0x10;
    std::fs::write(&pack, &data).expect("flip");
    assert_eq!(fsck(false).0, Some(0));
    let (code, report) = fsck(true);
    assert_eq!(code, Some(1), "{report}");
    let problem = &report["data"]["problems"][0];
    assert_eq!(problem["problem"], "wrong_checksum", "{report}");
    assert!(problem["object"] == "same-weights.bin" || problem["object"] == "weights.bin", "{report}");
    assert!(problem["found_checksum"].as_str().is_some_and(|f| f.contains("does not match")), "{report}");
    // And a download refuses the damaged bytes.
    let dest = tempfile::tempdir().expect("tmp");
    let got = fedml_client::download_with("weights.bin", &download_opts(target.clone(), dest.path()));
    assert!(!got.is_success(), "{}", got.message);
    assert!(got.message.contains("checksum"), "{}", got.message);
}

/// Runs statements on a catalogue no server is using.
fn offline_sql(database_url: &str, statements: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(database_url).await.expect("catalogue");
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).execute(&mut conn).await.expect(statement);
        }
        conn.close().await.expect("close");
    });
}

/// Objects of the release before the content store (one blob each: a file, a directory as its
/// ZIP; its catalogue at schema 5) keep listing, downloading and deleting once the server is
/// upgraded, and a new version of one is stored packed beside them.
#[test]
fn objects_stored_before_the_content_store_survive_the_upgrade() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let file = bytes(5 << 20, 41);
    let path = work.path().join("old.bin");
    std::fs::write(&path, &file).expect("write");
    let tree = work.path().join("tree");
    sample_tree(&tree);
    let old = |name: &str| fedml_client::UploadOptions { dedup: false, ..upload_opts(server.admin(), name) };
    assert!(fedml_client::upload_with(&path, &old("old.bin")).is_success());
    assert!(fedml_client::upload_with(&tree, &old("old-tree")).is_success());
    assert!(fedml_client::upload_with(&path, &old("old-copy.bin")).is_success());
    let before = fedml_client::list_storage_objects_with(&server.admin()).data.expect("list");
    // The catalogue as that release left it: schema 5, nothing of the content store.
    let server = server.restart(|url| {
        offline_sql(
            url,
            &[
                "DROP TABLE object_files",
                "DROP TABLE object_file_index",
                "DELETE FROM schema_version WHERE version = 8",
                "DROP TABLE object_versions",
                "ALTER TABLE objects DROP COLUMN version",
                "ALTER TABLE objects DROP COLUMN last_version",
                "ALTER TABLE objects DROP COLUMN added_bytes",
                "DELETE FROM schema_version WHERE version = 7",
                "DROP TABLE pack_samples",
                "DROP TABLE object_packs",
                "DROP TABLE pack_pins",
                "DROP TABLE packs",
                "DROP INDEX objects_blob",
                "ALTER TABLE objects DROP COLUMN content",
                "ALTER TABLE uploads DROP COLUMN layout",
                "DELETE FROM schema_version WHERE version = 6",
            ],
        )
    });
    let target = server.admin();
    let mut after = fedml_client::list_storage_objects_with(&target).data.expect("list");
    let strip = |list: &mut Vec<fedml_proto::ObjectMeta>| list.iter_mut().for_each(|o| o.download_url = None);
    let mut before = before;
    strip(&mut before);
    strip(&mut after);
    assert_eq!(after, before, "the upgrade lists the same objects");
    downloads_as(&target, "old.bin", &file);
    let dest = work.path().join("out");
    assert!(fedml_client::download_with("old-tree", &download_opts(target.clone(), &dest)).is_success());
    assert_same_tree(&tree, &dest.join("old-tree"));
    // A new version of an old object is stored packed; the old blob goes to the collector.
    let v2 = edited(&file, 3);
    std::fs::write(&path, &v2).expect("write");
    let moved = upload(&target, &path, "old.bin", true);
    assert!(moved.sent_bytes >= v2.len() as u64, "nothing of a blob is reused: {moved:?}");
    downloads_as(&target, "old.bin", &v2);
    assert!(fedml_client::delete_with("old-copy.bin", None, &target).is_success());
    assert!(fedml_client::delete_with("old-tree", None, &target).is_success());
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    let left = unreferenced_files(&server);
    assert!(left.is_empty(), "left: {left:?}");
    downloads_as(&target, "old.bin", &v2);
}

#[test]
fn a_download_takes_what_is_on_disk_and_resumes() {
    let server = TestServer::start_with(no_grace());
    let local = matches!(server.backend, Backend::Embedded);
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let v1 = bytes(40 << 20, 51);
    let path = work.path().join("ckpt.bin");
    std::fs::write(&path, &v1).expect("write");
    upload(&target, &path, "ckpt.bin", false);
    let dest = work.path().join("dest");
    downloads_into(&target, "ckpt.bin", &dest, &v1);

    // A new version over the old copy: only what differs is fetched.
    let v2 = edited(&v1, 4);
    std::fs::write(&path, &v2).expect("write");
    upload(&target, &path, "ckpt.bin", true);
    let before = bytes_served(&server);
    downloads_into(&target, "ckpt.bin", &dest, &v2);
    let fetched = bytes_served(&server) - before;
    println!("download over an older copy: {fetched} of {} bytes fetched", v2.len());
    if local {
        assert!(fetched < v2.len() as u64 / 5, "fetched {fetched} of {}", v2.len());
    }

    // Interrupted once some of it has arrived: what arrived is kept beside the destination (not
    // at its name), and the same download again fetches the rest.
    let fresh = work.path().join("fresh");
    let token = fedml_client::CancellationToken::new();
    let bar = fedml_client::ProgressBar::hidden();
    let mut interrupted = target.clone();
    interrupted.cancel = Some(token.clone());
    interrupted.parallel = Some(1);
    let watch = bar.clone();
    let canceller = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while watch.position() < 12 << 20 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        token.cancel();
    });
    let mut options = download_opts(interrupted, &fresh);
    options.progress_bar = Some(bar);
    let got = fedml_client::download_with("ckpt.bin", &options);
    canceller.join().expect("canceller");
    assert!(!got.is_success(), "{}", got.message);
    assert!(got.message.contains("run again"), "{}", got.message);
    let left: Vec<String> = std::fs::read_dir(&fresh)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.len() == 1 && left[0].starts_with(".fedml-partial-"), "{left:?}");
    let before = bytes_served(&server);
    downloads_into(&target, "ckpt.bin", &fresh, &v2);
    let fetched = bytes_served(&server) - before;
    println!("resumed download: {fetched} of {} bytes fetched", v2.len());
    if local {
        assert!(fetched < v2.len() as u64 * 9 / 10, "fetched {fetched} of {}", v2.len());
    }
    let left: Vec<String> = std::fs::read_dir(&fresh)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["ckpt.bin".to_string()], "the partial is gone once the file is in place");
}

fn downloads_into(target: &fedml_client::Target, name: &str, dest: &std::path::Path, expected: &[u8]) {
    let got = fedml_client::download_with(name, &download_opts(target.clone(), dest));
    assert!(got.is_success(), "{}", got.message);
    let read = std::fs::read(dest.join(name)).expect("downloaded");
    assert!(read == expected, "{name} downloaded other bytes");
}

/// Every path under `root` with a file's bytes (`None` for a directory), sorted.
fn listing(root: &std::path::Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(root).expect("inside").to_string_lossy().into_owned();
            if path.is_dir() {
                out.push((relative, None));
                stack.push(path);
            } else {
                out.push((relative, Some(std::fs::read(&path).expect("read"))));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_directory_sends_and_fetches_only_the_files_that_changed() {
    let server = TestServer::start_with(no_grace());
    let local = matches!(server.backend, Backend::Embedded);
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    // 2,000 files of 10 KiB in 20 folders, one larger file, an empty file and an empty folder.
    let tree = work.path().join("corpus");
    for i in 0..2000u64 {
        let dir = tree.join(format!("part-{:02}", i % 20));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("sample-{i:05}.txt")), bytes(10 << 10, i)).expect("write");
    }
    std::fs::write(tree.join("weights.bin"), bytes(6 << 20, 99_999)).expect("write");
    std::fs::write(tree.join("empty.txt"), b"").expect("write");
    std::fs::create_dir_all(tree.join("empty-folder")).expect("mkdir");
    let first = upload(&target, &tree, "corpus", false);
    assert!(first.sent_bytes >= first.read_bytes && first.stored_bytes == 0, "{first:?}");
    let dest = work.path().join("dest");
    let got = fedml_client::download_with("corpus", &download_opts(target.clone(), &dest));
    assert!(got.is_success(), "{}", got.message);
    assert!(listing(&dest.join("corpus")) == listing(&tree), "the first download differs");

    // 1% of the files changed, one added, one removed: a new version sends little more than them.
    for i in (0..2000u64).step_by(100) {
        let path = tree.join(format!("part-{:02}/sample-{i:05}.txt", i % 20));
        std::fs::write(path, bytes(10 << 10, 50_000 + i)).expect("write");
    }
    std::fs::write(tree.join("part-03/added.txt"), bytes(10 << 10, 7)).expect("write");
    std::fs::remove_file(tree.join("part-04/sample-00004.txt")).expect("rm");
    let second = upload(&target, &tree, "corpus", true);
    let share = sent_share("directory, 1% changed", &second);
    assert!(share < 0.03, "a new version of the directory re-sent {:.1}%: {second:?}", share * 100.0);

    // Downloaded over the older copy: only what differs is fetched, and the tree is exact.
    let before = bytes_served(&server);
    let mut replacing = download_opts(target.clone(), &dest);
    replacing.replace = true;
    let got = fedml_client::download_with("corpus", &replacing);
    assert!(got.is_success(), "{}", got.message);
    let fetched = bytes_served(&server) - before;
    println!("directory over an older copy: {fetched} bytes fetched of {}", second.read_bytes);
    if local {
        assert!(fetched < second.read_bytes / 10, "fetched {fetched} of {}", second.read_bytes);
    }
    assert!(listing(&dest.join("corpus")) == listing(&tree), "the second download differs");

    // The same tree under another name: its files' chunks are all stored already.
    let copy = upload(&target, &tree, "corpus-copy", false);
    println!("directory, second name: sent {} of {}", copy.sent_bytes, copy.read_bytes);
    assert!((copy.sent_bytes as f64) < copy.read_bytes as f64 * 0.03, "{copy:?}");

    // The one-URL download (the FedML SDK's) is the archive, whole, with the object's checksum.
    let meta = fedml_client::get_storage_metadata_with("corpus-copy", None, &target).data.expect("metadata");
    let url = meta.download_url.clone().expect("url");
    let whole = server.block_on(async move { reqwest::get(url).await.expect("GET").bytes().await.expect("body") });
    assert_eq!(whole.len() as u64, meta.size);
    assert_eq!(fedml_proto::checksum::of_hash(blake3::hash(&whole)), meta.checksum);
    assert!(whole.starts_with(b"PK\x03\x04"), "not a ZIP archive");

    for name in ["corpus", "corpus-copy"] {
        assert!(fedml_client::delete_with(name, None, &target).is_success());
    }
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
}

/// A directory of files a little larger than a chunk, uploaded again under another name, whose
/// first 12 MiB hold no sample chunk by id (about one such tree in four): found all the same by
/// the first chunks of its first files, so that only the archive's own bytes travel again.
#[test]
fn a_tree_whose_first_bytes_hold_no_sample_is_found_under_another_name() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    const FILES: u64 = 200;
    let size = |i: u64| (64 << 10) + (((i * 7919) % 64) << 10) as usize;
    let file = |seed: u64, i: u64| bytes(size(i), seed * 1000 + i);
    let sampled = |data: &[u8]| {
        let mut at = 0;
        fedml_proto::content::Chunker.lengths(data).into_iter().any(|len| {
            at += len;
            fedml_proto::content::is_sample(&fedml_proto::content::chunk_id(&data[at - len..at]))
        })
    };
    // The first seed whose files up to 13 MiB (more than the uploader's first look) hold no sample.
    let seed = (1..200u64)
        .find(|&seed| {
            let mut read = 0;
            (0..FILES)
                .take_while(|&i| {
                    let before = read;
                    read += size(i);
                    before < 13 << 20
                })
                .all(|i| !sampled(&file(seed, i)))
        })
        .expect("a tree without samples up front");
    let tree = work.path().join("shards");
    std::fs::create_dir_all(&tree).expect("mkdir");
    for i in 0..FILES {
        std::fs::write(tree.join(format!("shard-{i:04}.bin")), file(seed, i)).expect("write");
    }
    upload(&target, &tree, "shards", false);
    let copy = upload(&target, &tree, "shards-copy", false);
    let share = sent_share(&format!("tree of seed {seed} under a second name"), &copy);
    assert!(share < 0.01, "the second name re-sent {:.1}%: {copy:?}", share * 100.0);
    let dest = work.path().join("dest");
    let got = fedml_client::download_with("shards-copy", &download_opts(target.clone(), &dest));
    assert!(got.is_success(), "{}", got.message);
    assert!(listing(&dest.join("shards-copy")) == listing(&tree), "the copy downloads as the tree");
}

/// Uploads of the same data at the same moment (by one user, under several names) announce the
/// same packs and may send them at once: each succeeds, every copy reads back, and once all are
/// deleted nothing is left. Repeated with a barrier, as any race here is.
#[test]
fn the_same_data_uploaded_at_once_is_stored_once_and_whole() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    for round in 0..8u64 {
        let data = bytes((9 << 20) + round as usize * 4096, 600 + round);
        let path = work.path().join(format!("r{round}.bin"));
        std::fs::write(&path, &data).expect("write");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let uploads: Vec<_> = (0..3)
            .map(|i| {
                let (barrier, target, path) = (barrier.clone(), target.clone(), path.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let r = fedml_client::upload_with(&path, &upload_opts(target, &format!("r{round}-{i}")));
                    (r.code, r.message)
                })
            })
            .collect();
        for upload in uploads {
            let (code, message) = upload.join().expect("thread");
            assert_eq!(code, fedml_client::ResponseCode::Success, "round {round}: {message}");
        }
        for i in 0..3 {
            downloads_as(&target, &format!("r{round}-{i}"), &data);
        }
        for i in 0..3 {
            assert!(fedml_client::delete_with(&format!("r{round}-{i}"), None, &target).is_success());
        }
    }
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
}

/// A file whose first 24 MiB hold no sample chunk of the one-in-128 kind (about one in 20),
/// uploaded again with 1 MiB put before it: found in the first look by the denser samples of its
/// first 16 MiB, so that only the new MiB travels.
#[test]
fn data_whose_first_sample_lies_far_in_is_found_with_bytes_put_before_it() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let far = |data: &[u8]| {
        let mut at = 0;
        for len in fedml_proto::content::Chunker.lengths(&data[..24 << 20]) {
            at += len;
            if fedml_proto::content::is_sample(&fedml_proto::content::chunk_id(&data[at - len..at])) {
                return false;
            }
        }
        true
    };
    let data = (1..400u64).map(|seed| bytes(32 << 20, 7000 + seed)).find(|d| far(d)).expect("such data");
    let original = work.path().join("original.bin");
    std::fs::write(&original, &data).expect("write");
    upload(&target, &original, "original.bin", false);
    let mut prefixed = bytes(1 << 20, 1);
    prefixed.extend_from_slice(&data);
    let path = work.path().join("prefixed.bin");
    std::fs::write(&path, &prefixed).expect("write");
    let moved = upload(&target, &path, "prefixed.bin", false);
    let share = sent_share("32 MiB with 1 MiB put before it, under another name", &moved);
    assert!(moved.sent_bytes < (1 << 20) + (1 << 20), "sent more than the new MiB and a pack's worth: {moved:?}");
    assert!(share < 0.07, "{moved:?}");
    downloads_as(&target, "prefixed.bin", &prefixed);
}

/// A pack's PUT URL used again after its session ended and the collector removed the pack: a
/// bucket's presigned PUT cannot be revoked and stores it again, so the collector removes it
/// once more when the URL has expired; the local folder refuses the PUT at once. Either way the
/// store ends up holding nothing.
#[test]
fn a_pack_put_replayed_after_its_session_ended_leaves_nothing() {
    let server = TestServer::start_with(fedml_server::platform::Lifetimes {
        upload_secs: 4,
        reclaim_grace_secs: 0,
        ..Default::default()
    });
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let data = bytes(300_000, 31);
    let (index, pack) = one_pack(&data);
    let create = fedml_proto::CreateUpload {
        name: "replayed.bin".into(),
        service: "R2".into(),
        kind: fedml_proto::ObjectKind::File,
        size: Some(data.len() as u64),
        description: String::new(),
        tags: Vec::new(),
        metadata: Default::default(),
        overwrite: false,
        layout: fedml_proto::content::Layout::Packs,
    };
    let put = |url: String, headers: std::collections::BTreeMap<String, String>, body: Vec<u8>| {
        let http = client.http().clone();
        server.block_on(async move {
            let mut request = http.put(url);
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_str());
            }
            request.body(body).send().await.expect("PUT sent").status()
        })
    };
    let (session, ticket) = server.block_on(async {
        let session = client.create_upload(&create).await.expect("session");
        let request = fedml_proto::content::PacksRequest {
            packs: vec![fedml_proto::content::NewPack { pack: index.pack_id(), size: pack.len() as u64 }],
        };
        let tickets = client.pack_tickets(&session.upload_id, &request).await.expect("tickets");
        (session, tickets.into_iter().next().expect("one ticket"))
    });
    let url = ticket.url.expect("a URL to send the pack to");
    assert!(put(url.clone(), ticket.headers.clone(), pack.clone()).is_success());
    assert!(!server.blob_files().is_empty(), "the pack is stored while its session lives");
    assert!(server.block_on(client.abort_upload(&session.upload_id)).expect("abort"));
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_garbage().await.expect("gc") });
    // Every URL issued for the pack is dead one upload lifetime after this collection.
    let urls_dead_by = std::time::Instant::now() + std::time::Duration::from_millis(4000 + 1500);
    assert!(server.blob_files().is_empty(), "left after the abort: {:?}", server.blob_files());

    // The same PUT again, while its URL lives.
    let replayed = put(url, ticket.headers, pack);
    let on_buckets = !matches!(server.backend, Backend::Embedded);
    if on_buckets {
        assert!(replayed.is_success(), "a presigned PUT works until it expires: {replayed}");
        assert_eq!(server.blob_files().len(), 1, "the replayed PUT stored the pack again");
    } else {
        assert_eq!(replayed.as_u16(), 404, "the local folder refuses a pack no longer wanted");
    }
    // Once the URL has expired, the collector removes what it wrote.
    std::thread::sleep(urls_dead_by.saturating_duration_since(std::time::Instant::now()));
    let platform = server.platform.clone();
    let report = server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    assert!(server.blob_files().is_empty(), "left after the URL expired: {:?} ({report:?})", server.blob_files());
    assert_eq!(garbage_count(&server), 0, "nothing more to collect");
}
