//! Names that differ only by Unicode normalisation look the same, so they are one name: stored
//! in NFC whatever form it arrives in (a name taken from a macOS file name arrives decomposed),
//! and found by either form on every path — the SDK's calls, `fedml`, the native API, the FedML
//! SDK's routes. Objects stored before under a name in another form stay reachable, and
//! deletable, by that name exactly.

use std::process::Command;

use fedml_client::{ResponseCode, Target};
use serde_json::{Value, json};

use crate::harness::*;

/// "résumé.bin" composed (NFC: é is U+00E9) and decomposed (NFD: e and U+0301).
const COMPOSED: &str = "r\u{e9}sum\u{e9}.bin";
const DECOMPOSED: &str = "re\u{301}sume\u{301}.bin";

fn names(target: &Target) -> Vec<String> {
    let listed = fedml_client::list_storage_objects_with(target);
    assert!(listed.is_success(), "{}", listed.message);
    listed.data.expect("list").into_iter().map(|o| o.data_name).collect()
}

fn meta(target: &Target, name: &str) -> fedml_proto::ObjectMeta {
    let got = fedml_client::get_storage_metadata_with(name, None, target);
    assert!(got.is_success(), "{name:?}: {}", got.message);
    got.data.expect("metadata")
}

fn upload(target: &Target, path: &std::path::Path, name: Option<&str>, description: &str, overwrite: bool) {
    let o = fedml_client::UploadOptions {
        target: target.clone(),
        name: name.map(str::to_string),
        description: Some(description.to_string()),
        overwrite,
        ..Default::default()
    };
    let done = fedml_client::upload_with(path, &o);
    assert!(done.is_success(), "{name:?}: {}", done.message);
}

#[test]
fn either_form_of_a_name_finds_the_one_object_on_every_path() {
    assert_ne!(COMPOSED, DECOMPOSED);
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    // A file whose own name is decomposed, as macOS names it, uploaded under that name.
    let file = work.path().join(DECOMPOSED);
    std::fs::write(&file, bytes(200_000, 1)).expect("write");
    let done = fedml_client::upload_with(&file, &upload_opts(alice.clone(), DECOMPOSED)).data.expect("stored");
    assert_eq!(done.object.data_name, COMPOSED, "stored in NFC");
    assert!(done.url.ends_with(&fedml_proto::encode_path_segment(COMPOSED)), "{}", done.url);
    assert_eq!(names(&alice), [COMPOSED]);

    // The other form is the same name: refused as taken, and an overwrite is its next version.
    let taken = fedml_client::upload_with(&file, &upload_opts(alice.clone(), COMPOSED));
    assert!(taken.code == ResponseCode::Failure && taken.message.contains("already exists"), "{}", taken.message);
    upload(&alice, &file, Some(DECOMPOSED), "v2", true);
    assert_eq!(names(&alice), [COMPOSED], "one object, whatever form was typed");

    let mut description = "v2".to_string();
    for name in [COMPOSED, DECOMPOSED] {
        let m = meta(&alice, name);
        assert_eq!((m.data_name.as_str(), m.version, &m.description), (COMPOSED, 2, &description), "{name:?}");
        assert!(fedml_client::get_storage_user_defined_metadata_with(name, Some(1), &alice).is_success());
        let versions = fedml_client::list_versions_with(name, &alice).data.expect("versions");
        assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1], "{name:?}");
        assert!(fedml_client::diff_versions_with(name, 1, None, &alice).is_success(), "{name:?}");
        // A download lands under the object's own name, whichever form asked for it.
        let dest = work.path().join(format!("dl-{}", name.len()));
        let got = fedml_client::download_with(name, &download_opts(alice.clone(), &dest));
        assert!(got.is_success(), "{name:?}: {}", got.message);
        assert_eq!(got.data.expect("path"), dest.join(COMPOSED));
        let landed: Vec<String> = std::fs::read_dir(&dest)
            .expect("dest")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(".fedml-"))
            .collect();
        assert_eq!(landed, [COMPOSED], "{name:?}");
        description = format!("edited as {name}");
        let edit = fedml_client::EditObject { description: Some(description.clone()), ..Default::default() };
        assert!(fedml_client::update_storage_metadata_with(name, &edit, &alice).is_success(), "{name:?}");
        assert_eq!(meta(&alice, COMPOSED).description, description);
    }
    // The dashboard's search, typed in either form.
    for typed in ["sume\u{301}", "sum\u{e9}"] {
        let path = format!("/api/v1/objects?q={}", fedml_proto::encode_path_segment(typed));
        let key = alice.api_key.as_deref().expect("key");
        let page = fedml_client::block_on(async {
            let client = fedml_client::client::Client::new(&server.url, key)?;
            let r = client.http().get(format!("{}{path}", server.url)).bearer_auth(key).send().await;
            Ok(r.expect("sent").json::<Value>().await.expect("JSON"))
        })
        .expect("search");
        assert_eq!(page["data"]["objects"][0]["dataName"], COMPOSED, "{typed:?}: {page}");
    }
    // `fedml` with the decomposed form.
    let out = Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["storage", "get-metadata", DECOMPOSED, "-o", "json", "-k"])
        .arg(alice.api_key.as_deref().expect("key"))
        .args(["--server", &server.url])
        .env("FEDML_CONFIG_DIR", work.path().join("cfg"))
        .output()
        .expect("run fedml");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((v["code"].as_str(), v["data"]["dataName"].as_str()), (Some("SUCCESS"), Some(COMPOSED)), "{v}");

    // A directory named decomposed on disk, its name taken from it.
    let tree = work.path().join("tre\u{301}e");
    sample_tree(&tree);
    let dir =
        fedml_client::upload_with(&tree, &fedml_client::UploadOptions { target: alice.clone(), ..Default::default() });
    assert_eq!(dir.data.expect("stored").object.data_name, "tr\u{e9}e");
    for name in ["tr\u{e9}e", "tre\u{301}e"] {
        let files = fedml_client::list_object_files_with(name, "", true, None, None, &alice);
        assert!(files.is_success() && !files.data.expect("files").is_empty(), "{name:?}");
        // Downloaded by either form (twice: the second replaces the first, by its marker).
        for _ in 0..2 {
            let dest = work.path().join("trees");
            let got = fedml_client::download_with(name, &download_opts(alice.clone(), &dest));
            assert!(got.is_success(), "{name:?}: {}", got.message);
            assert_same_tree(&tree, &dest.join("tr\u{e9}e"));
        }
    }

    // One version goes by one form, the whole name by the other.
    assert!(fedml_client::delete_version_with(COMPOSED, 1, None, &alice).is_success());
    assert!(fedml_client::delete_with(DECOMPOSED, None, &alice).is_success());
    assert!(fedml_client::delete_with("tre\u{301}e", None, &alice).is_success());
    assert!(names(&alice).is_empty());
}

