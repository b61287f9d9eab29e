//! Every route of every front end against every kind of caller but the owner: the requests that
//! exercise each route on alice's things, each cell sent to a real server and its answer checked
//! against the matrix (`matrix.rs`).

use super::matrix::{Expect, MATRIX, Row, WHO, Who};
use super::*;
use Expect::*;

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
    /// The dashboard's sign-in: `{"api_key": …}`.
    SignIn,
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
        // The scheme in any case is the same key (RFC 9110 §11.1).
        Who::Other => {
            let mut keys = vec![Presented::Key(w.bob_key.clone()), Presented::Key(w.server.admin_key.clone())];
            if key_in == KeyIn::Header {
                keys.push(Presented::Header(format!("BEARER {}", w.bob_key)));
            }
            keys
        }
        Who::ReadOnly => vec![Presented::Key(w.alice_ro.clone())],
        Who::Revoked => {
            let mut keys = vec![Presented::Key(w.alice_revoked.clone())];
            if key_in == KeyIn::Header {
                keys.push(Presented::Header(format!("bearer {}", w.alice_revoked)));
            }
            keys
        }
        Who::NoKey => match key_in {
            KeyIn::Body | KeyIn::SignIn => {
                vec![Presented::Absent, Presented::Json(json!("")), Presented::Json(Value::Null)]
            }
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
                KeyIn::Body | KeyIn::SignIn => {
                    keys.extend([json!(12345), json!([alice]), json!({"apiKey": alice})].map(Presented::Json))
                }
                KeyIn::Header => keys.extend(
                    [
                        format!("Basic {alice}"),
                        alice.clone(),
                        format!("Token {alice}"),
                        format!("Bearer{alice}"),
                        format!("Bearer {alice} {alice}"),
                        format!("Bearer {alice}é"),
                    ]
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
        ("GET", "/healthz") | ("GET", "/readyz") | ("GET", "/metrics") => vec![Req::new("GET", route, None)],
        ("GET", "/api/v1/whoami") | ("GET", "/api/v1/s3-credentials") => vec![Req::new("GET", route, None)],
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
        ("POST", "/api/v1/uploads/{id}/known") => [s, &w.packed_session]
            .map(|id| {
                Req::new(
                    "POST",
                    format!("/api/v1/uploads/{id}/known"),
                    Some(json!({"chunks": [w.packed_chunk], "previous": true})),
                )
            })
            .into(),
        ("POST", "/api/v1/uploads/{id}/packs") => [s, &w.packed_session]
            .map(|id| {
                Req::new(
                    "POST",
                    format!("/api/v1/uploads/{id}/packs"),
                    Some(json!({"packs": [{"pack": w.packed_pack, "size": w.packed_pack_size}]})),
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
        ("GET", "/api/v1/objects/{name}") => vec![
            Req::new("GET", format!("/api/v1/objects/{FILE}"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}"), None),
            Req::new("GET", format!("/api/v1/objects/{FILE}?version=1"), None),
        ],
        ("DELETE", "/api/v1/objects/{name}") => vec![
            Req::new("DELETE", format!("/api/v1/objects/{FILE}?version=1"), None),
            Req::new("DELETE", format!("/api/v1/objects/{FILE}?version=2"), None),
            Req::new("DELETE", format!("/api/v1/objects/{FILE}"), None),
            Req::new("DELETE", format!("/api/v1/objects/{DIR}?service=R2"), None),
        ],
        ("GET", "/api/v1/objects/{name}/user-metadata") => vec![
            Req::new("GET", format!("/api/v1/objects/{FILE}/user-metadata"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}/user-metadata"), None),
            Req::new("GET", format!("/api/v1/objects/{FILE}/user-metadata?version=1"), None),
        ],
        ("GET", "/api/v1/objects/{name}/versions") => {
            [FILE, DIR].map(|n| Req::new("GET", format!("/api/v1/objects/{n}/versions"), None)).into()
        }
        ("GET", "/api/v1/objects/{name}/files") => vec![
            Req::new("GET", format!("/api/v1/objects/{DIR}/files"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}/files?path=sub&recursive=true&limit=1"), None),
        ],
        ("GET", "/api/v1/objects/{name}/file") => vec![
            Req::new("GET", format!("/api/v1/objects/{DIR}/file?path=weights.bin"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}/file?path=sub/notes.txt&version=1"), None),
        ],
        ("GET", "/api/v1/objects/{name}/diff") => vec![
            Req::new("GET", format!("/api/v1/objects/{FILE}/diff?from=1&to=2"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}/diff?from=1"), None),
        ],
        ("PATCH", "/api/v1/objects/{name}") => vec![
            Req::new("PATCH", format!("/api/v1/objects/{FILE}"), Some(json!({"description": "written by a stranger"}))),
            Req::new("PATCH", format!("/api/v1/objects/{DIR}"), Some(json!({"tags": ["x"], "user_metadata": {}}))),
        ],
        ("GET", "/api/v1/keys") => vec![Req::new("GET", route, None)],
        ("POST", "/api/v1/keys") => vec![Req::new("POST", route, Some(json!({"label": "made by the caller"})))],
        ("DELETE", "/api/v1/keys/{id}") => {
            [&w.alice_key, &w.alice_ro].map(|k| Req::new("DELETE", format!("/api/v1/keys/{}", key_id(k)), None)).into()
        }
        ("GET", "/api/v1/admin/users") | ("GET", "/api/v1/usage") | ("GET", "/api/v1/admin/usage") => {
            vec![Req::new("GET", route, None)]
        }
        ("GET", "/api/v1/admin/users/{name}/keys") => vec![Req::new("GET", "/api/v1/admin/users/alice/keys", None)],
        ("GET", "/api/v1/session") | ("DELETE", "/api/v1/session") => vec![Req::new(method_of(method), route, None)],
        ("POST", "/api/v1/session") => vec![Req { key_in: KeyIn::SignIn, ..Req::new("POST", route, Some(json!({}))) }],
        ("GET", "/") => vec![Req::new("GET", "/", None)],
        ("GET", "/ui/{file}") => {
            ["app.js", "style.css", "blake3.js"].map(|f| Req::new("GET", format!("/ui/{f}"), None)).into()
        }
        ("GET", "/api/v1/objects/{name}/download") => vec![
            Req::new("GET", format!("/api/v1/objects/{FILE}/download"), None),
            Req::new("GET", format!("/api/v1/objects/{DIR}/download?service=R2"), None),
            Req::new("GET", format!("/api/v1/objects/{FILE}/download?version=1"), None),
        ],
        ("PUT", "/blob/v1/{service}/part/{upload_id}/{part}") => {
            vec![Req::new("PUT", format!("/blob/v1/R2/part/{s}/1"), None)]
        }
        ("GET", "/blob/v1/{service}/object/{owner}/{blob}") => {
            vec![Req::new("GET", format!("/blob/v1/R2/object/{uid}/{}", w.file_blob), None)]
        }
        ("PUT", "/blob/v1/{service}/pack/{owner}/{pack}") => {
            vec![Req::new("PUT", format!("/blob/v1/R2/pack/{}", w.packed_pack_key), None)]
        }
        ("GET", "/blob/v1/{service}/file/{owner}/{blob}") => {
            vec![Req::new("GET", format!("/blob/v1/R2/file/{}", w.packed_file_blob), None)]
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
        ("GET", "/api/v1/namespaces") | ("GET", "/api/v1/orgs") => vec![Req::new("GET", route, None)],
        ("POST", "/api/v1/orgs") => vec![Req::new("POST", route, Some(json!({"name": "made-by-the-caller"})))],
        ("DELETE", "/api/v1/orgs/{org}") => vec![
            Req::new("DELETE", format!("/api/v1/orgs/{TEAM}"), None),
            Req::new("DELETE", format!("/api/v1/orgs/{TEAM}?force=true"), None),
        ],
        ("GET", "/api/v1/orgs/{org}/members") => vec![Req::new("GET", format!("/api/v1/orgs/{TEAM}/members"), None)],
        ("PUT", "/api/v1/orgs/{org}/members/{user}") => vec![
            Req::new("PUT", format!("/api/v1/orgs/{TEAM}/members/bob"), Some(json!({"role": "admin"}))),
            Req::new("PUT", format!("/api/v1/orgs/{TEAM}/members/alice"), Some(json!({"role": "reader"}))),
        ],
        ("DELETE", "/api/v1/orgs/{org}/members/{user}") => {
            ["alice", "bob"].map(|u| Req::new("DELETE", format!("/api/v1/orgs/{TEAM}/members/{u}"), None)).into()
        }
        ("GET", "/api/v1/shares") => vec![Req::new("GET", route, None)],
        ("POST", "/api/v1/shares") => vec![
            Req::new("POST", route, Some(json!({"name": FILE}))),
            Req::new("POST", route, Some(json!({"name": FILE, "namespace": TEAM, "version": 1}))),
        ],
        ("DELETE", "/api/v1/shares/{id}") => vec![Req::new("DELETE", format!("/api/v1/shares/{}", w.share_id), None)],
        ("GET", "/api/v1/log") => vec![Req::new("GET", route, None), Req::new("GET", format!("{route}?limit=5"), None)],
        ("GET", "/s/{token}") => vec![Req::new("GET", format!("/s/{}", w.share_token), None)],
        (method, route) if hub_route(route) => hub_requests(w, method, route),
        other => panic!("no requests for {other:?}: add them here when adding a row"),
    }
}

/// Whether a route is the Hub API's.
fn hub_route(route: &str) -> bool {
    ["/api/whoami-v2", "/api/repos/", "/api/validate-yaml", "/api/models/", "/api/datasets/", "/{ns}/", "/datasets/"]
        .iter()
        .any(|p| route.starts_with(p))
        || route.starts_with("/hub/lfs-upload/")
}

/// The requests that exercise a Hub API route on alice's things: her directory object is her
/// model repository `alice/{DIR}` (she has no dataset).
fn hub_requests(w: &World, method: &str, route: &str) -> Vec<Req> {
    let m = match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        _ => "POST",
    };
    let zeros = "0".repeat(64);
    match route {
        "/api/whoami-v2" => vec![Req::new("GET", route, None)],
        "/api/repos/create" => vec![
            Req::new(m, route, Some(json!({"name": DIR, "organization": "alice"}))),
            Req::new(
                m,
                route,
                Some(json!({"name": "new-in-alices-space", "organization": "alice", "type": "dataset"})),
            ),
        ],
        "/api/repos/delete" => vec![Req::new(m, route, Some(json!({"name": DIR, "organization": "alice"})))],
        "/api/validate-yaml" => {
            vec![Req::new(m, route, Some(json!({"content": "---\nlicense: mit\n---\n", "repoType": "model"})))]
        }
        "/hub/lfs-upload/{namespace}/{sha256}/{size}/{key}" => {
            let path = format!("/hub/lfs-upload/{}/{zeros}/5/{}", w.alice_uid, key_id(&w.alice_key));
            vec![
                Req::new(m, path.clone(), Some(json!("hello"))),
                Req::new(m, format!("{path}?exp=99999999999&sig={zeros}"), Some(json!("hello"))),
            ]
        }
        _ => {
            // The route's verb: the segment before `{rev}`, or the last one.
            let verb =
                ["paths-info", "preupload", "commit", "batch"].into_iter().find(|v| route.split('/').any(|s| s == *v));
            let base = route.replace("{ns}", "alice").replace("{rev}", "main");
            let (name, paths): (String, &[&str]) = if route.ends_with("/batch") {
                (format!("{DIR}.git"), &[""])
            } else if route.contains("/resolve/") {
                (DIR.to_string(), &["weights.bin", "sub/notes.txt"])
            } else {
                (DIR.to_string(), &["sub"])
            };
            let base = base.replace("{name}", &name);
            let body = match verb.unwrap_or_default() {
                "paths-info" => Some(json!({"paths": ["weights.bin", "sub", "sub/notes.txt"]})),
                "preupload" => Some(json!({"files": [{"path": "weights.bin", "size": 10, "sample": ""}]})),
                "commit" => Some(json!(concat!(
                    r#"{"key":"header","value":{"summary":"written by a stranger"}}"#,
                    "\n",
                    r#"{"key":"file","value":{"path":"weights.bin","content":"aGVsbG8=","encoding":"base64"}}"#,
                    "\n"
                ))),
                "batch" => Some(json!({"operation": "upload", "objects": [{"oid": zeros, "size": 5}]})),
                _ => None,
            };
            paths.iter().map(|p| Req::new(m, base.replace("{*path}", p), body.clone())).collect()
        }
    }
}

fn method_of(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        _ => "DELETE",
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
        (KeyIn::SignIn, Presented::Key(k)) => body.get_or_insert(json!({}))["api_key"] = json!(k),
        (KeyIn::SignIn, Presented::Json(v)) => body.get_or_insert(json!({}))["api_key"] = v.clone(),
        (KeyIn::SignIn, Presented::Header(_)) => {}
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
    let alices_own_sign_in =
        expect == SignIn && matches!(key, Presented::Key(k) if *k == w.alice_ro || *k == w.alice_key);
    if expect != Yes && expect != Link && expect != HubYes && !alices_own_sign_in {
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
            let buckets = v["data"]["buckets"].as_array();
            if expect == Own
                && row.route.ends_with("s3-credentials")
                && buckets.is_none_or(|b| b.contains(&json!("alice")))
            {
                problems.push(format!("{label}: S3 credentials that reach alice's namespace: {}", a.text()));
            }
        }
        No(status) => refused(status, true, &mut problems),
        Fail => refused(200, true, &mut problems),
        Unsigned => {
            let status = match w.server.backend {
                Backend::Embedded => Some(401),
                Backend::PostgresS3 { .. } => Some(404),
                // Azure answers an anonymous request for a private container's blob 404.
                Backend::Cloud(_) if w.server.backend.lacks("signature checking") => None,
                Backend::Cloud(_) => Some(404),
            };
            if let Some(status) = status {
                refused(status, true, &mut problems);
            }
        }
        ServerSigned => refused(401, true, &mut problems),
        Noop => {
            let status = if req.method == "DELETE" { 204 } else { 403 };
            refused(status, false, &mut problems);
        }
        Page => {
            let csp_ok = !row.route.ends_with('/') || a.headers.contains("content-security-policy: default-src 'none'");
            if a.status != 200 || !a.headers.contains("x-content-type-options: nosniff") || !csp_ok {
                problems.push(format!("{label}: expected the dashboard's file, got HTTP {} {}", a.headers, a.status));
            }
        }
        SignIn => {
            if a.status == 200 {
                let user = v["data"]["user"].as_str().unwrap_or_default();
                let alices_valid = matches!(key, Presented::Key(k) if *k == w.alice_ro || *k == w.alice_key);
                if v["code"] != "SUCCESS" || (user == "alice") != alices_valid {
                    problems.push(format!("{label}: signed in as {user:?}: {}", a.text()));
                }
            } else if ![400, 401, 429].contains(&a.status) || v["code"] != "FAILURE" || !v["data"].is_null() {
                problems.push(format!("{label}: expected a session or a FAILURE, got HTTP {} {}", a.status, a.text()));
            }
        }
        Created => {
            let taken = a.status == 409 && v["code"] == "FAILURE" && v["data"].is_null();
            let made = a.status == 200 && v["code"] == "SUCCESS";
            if !made && !taken {
                problems.push(format!(
                    "{label}: expected a new organisation or 'taken', got HTTP {} {}",
                    a.status,
                    a.text()
                ));
            }
        }
        Link => {
            if a.status != 200 || a.body != w.file {
                problems.push(format!(
                    "{label}: expected the shared bytes, got HTTP {} ({} bytes)",
                    a.status,
                    a.body.len()
                ));
            }
        }
        HubNo(status) => {
            refused(status, false, &mut problems);
            if req.method != "HEAD" && v["error"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{label}: not a Hub refusal ({{\"error\": …}}): {}", a.text()));
            }
        }
        HubOwn | HubYes => {
            if a.status != 200 || !v["error"].is_null() || !v["code"].is_null() {
                problems.push(format!("{label}: expected the Hub's answer, got HTTP {} {}", a.status, a.text()));
            }
        }
        Metrics => {
            let text = a.text();
            if a.status != 200 || !text.contains("fedml_http_requests_total{") || !text.trim_end().ends_with("# EOF") {
                problems.push(format!("{label}: expected the metrics text, got HTTP {} {text}", a.status));
            }
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
