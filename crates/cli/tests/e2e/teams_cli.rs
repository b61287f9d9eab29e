//! Teams through the real `fedml` binary: organisations, members and roles (`fedml org …`),
//! `--namespace` on the storage commands, the audit log, and share links fetched with no key
//! (whole and by ranges), listed with their uses and ended.

use std::path::Path;

use crate::harness::*;

struct Team<'a> {
    alice: As<'a>,
    bob: As<'a>,
    carol: As<'a>,
    dave: As<'a>,
}

/// Alice creates `vision-team`, Bob joins as a writer and Carol as a reader; Dave is no member.
fn team<'a>(server: &'a TestServer, config: &'a Path) -> Team<'a> {
    let user = |name: &str| As { key: server.new_user(name), url: &server.url, config };
    let team = Team { alice: user("alice"), bob: user("bob"), carol: user("carol"), dave: user("dave") };
    let created = team.alice.json(["org", "create", "vision-team"]);
    assert_eq!(created["code"], "SUCCESS", "{created}");
    assert_eq!(created["data"]["name"], "vision-team");
    assert_eq!(created["data"]["role"], "admin");
    let stdout = team.alice.ok(["org", "add", "vision-team", "bob", "--role", "writer"]);
    assert!(stdout.contains("\"bob\" is a writer of \"vision-team\""), "{stdout}");
    let added = team.alice.json(["org", "add", "vision-team", "carol", "--role", "reader"]);
    assert_eq!(added["code"], "SUCCESS", "{added}");
    assert_eq!((&added["data"]["user"], &added["data"]["role"]), (&"carol".into(), &"reader".into()));
    team
}

