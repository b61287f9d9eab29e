//! Bad input to the Hugging Face Hub API: malformed NDJSON commits, LFS objects never sent or not
//! what their id says, paths that would leave the repository, lists past the limits, bodies past
//! the commit's bound. Each is refused in the Hub's shape (`{"error": …}`) saying what is wrong,
//! and the repository is left exactly as it was.

use serde_json::{Value, json};

use crate::harness::*;
use crate::hub::{Answer, Hub, lfs, regular, sha256};

#[track_caller]
fn refused(label: &str, a: &Answer, status: u16, says: &str) {
    assert_eq!(a.status, status, "{label}: {}", a.text());
    let message = a.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(message.contains(says), "{label}: {message:?} does not say {says:?}");
}

fn ndjson(hub: &Hub<'_>, body: &str) -> Answer {
    hub.send(
        "POST",
        "/api/models/eve/repo/commit/main",
        &[("content-type", "application/x-ndjson")],
        Some(body.as_bytes().to_vec()),
    )
}

#[test]
fn bad_hub_input_is_refused_clearly_and_changes_nothing() {
    let server = TestServer::start();
    let key = server.new_user("eve");
    let hub = Hub::new(&server, &key);
    assert_eq!(hub.create("model", "eve/repo").status, 200);
    let c = hub.commit("models", "eve/repo", "start", None, &[regular("a.txt", b"a")]);
    assert_eq!(c.status, 200, "{}", c.text());
    let sha = || hub.get("/api/models/eve/repo").json()["sha"].clone();
    let before = sha();
    let mut cases = 0;

    // Malformed commits, each naming what is wrong (and where).
    let header = r#"{"key":"header","value":{"summary":"bad"}}"#;
    for (label, body, says) in [
        ("empty body", String::new(), "empty"),
        ("not JSON", "this is not json\n".to_string(), "line 1"),
        ("a JSON array", "[1,2]\n".to_string(), "line 1"),
        ("no header first", r#"{"key":"file","value":{"path":"x","content":""}}"#.to_string(), "before the header"),
        ("two headers", format!("{header}\n{header}\n"), "second header"),
        ("an unknown key", format!("{header}\n{{\"key\":\"copyFile\",\"value\":{{}}}}\n"), "copyFile"),
        ("a file without content", format!("{header}\n{{\"key\":\"file\",\"value\":{{\"path\":\"x\"}}}}\n"), "line 2"),
        (
            "content that is not base64",
            format!("{header}\n{{\"key\":\"file\",\"value\":{{\"path\":\"x\",\"content\":\"@@@\"}}}}\n"),
            "base64",
        ),
        (
            "an unknown encoding",
            format!(
                "{header}\n{{\"key\":\"file\",\"value\":{{\"path\":\"x\",\"content\":\"\",\"encoding\":\"rot13\"}}}}\n"
            ),
            "rot13",
        ),
        (
            "an LFS oid that is no SHA-256",
            format!("{header}\n{{\"key\":\"lfsFile\",\"value\":{{\"path\":\"x\",\"oid\":\"abc\"}}}}\n"),
            "SHA-256",
        ),
        (
            "another hash algorithm",
            format!(
                "{header}\n{{\"key\":\"lfsFile\",\"value\":{{\"path\":\"x\",\"oid\":\"{}\",\"algo\":\"md5\"}}}}\n",
                "0".repeat(64)
            ),
            "sha256",
        ),
    ] {
        refused(label, &ndjson(&hub, &body), 400, says);
        cases += 1;
    }
    // Paths that would leave the repository, or are not paths.
    for path in ["../escape.txt", "a/../../b", "/abs.txt", "a//b", "./a", "a\\b", "C:evil", ""] {
        let a = hub.commit("models", "eve/repo", "bad path", None, &[regular(path, b"x")]);
        refused(&format!("path {path:?}"), &a, 400, "path");
        cases += 1;
    }
    let a = hub.commit("models", "eve/repo", "bad", None, &[json!({"key": "deletedFolder", "value": {"path": "../"}})]);
    refused("deleting a folder above", &a, 400, "path");
    cases += 1;

    // An LFS object never sent; one named in a batch but never PUT.
    let never = bytes(2 << 20, 9);
    let a = hub.commit("models", "eve/repo", "never sent", None, &[lfs("w.bin", &never)]);
    refused("an LFS object never sent", &a, 400, "never sent");
    let batch = hub.batch("", "eve/repo", &[&never]);
    assert_eq!(batch.status, 200, "{}", batch.text());
    let a = hub.commit("models", "eve/repo", "never sent", None, &[lfs("w.bin", &never)]);
    refused("an LFS object asked for and never PUT", &a, 400, "never sent");
    cases += 2;
    // PUT bytes that are not what the batch named: refused, nothing kept.
    let href = batch.json()["objects"][0]["actions"]["upload"]["href"].as_str().expect("href").to_string();
    let nobody = Hub { server: &server, key: None };
    let wrong = nobody.send("PUT", &href, &[], Some(bytes(2 << 20, 10)));
    assert!(wrong.status == 422 || wrong.status == 400, "wrong bytes: HTTP {} {}", wrong.status, wrong.text());
    let short = nobody.send("PUT", &href, &[], Some(never[..1000].to_vec()));
    assert!((400..500).contains(&short.status), "short bytes: HTTP {} {}", short.status, short.text());
    let a = hub.commit("models", "eve/repo", "never sent", None, &[lfs("w.bin", &never)]);
    refused("an LFS object sent wrong", &a, 400, "never sent");
    cases += 3;

    // Deleting what is not there.
    let a =
        hub.commit("models", "eve/repo", "bad", None, &[json!({"key": "deletedFile", "value": {"path": "nope.txt"}})]);
    a.refused(404, Some("EntryNotFound"));
    cases += 1;

    // Batches and lists past their limits, or not what they take.
    let objects: Vec<Value> = (0..1001).map(|i| json!({"oid": format!("{i:064x}"), "size": 1})).collect();
    let a = hub.send(
        "POST",
        "/eve/repo.git/info/lfs/objects/batch",
        &[("content-type", "application/vnd.git-lfs+json")],
        Some(json!({"operation": "upload", "objects": objects}).to_string().into_bytes()),
    );
    refused("a batch of 1,001 objects", &a, 400, "at most 1000");
    for (label, body, says) in [
        ("a download batch", json!({"operation": "download", "objects": []}), "uploads only"),
        (
            "an oid that is no SHA-256",
            json!({"operation": "upload", "objects": [{"oid": "xyz", "size": 1}]}),
            "SHA-256",
        ),
        ("a negative size", json!({"operation": "upload", "objects": [{"oid": sha256(b"x"), "size": -1}]}), "JSON"),
        ("only multipart", json!({"operation": "upload", "transfers": ["multipart"], "objects": []}), "basic"),
    ] {
        let a = hub.json("POST", "/eve/repo.git/info/lfs/objects/batch", &body);
        refused(label, &a, 400, says);
        cases += 1;
    }
    hub.json("POST", "/eve/repo/info/lfs/objects/batch", &json!({"objects": []})).refused(404, Some("RepoNotFound"));
    let files: Vec<Value> = (0..1001).map(|i| json!({"path": format!("f{i}"), "size": 1, "sample": ""})).collect();
    let a = hub.json("POST", "/api/models/eve/repo/preupload/main", &json!({"files": files}));
    refused("a preupload of 1,001 files", &a, 400, "at most 1000");
    let a = hub.json("POST", "/api/models/eve/repo/preupload/main", &json!({"files": [{"path": "../x", "size": 1}]}));
    refused("a preupload path above", &a, 400, "..");
    let paths: Vec<String> = (0..1001).map(|i| format!("p{i}")).collect();
    let a = hub.json("POST", "/api/models/eve/repo/paths-info/main", &json!({"paths": paths}));
    refused("paths-info of 1,001 paths", &a, 400, "at most 1000");
    cases += 5;

    // Bodies past the commit's bound: the whole, and one line.
    // Blank lines (skipped): the whole is past the bound, no line is.
    let huge = format!("{header}\n{}", format!("{}\n", " ".repeat(1 << 20)).repeat(65));
    refused("a commit past 64 MiB", &ndjson(&hub, &huge), 413, "larger than");
    let long = format!("{header}\n{}", "x".repeat((16 << 20) + 1));
    refused("a line past 16 MiB", &ndjson(&hub, &long), 413, "longer than");
    cases += 2;

    // Commits elsewhere than main, pull requests, stale or unknown parents.
    let a = hub.send("POST", "/api/models/eve/repo/commit/dev", &[], Some(format!("{header}\n").into_bytes()));
    a.refused(404, Some("RevisionNotFound"));
    let a =
        hub.send("POST", "/api/models/eve/repo/commit/main?create_pr=1", &[], Some(format!("{header}\n").into_bytes()));
    refused("a pull request", &a, 400, "pull requests");
    let a = hub.commit("models", "eve/repo", "x", Some("not-a-commit"), &[regular("b.txt", b"b")]);
    refused("a parent that is no commit id", &a, 400, "commit id");
    let a = hub.commit("models", "eve/repo", "x", Some(&"0".repeat(40)), &[regular("b.txt", b"b")]);
    refused("an unknown parent", &a, 412, "parent");
    cases += 4;

    // Repositories that cannot be made.
    for (label, body, says) in [
        ("a space", json!({"name": "s", "type": "space"}), "space"),
        ("a name with a slash", json!({"name": "a/b"}), "repository name"),
        ("no name", json!({"organization": "eve"}), "JSON"),
    ] {
        refused(label, &hub.json("POST", "/api/repos/create", &body), 400, says);
        cases += 1;
    }

    assert_eq!(sha(), before, "a refused request changed the repository");
    let tree = hub.get("/api/models/eve/repo/tree/main?recursive=true").json();
    assert_eq!(tree.as_array().map(Vec::len), Some(1), "{tree}");
    assert_eq!(hub.get("/eve/repo/resolve/main/a.txt").body, b"a");
    println!("{cases} bad Hub inputs refused");
    assert!(cases >= 40, "{cases}");
}
