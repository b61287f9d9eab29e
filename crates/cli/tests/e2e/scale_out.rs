use std::sync::{Arc, Barrier};

use fedml_client::ResponseCode;

use crate::harness::*;

fn no_grace() -> fedml_platform::operations::Lifetimes {
    fedml_platform::operations::Lifetimes { reclaim_grace_secs: 0, ..Default::default() }
}

#[test]
fn two_servers_share_one_catalogue_and_store() {
    let a = TestServer::start();
    let b = TestServer::start_sharing(&a);
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes((9 << 20) + 3, 21)).expect("write");
    let tree = work.path().join("tree");
    sample_tree(&tree);

    assert!(fedml_client::upload_with(&file, &upload_opts(a.admin(), "via-a")).is_success());
    assert!(fedml_client::upload_with(&tree, &upload_opts(b.admin(), "tree-via-b")).is_success());
    for server in [&a, &b] {
        let names: Vec<String> = fedml_client::list_storage_objects_with(&server.admin())
            .data
            .expect("list")
            .into_iter()
            .map(|o| o.data_name)
            .collect();
        assert_eq!(names, vec!["tree-via-b".to_string(), "via-a".to_string()]);
    }
    let dest = work.path().join("out");
    assert!(fedml_client::download_with("via-a", &download_opts(b.admin(), &dest)).is_success());
    assert!(std::fs::read(dest.join("via-a")).expect("read") == bytes((9 << 20) + 3, 21));
    assert!(fedml_client::download_with("tree-via-b", &download_opts(a.admin(), &dest)).is_success());
    assert_same_tree(&tree, &dest.join("tree-via-b"));

    // A key made through one instance works on the other at once, and so does its revocation.
    let bob = a.new_user("bob");
    assert!(fedml_client::list_storage_objects_with(&b.target(&bob)).is_success());
    b.revoke(&bob);
    assert_eq!(fedml_client::list_storage_objects_with(&a.target(&bob)).code, ResponseCode::Failure);

    assert!(fedml_client::delete_with("via-a", None, &b.admin()).is_success());
    assert_eq!(fedml_client::get_storage_metadata_with("via-a", None, &a.admin()).code, ResponseCode::Failure);
}

/// Uploads `name` through both servers at the same moment, `rounds` times each.
fn race(
    a: &TestServer,
    b: &TestServer,
    name: &str,
    overwrite: bool,
    work: &std::path::Path,
) -> Vec<(u64, ResponseCode)> {
    let barrier = Arc::new(Barrier::new(4));
    let mut handles = Vec::new();
    for (i, server) in [a, b, a, b].into_iter().enumerate() {
        let path = work.join(format!("{name}-{i}.bin"));
        std::fs::write(&path, bytes((8 << 20) + 100 * i, 100 + i as u64)).expect("write");
        let mut options = upload_opts(server.admin(), name);
        options.overwrite = overwrite;
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            let r = fedml_client::upload_with(&path, &options);
            (i as u64, r.code)
        }));
    }
    handles.into_iter().map(|h| h.join().expect("thread")).collect()
}

#[test]
fn concurrent_uploads_of_one_name_commit_exactly_one() {
    let a = TestServer::start_with(no_grace());
    let b = TestServer::start_sharing(&a);
    let work = tempfile::tempdir().expect("tmp");

    let results = race(&a, &b, "contested", false, work.path());
    let winners: Vec<u64> = results.iter().filter(|r| r.1 == ResponseCode::Success).map(|r| r.0).collect();
    assert_eq!(winners.len(), 1, "exactly one upload wins: {results:?}");
    assert!(results.iter().all(|r| r.1 != ResponseCode::Error), "losers get a FAILURE: {results:?}");
    let winner = winners[0];
    let dest = work.path().join("out");
    assert!(fedml_client::download_with("contested", &download_opts(b.admin(), &dest)).is_success());
    assert!(
        std::fs::read(dest.join("contested")).expect("read") == bytes((8 << 20) + 100 * winner as usize, 100 + winner)
    );

    // With overwrite every upload succeeds and the last commit wins, whole.
    let results = race(&a, &b, "contested", true, work.path());
    assert!(results.iter().all(|r| r.1 == ResponseCode::Success), "{results:?}");
    let meta = fedml_client::get_storage_metadata_with("contested", None, &a.admin()).data.expect("meta");
    let last = (0..4u64)
        .find(|i| fedml_proto::checksum::of_bytes(&bytes((8 << 20) + 100 * *i as usize, 100 + i)) == meta.checksum)
        .expect("the stored object is one of the uploads, whole");
    assert!(fedml_client::download_with("contested", &download_opts(a.admin(), &dest)).is_success());
    assert!(std::fs::read(dest.join("contested")).expect("read") == bytes((8 << 20) + 100 * last as usize, 100 + last));

    // After collection only what the one object reads is left: no orphan from the races.
    for server in [&a, &b] {
        let platform = server.platform.clone();
        server.block_on(async move { platform.collect_garbage().await.expect("gc") });
    }
    let left = unreferenced_files(&a);
    assert!(left.is_empty(), "blobs left: {left:?}");
    assert!(!a.blob_files().is_empty(), "the object's own blobs are there");
}
