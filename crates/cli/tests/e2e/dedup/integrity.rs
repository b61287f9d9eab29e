//! What the content store refuses and what it cleans up after: completions that lie about packs
//! and segments, packs that disagree with their index, a pack URL used after its session ended.

use serde_json::{Value, json};

use super::*;

/// A completion of a packed session, built by hand.
fn complete(server: &TestServer, key: &str, id: &str, body: Value) -> (u16, Value) {
    post(server, key, &format!("/api/v1/uploads/{id}/complete"), body)
}

#[test]
fn completions_that_lie_about_packs_or_segments_are_refused() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let key = server.new_user("dave");
    let other = server.new_user("erin");
    let data = bytes(3 << 20, 21);
    let path = work.path().join("f.bin");
    std::fs::write(&path, &data).expect("write");
    upload(&server.target(&other), &path, "theirs.bin", false);
    upload(&server.target(&key), &path, "mine.bin", false);
    let api = |key: &str, path: &str, body: Value| post(&server, key, path, body);
    let (_, session) = api(
        &key,
        "/api/v1/uploads",
        json!({"name": "lie.bin", "service": "R2", "kind": "file", "size": 1000, "layout": "packs"}),
    );
    let id = session["data"]["upload_id"].as_str().expect("id").to_string();
    let checksum = fedml_proto::checksum::of_bytes(&[0u8; 1000]);
    // Erin's pack, whose id dave knows (the same bytes): never found or usable for dave's session.
    let first = fedml_proto::content::Chunker.cut(&data).unwrap_or(data.len());
    let chunk = hex::encode(fedml_proto::content::chunk_id(&data[..first]));
    let (_, found) = api(&key, &format!("/api/v1/uploads/{id}/known"), json!({"chunks": [chunk]}));
    let packs = found["data"].as_array().expect("packs").clone();
    assert_eq!(packs.len(), 1, "dave's own pack only: {found}");
    let dave_pack = packs[0]["pack"].as_str().expect("id").to_string();
    let dave_size = packs[0]["size"].as_u64().expect("size");
    let cases = [
        (
            "a pack never announced",
            json!({"packs": ["0".repeat(64)], "segments": [{"pack": 0, "offset": 0, "length": 1000}]}),
        ),
        (
            "a segment past its pack",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": dave_size, "length": 1000}]}),
        ),
        (
            "a segment of a pack not listed",
            json!({"packs": [dave_pack], "segments": [{"pack": 1, "offset": 0, "length": 1000}]}),
        ),
        (
            "segments that do not add up",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 999}]}),
        ),
        (
            "an empty segment",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 0}, {"pack": 0, "offset": 0, "length": 1000}]}),
        ),
        (
            "a pack listed twice",
            json!({"packs": [dave_pack, dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 1000}]}),
        ),
        (
            "an offset that overflows",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": u64::MAX, "length": 1000}]}),
        ),
        (
            "a sample of a pack not listed",
            json!({"packs": [dave_pack], "segments": [{"pack": 0, "offset": 0, "length": 1000}], "samples": [[chunk, 3]]}),
        ),
    ];
    for (what, content) in cases {
        let (status, answer) =
            complete(&server, &key, &id, json!({"parts": [], "size": 1000, "checksum": checksum, "content": content}));
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["code"], "FAILURE", "{what}: {answer}");
        println!("{what}: {}", answer["message"]);
    }
    // Parts on a packed session, packs on a part session, a pack of a bad size or id.
    let (status, answer) = complete(
        &server,
        &key,
        &id,
        json!({"parts": [{"part_number": 1, "etag": "x"}], "size": 1000, "checksum": checksum}),
    );
    assert_eq!(status, 400, "{answer}");
    for pack in [json!({"pack": "0".repeat(64), "size": 1u64 << 40}), json!({"pack": "xyz", "size": 100})] {
        let (status, answer) = api(&key, &format!("/api/v1/uploads/{id}/packs"), json!({"packs": [pack]}));
        assert_eq!(status, 400, "{answer}");
    }
    // Erin cannot use dave's session, nor see it.
    let (status, _) = api(&other, &format!("/api/v1/uploads/{id}/known"), json!({"chunks": []}));
    assert_eq!(status, 404);
    // Nothing was stored by any of it, and both files still read back.
    let listed = fedml_client::list_storage_objects_with(&server.target(&key)).data.expect("list");
    assert_eq!(listed.iter().map(|o| o.data_name.as_str()).collect::<Vec<_>>(), vec!["mine.bin"]);
    downloads_as(&server.target(&key), "mine.bin", &data);
    downloads_as(&server.target(&other), "theirs.bin", &data);
}

