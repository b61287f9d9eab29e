//! Inside a directory object without downloading it whole: its files listed (`ls`), and only
//! some of them downloaded (`--path`, `--include`), from a packed object and from one stored as
//! one archive blob; refusals are clear FAILUREs that write nothing.

use std::path::Path;

use fedml_client::{ObjectEntry, ResponseCode};
use fedml_proto::ObjectKind;

use crate::harness::*;

fn paths(entries: &[ObjectEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| if e.kind == ObjectKind::Directory { format!("{}/", e.path) } else { e.path.clone() })
        .collect()
}

fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("inside").to_string_lossy().into_owned();
                out.push((relative, std::fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_directory_object_is_listed_and_read_in_part_without_its_whole_archive() {
    let server = TestServer::start();
    let local = matches!(server.backend, Backend::Embedded);
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let tree = work.path().join("dataset");
    for (path, len, seed) in [
        ("train/a.parquet", 40_000, 1),
        ("train/b.parquet", 70_000, 2),
        ("train/more/c.parquet", 5_000, 3),
        ("test/d.parquet", 9_000, 4),
        ("readme.txt", 12, 5),
        ("weights.bin", 24 << 20, 6),
    ] {
        let file = tree.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, bytes(len, seed)).expect("write");
    }
    std::fs::create_dir_all(tree.join("empty")).expect("mkdir");

    for (name, dedup) in [("packed", true), ("blob", false)] {
        let mut o = upload_opts(target.clone(), name);
        o.dedup = dedup;
        let done = fedml_client::upload_with(&tree, &o);
        assert!(done.is_success(), "{name}: {}", done.message);

        let top = fedml_client::list_object_files_with(name, "", false, None, None, &target);
        assert!(top.is_success(), "{name}: {}", top.message);
        let top = top.data.expect("entries");
        assert_eq!(paths(&top), ["empty/", "readme.txt", "test/", "train/", "weights.bin"], "{name}");
        let weights = top.iter().find(|e| e.path == "weights.bin").expect("weights");
        assert_eq!(weights.size, 24 << 20);
        let train =
            fedml_client::list_object_files_with(name, "train/", true, None, None, &target).data.expect("entries");
        assert_eq!(paths(&train), ["train/a.parquet", "train/b.parquet", "train/more/", "train/more/c.parquet"]);
        let crc = format!("{:08x}", crc32(&std::fs::read(tree.join("train/b.parquet")).expect("read")));
        assert_eq!(train[1].crc32, crc);

        // Only the files asked for, where a whole download would put them, reading little.
        let dest = work.path().join(format!("part-{name}"));
        let before = bytes_served(&server);
        let wanted = vec!["train/*.parquet".to_string(), "readme.txt".to_string()];
        let got = fedml_client::download_files_with(name, &wanted, &download_opts(target.clone(), &dest));
        assert!(got.is_success(), "{name}: {}", got.message);
        let fetched = bytes_served(&server) - before;
        let expected: Vec<(String, Vec<u8>)> = ["readme.txt", "train/a.parquet", "train/b.parquet"]
            .iter()
            .map(|p| (p.to_string(), std::fs::read(tree.join(p)).expect("read")))
            .collect();
        assert_eq!(files_under(&dest.join(name)), expected, "{name}");
        println!("{name}: three files of {} bytes, {fetched} bytes read", done.data.expect("done").object.size);
        if local {
            assert!(fetched < 200 << 10, "{name}: {fetched} bytes read for 110 KB of files");
        }
        // A folder's path takes everything under it; the files already there are replaced.
        let got =
            fedml_client::download_files_with(name, &["train".to_string()], &download_opts(target.clone(), &dest));
        assert!(got.is_success(), "{name}: {}", got.message);
        assert_eq!(got.data.expect("paths").len(), 3);
        assert_eq!(
            std::fs::read(dest.join(name).join("train/more/c.parquet")).expect("read"),
            std::fs::read(tree.join("train/more/c.parquet")).expect("read")
        );

        // Clear refusals that write nothing.
        let none = work.path().join(format!("none-{name}"));
        let got =
            fedml_client::download_files_with(name, &["*.csv".to_string()], &download_opts(target.clone(), &none));
        assert_eq!(got.code, ResponseCode::Failure, "{}", got.message);
        assert!(got.message.contains("matches") && got.message.contains("ls"), "{}", got.message);
        assert!(!none.exists(), "a refused download wrote something");
        let missing = fedml_client::list_object_files_with(name, "valid", false, None, None, &target);
        assert_eq!(missing.code, ResponseCode::Failure, "{}", missing.message);
        assert!(missing.message.contains("no folder \"valid\""), "{}", missing.message);
    }

    // A file object has no files inside.
    let file = work.path().join("single.bin");
    std::fs::write(&file, b"one file").expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(target.clone(), "single.bin")).is_success());
    let refused = fedml_client::list_object_files_with("single.bin", "", false, None, None, &target);
    assert_eq!(refused.code, ResponseCode::Failure, "{}", refused.message);
    assert!(refused.message.contains("is a file, not a directory"), "{}", refused.message);

    // The command line: a table, and JSON.
    let config = work.path().join("cfg");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
            .args(args)
            .env("FEDML_CONFIG_DIR", &config)
            .env("FEDML_API_KEY", target.api_key.clone().expect("key"))
            .env("FEDML_SERVER_URL", &server.url)
            .output()
            .expect("fedml")
    };
    let out = cli(&["storage", "ls", "packed"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown} {}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("Path") && shown.contains("train/") && shown.contains("24.00 MiB"), "{shown}");
    let out = cli(&["storage", "ls", "packed", "test", "--output", "json"]);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["data"][0]["path"], "test/d.parquet", "{answer}");
    let dest = work.path().join("cli");
    let out = cli(&["storage", "download", "packed", "--include", "**/c.parquet", "-d", dest.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Downloaded 1 file of"), "{:?}", out);
    assert!(dest.join("packed/train/more/c.parquet").is_file());
}

fn crc32(data: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), independent of the code under test.
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A ranged GET of `len` bytes at `start` of a signed URL.
fn ranged(url: &str, start: u64, len: u64) -> Vec<u8> {
    fedml_client::block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .header("range", format!("bytes={start}-{}", start + len - 1))
            .send()
            .await
            .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert_eq!(r.status().as_u16(), 206, "a ranged read of the file's bytes");
        Ok(r.bytes().await.expect("body").to_vec())
    })
    .expect("ranged GET")
}

