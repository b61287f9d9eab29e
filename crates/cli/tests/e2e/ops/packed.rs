//! `fsck`, `backup` and `restore` over the content store: an interrupted packed upload (what
//! every interrupted upload leaves for its resume) is an upload under way, not missing bytes
//! nor unknown files, on every backend; a backup taken meanwhile lists the packs its resume
//! relies on, restores cleanly, and the upload resumes on the restored server. `--deep`
//! assembles every packed file and version from its packs and compares its BLAKE3, however its
//! segments go back and forth between packs, and says what it counted.

use std::collections::BTreeSet;

use fedml_client::client::Client;
use fedml_proto::CompleteUpload;
use fedml_proto::content::{FileContent, NewPack, PackTicket, PacksRequest, Segment};
use serde_json::Value;

use super::*;

/// Packs built by hand from `parts` (one pack each): their ids and bytes.
fn packs_of(parts: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    parts
        .iter()
        .map(|part| {
            let (index, pack) = one_pack(part);
            (index.pack_id(), pack)
        })
        .collect()
}

fn announce(server: &TestServer, client: &Client, upload_id: &str, packs: &[&(String, Vec<u8>)]) -> Vec<PackTicket> {
    let request = PacksRequest {
        packs: packs.iter().map(|(id, body)| NewPack { pack: id.clone(), size: body.len() as u64 }).collect(),
    };
    server.block_on(client.pack_tickets(upload_id, &request)).expect("pack tickets")
}

/// PUTs a pack to the URL its ticket gives.
fn put(client: &Client, ticket: &PackTicket, body: &[u8]) {
    let url = ticket.url.clone().expect("a URL to send the pack to");
    let status = fedml_client::block_on(async {
        let mut request = client.http().put(url);
        for (name, value) in &ticket.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let sent = request.body(body.to_vec()).send().await;
        Ok(sent.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?.status())
    })
    .expect("PUT sent");
    assert!(status.is_success(), "pack PUT: HTTP {status}");
}

fn create(server: &TestServer, client: &Client, name: &str, size: u64) -> String {
    let create = packed_upload(name, size);
    server.block_on(client.create_upload(&create)).expect("session").upload_id
}

/// Completes a packed session whose file is `segments` of `packs`, with `data`'s checksum.
fn complete(client: &Client, upload_id: &str, packs: &[&(String, Vec<u8>)], segments: Vec<Segment>, data: &[u8]) {
    let content =
        FileContent { packs: packs.iter().map(|(id, _)| id.clone()).collect(), segments, samples: Vec::new() };
    let request = CompleteUpload {
        parts: Vec::new(),
        size: data.len() as u64,
        checksum: fedml_proto::checksum::of_bytes(data),
        content: Some(content),
    };
    fedml_client::block_on(client.complete_upload(upload_id, &request)).expect("completed");
}

/// One whole segment per pack, in order.
fn whole(parts: &[Vec<u8>]) -> Vec<Segment> {
    parts.iter().enumerate().map(|(i, p)| Segment { pack: i as u32, offset: 0, length: p.len() as u64 }).collect()
}

/// The blob keys of the packs a session pins, by pack id.
fn pinned_keys(server: &TestServer, upload_id: &str) -> std::collections::BTreeMap<String, String> {
    let catalogue = server.platform.catalogue.clone();
    let pins = server.block_on(async move { catalogue.session_packs().await.expect("session packs") });
    pins.into_iter().filter(|p| p.upload_id == upload_id).map(|p| (p.hash, p.blob_key)).collect()
}

/// Whether the server has checked the pack stored under `key`.
fn checked(server: &TestServer, key: &str) -> bool {
    catalogue_count(server, &format!("SELECT COUNT(*) AS n FROM packs WHERE blob_key = '{key}' AND state = 'verified'"))
        == 1
}

fn unreferenced_in_flight(report: &Value) -> BTreeSet<String> {
    report["data"]["unreferenced"]
        .as_array()
        .expect("unreferenced")
        .iter()
        .filter(|u| u["status"] == "in_flight" && u["place"] == "blob")
        .map(|u| u["key"].as_str().expect("key").to_string())
        .collect()
}

