//! The content store as a user sees it: only new bytes travel (a new version, the same data
//! under another name), never across users; an interrupted upload resumes; every copy downloads
//! and verifies; deleting everything leaves the store empty. How earlier data is found again
//! however its samples fall is `finding`; what the store refuses or cleans up after, `integrity`.

mod finding;
mod integrity;
mod verified;

use crate::harness::*;

fn no_grace() -> fedml_platform::operations::Lifetimes {
    fedml_platform::operations::Lifetimes { reclaim_grace_secs: 0, ..Default::default() }
}

/// What the teams (0011) and intake (0012) migrations added, undone: a catalogue as the releases
/// before them left it. Run as one statement list by `offline_sql` (it splits at `;`).
const UNDO_AFTER_10: &str = "DROP TABLE file_hashes; DROP TABLE staged_files; DROP TABLE intake_parts; \
    ALTER TABLE uploads DROP COLUMN attributes; ALTER TABLE object_versions DROP COLUMN attributes; \
    ALTER TABLE objects DROP COLUMN attributes; DROP TABLE audit_log; DROP TABLE share_links; \
    DROP TABLE memberships; DROP TABLE team_state; ALTER TABLE api_keys DROP COLUMN namespaces; \
    ALTER TABLE users DROP COLUMN kind; DELETE FROM schema_version WHERE version > 10";

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

/// A native API call made by hand: its HTTP status and envelope.
fn post(server: &TestServer, key: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let http = fedml_client::client::http_client().expect("HTTP client");
    let url = format!("{}{path}", server.url);
    let key = key.to_string();
    server.block_on(async move {
        let answer = http.post(url).bearer_auth(key).json(&body).send().await.expect("sent");
        let status = answer.status().as_u16();
        (status, answer.json::<serde_json::Value>().await.expect("an envelope"))
    })
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
    collects_to_nothing(&server);
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

/// Runs statements on a catalogue no server is using.
fn offline_sql(database_url: &str, statements: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(database_url).await.expect("catalogue");
        for statement in statements.iter().flat_map(|s| s.split(';')).map(str::trim).filter(|s| !s.is_empty()) {
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
                UNDO_AFTER_10,
                "ALTER TABLE uploads DROP COLUMN keep_description",
                "ALTER TABLE uploads DROP COLUMN keep_tags",
                "ALTER TABLE uploads DROP COLUMN keep_metadata",
                "DROP INDEX packs_hash",
                "DROP INDEX packs_corrupt",
                "ALTER TABLE users DROP COLUMN pack_bytes",
                "DELETE FROM schema_version WHERE version > 8",
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
    assert!(tree_listing(&dest.join("corpus")) == tree_listing(&tree), "the first download differs");

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
    assert!(tree_listing(&dest.join("corpus")) == tree_listing(&tree), "the second download differs");

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
    collects_to_nothing(&server);
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
    collects_to_nothing(&server);
}

/// Dedup stays inside a namespace: the same bytes uploaded into an organisation after its
/// member's own namespace holds them are all sent (nothing is learnt of the other namespace),
/// and once the organisation holds them, another name there sends nothing.
#[test]
fn an_organisation_dedups_against_its_own_data_only() {
    let server = TestServer::start();
    let alice = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    let path = work.path().join("weights.bin");
    let data = bytes(6 << 20, 51);
    std::fs::write(&path, &data).expect("write");
    let own = server.target(&alice);
    let first = upload(&own, &path, "weights", false);
    assert!(first.sent_bytes >= data.len() as u64, "the first upload sends everything: {first:?}");
    let created = fedml_client::org_create("vision-team", &own);
    assert!(created.is_success(), "{}", created.message);
    let mut team = own.clone();
    team.namespace = Some("vision-team".into());
    let into_team = upload(&team, &path, "weights", false);
    assert_eq!(into_team.stored_bytes, 0, "the organisation learnt of alice's own data: {into_team:?}");
    assert!(into_team.sent_bytes >= data.len() as u64, "{into_team:?}");
    let again = upload(&team, &path, "weights-copy", false);
    assert_eq!(again.sent_bytes, 0, "a second name in the organisation sends nothing: {again:?}");
    assert_eq!(again.stored_bytes, data.len() as u64);
    let usage = fedml_client::storage_usage_with(&team).data.expect("usage");
    assert_eq!(usage.logical_bytes, 2 * data.len() as u64);
    assert!(usage.stored_bytes < usage.logical_bytes, "{usage:?}");
}
