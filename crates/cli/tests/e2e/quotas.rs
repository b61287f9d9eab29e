//! Quotas: the server's default and per-user overrides (`fedml admin user quota`, the real
//! binary), refusal when an upload starts (nothing stored, no session left), deletes and
//! overwrites, the object count, the FedML SDK's presign, uploads racing for the last bytes
//! over two servers, and an upload that sends more than it announced.

use std::path::Path;
use std::process::{Command, Output};

use fedml_client::ResponseCode;
use fedml_client::client::Client;
use fedml_platform::operations::Lifetimes;
use fedml_platform::quota::{Limit, Quota, Usage};
use fedml_proto::{CompleteUpload, CompletedPart, CreateUpload, ObjectKind};
use serde_json::Value;

use crate::harness::*;

fn quota(bytes: Option<u64>, objects: Option<u64>) -> Quota {
    let limit = |n: Option<u64>| n.map_or(Limit::Unlimited, Limit::Max);
    Quota { bytes: limit(bytes), objects: limit(objects) }
}

fn no_grace() -> Lifetimes {
    Lifetimes { reclaim_grace_secs: 0, ..Default::default() }
}

/// `fedml admin ARGS` on the server's catalogue.
fn admin(server: &TestServer, args: &[&str]) -> Output {
    fedml_admin(server.admin_location().iter().map(String::as_str).chain(args.iter().copied()))
}

