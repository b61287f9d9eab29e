//! `fedml admin backup`, `restore` and `fsck` through the real binary against real servers:
//! a backup taken while the server writes holds every object committed before it began and
//! passes SQLite's integrity check; a restored data directory serves the same objects (and the
//! URLs signed before the backup); fsck reports each deleted, truncated and altered blob and each
//! unknown file, by object and blob; a restore refuses a running server's data directory and an
//! existing catalogue without `--force`. Packed uploads and files: `packed`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fedml_client::ResponseCode;
use serde_json::Value;

use crate::harness::*;
use crate::process::ServerProcess;

/// Over the content store: interrupted packed uploads, packed files assembled by `--deep`.
mod packed;

/// `fedml admin <args>` with no FedML settings inherited.
fn admin(args: &[String]) -> Output {
    fedml_admin(args)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `fedml admin fsck` on `flags`' catalogue and stores, as JSON.
fn fsck(flags: &[String], deep: bool) -> (Option<i32>, Value) {
    let mut args = strings(&["fsck", "-o", "json"]);
    if deep {
        args.push("--deep".into());
    }
    args.extend(flags.iter().cloned());
    let out = admin(&args);
    (out.status.code(), json(&out))
}

/// Stores `file` as one blob: what the backup's blob list and fsck's damage checks here count,
/// one per object (packs are checked in `dedup`).
fn upload(target: fedml_client::Target, file: &Path, name: &str) {
    let r = fedml_client::upload_with(file, &fedml_client::UploadOptions { dedup: false, ..upload_opts(target, name) });
    assert_eq!(r.code, ResponseCode::Success, "upload {name}: {}", r.message);
}

fn object_names_in(copy: &Path) -> BTreeSet<String> {
    let url = format!("sqlite://{}?mode=ro", copy.display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("the copy opens");
        let check: String = sqlx::query("PRAGMA integrity_check").fetch_one(&mut conn).await.expect("check").get(0);
        assert_eq!(check, "ok", "integrity of {}", copy.display());
        let rows = sqlx::query("SELECT name FROM objects").fetch_all(&mut conn).await.expect("objects");
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    })
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn backup_while_the_server_writes_holds_everything_committed_before_it() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let flags = server.backend.server_flags(&server.data_dir);
    if let Backend::PostgresS3 { .. } = server.backend {
        return postgres_backup(&server, work.path(), &flags);
    }
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(4096, 7)).expect("write");
    let committed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (committed, stop, target, file) = (committed.clone(), stop.clone(), server.admin(), file.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("w-{i}");
                upload(target.clone(), &file, &name);
                committed.lock().expect("lock").push(name);
                i += 1;
            }
        })
    };
    let count = || committed.lock().expect("lock").len();
    // Objects committed while a backup ran (none would make the test prove nothing).
    // At least 8 backups, more (up to 40) until one overlaps an upload: on a store whose uploads
    // are slow (an emulator) a short backup can fall between two commits several times running.
    let mut overlapped = 0;
    let mut round = 0;
    while round < 8 || (overlapped == 0 && round < 40) {
        let wait = Instant::now();
        while count() < 5 * (round.min(8) + 1) {
            assert!(wait.elapsed() < Duration::from_secs(120), "the writer is stuck");
            std::thread::sleep(Duration::from_millis(20));
        }
        let before: Vec<String> = committed.lock().expect("lock").clone();
        let dest = work.path().join(format!("backup-{round}"));
        let mut args = vec!["backup".to_string(), dest.display().to_string()];
        args.extend(flags.iter().cloned());
        let out = admin(&args);
        overlapped += count() - before.len();
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("URL-signing key"), "{}", text(&out));
        assert_eq!(mode_of(&dest), 0o700, "the backup directory holds secrets");
        assert_eq!(mode_of(&dest.join("catalogue.db")), 0o600);
        let names = object_names_in(&dest.join("catalogue.db"));
        for name in &before {
            assert!(names.contains(name), "{name}, committed before the backup began, is not in it");
        }
        let lines: Vec<Value> = std::fs::read_to_string(dest.join("blobs.jsonl"))
            .expect("blob list")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), names.len(), "one blob line per object");
        for line in &lines {
            assert!(names.contains(line["object"].as_str().expect("object")), "{line}");
            assert_eq!(line["service"], "R2");
            assert_eq!(line["size"], 4096);
            assert!(line["checksum"].as_str().is_some_and(|c| c.starts_with("blake3:")), "{line}");
        }
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).expect("manifest"))
                .expect("json");
        assert_eq!(manifest["schema_version"], fedml_platform::catalogue::SCHEMA_VERSION);
        assert_eq!(manifest["backend"], "sqlite");
        assert_eq!(manifest["objects"], names.len());
        assert!(!dest.join("catalogue.db-wal").exists(), "the copy is one self-contained file");
        round += 1;
    }
    // (The GCS emulator runs one request at a time: its uploads are too slow to land within a
    // backup of the SQLite catalogue; what the backups hold is checked all the same.)
    assert!(
        overlapped > 0 || server.backend.lacks("serving requests concurrently"),
        "no upload committed while a backup ran"
    );
    // The writer kept committing while the backups ran.
    let at_last_backup = count();
    let wait = Instant::now();
    while count() < at_last_backup + 3 && wait.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(count() >= at_last_backup + 3, "the server stopped taking writes during the backups");

    // A second backup into the same directory is refused and changes nothing there.
    let mut args = vec!["backup".to_string(), work.path().join("backup-0").display().to_string()];
    args.extend(flags.iter().cloned());
    let out = admin(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already holds files"), "{}", text(&out));
}