#[test]
fn a_packed_upload_interrupted_during_a_backup_passes_fsck_restores_and_resumes() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let flags = server.backend.server_flags(&server.data_dir);
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    // A committed packed object beside it.
    let done = work.path().join("done.bin");
    std::fs::write(&done, bytes(500_000, 40)).expect("write");
    let mut o = upload_opts(server.admin(), "done.bin");
    o.dedup = true;
    assert!(fedml_client::upload_with(&done, &o).is_success());

    // Interrupted: pack A sent and confirmed (the store was seen to hold it), B sent but not yet
    // confirmed, C announced and never sent.
    let parts = vec![bytes(300_000, 41), bytes(200_000, 42), bytes(100_000, 43)];
    let data = parts.concat();
    let packs = packs_of(&parts);
    let (a, b, c) = (&packs[0], &packs[1], &packs[2]);
    let upload_id = create(&server, &client, "interrupted.bin", data.len() as u64);
    let tickets = announce(&server, &client, &upload_id, &[a, b, c]);
    put(&client, &tickets[0], &a.1);
    put(&client, &tickets[1], &b.1);
    let again = announce(&server, &client, &upload_id, &[a]);
    assert!(again[0].stored && again[0].resumed, "{again:?}");
    let keys = pinned_keys(&server, &upload_id);
    let (key_a, key_b) = (keys[&a.0].clone(), keys[&b.0].clone());

    for deep in [false, true] {
        let (code, report) = fsck(&flags, deep);
        assert_eq!(code, Some(0), "an upload under way is no problem (deep: {deep}): {report}");
        assert_eq!(report["data"]["problems"], serde_json::json!([]), "{report}");
        assert!(report["data"]["sessions_checked"].as_u64() >= Some(1), "{report}");
        let in_flight = unreferenced_in_flight(&report);
        assert!(in_flight.contains(&key_a) && in_flight.contains(&key_b), "its packs are in flight: {report}");
        assert_eq!(report["data"]["objects_checked"], 1, "{report}");
    }
    if let Backend::PostgresS3 { .. } = server.backend {
        // The backup of a PostgreSQL catalogue is pg_dump's; its blob list names the pack too.
        let dest = work.path().join("pg");
        let mut args = vec!["backup".to_string(), "--blobs-only".into(), dest.display().to_string()];
        args.extend(flags.iter().cloned());
        assert!(admin(&args).status.success());
        let list = std::fs::read_to_string(dest.join("blobs.jsonl")).expect("blob list");
        assert!(list.contains(&key_a), "{list}");
        // B is listed once the server has checked it (on a bucket, in the background while the
        // upload went on), never before.
        assert!(!list.contains(&key_b) || checked(&server, &key_b), "{list}");
        return;
    }

    let dest = work.path().join("backup");
    let mut args = vec!["backup".to_string(), dest.display().to_string()];
    args.extend(flags.iter().cloned());
    let out = admin(&args);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<Value> = std::fs::read_to_string(dest.join("blobs.jsonl"))
        .expect("blob list")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // The pack the server checked is listed under its session (a resume takes it as stored);
    // one not yet checked is sent again if it is not copied. The local folder checks a pack as
    // it receives it, so there B is listed too.
    let line_a = lines.iter().find(|l| l["blob_key"] == key_a.as_str()).expect("pack A is listed");
    assert_eq!(line_a["upload"], upload_id.as_str(), "{line_a}");
    assert_eq!(line_a["object"], "interrupted.bin", "{line_a}");
    assert_eq!(line_a["checksum"], format!("pack:{}", a.0), "{line_a}");
    let b_listed = lines.iter().any(|l| l["blob_key"] == key_b.as_str());
    assert!(!b_listed || checked(&server, &key_b), "{lines:?}");
    if matches!(server.backend, Backend::Embedded) {
        assert!(b_listed, "the local folder checked B as it received it: {lines:?}");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!((manifest["objects"].as_u64(), manifest["versions"].as_u64()), (Some(1), Some(0)), "{manifest}");
    assert_eq!(manifest["blobs"].as_u64(), Some(lines.len() as u64), "{manifest}");

    // Restored elsewhere (the blobs copied, or the same bucket): the check passes.
    let fresh = work.path().join("fresh");
    std::fs::create_dir(&fresh).expect("mkdir");
    let service: Vec<String> = match &server.backend {
        Backend::Cloud(spec) => vec!["--service".into(), crate::harness::clouds::flag(spec)],
        _ => {
            copy_tree(&server.data_dir.join("blobs"), &fresh.join("blobs"));
            Vec::new()
        }
    };
    let mut restore = strings(&["restore", &dest.display().to_string(), "--data-dir", &fresh.display().to_string()]);
    restore.extend(strings(&["--deep", "-o", "json"]));
    restore.extend(service.iter().cloned());
    let out = admin(&restore);
    assert!(out.status.success(), "a restore taken during an upload passes its check: {}", text(&out));
    let report = json(&out);
    assert_eq!(report["data"]["fsck"]["problems"], serde_json::json!([]), "{report}");

    // The upload resumes on the restored server: A and B are taken as stored, C is sent.
    let mut restored_flags = strings(&["--data-dir", &fresh.display().to_string()]);
    restored_flags.extend(service);
    let restored = ServerProcess::start(&restored_flags, &work.path().join("log"));
    let resumed = Client::new(&restored.url, &server.admin_key).expect("client");
    let tickets = announce(&server, &resumed, &upload_id, &[a, b, c]);
    assert_eq!(tickets.iter().map(|t| t.stored).collect::<Vec<_>>(), [true, true, false], "{tickets:?}");
    put(&resumed, &tickets[2], &c.1);
    complete(&resumed, &upload_id, &[a, b, c], whole(&parts), &data);
    let down = work.path().join("down");
    let got = fedml_client::download_with("interrupted.bin", &download_opts(restored.target(&server.admin_key), &down));
    assert!(got.is_success(), "{}", got.message);
    assert!(std::fs::read(down.join("interrupted.bin")).expect("downloaded") == data, "the resumed file's bytes");
    drop(restored);

    // A pack the session relies on that the store lost is reported, by session and pack.
    if let Backend::Embedded = server.backend {
        std::fs::remove_file(blob_path(&server, &key_a)).expect("remove pack A");
        let (code, report) = fsck(&flags, false);
        assert_eq!(code, Some(1), "{report}");
        let problems = report["data"]["problems"].as_array().expect("problems");
        assert_eq!(problems.len(), 1, "{report}");
        assert_eq!(problems[0]["problem"], "session_pack_missing", "{report}");
        assert_eq!(problems[0]["upload_id"], upload_id.as_str(), "{report}");
        assert_eq!(problems[0]["blob_key"], key_a.as_str(), "{report}");
        assert_eq!(problems[0]["found_size"], Value::Null, "{report}");
    }
}

