use std::collections::BTreeMap;

use fedml_client::{ObjectKind, ResponseCode};

use crate::harness::*;

#[test]
fn file_round_trip_with_every_call() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    // 20 MiB + 5 bytes: three parts of 8 MiB, the last one short.
    let data = bytes((20 << 20) + 5, 1);
    let path = work.path().join("model.safetensors");
    std::fs::write(&path, &data).expect("write");

    let metadata: BTreeMap<String, String> = [("framework".to_string(), "torch".to_string())].into();
    let mut options = upload_opts(server.admin(), "model-v1");
    options.description = Some("first model".into());
    options.metadata = Some(metadata.clone());
    options.tags = Some(vec!["llm".into(), "v1".into()]);
    let up = fedml_client::upload_with(&path, &options);
    assert_eq!(up.code, ResponseCode::Success, "{}", up.message);
    let done = up.data.expect("data");
    assert!(done.url.starts_with(&server.url) && done.url.ends_with("/model-v1"), "{}", done.url);
    assert_eq!(done.object.checksum, fedml_proto::checksum::of_bytes(&data));

    let meta = fedml_client::get_storage_metadata_with("model-v1", None, &server.admin());
    assert_eq!(meta.code, ResponseCode::Success, "{}", meta.message);
    let meta = meta.data.expect("meta");
    assert_eq!(meta.data_name, "model-v1");
    assert_eq!(meta.description, "first model");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.kind, ObjectKind::File);
    assert_eq!(meta.tags, vec!["llm".to_string(), "v1".to_string()]);
    assert_eq!(meta.service, "R2");
    assert!(meta.created_at.ends_with('Z') && meta.created_at == meta.updated_at);

    let user = fedml_client::get_storage_user_defined_metadata_with("model-v1", None, &server.admin());
    assert_eq!(user.data, Some(metadata));

    let list = fedml_client::list_storage_objects_with(&server.admin());
    let names: Vec<String> = list.data.expect("list").into_iter().map(|o| o.data_name).collect();
    assert_eq!(names, vec!["model-v1".to_string()]);

    let dest = work.path().join("downloads");
    let down = fedml_client::download_with("model-v1", &download_opts(server.admin(), &dest));
    assert_eq!(down.code, ResponseCode::Success, "{}", down.message);
    let got = down.data.expect("path");
    assert_eq!(got, std::path::absolute(dest.join("model-v1")).expect("abs"));
    assert!(std::fs::read(&got).expect("read") == data, "downloaded bytes differ");
    // Downloading again replaces the file in place.
    let again = fedml_client::download_with("model-v1", &download_opts(server.admin(), &dest));
    assert_eq!(again.code, ResponseCode::Success, "{}", again.message);
    assert_eq!(std::fs::read_dir(&dest).expect("dir").count(), 1, "no temporary files left");

    let deleted = fedml_client::delete_with("model-v1", Some("R2"), &server.admin());
    assert_eq!((deleted.code, deleted.data), (ResponseCode::Success, Some(true)), "{}", deleted.message);
    let gone = fedml_client::get_storage_metadata_with("model-v1", None, &server.admin());
    assert_eq!(gone.code, ResponseCode::Failure);
    assert!(gone.message.contains("no data named"), "{}", gone.message);
    assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data, Some(vec![]));
}

#[test]
fn directory_round_trip_keeps_structure_bytes_and_names() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let tree = work.path().join("dataset");
    sample_tree(&tree);
    let up =
        fedml_client::upload_with(&tree, &fedml_client::UploadOptions { target: server.admin(), ..Default::default() });
    assert_eq!(up.code, ResponseCode::Success, "{}", up.message);
    assert_eq!(up.data.expect("data").object.kind, ObjectKind::Directory);

    let dest = work.path().join("out");
    let down = fedml_client::download_with("dataset", &download_opts(server.admin(), &dest));
    assert_eq!(down.code, ResponseCode::Success, "{}", down.message);
    assert_same_tree(&tree, &dest.join("dataset"));
    // Again, over the existing copy: replaced whole, nothing stale, nothing temporary.
    std::fs::write(dest.join("dataset/stale.txt"), b"old").expect("write");
    let again = fedml_client::download_with("dataset", &download_opts(server.admin(), &dest));
    assert_eq!(again.code, ResponseCode::Success, "{}", again.message);
    assert_same_tree(&tree, &dest.join("dataset"));
    // Nothing temporary beside it: only the directory and the marker of its download.
    let mut beside: Vec<String> = std::fs::read_dir(&dest)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside.len(), 2, "{beside:?}");
    assert!(beside[0].starts_with(".fedml-download-") && beside[1] == "dataset", "{beside:?}");
}

