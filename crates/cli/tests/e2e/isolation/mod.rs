//! The isolation matrix: every route of both APIs (native `/api/v1/…`, FedML-compatible, the
//! signed blob URLs) against every kind of caller that is not the owner — another user, a
//! read-only key (for writes), a revoked key, no key, a malformed key. Each cell says what the
//! answer must be; every refusal must look exactly like the refusal for data that does not exist
//! (no existence oracle), no answer may carry anything of the owner's (names, sizes, checksums,
//! metadata, ids, keys, bytes), and afterwards the owner's data is as it was: listed the same,
//! downloaded byte for byte, open uploads still completable. A check compares the matrix with the
//! routes the front ends and the server declare, so a new route cannot be added without a row here.
//!
//! Signed URLs (the local store's `/blob/v1/…` and, on postgres-s3, the bucket's presigned URLs):
//! guessed, expired, tampered (each signed parameter, each path segment, the method), moved to
//! another session or another owner's blob, replayed after the session ended — all refused, and
//! nothing is written anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use fedml_client::ObjectMeta;
use serde_json::{Value, json};

use crate::harness::*;

/// What every route must answer every caller but the owner, and that every route has a row.
mod matrix;
/// The namespace routes against each role of an organisation, scoped and read-only keys, a link.
mod roles;
/// The route matrix run: every cell against a real server.
mod routes;
/// The S3 API's operations against every caller but the owner.
mod s3;
/// Signed URLs: guessed, expired, tampered, moved, replayed.
mod signed_urls;
/// Races of teams: removal during an upload, revocation during a download, two admins at once.
mod team_races;

// ---------------------------------------------------------------------------------- raw HTTP

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One request, as a client that bypasses the SDK would send it.
fn send(method: &str, url: &str, headers: &[(String, String)], body: Option<Vec<u8>>) -> Answer {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    let http = HTTP.get_or_init(|| fedml_client::client::http_client().expect("HTTP client"));
    fedml_client::block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = http.request(method, url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect::<String>();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Ok(Answer { status, headers, body })
    })
    .expect("request sent")
}

fn bearer(key: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {key}"))]
}

fn json_headers(mut h: Vec<(String, String)>) -> Vec<(String, String)> {
    h.push(("content-type".into(), "application/json".into()));
    h
}

