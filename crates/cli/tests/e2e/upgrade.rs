//! The upgrade to teams (issue 27) on a data directory of the release before it
//! (`fixtures/before-teams.tar.gz`, made by edbdde9's schema and server: see `fixtures/README.md`;
//! `fixtures/before-teams.json` lists its users, keys and objects). Today's server starts on a
//! copy of it; the objects stay in their owners' own namespaces and list, download (byte for byte),
//! keep their versions and delete as before; the keys of that release still work; an owner can
//! create an organisation and upload into it. The embedded default only: the fixture is a SQLite
//! catalogue and a local blob folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/fixtures/before-teams.tar.gz");
const MANIFEST: &str = include_str!("fixtures/before-teams.json");

/// Whether the backend asked for is the embedded default; says so when it is not.
fn embedded() -> bool {
    match std::env::var("FEDML_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("embedded") => true,
        Ok(other) => {
            println!("skipped on {other}: the fixture is a data directory of the embedded default");
            false
        }
    }
}

/// Today's server on a fresh copy of the fixture, with the manifest.
fn upgraded() -> (TestServer, Value) {
    let manifest: Value = serde_json::from_str(MANIFEST).expect("manifest is JSON");
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new("tar").arg("-xzf").arg(FIXTURE).arg("-C").arg(dir.path()).output().expect("run tar");
    assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
    let data_dir = dir.path().join("data");
    let admin_key = manifest["admin_key"].as_str().expect("admin_key").to_string();
    assert_eq!(std::fs::read_to_string(data_dir.join("admin-api-key")).expect("admin-api-key").trim(), admin_key);
    (TestServer::start_on(dir, data_dir, admin_key), manifest)
}

/// A fixture user's downloads.
trait Downloads {
    /// Downloads `name` (with `extra` flags) into `dest`; answers where it landed.
    fn download(&self, name: &str, extra: &[&str], dest: &Path) -> PathBuf;
}

impl Downloads for As<'_> {
    fn download(&self, name: &str, extra: &[&str], dest: &Path) -> PathBuf {
        let mut args = vec!["storage", "download", name, "-d", dest.to_str().expect("utf-8"), "--no-progress"];
        args.extend_from_slice(extra);
        self.ok(&args);
        dest.join(name)
    }
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("a digest").to_string()
}

/// A listing's rows without their signed URLs (which differ between calls), sorted by name.
fn rows(listed: &Value) -> Vec<Value> {
    assert_eq!(listed["code"], "SUCCESS", "{listed}");
    let mut rows: Vec<Value> = listed["data"].as_array().expect("rows").clone();
    for row in &mut rows {
        row.as_object_mut().expect("row").remove("downloadUrl");
    }
    rows.sort_by(|a, b| a["dataName"].as_str().cmp(&b["dataName"].as_str()));
    rows
}

/// Each listed object is the one the fixture stored, as it was stored.
fn assert_listed_as_stored(rows: &[Value], stored: &Value) {
    let stored = stored.as_object().expect("objects");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["dataName"].as_str()).collect();
    let mut expected: Vec<&str> = stored.keys().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected, "{rows:?}");
    for row in rows {
        let name = row["dataName"].as_str().expect("name");
        let want = &stored[name];
        assert_eq!(row["kind"], want["kind"], "{name}");
        assert_eq!(row["size"], want["size"], "{name}");
        assert_eq!(row["checksum"], want["checksum"], "{name}");
        for (field, key) in [("description", "description"), ("tags", "tags"), ("userMetadata", "user_metadata")] {
            if !want[key].is_null() {
                assert_eq!(row[field], want[key], "{name}: {field}");
            }
        }
    }
}

/// Every object of carol's, downloaded with `who`, is byte for byte what was uploaded.
fn assert_downloads_as_stored(who: &As, stored: &Value, dest: &Path) {
    for (name, want) in stored.as_object().expect("objects") {
        let got = who.download(name, &[], dest);
        if want["kind"] == "directory" {
            let files = want["files"].as_object().expect("files");
            let listing = tree_listing(&got);
            let listed: Vec<&str> = listing.iter().filter(|(_, b)| b.is_some()).map(|(p, _)| p.as_str()).collect();
            let mut expected: Vec<&str> = files.keys().map(String::as_str).collect();
            expected.sort();
            assert_eq!(listed, expected, "{name}: its files");
            for (path, digest) in files {
                assert_eq!(sha256(&got.join(path)), digest.as_str().expect("digest"), "{name}/{path}");
            }
        } else {
            assert_eq!(sha256(&got), want["sha256"].as_str().expect("sha256"), "{name}");
        }
    }
}

