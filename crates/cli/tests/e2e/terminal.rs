//! What people are shown: stored text holding terminal escape sequences, BEL, CR, C1 controls or
//! bidirectional characters reaches the terminal as visible escapes, never as the raw bytes, in
//! every table and message of `fedml storage` and `fedml admin`; `--output json` keeps the exact
//! text.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::*;

/// Clear screen, a window title (OSC 0 … BEL), a bare BEL, a carriage return that would
/// overwrite the line, a C1 CSI (U+009B), DEL, a right-to-left override and a zero-width space.
const HOSTILE: &str =
    "before\x1b[2J\x1b]0;owned\x07bell\x07cr\roverwrite csi\u{9b}2J del\x7f rlo\u{202e}txt.exe zw\u{200b}end";

/// How each of those must read on the terminal.
const SHOWN: [&str; 8] = [
    "\\x1b[2J",
    "\\x1b]0;owned\\x07",
    "bell\\x07",
    "cr\\roverwrite",
    "csi\\u{9b}2J",
    "del\\x7f",
    "rlo\\u{202e}txt.exe",
    "zw\\u{200b}end",
];

fn fedml(config_dir: &Path, server: &TestServer) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedml"));
    cmd.env("FEDML_CONFIG_DIR", config_dir)
        .env("FEDML_API_KEY", &server.admin_key)
        .env("FEDML_SERVER_URL", &server.url);
    cmd
}

/// The first raw control byte (C0 but `\n`, DEL) or C1 / bidirectional / zero-width character
/// in what the command printed, if any.
fn raw_control(out: &[u8]) -> Option<String> {
    if let Some(b) = out.iter().find(|&&b| (b < 0x20 && b != b'\n') || b == 0x7f) {
        return Some(format!("byte {b:#04x}"));
    }
    let text = String::from_utf8_lossy(out);
    text.chars()
        .find(|&c| ('\u{80}'..='\u{9f}').contains(&c) || fedml_proto::text::is_invisible(c))
        .map(|c| format!("U+{:04X}", c as u32))
}

/// Runs a command and checks that neither stdout nor stderr holds a raw control character.
fn shown(label: &str, cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().expect("run fedml");
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if let Some(what) = raw_control(bytes) {
            panic!("{label}: {stream} holds a raw {what}: {:?}", String::from_utf8_lossy(bytes));
        }
    }
    let both = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, both)
}

fn assert_shows_escapes(label: &str, text: &str) {
    for escaped in SHOWN {
        assert!(text.contains(escaped), "{label} does not show {escaped:?}:\n{text}");
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn stored_control_characters_reach_the_terminal_escaped_and_json_exact() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cfg = work.path().join("cfg");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(300, 3)).expect("write");
    let metadata = BTreeMap::from([("note".to_string(), HOSTILE.to_string()), ("plain".to_string(), "ok".to_string())]);
    let mut o = upload_opts(server.admin(), "evil");
    o.description = Some(HOSTILE.to_string());
    o.metadata = Some(metadata.clone());
    let r = fedml_client::upload_with(&file, &o);
    assert!(r.is_success(), "{r:?}");

    let (out, text) = shown("list", fedml(&cfg, &server).args(["storage", "list"]));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("evil"), "{text}");
    assert_shows_escapes("list", &text);
    let (out, text) = shown("get-metadata", fedml(&cfg, &server).args(["storage", "get-metadata", "evil"]));
    assert!(out.status.success(), "{text}");
    assert_shows_escapes("get-metadata", &text);
    let (out, text) = shown("get-user-metadata", fedml(&cfg, &server).args(["storage", "get-user-metadata", "evil"]));
    assert!(out.status.success(), "{text}");
    assert_shows_escapes("get-user-metadata", &text);
    assert!(text.contains("plain") && text.contains("ok"), "{text}");

    // JSON: the real characters, JSON-escaped by serde, and back exactly.
    let out = fedml(&cfg, &server).args(["storage", "list", "-o", "json"]).output().expect("run");
    let v = json(&out);
    let listed = v["data"].as_array().expect("list").iter().find(|o| o["dataName"] == "evil").expect("evil listed");
    assert_eq!(listed["description"], HOSTILE);
    let out = fedml(&cfg, &server).args(["storage", "get-metadata", "evil", "-o", "json"]).output().expect("run");
    assert_eq!(json(&out)["data"]["description"], HOSTILE);
    let out = fedml(&cfg, &server).args(["storage", "get-user-metadata", "evil", "-o", "json"]).output().expect("run");
    let got: BTreeMap<String, String> = serde_json::from_value(json(&out)["data"].clone()).expect("metadata map");
    assert_eq!(got, metadata);
    assert!(raw_control(&out.stdout).is_none(), "JSON text escapes every control and invisible character");

    // Messages that quote what was typed: refusals of names, a path that cannot be a directory.
    let (out, text) = shown("bad name", fedml(&cfg, &server).args(["storage", "get-metadata", HOSTILE]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    let (out, text) =
        shown("bad name on upload", fedml(&cfg, &server).args(["storage", "upload"]).arg(&file).args(["-n", HOSTILE]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILURE"), "{text}");
    let (out, text) =
        shown("bad tag", fedml(&cfg, &server).args(["storage", "upload"]).arg(&file).args(["-t", "a\u{202e}b"]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("U+202E"), "{text}");
    let odd_dest = work.path().join("dest\x1b[2J\u{9b}");
    std::fs::write(&odd_dest, b"in the way").expect("write");
    let (out, text) =
        shown("download into a file", fedml(&cfg, &server).args(["storage", "download", "evil", "-d"]).arg(&odd_dest));
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert_eq!(std::fs::read(&odd_dest).expect("read"), b"in the way");
    let (out, text) = shown(
        "download",
        fedml(&cfg, &server)
            .args(["storage", "download", "evil", "--no-progress", "-d"])
            .arg(work.path().join("ok\x07dir")),
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok\\x07dir"), "{text}");

    // `fedml admin`: key labels and messages that quote user names.
    let admin = || {
        let mut cmd = fedml(&cfg, &server);
        cmd.arg("admin").args(server.admin_location());
        cmd
    };
    let (out, text) = shown("key create", admin().args(["key", "create", "--user", "admin", "--label", HOSTILE]));
    assert!(out.status.success(), "{text}");
    let (out, text) = shown("key list", admin().args(["key", "list"]));
    assert!(out.status.success(), "{text}");
    assert_shows_escapes("key list", &text);
    let out = admin().args(["key", "list", "-o", "json"]).output().expect("run");
    assert!(json(&out)["data"].as_array().expect("keys").iter().any(|k| k["label"] == HOSTILE), "JSON keeps the label");
    assert!(raw_control(&out.stdout).is_none(), "admin JSON escapes control characters");
    let (out, text) = shown("key for unknown user", admin().args(["key", "create", "--user", HOSTILE]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("\\x1b[2J"), "{text}");
    let (out, text) = shown("user with a bidi override", admin().args(["user", "create", "adm\u{202e}nimda"]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{text}");
}