/// `POST`/`GET` on the server with the owner's key, for setting things up; answers `data`.
fn call(server: &TestServer, key: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let a = send(
        method,
        &format!("{}{path}", server.url),
        &json_headers(bearer(key)),
        body.map(|b| b.to_string().into_bytes()),
    );
    let v = a.json();
    assert!(a.status == 200 && v["code"] == "SUCCESS", "{method} {path}: HTTP {} {}", a.status, a.text());
    v["data"].clone()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------- the owner

/// The owner (alice) with data of every kind, the other callers' keys, and what must not leak.
struct World {
    server: TestServer,
    _work: tempfile::TempDir,
    alice_key: String,
    alice_ro: String,
    alice_revoked: String,
    alice_uid: String,
    bob_key: String,
    bob_uid: String,
    file: Vec<u8>,
    /// The first version of alice's file (the latest is `file`).
    file_v1: Vec<u8>,
    tree: std::path::PathBuf,
    /// The file's blob id (the upload id behind its download URL).
    file_blob: String,
    /// An open native upload session of alice's (one part of 1000 bytes expected).
    session: String,
    session_part_url: String,
    /// A FedML-SDK upload of alice's: finished, waiting for its dataset record.
    compat_done_id: String,
    compat_done_key: String,
    compat_file_url: String,
    compat_bytes: Vec<u8>,
    /// A FedML-SDK upload of alice's, presigned and never sent.
    compat_open_id: String,
    /// An open packed upload session of alice's that found the packs of her file.
    packed_session: String,
    /// A chunk id of alice's file (the first: always a sample), a pack of hers (id, size, blob
    /// key `<owner>/<pack>`), and her packed file's blob name (`<owner>/<blob>`).
    packed_chunk: String,
    packed_pack: String,
    packed_pack_size: u64,
    packed_pack_key: String,
    packed_file_blob: String,
    /// Strings that no answer to a non-owner may contain (unless the request itself holds them).
    markers: Vec<String>,
    /// Strings that no answer may contain, whatever the request.
    secrets: Vec<String>,
    /// Where the real store is (bucket, endpoint, access key id): not in the public config.
    storage: Vec<String>,
    /// (real, decoy) pairs: a refusal of a request on alice's things must read exactly like the
    /// refusal of the same request on things that do not exist.
    decoys: Vec<(String, String)>,
    /// Alice's share link of her file (its id, and the token its URL ends with).
    share_id: String,
    share_token: String,
}

const FILE: &str = "alice-secret-file";
const DIR: &str = "alice-secret-dir";
const FILE_SIZE: usize = 77_777;
/// Alice's organisation (she is its only member, an admin).
const TEAM: &str = "alice-secret-team";

fn user_id(server: &TestServer, key: &str) -> String {
    let a = send(
        "POST",
        &format!("{}/fedmlOpsServer/api/v1/cli/getUser", server.url),
        &json_headers(vec![]),
        Some(json!({"apiKey": key}).to_string().into_bytes()),
    );
    a.json()["data"]["id"].as_str().expect("user id").to_string()
}

fn compat_presign(server: &TestServer, key: &str, file_key: &str, parts: u32) -> (String, Vec<String>) {
    let data = call(
        server,
        key,
        "GET",
        &format!("/system/api/v1/cli/oss/multipart/presigned-url?fileKey={file_key}&partNumber={parts}"),
        None,
    );
    let urls = data["urls"].as_array().expect("urls").iter().map(|u| u.as_str().expect("url").to_string()).collect();
    (data["uploadId"].as_str().expect("upload id").to_string(), urls)
}

fn put_part(url: &str, data: &[u8]) -> String {
    let a = send("PUT", url, &[], Some(data.to_vec()));
    // 201: Azure's answer to Put Block.
    assert!(a.status == 200 || a.status == 201, "part PUT: {} {}", a.status, a.text());
    ["etag: ", "x-ms-content-crc64: ", "content-md5: "]
        .iter()
        .find_map(|name| a.headers.lines().find_map(|l| l.strip_prefix(name)))
        .expect("an ETag")
        .to_string()
}

/// Opens a native upload session of `size` bytes; answers its id, part 1's URL, its expiry.
fn open_session(server: &TestServer, key: &str, name: &str, size: u64) -> (String, String, i64) {
    let session = call(
        server,
        key,
        "POST",
        "/api/v1/uploads",
        Some(json!({"name": name, "service": "R2", "kind": "file", "size": size})),
    );
    let id = session["upload_id"].as_str().expect("id").to_string();
    let urls = call(server, key, "POST", &format!("/api/v1/uploads/{id}/parts"), Some(json!({"first": 1, "count": 1})));
    (id, urls[0]["url"].as_str().expect("url").to_string(), session["expires_at"].as_i64().expect("expiry"))
}

/// The blob id in a download URL: its last path segment (local and S3 alike).
fn blob_of(url: &str) -> (String, String) {
    let path = url.split('?').next().expect("path");
    let mut segments = path.rsplit('/');
    let blob = segments.next().expect("blob").to_string();
    let owner = segments.next().expect("owner").to_string();
    (owner, blob)
}

fn key_id(key: &str) -> String {
    key.split('_').nth(1).expect("key id").to_string()
}

impl World {
    fn new(server: TestServer) -> World {
        let work = tempfile::tempdir().expect("tmp");
        let alice_key = server.new_user("alice");
        let alice_ro = server.new_key("alice", true);
        let alice_revoked = server.new_key("alice", false);
        server.revoke(&alice_revoked);
        let bob_key = server.new_user("bob");
        // The server's first user is an administrator, who sees every user and may revoke any
        // key by design (`dashboard::administrators_…`): here it is one more other user.
        catalogue_sql(&server, "UPDATE users SET is_admin = 0".into());
        let alice_uid = user_id(&server, &alice_key);
        let bob_uid = user_id(&server, &bob_key);
        let alice = server.target(&alice_key);

        let file = bytes(FILE_SIZE, 11);
        let path = work.path().join("file.bin");
        std::fs::write(&path, &file).expect("write");
        let mut o = upload_opts(alice.clone(), FILE);
        o.dedup = true;
        o.description = Some("alice-private-description".into());
        o.tags = Some(vec!["alice-private-tag".into()]);
        o.metadata = Some([("alice-meta-key".to_string(), "alice-meta-value".to_string())].into());
        // Two versions: the first, then `file` over it.
        let file_v1 = bytes(FILE_SIZE, 10);
        std::fs::write(&path, &file_v1).expect("write");
        let stored = fedml_client::upload_with(&path, &o);
        assert!(stored.is_success(), "{}", stored.message);
        std::fs::write(&path, &file).expect("write");
        o.overwrite = true;
        let stored = fedml_client::upload_with(&path, &o);
        assert!(stored.is_success(), "{}", stored.message);
        assert_eq!(stored.data.as_ref().map(|d| d.object.version), Some(2));
        let tree = work.path().join("tree");
        std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
        std::fs::write(tree.join("weights.bin"), bytes(60_001, 12)).expect("write");
        std::fs::write(tree.join("sub/notes.txt"), b"alice's private notes").expect("write");
        let r = fedml_client::upload_with(&tree, &upload_opts(alice.clone(), DIR));
        assert!(r.is_success(), "{}", r.message);

        let bob_file = work.path().join("bob.bin");
        std::fs::write(&bob_file, bytes(4000, 13)).expect("write");
        assert!(fedml_client::upload_with(&bob_file, &upload_opts(server.target(&bob_key), "bob-file")).is_success());

        let (session, session_part_url, _) = open_session(&server, &alice_key, "alice-late", 1000);
        let compat_done_key = format!("{alice_uid}/alice-compat-done");
        let (compat_done_id, urls) = compat_presign(&server, &alice_key, &compat_done_key, 1);
        let compat_bytes = bytes(3000, 14);
        let etag = put_part(&urls[0], &compat_bytes);
        let compat_file_url = call(
            &server,
            &alice_key,
            "POST",
            "/system/api/v1/cli/oss/multipart/upload/complete",
            Some(json!({"fileKey": compat_done_key, "uploadId": compat_done_id,
                        "partETags": [{"partNumber": 1, "etag": etag}]})),
        )
        .as_str()
        .expect("file URL")
        .to_string();
        let (compat_open_id, _) = compat_presign(&server, &alice_key, &format!("{alice_uid}/alice-compat-open"), 2);
        let packed = call(
            &server,
            &alice_key,
            "POST",
            "/api/v1/uploads",
            Some(json!({"name": FILE, "service": "R2", "kind": "file", "size": FILE_SIZE, "overwrite": true,
                        "layout": "packs"})),
        );
        assert_eq!(packed["layout"], "packs", "{packed}");
        let packed_session = packed["upload_id"].as_str().expect("id").to_string();
        let first_chunk = fedml_proto::content::Chunker.cut(&file).unwrap_or(file.len());
        let packed_chunk = hex::encode(fedml_proto::content::chunk_id(&file[..first_chunk]));
        let found = call(
            &server,
            &alice_key,
            "POST",
            &format!("/api/v1/uploads/{packed_session}/known"),
            Some(json!({"chunks": [packed_chunk], "previous": true})),
        );
        let pack = &found.as_array().expect("packs")[0];
        let packed_pack = pack["pack"].as_str().expect("pack id").to_string();
        let packed_pack_size = pack["size"].as_u64().expect("size");
        let (owner, pack_blob) = blob_of(pack["url"].as_str().expect("url"));
        let packed_pack_key = format!("{owner}/{pack_blob}");

        call(&server, &alice_key, "POST", "/api/v1/orgs", Some(json!({"name": TEAM})));
        let shared = call(&server, &alice_key, "POST", "/api/v1/shares", Some(json!({"name": FILE})));
        let share_id = shared["share"]["id"].as_str().expect("share id").to_string();
        let share_token = shared["url"].as_str().expect("url").rsplit('/').next().expect("token").to_string();

        let listed = fedml_client::list_storage_objects_with(&alice).data.expect("list");
        let mut markers: Vec<String> = vec![FILE, DIR, "alice-late", "alice-compat-done", "alice-compat-open", "alice"]
            .into_iter()
            .map(String::from)
            .collect();
        markers.extend(
            ["alice-private-description", "alice-private-tag", "alice-meta-key", "alice-meta-value"].map(String::from),
        );
        let mut file_blob = String::new();
        let mut packed_file_blob = String::new();
        for o in &listed {
            markers.push(o.checksum.trim_start_matches("blake3:").to_string());
            // As the answers would write a size: a bare run of digits could turn up in any hex id
            // or port number.
            let size = o.size;
            markers.extend([format!("\"size\":{size}"), format!("\"fileSize\":{size}"), format!(" {size} bytes")]);
            let (_, blob) = blob_of(o.download_url.as_deref().expect("download URL"));
            if o.data_name == FILE {
                file_blob = blob.clone();
                packed_file_blob = format!("{alice_uid}/{blob}");
            }
            markers.push(blob);
        }
        markers.extend([
            alice_uid.clone(),
            session.clone(),
            compat_done_id.clone(),
            compat_open_id.clone(),
            fedml_proto::checksum::of_bytes(&compat_bytes).trim_start_matches("blake3:").to_string(),
            packed_session.clone(),
            packed_pack.clone(),
            pack_blob.clone(),
            TEAM.to_string(),
            share_id.clone(),
        ]);
        let mut secrets: Vec<String> = Vec::new();
        secrets.push(share_token.clone());
        for key in [&alice_key, &alice_ro, &alice_revoked, &bob_key, &server.admin_key] {
            secrets.push(key.to_string());
            secrets.push(key.rsplit('_').next().expect("secret").to_string());
        }
        markers.extend([&alice_key, &alice_ro, &alice_revoked].map(|k| key_id(k)));
        // The bucket's name and access key id are part of every presigned URL; its secret is not,
        // and the public `configs/fetch` answer names none of them (see `check_cell`).
        let mut storage = Vec::new();
        if let Backend::PostgresS3 { database_url, bucket, endpoint, .. } = &server.backend {
            secrets.push(database_url.clone());
            storage.extend([bucket.clone(), endpoint.clone()]);
        }
        if let Ok(v) = std::env::var("AWS_SECRET_ACCESS_KEY")
            && !v.is_empty()
        {
            secrets.push(v);
        }
        if let Ok(v) = std::env::var("AWS_ACCESS_KEY_ID")
            && !v.is_empty()
        {
            storage.push(v);
        }
        let fake = |n: usize| fedml_platform::keys::random_hex(n);
        let decoys = vec![
            (FILE.to_string(), "nobody-has-this-file".to_string()),
            (DIR.to_string(), "nobody-has-this-dir".to_string()),
            (session.clone(), fake(16)),
            (compat_done_id.clone(), fake(16)),
            (compat_open_id.clone(), fake(16)),
            (packed_session.clone(), fake(16)),
            (file_blob.clone(), fake(16)),
            (alice_uid.clone(), fake(8)),
            (key_id(&alice_key), fake(8)),
            (key_id(&alice_ro), fake(8)),
            (TEAM.to_string(), "nobody-has-this-team".to_string()),
            (share_id.clone(), fake(8)),
        ];
        World {
            server,
            _work: work,
            alice_key,
            alice_ro,
            alice_revoked,
            alice_uid,
            bob_key,
            bob_uid,
            file,
            file_v1,
            tree,
            file_blob,
            session,
            session_part_url,
            compat_done_id,
            compat_done_key,
            compat_file_url,
            compat_bytes,
            compat_open_id,
            packed_session,
            packed_chunk,
            packed_pack,
            packed_pack_size,
            packed_pack_key,
            packed_file_blob,
            markers,
            secrets,
            storage,
            decoys,
            share_id,
            share_token,
        }
    }

    fn alice_objects(&self) -> Vec<ObjectMeta> {
        let mut listed =
            fedml_client::list_storage_objects_with(&self.server.target(&self.alice_key)).data.expect("list");
        for o in &mut listed {
            o.download_url = None;
        }
        listed
    }

    /// Every blob file with a digest of its content, and what each open session of alice's holds.
    fn stored_state(&self) -> BTreeMap<String, String> {
        stored_state(&self.server, &[&self.session, &self.compat_open_id])
    }

    /// The owner's data is exactly as it was: listed the same, byte for byte the same, the open
    /// sessions still usable.
    fn assert_owner_intact(&self, before: &[ObjectMeta]) {
        assert_eq!(self.alice_objects(), before, "alice's catalogue changed");
        let work = tempfile::tempdir().expect("tmp");
        let alice = self.server.target(&self.alice_key);
        let r = fedml_client::download_with(FILE, &download_opts(alice.clone(), work.path()));
        assert!(r.is_success(), "{}", r.message);
        assert!(std::fs::read(work.path().join(FILE)).expect("read") == self.file, "alice's file changed");
        let r = fedml_client::download_with(DIR, &download_opts(alice.clone(), work.path()));
        assert!(r.is_success(), "{}", r.message);
        assert_same_tree(&self.tree, &work.path().join(DIR));
        let meta = fedml_client::get_storage_user_defined_metadata_with(FILE, None, &alice).data.expect("metadata");
        assert_eq!(meta, [("alice-meta-key".to_string(), "alice-meta-value".to_string())].into());
        // Both versions of the file are kept, the first as it was.
        let versions = fedml_client::list_versions_with(FILE, &alice).data.expect("versions");
        assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1], "alice's versions changed");
        let mut first = download_opts(alice.clone(), &work.path().join("v1"));
        first.version = Some(1);
        let r = fedml_client::download_with(FILE, &first);
        assert!(r.is_success(), "{}", r.message);
        assert!(std::fs::read(work.path().join("v1").join(FILE)).expect("read") == self.file_v1, "version 1 changed");

        // The open native session takes its part and completes.
        let late = bytes(1000, 15);
        let etag = put_part(&self.session_part_url, &late);
        call(
            &self.server,
            &self.alice_key,
            "POST",
            &format!("/api/v1/uploads/{}/complete", self.session),
            Some(json!({"parts": [{"part_number": 1, "etag": etag}], "size": 1000,
                        "checksum": fedml_proto::checksum::of_bytes(&late)})),
        );
        // The finished FedML-SDK upload still becomes alice's dataset.
        call(
            &self.server,
            &self.alice_key,
            "POST",
            "/fedmlOpsServer/api/v1/cli/dataset",
            Some(json!({"datasetName": "alice-compat-done", "description": "", "tagNameList": [],
                        "fileUrl": self.compat_file_url})),
        );
        for (name, data) in [("alice-late", &late), ("alice-compat-done", &self.compat_bytes)] {
            let r = fedml_client::download_with(name, &download_opts(alice.clone(), work.path()));
            assert!(r.is_success(), "{name}: {}", r.message);
            assert!(std::fs::read(work.path().join(name)).expect("read") == *data, "{name} differs");
        }
    }
}

