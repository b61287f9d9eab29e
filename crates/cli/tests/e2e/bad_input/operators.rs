//! Bad input from operators: `fedml admin` paths and quotas, `fedml server` observability settings.

use super::*;

/// `fedml admin backup`, `restore` and `fsck` given what they cannot use: each a FAILURE (exit
/// 1) that says what to do, and nothing written or replaced.
#[test]
fn admin_backup_restore_and_fsck_refuse_bad_paths_clearly() {
    let work = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str]| {
        let out = fedml_admin(args);
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let path = |name: &str| work.path().join(name).display().to_string();
    let empty = path("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let busy = path("busy");
    std::fs::create_dir(&busy).expect("mkdir");
    std::fs::write(work.path().join("busy/keep.txt"), b"mine").expect("write");
    let not_sqlite = path("not-sqlite");
    std::fs::create_dir(&not_sqlite).expect("mkdir");
    std::fs::write(work.path().join("not-sqlite/catalogue.db"), b"this is not a database at all, just text")
        .expect("write");
    let pg_backup = path("pg-backup");
    std::fs::create_dir(&pg_backup).expect("mkdir");
    std::fs::write(work.path().join("pg-backup/catalogue.dump"), b"PGDMP").expect("write");
    let target = path("target");
    let (b1, b2, missing) = (path("b1"), path("b2"), path("missing.toml"));

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["backup", &b1, "--data-dir", &empty], "no catalogue at"),
        (vec!["fsck", "--data-dir", &empty], "no catalogue at"),
        (vec!["restore", &empty, "--data-dir", &target], "no catalogue.db in"),
        (vec!["restore", &not_sqlite, "--data-dir", &target], "not a readable catalogue"),
        (vec!["restore", &pg_backup, "--data-dir", &target], "pg_restore"),
        (vec!["restore", &empty, "--database", "postgres://u:secret@127.0.0.1:1/db"], "pg_restore"),
        (
            vec!["restore", &empty, "--data-dir", &target, "--database", "sqlite:///elsewhere.db"],
            "--data-dir instead of --database",
        ),
        (vec!["backup", &b2, "--database", "postgres://u:secret@127.0.0.1:1/db"], "pg_dump --format=custom"),
        (vec!["fsck", "--data-dir", &empty, "--service", "R2=ftp://x"], "--service"),
        (vec!["fsck", "--data-dir", &empty, "--config", &missing], "cannot read"),
    ];
    for (args, says) in &cases {
        let (code, shown) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {shown}");
        assert!(shown.contains(says), "{args:?}: {shown:?} does not say {says:?}");
        assert!(!shown.contains("secret"), "{args:?} shows a password: {shown}");
    }
    assert!(!work.path().join("target").join("catalogue.db").exists(), "nothing restored");
    assert!(!work.path().join("b1").exists() && !work.path().join("b2").exists(), "no backup directory made");

    // A backup into a directory that holds files is refused and leaves them alone (the
    // catalogue it would copy comes from a real data directory).
    let server = TestServer::start();
    if let Backend::Embedded = server.backend {
        let data = server.data_dir.display().to_string();
        let (code, shown) = run(&["backup", &busy, "--data-dir", &data]);
        assert_eq!(code, Some(1), "{shown}");
        assert!(shown.contains("already holds files"), "{shown}");
        assert_eq!(std::fs::read(work.path().join("busy/keep.txt")).expect("kept"), b"mine");
        assert_eq!(std::fs::read_dir(&busy).expect("dir").count(), 1);
    }
}

