//! Names as paths: `team/data/x.bin` on every path (the `fedml` binary, the SDK, the native API
//! with the name as one percent-encoded segment, share links); a download lands at the name's
//! last part; a name is either data or a folder of other names, refused both ways (with
//! `--overwrite` too) before any byte travels and again at the commit; names that are not paths
//! refused with what to do.

use std::path::Path;
use std::process::{Command, Output};

use fedml_client::{ResponseCode, Target};
use fedml_proto::{CompleteUpload, CompletedPart, ObjectKind};

use crate::harness::*;

/// `fedml storage ARGS… -k KEY --server URL` with no inherited FedML settings.
fn storage(server: &TestServer, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedml"))
        .env("FEDML_CONFIG_DIR", config)
        .env_remove("FEDML_API_KEY")
        .env_remove("FEDML_SERVER_URL")
        .arg("storage")
        .args(args)
        .args(["-k", &server.admin_key, "--server", &server.url])
        .output()
        .expect("run fedml")
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", said(&out));
    said(&out)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", said(out)))
}

fn names(target: &Target) -> Vec<String> {
    let listed = fedml_client::list_storage_objects_with(target);
    assert!(listed.is_success(), "{}", listed.message);
    let mut names: Vec<String> = listed.data.expect("list").into_iter().map(|o| o.data_name).collect();
    names.sort();
    names
}

#[test]
fn a_name_with_slashes_through_the_fedml_binary() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cfg = work.path().join("cfg");
    let s = |args: &[&str]| storage(&server, &cfg, args);
    let file = work.path().join("local.bin");
    let (v1, v2) = (bytes((5 << 20) + 3, 1), bytes(70_000, 2));
    std::fs::write(&file, &v1).expect("write");
    let path = file.to_str().expect("utf-8");
    let text = ok(s(&["upload", path, "-n", "team/data/x.bin", "--no-progress"]));
    assert!(text.contains("Uploaded \"team/data/x.bin\""), "{text}");
    // The URL names the object as one path segment.
    assert!(text.contains("/api/v1/objects/team%2Fdata%2Fx.bin"), "{text}");

    let listed = json(&s(&["list", "-o", "json"]));
    assert_eq!(listed["data"][0]["dataName"], "team/data/x.bin", "{listed}");
    let meta = json(&s(&["get-metadata", "team/data/x.bin", "-o", "json"]));
    assert_eq!(
        (meta["data"]["dataName"].as_str(), meta["data"]["size"].as_u64()),
        (Some("team/data/x.bin"), Some(v1.len() as u64))
    );

    // A download lands at the last part of the name.
    let dest = work.path().join("out");
    let text = ok(s(&["download", "team/data/x.bin", "-d", dest.to_str().expect("utf-8"), "--no-progress"]));
    assert!(text.contains(&dest.join("x.bin").display().to_string()), "{text}");
    assert!(std::fs::read(dest.join("x.bin")).expect("read") == v1);
    assert!(!dest.join("team").exists(), "no folders made for the name's parts");

    std::fs::write(&file, &v2).expect("write");
    ok(s(&["upload", path, "-n", "team/data/x.bin", "--overwrite", "--no-progress"]));
    let versions = json(&s(&["versions", "team/data/x.bin", "-o", "json"]));
    let numbers: Vec<u64> =
        versions["data"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_u64()).collect();
    assert_eq!(numbers, [2, 1], "{versions}");
    ok(s(&["download", "team/data/x.bin", "-d", dest.to_str().expect("utf-8"), "--version", "1", "--no-progress"]));
    assert!(std::fs::read(dest.join("x.bin")).expect("read") == v1, "version 1 over the file of the same name");
    ok(s(&["edit", "team/data/x.bin", "-d", "edited"]));
    ok(s(&["delete", "team/data/x.bin", "--version", "1"]));

    // A directory object under a folder name: its files listed and fetched, inside its last part.
    let tree = work.path().join("tree");
    sample_tree(&tree);
    ok(s(&["upload", tree.to_str().expect("utf-8"), "-n", "team/data/ds", "--no-progress"]));
    let top = ok(s(&["ls", "team/data/ds"]));
    assert!(top.contains("Path"), "{top}");
    let got = work.path().join("got");
    ok(s(&["download", "team/data/ds", "-d", got.to_str().expect("utf-8"), "--no-progress"]));
    assert_same_tree(&tree, &got.join("ds"));
    let first = tree_listing(&tree).into_iter().find(|(_, data)| data.is_some()).expect("a file").0;
    let some = work.path().join("some");
    ok(s(&["download", "team/data/ds", "-d", some.to_str().expect("utf-8"), "--path", &first, "--no-progress"]));
    assert!(some.join("ds").join(&first).is_file(), "{first} under the last part");

    ok(s(&["delete", "team/data/x.bin"]));
    ok(s(&["delete", "team/data/ds"]));
    assert!(json(&s(&["list", "-o", "json"]))["data"].as_array().expect("list").is_empty());
}