/// Every blob file with a digest of its content, and what each given session holds: the parts
/// the catalogue recorded (local store) or the part files the bucket keeps (S3).
fn stored_state(server: &TestServer, sessions: &[&str]) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for f in server.blob_files() {
        let data = std::fs::read(&f).unwrap_or_default();
        state.insert(f.display().to_string(), fedml_proto::checksum::of_bytes(&data));
    }
    let catalogue = server.platform.catalogue.clone();
    let ids: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
    let recorded = server.block_on(async move {
        let mut out = Vec::new();
        for id in ids {
            let parts = catalogue.parts(&id).await.expect("parts").len();
            let store_id = catalogue.upload(&id).await.expect("session").store_upload_id;
            out.push((id, parts, store_id));
        }
        out
    });
    // The local store's staging files are among the blob files; s3s-fs keeps multipart parts
    // beside its buckets, named after the store's upload id.
    let beside: Vec<String> = match &server.backend {
        Backend::Embedded => Vec::new(),
        // What a cloud store holds of each session (its parts or staged blocks), by name.
        Backend::Cloud(_) => {
            for id in sessions {
                state.insert(format!("session {id} in the store"), format!("{:?}", server.session_files(id)));
            }
            Vec::new()
        }
        Backend::PostgresS3 { s3_root, .. } => std::fs::read_dir(s3_root)
            .expect("s3 root")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload_id-"))
            .collect(),
    };
    for (id, parts, store_id) in recorded {
        let prefix = format!(".upload_id-{store_id}.part-");
        let files: Vec<&String> = beside.iter().filter(|n| !store_id.is_empty() && n.starts_with(&prefix)).collect();
        state.insert(format!("session {id}"), format!("{parts} parts recorded, part files {files:?}"));
    }
    state
}