#[test]
fn fsck_checks_every_pack_against_its_index() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let path = work.path().join("w.bin");
    std::fs::write(&path, bytes(3 << 20, 31)).expect("write");
    let target = server.admin();
    upload(&target, &path, "weights.bin", false);
    upload(&target, &path, "same-weights.bin", false);
    let flags = server.backend.server_flags(&server.data_dir);
    let fsck = |deep: bool| {
        let mut args = vec!["fsck".to_string(), "-o".into(), "json".into()];
        if deep {
            args.push("--deep".into());
        }
        args.extend(flags.iter().cloned());
        let out = fedml_admin(&args);
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (out.status.code(), report)
    };
    let (code, report) = fsck(true);
    assert_eq!(code, Some(0), "a healthy store: {report}");
    let counts = ["objects_checked", "packs_checked", "blobs_checked"].map(|c| report["data"][c].as_u64());
    assert_eq!(counts, [Some(2), Some(1), Some(0)], "one pack for both objects: {report}");
    let Backend::Embedded = server.backend else { return };
    // One flipped byte in the pack: only the deep check, which reads the pack against its
    // index, sees it, and names an object that reads it.
    let pack = server.blob_files().into_iter().next().expect("the pack");
    let mut data = std::fs::read(&pack).expect("read");
    data[4321] ^= 0x10;
    std::fs::write(&pack, &data).expect("flip");
    assert_eq!(fsck(false).0, Some(0));
    let (code, report) = fsck(true);
    assert_eq!(code, Some(1), "{report}");
    let problem = &report["data"]["problems"][0];
    assert_eq!(problem["problem"], "wrong_checksum", "{report}");
    assert!(problem["object"] == "same-weights.bin" || problem["object"] == "weights.bin", "{report}");
    assert!(problem["found_checksum"].as_str().is_some_and(|f| f.contains("does not match")), "{report}");
    // And each object assembled from it hashes to another checksum than the one recorded.
    let objects: Vec<&Value> = report["data"]["problems"].as_array().expect("problems").iter().skip(1).collect();
    assert_eq!(objects.len(), 2, "{report}");
    for p in objects {
        assert_eq!(p["problem"], "wrong_checksum", "{report}");
        assert!(p["found_checksum"].as_str().is_some_and(|f| f.starts_with("blake3:")), "{report}");
    }
    // And a download refuses the damaged bytes.
    let dest = tempfile::tempdir().expect("tmp");
    let got = fedml_client::download_with("weights.bin", &download_opts(target.clone(), dest.path()));
    assert!(!got.is_success(), "{}", got.message);
    assert!(got.message.contains("checksum"), "{}", got.message);
}

/// A pack's PUT URL used again after its session ended and the collector removed the pack: a
/// bucket's presigned PUT cannot be revoked and stores it again, so the collector removes it
/// once more when the URL has expired; the local folder refuses the PUT at once. Either way the
/// store ends up holding nothing.
#[test]
fn a_pack_put_replayed_after_its_session_ended_leaves_nothing() {
    let server = TestServer::start_with(fedml_platform::operations::Lifetimes {
        upload_secs: 4,
        reclaim_grace_secs: 0,
        ..Default::default()
    });
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let data = bytes(300_000, 31);
    let (index, pack) = one_pack(&data);
    let create = packed_upload("replayed.bin", data.len() as u64);
    let put = |url: String, headers: std::collections::BTreeMap<String, String>, body: Vec<u8>| {
        let http = client.http().clone();
        server.block_on(async move {
            let mut request = http.put(url);
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_str());
            }
            request.body(body).send().await.expect("PUT sent").status()
        })
    };
    let (session, ticket) = server.block_on(async {
        let session = client.create_upload(&create).await.expect("session");
        let request = fedml_proto::content::PacksRequest {
            packs: vec![fedml_proto::content::NewPack { pack: index.pack_id(), size: pack.len() as u64 }],
        };
        let tickets = client.pack_tickets(&session.upload_id, &request).await.expect("tickets");
        (session, tickets.into_iter().next().expect("one ticket"))
    });
    let url = ticket.url.expect("a URL to send the pack to");
    assert!(put(url.clone(), ticket.headers.clone(), pack.clone()).is_success());
    assert!(!server.blob_files().is_empty(), "the pack is stored while its session lives");
    assert!(server.block_on(client.abort_upload(&session.upload_id)).expect("abort"));
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_garbage().await.expect("gc") });
    // Every URL issued for the pack is dead one upload lifetime after this collection.
    let urls_dead_by = std::time::Instant::now() + std::time::Duration::from_millis(4000 + 1500);
    assert!(server.blob_files().is_empty(), "left after the abort: {:?}", server.blob_files());

    // The same PUT again, while its URL lives.
    let replayed = put(url, ticket.headers, pack);
    let on_buckets = !matches!(server.backend, Backend::Embedded);
    if on_buckets {
        assert!(replayed.is_success(), "a presigned PUT works until it expires: {replayed}");
        assert_eq!(server.blob_files().len(), 1, "the replayed PUT stored the pack again");
    } else {
        assert_eq!(replayed.as_u16(), 404, "the local folder refuses a pack no longer wanted");
    }
    // Once the URL has expired, the collector removes what it wrote.
    std::thread::sleep(urls_dead_by.saturating_duration_since(std::time::Instant::now()));
    let platform = server.platform.clone();
    let report = server.block_on(async move { platform.collect_all_garbage().await.expect("gc") });
    assert!(server.blob_files().is_empty(), "left after the URL expired: {:?} ({report:?})", server.blob_files());
    assert_eq!(garbage_count(&server), 0, "nothing more to collect");
}