/// Sets the recorded checksum of `object` (`NAME`, or `NAME@VERSION` for an earlier version).
fn record_checksum(server: &TestServer, object: &str, checksum: &str) {
    let sql = match object.split_once('@') {
        Some((name, version)) => {
            format!("UPDATE object_versions SET checksum = '{checksum}' WHERE name = '{name}' AND version = {version}")
        }
        None => format!("UPDATE objects SET checksum = '{checksum}' WHERE name = '{object}'"),
    };
    catalogue_sql(server, sql);
}

fn wrong_checksums(report: &Value) -> BTreeSet<(String, String)> {
    report["data"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["problem"] == "wrong_checksum")
        .map(|p| {
            (
                p["object"].as_str().unwrap_or_default().to_string(),
                p["found_checksum"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn fsck_deep_assembles_every_packed_file_and_version_and_compares_its_checksum() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let flags = server.backend.server_flags(&server.data_dir);
    let target = server.admin();
    let upload = |name: &str, data: &[u8], overwrite: bool| {
        let path = work.path().join("file");
        std::fs::write(&path, data).expect("write");
        let mut o = upload_opts(target.clone(), name);
        o.dedup = true;
        o.overwrite = overwrite;
        let r = fedml_client::upload_with(&path, &o);
        assert!(r.is_success(), "{name}: {}", r.message);
    };
    // Two versions of a model (the second shares most packs with the first) and a copy.
    let v1 = bytes(12 << 20, 50);
    let mut v2 = v1.clone();
    v2[5 << 20..(5 << 20) + 4096].copy_from_slice(&bytes(4096, 51));
    upload("model.bin", &v1, false);
    upload("model.bin", &v2, true);
    upload("copy.bin", &v1, false);
    // A file whose 36 segments go round six packs, more than are held at once.
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let parts: Vec<Vec<u8>> = (0..6).map(|i| bytes(60_000, 60 + i)).collect();
    // Each pack of six 10,000-byte chunks: a segment is a run of whole chunks.
    let packs: Vec<(String, Vec<u8>)> = parts
        .iter()
        .map(|part| {
            let index = fedml_proto::content::PackIndex {
                chunks: part
                    .chunks(10_000)
                    .map(|c| fedml_proto::content::IndexEntry {
                        id: fedml_proto::content::chunk_id(c),
                        len: c.len() as u32,
                    })
                    .collect(),
            };
            let mut pack = part.clone();
            pack.extend_from_slice(&index.encode());
            (index.pack_id(), pack)
        })
        .collect();
    let refs: Vec<&(String, Vec<u8>)> = packs.iter().collect();
    let mut segments = Vec::new();
    let mut woven = Vec::new();
    for round in 0..6u64 {
        for (p, part) in parts.iter().enumerate() {
            let (offset, length) = (round * 10_000, 10_000u64);
            segments.push(Segment { pack: p as u32, offset, length });
            woven.extend_from_slice(&part[offset as usize..(offset + length) as usize]);
        }
    }
    let upload_id = create(&server, &client, "woven.bin", woven.len() as u64);
    for (ticket, (_, body)) in announce(&server, &client, &upload_id, &refs).iter().zip(&packs) {
        put(&client, ticket, body);
    }
    complete(&client, &upload_id, &refs, segments, &woven);
    let pack_count = catalogue_count(&server, "SELECT COUNT(*) AS n FROM packs") as u64;

    for deep in [false, true] {
        let (code, report) = fsck(&flags, deep);
        assert_eq!(code, Some(0), "healthy (deep: {deep}): {report}");
        let data = &report["data"];
        let counts =
            ["objects_checked", "versions_checked", "blobs_checked", "packs_checked"].map(|c| data[c].as_u64());
        assert_eq!(counts, [Some(3), Some(1), Some(0), Some(pack_count)], "honest counts: {report}");
    }

    // Recorded checksums that do not match the bytes: sizes alone cannot tell; --deep does.
    let wrong = fedml_proto::checksum::of_bytes(b"not these bytes");
    for object in ["model.bin@1", "copy.bin", "woven.bin"] {
        record_checksum(&server, object, &wrong);
    }
    let (code, report) = fsck(&flags, false);
    assert_eq!(code, Some(0), "{report}");
    let (code, report) = fsck(&flags, true);
    assert_eq!(code, Some(1), "{report}");
    let expected = BTreeSet::from([
        ("model.bin@1".to_string(), fedml_proto::checksum::of_bytes(&v1)),
        ("copy.bin".to_string(), fedml_proto::checksum::of_bytes(&v1)),
        ("woven.bin".to_string(), fedml_proto::checksum::of_bytes(&woven)),
    ]);
    assert_eq!(wrong_checksums(&report), expected, "{report}");
    assert_eq!(report["data"]["problems"].as_array().map(Vec::len), Some(3), "{report}");
    let mut args = strings(&["fsck", "--deep"]);
    args.extend(flags.iter().cloned());
    let out = admin(&args);
    let shown = text(&out);
    for needle in
        ["admin/copy.bin", "admin/model.bin@1", "admin/woven.bin", "wrong checksum", "3 objects and 1 earlier versions"]
    {
        assert!(shown.contains(needle), "{needle:?} not in\n{shown}");
    }
    for object in ["model.bin@1", "copy.bin", "woven.bin"] {
        let right = if object == "woven.bin" { &woven } else { &v1 };
        record_checksum(&server, object, &fedml_proto::checksum::of_bytes(right));
    }
    assert_eq!(fsck(&flags, true).0, Some(0));

    // A damaged pack: the pack against its index, and each file that reads it.
    let Backend::Embedded = server.backend else { return };
    let key = first_pack_of(&server, "woven.bin");
    let path = blob_path(&server, &key);
    let mut body = std::fs::read(&path).expect("read");
    body[15_000] ^= 0x01;
    std::fs::write(&path, &body).expect("flip a byte");
    let (code, report) = fsck(&flags, true);
    assert_eq!(code, Some(1), "{report}");
    let problems = report["data"]["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| p["blob_key"] == key.as_str()
            && p["found_checksum"].as_str().is_some_and(|f| f.contains("does not match"))),
        "the pack: {report}"
    );
    // Byte 15,000 of the first pack is 5,000 bytes into its second segment, the file's seventh.
    let mut woven_damaged = woven.clone();
    woven_damaged[6 * 10_000 + 5_000] ^= 0x01;
    assert!(
        wrong_checksums(&report).contains(&("woven.bin".to_string(), fedml_proto::checksum::of_bytes(&woven_damaged))),
        "the file that reads it: {report}"
    );
}

/// The key of the first pack the packed file `name` reads.
fn first_pack_of(server: &TestServer, name: &str) -> String {
    let catalogue = server.platform.catalogue.clone();
    let name = name.to_string();
    server.block_on(async move {
        let files = catalogue.packed_files().await.expect("packed files");
        let file = files.iter().find(|f| f.object == name).expect("the file");
        let content = catalogue.packed_content(&file.service, &file.blob_key).await.expect("content").expect("some");
        content.packs[0].clone()
    })
}
