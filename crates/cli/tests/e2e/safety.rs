use fedml_client::ResponseCode;
use fedml_client::client::Client;
use fedml_proto::{CompleteUpload, CompletedPart, ObjectKind};

use crate::harness::*;

fn no_grace() -> fedml_platform::operations::Lifetimes {
    fedml_platform::operations::Lifetimes { reclaim_grace_secs: 0, ..Default::default() }
}

#[test]
fn a_corrupted_blob_is_detected_and_nothing_is_written() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(3 << 20, 6)).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "f")).is_success());
    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 1);
    if let crate::harness::Backend::Cloud(spec) = &server.backend {
        // The same damage through the cloud's own API.
        let key = blobs[0].strip_prefix("blob").expect("a blob").display().to_string();
        let mut stored = crate::harness::clouds::read_blob(spec, &key);
        stored[1_000_000] ^= 0xFF;
        crate::harness::clouds::write_blob(spec, &key, &stored);
    } else {
        let mut stored = std::fs::read(&blobs[0]).expect("read");
        stored[1_000_000] ^= 0xFF;
        std::fs::write(&blobs[0], stored).expect("write");
    }

    let dest = work.path().join("out");
    let r = fedml_client::download_with("f", &download_opts(server.admin(), &dest));
    assert_eq!(r.code, ResponseCode::Error);
    assert!(r.message.contains("checksum"), "{}", r.message);
    assert_eq!(std::fs::read_dir(&dest).expect("dir").count(), 0, "no partial or temporary file");
}

/// Stores raw bytes as a directory object, bypassing the SDK's packer.
pub(crate) fn store_raw_directory(server: &TestServer, name: &str, archive: Vec<u8>) {
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    fedml_client::block_on(async {
        let (session, urls) = open_raw_upload(&client, name, ObjectKind::Directory, archive.len() as u64).await?;
        let checksum = fedml_proto::checksum::of_bytes(&archive);
        let size = archive.len() as u64;
        let response = client
            .http()
            .put(&urls[0].url)
            .body(archive)
            .send()
            .await
            .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let etag = crate::harness::part_tag(response.headers()).expect("etag");
        client
            .complete_upload(
                &session.upload_id,
                &CompleteUpload { parts: vec![CompletedPart { part_number: 1, etag }], size, checksum, content: None },
            )
            .await
    })
    .expect("stored");
}

fn archive_with(name: &str) -> Vec<u8> {
    let mut zip = fedml_client::pack::ZipStream::new(Vec::new());
    zip.add_file("top/ok.txt", 0, 0o644, 2, &mut &b"ok"[..]).expect("entry");
    zip.add_file(name, 0, 0o644, 4, &mut &b"evil"[..]).expect("entry");
    zip.finish().expect("finish").1
}

#[test]
fn archives_that_escape_the_destination_are_refused() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let dest = work.path().join("inner").join("dest");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let outside = work.path().join("inner").join("evil.txt");
    for (object, entry) in
        [("slip", "../evil.txt"), ("deep-slip", "top/../../evil.txt"), ("absolute", outside.to_str().expect("utf8"))]
    {
        store_raw_directory(&server, object, archive_with(entry));
        let r = fedml_client::download_with(object, &download_opts(server.admin(), &dest));
        assert_eq!(r.code, ResponseCode::Failure, "{object}: {}", r.message);
        assert!(r.message.contains("outside the destination"), "{}", r.message);
        assert!(!outside.exists(), "{object} wrote outside");
        assert_eq!(std::fs::read_dir(&dest).expect("dir").count(), 0, "{object} left something behind");
    }
}

