//! Directory objects whose archive cannot be used as a directory — a path held twice (the file
//! index and `/file` would give the first entry, every download the second), a path both a file
//! and a folder, names with `..`, absolute, with a backslash, a drive letter or an empty
//! component — stored through the native API and through the FedML SDK's routes: every reader
//! refuses them alike (the server's listing, `ls`, one file's read, the client's own reading of
//! the archive, a whole download), naming the entry and saying to upload the directory again;
//! the refusal is remembered, not worked out again from the archive at every call.

use fedml_client::client::ObjectRef;

use super::fedml::{compat_ok, compat_uploaded};
use super::*;

/// Entries of an archive: names and bytes.
type Entries<'a> = Vec<(&'a str, &'a [u8])>;

/// An archive of `top/ok.txt` and then `entries`, as a client would send it.
fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = fedml_client::pack::ZipStream::new(Vec::new());
    zip.add_file("top/ok.txt", 0, 0o644, 2, &mut &b"ok"[..]).expect("entry");
    for (name, body) in entries {
        zip.add_file(name, 0, 0o644, body.len() as u64, &mut &body[..]).expect("entry");
    }
    zip.finish().expect("finish").1
}

/// Every way of reading directory object `name` refuses it, saying `says` and what to do.
fn every_reader_refuses(server: &TestServer, work: &std::path::Path, name: &str, says: &str) {
    let target = server.admin();
    let refused = |label: &str, code: ResponseCode, message: &str| {
        assert_eq!(code, ResponseCode::Failure, "{name}: {label}: {message}");
        for needle in [says, "upload the directory again"] {
            assert!(message.contains(needle), "{name}: {label}: {message:?} does not say {needle:?}");
        }
    };
    let server_says = format!("{name:?} cannot be used as a directory");
    for recursive in [false, true] {
        let r = fedml_client::list_object_files_with(name, "", recursive, None, None, &target);
        refused("listing", r.code, &r.message);
        if !recursive {
            println!("{name}: {}", r.message);
        }
        assert!(r.message.contains(&server_says), "{}", r.message);
    }
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let read = fedml_client::block_on(client.file(ObjectRef::latest(name), "ok.txt"));
    match read {
        Err(fedml_client::error::ClientError::Failure(m)) => refused("one file", ResponseCode::Failure, &m),
        other => panic!("{name}: one file's read: {other:?}"),
    }
    // The client reading the archive itself (DirectoryReader, --include) says the same.
    match fedml_client::DirectoryReader::open(name, None, None, &target) {
        Err(fedml_client::error::ClientError::Failure(m)) => {
            refused("DirectoryReader", ResponseCode::Failure, &m);
            assert!(m.contains(&server_says), "{m}");
        }
        Err(other) => panic!("{name}: DirectoryReader: {other:?}"),
        Ok(_) => panic!("{name}: DirectoryReader opened it"),
    }
    let dest = work.join(format!("part-{name}"));
    let r = fedml_client::download_files_with(name, &["ok.txt".to_string()], &download_opts(target.clone(), &dest));
    refused("some files", r.code, &r.message);
    // A whole download is not unpacked either, and leaves nothing.
    let dest = work.join(format!("whole-{name}"));
    std::fs::create_dir_all(&dest).expect("mkdir");
    let r = fedml_client::download_with(name, &download_opts(target.clone(), &dest));
    refused("whole download", r.code, &r.message);
    println!("{name}, downloaded: {}", r.message);
    assert_eq!(std::fs::read_dir(&dest).expect("dest").count(), 0, "{name}: a refused download left something");
}

#[test]
fn archives_that_cannot_be_used_as_a_directory_are_refused_alike_by_every_reader() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cases: [(&str, Entries, &str); 7] = [
        ("twice", vec![("top/a.txt", b"first"), ("top/a.txt", b"second")], "holds \"top/a.txt\" twice"),
        (
            "file-and-folder",
            vec![("top/a", b"file"), ("top/a/b.txt", b"inside")],
            "holds \"top/a\" both as a file and as a folder",
        ),
        ("dot-dot", vec![("top/sub/../a.txt", b"x")], "\"top/sub/../a.txt\" has a \"..\" path component"),
        ("absolute", vec![("/top/a.txt", b"x")], "\"/top/a.txt\" is an absolute path"),
        ("backslash", vec![("top/sub\\a.txt", b"x")], "\"top/sub\\\\a.txt\" holds a backslash"),
        ("drive", vec![("top/C:a.txt", b"x")], "\"top/C:a.txt\" starts with a drive letter"),
        ("empty", vec![("top//a.txt", b"x")], "\"top//a.txt\" has an empty path component"),
    ];
    for (name, entries, says) in &cases {
        crate::safety::store_raw_directory(&server, name, archive(entries));
        every_reader_refuses(&server, work.path(), name, says);
    }
    // Through the FedML SDK's routes: an upload of `<dataset>.zip` recorded as a dataset.
    let twice = archive(&[("top/a.txt", b"first"), ("top/a.txt", b"second")]);
    let (_, _, file_url) = compat_uploaded(&server, "sdk-twice.zip", &twice);
    let body = json!({"datasetName": "sdk-twice", "description": "", "fileSize": twice.len(), "fileUrl": file_url,
        "tagNameList": []});
    compat_ok("dataset", raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(&body.to_string())));
    every_reader_refuses(&server, work.path(), "sdk-twice", "holds \"top/a.txt\" twice");

    // The command line says so too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["storage", "ls", "twice"])
        .env("FEDML_CONFIG_DIR", work.path().join("cfg"))
        .env("FEDML_API_KEY", &server.admin_key)
        .env("FEDML_SERVER_URL", &server.url)
        .output()
        .expect("fedml");
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("FAILURE") && shown.contains("holds \"top/a.txt\" twice"), "{shown}");

    // Nothing was indexed, and the refusal is remembered: with the archive's bytes gone from the
    // store (the local folder), the listing still says why the archive is refused.
    assert_eq!(catalogue_count(&server, "SELECT COUNT(*) AS n FROM object_file_index"), 0);
    if let Backend::Embedded = server.backend {
        let catalogue = server.platform.catalogue.clone();
        let references = server.block_on(async move { catalogue.referenced_blobs().await.expect("references") });
        let key = references.into_iter().find(|r| r.object == "twice").expect("its blob").blob_key;
        std::fs::remove_file(server.data_dir.join("blobs/objects").join(&key)).expect("remove the archive");
        let r = fedml_client::list_object_files_with("twice", "", false, None, None, &server.admin());
        assert_eq!(r.code, ResponseCode::Failure, "{}", r.message);
        assert!(r.message.contains("holds \"top/a.txt\" twice"), "remembered: {}", r.message);
    }
    // A sound archive beside them is listed as ever.
    crate::safety::store_raw_directory(&server, "sound", archive(&[("top/b/c.txt", b"c")]));
    let r = fedml_client::list_object_files_with("sound", "", true, None, None, &server.admin());
    assert!(r.is_success(), "{}", r.message);
    let paths: Vec<String> = r.data.expect("entries").into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["b", "b/c.txt", "ok.txt"]);
}