#[test]
fn a_name_with_slashes_through_the_sdk_and_a_share_link() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let file = work.path().join("f.bin");
    let data = bytes(300_000, 5);
    std::fs::write(&file, &data).expect("write");
    let done = fedml_client::upload_with(&file, &upload_opts(alice.clone(), "team/data/x.bin"));
    assert!(done.is_success(), "{}", done.message);
    assert_eq!(names(&alice), ["team/data/x.bin"]);
    let meta = fedml_client::get_storage_metadata_with("team/data/x.bin", None, &alice).data.expect("metadata");
    assert_eq!(meta.data_name, "team/data/x.bin");
    let dest = work.path().join("dl");
    let got = fedml_client::download_with("team/data/x.bin", &download_opts(alice.clone(), &dest));
    assert_eq!(got.data.as_deref(), Some(dest.join("x.bin").as_path()), "{}", got.message);
    assert!(std::fs::read(dest.join("x.bin")).expect("read") == data);

    // The native API takes the name as one segment: '/' percent-encoded, and only so.
    let key = alice.api_key.clone().expect("key");
    let get = |path: String| {
        let key = key.clone();
        server.block_on(async move {
            let r = reqwest::Client::new().get(path).bearer_auth(&key).send().await.expect("GET");
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        })
    };
    let (status, body) = get(format!("{}/api/v1/objects/team%2Fdata%2Fx.bin", server.url));
    assert_eq!((status, body["data"]["dataName"].as_str()), (200, Some("team/data/x.bin")), "{body}");
    assert_eq!(get(format!("{}/api/v1/objects/team/data/x.bin", server.url)).0, 404, "unescaped, other routes");

    // A share link of it downloads under its last part.
    let shared = fedml_client::share("team/data/x.bin", None, None, None, &alice);
    let url = shared.data.expect("link").url;
    let (disposition, body) = server.block_on(async move {
        let r = reqwest::get(&url).await.expect("GET the link");
        let disposition = r.headers().get("content-disposition").and_then(|v| v.to_str().ok()).map(str::to_string);
        (disposition.unwrap_or_default(), r.bytes().await.expect("body"))
    });
    assert!(disposition.contains("filename=\"x.bin\""), "{disposition}");
    assert!(body.as_ref() == data.as_slice());

    let versions = fedml_client::list_versions_with("team/data/x.bin", &alice).data.expect("versions");
    assert_eq!(versions.len(), 1);
    assert!(fedml_client::delete_with("team/data/x.bin", None, &alice).is_success());
    assert!(names(&alice).is_empty());
}