#[test]
fn organisations_members_and_roles_through_the_cli() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let t = team(&server, work.path());

    // Listed for its members with their role; not for others.
    let stdout = t.alice.ok(["org", "list"]);
    for needle in ["Organisation", "Your Role", "Members", "vision-team", "admin"] {
        assert!(stdout.contains(needle), "org list lacks {needle:?}:\n{stdout}");
    }
    let listed = t.carol.json(["org", "list"]);
    assert_eq!(listed["data"][0]["name"], "vision-team");
    assert_eq!(listed["data"][0]["role"], "reader");
    assert_eq!(listed["data"][0]["members"], 3);
    assert_eq!(t.dave.json(["org", "list"])["data"], serde_json::json!([]));
    assert!(t.dave.ok(["org", "list"]).contains("no organisation"));

    let members = t.carol.json(["org", "members", "vision-team"]);
    let mut roles: Vec<(String, String)> = members["data"]
        .as_array()
        .expect("a list of members")
        .iter()
        .map(|m| {
            (m["user"].as_str().unwrap_or_default().to_string(), m["role"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    roles.sort();
    let expected = [("alice", "admin"), ("bob", "writer"), ("carol", "reader")];
    assert_eq!(roles, expected.map(|(u, r)| (u.to_string(), r.to_string())));
    let table = t.alice.ok(["org", "members", "vision-team"]);
    for needle in ["User", "Role", "Added At", "Added By", "carol", "reader"] {
        assert!(table.contains(needle), "org members lacks {needle:?}:\n{table}");
    }
    // A non-member sees nothing of it.
    t.dave.refused(["org", "members", "vision-team"]);

    // Bad input: each refused with what to do.
    let stderr = t.alice.refused(["org", "add", "vision-team", "dave", "--role", "owner"]);
    assert!(stderr.contains("reader, writer or admin"), "{stderr}");
    let stderr = t.alice.refused(["org", "add", "vision-team", "dave", "--role", "boss"]);
    assert!(stderr.contains("reader, writer or admin"), "{stderr}");
    let refused = t.alice.json(["org", "add", "vision-team", "dave", "--role", "boss"]);
    assert_eq!((&refused["code"], &refused["data"]), (&"FAILURE".into(), &serde_json::Value::Null));
    // Only an admin manages members.
    t.bob.refused(["org", "add", "vision-team", "dave", "--role", "reader"]);
    // One name space for users and organisations.
    t.bob.refused(["org", "create", "alice"]);
    t.bob.refused(["org", "create", "vision-team"]);
    let stderr = t.alice.refused(["storage", "list", "--namespace", ""]);
    assert!(stderr.contains("namespace is empty"), "{stderr}");

    // A role changes with `org add` again; the last admin stays one.
    let changed = t.alice.json(["org", "add", "vision-team", "carol", "--role", "writer"]);
    assert_eq!(changed["data"]["role"], "writer", "{changed}");
    t.alice.ok(["org", "add", "vision-team", "carol", "--role", "reader"]);
    t.alice.refused(["org", "add", "vision-team", "alice", "--role", "reader"]);

    // Removed: access ends at once.
    let stdout = t.alice.ok(["org", "remove", "vision-team", "carol"]);
    assert!(stdout.contains("Removed \"carol\""), "{stdout}");
    t.carol.refused(["storage", "list", "--namespace", "vision-team"]);
    assert_eq!(t.carol.json(["org", "list"])["data"], serde_json::json!([]));

    // Deleted: refused while it holds data, unless --force.
    let file = work.path().join("weights.bin");
    std::fs::write(&file, bytes(10_000, 1)).expect("write");
    t.bob.ok(["storage", "upload", file.to_str().expect("utf-8"), "-n", "weights", "--namespace", "vision-team"]);
    t.bob.refused(["org", "delete", "vision-team", "--force"]);
    let stderr = t.alice.refused(["org", "delete", "vision-team"]);
    assert!(stderr.contains("force"), "the refusal says how: {stderr}");
    let deleted = t.alice.json(["org", "delete", "vision-team", "--force"]);
    assert_eq!((&deleted["code"], &deleted["data"]), (&"SUCCESS".into(), &true.into()), "{deleted}");
    assert_eq!(t.alice.json(["org", "list"])["data"], serde_json::json!([]));
    t.bob.refused(["storage", "list", "--namespace", "vision-team"]);
}

#[test]
fn writers_upload_into_an_organisation_readers_download_and_are_refused_uploads() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let t = team(&server, work.path());
    let data = work.path().join("ds");
    sample_tree(&data);

    // Bob, a writer, uploads a directory into the organisation's namespace.
    let stdout = t.bob.ok([
        "storage",
        "upload",
        data.to_str().expect("utf-8"),
        "-n",
        "imagenet",
        "--namespace",
        "vision-team",
        "--no-progress",
    ]);
    assert!(stdout.contains("Uploaded \"imagenet\""), "{stdout}");
    // It is the organisation's, not Bob's.
    assert!(t.bob.ok(["storage", "list"]).contains("No data stored yet"));
    let listed = t.carol.json(["storage", "list", "--namespace", "vision-team"]);
    assert_eq!(listed["data"][0]["dataName"], "imagenet", "{listed}");

    // Carol, a reader: metadata, files, versions, usage and a download.
    let meta = t.carol.json(["storage", "get-metadata", "imagenet", "--namespace", "vision-team"]);
    assert_eq!((&meta["code"], &meta["data"]["kind"]), (&"SUCCESS".into(), &"directory".into()), "{meta}");
    let files = t.carol.ok(["storage", "ls", "imagenet", "-r", "--namespace", "vision-team"]);
    assert!(files.contains("Path"), "{files}");
    let versions = t.carol.json(["storage", "versions", "imagenet", "--namespace", "vision-team"]);
    assert_eq!(versions["data"].as_array().map(Vec::len), Some(1), "{versions}");
    t.carol.ok(["storage", "get-user-metadata", "imagenet", "--namespace", "vision-team"]);
    let usage = t.carol.json(["storage", "usage", "--namespace", "vision-team"]);
    assert_eq!((&usage["data"]["user"], &usage["data"]["objects"]), (&"vision-team".into(), &1.into()), "{usage}");
    let dest = work.path().join("dl");
    t.carol.ok([
        "storage",
        "download",
        "imagenet",
        "--namespace",
        "vision-team",
        "-d",
        dest.to_str().expect("utf-8"),
        "--no-progress",
    ]);
    assert_same_tree(&data, &dest.join("imagenet"));
    // Not found in her own namespace.
    t.carol.refused(["storage", "get-metadata", "imagenet"]);

    // A reader writing is refused, saying why; nothing is stored.
    let file = work.path().join("notes.txt");
    std::fs::write(&file, b"a reader's notes").expect("write");
    let stderr = t.carol.refused([
        "storage",
        "upload",
        file.to_str().expect("utf-8"),
        "--namespace",
        "vision-team",
        "--no-progress",
    ]);
    let said = stderr.to_lowercase();
    assert!(said.contains("reader") || said.contains("writer") || said.contains("not allowed"), "{stderr}");
    t.carol.refused(["storage", "delete", "imagenet", "--namespace", "vision-team"]);
    t.carol.refused(["storage", "edit", "imagenet", "-d", "mine now", "--namespace", "vision-team"]);
    t.carol.refused(["storage", "share", "imagenet", "--namespace", "vision-team"]);
    let listed = t.alice.json(["storage", "list", "--namespace", "vision-team"]);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");

    // A non-member: the namespace does not exist for them.
    let stderr = t.dave.refused(["storage", "list", "--namespace", "vision-team"]);
    assert!(stderr.contains("no namespace named"), "{stderr}");
    t.dave.refused(["storage", "download", "imagenet", "--namespace", "vision-team", "--no-progress"]);

    // The writer edits and deletes; the audit log, read by the admin, says who did what.
    t.bob.ok(["storage", "edit", "imagenet", "-d", "the training set", "--namespace", "vision-team"]);
    t.bob.ok(["storage", "delete", "imagenet", "--namespace", "vision-team"]);
    let log = t.alice.json(["org", "log", "vision-team"]);
    assert_eq!(log["code"], "SUCCESS", "{log}");
    let entries = log["data"]["entries"].as_array().expect("entries").clone();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap_or_default(), e["action"].as_str().unwrap_or_default()))
        .collect();
    for expected in [("bob", "upload"), ("bob", "edit"), ("bob", "delete"), ("alice", "member-add")] {
        assert!(actions.contains(&expected), "the log lacks {expected:?}: {actions:?}");
    }
    assert_eq!(actions.first(), Some(&("bob", "delete")), "newest first: {actions:?}");
    let table = t.alice.ok(["org", "log", "vision-team"]);
    for needle in ["When", "Who", "Key", "Action", "Target", "Detail", "imagenet", "member-add"] {
        assert!(table.contains(needle), "org log lacks {needle:?}:\n{table}");
    }
    // Paging: one entry at a time, each page pointing at the next.
    let first = t.alice.ok(["org", "log", "vision-team", "--limit", "1"]);
    let before = first
        .lines()
        .find_map(|l| l.strip_prefix("Older entries: add --before "))
        .unwrap_or_else(|| panic!("a full page says how to read on:\n{first}"))
        .trim()
        .to_string();
    let page = t.alice.json(["org", "log", "vision-team", "--limit", "1", "--before", &before]);
    assert_eq!(page["data"]["entries"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["data"]["entries"][0]["id"], entries[1]["id"], "the second page starts where the first ended");
    t.alice.refused(["org", "log", "vision-team", "--limit", "0"]);
    // Only an admin reads it.
    t.bob.refused(["org", "log", "vision-team"]);
}

struct Got {
    status: u16,
    body: Vec<u8>,
    content_range: Option<String>,
}

/// A plain GET, no key.
fn get(url: &str, range: Option<&str>) -> Got {
    fedml_client::block_on(async {
        let http = fedml_client::client::http_client()?;
        let mut request = http.get(url);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let broke = |e: reqwest::Error| fedml_client::error::ClientError::Error(e.to_string());
        let response = request.send().await.map_err(broke)?;
        let status = response.status().as_u16();
        let content_range = response.headers().get("content-range").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.bytes().await.map_err(broke)?.to_vec();
        Ok(Got { status, body, content_range })
    })
    .expect("GET the link")
}

#[test]
fn share_links_download_with_no_key_list_their_uses_and_end() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let t = team(&server, work.path());
    let v1 = bytes(300_000, 5);
    let v2 = bytes(200_000, 6);
    let file = work.path().join("model.bin");
    std::fs::write(&file, &v1).expect("write");
    let path = file.to_str().expect("utf-8");
    t.bob.ok(["storage", "upload", path, "-n", "model", "--namespace", "vision-team", "--no-progress"]);
    std::fs::write(&file, &v2).expect("write");
    t.bob.ok(["storage", "upload", path, "-n", "model", "--namespace", "vision-team", "--overwrite", "--no-progress"]);

    // The link alone on stdout; what it is on stderr.
    let out = t.bob.run(["storage", "share", "model", "--namespace", "vision-team", "--expires", "7d"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let latest = stdout.trim().to_string();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(latest.starts_with(&server.url) && latest.contains("/s/"), "{latest}");
    assert!(stderr.contains("shown only now") && stderr.contains("unshare"), "{stderr}");

    let whole = get(&latest, None);
    assert_eq!(whole.status, 200);
    assert!(whole.body == v2, "the latest version");
    let part = get(&latest, Some("bytes=1000-1999"));
    assert_eq!(part.status, 206);
    assert!(part.body == v2[1000..2000]);
    assert_eq!(part.content_range.as_deref(), Some("bytes 1000-1999/200000"));
    let tail = get(&latest, Some("bytes=199990-"));
    assert_eq!((tail.status, tail.body.len()), (206, 10));

    // A browser gets a page that says what the link downloads; its button, the bytes.
    let as_browser = |url: &str| {
        fedml_client::block_on(async {
            let http = fedml_client::client::http_client()?;
            let broke = |e: reqwest::Error| fedml_client::error::ClientError::Error(e.to_string());
            let response = http
                .get(url)
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
                .send()
                .await
                .map_err(broke)?;
            let status = response.status().as_u16();
            let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = response.bytes().await.map_err(broke)?.to_vec();
            Ok((status, kind, body))
        })
        .expect("GET the link as a browser")
    };
    let (status, kind, page) = as_browser(&latest);
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    let checksum = fedml_proto::checksum::of_bytes(&v2);
    for needle in
        ["model", "vision-team", "version 2", "200000 bytes", checksum.as_str(), "Link expires", "?download=1"]
    {
        assert!(page.contains(needle), "the page lacks {needle:?}:\n{page}");
    }
    let (status, kind, body) = as_browser(&format!("{latest}?download=1"));
    assert_eq!((status, kind.as_str()), (200, "application/octet-stream"));
    assert!(body == v2, "the page's button downloads the bytes");

    // A link to version 1, in JSON.
    let made = t.alice.json(["storage", "share", "model", "--namespace", "vision-team", "--version", "1"]);
    assert_eq!(made["code"], "SUCCESS", "{made}");
    let first = made["data"]["url"].as_str().expect("url").to_string();
    let first_id = made["data"]["share"]["id"].as_str().expect("id").to_string();
    assert_eq!(made["data"]["share"]["version"], 1);
    assert_eq!(made["data"]["share"]["name"], "model");
    assert_eq!(made["data"]["share"]["namespace"], "vision-team");
    assert_eq!(made["data"]["share"]["created_by"], "alice");
    assert!(get(&first, None).body == v1, "version 1");

    // Listed with their uses (never their secrets).
    let listed = t.bob.json(["storage", "shares", "--namespace", "vision-team"]);
    let links = listed["data"].as_array().expect("a list of links").clone();
    assert_eq!(links.len(), 2, "{listed}");
    let latest_link = links.iter().find(|l| l["id"] != first_id.as_str()).expect("the latest's link");
    assert_eq!(latest_link["uses"], 4, "{listed}");
    assert_eq!(latest_link["version"], serde_json::Value::Null);
    assert_eq!(latest_link["created_by"], "bob");
    assert!(!listed.to_string().contains(latest.rsplit('/').next().unwrap_or("?")), "no secret listed");
    let table = t.bob.ok(["storage", "shares", "--namespace", "vision-team"]);
    for needle in ["Id", "Name", "Version", "Created By", "Expires At", "Uses", "model", "latest", &first_id] {
        assert!(table.contains(needle), "shares lacks {needle:?}:\n{table}");
    }
    // A reader may not list or make links; the owner's own namespace has none.
    t.carol.refused(["storage", "shares", "--namespace", "vision-team"]);
    assert!(t.bob.ok(["storage", "shares"]).contains("No live links"));

    // Ended: the same 404 as a link that never was.
    let stdout = t.bob.ok(["storage", "unshare", &first_id]);
    assert!(stdout.contains("ended"), "{stdout}");
    assert_eq!(get(&first, None).status, 404);
    assert_eq!(get(&format!("{}/s/{}", server.url, "0".repeat(43)), None).status, 404);
    assert_eq!(get(&latest, None).status, 200, "the other link still works");
    let listed = t.bob.json(["storage", "shares", "--namespace", "vision-team"]);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    // Deleting a version ends the links to it, not those to the latest.
    let again = t.alice.json(["storage", "share", "model", "--namespace", "vision-team", "--version", "1"]);
    let to_v1 = again["data"]["url"].as_str().expect("url").to_string();
    assert!(get(&to_v1, None).body == v1);
    t.bob.ok(["storage", "delete", "model", "--version", "1", "--namespace", "vision-team"]);
    assert_eq!(get(&to_v1, None).status, 404, "a link outlived its version");
    assert_eq!(get(&latest, None).status, 200, "the latest's link still works");
    // Deleting the object ends its links.
    t.bob.ok(["storage", "delete", "model", "--namespace", "vision-team"]);
    assert_eq!(get(&latest, None).status, 404);

    // Bad input, each saying what to give.
    std::fs::write(&file, &v1).expect("write");
    t.alice.ok(["storage", "upload", path, "-n", "mine", "--no-progress"]);
    for bad in ["7w", "0d", "soon", "-1h"] {
        let stderr = t.alice.refused(["storage", "share", "mine", &format!("--expires={bad}")]);
        assert!(stderr.contains("--expires"), "{bad}: {stderr}");
    }
    let stderr = t.alice.refused(["storage", "share", "mine", "--version", "0"]);
    assert!(stderr.contains("numbered from 1"), "{stderr}");
    t.alice.refused(["storage", "share", "no-such-object"]);
    t.alice.refused(["storage", "unshare", "no-such-link"]);
    // In her own namespace, the owner shares without --namespace; a link answers with no key.
    let own = t.alice.ok(["storage", "share", "mine", "--expires", "1h"]);
    assert!(get(own.trim(), None).body == v1);
}

#[test]
fn admin_keys_limited_to_a_namespace_and_read_only() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let t = team(&server, work.path());
    let file = work.path().join("train.csv");
    std::fs::write(&file, bytes(50_000, 3)).expect("write");
    let path = file.to_str().expect("utf-8");
    t.bob.ok(["storage", "upload", path, "-n", "train", "--namespace", "vision-team", "--no-progress"]);
    t.carol.ok(["storage", "upload", path, "-n", "private", "--no-progress"]);

    // A training job's key: Carol's, limited to the team's data, read-only.
    let mut args = server.admin_location();
    args.extend(
        ["-o", "json", "key", "create", "carol", "--namespace", "vision-team", "--read-only", "--label", "job"]
            .map(String::from),
    );
    let out = fedml_admin(&args);
    let made: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(&out)));
    assert_eq!(made["code"], "SUCCESS", "{made}");
    assert_eq!(made["data"]["namespaces"], serde_json::json!(["vision-team"]));
    assert_eq!(made["data"]["read_only"], true);
    let job =
        As { key: made["data"]["api_key"].as_str().expect("key").to_string(), url: &server.url, config: work.path() };

    let listed = job.json(["storage", "list", "--namespace", "vision-team"]);
    assert_eq!(listed["data"][0]["dataName"], "train", "{listed}");
    let dest = work.path().join("dl");
    job.ok([
        "storage",
        "download",
        "train",
        "--namespace",
        "vision-team",
        "-d",
        dest.to_str().expect("utf-8"),
        "--no-progress",
    ]);
    assert!(std::fs::read(dest.join("train")).expect("downloaded") == bytes(50_000, 3));
    // Nothing else: not Carol's own data, not writing.
    job.refused(["storage", "list"]);
    job.refused(["storage", "get-metadata", "private"]);
    job.refused(["storage", "upload", path, "-n", "more", "--namespace", "vision-team", "--no-progress"]);

    // In a table, the limit is said; bad scopes are refused with what to do.
    let mut args = server.admin_location();
    args.extend(
        ["key", "create", "--user", "bob", "--namespace", "vision-team", "--namespace", "bob"].map(String::from),
    );
    let out = fedml_admin(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("limited to \"vision-team\", \"bob\""), "{stdout}");
    for (user, ns) in [("dave", "vision-team"), ("dave", "no-such-team"), ("dave", "with space")] {
        let mut args = server.admin_location();
        args.extend(["key", "create", user, "--namespace", ns].map(String::from));
        let out = fedml_admin(&args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{user} {ns}: {stderr}");
        assert!(stderr.contains(ns), "{stderr}");
    }
}
