//! What a new version keeps: an overwrite that is not given a description, tags or user metadata
//! keeps those of the version it replaces (as that version is at the commit, edits included);
//! one given, even empty, sets it. By the SDK (files packed and whole, directories), by the
//! native API as this release's clients and the clients before it send it, by overwrites racing
//! over two servers, and by the FedML SDK's routes. (`fedml storage upload`'s flags: `cli`; the
//! Python package: crates/python/tests; the dashboard: tests/dashboard.)

use std::collections::BTreeMap;

use fedml_client::Target;
use fedml_client::client::Client;
use fedml_platform::catalogue::Retention;
use fedml_proto::{CompleteUpload, CompletedPart, ObjectMeta, UploadSession};
use serde_json::{Value, json};

use crate::harness::*;

type Described = (String, Vec<String>, BTreeMap<String, String>);

fn described(meta: &ObjectMeta) -> Described {
    (meta.description.clone(), meta.tags.clone(), meta.user_metadata.clone())
}

fn expect(description: &str, tags: &[&str], metadata: &[(&str, &str)]) -> Described {
    (
        description.to_string(),
        tags.iter().map(|t| t.to_string()).collect(),
        metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    )
}

fn metadata(target: &Target, name: &str, version: Option<u64>) -> ObjectMeta {
    let got = fedml_client::get_storage_metadata_with(name, version, target);
    assert!(got.is_success(), "{}", got.message);
    got.data.expect("metadata")
}

/// What one upload is given: `None` leaves it out.
#[derive(Default, Clone)]
struct Given {
    description: Option<&'static str>,
    tags: Option<&'static [&'static str]>,
    metadata: Option<&'static [(&'static str, &'static str)]>,
}

/// Stores `path` as a version of `name` (`overwrite`), given what `given` holds; answers the
/// object the upload's answer describes.
fn store(target: &Target, path: &std::path::Path, name: &str, given: &Given, dedup: bool) -> ObjectMeta {
    let mut o = upload_opts(target.clone(), name);
    o.overwrite = true;
    o.dedup = dedup;
    o.description = given.description.map(str::to_string);
    o.tags = given.tags.map(|t| t.iter().map(|t| t.to_string()).collect());
    o.metadata = given.metadata.map(|m| m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let done = fedml_client::upload_with(path, &o);
    assert!(done.is_success(), "{}", done.message);
    done.data.expect("answer").object
}

#[test]
fn an_overwrite_keeps_what_it_is_not_given_and_clears_what_it_is_given_empty() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let file = work.path().join("model.bin");
    std::fs::write(&file, bytes(300_000, 1)).expect("write");
    let tree = work.path().join("tree");
    sample_tree(&tree);
    // A file packed, a file whole, a directory: one path of the server's, whatever the bytes.
    for (name, path, dedup) in [("packed.bin", &file, true), ("whole.bin", &file, false), ("tree", &tree, true)] {
        let nothing = Given::default();
        let all = Given { description: Some("first"), tags: Some(&["a", "b"]), metadata: Some(&[("k", "v")]) };
        let first = expect("first", &["a", "b"], &[("k", "v")]);
        assert_eq!(described(&store(&alice, path, name, &all, dedup)), first, "{name}: version 1");
        // Nothing given: everything kept, in the upload's answer and in every read of it.
        let v2 = store(&alice, path, name, &nothing, dedup);
        assert_eq!((v2.version, described(&v2)), (2, first.clone()), "{name}: version 2 keeps all three");
        assert_eq!(described(&metadata(&alice, name, None)), first, "{name}");
        let user = fedml_client::get_storage_user_defined_metadata_with(name, None, &alice).data.expect("user meta");
        assert_eq!(user, first.2, "{name}");
        let listed = fedml_client::list_storage_objects_with(&alice).data.expect("list");
        let row = listed.iter().find(|o| o.data_name == name).expect("listed");
        assert_eq!(described(row), first, "{name}: listed");
        // One given: that one set, the others kept.
        let v3 = store(&alice, path, name, &Given { description: Some("third"), ..nothing.clone() }, dedup);
        assert_eq!(described(&v3), expect("third", &["a", "b"], &[("k", "v")]), "{name}: version 3");
        // Given empty: cleared; then nothing given keeps them cleared.
        let empty = Given { description: Some(""), tags: Some(&[]), metadata: Some(&[]) };
        assert_eq!(described(&store(&alice, path, name, &empty, dedup)), expect("", &[], &[]), "{name}: v4");
        assert_eq!(described(&store(&alice, path, name, &nothing, dedup)), expect("", &[], &[]), "{name}: v5");
        let v6 = store(&alice, path, name, &Given { tags: Some(&["c"]), ..nothing.clone() }, dedup);
        assert_eq!(described(&v6), expect("", &["c"], &[]), "{name}: version 6");
        // An edit of the latest is what the next version keeps.
        let edit = fedml_client::EditObject { description: Some("edited".into()), ..Default::default() };
        assert!(fedml_client::update_storage_metadata_with(name, &edit, &alice).is_success());
        let v7 = store(&alice, path, name, &Given { metadata: Some(&[("m", "7")]), ..nothing.clone() }, dedup);
        assert_eq!(described(&v7), expect("edited", &["c"], &[("m", "7")]), "{name}: version 7");
        // Every earlier version keeps its own.
        let by_version = [
            expect("first", &["a", "b"], &[("k", "v")]),
            expect("first", &["a", "b"], &[("k", "v")]),
            expect("third", &["a", "b"], &[("k", "v")]),
            expect("", &[], &[]),
            expect("", &[], &[]),
            expect("edited", &["c"], &[]),
        ];
        for (i, want) in by_version.iter().enumerate() {
            let v = i as u64 + 1;
            assert_eq!(&described(&metadata(&alice, name, Some(v))), want, "{name}: version {v}");
        }
        let versions = fedml_client::list_versions_with(name, &alice).data.expect("versions");
        let descriptions: Vec<&str> = versions.iter().map(|v| v.description.as_str()).collect();
        assert_eq!(descriptions, ["edited", "edited", "", "", "third", "first", "first"], "{name}");
    }
    // A new name has nothing to keep: an overwrite of a name not stored yet starts without.
    let fresh = store(&alice, &file, "fresh.bin", &Given::default(), true);
    assert_eq!((fresh.version, described(&fresh)), (1, expect("", &[], &[])));
}