#[test]
fn a_name_is_either_data_or_a_folder_of_names() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(10_000, 1)).expect("write");
    let upload = |name: &str, overwrite: bool| {
        fedml_client::upload_with(&file, &fedml_client::UploadOptions { overwrite, ..upload_opts(alice.clone(), name) })
    };
    for name in ["a", "c/d/e"] {
        assert!(upload(name, false).is_success(), "{name}");
    }
    for (name, other) in [("a/b", "a"), ("a/b/c", "a"), ("c", "c/d/e"), ("c/d", "c/d/e"), ("c/d/e/f", "c/d/e")] {
        for overwrite in [false, true] {
            let refused = upload(name, overwrite);
            assert_eq!(refused.code, ResponseCode::Failure, "{name} stored");
            let m = &refused.message;
            assert!(m.contains(&format!("{name:?} cannot be stored")) && m.contains(&format!("{other:?}")), "{m}");
            assert!(m.contains("both data and a folder") && m.contains("choose another name"), "{m}");
        }
    }
    // Neighbours in byte order are other names.
    for name in ["a-b", "a0", "c/d-e", "c/d0", "c/dd/e"] {
        assert!(upload(name, false).is_success(), "{name}");
    }
    assert_eq!(names(&alice), ["a", "a-b", "a0", "c/d-e", "c/d/e", "c/d0", "c/dd/e"]);
    // Through the binary: the refusal is a FAILURE (exit 1) naming the clash.
    let cfg = work.path().join("cfg");
    let out = Command::new(env!("CARGO_BIN_EXE_fedml"))
        .env("FEDML_CONFIG_DIR", &cfg)
        .env_remove("FEDML_API_KEY")
        .args(["storage", "upload"])
        .arg(&file)
        .args(["-n", "a/x", "--overwrite", "--no-progress", "-k", alice.api_key.as_deref().expect("key")])
        .args(["--server", &server.url])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("\"a\" is stored as data"), "{}", said(&out));

    // The commit decides: a session opened for `r/s` before `r` was stored is refused at its
    // completion, and nothing of it stays.
    let client =
        fedml_client::client::Client::new(&server.url, alice.api_key.as_deref().expect("key")).expect("client");
    let payload = bytes(4_000, 9);
    let (session, urls) =
        fedml_client::block_on(open_raw_upload(&client, "r/s", ObjectKind::File, payload.len() as u64)).expect("open");
    assert!(upload("r", false).is_success());
    let etag = fedml_client::block_on(async {
        let r = client.http().put(&urls[0].url).body(payload.clone()).send().await;
        let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        Ok(part_tag(r.headers()))
    })
    .expect("PUT")
    .expect("ETag");
    let completion = CompleteUpload {
        parts: vec![CompletedPart { part_number: 1, etag }],
        size: payload.len() as u64,
        checksum: fedml_proto::checksum::of_bytes(&payload),
        content: None,
    };
    let e = fedml_client::block_on(client.complete_upload(&session.upload_id, &completion)).expect_err("refused");
    assert_eq!(e.code(), ResponseCode::Failure, "{e:?}");
    assert!(e.message().contains("\"r/s\" cannot be stored") && e.message().contains("\"r\" is stored"), "{e:?}");
    assert!(!names(&alice).contains(&"r/s".to_string()));
}

#[test]
fn names_that_are_not_paths_are_refused_with_what_to_do() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, b"x").expect("write");
    let long = format!("{}/{}", "d".repeat(512), "n".repeat(512));
    let cases: [(&str, &str); 7] = [
        ("a//b", "empty part ('//')"),
        ("/a", "starts with '/'; remove it"),
        ("a/", "ends with '/'; remove it"),
        ("a/./b", "'.' part"),
        ("a/../b", "'..' part"),
        ("a/ b", "starts or ends with white space"),
        (&long, "1025 bytes long; the limit is 1024 bytes"),
    ];
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    for (name, says) in cases {
        // The SDK refuses before sending anything...
        let r = fedml_client::upload_with(&file, &upload_opts(server.admin(), name));
        assert_eq!(r.code, ResponseCode::Failure, "{name:?}");
        assert!(r.message.contains(says), "{name:?}: {}", r.message);
        // ...and the server refuses what another client sends.
        let e = fedml_client::block_on(open_raw_upload(&client, name, ObjectKind::File, 1)).expect_err("refused");
        assert!(e.message().contains(says), "{name:?}: {e:?}");
    }
    assert!(fedml_client::list_storage_objects_with(&server.admin()).data.expect("list").is_empty());
    // 1,024 bytes is a name.
    let longest = format!("{}/{}", "d".repeat(511), "n".repeat(512));
    let r = fedml_client::upload_with(&file, &upload_opts(server.admin(), &longest));
    assert!(r.is_success(), "{}", r.message);
}