/// PostgreSQL: the catalogue is `pg_dump`'s to copy (the message says how); `--blobs-only`
/// writes the blob list.
fn postgres_backup(server: &TestServer, work: &Path, flags: &[String]) {
    let file = work.join("f.bin");
    std::fs::write(&file, bytes(1000, 3)).expect("write");
    upload(server.admin(), &file, "pg-object");
    let dest = work.join("pg-backup");
    let mut args = vec!["backup".to_string(), dest.display().to_string()];
    args.extend(flags.iter().cloned());
    let out = admin(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("pg_dump --format=custom --no-owner"), "{}", text(&out));
    assert!(!dest.exists(), "nothing written when refused");
    args.push("--blobs-only".into());
    let out = admin(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode_of(&dest), 0o700);
    let list = std::fs::read_to_string(dest.join("blobs.jsonl")).expect("blob list");
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("\"object\":\"pg-object\""), "{list}");
    let manifest = std::fs::read_to_string(dest.join("manifest.json")).expect("manifest");
    assert!(manifest.contains("\"backend\": \"postgres\""), "{manifest}");
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

#[test]
fn a_restored_data_directory_serves_the_same_objects_and_signed_urls() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    if let Backend::PostgresS3 { .. } = server.backend {
        let mut args = vec!["restore".to_string(), work.path().display().to_string()];
        args.extend(server.backend.server_flags(&server.data_dir));
        let out = admin(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("pg_restore --no-owner"), "{}", text(&out));
        return;
    }
    let contents = [("model.bin", bytes(3 << 20, 1)), ("notes.txt", bytes(100, 2))];
    for (name, data) in &contents {
        let path = work.path().join(name);
        std::fs::write(&path, data).expect("write");
        upload(server.admin(), &path, name);
    }
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let ticket = fedml_client::block_on(client.download_ticket(fedml_client::client::ObjectRef::latest("notes.txt")))
        .expect("ticket");

    let dest = work.path().join("backup");
    let out = admin(&[
        "backup".into(),
        dest.display().to_string(),
        "--data-dir".into(),
        server.data_dir.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let fresh = work.path().join("fresh");
    std::fs::create_dir(&fresh).expect("mkdir");
    // A cloud service's blobs stay where they are: the restored server names the same service.
    let service: Vec<String> = match &server.backend {
        Backend::Cloud(spec) => vec!["--service".into(), crate::harness::clouds::flag(spec)],
        _ => {
            copy_tree(&server.data_dir.join("blobs"), &fresh.join("blobs"));
            Vec::new()
        }
    };
    let mut restore = vec![
        "restore".to_string(),
        dest.display().to_string(),
        "--data-dir".into(),
        fresh.display().to_string(),
        "--deep".into(),
        "-o".into(),
        "json".into(),
    ];
    restore.extend(service.iter().cloned());
    let out = admin(&restore);
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["code"], "SUCCESS", "{report}");
    assert_eq!(report["data"]["restore"]["objects"], 2, "{report}");
    assert_eq!(report["data"]["restore"]["kept_aside"], Value::Null, "{report}");
    assert_eq!(report["data"]["fsck"]["objects_checked"], 2, "{report}");
    assert_eq!(report["data"]["fsck"]["problems"], serde_json::json!([]), "{report}");

    let mut flags = strings(&["--data-dir", &fresh.display().to_string()]);
    flags.extend(service);
    let restored = ServerProcess::start(&flags, &work.path().join("log"));
    let target = restored.target(&server.admin_key);
    let listed = fedml_client::list_storage_objects_with(&target);
    assert_eq!(listed.code, ResponseCode::Success, "{}", listed.message);
    let names: BTreeSet<String> = listed.data.expect("list").into_iter().map(|m| m.data_name).collect();
    assert_eq!(names, BTreeSet::from(["model.bin".to_string(), "notes.txt".to_string()]));
    let down = work.path().join("down");
    for (name, data) in &contents {
        let r = fedml_client::download_with(name, &download_opts(target.clone(), &down));
        assert_eq!(r.code, ResponseCode::Success, "download {name}: {}", r.message);
        assert_eq!(&std::fs::read(down.join(name)).expect("downloaded"), data, "{name}");
    }
    // A URL signed before the backup still works: the signing key came back with the catalogue.
    // (A cloud's URL is signed by the cloud's key and names no server: it is used as it is.)
    let moved = ticket.url.replacen(&server.url, &restored.url, 1);
    assert!(moved != ticket.url || matches!(server.backend, Backend::Cloud(_)));
    let body = fedml_client::block_on(async {
        let resp = reqwest::get(&moved).await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert_eq!(resp.status(), 200, "the old signed URL on the restored server");
        resp.bytes().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))
    })
    .expect("fetch");
    assert_eq!(&body[..], &contents[1].1[..]);
}

