//! The content store builds only on bytes it has checked: a pack another key planted under the
//! id an honest upload computes never spoils that upload, a pack damaged in the store is never
//! served as a success and is stored anew by the next upload of its data, and a file's segments
//! are bounded so that a read costs what it serves.

use serde_json::{Value, json};

use super::*;

/// A packed session of `key` for a file of `size` bytes, and the tickets of `packs` in it.
fn planted_session(
    server: &TestServer,
    key: &str,
    name: &str,
    size: u64,
    packs: Vec<fedml_proto::content::NewPack>,
) -> (fedml_proto::UploadSession, Vec<fedml_proto::content::PackTicket>) {
    let client = fedml_client::client::Client::new(&server.url, key).expect("client");
    let create = packed_upload(name, size);
    server.block_on(async move {
        let session = client.create_upload(&create).await.expect("session");
        let request = fedml_proto::content::PacksRequest { packs };
        let tickets = client.pack_tickets(&session.upload_id, &request).await.expect("tickets");
        (session, tickets)
    })
}

/// PUTs `body` to a pack ticket's URL; answers the HTTP status, or 0 when the store closed the
/// connection before it took the body (s3s-fs does so when it refuses a PUT that only creates).
fn put(server: &TestServer, ticket: &fedml_proto::content::PackTicket, body: Vec<u8>) -> u16 {
    let http = fedml_client::client::http_client().expect("HTTP client");
    let url = ticket.url.clone().expect("a URL to send the pack to");
    let headers = ticket.headers.clone();
    server.block_on(async move {
        let mut request = http.put(url);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.body(body).send().await {
            Ok(answer) => answer.status().as_u16(),
            Err(e) if e.is_request() => 0,
            Err(e) => panic!("PUT: {e}"),
        }
    })
}

/// Whether a PUT's status says the store took the bytes (Azure answers 201).
fn taken(status: u16) -> bool {
    (200..300).contains(&status)
}

/// A GET of `url` (with `range`, if any): the status and the body's bytes, or where reading the
/// body broke off.
fn get(server: &TestServer, url: &str, range: Option<&str>) -> (u16, Result<Vec<u8>, String>) {
    let http = fedml_client::client::http_client().expect("HTTP client");
    let (url, range) = (url.to_string(), range.map(str::to_string));
    server.block_on(async move {
        let mut request = http.get(url);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let answer = request.send().await.expect("GET sent");
        let status = answer.status().as_u16();
        (status, answer.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string()))
    })
}

fn download_url(target: &fedml_client::Target, name: &str) -> String {
    let meta = fedml_client::get_storage_metadata_with(name, None, target);
    meta.data.expect("metadata").download_url.expect("a download URL")
}

/// `fedml admin fsck -o json` on the server's catalogue and stores: its exit code and report.
fn fsck(server: &TestServer) -> (Option<i32>, Value) {
    let mut args = vec!["fsck".to_string(), "-o".into(), "json".into()];
    args.extend(server.backend.server_flags(&server.data_dir));
    let out = fedml_admin(&args);
    (out.status.code(), serde_json::from_slice(&out.stdout).expect("JSON"))
}

