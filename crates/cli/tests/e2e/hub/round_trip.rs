//! A repository's life through the Hub API: created (a model and a dataset of one id, distinct),
//! files sent as LFS objects and inside commits, listed, read whole and by ranges at `main` and
//! at each commit, files and folders deleted, a stale parent refused; and a directory uploaded
//! with `fedml` read as a repository.

use serde_json::{Value, json};

use super::*;

fn paths(listing: &Value) -> Vec<String> {
    listing.as_array().expect("a list").iter().map(|e| e["path"].as_str().expect("path").to_string()).collect()
}

#[test]
fn a_repository_lives_through_the_hub_protocol() {
    let server = TestServer::start();
    let key = server.new_user("alice");
    let hub = Hub::new(&server, &key);

    // The login check.
    let me = hub.get("/api/whoami-v2");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["name"], "alice");
    assert_eq!(me.json()["auth"]["accessToken"]["role"], "write");

    // A model and a dataset of one id are two repositories; a second create is 409.
    let made = hub.create("model", "alice/tiny");
    assert_eq!(made.status, 200, "{}", made.text());
    assert_eq!(made.json()["url"], format!("{}/alice/tiny", server.url));
    hub.create("model", "alice/tiny").refused(409, None);
    let made = hub.create("dataset", "alice/tiny");
    assert_eq!(made.status, 200, "{}", made.text());
    assert_eq!(made.json()["url"], format!("{}/datasets/alice/tiny", server.url));
    let empty = hub.get("/api/models/alice/tiny");
    assert_eq!(empty.status, 200, "{}", empty.text());
    let first_commit = empty.json()["sha"].as_str().expect("sha").to_string();
    assert_eq!(first_commit.len(), 40);
    assert_eq!(empty.json()["siblings"], json!([]));

    // preupload: a small file travels in the commit, a large one as an LFS object.
    let weights = bytes(3 << 20, 7);
    let config = br#"{"model_type": "tiny"}"#.to_vec();
    let pre = hub.json(
        "POST",
        "/api/models/alice/tiny/preupload/main",
        &json!({"files": [{"path": "config.json", "size": config.len(), "sample": ""},
                          {"path": "weights/model.safetensors", "size": weights.len(), "sample": ""}]}),
    );
    assert_eq!(pre.status, 200, "{}", pre.text());
    let pre = pre.json();
    let modes: Vec<&str> =
        pre["files"].as_array().expect("files").iter().map(|f| f["uploadMode"].as_str().expect("mode")).collect();
    assert_eq!(modes, ["regular", "lfs"]);

    // The LFS object: the batch names a signed URL, the PUT (no key) takes the bytes; a second
    // batch asks for nothing.
    hub.send_lfs("", "alice/tiny", &[&weights]);
    let again = hub.batch("", "alice/tiny", &[&weights]);
    assert_eq!(again.status, 200);
    assert!(again.json()["objects"][0]["actions"].is_null(), "{}", again.text());
    assert_eq!(again.header("content-type").as_deref(), Some("application/vnd.git-lfs+json"));

    let c1 = hub.commit(
        "models",
        "alice/tiny",
        "Upload the model",
        Some(&first_commit),
        &[
            regular("config.json", &config),
            regular("notes/hello.txt", HELLO),
            lfs("weights/model.safetensors", &weights),
        ],
    );
    assert_eq!(c1.status, 200, "{}", c1.text());
    let c1_oid = c1.json()["commitOid"].as_str().expect("commitOid").to_string();
    assert_eq!(c1.json()["commitUrl"], format!("{}/alice/tiny/commit/{c1_oid}", server.url));

    // The info names the commit and its files.
    let info = hub.get("/api/models/alice/tiny/revision/main?blobs=true");
    assert_eq!(info.status, 200, "{}", info.text());
    let info = info.json();
    assert_eq!(info["sha"], c1_oid.as_str());
    assert_eq!(info["id"], "alice/tiny");
    let siblings: Vec<&str> =
        info["siblings"].as_array().expect("siblings").iter().map(|s| s["rfilename"].as_str().expect("name")).collect();
    assert_eq!(siblings, ["config.json", "notes/hello.txt", "weights/model.safetensors"]);
    assert_eq!(info["siblings"][2]["lfs"]["sha256"], sha256(&weights));
    assert!(!info.to_string().contains("xet"), "Xet is never advertised: {info}");

    // The tree: the top, then everything below it.
    let top = hub.get("/api/models/alice/tiny/tree/main");
    assert_eq!(paths(&top.json()), ["config.json", "notes", "weights"]);
    assert_eq!(top.json()[1]["type"], "directory");
    let all = hub.get("/api/models/alice/tiny/tree/main?recursive=True").json();
    assert_eq!(paths(&all), ["config.json", "notes", "notes/hello.txt", "weights", "weights/model.safetensors"]);
    assert_eq!(all[2]["oid"], HELLO_GIT_SHA1, "a regular file's oid is its git blob id");
    assert_eq!(all[4]["lfs"]["oid"], sha256(&weights));
    assert_eq!(all[4]["size"], weights.len());
    let below = hub.get("/api/models/alice/tiny/tree/main/weights");
    assert_eq!(paths(&below.json()), ["weights/model.safetensors"]);
    hub.get("/api/models/alice/tiny/tree/main/nowhere").refused(404, Some("EntryNotFound"));

    // paths-info, as a form: what exists, the rest left out.
    let info = hub.send(
        "POST",
        "/api/models/alice/tiny/paths-info/main",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(b"paths=config.json&paths=missing.txt&paths=weights&expand=False".to_vec()),
    );
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(paths(&info.json()), ["config.json", "weights"]);

    // resolve: HEAD gives what the cache is keyed by; GET streams whole and by ranges.
    let head = hub.send("HEAD", "/alice/tiny/resolve/main/notes/hello.txt", &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-repo-commit").as_deref(), Some(c1_oid.as_str()));
    assert_eq!(head.header("etag"), Some(format!("\"{HELLO_GIT_SHA1}\"")));
    assert_eq!(head.header("content-length").as_deref(), Some("6"));
    let head = hub.send("HEAD", "/alice/tiny/resolve/main/weights/model.safetensors", &[], None);
    assert_eq!(head.header("x-linked-etag"), Some(format!("\"{}\"", sha256(&weights))));
    assert_eq!(head.header("content-length"), Some(weights.len().to_string()));
    assert_eq!(head.header("accept-ranges").as_deref(), Some("bytes"));
    let whole = hub.get("/alice/tiny/resolve/main/weights/model.safetensors");
    assert!(whole.status == 200 && whole.body == weights, "HTTP {}", whole.status);
    let url = format!("/alice/tiny/resolve/{c1_oid}/weights/model.safetensors");
    let part = hub.send("GET", &url, &[("range", "bytes=1000000-1000099")], None);
    assert_eq!(part.status, 206);
    assert!(part.body == weights[1_000_000..1_000_100]);
    assert_eq!(part.header("content-range"), Some(format!("bytes 1000000-1000099/{}", weights.len())));
    let resumed = hub.send("GET", &url, &[("range", &format!("bytes={}-", weights.len() - 10))], None);
    assert!(resumed.status == 206 && resumed.body == weights[weights.len() - 10..]);
    let suffix = hub.send("GET", &url, &[("range", "bytes=-5")], None);
    assert!(suffix.status == 206 && suffix.body == weights[weights.len() - 5..]);
    let past = hub.send("GET", &url, &[("range", "bytes=99999999-")], None);
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some(format!("bytes */{}", weights.len())));

    // A second commit deletes a file and a folder; the first commit still reads as it was.
    let c2 = hub.commit(
        "models",
        "alice/tiny",
        "Tidy\n\nno notes",
        None,
        &[deleted("config.json"), deleted_folder("notes/"), regular("README.md", b"# tiny\n")],
    );
    assert_eq!(c2.status, 200, "{}", c2.text());
    let c2_oid = c2.json()["commitOid"].as_str().expect("oid").to_string();
    let gone = hub.send("HEAD", "/alice/tiny/resolve/main/config.json", &[], None);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.header("x-error-code").as_deref(), Some("EntryNotFound"));
    assert_eq!(gone.header("x-repo-commit").as_deref(), Some(c2_oid.as_str()));
    let old = hub.get(&format!("/alice/tiny/resolve/{c1_oid}/config.json"));
    assert!(old.status == 200 && old.body == config);
    assert_eq!(
        paths(&hub.get("/api/models/alice/tiny/tree/main?recursive=true").json()),
        ["README.md", "weights", "weights/model.safetensors"]
    );

    // The commits, newest first: the two commits and the creation.
    let commits = hub.get("/api/models/alice/tiny/commits/main").json();
    let ids: Vec<&str> = commits.as_array().expect("commits").iter().map(|c| c["id"].as_str().expect("id")).collect();
    assert_eq!(ids, [c2_oid.as_str(), c1_oid.as_str(), first_commit.as_str()]);
    let from_c1 = hub.get(&format!("/api/models/alice/tiny/commits/{c1_oid}")).json();
    assert_eq!(from_c1.as_array().map(Vec::len), Some(2));

    // A commit on a stale parent is refused (412) and changes nothing.
    let stale = hub.commit("models", "alice/tiny", "late", Some(&c1_oid), &[regular("late.txt", b"late")]);
    stale.refused(412, None);
    assert_eq!(hub.get("/api/models/alice/tiny").json()["sha"], c2_oid.as_str());

    // What is not there says what: the repository, the revision, the file.
    hub.get("/api/models/alice/nothing").refused(404, Some("RepoNotFound"));
    hub.get("/api/models/alice/tiny/revision/v1.0").refused(404, Some("RevisionNotFound"));
    hub.get(&format!("/api/models/alice/tiny/revision/{}", "0".repeat(40))).refused(404, Some("RevisionNotFound"));
    hub.get("/alice/tiny/resolve/main/nope.bin").refused(404, Some("EntryNotFound"));
    hub.get("/alice/tiny/resolve/main/weights").refused(404, Some("EntryNotFound"));
    hub.get("/alice/nothing/resolve/main/x").refused(404, Some("RepoNotFound"));

    // The dataset of the same id is still empty and apart; it takes its own commits.
    let d = hub.commit("datasets", "alice/tiny", "data", None, &[regular("data/train.csv", b"text,label\nhi,1\n")]);
    assert_eq!(d.status, 200, "{}", d.text());
    let csv = hub.get("/datasets/alice/tiny/resolve/main/data/train.csv");
    assert_eq!(csv.body, b"text,label\nhi,1\n");
    hub.get("/alice/tiny/resolve/main/data/train.csv").refused(404, Some("EntryNotFound"));

    // delete_repo.
    let gone =
        hub.json("DELETE", "/api/repos/delete", &json!({"name": "tiny", "organization": "alice", "type": "dataset"}));
    assert_eq!(gone.status, 200, "{}", gone.text());
    hub.get("/api/datasets/alice/tiny").refused(404, Some("RepoNotFound"));
    assert_eq!(hub.get("/api/models/alice/tiny").status, 200, "the model of the same id stays");

    // Each commit keeps its message: its title, and what follows the blank line.
    assert_eq!((commits[0]["title"].as_str(), commits[0]["message"].as_str()), (Some("Tidy"), Some("no notes")));
    assert_eq!(commits[1]["title"], "Upload the model");
}