fn admin_json(server: &TestServer, args: &[&str]) -> Value {
    let out = admin(server, &[args, &["-o", "json"]].concat());
    assert!(out.status.success(), "fedml admin {args:?}: {}", String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn usage(server: &TestServer, user: &str) -> Usage {
    let catalogue = server.platform.catalogue.clone();
    let user = user.to_string();
    server.block_on(async move { fedml_platform::admin::quota_report(&catalogue, &user).await.expect("report").usage })
}

/// Uploads `size` pseudo-random bytes as `name`.
fn upload(
    server: &TestServer,
    key: &str,
    dir: &Path,
    name: &str,
    size: usize,
    overwrite: bool,
) -> (ResponseCode, String) {
    let file = dir.join(format!("{name}.bin"));
    std::fs::write(&file, bytes(size, size as u64)).expect("write");
    let mut options = upload_opts(server.target(key), name);
    options.overwrite = overwrite;
    let r = fedml_client::upload_with(&file, &options);
    (r.code, r.message)
}

fn assert_ok((code, message): (ResponseCode, String), label: &str) {
    assert_eq!(code, ResponseCode::Success, "{label}: {message}");
}

fn assert_over_quota((code, message): (ResponseCode, String), label: &str, says: &str) {
    assert_eq!(code, ResponseCode::Failure, "{label}: {message}");
    assert!(message.contains(says), "{label}: {message:?} does not say {says:?}");
    assert!(message.contains("fedml storage delete NAME") && message.contains("fedml admin user quota"), "{message}");
}

fn names(server: &TestServer, key: &str) -> Vec<String> {
    let list = fedml_client::list_storage_objects_with(&server.target(key));
    list.data.expect("list").into_iter().map(|o| o.data_name).collect()
}

fn delete(server: &TestServer, key: &str, name: &str) {
    let r = fedml_client::delete_with(name, None, &server.target(key));
    assert!(r.is_success(), "delete {name}: {}", r.message);
}

#[test]
fn the_default_quota_refuses_at_the_start_and_overrides_change_it() {
    let server = TestServer::start_with_quota(no_grace(), quota(Some(100_000), None));
    let (alice, bob) = (server.new_user("alice"), server.new_user("bob"));
    let work = tempfile::tempdir().expect("tmp");
    assert_ok(upload(&server, &alice, work.path(), "first", 60_000, false), "fits");
    let blobs = server.blob_files();

    assert_over_quota(
        upload(&server, &alice, work.path(), "second", 50_000, false),
        "over the default",
        "this upload needs 48.83 KiB but alice has 39.06 KiB left of a 97.66 KiB quota (58.59 KiB in 1 object, \
         0 B reserved by uploads in progress)",
    );
    // The command line says the same, exit status 1.
    let file = work.path().join("second.bin");
    let out = Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["storage", "upload", "--no-progress", "-k", &alice, "--server", &server.url])
        .arg(&file)
        .env("FEDML_CONFIG_DIR", work.path().join("cfg"))
        .output()
        .expect("run fedml storage upload");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("FAILURE: this upload needs 48.83 KiB but alice has 39.06 KiB left"), "{stderr}");
    assert_eq!(names(&server, &alice), ["first"], "nothing stored");
    assert_eq!(usage(&server, "alice").uploads, 0, "no session left");
    assert_eq!(server.blob_files(), blobs, "no bytes left anywhere");
    // Another user's quota is their own.
    assert_ok(upload(&server, &bob, work.path(), "bobs", 90_000, false), "bob has his own room");
    assert_eq!(usage(&server, "alice").stored_bytes, 60_000, "bob's objects are not alice's");

    let set = admin_json(&server, &["user", "quota", "alice", "--bytes", "200kB"]);
    assert_eq!(set["data"]["quotaBytes"], 200_000, "{set}");
    assert_ok(upload(&server, &alice, work.path(), "second", 50_000, false), "within the override");
    let out = admin(&server, &["user", "quota", "alice", "--bytes", "none"]);
    assert!(out.status.success());
    assert_ok(upload(&server, &alice, work.path(), "big", 300_000, false), "no limit");
    assert_eq!(admin_json(&server, &["user", "quota", "alice", "--bytes", "default"])["data"]["quotaBytes"], "default");
    assert_over_quota(upload(&server, &alice, work.path(), "one", 1, false), "back to the default", "needs 1 B");

    let shown = admin_json(&server, &["user", "quota", "alice"])["data"].clone();
    assert_eq!(shown["storedBytes"], 410_000, "{shown}");
    assert_eq!(shown["storedObjects"], 3, "{shown}");
    assert_eq!((shown["reservedBytes"].as_u64(), shown["uploadsInProgress"].as_u64()), (Some(0), Some(0)));
    let table = admin(&server, &["user", "quota", "bob"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success() && text.contains("bob") && text.contains("87.89 KiB in 1 object"), "{text}");
    assert!(text.contains("server's default"), "{text}");
    let listed = admin_json(&server, &["user", "list"]);
    let quotas: Vec<(&str, &Value)> = listed["data"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| (u["name"].as_str().unwrap_or(""), &u["quotaBytes"]))
        .collect();
    assert!(quotas.contains(&("alice", &Value::from("default"))), "{listed}");
}

#[test]
fn deletes_free_room_and_overwrites_count_the_net_change() {
    // No earlier version kept: an overwrite replaces (`earlier_versions_count_what_they_added`).
    let server = TestServer::start_configured(no_grace(), quota(Some(100_000), None), TestServer::replacing());
    let alice = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    assert_ok(upload(&server, &alice, work.path(), "a", 60_000, false), "a");
    assert_over_quota(upload(&server, &alice, work.path(), "b", 50_000, false), "b", "needs 48.83 KiB");
    delete(&server, &alice, "a");
    assert_ok(upload(&server, &alice, work.path(), "b", 50_000, false), "a deleted: room for b");
    // An overwrite needs only what it adds to the object it replaces.
    assert_ok(upload(&server, &alice, work.path(), "b", 90_000, true), "b grows by 40 kB");
    assert_over_quota(
        upload(&server, &alice, work.path(), "b", 110_000, true),
        "b grows by 20 kB more than the quota",
        "needs 19.53 KiB but alice has 9.77 KiB left",
    );
    assert_ok(upload(&server, &alice, work.path(), "c", 10_000, false), "the last 10 kB");
    assert_eq!(usage(&server, "alice").bytes(), 100_000);
    assert_over_quota(upload(&server, &alice, work.path(), "d", 1, false), "full", "has 0 B left");
    // Below a lowered quota, an overwrite that shrinks an object still goes through.
    assert!(admin(&server, &["user", "quota", "alice", "--bytes", "50000"]).status.success());
    assert_ok(upload(&server, &alice, work.path(), "c", 5_000, true), "shrinking over the quota");
    assert_eq!(usage(&server, "alice").stored_bytes, 95_000);
    assert_eq!(names(&server, &alice), ["b", "c"]);
}

#[test]
fn earlier_versions_count_what_they_added() {
    let server = TestServer::start_with_quota(no_grace(), quota(Some(100_000), None));
    let alice = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    assert_ok(upload(&server, &alice, work.path(), "a", 60_000, false), "a");
    // The version an overwrite replaces stays: the overwrite needs all it adds.
    assert_over_quota(
        upload(&server, &alice, work.path(), "a", 50_000, true),
        "a again, kept beside the first",
        "needs 48.83 KiB but alice has 39.06 KiB left",
    );
    assert_ok(upload(&server, &alice, work.path(), "a", 30_000, true), "a, version 2");
    let used = usage(&server, "alice").bytes();
    assert!((90_000..=92_000).contains(&used), "both versions count: {used}");
    // Removing the earlier version frees what it added.
    let r = fedml_client::delete_version_with("a", 1, None, &server.target(&alice));
    assert!(r.is_success(), "{}", r.message);
    assert_eq!(usage(&server, "alice").bytes(), 30_000);
}

#[test]
fn the_object_count_is_limited_too() {
    let server = TestServer::start_with_quota(no_grace(), quota(None, Some(3)));
    let alice = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    for name in ["o1", "o2", "o3"] {
        assert_ok(upload(&server, &alice, work.path(), name, 100, false), name);
    }
    assert_over_quota(
        upload(&server, &alice, work.path(), "o4", 100, false),
        "a fourth",
        "this upload needs 1 more object but alice has 0 left of a 3-object quota (3 objects stored, 0 more \
         reserved by uploads in progress)",
    );
    let tree = work.path().join("tree");
    sample_tree(&tree);
    let r = fedml_client::upload_with(&tree, &upload_opts(server.target(&alice), "tree"));
    assert_eq!(r.code, ResponseCode::Failure, "a directory is one object too: {}", r.message);
    assert_ok(upload(&server, &alice, work.path(), "o1", 200, true), "an overwrite adds no object");
    delete(&server, &alice, "o2");
    assert_ok(upload(&server, &alice, work.path(), "o4", 100, false), "room after a delete");
    assert!(admin(&server, &["user", "quota", "alice", "--objects", "4"]).status.success());
    let r = fedml_client::upload_with(&tree, &upload_opts(server.target(&alice), "tree"));
    assert!(r.is_success(), "{}", r.message);
    assert_eq!(names(&server, &alice), ["o1", "o3", "o4", "tree"]);
}

#[test]
fn uploads_racing_for_the_last_bytes_fill_the_quota_exactly() {
    let a = TestServer::start_with_quota(no_grace(), quota(Some(10_000), Some(20)));
    let b = TestServer::start_sharing(&a);
    let alice = a.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    assert_ok(upload(&a, &alice, work.path(), "base", 7_000, false), "base");
    for round in 0..8 {
        let jobs: Vec<Job<(ResponseCode, String)>> = (0..8)
            .map(|i| {
                let file = work.path().join(format!("r{round}-{i}.bin"));
                std::fs::write(&file, bytes(1_000, (round * 8 + i) as u64)).expect("write");
                let options = upload_opts((if i % 2 == 0 { &a } else { &b }).target(&alice), &format!("r{round}-{i}"));
                Box::new(move || {
                    let r = fedml_client::upload_with(&file, &options);
                    (r.code, r.message)
                }) as Box<dyn FnOnce() -> _ + Send>
            })
            .collect();
        let results = at_once(jobs);
        let won: Vec<usize> = (0..8).filter(|&i| results[i].0 == ResponseCode::Success).collect();
        assert_eq!(won.len(), 3, "round {round}: exactly the 3 that fit: {results:?}");
        for (code, message) in results.iter().filter(|r| r.0 != ResponseCode::Success) {
            assert_over_quota((*code, message.clone()), &format!("round {round}"), "quota");
        }
        let used = usage(&a, "alice");
        assert_eq!((used.stored_bytes, used.uploads), (10_000, 0), "round {round}: {used:?}");
        for i in won {
            delete(if i % 2 == 0 { &b } else { &a }, &alice, &format!("r{round}-{i}"));
        }
    }
    // Sessions reserve an object each as they open: 16 racing for the last 4 of 20 objects.
    let clients: Vec<Client> =
        (0..2).map(|i| Client::new(if i == 0 { &a.url } else { &b.url }, &alice).expect("client")).collect();
    for i in 0..15 {
        assert_ok(upload(&a, &alice, work.path(), &format!("fill-{i}"), 0, false), "fill");
    }
    for round in 0..6 {
        let jobs: Vec<Box<dyn FnOnce() -> Result<String, String> + Send>> = (0..16)
            .map(|i| {
                let client = clients[i % 2].clone();
                let req = CreateUpload {
                    name: format!("s{round}-{i}"),
                    service: "R2".into(),
                    kind: ObjectKind::File,
                    size: Some(0),
                    description: None,
                    tags: None,
                    metadata: None,
                    overwrite: false,
                    layout: Default::default(),
                    namespace: None,
                };
                Box::new(move || {
                    fedml_client::block_on(client.create_upload(&req))
                        .map(|s| s.upload_id)
                        .map_err(|e| e.message().to_string())
                }) as Box<dyn FnOnce() -> _ + Send>
            })
            .collect();
        let results = at_once(jobs);
        let opened: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(opened.len(), 4, "round {round}: exactly the 4 objects left: {results:?}");
        assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|m| m.contains("1 more object")), "{results:?}");
        for id in opened {
            assert_eq!(fedml_client::block_on(clients[0].abort_upload(id)).ok(), Some(true));
        }
    }
}

