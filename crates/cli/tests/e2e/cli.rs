use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;

/// The `fedml` binary with a private config directory and no inherited FedML settings.
fn fedml(config_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedml"));
    cmd.env("FEDML_CONFIG_DIR", config_dir).env_remove("FEDML_API_KEY").env_remove("FEDML_SERVER_URL");
    cmd
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(out)))
}

#[test]
fn login_then_every_storage_command() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cfg = work.path().join("cfg");

    let out = fedml(&cfg).args(["login", &server.admin_key, "--server", &server.url]).output().expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("logged in") && !stdout.contains(&server.admin_key), "{stdout}");
    let saved = cfg.join("config.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).expect("config").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "config file mode");
    }

    let data = work.path().join("train.csv");
    std::fs::write(&data, bytes(12 << 20, 9)).expect("write");
    let out = fedml(&cfg)
        .args(["storage", "upload"])
        .arg(&data)
        .args(["-n", "train", "-d", "training split", "-um", r#"{"split": "train", "rows": "1000"}"#, "-t", "csv,v2"])
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Uploaded \"train\""), "{stdout}");

    let out = fedml(&cfg).args(["storage", "list"]).output().expect("run");
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for needle in
        ["Data Name", "Description", "Created At", "Updated At", "train", "training split", "12.00 MiB", "csv, v2"]
    {
        assert!(stdout.contains(needle), "list lacks {needle:?}:\n{stdout}");
    }

    let out = fedml(&cfg).args(["storage", "get-metadata", "train", "-o", "json"]).output().expect("run");
    let v = json(&out);
    assert_eq!(v["code"], "SUCCESS");
    assert_eq!(v["data"]["dataName"], "train");
    assert_eq!(v["data"]["size"], 12 << 20);
    assert_eq!(v["data"]["tags"], serde_json::json!(["csv", "v2"]));

    let out = fedml(&cfg).args(["storage", "get-user-metadata", "train"]).output().expect("run");
    let (stdout, _) = text(&out);
    assert!(stdout.contains("split") && stdout.contains("rows") && stdout.contains("1000"), "{stdout}");

    let dest = work.path().join("dl");
    let out = fedml(&cfg).args(["storage", "download", "train", "-d"]).arg(&dest).output().expect("run");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(std::fs::read(dest.join("train")).expect("read") == bytes(12 << 20, 9));

    let out = fedml(&cfg).args(["storage", "delete", "train"]).output().expect("run");
    assert!(out.status.success(), "{:?}", text(&out));

    // Failures: exit status 1, a message on stderr, the envelope with --output json.
    let out = fedml(&cfg).args(["storage", "get-metadata", "train"]).output().expect("run");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("FAILURE") && stderr.contains("no data named"), "{stderr}");
    let out = fedml(&cfg).args(["storage", "download", "train", "-o", "json"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["code"], "FAILURE");

    let out = fedml(&cfg).args(["storage", "upload"]).arg(&data).args(["-um", r#"{"n": 1}"#]).output().expect("run");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("have to be strings"), "{stderr}");
    let out = fedml(&cfg).args(["storage", "upload"]).arg(&data).args(["-um", "{oops"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("not valid JSON"));
}

#[test]
fn key_and_server_from_flags_and_environment() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cfg = work.path().join("never-written");
    let out = fedml(&cfg)
        .args(["storage", "list", "-o", "json", "-k", &server.admin_key, "--server", &server.url])
        .output()
        .expect("run");
    assert_eq!(json(&out)["code"], "SUCCESS");
    let out = fedml(&cfg)
        .args(["storage", "list", "-o", "json"])
        .env("FEDML_API_KEY", &server.admin_key)
        .env("FEDML_SERVER_URL", &server.url)
        .output()
        .expect("run");
    assert_eq!(json(&out)["code"], "SUCCESS");
    assert!(!cfg.exists(), "nothing saved without login");

    // No key anywhere: a FAILURE that says how to give one.
    let out = fedml(&cfg).args(["storage", "list", "--server", &server.url]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("fedml login"), "{:?}", text(&out));

    // A wrong key is refused and never echoed.
    let wrong = "fml_0123456789abcdef_".to_string() + &"0".repeat(64);
    let out = fedml(&cfg).args(["login", &wrong, "--server", &server.url]).output().expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout.contains(&wrong) && !stderr.contains(&wrong));
    assert!(!cfg.join("config.json").exists(), "a refused key is not saved");

    // No server there: an ERROR (exit 2) that says what to do.
    let out = fedml(&cfg)
        .args(["storage", "list", "-k", &server.admin_key, "--server", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("cannot reach"), "{:?}", text(&out));
}

#[test]
fn admin_manages_users_and_keys_on_the_data_directory() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cfg = work.path().join("cfg");
    let admin =
        |args: &[&str]| fedml(&cfg).arg("admin").args(server.admin_location()).args(args).output().expect("run");
    assert!(admin(&["user", "create", "alice"]).status.success());
    assert_eq!(admin(&["user", "create", "alice"]).status.code(), Some(1), "duplicate user");
    let out = admin(&["key", "create", "--user", "alice", "--read-only", "-o", "json"]);
    let v = json(&out);
    let key = v["data"]["api_key"].as_str().expect("key").to_string();
    let id = v["data"]["id"].as_str().expect("id").to_string();
    let out = admin(&["key", "list", "--user", "alice"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains(&id) && stdout.contains("read-only") && !stdout.contains(&key), "{stdout}");

    let list = |k: &str| {
        fedml(&cfg).args(["storage", "list", "-o", "json", "-k", k, "--server", &server.url]).output().expect("run")
    };
    assert_eq!(json(&list(&key))["code"], "SUCCESS");
    assert!(admin(&["key", "revoke", &id]).status.success());
    let out = list(&key);
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["message"].as_str().expect("msg").contains("revoked"));
    assert_eq!(admin(&["key", "create", "--user", "nobody"]).status.code(), Some(1));
}

#[test]
fn an_overwrite_keeps_the_flags_it_is_not_given_and_empty_flags_clear() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cfg = work.path().join("cfg");
    let data = work.path().join("data.bin");
    std::fs::write(&data, bytes(1000, 3)).expect("write");
    let upload = |flags: &[&str]| {
        let out = fedml(&cfg)
            .args(["storage", "upload"])
            .arg(&data)
            .args(["-n", "d", "--overwrite", "--no-progress", "-k", &server.admin_key, "--server", &server.url])
            .args(flags)
            .output()
            .expect("run");
        assert!(out.status.success(), "{flags:?}: {:?}", text(&out));
        let meta = fedml(&cfg)
            .args(["storage", "get-metadata", "d", "-o", "json", "-k", &server.admin_key, "--server", &server.url])
            .output()
            .expect("run");
        let v = json(&meta);
        (v["data"]["description"].clone(), v["data"]["tags"].clone(), v["data"]["userMetadata"].clone())
    };
    let set = upload(&["-d", "weights", "-t", "a,b", "-um", r#"{"k": "v"}"#]);
    let given = (serde_json::json!("weights"), serde_json::json!(["a", "b"]), serde_json::json!({"k": "v"}));
    assert_eq!(set, given);
    assert_eq!(upload(&[]), given, "no flag: the version replaced's kept");
    assert_eq!(upload(&["-t", "c"]), (given.0.clone(), serde_json::json!(["c"]), given.2.clone()));
    let cleared = upload(&["-d", "", "-t", "", "-um", "{}"]);
    assert_eq!(cleared, (serde_json::json!(""), serde_json::json!([]), serde_json::json!({})), "empty flags clear");
    assert_eq!(upload(&[]), cleared, "and stay cleared");
}
