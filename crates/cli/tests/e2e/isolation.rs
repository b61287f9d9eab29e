//! The isolation matrix: every route of both APIs (native `/api/v1/…`, FedML-compatible, the
//! signed blob URLs) against every kind of caller that is not the owner — another user, a
//! read-only key (for writes), a revoked key, no key, a malformed key. Each cell says what the
//! answer must be; every refusal must look exactly like the refusal for data that does not exist
//! (no existence oracle), no answer may carry anything of the owner's (names, sizes, checksums,
//! metadata, ids, keys, bytes), and afterwards the owner's data is as it was: listed the same,
//! downloaded byte for byte, open uploads still completable. A check compares the matrix with the
//! routes the two routers declare, so a new route cannot be added without a row here.
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
    /// Strings that no answer to a non-owner may contain (unless the request itself holds them).
    markers: Vec<String>,
    /// Strings that no answer may contain, whatever the request.
    secrets: Vec<String>,
    /// Where the real store is (bucket, endpoint, access key id): not in the public config.
    storage: Vec<String>,
    /// (real, decoy) pairs: a refusal of a request on alice's things must read exactly like the
    /// refusal of the same request on things that do not exist.
    decoys: Vec<(String, String)>,
}

const FILE: &str = "alice-secret-file";
const DIR: &str = "alice-secret-dir";
const FILE_SIZE: usize = 77_777;

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
    assert_eq!(a.status, 200, "part PUT: {}", a.text());
    a.headers.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an ETag").to_string()
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
        let alice_uid = user_id(&server, &alice_key);
        let bob_uid = user_id(&server, &bob_key);
        let alice = server.target(&alice_key);

        let file = bytes(FILE_SIZE, 11);
        let path = work.path().join("file.bin");
        std::fs::write(&path, &file).expect("write");
        let mut o = upload_opts(alice.clone(), FILE);
        o.description = Some("alice-private-description".into());
        o.tags = vec!["alice-private-tag".into()];
        o.metadata = Some([("alice-meta-key".to_string(), "alice-meta-value".to_string())].into());
        let stored = fedml_client::upload_with(&path, &o);
        assert!(stored.is_success(), "{}", stored.message);
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

        let listed = fedml_client::list_storage_objects_with(&alice).data.expect("list");
        let mut markers: Vec<String> = vec![FILE, DIR, "alice-late", "alice-compat-done", "alice-compat-open", "alice"]
            .into_iter()
            .map(String::from)
            .collect();
        markers.extend(
            ["alice-private-description", "alice-private-tag", "alice-meta-key", "alice-meta-value"].map(String::from),
        );
        let mut file_blob = String::new();
        for o in &listed {
            markers.push(o.checksum.trim_start_matches("blake3:").to_string());
            // As the answers would write a size: a bare run of digits could turn up in any hex id
            // or port number.
            let size = o.size;
            markers.extend([format!("\"size\":{size}"), format!("\"fileSize\":{size}"), format!(" {size} bytes")]);
            let (_, blob) = blob_of(o.download_url.as_deref().expect("download URL"));
            if o.data_name == FILE {
                file_blob = blob.clone();
            }
            markers.push(blob);
        }
        markers.extend([
            alice_uid.clone(),
            session.clone(),
            compat_done_id.clone(),
            compat_open_id.clone(),
            fedml_proto::checksum::of_bytes(&compat_bytes).trim_start_matches("blake3:").to_string(),
        ]);
        let mut secrets: Vec<String> = Vec::new();
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
        let fake = |n: usize| fedml_server::keys::random_hex(n);
        let decoys = vec![
            (FILE.to_string(), "nobody-has-this-file".to_string()),
            (DIR.to_string(), "nobody-has-this-dir".to_string()),
            (session.clone(), fake(16)),
            (compat_done_id.clone(), fake(16)),
            (compat_open_id.clone(), fake(16)),
            (file_blob.clone(), fake(16)),
            (alice_uid.clone(), fake(8)),
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
            tree,
            file_blob,
            session,
            session_part_url,
            compat_done_id,
            compat_done_key,
            compat_file_url,
            compat_bytes,
            compat_open_id,
            markers,
            secrets,
            storage,
            decoys,
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
        let meta = fedml_client::get_storage_user_defined_metadata_with(FILE, &alice).data.expect("metadata");
        assert_eq!(meta, [("alice-meta-key".to_string(), "alice-meta-value".to_string())].into());

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

// ---------------------------------------------------------------------------------- the matrix

/// What a cell's answer must be.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Open to anyone; the same answer whoever asks; nothing of alice's in it.
    Public,
    /// Succeeds on the caller's own account; nothing of alice's in it.
    Own,
    /// Alice's read-only key reading alice's data: succeeds.
    Yes,
    /// Refused with this HTTP status and FAILURE, exactly as for data that does not exist.
    No(u16),
    /// FedML-compatible: HTTP 200 with FAILURE (the SDK takes any other code for success),
    /// exactly as for data that does not exist.
    Fail,
    /// A blob URL without signature: 401 where the local store serves it, 404 where the
    /// service is a bucket (its bytes are not served here); no key makes up for a signature.
    Unsigned,
    /// The public no-op S3 endpoint: DELETE does nothing (204), every other method is refused.
    Noop,
}
use Expect::*;