#[test]
fn the_fedml_presign_reserves_its_parts_and_is_refused_as_a_failure() {
    let server = TestServer::start_with_quota(no_grace(), quota(Some(30 << 20), None));
    let alice = server.new_user("alice");
    let client = Client::new(&server.url, &alice).expect("client");
    let call = |path: String| -> (u16, Value) {
        fedml_client::block_on(async {
            let r = client.http().get(format!("{}{path}", server.url)).bearer_auth(&alice).send().await;
            let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            let status = r.status().as_u16();
            Ok((status, r.json::<Value>().await.unwrap_or(Value::Null)))
        })
        .expect("request")
    };
    let uid = fedml_client::block_on(async {
        let r = client
            .http()
            .post(format!("{}/fedmlOpsServer/api/v1/cli/getUser", server.url))
            .json(&serde_json::json!({"apiKey": alice}))
            .send()
            .await
            .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        Ok(r.json::<Value>().await.unwrap_or(Value::Null))
    })
    .expect("getUser")["data"]["id"]
        .as_str()
        .expect("user id")
        .to_string();
    let presign = |name: &str, parts: u32| {
        call(format!("/system/api/v1/cli/oss/multipart/presigned-url?fileKey={uid}/{name}&partNumber={parts}"))
    };
    let (status, body) = presign("big.bin", 2);
    assert_eq!((status, body["code"].as_str()), (200, Some("FAILURE")), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("this upload needs 40.00 MiB but alice has 30.00 MiB left"), "{message}");
    assert_eq!(usage(&server, "alice").uploads, 0, "no session left");
    let (_, body) = presign("one.bin", 1);
    assert_eq!(body["code"], "SUCCESS", "{body}");
    let (_, body) = presign("two.bin", 1);
    assert_eq!(body["code"], "FAILURE", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("10.00 MiB left") && message.contains("20.00 MiB reserved by uploads in progress"),
        "{message}"
    );
}