#[test]
fn a_directory_uploaded_with_fedml_is_a_model_repository_and_trees_page() {
    let server = TestServer::start();
    let key = server.new_user("bea");
    let work = tempfile::tempdir().expect("tmp");
    let tree = work.path().join("tree");
    sample_tree(&tree);
    let r = fedml_client::upload_with(&tree, &upload_opts(server.target(&key), "uploaded"));
    assert!(r.is_success(), "{}", r.message);
    let hub = Hub::new(&server, &key);
    let listed = hub.get("/api/models/bea/uploaded/tree/main?recursive=true");
    assert_eq!(listed.status, 200, "{}", listed.text());
    let files: Vec<Value> =
        listed.json().as_array().expect("list").iter().filter(|e| e["type"] == "file").cloned().collect();
    let on_disk = tree_listing(&tree);
    let on_disk_files: Vec<&(String, Option<Vec<u8>>)> = on_disk.iter().filter(|(_, d)| d.is_some()).collect();
    assert_eq!(files.len(), on_disk_files.len(), "{}", listed.text());
    for (path, data) in on_disk_files {
        let data = data.as_ref().expect("a file");
        let got = hub.get(&format!("/bea/uploaded/resolve/main/{path}"));
        assert!(got.status == 200 && got.body == *data, "{path}: HTTP {}", got.status);
    }

    // 1,100 files: the tree pages by Link, 1,000 at a time.
    hub.create("model", "bea/many").refused_or_ok();
    let ops: Vec<Value> = (0..1100).map(|i| regular(&format!("f/{i:04}.txt"), format!("{i}").as_bytes())).collect();
    let c = hub.commit("models", "bea/many", "many", None, &ops);
    assert_eq!(c.status, 200, "{}", c.text());
    let first = hub.get("/api/models/bea/many/tree/main/f");
    assert_eq!(first.json().as_array().map(Vec::len), Some(1000));
    let link = first.header("link").expect("a next page");
    let next = link.trim_start_matches('<').split('>').next().expect("URL").to_string();
    assert!(link.ends_with("rel=\"next\""), "{link}");
    let second = hub.get(&next);
    assert_eq!(second.status, 200, "{}", second.text());
    let rest = paths(&second.json());
    assert_eq!(rest.len(), 100);
    assert_eq!(rest[0], "f/1000.txt");
    assert!(second.header("link").is_none());
}

impl Answer {
    #[track_caller]
    fn refused_or_ok(&self) {
        assert!(self.status == 200 || self.status == 409, "{}", self.text());
    }
}