#[test]
fn admin_quota_refuses_bad_values_and_changes_nothing() {
    let server = TestServer::start();
    server.new_user("alice");
    let admin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
            .arg("admin")
            .args(server.admin_location())
            .args(["user", "quota"])
            .args(args)
            .output()
            .expect("run fedml admin")
    };
    assert!(admin(&["alice", "--bytes", "1000", "--objects", "5"]).status.success());
    let cases: [(&[&str], &str); 9] = [
        (&["alice", "--bytes", "-5"], "not a size"),
        (&["alice", "--bytes", "lots"], "not a size"),
        (&["alice", "--bytes", "10XB"], "not a size"),
        (&["alice", "--bytes", "1.5GiB"], "whole number"),
        (&["alice", "--bytes", "99999999999TiB"], "smaller size"),
        (&["alice", "--objects", "-1"], "not a number of objects"),
        (&["alice", "--objects", "many"], "not a number of objects"),
        (&["alice", "--bytes", "2000", "--objects", "1.5"], "--objects"),
        (&["nobody", "--bytes", "1000"], "fedml admin user list"),
    ];
    for (args, says) in cases {
        let out = admin(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: a FAILURE, exit 1: {stderr}");
        assert!(stderr.starts_with("FAILURE: ") && stderr.contains(says), "{args:?}: {stderr:?} does not say {says:?}");
    }
    let out = admin(&["alice", "--bytes", "garbage", "-o", "json"]);
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((out.status.code(), body["code"].as_str()), (Some(1), Some("FAILURE")), "{body}");
    // The server's default is checked the same way before it starts.
    let data = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["server", "--listen", "127.0.0.1:0", "--quota-bytes", "lots", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("run fedml server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--quota-bytes: \"lots\" is not a size"), "{stderr}");
    // Nothing changed: the limits set first still hold.
    let out = admin(&["alice", "-o", "json"]);
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((body["data"]["quotaBytes"].as_u64(), body["data"]["quotaObjects"].as_u64()), (Some(1000), Some(5)));
}

/// Operator settings and headers of the observability features: a wrong log format, an empty or
/// mistyped metrics token are refused before anything is created; an `X-Request-Id` that is not
/// sane is replaced, never echoed; a wrong metrics token is a FAILURE that says what to send.
#[test]
fn observability_settings_and_headers_that_are_wrong() {
    let work = tempfile::tempdir().expect("tmp");
    let data = work.path().join("data");
    let config = work.path().join("fedml.toml");
    let server_with = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
            .arg("server")
            .args(["--data-dir", &data.display().to_string(), "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("FEDML_METRICS_TOKEN")
            .env_remove("FEDML_LOG_FORMAT")
            .env_remove("FEDML_SERVER_CONFIG")
            .output()
            .expect("run fedml server");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut cases = 0;
    let (code, err) = server_with(&["--log-format", "xml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'xml'") && err.contains("text, json"), "{err}");
    cases += 1;
    for token in ["", "   "] {
        let (code, err) = server_with(&["--metrics-token", token]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("metrics_token is empty") && err.contains("leave it out"), "{err}");
        cases += 1;
    }
    for (text, says) in [("metrics_token = \"\"", "metrics_token is empty"), ("metrics_token = 5", "expected a string")]
    {
        std::fs::write(&config, text).expect("config");
        let (code, err) = server_with(&["--config", &config.display().to_string()]);
        assert_eq!(code, Some(1), "{text}: {err}");
        assert!(err.contains(says), "{text}: {err}");
        cases += 1;
    }
    assert!(!data.exists(), "a refused start created the data directory");

    let server = TestServer::start();
    let http = fedml_client::client::http_client().expect("HTTP client");
    for bad in ["", "with space", "ünïcode", &"x".repeat(65), "tab\there", "quote\"d é"] {
        let id = fedml_client::block_on(async {
            let r =
                http.get(format!("{}/api/v1/whoami", server.url)).header("x-request-id", bad.as_bytes()).send().await;
            let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            assert_eq!(r.status().as_u16(), 401, "the request is still answered");
            Ok(r.headers().get("x-request-id").map(|v| v.as_bytes().to_vec()).unwrap_or_default())
        })
        .expect("request");
        assert!(id.len() == 16 && id.iter().all(u8::is_ascii_hexdigit), "{bad:?} answered with id {id:?}");
        cases += 1;
    }
    println!("{cases} observability bad inputs");
}