#[test]
fn an_upload_may_not_store_more_than_it_announced() {
    let server = TestServer::start();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let data = bytes(5_000, 3);
    let session = fedml_client::block_on(client.create_upload(&CreateUpload {
        name: "packed".into(),
        service: "R2".into(),
        kind: ObjectKind::Directory,
        size: Some(1_000),
        description: None,
        tags: None,
        metadata: None,
        overwrite: false,
        layout: Default::default(),
        namespace: None,
    }))
    .expect("session");
    let url = fedml_client::block_on(client.part_urls(&session.upload_id, 1, 1)).expect("URL")[0].url.clone();
    let etag = fedml_client::block_on(async {
        let r = client.http().put(&url).body(data.clone()).send().await;
        let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        Ok(crate::harness::part_tag(r.headers()))
    })
    .expect("PUT")
    .expect("ETag");
    let completion = CompleteUpload {
        parts: vec![CompletedPart { part_number: 1, etag }],
        size: data.len() as u64,
        checksum: fedml_proto::checksum::of_bytes(&data),
        content: None,
    };
    let e = fedml_client::block_on(client.complete_upload(&session.upload_id, &completion)).expect_err("refused");
    assert_eq!(e.code(), ResponseCode::Failure, "{e:?}");
    assert!(e.message().contains("more than the 1000 it announced"), "{e:?}");
    assert!(fedml_client::list_storage_objects_with(&server.admin()).data.expect("list").is_empty());
}