/// Where a blob's bytes are, by backend.
fn blob_path(server: &TestServer, blob_key: &str) -> PathBuf {
    match &server.backend {
        Backend::Embedded => server.data_dir.join("blobs").join("objects").join(blob_key),
        Backend::PostgresS3 { s3_root, bucket, .. } => s3_root.join(bucket).join(blob_key),
        Backend::Cloud(_) => PathBuf::from("blob").join(blob_key),
    }
}

fn problems(report: &Value) -> BTreeSet<(String, String, String)> {
    report["data"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let what = p["problem"].as_str().unwrap_or_default().to_string();
            let object = p["object"].as_str().unwrap_or_default().to_string();
            let key = p["blob_key"].as_str().or(p["key"].as_str()).unwrap_or_default().to_string();
            (what, object, key)
        })
        .collect()
}

#[test]
fn fsck_reports_each_missing_truncated_altered_and_unknown_blob() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let flags = server.backend.server_flags(&server.data_dir);
    let names = ["intact", "gone", "short", "flipped", "deleted"];
    for (i, name) in names.iter().enumerate() {
        let path = work.path().join(name);
        std::fs::write(&path, bytes(5000 + i, i as u64 + 10)).expect("write");
        upload(server.admin(), &path, name);
    }
    let catalogue = server.platform.catalogue.clone();
    let references = server.block_on(async move { catalogue.referenced_blobs().await.expect("references") });
    let key_of = |name: &str| {
        references.iter().find(|r| r.object == name).map(|r| r.blob_key.clone()).expect("a blob for each object")
    };
    let r = fedml_client::delete_with("deleted", Some("R2"), &server.admin());
    assert_eq!(r.code, ResponseCode::Success, "{}", r.message);
    // An upload under way: its bytes are the session's, not a problem.
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let (session, _) = fedml_client::block_on(open_raw_upload(&client, "pending", fedml_proto::ObjectKind::File, 10))
        .expect("session");

    for deep in [false, true] {
        let (code, report) = fsck(&flags, deep);
        assert_eq!(code, Some(0), "a healthy store (deep: {deep}): {report}");
        assert_eq!(report["code"], "SUCCESS");
        assert_eq!(report["data"]["objects_checked"], 4, "{report}");
        let unreferenced = report["data"]["unreferenced"].as_array().expect("unreferenced");
        assert!(
            unreferenced.iter().any(|u| u["key"] == key_of("deleted") && u["status"] == "garbage"),
            "the deleted object's blob awaits the collector: {report}"
        );
        if let Backend::Embedded = server.backend {
            assert!(
                unreferenced.iter().any(|u| u["key"] == session.upload_id.as_str() && u["status"] == "in_flight"),
                "the open session's staging file: {report}"
            );
        }
    }

    let stray = "0123abcd/feedface";
    if let Backend::Cloud(spec) = &server.backend {
        // The same damage through the cloud's own API (an emulator keeps no plain files).
        use crate::harness::clouds;
        clouds::delete_blob(spec, &key_of("gone"));
        let short = clouds::read_blob(spec, &key_of("short"));
        clouds::write_blob(spec, &key_of("short"), &short[..4000]);
        let mut data = clouds::read_blob(spec, &key_of("flipped"));
        data[1234] ^= 0x01;
        clouds::write_blob(spec, &key_of("flipped"), &data);
        clouds::write_blob(spec, stray, b"nobody's bytes");
    } else {
        std::fs::remove_file(blob_path(&server, &key_of("gone"))).expect("delete a blob");
        let short = std::fs::OpenOptions::new().write(true).open(blob_path(&server, &key_of("short"))).expect("open");
        short.set_len(4000).expect("truncate");
        drop(short);
        let flipped = blob_path(&server, &key_of("flipped"));
        let mut data = std::fs::read(&flipped).expect("read");
        data[1234] ^= 0x01;
        std::fs::write(&flipped, &data).expect("flip a byte");
        let stray_path = blob_path(&server, stray);
        std::fs::create_dir_all(stray_path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&stray_path, b"nobody's bytes").expect("stray file");
    }

    let expected_shallow = BTreeSet::from([
        ("missing".to_string(), "gone".to_string(), key_of("gone")),
        ("wrong_size".to_string(), "short".to_string(), key_of("short")),
        ("unknown".to_string(), String::new(), stray.to_string()),
    ]);
    let (code, report) = fsck(&flags, false);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["code"], "FAILURE");
    assert_eq!(problems(&report), expected_shallow, "sizes only: the flipped byte is not seen: {report}");
    let mut expected_deep = expected_shallow.clone();
    expected_deep.insert(("wrong_checksum".to_string(), "flipped".to_string(), key_of("flipped")));
    let (code, report) = fsck(&flags, true);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(problems(&report), expected_deep, "{report}");
    let found = report["data"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["problem"] == "wrong_size")
        .cloned()
        .expect("wrong size");
    assert_eq!((found["size"].as_u64(), found["found_size"].as_u64()), (Some(5002), Some(4000)), "{found}");

    // The table names each object and blob.
    let mut args = strings(&["fsck", "--deep"]);
    args.extend(flags.iter().cloned());
    let out = admin(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    for needle in
        ["admin/gone", "admin/short", "admin/flipped", stray, "missing", "wrong size", "wrong checksum", "unknown file"]
    {
        assert!(shown.contains(needle), "{needle:?} not in\n{shown}");
    }
    assert!(!shown.contains("admin/intact"), "{shown}");
    // Read-only: the damage is still there, nothing was added or removed.
    let files = server.blob_files();
    let has = |key: &str| match &server.backend {
        Backend::Cloud(_) => files.contains(&PathBuf::from("blob").join(key)),
        _ => blob_path(&server, key).exists(),
    };
    assert!(!has(&key_of("gone")) && has(stray), "{files:?}");

    // An open upload whose staging file is gone can never complete: reported by its id.
    if let Backend::Embedded = server.backend {
        std::fs::remove_file(server.data_dir.join("blobs").join("staging").join(&session.upload_id))
            .expect("remove the staging file");
        let (code, report) = fsck(&flags, false);
        assert_eq!(code, Some(1), "{report}");
        let mut expected = expected_shallow.clone();
        expected.insert(("session_bytes_missing".to_string(), String::new(), String::new()));
        assert_eq!(problems(&report), expected, "{report}");
        let session_problem = report["data"]["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .find(|p| p["problem"] == "session_bytes_missing")
            .cloned()
            .expect("the session's problem");
        assert_eq!(session_problem["upload_id"], session.upload_id.as_str(), "{session_problem}");
        assert_eq!(session_problem["name"], "pending", "{session_problem}");
    }
}

#[test]
fn restore_refuses_a_running_server_and_an_existing_catalogue() {
    let work = tempfile::tempdir().expect("tmp");
    if let Backend::PostgresS3 { .. } = Backend::fresh() {
        // PostgreSQL restores go through pg_restore: see the restore test's refusal.
        return;
    }
    let data = work.path().join("data");
    let data_flag = strings(&["--data-dir", &data.display().to_string()]);
    // While a restore holds the data directory, a server does not start on it.
    std::fs::create_dir(&data).expect("mkdir");
    let restoring = std::fs::File::create(data.join("server.lock")).expect("lock file");
    restoring.try_lock().expect("the restore's lock");
    let out = Command::new(env!("CARGO_BIN_EXE_fedml"))
        .arg("server")
        .args(&data_flag)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("FEDML_SERVER_CONFIG")
        .env_remove("FEDML_DATABASE_URL")
        .output()
        .expect("run fedml server");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("a restore is under way"), "{}", text(&out));
    drop(restoring);
    let server = ServerProcess::start(&data_flag, &work.path().join("log"));
    let key = std::fs::read_to_string(data.join("admin-api-key")).expect("admin key").trim().to_string();
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(2000, 5)).expect("write");
    upload(server.target(&key), &file, "kept");
    let backup = work.path().join("backup");
    let mut args = vec!["backup".to_string(), backup.display().to_string()];
    args.extend(data_flag.iter().cloned());
    assert!(admin(&args).status.success());
    upload(server.target(&key), &file, "after-backup");

    let restore = |extra: &[&str]| {
        let mut args = vec!["restore".to_string(), backup.display().to_string()];
        args.extend(data_flag.iter().cloned());
        args.extend(strings(extra));
        admin(&args)
    };
    for extra in [&[][..], &["--force"][..]] {
        let out = restore(extra);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("a server is running on"), "{}", text(&out));
    }
    let r = fedml_client::get_storage_metadata_with("after-backup", None, &server.target(&key));
    assert_eq!(r.code, ResponseCode::Success, "the running server's catalogue is untouched: {}", r.message);
    let mut server = server;
    assert!(server.terminate(Duration::from_secs(30)).is_some_and(|s| s.success()));

    let out = restore(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already holds a catalogue") && text(&out).contains("--force"), "{}", text(&out));
    // A data directory restored from itself: refused, and its catalogue is still there.
    let mut args = vec!["restore".to_string(), data.display().to_string(), "--force".to_string()];
    args.extend(data_flag.iter().cloned());
    let out = admin(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(object_names_in(&data.join("catalogue.db")).contains("after-backup"), "{}", text(&out));

    let out = restore(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unknown file"), "the blob uploaded after the backup is listed: {}", text(&out));
    let kept: Vec<_> = std::fs::read_dir(&data)
        .expect("data dir")
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // The WAL files, if any, go aside with it under the same name.
            name.starts_with("catalogue.db.before-restore-") && !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the replaced catalogue is kept aside");
    assert!(object_names_in(&kept[0].path()).contains("after-backup"));

    let server = ServerProcess::start(&data_flag, &work.path().join("log"));
    let names: BTreeSet<String> = fedml_client::list_storage_objects_with(&server.target(&key))
        .data
        .expect("list")
        .into_iter()
        .map(|m| m.data_name)
        .collect();
    assert_eq!(names, BTreeSet::from(["kept".to_string()]), "the catalogue as of the backup");
    // The blob of the object uploaded after the backup is now unknown to the catalogue.
    let (code, report) = fsck(&data_flag, false);
    assert_eq!(code, Some(1), "{report}");
    let kinds: Vec<String> = problems(&report).into_iter().map(|(what, _, _)| what).collect();
    assert_eq!(kinds, vec!["unknown".to_string()], "{report}");
}

#[test]
fn fsck_shows_file_names_from_the_store_escaped() {
    let server = TestServer::start();
    if let Backend::PostgresS3 { .. } | Backend::Cloud(_) = server.backend {
        // The table is the same for every store; the local folder lets the test name a file
        // with control characters.
        return;
    }
    let stray = server.data_dir.join("blobs").join("objects").join("evil\x1b[2J\r");
    std::fs::write(&stray, b"x").expect("stray file");
    let out = admin(&["fsck".into(), "--data-dir".into(), server.data_dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(!shown.contains('\x1b') && !shown.contains('\r'), "raw control characters in {shown:?}");
    assert!(shown.contains("evil\\x1b[2J\\r"), "{shown}");
    let (_, report) = fsck(&[String::from("--data-dir"), server.data_dir.display().to_string()], false);
    assert_eq!(report["data"]["problems"][0]["key"], "evil\x1b[2J\r", "exact in JSON: {report}");
}