fn metric(server: &TestServer, name: &str) -> f64 {
    let (status, body) = get(server, &format!("{}/metrics", server.url), None);
    assert_eq!(status, 200);
    let text = String::from_utf8(body.expect("metrics")).expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

#[test]
fn a_planted_pack_never_spoils_an_honest_upload() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let honest = server.new_user("frank");
    let planter = server.new_key("frank", false);
    let data = bytes(3 << 20, 51);
    let path = work.path().join("model.bin");
    std::fs::write(&path, &data).expect("write");
    // The pack the client builds for this file (one pack: it is under 8 MiB), announced by
    // another key of the same user, and random bytes of its size PUT to its URL; the session
    // is left open, as if it were an interrupted upload to resume.
    let (index, pack) = one_pack(&data);
    let announced = fedml_proto::content::NewPack { pack: index.pack_id(), size: pack.len() as u64 };
    let (planted, tickets) = planted_session(&server, &planter, "planted.bin", data.len() as u64, vec![announced]);
    let garbage = bytes(pack.len(), 52);
    let status = put(&server, &tickets[0], garbage);
    let on_buckets = !matches!(server.backend, Backend::Embedded);
    if on_buckets {
        assert!(taken(status), "a bucket takes whatever a presigned PUT sends: {status}");
    } else {
        assert_eq!(status, 422, "the local folder checks a pack before it keeps it");
        assert!(server.blob_files().is_empty(), "nothing kept of a refused pack: {:?}", server.blob_files());
    }

    // The honest upload sends the pack itself, and its data reads back whole, by every path.
    let moved = upload(&server.target(&honest), &path, "model.bin", false);
    assert!(moved.sent_bytes >= data.len() as u64, "the planted pack was relied on: {moved:?}");
    assert!(!moved.resumed, "{moved:?}");
    downloads_as(&server.target(&honest), "model.bin", &data);
    let (status, body) = get(&server, &download_url(&server.target(&honest), "model.bin"), None);
    assert_eq!(status, 200);
    assert!(body.expect("the whole body") == data, "the assembled read served other bytes");
    if on_buckets {
        // Found out when the honest upload asked for the pack: never offered again, reported.
        assert_eq!(catalogue_count(&server, "SELECT COUNT(*) AS n FROM packs WHERE state = 'corrupt'"), 1);
        assert_eq!(metric(&server, "fedml_corrupt_packs"), 1.0);
        assert!(metric(&server, "fedml_pack_checks_failed_total") >= 1.0);
    }
    // Nor can the planter's session make an object of its planted bytes: on a bucket the pack
    // it pins is corrupt; on the local folder it never kept them, and the pack it pins now
    // holds the honest bytes (which its completion can only name for what they are).
    let checksum = fedml_proto::checksum::of_bytes(&data);
    let content = json!({"packs": [index.pack_id()], "segments": [{"pack": 0, "offset": 0, "length": data.len()}]});
    let (status, answer) = post(
        &server,
        &planter,
        &format!("/api/v1/uploads/{}/complete", planted.upload_id),
        json!({"parts": [], "size": data.len(), "checksum": checksum, "content": content}),
    );
    if on_buckets {
        assert_eq!(status, 400, "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| m.contains("pack")), "{answer}");
    } else {
        assert_eq!(status, 200, "{answer}");
        downloads_as(&server.target(&planter), "planted.bin", &data);
    }
    downloads_as(&server.target(&honest), "model.bin", &data);
}

/// The same, many times over, with the planter's PUT and the honest upload's announcement at
/// once: whichever comes first, the honest data reads back whole.
#[test]
fn a_pack_planted_while_an_honest_upload_runs_never_spoils_it() {
    let server = TestServer::start_with(no_grace());
    let honest = server.new_user("gina");
    let planter = server.new_key("gina", false);
    let work = tempfile::tempdir().expect("tmp");
    for round in 0..24u64 {
        let data = bytes(600_000 + round as usize * 1000, 60 + round);
        let path = work.path().join(format!("r{round}.bin"));
        std::fs::write(&path, &data).expect("write");
        let (index, pack) = one_pack(&data);
        let announced = fedml_proto::content::NewPack { pack: index.pack_id(), size: pack.len() as u64 };
        let (_, tickets) = planted_session(&server, &planter, &format!("p{round}"), data.len() as u64, vec![announced]);
        let garbage = bytes(pack.len(), 90 + round);
        let ticket = tickets[0].clone();
        let name = format!("r{round}.bin");
        let target = server.target(&honest);
        let jobs: Vec<Job<bool>> = vec![
            Box::new(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(async move {
                    let http = fedml_client::client::http_client().expect("HTTP client");
                    let mut request = http.put(ticket.url.expect("url"));
                    for (name, value) in &ticket.headers {
                        request = request.header(name.as_str(), value.as_str());
                    }
                    request.body(garbage).send().await.is_ok()
                })
            }),
            Box::new(move || {
                let mut o = upload_opts(target, &name);
                o.dedup = true;
                fedml_client::upload_with(&path, &o).is_success()
            }),
        ];
        let done = at_once(jobs);
        assert!(done[1], "round {round}: the honest upload failed");
        downloads_as(&server.target(&honest), &format!("r{round}.bin"), &data);
    }
}