#[test]
fn an_open_session_reserves_until_it_is_aborted_or_expires() {
    let lifetimes = Lifetimes { upload_secs: 3, reclaim_grace_secs: 0, ..Default::default() };
    let server = TestServer::start_with_quota(lifetimes, quota(Some(10_000), None));
    let alice = server.new_user("alice");
    let client = Client::new(&server.url, &alice).expect("client");
    let work = tempfile::tempdir().expect("tmp");
    let (session, _) =
        fedml_client::block_on(open_raw_upload(&client, "pending", ObjectKind::File, 8_000)).expect("session");
    assert_over_quota(
        upload(&server, &alice, work.path(), "later", 5_000, false),
        "while a session holds 8 kB",
        "has 1.95 KiB left of a 9.77 KiB quota (0 B in 0 objects, 7.81 KiB reserved by uploads in progress)",
    );
    assert_eq!(fedml_client::block_on(client.abort_upload(&session.upload_id)).ok(), Some(true));
    assert_ok(upload(&server, &alice, work.path(), "later", 5_000, false), "the abort freed its reservation");
    fedml_client::block_on(open_raw_upload(&client, "abandoned", ObjectKind::File, 5_000)).expect("session");
    assert_over_quota(upload(&server, &alice, work.path(), "one", 1, false), "full", "has 0 B left");
    // Abandoned without an abort: its reservation ends with the session's lifetime.
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    assert_ok(upload(&server, &alice, work.path(), "one", 1, false), "the expired session reserves nothing");
}

/// What a user's objects and versions keep alive counts, each pack once: the same bytes under a
/// second name cost nothing more, and bytes an earlier version keeps count until it goes, however
/// they got there (uploaded under a name since deleted, found again by dedup).
#[test]
fn the_quota_counts_what_versions_keep_alive() {
    let server = TestServer::start_with_quota(no_grace(), quota(Some(10_000_000), None));
    let alice = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    let put = |name: &str, data: &[u8], overwrite: bool| {
        let file = work.path().join("f.bin");
        std::fs::write(&file, data).expect("write");
        let mut options = upload_opts(server.target(&alice), name);
        options.overwrite = overwrite;
        let r = fedml_client::upload_with(&file, &options);
        (r.code, r.message)
    };
    // A second name for the same bytes adds nothing.
    let four = bytes(4_000_000, 1);
    assert_ok(put("x", &four, false), "x");
    assert_ok(put("y", &four, false), "the same bytes as y");
    assert_eq!(usage(&server, "alice").stored_bytes, 4_000_000);
    delete(&server, &alice, "x");
    delete(&server, &alice, "y");
    assert_eq!(usage(&server, "alice").stored_bytes, 0);
    // Rounds of: upload a carrier, the same bytes as keepN, overwrite keepN with one byte, delete
    // the carrier. Each round keeps 4 MB alive in keepN's first version, and counts them: the
    // rounds stop before the quota is passed (an upload reserves its size when it starts).
    let mut rounds = 0u64;
    for round in 0..6u64 {
        let data = bytes(4_000_000, 10 + round);
        let carrier = put("carrier", &data, false);
        if carrier.0 != ResponseCode::Success {
            assert_over_quota(carrier, "a carrier", "quota");
            break;
        }
        let keep = format!("keep{round}");
        let kept = put(&keep, &data, false);
        delete(&server, &alice, "carrier");
        if kept.0 != ResponseCode::Success {
            assert_over_quota(kept, "a keeper", "quota");
            break;
        }
        assert_ok(put(&keep, b"!", true), "one byte over it");
        rounds += 1;
        let kept = usage(&server, "alice").stored_bytes;
        assert_eq!(kept, rounds * 4_000_001, "round {round}: the earlier versions keep their bytes");
        let shown = server.block_on({
            let catalogue = server.platform.catalogue.clone();
            let id = catalogue_id(&server, "alice");
            async move { catalogue.storage_usage(&id).await.expect("usage") }
        });
        assert_eq!(shown.stored_bytes, kept, "`fedml storage usage` says the same");
    }
    assert!((1..=2).contains(&rounds), "{rounds} rounds kept 4 MB each under a 10 MB quota");
    assert!(usage(&server, "alice").stored_bytes <= 10_000_000);
    // Removing the version that keeps them frees them.
    let r = fedml_client::delete_version_with("keep0", 1, None, &server.target(&alice));
    assert!(r.is_success(), "{}", r.message);
    assert_eq!(usage(&server, "alice").stored_bytes, (rounds - 1) * 4_000_001 + 1);
    assert_ok(put("carrier", &bytes(4_000_000, 12), false), "room again");
}