#[test]
fn objects_of_the_release_before_teams_stay_in_their_owners_namespace() {
    if !embedded() {
        return;
    }
    let (server, manifest) = upgraded();
    let work = tempfile::tempdir().expect("tmp");
    let key = |user: &str, which: &str| manifest["users"][user][which].as_str().expect("key").to_string();
    let carol = As { key: key("carol", "key"), url: &server.url, config: work.path() };
    let dave = As { key: key("dave", "key"), url: &server.url, config: work.path() };
    let carol_ro = As { key: key("carol", "read_only_key"), url: &server.url, config: work.path() };
    let (carols, daves) = (&manifest["objects"]["carol"], &manifest["objects"]["dave"]);

    // The keys of the release before still sign in, as the users they were made for.
    for (who, name, read_only) in [(&carol, "carol", false), (&carol_ro, "carol", true), (&dave, "dave", false)] {
        let client = fedml_client::client::Client::new(&server.url, &who.key).expect("client");
        let me = fedml_client::block_on(client.whoami()).expect("whoami");
        assert_eq!((me.user.as_str(), me.read_only, me.key_namespaces), (name, read_only, None));
    }

    // Listed as before, in the owner's own namespace: without --namespace, with --namespace carol,
    // through the SDK either way, and with the read-only key.
    let listed = rows(&carol.json(["storage", "list"]));
    assert_listed_as_stored(&listed, carols);
    assert_eq!(rows(&carol.json(["storage", "list", "--namespace", "carol"])), listed);
    assert_eq!(rows(&carol_ro.json(["storage", "list"])), listed);
    let sdk = |namespace: Option<&str>| {
        let target = fedml_client::Target { namespace: namespace.map(str::to_string), ..server.target(&carol.key) };
        let answer = fedml_client::list_storage_objects_with(&target);
        assert!(answer.is_success(), "{}", answer.message);
        let mut names: Vec<String> = answer.data.expect("rows").into_iter().map(|m| m.data_name).collect();
        names.sort();
        names
    };
    let names: Vec<String> = listed.iter().filter_map(|r| r["dataName"].as_str().map(str::to_string)).collect();
    assert_eq!(sdk(None), names);
    assert_eq!(sdk(Some("carol")), names);
    // Dave's namespace holds his own `weights`, not carol's; neither sees the other's.
    assert_listed_as_stored(&rows(&dave.json(["storage", "list"])), daves);
    dave.refused(["storage", "list", "--namespace", "carol"]);
    carol.refused(["storage", "list", "--namespace", "dave"]);
    // The namespaces each can use: their own, and no organisation yet.
    let orgs = carol.json(["org", "list"]);
    assert_eq!((&orgs["code"], &orgs["data"]), (&"SUCCESS".into(), &serde_json::json!([])), "{orgs}");

    // Downloads, byte for byte: the packed file, the directory, the file of two versions, the one
    // blob, the FedML SDK's upload; with the read-write key and the read-only one; dave's too.
    assert_downloads_as_stored(&carol, carols, &work.path().join("rw"));
    assert_downloads_as_stored(&carol_ro, carols, &work.path().join("ro"));
    assert_downloads_as_stored(&dave, daves, &work.path().join("dave"));
    let explicit = carol.download("weights", &["--namespace", "carol"], &work.path().join("ns"));
    assert_eq!(sha256(&explicit), carols["weights"]["sha256"].as_str().expect("sha256"));

    // The versions stay listed, and the earlier one reads back.
    let versions = carol.json(["storage", "versions", "model"]);
    let listed_versions: Vec<(u64, u64, String)> = versions["data"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            let checksum = v["checksum"].as_str().expect("checksum").to_string();
            (v["version"].as_u64().expect("version"), v["size"].as_u64().expect("size"), checksum)
        })
        .collect();
    let want = &carols["model"]["versions"];
    let expected: Vec<(u64, u64, String)> = ["2", "1"]
        .iter()
        .map(|n| {
            let v = &want[*n];
            let checksum = v["checksum"].as_str().expect("checksum").to_string();
            (n.parse().expect("number"), v["size"].as_u64().expect("size"), checksum)
        })
        .collect();
    assert_eq!(listed_versions, expected, "{versions}");
    let first = carol.download("model", &["--version", "1"], &work.path().join("v1"));
    assert_eq!(sha256(&first), want["1"]["sha256"].as_str().expect("sha256"));

    // A share link works on an object stored before teams.
    let link = carol.ok(["storage", "share", "weights", "--expires", "1d"]).trim().to_string();
    let fetched = work.path().join("linked.bin");
    let body = fedml_client::block_on(async {
        let http = fedml_client::client::http_client()?;
        let broke = |e: reqwest::Error| fedml_client::error::ClientError::Error(e.to_string());
        let response = http.get(&link).send().await.map_err(broke)?;
        assert_eq!(response.status().as_u16(), 200, "{link}");
        Ok(response.bytes().await.map_err(broke)?.to_vec())
    })
    .expect("GET the link");
    std::fs::write(&fetched, body).expect("write");
    assert_eq!(sha256(&fetched), carols["weights"]["sha256"].as_str().expect("sha256"));

    // The read-only key of that release is still read-only.
    carol_ro.refused(["storage", "delete", "oneblob"]);
    carol_ro.refused(["org", "create", "carol-readers"]);

    // Deletes, as before: one version, then whole objects of every kind of storage.
    carol.ok(["storage", "delete", "model", "--version", "1"]);
    let versions = carol.json(["storage", "versions", "model"]);
    assert_eq!(versions["data"].as_array().map(Vec::len), Some(1), "{versions}");
    for name in ["oneblob", "sdk-upload.bin", "dataset"] {
        carol.ok(["storage", "delete", name]);
        carol.refused(["storage", "get-metadata", name]);
    }
    let left: Vec<String> = rows(&carol.json(["storage", "list"]))
        .iter()
        .filter_map(|r| r["dataName"].as_str().map(str::to_string))
        .collect();
    assert_eq!(left, ["model", "weights"]);
    // Dave's object of the same name as carol's is untouched by any of it.
    assert_downloads_as_stored(&dave, daves, &work.path().join("dave-after"));

    // The owner creates an organisation and uploads into it: it lands there, not in carol's own
    // namespace, and a member added as a reader reads it with the key of the release before.
    let created = carol.json(["org", "create", "carol-team"]);
    assert_eq!((&created["code"], &created["data"]["role"]), (&"SUCCESS".into(), &"admin".into()), "{created}");
    let source = work.path().join("team.bin");
    std::fs::write(&source, bytes(120_000, 27)).expect("write");
    let path = source.to_str().expect("utf-8");
    let stdout =
        carol.ok(["storage", "upload", path, "-n", "team-model", "--namespace", "carol-team", "--no-progress"]);
    assert!(stdout.contains("Uploaded \"team-model\""), "{stdout}");
    let team = rows(&carol.json(["storage", "list", "--namespace", "carol-team"]));
    assert_eq!(team.iter().filter_map(|r| r["dataName"].as_str()).collect::<Vec<_>>(), ["team-model"]);
    let own: Vec<String> = rows(&carol.json(["storage", "list"]))
        .iter()
        .filter_map(|r| r["dataName"].as_str().map(str::to_string))
        .collect();
    assert_eq!(own, ["model", "weights"], "the organisation's upload is not carol's own");
    carol.ok(["org", "add", "carol-team", "dave", "--role", "reader"]);
    let got = dave.download("team-model", &["--namespace", "carol-team"], &work.path().join("team"));
    assert_eq!(sha256(&got), sha256(&source));
    dave.refused(["storage", "delete", "team-model", "--namespace", "carol-team"]);

    // The owner still uploads a new version into their own namespace, beside the old ones.
    let stdout = carol.ok(["storage", "upload", path, "-n", "weights", "--overwrite", "--no-progress"]);
    assert!(stdout.contains("Uploaded \"weights\""), "{stdout}");
    let versions = carol.json(["storage", "versions", "weights"]);
    assert_eq!(versions["data"].as_array().map(Vec::len), Some(2), "{versions}");
    let meta = carol.json(["storage", "get-metadata", "weights", "--version", "1"]);
    assert_eq!(meta["data"]["checksum"], carols["weights"]["checksum"], "{meta}");

    // The administrator's key of that release still administers.
    let admin = As { key: server.admin_key.clone(), url: &server.url, config: work.path() };
    let orgs = admin.json(["org", "list"]);
    assert_eq!(orgs["data"][0]["name"], "carol-team", "the administrator sees every organisation: {orgs}");
    let members = admin.json(["org", "members", "carol-team"]);
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2), "{members}");
}
