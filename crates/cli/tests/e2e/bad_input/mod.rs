//! A catalogue of bad inputs: each one is refused with a FAILURE whose message says what is
//! wrong, nothing is stored or half-written, and the server keeps serving.

use std::os::unix::ffi::OsStrExt;

use fedml_client::ResponseCode;
use fedml_client::client::Client;
use serde_json::{Value, json};

use crate::harness::*;

/// Directory objects whose archive cannot be used as one: refused alike by every reader.
mod archives;
/// The FedML-compatible routes: invisible characters in what they name, wrong JSON types.
mod fedml;
/// The Hugging Face Hub API: malformed commits, LFS objects never sent, paths out of the
/// repository, lists and bodies past their limits.
mod hub;
/// What operators give `fedml server` and `fedml admin`: paths, quotas, observability settings.
mod operators;
/// The S3 API: signatures, bodies, ranges, checksums and XML that are not what they say.
mod s3;

pub(crate) use fedml::compat_uploaded;

/// Sends a raw request to the native API; answers (HTTP status, envelope).
pub(crate) fn raw(server: &TestServer, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    fedml_client::block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = client.http().request(method, format!("{}{path}", server.url)).bearer_auth(&server.admin_key);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    })
    .expect("request")
}

fn assert_refused(label: &str, (status, body): (u16, Value)) {
    assert!((400..500).contains(&status), "{label}: HTTP {status} {body}");
    assert_eq!(body["code"], "FAILURE", "{label}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| m.len() > 10), "{label}: no useful message: {body}");
}

fn assert_failure<T: std::fmt::Debug>(label: &str, r: fedml_client::FedMLResponse<T>, says: &str) {
    assert_eq!(r.code, ResponseCode::Failure, "{label}: {r:?}");
    assert!(r.message.contains(says), "{label}: {:?} does not say {says:?}", r.message);
}

fn session(server: &TestServer, size: u64) -> String {
    let body = json!({"name": format!("s-{}", fedml_platform::keys::random_hex(4)), "service": "R2", "kind": "file", "size": size});
    let (status, v) = raw(server, "POST", "/api/v1/uploads", Some(&body.to_string()));
    assert_eq!(status, 200, "{v}");
    v["data"]["upload_id"].as_str().expect("id").to_string()
}

#[test]
fn every_bad_input_is_a_clear_failure_and_stores_nothing() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(100, 1)).expect("write");
    let admin = server.admin();
    let mut cases = 0;

    // Names (10).
    for bad in ["", ".", "..", "a//b", "a\\b", "nul\0x", "bell\x07", " lead", "trail ", &"n".repeat(1025)] {
        assert_failure(
            &format!("name {bad:?}"),
            fedml_client::upload_with(&file, &upload_opts(admin.clone(), bad)),
            "name",
        );
        cases += 1;
    }
    // Descriptions, tags, metadata (7).
    let mut o = upload_opts(admin.clone(), "d");
    o.description = Some("x".repeat(5000));
    assert_failure("long description", fedml_client::upload_with(&file, &o), "description");
    let mut o = upload_opts(admin.clone(), "t");
    o.tags = Some((0..33).map(|i| format!("t{i}")).collect());
    assert_failure("too many tags", fedml_client::upload_with(&file, &o), "tags");
    let mut o = upload_opts(admin.clone(), "t");
    o.tags = Some(vec!["a,b".into()]);
    assert_failure("tag with a comma", fedml_client::upload_with(&file, &o), "commas");
    let mut o = upload_opts(admin.clone(), "m");
    o.metadata = Some((0..65).map(|i| (format!("k{i}"), String::new())).collect());
    assert_failure("too many metadata entries", fedml_client::upload_with(&file, &o), "entries");
    let mut o = upload_opts(admin.clone(), "m");
    o.metadata = Some([("k".repeat(200), "v".to_string())].into());
    assert_failure("long metadata key", fedml_client::upload_with(&file, &o), "key");
    let mut o = upload_opts(admin.clone(), "m");
    o.metadata = Some([("".to_string(), "v".to_string())].into());
    assert_failure("empty metadata key", fedml_client::upload_with(&file, &o), "key");
    let mut o = upload_opts(admin.clone(), "m");
    o.metadata = Some([("k".to_string(), "v\0".to_string())].into());
    assert_failure("NUL in metadata", fedml_client::upload_with(&file, &o), "NUL");
    cases += 7;

    // Paths on the client (4).
    let weird = work.path().join("weird");
    std::fs::create_dir(&weird).expect("mkdir");
    std::fs::write(weird.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), b"x").expect("write");
    assert_failure(
        "non-UTF-8 file name",
        fedml_client::upload_with(&weird, &upload_opts(admin.clone(), "weird")),
        "UTF-8",
    );
    let looped = work.path().join("looped");
    std::fs::create_dir(&looped).expect("mkdir");
    std::os::unix::fs::symlink("self-link", looped.join("self-link")).expect("link");
    assert_failure("symlink loop", fedml_client::upload_with(&looped, &upload_opts(admin.clone(), "looped")), "loops");
    assert_failure(
        "missing path",
        fedml_client::upload_with(work.path().join("nope"), &upload_opts(admin.clone(), "nope")),
        "does not exist",
    );
    let fifo = work.path().join("fifo-dir");
    std::fs::create_dir(&fifo).expect("mkdir");
    let status = std::process::Command::new("mkfifo").arg(fifo.join("pipe")).status().expect("mkfifo");
    assert!(status.success());
    assert_failure("a pipe in the tree", fedml_client::upload_with(&fifo, &upload_opts(admin.clone(), "fifo")), "pipe");
    cases += 4;

    // Malformed requests to the native API (12).
    assert_refused("malformed JSON", raw(&server, "POST", "/api/v1/uploads", Some("{not json")));
    assert_refused(
        "wrong type",
        raw(&server, "POST", "/api/v1/uploads", Some(r#"{"name": 1, "service": "R2", "kind": "file"}"#)),
    );
    assert_refused(
        "unknown kind",
        raw(&server, "POST", "/api/v1/uploads", Some(r#"{"name": "x", "service": "R2", "kind": "socket"}"#)),
    );
    assert_refused(
        "non-string metadata",
        raw(
            &server,
            "POST",
            "/api/v1/uploads",
            Some(r#"{"name": "x", "service": "R2", "kind": "file", "metadata": {"k": 1}}"#),
        ),
    );
    assert_refused(
        "negative size",
        raw(&server, "POST", "/api/v1/uploads", Some(r#"{"name": "x", "service": "R2", "kind": "file", "size": -1}"#)),
    );
    assert_refused(
        "huge size",
        raw(
            &server,
            "POST",
            "/api/v1/uploads",
            Some(r#"{"name": "x", "service": "R2", "kind": "file", "size": 18446744073709551615}"#),
        ),
    );
    let id = session(&server, 100);
    assert_refused(
        "part 0",
        raw(&server, "POST", &format!("/api/v1/uploads/{id}/parts"), Some(r#"{"first": 0, "count": 1}"#)),
    );
    assert_refused(
        "too many part URLs",
        raw(&server, "POST", &format!("/api/v1/uploads/{id}/parts"), Some(r#"{"first": 1, "count": 1001}"#)),
    );
    assert_refused(
        "part past the limit",
        raw(&server, "POST", &format!("/api/v1/uploads/{id}/parts"), Some(r#"{"first": 10000, "count": 2}"#)),
    );
    assert_refused(
        "complete without parts",
        raw(
            &server,
            "POST",
            &format!("/api/v1/uploads/{id}/complete"),
            Some(r#"{"parts": [], "size": 0, "checksum": "x"}"#),
        ),
    );
    assert_refused(
        "unknown session",
        raw(&server, "POST", "/api/v1/uploads/nope/complete", Some(r#"{"parts": [], "size": 0, "checksum": "x"}"#)),
    );
    assert_refused("list limit not a number", raw(&server, "GET", "/api/v1/objects?limit=many", None));
    cases += 12;

    // Completing with a wrong account of the parts (5).
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let id = session(&server, 100);
    let url = fedml_client::block_on(client.part_urls(&id, 1, 1)).expect("urls").remove(0).url;
    let put = |body: Vec<u8>| {
        fedml_client::block_on(async {
            let r = client
                .http()
                .put(&url)
                .body(body)
                .send()
                .await
                .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            Ok((r.status().as_u16(), crate::harness::part_tag(r.headers())))
        })
        .expect("put")
    };
    let (status, etag) = put(bytes(60, 2));
    assert!(crate::harness::part_taken(&server.backend, status), "part PUT answered {status}");
    let etag = etag.expect("etag");
    let complete = |parts: Value, size: u64, checksum: &str| {
        let body = json!({"parts": parts, "size": size, "checksum": checksum});
        raw(&server, "POST", &format!("/api/v1/uploads/{id}/complete"), Some(&body.to_string()))
    };
    let good_sum = fedml_proto::checksum::of_bytes(&bytes(60, 2));
    assert_refused("ETag mismatch", complete(json!([{"part_number": 1, "etag": "\"00000000\""}]), 60, &good_sum));
    assert_refused("size mismatch", complete(json!([{"part_number": 1, "etag": etag}]), 61, &good_sum));
    assert_refused("file announced larger", complete(json!([{"part_number": 1, "etag": etag}]), 60, &good_sum));
    assert_refused("malformed checksum", complete(json!([{"part_number": 1, "etag": etag}]), 60, "md5:abc"));
    assert_refused("parts out of order", complete(json!([{"part_number": 2, "etag": etag}]), 60, &good_sum));
    cases += 5;
    // A part longer than the session's part size (1): the local store refuses it as it arrives;
    // an S3 store takes any part size, and the commit then refuses the upload.
    let big = session(&server, 20 << 20);
    let url = fedml_client::block_on(client.part_urls(&big, 1, 1)).expect("urls").remove(0).url;
    let (status, etag) = fedml_client::block_on(async {
        let r = client.http().put(&url).body(vec![0u8; (8 << 20) + 1]).send().await;
        Ok(r.map(|r| (r.status().as_u16(), crate::harness::part_tag(r.headers()))).unwrap_or((400, None)))
    })
    .expect("put");
    match server.backend {
        Backend::Embedded => assert!((400..500).contains(&status), "oversized part answered {status}"),
        Backend::PostgresS3 { .. } | Backend::Cloud(_) => {
            assert!(crate::harness::part_taken(&server.backend, status), "oversized part answered {status}");
            let body = json!({"parts": [{"part_number": 1, "etag": etag.expect("etag")}], "size": (8u64 << 20) + 1,
                "checksum": fedml_proto::checksum::of_bytes(&vec![0u8; (8 << 20) + 1])});
            assert_refused(
                "oversized part",
                raw(&server, "POST", &format!("/api/v1/uploads/{big}/complete"), Some(&body.to_string())),
            );
        }
    }
    cases += 1;

    // Downloads and deletes that cannot be (4).
    assert_failure(
        "download unknown",
        fedml_client::download_with("ghost", &download_opts(admin.clone(), work.path())),
        "no data named",
    );
    assert_failure("delete unknown", fedml_client::delete_with("ghost", None, &admin), "no data named");
    let not_a_dir = work.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(admin.clone(), "real")).is_success());
    let r = fedml_client::download_with("real", &download_opts(admin.clone(), &not_a_dir));
    assert_ne!(r.code, ResponseCode::Success, "download into a file path: {r:?}");
    assert_eq!(std::fs::read(&not_a_dir).expect("read"), b"x", "the file in the way is untouched");
    // Something in the way of the download that it may not replace: refused, left as it is.
    let in_the_way = work.path().join("in-the-way");
    std::fs::create_dir_all(in_the_way.join("real")).expect("mkdir");
    std::fs::write(in_the_way.join("real/keep.txt"), b"keep").expect("write");
    assert_failure(
        "a directory where the file goes",
        fedml_client::download_with("real", &download_opts(admin.clone(), &in_the_way)),
        "is in the way: it is a directory",
    );
    assert_eq!(std::fs::read(in_the_way.join("real/keep.txt")).expect("read"), b"keep");
    let linked = work.path().join("linked");
    std::fs::create_dir(&linked).expect("mkdir");
    std::os::unix::fs::symlink(&not_a_dir, linked.join("real")).expect("link");
    assert_failure(
        "a link where the file goes",
        fedml_client::download_with("real", &download_opts(admin.clone(), &linked)),
        "is in the way: it is a symbolic link",
    );
    assert_eq!(std::fs::read(&not_a_dir).expect("read"), b"x", "what the link points to is untouched");
    cases += 2;
    assert_refused("unknown route", raw(&server, "GET", "/api/v1/nothing-here", None));
    let (status, body) = raw(&server, "PUT", "/api/v1/objects/real", None);
    assert_eq!(status, 405, "wrong method: {body}");
    assert_refused("wrong method", (status, body));
    cases += 5;

    // A client pointed at something that is not a server URL (1).
    let mut elsewhere = admin.clone();
    elsewhere.server = Some("ftp://example".into());
    assert_failure("bad server URL", fedml_client::list_storage_objects_with(&elsewhere), "server URL");
    cases += 1;

    assert!(cases >= 40, "{cases} cases");
    // Nothing of all that was stored; the server still serves.
    let names: Vec<String> =
        fedml_client::list_storage_objects_with(&admin).data.expect("list").into_iter().map(|o| o.data_name).collect();
    assert_eq!(names, vec!["real".to_string()]);
}

/// Sends `GET path` with a raw `Authorization` value; answers (HTTP status, envelope).
fn with_authorization(server: &TestServer, path: &str, value: &[u8]) -> (u16, Value) {
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    fedml_client::block_on(async {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
        let resp = client
            .http()
            .get(format!("{}{path}", server.url))
            .header(reqwest::header::AUTHORIZATION, value)
            .send()
            .await
            .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    })
    .expect("request")
}

/// The `Authorization` scheme is read in any case (RFC 9110 §11.1); a malformed header is
/// refused with what is wrong and how to send the key, alike on the native and the
/// FedML-compatible routes (one parser serves both).
#[test]
fn authorization_headers_in_any_case_and_malformed_ones() {
    let server = TestServer::start();
    let key = server.admin_key.clone();
    const NATIVE: &str = "/api/v1/whoami";
    const COMPAT: &str = "/fedmlOpsServer/api/v1/cli/dataset/list";
    let mut cases = 0;
    for scheme in ["BEARER", "bearer", "Bearer", "bEaReR"] {
        let value = format!("{scheme} {key}");
        let (status, body) = with_authorization(&server, NATIVE, value.as_bytes());
        assert!(status == 200 && body["code"] == "SUCCESS", "{scheme}: HTTP {status} {body}");
        let (status, body) = with_authorization(&server, COMPAT, value.as_bytes());
        assert!(status == 200 && body["code"] == "SUCCESS", "{scheme} (compat): HTTP {status} {body}");
        cases += 1;
    }
    let mut non_ascii = format!("Bearer {key}").into_bytes();
    non_ascii.extend_from_slice("é".as_bytes());
    let malformed: [(&str, Vec<u8>, &str); 6] = [
        ("Basic", b"Basic YWRtaW46c2VjcmV0".to_vec(), "\"Basic\" scheme"),
        ("Bearer with no token", b"Bearer".to_vec(), "carries no key"),
        ("Bearer and spaces only", b"Bearer    ".to_vec(), "carries no key"),
        ("non-ASCII bytes", non_ascii, "not visible ASCII"),
        ("a bare key", key.clone().into_bytes(), "no scheme"),
        ("two words", format!("Bearer {key} {key}").into_bytes(), "more than one word"),
    ];
    for (label, value, says) in malformed {
        let (status, body) = with_authorization(&server, NATIVE, &value);
        assert_eq!(status, 401, "{label}: {body}");
        assert_refused(label, (status, body.clone()));
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{label}: {message:?} does not say {says:?}");
        assert!(message.contains("send `Authorization: Bearer <API key>`"), "{label}: {message:?}");
        let (status, compat) = with_authorization(&server, COMPAT, &value);
        assert_eq!((status, &compat["code"]), (200, &json!("FAILURE")), "{label} (compat): {compat}");
        assert_eq!(compat["message"], body["message"], "{label}: the two APIs word it differently");
        cases += 1;
    }
    assert_eq!(cases, 10);
    let listed = fedml_client::list_storage_objects_with(&server.admin());
    assert_eq!(listed.data.map(|l| l.len()), Some(0), "nothing is stored");
}

/// JSON bodies are bounded: 2 MiB for the native calls (a body just under it is read and judged
/// on its content), 16 KiB for the FedML calls that carry their key in the body.
#[test]
fn oversized_json_bodies_are_refused() {
    let server = TestServer::start();
    let upload = |description_len: usize| {
        let body = json!({"name": "big", "service": "R2", "kind": "file", "size": 1,
                          "description": "d".repeat(description_len)});
        raw(&server, "POST", "/api/v1/uploads", Some(&body.to_string()))
    };
    // Announced larger than the limit: refused before a byte of it is sent (a client that sent
    // it all could see the connection reset under its feet, the rest of its body unread).
    let answer = {
        use std::io::{Read, Write};
        let authority = server.url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(authority).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
        let head = format!(
            "POST /api/v1/uploads HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            server.admin_key,
            3 << 20
        );
        stream.write_all(head.as_bytes()).expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("larger than this call takes (at most 2097152 bytes)"), "{answer}");
    let (status, body) = upload((2 << 20) - 1000);
    assert_refused("a long description", (status, body.clone()));
    assert!(body["message"].as_str().is_some_and(|m| m.contains("description")), "read and judged: {body}");

    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let heartbeat = |pad: usize| {
        let body = json!({"apiKey": server.admin_key, "pad": "p".repeat(pad)}).to_string();
        fedml_client::block_on(async {
            let resp = client
                .http()
                .post(format!("{}/fedmlOpsServer/api/v1/cli/heartBeat", server.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            Ok((resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null)))
        })
        .expect("request")
    };
    assert_eq!(heartbeat(100), (200, json!({"code": "SUCCESS", "message": "", "data": true})));
    let (status, body) = heartbeat(20 << 10);
    assert_eq!((status, &body["code"], &body["data"]), (200, &json!("FAILURE"), &json!(false)), "{body}");
    let listed = fedml_client::list_storage_objects_with(&server.admin());
    assert_eq!(listed.data.map(|l| l.len()), Some(0), "nothing is stored");
}