#[test]
fn a_pack_damaged_in_the_store_is_never_served_as_a_success() {
    let server = TestServer::start_with(no_grace());
    if matches!(server.backend, Backend::Cloud(_)) {
        // The emulators keep their objects where a test cannot flip one byte of one.
        return;
    }
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let data = bytes(3 << 20, 71);
    let path = work.path().join("w.bin");
    std::fs::write(&path, &data).expect("write");
    upload(&target, &path, "w.bin", false);
    let url = download_url(&target, "w.bin");
    let (index, _) = one_pack(&data);
    let chunk_end = index.chunks[0].len as usize;
    // A range inside the first chunk reads, checked.
    let (status, body) = get(&server, &url, Some("bytes=10-99"));
    assert_eq!(status, 206);
    assert_eq!(body.expect("body"), &data[10..100]);

    // One byte flipped in the pack's last chunk: the response starts, and ends early.
    let pack = server.blob_files().into_iter().next().expect("the pack");
    let mut stored = std::fs::read(&pack).expect("read");
    stored[data.len() - 10] ^= 0x01;
    std::fs::write(&pack, &stored).expect("flip");
    let (status, body) = get(&server, &url, None);
    assert_eq!(status, 200, "the first chunks are good: the answer starts");
    match body {
        Ok(got) => panic!("a complete body of {} bytes from a damaged pack", got.len()),
        Err(broke) => println!("the damaged read broke off: {broke}"),
    }
    assert_eq!(catalogue_count(&server, "SELECT COUNT(*) AS n FROM packs WHERE state = 'corrupt'"), 1);
    assert_eq!(metric(&server, "fedml_corrupt_packs"), 1.0);
    // Damage in the first chunk read: an error status, with what to do.
    let (status, body) = get(&server, &url, Some(&format!("bytes={}-{}", data.len() - 20, data.len() - 1)));
    assert_eq!(status, 500);
    let answer: Value = serde_json::from_slice(&body.expect("an envelope")).expect("JSON");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("damaged") && m.contains("upload")), "{answer}");
    // The good chunks still read.
    let (status, body) = get(&server, &url, Some(&format!("bytes=0-{}", chunk_end - 1)));
    assert_eq!(status, 206);
    assert_eq!(body.expect("body"), &data[..chunk_end]);

    // fsck names it, and the object that reads it.
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(1), "{report}");
    let corrupt: Vec<&Value> = report["data"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["problem"] == "pack_corrupt")
        .collect();
    assert_eq!(corrupt.len(), 1, "{report}");
    assert_eq!(corrupt[0]["readers"], 1, "{report}");
    assert!(corrupt[0]["why"].as_str().is_some_and(|w| w.contains("does not match")), "{report}");

    // The next upload of the same data does not build on the damaged pack: it sends it anew.
    let moved = upload(&target, &path, "w2.bin", false);
    assert!(moved.sent_bytes >= data.len() as u64, "{moved:?}");
    downloads_as(&target, "w2.bin", &data);
    let (status, body) = get(&server, &download_url(&target, "w2.bin"), None);
    assert_eq!(status, 200);
    assert!(body.expect("body") == data);
}