#[test]
fn objects_stored_under_another_form_before_stay_reachable_and_deletable() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(10_000, 2)).expect("write");
    // As a release before normalisation stored it: under the decomposed form.
    upload(&alice, &file, Some("planted"), "legacy", false);
    catalogue_sql(&server, format!("UPDATE objects SET name = '{DECOMPOSED}' WHERE name = 'planted'"));
    assert_eq!(names(&alice), [DECOMPOSED]);
    // Found by the name as it is listed; an overwrite by that name is its next version.
    assert_eq!(meta(&alice, DECOMPOSED).description, "legacy");
    upload(&alice, &file, Some(DECOMPOSED), "legacy v2", true);
    let legacy = meta(&alice, DECOMPOSED);
    assert_eq!((legacy.data_name.as_str(), legacy.version), (DECOMPOSED, 2));
    // A new upload under the composed form is a name of its own (stored in NFC), and each of
    // the two is found by its own form.
    upload(&alice, &file, Some(COMPOSED), "new", false);
    let mut listed = names(&alice);
    listed.sort();
    let mut both = vec![COMPOSED.to_string(), DECOMPOSED.to_string()];
    both.sort();
    assert_eq!(listed, both);
    assert_eq!(meta(&alice, DECOMPOSED).description, "legacy v2");
    assert_eq!(meta(&alice, COMPOSED).description, "new");
    // The old one goes by its own name, with its versions; the decomposed form then finds the
    // composed one, as for every name stored since.
    assert!(fedml_client::delete_with(DECOMPOSED, None, &alice).is_success());
    assert_eq!(names(&alice), [COMPOSED]);
    assert_eq!(meta(&alice, DECOMPOSED).description, "new");
    assert!(fedml_client::delete_with(DECOMPOSED, None, &alice).is_success());
    assert!(names(&alice).is_empty());
}

#[test]
fn the_fedml_routes_store_and_find_either_form_as_one_name() {
    let server = TestServer::start();
    let raw = |method: &str, path: &str, body: Option<Value>| {
        crate::bad_input::raw(&server, method, path, body.map(|b| b.to_string()).as_deref())
    };
    let ok = |(status, answer): (u16, Value)| {
        assert_eq!((status, answer["code"].as_str()), (200, Some("SUCCESS")), "{answer}");
        answer["data"].clone()
    };
    let dataset = |name: &str, url: &str| json!({"datasetName": name, "description": null, "fileSize": 5, "fileUrl": url, "tagNameList": []});
    // The SDK names the file key and the dataset from the same (decomposed) name.
    let (_, _, url) = crate::bad_input::compat_uploaded(&server, DECOMPOSED, b"hello");
    let made = ok(raw("POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(dataset(DECOMPOSED, &url))));
    assert_eq!(made["datasetName"], COMPOSED, "{made}");
    for name in [COMPOSED, DECOMPOSED] {
        let path =
            format!("/fedmlOpsServer/api/v1/cli/dataset/meta?datasetName={}", fedml_proto::encode_path_segment(name));
        assert_eq!(ok(raw("GET", &path, None))["datasetName"], COMPOSED, "{name:?}");
    }
    // A directory arrives as "<name>.zip": recognised whichever form each part was sent in.
    let (_, _, url) = crate::bad_input::compat_uploaded(&server, &format!("{DECOMPOSED}-dir.zip"), b"PK");
    ok(raw("POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(dataset(&format!("{COMPOSED}-dir"), &url))));
    let dir = meta(&server.admin(), &format!("{DECOMPOSED}-dir"));
    assert_eq!((dir.data_name, dir.kind), (format!("{COMPOSED}-dir"), fedml_proto::ObjectKind::Directory));
    // The delete by the other form.
    let path = format!("/fedmlOpsServer/api/v1/cli/dataset?datasetName={}", fedml_proto::encode_path_segment(COMPOSED));
    ok(raw("DELETE", &path, None));
    assert_eq!(names(&server.admin()), [format!("{COMPOSED}-dir")]);
}