#[test]
fn links_are_never_followed_out_of_the_tree() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, b"do not upload").expect("write");
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    std::fs::write(tree.join("real.txt"), b"inside").expect("write");
    std::os::unix::fs::symlink(tree.join("real.txt"), tree.join("alias.txt")).expect("link");
    std::os::unix::fs::symlink(&secret, tree.join("leak.txt")).expect("link");

    let r = fedml_client::upload_with(&tree, &upload_opts(server.admin(), "tree"));
    assert_eq!(r.code, ResponseCode::Failure);
    assert!(r.message.contains("outside the directory"), "{}", r.message);
    assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data, Some(vec![]));

    std::fs::remove_file(tree.join("leak.txt")).expect("rm");
    std::os::unix::fs::symlink(&tree, tree.join("loop")).expect("link");
    let r = fedml_client::upload_with(&tree, &upload_opts(server.admin(), "tree"));
    assert_eq!(r.code, ResponseCode::Failure, "a link to a directory is refused");

    std::fs::remove_file(tree.join("loop")).expect("rm");
    let r = fedml_client::upload_with(&tree, &upload_opts(server.admin(), "tree"));
    assert!(r.is_success(), "{}", r.message);
    let dest = work.path().join("out");
    assert!(fedml_client::download_with("tree", &download_opts(server.admin(), &dest)).is_success());
    let alias = dest.join("tree/alias.txt");
    assert!(!std::fs::symlink_metadata(&alias).expect("alias").file_type().is_symlink());
    assert_eq!(std::fs::read(alias).expect("read"), b"inside");
}

#[test]
fn cancelling_stores_nothing_and_leaves_nothing() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("big.bin");
    std::fs::write(&file, bytes(30 << 20, 8)).expect("write");
    let token = fedml_client::CancellationToken::new();
    token.cancel();
    let mut target = server.admin();
    target.cancel = Some(token);
    // Repeated: a cancelled transfer must not begin at all, however its first poll falls (a
    // transfer polled before its cancellation could land bytes, kept then as resumable).
    for _ in 0..REPEATS {
        let r = fedml_client::upload_with(&file, &upload_opts(target.clone(), "big"));
        assert_eq!(r.code, ResponseCode::Failure);
        assert!(r.message.contains("cancelled"), "{}", r.message);
        assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data, Some(vec![]));
        assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
    }

    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "big")).is_success());
    let dest = work.path().join("out");
    for _ in 0..REPEATS {
        let r = fedml_client::download_with("big", &download_opts(target.clone(), &dest));
        assert_eq!(r.code, ResponseCode::Failure);
        let left: Vec<_> = std::fs::read_dir(&dest).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "no partial download left: {left:?}");
    }
}

/// How often the cancelled transfers are tried.
const REPEATS: usize = 20;

#[test]
fn the_collector_reclaims_deleted_and_replaced_blobs() {
    // No earlier version kept: an overwrite's old blob is garbage at once (the retention of
    // versions is `versions::retention_keeps_the_last_versions_at_commit_and_as_they_age`).
    let server = TestServer::start_configured(no_grace(), Default::default(), TestServer::replacing());
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(1 << 20, 9)).expect("write");
    // Objects stored as one blob each (packs, shared between the two, are collected in `dedup`).
    let blob = |name: &str| fedml_client::UploadOptions { dedup: false, ..upload_opts(server.admin(), name) };
    assert!(fedml_client::upload_with(&file, &blob("a")).is_success());
    assert!(fedml_client::upload_with(&file, &blob("b")).is_success());
    assert_eq!(server.blob_files().len(), 2);

    let mut over = blob("a");
    over.overwrite = true;
    assert!(fedml_client::upload_with(&file, &over).is_success());
    // The replaced blob is reclaimed at the next collection (here: the one a delete triggers).
    assert!(fedml_client::delete_with("b", None, &server.admin()).is_success());
    let left = server.blob_files();
    assert_eq!(left.len(), 1, "left: {left:?}");

    let platform = server.platform.clone();
    let report = server.block_on(async move { platform.collect_garbage().await.expect("gc") });
    assert_eq!(report.blobs_reclaimed, 0, "nothing more to reclaim");
    assert!(fedml_client::download_with("a", &download_opts(server.admin(), &work.path().join("o"))).is_success());
}

#[test]
fn abandoned_upload_sessions_expire_and_leave_nothing() {
    let server = TestServer::start_with(fedml_platform::operations::Lifetimes {
        upload_secs: 2,
        reclaim_grace_secs: 0,
        ..Default::default()
    });
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    // A client that opens an upload, sends one part and vanishes.
    let upload_id = fedml_client::block_on(async {
        let (session, urls) = open_raw_upload(&client, "abandoned", ObjectKind::File, 20 << 20).await?;
        client
            .http()
            .put(&urls[0].url)
            .body(bytes(8 << 20, 3))
            .send()
            .await
            .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        Ok(session.upload_id)
    })
    .expect("part sent");
    assert!(!server.session_files(&upload_id).is_empty(), "the part is stored while the session lives");
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let platform = server.platform.clone();
    let report = server.block_on(async move { platform.collect_garbage().await.expect("gc") });
    assert_eq!(report.sessions_expired, 1);
    assert!(server.session_files(&upload_id).is_empty(), "parts left: {:?}", server.session_files(&upload_id));
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
    assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data, Some(vec![]));
}