/// A file described in tiny segments: adjacent ones are merged, ones that split chunks are
/// refused, and packs of 1-byte chunks cannot make a file of more than one segment per 32 bytes
/// (and 64).
#[test]
fn segments_are_merged_lie_on_chunk_boundaries_and_are_bounded() {
    let server = TestServer::start();
    let key = server.new_user("hal");
    let client = fedml_client::client::Client::new(&server.url, &key).expect("client");
    // Two packs of one-byte chunks, as many as a pack holds.
    let pack_of = |seed: u64| {
        let data = bytes(fedml_proto::content::MAX_PACK_CHUNKS, seed);
        let index = fedml_proto::content::PackIndex {
            chunks: data
                .iter()
                .map(|b| fedml_proto::content::IndexEntry {
                    id: fedml_proto::content::chunk_id(std::slice::from_ref(b)),
                    len: 1,
                })
                .collect(),
        };
        let mut pack = data.clone();
        pack.extend_from_slice(&index.encode());
        (data, index.pack_id(), pack)
    };
    let (a, a_id, a_pack) = pack_of(81);
    let (b, b_id, b_pack) = pack_of(82);
    let session = |name: &str, size: usize| {
        let announced = vec![
            fedml_proto::content::NewPack { pack: a_id.clone(), size: a_pack.len() as u64 },
            fedml_proto::content::NewPack { pack: b_id.clone(), size: b_pack.len() as u64 },
        ];
        let (session, tickets) = planted_session(&server, &key, name, size as u64, announced);
        for (ticket, body) in tickets.iter().zip([&a_pack, &b_pack]) {
            if !ticket.stored {
                assert!(taken(put(&server, ticket, body.clone())));
            }
        }
        session.upload_id
    };
    let complete = |id: &str, file: &[u8], segments: Vec<Value>| {
        let content = json!({"packs": [a_id, b_id], "segments": segments});
        let checksum = fedml_proto::checksum::of_bytes(file);
        post(
            &server,
            &key,
            &format!("/api/v1/uploads/{id}/complete"),
            json!({"parts": [], "size": file.len(), "checksum": checksum, "content": content}),
        )
    };

    // 1,025 adjacent one-byte segments of one pack: stored as one.
    let id = session("merged.bin", a.len());
    let segments = (0..a.len()).map(|i| json!({"pack": 0, "offset": i, "length": 1})).collect();
    let (status, answer) = complete(&id, &a, segments);
    assert_eq!(status, 200, "{answer}");
    let stored =
        catalogue_count(&server, "SELECT CAST(LENGTH(content) AS BIGINT) AS n FROM objects WHERE name = 'merged.bin'");
    assert!(stored < 200, "the segments were stored as sent: {stored} bytes of manifest");

    // Alternating one-byte segments of the two packs: one segment per byte, more than a file of
    // that size may have (about one per 32 bytes).
    let most_for = |size: usize| size / 32 + 64;
    let mut file = Vec::new();
    let mut segments = Vec::new();
    for i in 0..a.len() {
        file.push(a[i]);
        segments.push(json!({"pack": 0, "offset": i, "length": 1}));
        file.push(b[i]);
        segments.push(json!({"pack": 1, "offset": i, "length": 1}));
    }
    let id = session("tiny.bin", file.len());
    let (status, answer) = complete(&id, &file, segments.clone());
    assert_eq!(status, 400, "{answer}");
    let says = format!("at most {}", most_for(file.len()));
    assert!(answer["message"].as_str().is_some_and(|m| m.contains(&says)), "{says}: {answer}");
    // As many as the bound allows is taken, and reads back, checked, from the assembled URL.
    let most = (2..file.len()).step_by(2).take_while(|&n| n <= most_for(n)).last().expect("some fit");
    let id = session("bounded.bin", most);
    let (status, answer) = complete(&id, &file[..most], segments[..most].to_vec());
    assert_eq!(status, 200, "{answer}");
    let (status, body) = get(&server, &download_url(&server.target(&key), "bounded.bin"), None);
    assert_eq!(status, 200);
    assert_eq!(body.expect("body"), &file[..most]);

    // A segment that splits a chunk of an ordinary pack is refused.
    let data = bytes(1 << 20, 83);
    let (index, pack) = one_pack(&data);
    let (session, tickets) = planted_session(
        &server,
        &key,
        "split.bin",
        data.len() as u64,
        vec![fedml_proto::content::NewPack { pack: index.pack_id(), size: pack.len() as u64 }],
    );
    assert!(taken(put(&server, &tickets[0], pack)));
    let half = index.chunks[0].len as usize / 2;
    let content = json!({"packs": [index.pack_id()], "segments": [
        {"pack": 0, "offset": 0, "length": half},
        {"pack": 0, "offset": half + 1, "length": data.len() - half - 1},
        {"pack": 0, "offset": half, "length": 1},
    ]});
    let mut shuffled = data[..half].to_vec();
    shuffled.extend_from_slice(&data[half + 1..]);
    shuffled.push(data[half]);
    let checksum = fedml_proto::checksum::of_bytes(&shuffled);
    let (status, answer) = post(
        &server,
        &key,
        &format!("/api/v1/uploads/{}/complete", session.upload_id),
        json!({"parts": [], "size": data.len(), "checksum": checksum, "content": content}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("chunks")), "{answer}");
    drop(client);
}