/// The id of the user `name`.
fn catalogue_id(server: &TestServer, name: &str) -> String {
    let catalogue = server.platform.catalogue.clone();
    let name = name.to_string();
    server.block_on(async move { catalogue.user_by_name(&name).await.expect("user").id })
}

/// Two servers, uploads of shared bytes under new names, overwrites and deletes racing: the
/// bytes kept in step for the quota are exactly what the packs still recorded hold, every round.
#[test]
fn kept_bytes_stay_exact_while_uploads_and_deletes_race() {
    let a = TestServer::start_with(no_grace());
    let b = TestServer::start_sharing(&a);
    let alice = a.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    let shared = work.path().join("shared.bin");
    std::fs::write(&shared, bytes(2_500_000, 5)).expect("write");
    for round in 0..6usize {
        let jobs: Vec<Job<bool>> = (0..4)
            .map(|i| {
                let server = if i % 2 == 0 { &a } else { &b };
                let target = server.target(&alice);
                let own = work.path().join(format!("own-{round}-{i}.bin"));
                std::fs::write(&own, bytes(700_000, (round * 4 + i) as u64)).expect("write");
                let shared = shared.clone();
                Box::new(move || match i {
                    // The shared bytes under a new name, and an overwrite of a name with them.
                    0 => fedml_client::upload_with(&shared, &upload_opts(target, &format!("s{round}"))).is_success(),
                    1 => {
                        let mut o = upload_opts(target, "moving");
                        o.overwrite = true;
                        fedml_client::upload_with(if round % 2 == 0 { &shared } else { &own }, &o).is_success()
                    }
                    // The previous round's copy deleted while this one's lands.
                    2 => {
                        round == 0 || fedml_client::delete_with(&format!("s{}", round - 1), None, &target).is_success()
                    }
                    _ => fedml_client::upload_with(&own, &upload_opts(target, &format!("o{round}"))).is_success(),
                }) as Job<bool>
            })
            .collect();
        let done = at_once(jobs);
        assert!(done.iter().all(|ok| *ok), "round {round}: {done:?}");
        let counted = catalogue_count(&a, "SELECT pack_bytes AS n FROM users WHERE name = 'alice'");
        let held = catalogue_count(
            &a,
            "SELECT CAST(COALESCE(SUM(p.data_bytes), 0) AS BIGINT) AS n FROM packs p JOIN users u ON u.id = p.owner_id \
             WHERE u.name = 'alice' AND p.state <> 'pending'",
        );
        assert_eq!(counted, held, "round {round}: the count drifted from the packs");
    }
}
