//! Versions as a user sees them: an overwrite adds one; every version reads back as it was
//! stored, by the SDK and by `fedml`; a version costs only the bytes it changed; one version or
//! the whole name can go; the server's retention removes the oldest, at commit and as versions
//! age; concurrent overwrites each get a number of their own.

use fedml_client::{Change, ResponseCode, Target};
use fedml_platform::catalogue::Retention;
use serde_json::Value;

use crate::harness::*;

fn upload(target: &Target, path: &std::path::Path, name: &str, description: &str) -> fedml_proto::ObjectMeta {
    let mut o = upload_opts(target.clone(), name);
    o.overwrite = true;
    o.dedup = true;
    o.description = Some(description.to_string());
    o.metadata = Some([("stage".to_string(), description.to_string())].into());
    let done = fedml_client::upload_with(path, &o);
    assert!(done.is_success(), "{}", done.message);
    done.data.expect("answer").object
}

fn download(target: &Target, name: &str, version: Option<u64>) -> Vec<u8> {
    let dest = tempfile::tempdir().expect("tmp");
    let mut o = download_opts(target.clone(), dest.path());
    o.version = version;
    let got = fedml_client::download_with(name, &o);
    assert!(got.is_success(), "{}", got.message);
    std::fs::read(dest.path().join(name)).expect("downloaded")
}

fn versions(target: &Target, name: &str) -> Vec<u64> {
    let listed = fedml_client::list_versions_with(name, target);
    assert!(listed.is_success(), "{}", listed.message);
    let listed = listed.data.expect("versions");
    assert!(listed[0].latest && listed[1..].iter().all(|v| !v.latest), "{listed:?}");
    listed.iter().map(|v| v.version).collect()
}

/// `data` with `edits` scattered 16 KiB overwrites (seeded by `seed`).
fn edited(data: &[u8], edits: usize, seed: u64) -> Vec<u8> {
    let mut out = data.to_vec();
    for i in 0..edits {
        let at = ((i as u64 * 7919 + seed * 104_729) * 4096) as usize % (out.len() - (16 << 10));
        out[at..at + (16 << 10)].copy_from_slice(&bytes(16 << 10, seed * 1000 + i as u64));
    }
    out
}