/// Opens a session with the raw JSON `body` (what a client of any release sends), sends `data`
/// and completes it; answers the object.
fn raw_upload(server: &TestServer, key: &str, body: Value, data: &[u8]) -> ObjectMeta {
    let client = Client::new(&server.url, key).expect("client");
    let (data, url, key) = (data.to_vec(), server.url.clone(), key.to_string());
    fedml_client::block_on(async move {
        let answer: Value = client
            .http()
            .post(format!("{url}/api/v1/uploads"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("session opened")
            .json()
            .await
            .expect("JSON");
        let session: UploadSession = serde_json::from_value(answer["data"].clone()).expect("a session");
        let part = client.part_urls(&session.upload_id, 1, 1).await?.remove(0);
        let sent = client.http().put(&part.url).body(data.clone()).send().await.expect("part sent");
        let etag = part_tag(sent.headers()).expect("an ETag");
        let completion = CompleteUpload {
            parts: vec![CompletedPart { part_number: 1, etag }],
            size: data.len() as u64,
            checksum: fedml_proto::checksum::of_bytes(&data),
            content: None,
        };
        Ok(client.complete_upload(&session.upload_id, &completion).await?.object)
    })
    .expect("upload")
}

#[test]
fn the_native_api_keeps_what_is_left_out_or_null_and_sets_what_is_sent() {
    let server = TestServer::start();
    let key = server.new_user("alice");
    let alice = server.target(&key);
    let base = json!({"name": "raw.bin", "service": "R2", "kind": "file", "size": 100, "overwrite": true});
    let with = |fields: Value| {
        let mut body = base.clone();
        for (k, v) in fields.as_object().expect("fields") {
            body[k] = v.clone();
        }
        body
    };
    let data = bytes(100, 3);
    let set = with(json!({"description": "one", "tags": ["x"], "metadata": {"k": "v"}}));
    let one = expect("one", &["x"], &[("k", "v")]);
    assert_eq!(described(&raw_upload(&server, &key, set, &data)), one);
    // Left out, or null: kept (what this release's clients send for "not given").
    assert_eq!(described(&raw_upload(&server, &key, base.clone(), &data)), one, "left out");
    let nulls = with(json!({"description": null, "tags": null, "metadata": null}));
    assert_eq!(described(&raw_upload(&server, &key, nulls, &data)), one, "null");
    // Some given, some left out.
    let some = with(json!({"tags": ["y", "z"]}));
    assert_eq!(described(&raw_upload(&server, &key, some, &data)), expect("one", &["y", "z"], &[("k", "v")]));
    // The clients before this rule always sent all three, empty when not given: taken at their
    // word, as they always were (the version is cleared, as with those clients' own server).
    let old_client = with(json!({"description": "", "tags": [], "metadata": {}}));
    assert_eq!(described(&raw_upload(&server, &key, old_client, &data)), expect("", &[], &[]), "old client");
    assert_eq!(metadata(&alice, "raw.bin", None).version, 5);
    // What is given is checked as before; what is left out is not there to check.
    let (status, answer) = fedml_client::block_on(async {
        let client = Client::new(&server.url, &key)?;
        let r = client
            .http()
            .post(format!("{}/api/v1/uploads", server.url))
            .bearer_auth(&key)
            .json(&with(json!({"tags": ["a,b"]})))
            .send()
            .await
            .expect("sent");
        Ok((r.status().as_u16(), r.json::<Value>().await.expect("JSON")))
    })
    .expect("request");
    assert_eq!((status, answer["code"].as_str()), (400, Some("FAILURE")), "{answer}");
}

#[test]
fn overwrites_at_once_each_keep_what_the_version_they_replace_had() {
    let a = TestServer::start_with_retention(Retention { keep: 1000, max_age_ms: None });
    let b = TestServer::start_sharing(&a);
    let work = tempfile::tempdir().expect("tmp");
    let key = a.new_user("alice");
    let path = work.path().join("base.bin");
    std::fs::write(&path, bytes(50_000, 7)).expect("write");
    let base = Given { description: Some("base"), tags: Some(&["base"]), metadata: Some(&[("m", "base")]) };
    store(&a.target(&key), &path, "contested", &base, true);
    // Each racer gives one of the three, or none; which one it gave is known by its version.
    const DESCRIPTIONS: [&str; 6] = ["d0", "d1", "d2", "d3", "d4", "d5"];
    const TAGS: [&[&str]; 6] = [&["t0"], &["t1"], &["t2"], &["t3"], &["t4"], &["t5"]];
    const METADATA: [&[(&str, &str)]; 6] =
        [&[("m", "0")], &[("m", "1")], &[("m", "2")], &[("m", "3")], &[("m", "4")], &[("m", "5")]];
    let mut gave: BTreeMap<u64, usize> = BTreeMap::new();
    for round in 0..6usize {
        let jobs: Vec<Job<(u64, usize)>> = (0..4usize)
            .map(|i| {
                let target = if i % 2 == 0 { a.target(&key) } else { b.target(&key) };
                let file = work.path().join(format!("r{round}-{i}.bin"));
                std::fs::write(&file, bytes(50_000 + i, (round * 4 + i) as u64)).expect("write");
                let given = match i {
                    0 => Given { description: Some(DESCRIPTIONS[round]), ..Default::default() },
                    1 => Given { tags: Some(TAGS[round]), ..Default::default() },
                    2 => Given { metadata: Some(METADATA[round]), ..Default::default() },
                    _ => Given::default(),
                };
                Box::new(move || (store(&target, &file, "contested", &given, i != 3).version, i)) as Job<(u64, usize)>
            })
            .collect();
        for (version, racer) in at_once(jobs) {
            assert!(gave.insert(version, racer).is_none(), "version {version} given twice");
        }
    }
    assert_eq!(gave.keys().copied().collect::<Vec<_>>(), (2..=25).collect::<Vec<_>>());
    let alice = a.target(&key);
    let mut before = described(&metadata(&alice, "contested", Some(1)));
    for (&version, &racer) in &gave {
        let now = described(&metadata(&alice, "contested", Some(version)));
        // Set what it gave; everything else exactly as the version it replaced (the one before
        // it), whichever of the racers committed first.
        let mut want = before.clone();
        let round = (version as usize - 2) / 4;
        match racer {
            0 => want.0 = DESCRIPTIONS[round].to_string(),
            1 => want.1 = TAGS[round].iter().map(|t| t.to_string()).collect(),
            2 => want.2 = METADATA[round].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            _ => {}
        }
        assert_eq!(now, want, "version {version} (racer {racer}) against the version it replaced");
        before = now;
    }
}

#[test]
fn the_fedml_routes_give_what_the_sdk_was_given_and_never_replace() {
    let server = TestServer::start();
    let data = bytes(60, 9);
    // The SDK's upload(description=None, tag_list=[]): a null description and an empty list.
    let (_, _, url) = crate::bad_input::compat_uploaded(&server, "sdk.bin", &data);
    let dataset = |name: &str, description: Value, tags: Value, url: &str| {
        let body = json!({"datasetName": name, "description": description, "fileSize": 60, "fileUrl": url,
            "tagNameList": tags});
        crate::bad_input::raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(&body.to_string()))
    };
    let (status, answer) = dataset("sdk", Value::Null, json!([]), &url);
    assert_eq!((status, answer["code"].as_str()), (200, Some("SUCCESS")), "{answer}");
    assert_eq!(described(&metadata(&server.admin(), "sdk", None)), expect("", &[], &[]));
    // Given: set.
    let (_, _, url) = crate::bad_input::compat_uploaded(&server, "given.bin", &data);
    let (status, answer) = dataset("given", json!("from the SDK"), json!(["t"]), &url);
    assert_eq!((status, answer["code"].as_str()), (200, Some("SUCCESS")), "{answer}");
    assert_eq!(described(&metadata(&server.admin(), "given", None)), expect("from the SDK", &["t"], &[]));
    // The SDK has no overwrite: a dataset record for a name stored is refused, and what the name
    // holds is untouched (so there is never a version for "not given" to keep anything of).
    let (_, _, url) = crate::bad_input::compat_uploaded(&server, "again.bin", &data);
    let (status, answer) = dataset("given", Value::Null, json!([]), &url);
    assert_eq!((status, answer["code"].as_str()), (200, Some("FAILURE")), "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("already exists")), "{answer}");
    let kept = metadata(&server.admin(), "given", None);
    assert_eq!((kept.version, described(&kept)), (1, expect("from the SDK", &["t"], &[])));
}