#[test]
fn listings_never_read_a_file_s_manifest() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let path = work.path().join("a.bin");
    std::fs::write(&path, bytes(1 << 20, 91)).expect("write");
    upload(&target, &path, "a.bin", false);
    upload(&target, &path, "b.bin", false);
    upload(&target, &path, "b.bin", true);
    // A manifest no parser takes: the listings, the dashboard's pages and the versions still
    // answer (a read of the file itself would not).
    catalogue_sql(&server, "UPDATE objects SET content = '{' WHERE name = 'a.bin'".into());
    catalogue_sql(&server, "UPDATE object_versions SET content = '{' WHERE name = 'b.bin'".into());
    let listed = fedml_client::list_storage_objects_with(&target).data.expect("the listing");
    assert_eq!(listed.iter().map(|o| o.data_name.as_str()).collect::<Vec<_>>(), ["a.bin", "b.bin"]);
    assert!(listed.iter().all(|o| o.download_url.as_deref().is_some_and(|u| u.contains("/file/"))), "{listed:?}");
    let versions = fedml_client::list_versions_with("b.bin", &target);
    assert!(versions.is_success(), "{}", versions.message);
    assert_eq!(versions.data.expect("versions").len(), 2);
}

#[test]
fn fsck_reports_a_quota_count_that_drifts_from_the_packs() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let path = work.path().join("a.bin");
    std::fs::write(&path, bytes(1 << 20, 95)).expect("write");
    upload(&server.admin(), &path, "a.bin", false);
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(0), "{report}");
    catalogue_sql(&server, "UPDATE users SET pack_bytes = pack_bytes + 5 WHERE name = 'admin'".into());
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(1), "{report}");
    let drift = &report["data"]["problems"][0];
    assert_eq!(drift["problem"], "usage_drift", "{report}");
    assert_eq!(drift["counted"].as_i64(), drift["held"].as_i64().map(|h| h + 5), "{report}");
}

/// A pack's URL, used again with other bytes after the server checked and committed the pack,
/// changes nothing: the local folder never replaces a pack in place, and a bucket's PUT URL only
/// creates (`If-None-Match: *` signed into it).
#[test]
fn a_checked_pack_cannot_be_replaced_through_its_url() {
    let server = TestServer::start();
    if matches!(server.backend, Backend::Cloud(_)) {
        // Neither emulator's signed URLs can be made create-only (see docs/design.md).
        return;
    }
    let key = server.new_user("ivy");
    let data = bytes(2 << 20, 97);
    let (index, pack) = one_pack(&data);
    let announced = fedml_proto::content::NewPack { pack: index.pack_id(), size: pack.len() as u64 };
    let (session, tickets) = planted_session(&server, &key, "kept.bin", data.len() as u64, vec![announced]);
    assert!(taken(put(&server, &tickets[0], pack.clone())));
    // Sent again (an answer lost on the way): a bucket says it is there already.
    let again = put(&server, &tickets[0], pack.clone());
    assert!([200, 412, 0].contains(&again), "{again}");
    let checksum = fedml_proto::checksum::of_bytes(&data);
    let content = json!({"packs": [index.pack_id()], "segments": [{"pack": 0, "offset": 0, "length": data.len()}]});
    let (status, answer) = post(
        &server,
        &key,
        &format!("/api/v1/uploads/{}/complete", session.upload_id),
        json!({"parts": [], "size": data.len(), "checksum": checksum, "content": content}),
    );
    assert_eq!(status, 200, "{answer}");
    let replaced = put(&server, &tickets[0], bytes(pack.len(), 98));
    if matches!(server.backend, Backend::Embedded) {
        assert_eq!(replaced, 200, "the local folder answers from the pack in place");
    } else {
        assert!(replaced == 412 || replaced == 0, "a bucket's pack URL only creates: {replaced}");
    }
    downloads_as(&server.target(&key), "kept.bin", &data);
    let (status, body) = get(&server, &download_url(&server.target(&key), "kept.bin"), None);
    assert_eq!(status, 200);
    assert!(body.expect("body") == data);
}