#[derive(Clone, Copy, Debug)]
enum Who {
    /// Another user's read-write key (bob; the server's first admin).
    Other,
    /// Alice's read-only key.
    ReadOnly,
    /// Alice's revoked key.
    Revoked,
    NoKey,
    /// Keys that are not keys, or are alice's with a wrong secret or scheme.
    Malformed,
}
const WHO: [Who; 5] = [Who::Other, Who::ReadOnly, Who::Revoked, Who::NoKey, Who::Malformed];

struct Row {
    method: &'static str,
    route: &'static str,
    /// Other, read-only, revoked, no key, malformed.
    expect: [Expect; 5],
}

const fn row(method: &'static str, route: &'static str, expect: [Expect; 5]) -> Row {
    Row { method, route, expect }
}

const U: Expect = No(401);
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //   method    route                                                     other     read-only  revoked   no key    malformed
    row("GET",    "/api/v1/health",                                         [Public,   Public,    Public,   Public,   Public]),
    row("GET",    "/api/v1/openapi.json",                                   [Public,   Public,    Public,   Public,   Public]),
    row("GET",    "/api/v1/whoami",                                         [Own,      Yes,       U,        U,        U]),
    row("POST",   "/api/v1/uploads",                                        [Own,      No(403),   U,        U,        U]),
    row("POST",   "/api/v1/uploads/{id}/parts",                             [No(404),  No(403),   U,        U,        U]),
    row("POST",   "/api/v1/uploads/{id}/complete",                          [No(404),  No(403),   U,        U,        U]),
    row("DELETE", "/api/v1/uploads/{id}",                                   [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/objects",                                        [Own,      Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}",                                 [No(404),  Yes,       U,        U,        U]),
    row("DELETE", "/api/v1/objects/{name}",                                 [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/user-metadata",                   [No(404),  Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/download",                        [No(404),  Yes,       U,        U,        U]),
    row("PUT",    "/blob/v1/{service}/part/{upload_id}/{part}",             [Unsigned, Unsigned,  Unsigned, Unsigned, Unsigned]),
    row("GET",    "/blob/v1/{service}/object/{owner}/{blob}",               [Unsigned, Unsigned,  Unsigned, Unsigned, Unsigned]),
    row("POST",   "/fedmlOpsServer/api/v1/cli/heartBeat",                   [Own,      Yes,       Fail,     Fail,     Fail]),
    row("POST",   "/fedmlOpsServer/api/v1/cli/getUser",                     [Own,      Yes,       Fail,     Fail,     Fail]),
    row("GET",    "/system/api/v1/cli/oss/multipart/presigned-url",         [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("POST",   "/system/api/v1/cli/oss/multipart/upload/complete",       [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("POST",   "/fedmlOpsServer/api/v1/cli/dataset",                     [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("DELETE", "/fedmlOpsServer/api/v1/cli/dataset",                     [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("GET",    "/fedmlOpsServer/api/v1/cli/dataset/list",                [Own,      Yes,       Fail,     Fail,     Fail]),
    row("GET",    "/fedmlOpsServer/api/v1/cli/dataset/meta",                [Fail,     Yes,       Fail,     Fail,     Fail]),
    row("POST",   "/fedmlOpsServer/configs/fetch",                          [Public,   Public,    Public,   Public,   Public]),
    row("ANY",    "/fedml-s3-noop/{*rest}",                                 [Noop,     Noop,      Noop,     Noop,     Noop]),
];

/// The (method, route) pairs the two routers declare, read from their source.
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for src in [include_str!("../../../server/src/routes.rs"), include_str!("../../../server/src/compat_routes.rs")] {
        for (at, _) in src.match_indices(".route(\"") {
            let rest = &src[at + ".route(\"".len()..];
            let end = rest.find('"').expect("end of the route string");
            let route = &rest[..end];
            // The handlers: everything up to the parenthesis that closes `.route(`.
            let (mut depth, mut close) = (1, end + 1);
            for (i, c) in rest[end + 1..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    close = end + 1 + i;
                    break;
                }
            }
            let handlers = &rest[end + 1..close];
            let mut methods = 0;
            for m in ["get", "post", "put", "delete", "patch", "head", "options", "any"] {
                for (i, _) in handlers.match_indices(&format!("{m}(")) {
                    let before = handlers[..i].chars().last().unwrap_or(' ');
                    if !(before.is_alphanumeric() || before == '_') {
                        out.insert((m.to_uppercase(), route.to_string()));
                        methods += 1;
                    }
                }
            }
            assert!(methods > 0, "no method found for route {route}");
        }
    }
    out
}

#[test]
fn the_matrix_covers_every_route_of_both_routers() {
    let declared = declared_routes();
    let matrix: BTreeSet<(String, String)> =
        MATRIX.iter().map(|r| (r.method.to_string(), r.route.to_string())).collect();
    assert_eq!(matrix.len(), MATRIX.len(), "a route appears twice in the matrix");
    let missing: Vec<_> = declared.difference(&matrix).collect();
    let stale: Vec<_> = matrix.difference(&declared).collect();
    assert!(missing.is_empty(), "routes without a row in the isolation matrix: {missing:?}");
    assert!(stale.is_empty(), "matrix rows for routes the routers no longer declare: {stale:?}");
    assert!(declared.len() >= 23, "the route parser found only {declared:?}");
}

/// How a key is presented.
#[derive(Clone, Debug)]
enum Presented {
    Absent,
    /// `Authorization: Bearer <key>`, or `{"apiKey": <key>}` where the route reads the body.
    Key(String),
    /// A raw `Authorization` value (header routes only).
    Header(String),
    /// A raw `apiKey` value (body-key routes only).
    Json(Value),
}

/// Where a route reads the key from.
#[derive(Clone, Copy, PartialEq)]
enum KeyIn {
    Header,
    Body,
}

struct Req {
    method: &'static str,
    path: String,
    body: Option<Value>,
    key_in: KeyIn,
    /// Alice's valid key in the `Authorization` header of a route that must ignore it.
    stale_header: bool,
}

impl Req {
    fn new(method: &'static str, path: impl Into<String>, body: Option<Value>) -> Req {
        Req { method, path: path.into(), body, key_in: KeyIn::Header, stale_header: false }
    }
}

fn presented(w: &World, who: Who, key_in: KeyIn) -> Vec<Presented> {
    let alice = &w.alice_key;
    let flip = |s: &str| {
        let mut s = s.to_string();
        let last = s.pop().expect("char");
        s.push(if last == '0' { '1' } else { '0' });
        s
    };
    match who {
        Who::Other => vec![Presented::Key(w.bob_key.clone()), Presented::Key(w.server.admin_key.clone())],
        Who::ReadOnly => vec![Presented::Key(w.alice_ro.clone())],
        Who::Revoked => vec![Presented::Key(w.alice_revoked.clone())],
        Who::NoKey => match key_in {
            KeyIn::Body => vec![Presented::Absent, Presented::Json(json!("")), Presented::Json(Value::Null)],
            KeyIn::Header => {
                vec![Presented::Absent, Presented::Header("Bearer ".into()), Presented::Header("Bearer    ".into())]
            }
        },
        Who::Malformed => {
            let (prefix, secret) = alice.rsplit_once('_').expect("key shape");
            let mut keys: Vec<Presented> = [
                "garbage".to_string(),
                "fml_".to_string(),
                format!("fml_0123456789abcdef_{}", "0".repeat(64)),
                format!("{prefix}_{}", "0".repeat(64)),
                flip(alice),
                alice[..alice.len() - 1].to_string(),
                format!("{alice}0"),
                format!("{prefix}_{}", secret.to_uppercase()),
                format!("{prefix}_{secret}_{secret}"),
                w.alice_uid.clone(),
            ]
            .into_iter()
            .map(Presented::Key)
            .collect();
            match key_in {
                KeyIn::Body => {
                    keys.extend([json!(12345), json!([alice]), json!({"apiKey": alice})].map(Presented::Json))
                }
                KeyIn::Header => keys.extend(
                    [format!("Basic {alice}"), alice.clone(), format!("Token {alice}"), format!("Bearer{alice}")]
                        .map(Presented::Header),
                ),
            }
            keys
        }
    }
}

/// The requests that exercise one route on alice's things.
fn requests(w: &World, method: &str, route: &str) -> Vec<Req> {
    let s = &w.session;
    let uid = &w.alice_uid;
    let fake_checksum = format!("blake3:{}", "0".repeat(64));
    match (method, route) {
        ("GET", "/api/v1/health") => vec![Req::new("GET", route, None)],
        ("GET", "/api/v1/openapi.json") => vec![Req::new("GET", route, None)],
        ("GET", "/api/v1/whoami") => vec![Req::new("GET", route, None)],
        ("POST", "/api/v1/uploads") => vec![Req::new(
            "POST",
            route,
            Some(json!({"name": FILE, "service": "R2", "kind": "file", "size": 10, "overwrite": true})),
        )],
        ("POST", "/api/v1/uploads/{id}/parts") => {
            vec![Req::new("POST", format!("/api/v1/uploads/{s}/parts"), Some(json!({"first": 1, "count": 2})))]
        }
        ("POST", "/api/v1/uploads/{id}/complete") => [s, &w.compat_open_id]
            .map(|id| {
                Req::new(
                    "POST",
                    format!("/api/v1/uploads/{id}/complete"),
                    Some(json!({"parts": [{"part_number": 1, "etag": "\"00000000\""}], "size": 1000,
                                "checksum": fake_checksum})),
                )
            })
            .into(),
        ("DELETE", "/api/v1/uploads/{id}") => [s, &w.compat_open_id, &w.compat_done_id]
            .map(|id| Req::new("DELETE", format!("/api/v1/uploads/{id}"), None))
            .into(),
        ("GET", "/api/v1/objects") => vec![
            Req::new("GET", route, None),
            Req::new("GET", format!("{route}?after=alice&limit=10"), None),
            Req::new("GET", format!("{route}?after={FILE}&limit=1"), None),
        ],
        ("GET", "/api/v1/objects/{name}") => {
            [FILE, DIR].map(|n| Req::new("GET", format!("/api/v1/objects/{n}"), None)).into()
        }
        ("DELETE", "/api/v1/objects/{name}") => vec![
            Req::new("DELETE", format!("/api/v1/objects/{FILE}"), None),
            Req::new("DELETE", format!("/api/v1/objects/{DIR}?service=R2"), None),
        ],
        ("GET", "/api/v1/objects/{name}/user-metadata") => {
            [FILE, DIR].map(|n| Req::new("GET", format!("/api/v1/objects/{n}/user-metadata"), None)).into()
        }
        ("GET", "/api/v1/objects/{name}/download") => vec![
            Req::new("GET", format!("/api/v1/objects/{FILE}/download"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}/download?service=R2"), None),
        ],
        ("PUT", "/blob/v1/{service}/part/{upload_id}/{part}") => {
            vec![Req::new("PUT", format!("/blob/v1/R2/part/{s}/1"), None)]
        }
        ("GET", "/blob/v1/{service}/object/{owner}/{blob}") => {
            vec![Req::new("GET", format!("/blob/v1/R2/object/{uid}/{}", w.file_blob), None)]
        }
        ("POST", "/fedmlOpsServer/api/v1/cli/heartBeat") => {
            vec![Req { key_in: KeyIn::Body, ..Req::new("POST", route, Some(json!({}))) }]
        }
        ("POST", "/fedmlOpsServer/api/v1/cli/getUser") => vec![
            Req { key_in: KeyIn::Body, ..Req::new("POST", route, Some(json!({}))) },
            Req { key_in: KeyIn::Body, stale_header: true, ..Req::new("POST", route, Some(json!({}))) },
        ],
        ("GET", "/system/api/v1/cli/oss/multipart/presigned-url") => vec![
            Req::new("GET", format!("{route}?fileKey={uid}/{FILE}&partNumber=1"), None),
            Req::new("GET", format!("{route}?fileKey={uid}/new-in-alices-space&partNumber=3"), None),
        ],
        ("POST", "/system/api/v1/cli/oss/multipart/upload/complete") => {
            let parts = json!([{"partNumber": 1, "etag": "\"00000000\""}]);
            vec![
                Req::new(
                    "POST",
                    route,
                    Some(json!({"fileKey": format!("{uid}/alice-compat-open"), "uploadId": w.compat_open_id,
                                "partETags": parts})),
                ),
                // With the caller's own id in the file key, still on alice's upload.
                Req::new(
                    "POST",
                    route,
                    Some(json!({"fileKey": format!("{}/alice-compat-open", w.bob_uid), "uploadId": w.compat_open_id,
                                "partETags": parts})),
                ),
                Req::new(
                    "POST",
                    route,
                    Some(json!({"fileKey": w.compat_done_key, "uploadId": w.compat_done_id, "partETags": []})),
                ),
            ]
        }
        ("POST", "/fedmlOpsServer/api/v1/cli/dataset") => vec![
            Req::new(
                "POST",
                route,
                Some(json!({"datasetName": "claimed", "description": "", "tagNameList": [],
                            "fileUrl": w.compat_file_url})),
            ),
            Req::new(
                "POST",
                route,
                Some(json!({"datasetName": FILE, "description": "", "tagNameList": [],
                            "fileUrl": w.compat_file_url})),
            ),
        ],
        ("DELETE", "/fedmlOpsServer/api/v1/cli/dataset") => {
            [FILE, DIR].map(|n| Req::new("DELETE", format!("{route}?datasetName={n}"), None)).into()
        }
        ("GET", "/fedmlOpsServer/api/v1/cli/dataset/list") => vec![Req::new("GET", route, None)],
        ("GET", "/fedmlOpsServer/api/v1/cli/dataset/meta") => {
            [FILE, DIR].map(|n| Req::new("GET", format!("{route}?datasetName={n}"), None)).into()
        }
        ("POST", "/fedmlOpsServer/configs/fetch") => vec![Req::new("POST", route, None)],
        ("ANY", "/fedml-s3-noop/{*rest}") => {
            let mut v = Vec::new();
            for path in [
                format!("/fedml-s3-noop/fedml/{uid}/{FILE}"),
                format!("/fedml-s3-noop/fedml/{uid}/{FILE}?uploads"),
                format!("/fedml-s3-noop/fedml?list-type=2&prefix={uid}"),
            ] {
                for m in ["GET", "HEAD", "PUT", "POST", "DELETE"] {
                    let body = (m == "PUT" || m == "POST").then(|| json!("overwritten by a stranger"));
                    v.push(Req::new(m, path.clone(), body));
                }
            }
            v
        }
        other => panic!("no requests for {other:?}: add them here when adding a row"),
    }
}

/// The request as sent: URL, headers, body.
fn materialise(w: &World, req: &Req, key: &Presented) -> (String, Vec<(String, String)>, Option<Vec<u8>>) {
    let mut headers = Vec::new();
    let mut body = req.body.clone();
    match (req.key_in, key) {
        (_, Presented::Absent) => {}
        (KeyIn::Body, Presented::Key(k)) => body.get_or_insert(json!({}))["apiKey"] = json!(k),
        (KeyIn::Body, Presented::Json(v)) => body.get_or_insert(json!({}))["apiKey"] = v.clone(),
        (_, Presented::Key(k)) => headers.push(("authorization".into(), format!("Bearer {k}"))),
        (_, Presented::Header(h)) => headers.push(("authorization".into(), h.clone())),
        (_, Presented::Json(_)) => {}
    }
    if req.stale_header {
        headers.push(("authorization".into(), format!("Bearer {}", w.alice_key)));
    }
    let body = body.map(|b| match b {
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    });
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    (format!("{}{}", w.server.url, req.path), headers, body)
}

fn substitute(text: &str, pairs: &[(String, String)], forward: bool) -> String {
    let mut out = text.to_string();
    for (real, decoy) in pairs {
        out = if forward { out.replace(real.as_str(), decoy) } else { out.replace(decoy.as_str(), real) };
    }
    out
}

/// Sends one cell's request and checks the answer against `expect`; answers a line per problem.
fn check_cell(w: &World, row: &Row, who: Who, expect: Expect, req: &Req, key: &Presented) -> Vec<String> {
    let (url, headers, body) = materialise(w, req, key);
    let a = send(req.method, &url, &headers, body.clone());
    let label = format!("{} {} as {who:?} with {key:?}", req.method, req.path);
    let mut problems = Vec::new();
    let v = a.json();
    let answer = format!("{}{}", a.headers, a.text());
    let sent = format!("{}\n{}", req.path, body.as_deref().map(String::from_utf8_lossy).unwrap_or_default());

    // Nothing of alice's that the request did not itself name, and never a key or a credential.
    if expect != Yes {
        for m in &w.markers {
            if answer.contains(m.as_str()) && !sent.contains(m.as_str()) {
                problems.push(format!("{label}: the answer holds {m:?}: HTTP {} {}", a.status, a.text()));
            }
        }
        for data in [&w.file[..64], &w.compat_bytes[..64]] {
            if contains(&a.body, data) {
                problems.push(format!("{label}: the answer holds alice's bytes"));
            }
        }
    }
    for s in &w.secrets {
        if answer.contains(s.as_str()) {
            problems.push(format!("{label}: the answer holds a secret: {}", a.text()));
        }
    }
    if row.route.ends_with("configs/fetch") || row.route.starts_with("/fedml-s3-noop") {
        for s in &w.storage {
            if answer.contains(s.as_str()) {
                problems.push(format!("{label}: the public answer names the real store ({s}): {}", a.text()));
            }
        }
    }

    let refused = |status: u16, envelope: bool, problems: &mut Vec<String>| {
        if a.status != status {
            problems.push(format!("{label}: HTTP {} instead of {status}: {}", a.status, a.text()));
        }
        if envelope {
            if v["code"] != "FAILURE" {
                problems.push(format!("{label}: not a FAILURE: {}", a.text()));
            }
            let ok_data = v["data"].is_null() || (row.route.ends_with("heartBeat") && v["data"] == false);
            if !ok_data {
                problems.push(format!("{label}: a refusal with data: {}", a.text()));
            }
        }
        // No existence oracle: the same request on things that do not exist reads the same.
        let decoy = Req {
            method: req.method,
            path: substitute(&req.path, &w.decoys, true),
            body: req
                .body
                .as_ref()
                .map(|b| serde_json::from_str(&substitute(&b.to_string(), &w.decoys, true)).expect("decoy body")),
            key_in: req.key_in,
            stale_header: req.stale_header,
        };
        let (durl, dheaders, dbody) = materialise(w, &decoy, key);
        let d = send(decoy.method, &durl, &dheaders, dbody);
        let (real_text, decoy_text) = (a.text(), substitute(&d.text(), &w.decoys, false));
        if d.status != a.status || real_text != decoy_text {
            problems.push(format!(
                "{label}: answers differently on alice's things ({} {real_text}) than on none ({} {decoy_text})",
                a.status, d.status
            ));
        }
    };
    match expect {
        // The API's description: the document itself, not an envelope.
        Public if row.route.ends_with("openapi.json") => {
            if a.status != 200 || v["openapi"].as_str().is_none_or(|version| !version.starts_with("3.")) {
                problems.push(format!("{label}: expected the OpenAPI document, got HTTP {}", a.status));
            }
        }
        Public | Own | Yes => {
            if a.status != 200 || v["code"] != "SUCCESS" {
                problems.push(format!("{label}: expected SUCCESS, got HTTP {} {}", a.status, a.text()));
            }
            if row.route.ends_with("heartBeat") && v["data"] != true {
                problems.push(format!("{label}: heartBeat refused a valid key: {}", a.text()));
            }
            if expect == Own && row.route.ends_with("getUser") && v["data"]["id"] == json!(w.alice_uid) {
                problems.push(format!("{label}: getUser answered alice"));
            }
        }
        No(status) => refused(status, true, &mut problems),
        Fail => refused(200, true, &mut problems),
        Unsigned => {
            let status = match w.server.backend {
                Backend::Embedded => 401,
                Backend::PostgresS3 { .. } => 404,
            };
            refused(status, true, &mut problems);
        }
        Noop => {
            let status = if req.method == "DELETE" { 204 } else { 403 };
            refused(status, false, &mut problems);
        }
    }
    problems
}

#[test]
fn every_route_refuses_every_caller_but_the_owner_and_leaks_nothing() {
    let w = World::new(TestServer::start());
    let before = w.alice_objects();
    assert_eq!(before.len(), 2);
    let state = w.stored_state();

    let mut problems = Vec::new();
    let mut cells = 0;
    let mut requests_sent = 0;
    for row in MATRIX {
        let reqs = requests(&w, row.method, row.route);
        for (who, expect) in WHO.iter().zip(row.expect) {
            cells += 1;
            for req in &reqs {
                for key in presented(&w, *who, req.key_in) {
                    requests_sent += 1;
                    problems.extend(check_cell(&w, row, *who, expect, req, &key));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(cells, MATRIX.len() * WHO.len());
    println!(
        "isolation matrix: {} routes x {} callers = {cells} cells, {requests_sent} requests",
        MATRIX.len(),
        WHO.len()
    );

    // Nothing was written: the blobs and alice's open sessions are as they were (bob's own new
    // sessions, from the cells where he acted on his own account, may add empty staging files).
    let after = w.stored_state();
    for (k, v) in &state {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
    let empty = fedml_proto::checksum::of_bytes(b"");
    for (k, v) in &after {
        assert!(state.contains_key(k) || *v == empty, "{k} appeared with content");
    }
    w.assert_owner_intact(&before);
}

// ---------------------------------------------------------------------------------- signed URLs

#[derive(Clone)]
struct Url {
    origin: String,
    segments: Vec<String>,
    query: Vec<(String, String)>,
}

impl Url {
    fn parse(url: &str) -> Url {
        let (rest, query) = url.split_once('?').unwrap_or((url, ""));
        let after_scheme = rest.find("://").expect("scheme") + 3;
        let path_at = rest[after_scheme..].find('/').map(|i| i + after_scheme).unwrap_or(rest.len());
        let segments = rest[path_at..].split('/').skip(1).map(String::from).collect();
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        Url { origin: rest[..path_at].to_string(), segments, query }
    }

    fn render(&self) -> String {
        let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = self.segments.join("/");
        if q.is_empty() { format!("{}/{path}", self.origin) } else { format!("{}/{path}?{}", self.origin, q.join("&")) }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn with_param(&self, name: &str, value: &str) -> Url {
        let mut u = self.clone();
        for (k, v) in &mut u.query {
            if k == name {
                *v = value.to_string();
            }
        }
        u
    }

    fn with_segment_replaced(&self, from: &str, to: &str) -> Url {
        let mut u = self.clone();
        for s in &mut u.segments {
            if s == from {
                *s = to.to_string();
            }
        }
        u
    }
}

/// One character changed, keeping the kind of character (a digit stays a digit, hex stays hex).
fn mutate(s: &str) -> String {
    if s.is_empty() {
        return "x".into();
    }
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() - 1;
    chars[i] = match chars[i] {
        '0' => '1',
        '1'..='9' => '0',
        'a' => 'b',
        c if c.is_ascii_lowercase() => 'a',
        c if c.is_ascii_uppercase() => {
            if c == 'A' {
                'B'
            } else {
                'A'
            }
        }
        _ => 'x',
    };
    chars.into_iter().collect()
}

/// Every way to forge one signed URL: each query parameter changed or dropped, each path
/// segment changed, the signature moved to another method.
fn forgeries(url: &str) -> Vec<(String, &'static str, String)> {
    let u = Url::parse(url);
    let method = if u.segments.contains(&"part".to_string()) || u.param("uploadId").is_some() { "PUT" } else { "GET" };
    let other_method = if method == "PUT" { "GET" } else { "PUT" };
    let mut out = vec![
        ("no query string".to_string(), method, Url { query: vec![], ..u.clone() }.render()),
        (format!("used with {other_method}"), other_method, url.to_string()),
    ];
    for (k, v) in &u.query {
        out.push((format!("{k} changed"), method, u.with_param(k, &mutate(v)).render()));
        let mut dropped = u.clone();
        dropped.query.retain(|(x, _)| x != k);
        out.push((format!("{k} dropped"), method, dropped.render()));
    }
    for (i, s) in u.segments.iter().enumerate() {
        let mut changed = u.clone();
        changed.segments[i] = mutate(s);
        out.push((format!("path segment {i} ({s}) changed"), method, changed.render()));
    }
    for sig in ["sig", "X-Amz-Signature"] {
        if let Some(v) = u.param(sig) {
            out.push((format!("{sig} truncated"), method, u.with_param(sig, &v[..v.len() / 2]).render()));
            out.push((format!("{sig} upper-cased"), method, u.with_param(sig, &v.to_uppercase()).render()));
        }
    }
    for exp in ["exp", "X-Amz-Expires"] {
        if let Some(v) = u.param(exp) {
            let later = v.parse::<i64>().expect("number") + 3600;
            out.push((format!("{exp} extended"), method, u.with_param(exp, &later.to_string()).render()));
        }
    }
    out
}

/// Asserts that `url` is refused and that nothing changed in the store.
fn assert_refused(server: &TestServer, sessions: &[&str], label: &str, method: &str, url: &str, secret: &[u8]) {
    let before = stored_state(server, sessions);
    let a = send(method, url, &[], (method == "PUT").then(|| bytes(1000, 99)));
    assert!(!(200..300).contains(&a.status), "{label}: {method} accepted (HTTP {}): {url}", a.status);
    assert!(!contains(&a.body, &secret[..64]), "{label}: the answer holds the owner's bytes");
    assert_eq!(stored_state(server, sessions), before, "{label}: {method} {url} wrote something");
}

#[test]
fn signed_urls_refuse_guesses_forgeries_and_moves_and_write_nothing() {
    let server = TestServer::start();
    let alice_key = server.new_user("alice");
    let bob_key = server.new_user("bob");
    let alice_uid = user_id(&server, &alice_key);
    let bob_uid = user_id(&server, &bob_key);
    let work = tempfile::tempdir().expect("tmp");
    let secret = bytes(50_000, 21);
    for (key, name, data) in [(&alice_key, "a-file", &secret), (&bob_key, "b-file", &bytes(5000, 22))] {
        let path = work.path().join(name);
        std::fs::write(&path, data).expect("write");
        assert!(fedml_client::upload_with(&path, &upload_opts(server.target(key), name)).is_success());
    }
    let get_a = call(&server, &alice_key, "GET", "/api/v1/objects/a-file/download", None)["url"]
        .as_str()
        .expect("url")
        .to_string();
    let get_b = call(&server, &bob_key, "GET", "/api/v1/objects/b-file/download", None)["url"]
        .as_str()
        .expect("url")
        .to_string();
    let (sess_a, part_a, _) = open_session(&server, &alice_key, "a-late", 1000);
    let (sess_c, part_c, _) = open_session(&server, &bob_key, "b-late", 1000);
    let (sess_b, urls_b) = compat_presign(&server, &alice_key, &format!("{alice_uid}/a-compat"), 2);
    let sessions = [sess_a.as_str(), sess_b.as_str(), sess_c.as_str()];
    assert_eq!(send("GET", &get_a, &[], None).body, secret, "the genuine URL reads the data");
    let mut tried = 0;
    let mut refuse = |label: &str, method: &str, url: &str| {
        tried += 1;
        assert_refused(&server, &sessions, label, method, url, &secret);
    };

    // Guessed: made-up ids and signatures, and no signature with any key at all.
    let random = |n| fedml_server::keys::random_hex(n);
    let far = now_secs() + 3600;
    let (pa, ga, pc) = (Url::parse(&part_a), Url::parse(&get_a), Url::parse(&part_c));
    let (_, blob_a) = blob_of(&get_a);
    let origin = &server.url;
    for (label, method, url) in [
        ("made-up upload id", "PUT", format!("{origin}/blob/v1/R2/part/{}/1?exp={far}&sig={}", random(16), random(32))),
        ("made-up signature", "PUT", format!("{origin}/blob/v1/R2/part/{sess_a}/1?exp={far}&sig={}", random(32))),
        (
            "made-up blob",
            "GET",
            format!("{origin}/blob/v1/R2/object/{alice_uid}/{}?exp={far}&sig={}", random(16), random(32)),
        ),
        (
            "made-up signature",
            "GET",
            format!("{origin}/blob/v1/R2/object/{alice_uid}/{blob_a}?exp={far}&sig={}", random(32)),
        ),
        (
            "traversal",
            "GET",
            format!(
                "{origin}/blob/v1/R2/object/..%2F{alice_uid}/{blob_a}?{}",
                ga.query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
            ),
        ),
        (
            "guessed S3 part",
            "PUT",
            pa.with_param("uploadId", &random(16)).with_segment_replaced(&sess_a, &random(16)).render(),
        ),
        ("guessed S3 blob", "GET", ga.with_segment_replaced(&blob_a, &random(16)).render()),
        ("bare blob path", "GET", Url { query: vec![], ..ga.clone() }.render()),
    ] {
        refuse(label, method, &url);
    }
    for key in [&alice_key, &bob_key, &server.admin_key] {
        for (method, url) in [("PUT", &part_a), ("GET", &get_a)] {
            let bare = Url { query: vec![], ..Url::parse(url) }.render();
            let a = send(method, &bare, &bearer(key), (method == "PUT").then(|| bytes(10, 1)));
            assert!(!(200..300).contains(&a.status), "an API key stands in for a signature: {method} {bare}");
        }
    }

    // Tampered: every signed parameter, every path segment, the method.
    for url in [&part_a, &get_a, &urls_b[1]] {
        for (label, method, forged) in forgeries(url) {
            refuse(&label, method, &forged);
        }
    }

    // Moved: one URL's signature on another URL's target — another session of alice's, bob's
    // session, another part number, another owner's blob, another method.
    let moved = |from: &Url, to: &Url| {
        let mut u = Url { query: from.query.clone(), ..to.clone() };
        if let Some(target) = to.param("uploadId") {
            u = u.with_param("uploadId", target);
        }
        u.render()
    };
    let pb = Url::parse(&urls_b[0]);
    let gb = Url::parse(&get_b);
    let other_part = {
        let u = pa.with_segment_replaced("1", "2");
        if u.param("partNumber").is_some() { u.with_param("partNumber", "2") } else { u }
    };
    for (label, method, url) in [
        ("alice's part URL on her other session", "PUT", moved(&pa, &pb)),
        ("alice's part URL on bob's session", "PUT", moved(&pa, &pc)),
        ("bob's part URL on alice's session", "PUT", moved(&pc, &pa)),
        ("alice's part URL on another part number", "PUT", other_part.render()),
        ("alice's GET URL on bob's owner segment", "GET", ga.with_segment_replaced(&alice_uid, &bob_uid).render()),
        ("alice's GET URL on bob's blob", "GET", moved(&ga, &gb)),
        ("bob's GET URL on alice's blob", "GET", moved(&gb, &ga)),
        ("bob's GET URL on alice's owner segment", "GET", gb.with_segment_replaced(&bob_uid, &alice_uid).render()),
        ("bob's GET URL used to PUT onto alice's blob", "PUT", moved(&gb, &ga)),
        ("alice's GET URL used to PUT onto her blob", "PUT", get_a.clone()),
    ] {
        refuse(label, method, &url);
    }

    // Replayed: a part URL once its session is complete, or aborted.
    let late = bytes(1000, 23);
    let etag = put_part(&part_a, &late);
    call(
        &server,
        &alice_key,
        "POST",
        &format!("/api/v1/uploads/{sess_a}/complete"),
        Some(json!({"parts": [{"part_number": 1, "etag": etag}], "size": 1000,
                    "checksum": fedml_proto::checksum::of_bytes(&late)})),
    );
    call(&server, &alice_key, "DELETE", &format!("/api/v1/uploads/{sess_b}"), None);
    refuse("part URL of a completed session", "PUT", &part_a);
    refuse("part URL of an aborted session", "PUT", &urls_b[0]);
    let dest = work.path().join("out");
    assert!(fedml_client::download_with("a-late", &download_opts(server.target(&alice_key), &dest)).is_success());
    assert!(std::fs::read(dest.join("a-late")).expect("read") == late, "the completed object was rewritten");
    assert_eq!(send("GET", &get_a, &[], None).body, secret, "the genuine URL still reads the data");
    println!("signed URLs: {tried} forged, guessed, moved or replayed URLs refused");
}

#[test]
fn expired_signed_urls_are_refused_and_write_nothing() {
    // Upload sessions (and their part URLs) live 5 s: time enough for the first upload even on a
    // busy machine; the test then waits for the expiry the server announced, however long.
    let server = TestServer::start_with(fedml_server::platform::Lifetimes {
        upload_secs: 5,
        download_secs: 1,
        ..Default::default()
    });
    let key = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    let secret = bytes(20_000, 31);
    let path = work.path().join("f");
    std::fs::write(&path, &secret).expect("write");
    assert!(fedml_client::upload_with(&path, &upload_opts(server.target(&key), "f")).is_success());
    let ticket = call(&server, &key, "GET", "/api/v1/objects/f/download", None);
    let get = ticket["url"].as_str().expect("url").to_string();
    let (session, part, expires) = open_session(&server, &key, "late", 1000);
    // Wait until both URLs are past their expiry by more than a second (S3 counts in seconds).
    while now_secs() <= expires.max(ticket["expires_at"].as_i64().expect("expiry")) + 1 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_refused(&server, &[&session], "expired download URL", "GET", &get, &secret);
    assert_refused(&server, &[&session], "expired part URL", "PUT", &part, &secret);
    let fresh =
        call(&server, &key, "GET", "/api/v1/objects/f/download", None)["url"].as_str().expect("url").to_string();
    assert_eq!(send("GET", &fresh, &[], None).body, secret, "a fresh URL reads the data");
}