#[test]
fn every_version_reads_back_as_stored_and_costs_only_what_it_changed() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let path = work.path().join("model.bin");
    let size = 8 << 20;
    let mut stored = vec![bytes(size, 1)];
    for seed in 2..=4 {
        stored.push(edited(stored.last().expect("a version"), 4, seed));
    }
    for (i, body) in stored.iter().enumerate() {
        std::fs::write(&path, body).expect("write");
        let meta = upload(&alice, &path, "model.bin", &format!("v{}", i + 1));
        assert_eq!(meta.version, i as u64 + 1, "each overwrite is the next version");
    }
    assert_eq!(versions(&alice, "model.bin"), [4, 3, 2, 1]);

    // Each version, by every call that reads one; the latest without a version.
    for (i, body) in stored.iter().enumerate() {
        let v = i as u64 + 1;
        assert!(download(&alice, "model.bin", Some(v)) == *body, "version {v} downloaded other bytes");
        let meta = fedml_client::get_storage_metadata_with("model.bin", Some(v), &alice).data.expect("meta");
        assert_eq!((meta.version, meta.description.as_str()), (v, format!("v{v}").as_str()));
        assert_eq!(meta.checksum, fedml_proto::checksum::of_bytes(body));
        let user = fedml_client::get_storage_user_defined_metadata_with("model.bin", Some(v), &alice).data;
        assert_eq!(user.expect("user metadata")["stage"], format!("v{v}"));
    }
    assert!(download(&alice, "model.bin", None) == stored[3]);
    let latest = fedml_client::get_storage_metadata_with("model.bin", None, &alice).data.expect("meta");
    assert_eq!(latest.version, 4);

    // What each version added: the first all of it, the others about their edits (4 × 16 KiB,
    // each touching a chunk or two of about 64 KiB).
    let listed = fedml_client::list_versions_with("model.bin", &alice).data.expect("versions");
    for v in &listed {
        let added = v.added_bytes.expect("counted");
        println!("version {}: {} bytes, added {added}", v.version, v.size);
        if v.version == 1 {
            assert!(added >= size as u64, "{v:?}");
        } else {
            assert!(added < (size as u64) / 5, "version {} added {added} of {size} bytes", v.version);
        }
    }
    let usage = fedml_client::storage_usage_with(&alice).data.expect("usage");
    println!("4 versions of {size} bytes: {} bytes stored", usage.stored_bytes);
    assert!(usage.stored_bytes < (size as u64) * 13 / 10, "{usage:?}");

    // The two versions compared: one file, changed, sharing most of its stored bytes.
    let diff = fedml_client::diff_versions_with("model.bin", 1, Some(4), &alice).data.expect("diff");
    assert_eq!(diff.files.len(), 1, "{diff:?}");
    assert_eq!(diff.files[0].change, Change::Changed);
    assert!(diff.shared_bytes > (size as u64) * 6 / 10 && diff.shared_bytes < size as u64, "{diff:?}");
    let same = fedml_client::diff_versions_with("model.bin", 2, Some(2), &alice).data.expect("diff");
    assert!(same.files.is_empty() && same.unchanged_files == 1 && same.shared_bytes == size as u64, "{same:?}");

    // Refusals say what to do, and change nothing.
    let missing = fedml_client::get_storage_metadata_with("model.bin", Some(9), &alice);
    assert_eq!(missing.code, ResponseCode::Failure);
    assert!(
        missing.message.contains("has no version 9") && missing.message.contains("latest is 4"),
        "{}",
        missing.message
    );
    let zero = fedml_client::get_storage_metadata_with("model.bin", Some(0), &alice);
    assert!(zero.code == ResponseCode::Failure && zero.message.contains("numbered from 1"), "{}", zero.message);
    let nothing = fedml_client::delete_version_with("model.bin", 9, None, &alice);
    assert_eq!(nothing.code, ResponseCode::Failure, "{}", nothing.message);
    let read_only = server.target(&server.new_key("alice", true));
    let refused = fedml_client::delete_version_with("model.bin", 1, None, &read_only);
    assert_eq!(refused.code, ResponseCode::Failure, "{}", refused.message);
    assert_eq!(versions(&alice, "model.bin"), [4, 3, 2, 1]);

    // One earlier version goes; the others read as before.
    let gone = fedml_client::delete_version_with("model.bin", 2, None, &alice).data.expect("deleted");
    assert_eq!((gone.latest, gone.name_deleted), (None, false));
    assert_eq!(versions(&alice, "model.bin"), [4, 3, 1]);
    assert!(download(&alice, "model.bin", Some(1)) == stored[0]);
    assert!(download(&alice, "model.bin", Some(3)) == stored[2]);

    // The latest goes: the newest earlier version is the latest again, for the seed's calls too.
    let rolled = fedml_client::delete_version_with("model.bin", 4, None, &alice).data.expect("deleted");
    assert_eq!(rolled.latest, Some(3));
    assert_eq!(versions(&alice, "model.bin"), [3, 1]);
    assert!(download(&alice, "model.bin", None) == stored[2]);
    // A number once given is never given again: the next upload is version 5.
    std::fs::write(&path, &stored[1]).expect("write");
    assert_eq!(upload(&alice, &path, "model.bin", "v5").version, 5);
    assert!(download(&alice, "model.bin", Some(5)) == stored[1]);
    assert_eq!(
        fedml_client::delete_version_with("model.bin", 4, None, &alice).code,
        ResponseCode::Failure,
        "a removed version stays removed"
    );

    // The name goes with all its versions, and with them every byte they held.
    assert!(fedml_client::delete_with("model.bin", None, &alice).is_success());
    let after = fedml_client::list_versions_with("model.bin", &alice);
    assert!(after.code == ResponseCode::Failure && after.message.contains("no data named"), "{}", after.message);
    end_grace_period(&server);
    server.block_on(server.platform.collect_all_garbage()).expect("collect");
    assert_eq!(fedml_client::storage_usage_with(&alice).data.expect("usage").stored_bytes, 0);
    assert_eq!(unreferenced_files(&server), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_directory_diff_names_the_files_added_removed_and_changed() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let tree = work.path().join("dataset");
    std::fs::create_dir_all(tree.join("train")).expect("mkdir");
    for i in 0..20 {
        std::fs::write(tree.join(format!("train/{i:02}.bin")), bytes(100_000, i)).expect("write");
    }
    std::fs::write(tree.join("README"), b"first").expect("write");
    upload(&alice, &tree, "dataset", "v1");
    std::fs::write(tree.join("train/03.bin"), bytes(100_000, 333)).expect("write");
    std::fs::remove_file(tree.join("train/07.bin")).expect("remove");
    std::fs::write(tree.join("train/20.bin"), bytes(50_000, 20)).expect("write");
    upload(&alice, &tree, "dataset", "v2");

    let diff = fedml_client::diff_versions_with("dataset", 1, None, &alice).data.expect("diff");
    let changes: Vec<(&str, Change)> = diff.files.iter().map(|f| (f.path.as_str(), f.change)).collect();
    assert_eq!(
        changes,
        [("train/03.bin", Change::Changed), ("train/07.bin", Change::Removed), ("train/20.bin", Change::Added)]
    );
    assert_eq!(diff.unchanged_files, 19, "{diff:?}");
    assert_eq!((diff.from.version, diff.to.version), (1, 2));
    // 18 files of 100,000 bytes are the same chunks in both.
    assert!(diff.shared_bytes >= 18 * 100_000 && diff.shared_bytes < diff.to.size, "{diff:?}");

    // Version 1 listed and fetched in part, as it was.
    let listed = fedml_client::list_object_files_with("dataset", "train", false, None, Some(1), &alice);
    let listed = listed.data.expect("entries");
    assert!(listed.iter().any(|e| e.path == "train/07.bin") && !listed.iter().any(|e| e.path == "train/20.bin"));
    let dest = tempfile::tempdir().expect("tmp");
    let mut o = download_opts(alice.clone(), dest.path());
    o.version = Some(1);
    let got = fedml_client::download_files_with("dataset", &["train/03.bin".to_string()], &o);
    assert!(got.is_success(), "{}", got.message);
    assert!(std::fs::read(dest.path().join("dataset/train/03.bin")).expect("read") == bytes(100_000, 3));

    // The CLI shows the same, in a table and as JSON.
    let fedml = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
            .args(["storage"])
            .args(args)
            .env("FEDML_SERVER_URL", &server.url)
            .env("FEDML_API_KEY", alice.api_key.as_deref().expect("key"))
            .env("HOME", work.path())
            .output()
            .expect("fedml runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, table, _) = fedml(&["diff", "dataset", "--from", "1"]);
    assert_eq!(code, Some(0), "{table}");
    for line in ["changed", "train/03.bin", "removed", "train/07.bin", "added", "train/20.bin", "19 unchanged"] {
        assert!(table.contains(line), "{line:?} missing from\n{table}");
    }
    let (code, listing, _) = fedml(&["versions", "dataset"]);
    assert_eq!(code, Some(0), "{listing}");
    assert!(listing.contains("2 (latest)") && listing.contains("v1") && listing.contains("v2"), "{listing}");
    let (_, json, _) = fedml(&["versions", "dataset", "-o", "json"]);
    let json: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["data"][1]["version"], 1, "{json}");
    let (code, _, err) = fedml(&["download", "dataset", "--version", "7", "-d", work.path().to_str().expect("utf-8")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has no version 7") && err.contains("fedml storage versions dataset"), "{err}");
    let (code, out, _) = fedml(&["delete", "dataset", "--version", "2"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("version 1 is the latest now"), "{out}");
}

#[test]
fn retention_keeps_the_last_versions_at_commit_and_as_they_age() {
    let server = TestServer::start_with_retention(Retention { keep: 3, max_age_ms: None });
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let path = work.path().join("weights.bin");
    let mut bodies = Vec::new();
    for v in 1..=5u64 {
        let body = bytes(300_000, v);
        std::fs::write(&path, &body).expect("write");
        upload(&alice, &path, "weights.bin", &format!("v{v}"));
        bodies.push(body);
    }
    assert_eq!(versions(&alice, "weights.bin"), [5, 4, 3], "the last 3 are kept");
    assert!(download(&alice, "weights.bin", Some(3)) == bodies[2]);
    let old = fedml_client::get_storage_metadata_with("weights.bin", Some(2), &alice);
    assert!(old.code == ResponseCode::Failure && old.message.contains("has no version 2"), "{}", old.message);
    // What the removed versions held goes to the collector, and nothing else does.
    end_grace_period(&server);
    server.block_on(server.platform.collect_all_garbage()).expect("collect");
    assert_eq!(unreferenced_files(&server), Vec::<std::path::PathBuf>::new());
    let usage = fedml_client::storage_usage_with(&alice).data.expect("usage");
    assert!(usage.stored_bytes >= 900_000 && usage.stored_bytes < 1_000_000, "3 versions stored: {usage:?}");

    // Stricter now: 2 versions, and none older than a day. The collector applies both.
    let mut server = server;
    server.retention = Retention { keep: 2, max_age_ms: Some(24 * 3600 * 1000) };
    let server = server.restart(|_| {});
    server.block_on(server.platform.collect_all_garbage()).expect("collect");
    assert_eq!(versions(&alice_on(&server, &alice), "weights.bin"), [5, 4]);
    catalogue_sql(&server, "UPDATE object_versions SET updated_at = 0".into());
    let report = server.block_on(server.platform.collect_all_garbage()).expect("collect");
    assert_eq!(report.versions_expired, 1, "{report:?}");
    let alice = alice_on(&server, &alice);
    assert_eq!(versions(&alice, "weights.bin"), [5], "the latest is never removed");
    assert!(download(&alice, "weights.bin", None) == bodies[4]);
    end_grace_period(&server);
    server.block_on(server.platform.collect_all_garbage()).expect("collect");
    assert_eq!(unreferenced_files(&server), Vec::<std::path::PathBuf>::new());
}

/// The same key against a restarted server (its URL may change).
fn alice_on(server: &TestServer, alice: &Target) -> Target {
    server.target(alice.api_key.as_deref().expect("key"))
}

#[test]
fn overwrites_at_once_each_become_a_version_of_their_own() {
    let server = TestServer::start_with_retention(Retention { keep: 1000, max_age_ms: None });
    let work = tempfile::tempdir().expect("tmp");
    let alice = server.target(&server.new_user("alice"));
    let mut expected = std::collections::BTreeMap::new();
    for round in 0..6u64 {
        let jobs: Vec<Job<(u64, String)>> = (0..3u64)
            .map(|i| {
                let (alice, dir) = (alice.clone(), work.path().to_path_buf());
                let body = bytes(200_000 + i as usize, round * 10 + i);
                let path = dir.join(format!("racer-{round}-{i}.bin"));
                std::fs::write(&path, &body).expect("write");
                Box::new(move || {
                    let mut o = upload_opts(alice, "contested");
                    o.overwrite = true;
                    o.dedup = i % 2 == 0;
                    let done = fedml_client::upload_with(&path, &o);
                    assert!(done.is_success(), "{}", done.message);
                    let object = done.data.expect("answer").object;
                    (object.version, object.checksum)
                }) as Job<(u64, String)>
            })
            .collect();
        for (version, checksum) in at_once(jobs) {
            assert!(expected.insert(version, checksum).is_none(), "version {version} was given twice");
        }
    }
    let numbers: Vec<u64> = expected.keys().copied().collect();
    assert_eq!(numbers, (1..=18).collect::<Vec<_>>(), "every overwrite is a version, none lost");
    let listed = fedml_client::list_versions_with("contested", &alice).data.expect("versions");
    assert_eq!(listed.len(), 18);
    for v in &listed {
        assert_eq!(expected[&v.version], v.checksum, "version {} holds what its upload stored", v.version);
    }
    let latest = fedml_client::get_storage_metadata_with("contested", None, &alice).data.expect("meta");
    assert_eq!(latest.version, 18);
    let (version, checksum) = (9, &expected[&9]);
    let dest = tempfile::tempdir().expect("tmp");
    let mut o = download_opts(alice.clone(), dest.path());
    o.version = Some(version);
    assert!(fedml_client::download_with("contested", &o).is_success());
    let read = std::fs::read(dest.path().join("contested")).expect("read");
    assert_eq!(&fedml_proto::checksum::of_bytes(&read), checksum);
}