/// Packs stored by the release before this one were never read by the server: after the upgrade
/// they count against the quota by their size, are offered to uploads as before, and are checked
/// before an upload relies on them; one found damaged fails the completion that named it, saying
/// so, and the same upload run again sends it anew.
#[test]
fn packs_of_the_release_before_are_checked_before_an_upload_relies_on_them() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let data = bytes(3 << 20, 101);
    let path = work.path().join("m.bin");
    std::fs::write(&path, &data).expect("write");
    upload(&target, &path, "m.bin", false);
    // The catalogue as the release before left it: packs without a check, no count of them.
    let server = server.restart(|url| {
        super::offline_sql(
            url,
            &[
                super::UNDO_AFTER_10,
                "CREATE TABLE packs8 (blob_key TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users (id), \
                 service TEXT NOT NULL, hash TEXT NOT NULL, size BIGINT NOT NULL, state TEXT NOT NULL, \
                 group_id TEXT NOT NULL, created_at BIGINT NOT NULL, url_expires_at BIGINT NOT NULL, \
                 UNIQUE (owner_id, service, hash))",
                "INSERT INTO packs8 SELECT blob_key, owner_id, service, hash, size, 'stored', group_id, created_at, \
                 url_expires_at FROM packs",
                "DROP TABLE packs",
                "ALTER TABLE packs8 RENAME TO packs",
                "CREATE INDEX packs_group ON packs (owner_id, service, group_id)",
                "ALTER TABLE users DROP COLUMN pack_bytes",
                "ALTER TABLE uploads DROP COLUMN keep_description",
                "ALTER TABLE uploads DROP COLUMN keep_tags",
                "ALTER TABLE uploads DROP COLUMN keep_metadata",
                "DELETE FROM schema_version WHERE version > 8",
            ],
        )
    });
    let target = server.admin();
    let pack_size = catalogue_count(&server, "SELECT CAST(SUM(size) AS BIGINT) AS n FROM packs");
    assert_eq!(catalogue_count(&server, "SELECT COUNT(*) AS n FROM packs WHERE state = 'stored'"), 1);
    assert_eq!(
        catalogue_count(&server, "SELECT pack_bytes AS n FROM users WHERE name = 'admin'"),
        pack_size,
        "an unchecked pack counts by its size"
    );
    downloads_as(&target, "m.bin", &data);
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(0), "{report}");
    if matches!(server.backend, Backend::Cloud(_)) {
        return;
    }
    // Damaged in the store meanwhile: an upload of the same data is offered it (it is not known
    // to be damaged), the completion reads it and refuses, saying why (HTTP 422); the client
    // sends the data again in the same session, and the pack is stored anew.
    let pack = server.blob_files().into_iter().next().expect("the pack");
    let mut stored = std::fs::read(&pack).expect("read");
    stored[1000] ^= 0x01;
    std::fs::write(&pack, &stored).expect("flip");
    let moved = upload(&target, &path, "m2.bin", false);
    assert!(moved.sent_bytes >= data.len() as u64, "the damaged pack was not sent anew: {moved:?}");
    downloads_as(&target, "m2.bin", &data);
    // What it counts is what the packs hold: the damaged one (by its size) and the new one.
    let (code, report) = fsck(&server);
    assert_eq!(code, Some(1), "the damaged pack is reported: {report}");
    assert!(report["data"]["problems"].as_array().expect("problems").iter().all(|p| p["problem"] == "pack_corrupt"));
}