#[test]
fn the_server_indexes_a_directory_once_and_pages_each_folder_from_the_index() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let tree = work.path().join("corpus");
    // 3 folders of 700 small files, and files at the top.
    for folder in ["a", "b", "c"] {
        std::fs::create_dir_all(tree.join(folder)).expect("mkdir");
        for i in 0..700 {
            std::fs::write(tree.join(format!("{folder}/{i:04}.txt")), format!("{folder} {i}")).expect("write");
        }
    }
    std::fs::write(tree.join("top.bin"), bytes(300_000, 8)).expect("write");
    for (name, dedup) in [("packed", true), ("blob", false)] {
        let mut o = upload_opts(target.clone(), name);
        o.dedup = dedup;
        let r = fedml_client::upload_with(&tree, &o);
        assert!(r.is_success(), "{}", r.message);
        let at = fedml_client::client::ObjectRef::latest(name);

        // One folder, page after page, in order, from the index.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = fedml_client::block_on(client.files(at, "b", false, after.as_deref(), Some(300))).expect("page");
            assert!(page.entries.len() <= 300);
            seen.extend(page.entries.iter().map(|e| e.path.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..700).map(|i| format!("b/{i:04}.txt")).collect();
        assert_eq!(seen, expected, "{name}: one folder, whole, in order");
        let top = fedml_client::list_object_files_with(name, "", false, None, None, &target).data.expect("top");
        assert_eq!(paths(&top), ["a/", "b/", "c/", "top.bin"], "{name}");
        let all = fedml_client::list_object_files_with(name, "", true, None, None, &target).data.expect("all");
        assert_eq!(all.len(), 3 + 3 * 700 + 1, "{name}: every entry, recursively");
        let page = fedml_client::FilesQuery { path: "c".into(), limit: Some(2), ..Default::default() };
        let two = fedml_client::list_object_files_page_with(name, &page, &target).data.expect("page");
        assert_eq!(
            (paths(&two.entries), two.next.as_deref()),
            (vec!["c/0000.txt".into(), "c/0001.txt".into()], Some("c/0001.txt"))
        );

        // One file read in place: a signed URL and the range of its bytes.
        for (path, body) in [("top.bin", bytes(300_000, 8)), ("a/0042.txt", b"a 42".to_vec())] {
            let read = fedml_client::block_on(client.file(at, path)).expect("file");
            assert_eq!((read.method, read.length, read.entry.size), (0, body.len() as u64, body.len() as u64));
            assert!(ranged(&read.url, read.offset, read.length) == body, "{name}: {path} read in place");
        }
        let nothing = fedml_client::block_on(client.file(at, "a/9999.txt"));
        assert!(matches!(&nothing, Err(e) if e.to_string().contains("holds no file")), "{nothing:?}");
    }
    let indexed = catalogue_count(&server, "SELECT COUNT(*) AS n FROM object_file_index");
    assert_eq!(indexed, 2, "each version is indexed once, however often it is listed");

    // A new version is indexed on its own; the earlier one keeps its files.
    std::fs::write(tree.join("a/new.txt"), b"new").expect("write");
    let mut o = upload_opts(target.clone(), "packed");
    o.overwrite = true;
    assert!(fedml_client::upload_with(&tree, &o).is_success());
    let now = fedml_client::list_object_files_with("packed", "a", false, None, None, &target).data.expect("now");
    let before = fedml_client::list_object_files_with("packed", "a", false, None, Some(1), &target).data.expect("v1");
    assert_eq!((now.len(), before.len()), (701, 700));
    // Deleting the objects drops their index.
    for name in ["packed", "blob"] {
        assert!(fedml_client::delete_with(name, None, &target).is_success());
    }
    assert_eq!(catalogue_count(&server, "SELECT COUNT(*) AS n FROM object_files"), 0);
    assert_eq!(catalogue_count(&server, "SELECT COUNT(*) AS n FROM object_file_index"), 0);
}