/// Bytes the process `pid` has read and written so far (`/proc/PID/io`: rchar, wchar).
fn io_of(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    (field("rchar:"), field("wchar:"))
}

/// Starts `fedml storage ARGS…` against `server` as an interactive command starts: SIGINT at its
/// default disposition whatever this test process inherited (a run started with `&` or `nohup`
/// ignores it); waits until `moving(rchar, wchar)` says the transfer is under way (or a minute
/// passed); sends SIGINT, as Ctrl-C does; answers the output.
fn ctrl_c_once_moving(
    server: &TestServer,
    config: &std::path::Path,
    args: &[&std::ffi::OsStr],
    moving: impl Fn((u64, u64)) -> bool,
) -> (std::process::Output, bool) {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"));
    command
        .env("FEDML_CONFIG_DIR", config)
        .env_remove("FEDML_API_KEY")
        .env_remove("FEDML_SERVER_URL")
        .arg("storage")
        .args(args)
        .args(["--no-progress", "-k", &server.admin_key, "--server", &server.url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = command.spawn().expect("start fedml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        if moving(io_of(child.id())) {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: a signal to our own child, which has not been waited for yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    (child.wait_with_output().expect("wait"), seen)
}

#[test]
fn ctrl_c_stops_the_command_line_cleanly_once_bytes_move() {
    // On a store whose part URLs work until they expire (GCS, Azure), a part already on its way
    // when the upload is cancelled can land after the abort removed the others: the collector
    // sweeps the session's parts once more when its URLs expire, which comes soon here.
    let lasting = matches!(std::env::var("FEDML_TEST_BACKEND").as_deref(), Ok("sqlite-gcs" | "sqlite-azure"));
    let server = TestServer::start_with(fedml_platform::operations::Lifetimes {
        upload_secs: if lasting { 8 } else { 24 * 3600 },
        ..no_grace()
    });
    let work = tempfile::tempdir().expect("tmp");
    let config = work.path().join("cfg");
    let big = work.path().join("big.bin");
    // Sparse: takes no disk, reads as zeros; far more than the 32 MiB after which Ctrl-C comes.
    std::fs::File::create(&big).and_then(|f| f.set_len(8 << 30)).expect("sparse file");
    let (out, seen) =
        ctrl_c_once_moving(&server, &config, &["upload".as_ref(), big.as_os_str()], |(read, _)| read > 32 << 20);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(seen, "the upload never moved: {said}");
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("cancelled"), "{said}");
    assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data, Some(vec![]));
    if lasting {
        let store = server.platform.store("R2").expect("the service");
        assert!(!store.revokes_part_urls(), "the backend's part URLs are not revoked at an abort");
        std::thread::sleep(std::time::Duration::from_secs(10));
        let platform = server.platform.clone();
        server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    }
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
    // The download half needs sessions that outlive a 1 GiB upload.
    let server = if lasting { TestServer::start_with(no_grace()) } else { server };

    let stored = work.path().join("stored.bin");
    std::fs::File::create(&stored).and_then(|f| f.set_len(1 << 30)).expect("sparse file");
    assert!(fedml_client::upload_with(&stored, &upload_opts(server.admin(), "stored")).is_success());
    let dest = work.path().join("dest");
    let (out, seen) = ctrl_c_once_moving(
        &server,
        &config,
        &["download".as_ref(), "stored".as_ref(), "-d".as_ref(), dest.as_os_str()],
        |(_, written)| written > 32 << 20,
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(seen, "the download never moved: {said}");
    assert_eq!(out.status.code(), Some(130), "{said}");
    // Nothing at the final name; what arrived is kept under a hidden name for the next download
    // of the same data, which takes it up and leaves only the file.
    let left: Vec<String> = std::fs::read_dir(&dest)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    assert!(left.iter().all(|n| n.starts_with(".fedml-partial-")) && left.len() <= 1, "{left:?}");
    assert!(fedml_client::download_with("stored", &download_opts(server.admin(), &dest)).is_success());
    let left: Vec<String> = std::fs::read_dir(&dest)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    assert_eq!(left, vec!["stored".to_string()]);
}
