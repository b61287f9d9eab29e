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

    // Another user's upload of the same bytes sends all of them, and learns nothing.
    let theirs = upload(&bob, &path, "model.bin", false);
    assert!(theirs.sent_bytes >= v2.len() as u64 && theirs.stored_bytes == 0, "{theirs:?}");

    downloads_as(&alice, "model.bin", &v2);
    downloads_as(&alice, "copy.bin", &v2);
    downloads_as(&bob, "model.bin", &v2);
    // The whole-file URL (the FedML SDK's, `download_url`) reads the assembled file.
    let meta = fedml_client::get_storage_metadata_with("copy.bin", &alice).data.expect("metadata");
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
    // Killed (SIGKILL: no chance to clean up) once about half of it is stored.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["storage", "upload", path.to_str().expect("path"), "--dedup", "--no-progress", "--parallel", "1"])
        .env("FEDML_CONFIG_DIR", &config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("upload");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let stored: u64 = server.blob_files().iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        if stored >= 40 << 20 || std::time::Instant::now() > deadline {
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