#[test]
fn empty_file_and_empty_directory_round_trip() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("empty.txt");
    std::fs::write(&file, b"").expect("write");
    let dir = work.path().join("nothing");
    std::fs::create_dir(&dir).expect("mkdir");
    for path in [&file, &dir] {
        let up = fedml_client::upload_with(
            path,
            &fedml_client::UploadOptions { target: server.admin(), ..Default::default() },
        );
        assert_eq!(up.code, ResponseCode::Success, "{}", up.message);
    }
    let meta = fedml_client::get_storage_metadata_with("empty.txt", None, &server.admin()).data.expect("meta");
    assert_eq!(meta.size, 0);
    assert_eq!(meta.checksum, fedml_proto::checksum::of_bytes(b""));
    let dest = work.path().join("out");
    for name in ["empty.txt", "nothing"] {
        let down = fedml_client::download_with(name, &download_opts(server.admin(), &dest));
        assert_eq!(down.code, ResponseCode::Success, "{name}: {}", down.message);
    }
    assert_eq!(std::fs::read(dest.join("empty.txt")).expect("read").len(), 0);
    assert!(dest.join("nothing").is_dir());
    assert_eq!(std::fs::read_dir(dest.join("nothing")).expect("dir").count(), 0);
}

#[test]
fn duplicate_names_fail_and_overwrite_swaps() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let a = work.path().join("a.bin");
    let b = work.path().join("b.bin");
    std::fs::write(&a, bytes(1000, 2)).expect("write");
    std::fs::write(&b, bytes(3000, 3)).expect("write");
    let first = fedml_client::upload_with(&a, &upload_opts(server.admin(), "weights"));
    assert_eq!(first.code, ResponseCode::Success, "{}", first.message);
    let created = first.data.expect("data").object.created_at;

    let dup = fedml_client::upload_with(&b, &upload_opts(server.admin(), "weights"));
    assert_eq!(dup.code, ResponseCode::Failure);
    assert!(dup.message.contains("already exists") && dup.message.contains("--overwrite"), "{}", dup.message);

    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut over = upload_opts(server.admin(), "weights");
    over.overwrite = true;
    let replaced = fedml_client::upload_with(&b, &over);
    assert_eq!(replaced.code, ResponseCode::Success, "{}", replaced.message);
    let meta = replaced.data.expect("data").object;
    assert_eq!(meta.size, 3000);
    assert_eq!(meta.created_at, created, "overwrite keeps the creation time");
    assert_ne!(meta.updated_at, created);

    let dest = work.path().join("out");
    fedml_client::download_with("weights", &download_opts(server.admin(), &dest));
    assert!(std::fs::read(dest.join("weights")).expect("read") == bytes(3000, 3));
    assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data.expect("list").len(), 1);
}

#[test]
fn bad_input_is_a_clear_failure_and_stores_nothing() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.txt");
    std::fs::write(&file, b"x").expect("write");
    for bad in ["", "a//b", "a\\b", "..", ".", "tab\there", &"x".repeat(1025)] {
        let r = fedml_client::upload_with(&file, &upload_opts(server.admin(), bad));
        assert_eq!(r.code, ResponseCode::Failure, "{bad:?} accepted");
        assert!(r.message.contains("name"), "{bad:?}: {}", r.message);
    }
    let missing = fedml_client::upload_with(work.path().join("nope"), &upload_opts(server.admin(), "n"));
    assert_eq!(missing.code, ResponseCode::Failure);
    assert!(missing.message.contains("does not exist"), "{}", missing.message);

    let mut big = upload_opts(server.admin(), "meta");
    big.metadata = Some([("k".to_string(), "v".repeat(5000))].into());
    let r = fedml_client::upload_with(&file, &big);
    assert_eq!(r.code, ResponseCode::Failure);
    assert!(r.message.contains("limit"), "{}", r.message);

    let mut unknown = upload_opts(server.admin(), "svc");
    unknown.service = "GCS".into();
    let r = fedml_client::upload_with(&file, &unknown);
    assert_eq!(r.code, ResponseCode::Failure);
    assert!(r.message.contains("GCS") && r.message.contains("R2"), "{}", r.message);

    let r = fedml_client::download_with("no-such-thing", &download_opts(server.admin(), work.path()));
    assert_eq!(r.code, ResponseCode::Failure);
    let r = fedml_client::delete_with("no-such-thing", None, &server.admin());
    assert_eq!(r.code, ResponseCode::Failure);

    assert_eq!(fedml_client::list_storage_objects_with(&server.admin()).data, Some(vec![]));
    assert!(server.blob_files().is_empty(), "left: {:?}", server.blob_files());
}

#[test]
fn listing_pages_through_many_objects() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f");
    std::fs::write(&file, b"x").expect("write");
    // More than one page of the server's 1000-object pages would be slow here; the paging code
    // is exercised by asking for pages of 2.
    for i in 0..5 {
        let r = fedml_client::upload_with(&file, &upload_opts(server.admin(), &format!("obj-{i}")));
        assert_eq!(r.code, ResponseCode::Success, "{}", r.message);
    }
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("{}/api/v1/objects?limit=2&after={a}", server.url),
            None => format!("{}/api/v1/objects?limit=2", server.url),
        };
        let page: serde_json::Value = fedml_client::block_on(async {
            client
                .http()
                .get(&path)
                .bearer_auth(&server.admin_key)
                .send()
                .await
                .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?
                .json()
                .await
                .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))
        })
        .expect("page");
        for o in page["data"]["objects"].as_array().expect("objects") {
            names.push(o["dataName"].as_str().expect("name").to_string());
        }
        match page["data"]["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(names, (0..5).map(|i| format!("obj-{i}")).collect::<Vec<_>>());
}
