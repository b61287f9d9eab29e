//! A catalogue of bad inputs: each one is refused with a FAILURE whose message says what is
//! wrong, nothing is stored or half-written, and the server keeps serving.

use std::os::unix::ffi::OsStrExt;

use fedml_client::ResponseCode;
use fedml_client::client::Client;
use serde_json::{Value, json};

use crate::harness::*;

/// Sends a raw request to the native API; answers (HTTP status, envelope).
fn raw(server: &TestServer, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
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
    let body = json!({"name": format!("s-{}", fedml_server::keys::random_hex(4)), "service": "R2", "kind": "file", "size": size});
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
    for bad in ["", ".", "..", "a/b", "a\\b", "nul\0x", "bell\x07", " lead", "trail ", &"n".repeat(256)] {
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
    o.tags = (0..33).map(|i| format!("t{i}")).collect();
    assert_failure("too many tags", fedml_client::upload_with(&file, &o), "tags");
    let mut o = upload_opts(admin.clone(), "t");
    o.tags = vec!["a,b".into()];
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
            Ok((r.status().as_u16(), r.headers().get("etag").map(|v| v.to_str().unwrap_or("").to_string())))
        })
        .expect("put")
    };
    let (status, etag) = put(bytes(60, 2));
    assert_eq!(status, 200);
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
        Ok(r.map(|r| (r.status().as_u16(), r.headers().get("etag").map(|v| v.to_str().unwrap_or("").to_string())))
            .unwrap_or((400, None)))
    })
    .expect("put");
    match server.backend {
        Backend::Embedded => assert!((400..500).contains(&status), "oversized part answered {status}"),
        Backend::PostgresS3 { .. } => {
            assert_eq!(status, 200);
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
    let (status, body) = raw(&server, "PATCH", "/api/v1/objects/real", None);
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

/// A FedML-compatible route's refusal: HTTP 200 (the SDK requires it) with FAILURE saying `says`.
fn assert_compat_failure(label: &str, (status, body): (u16, Value), says: &str) {
    assert_eq!(status, 200, "{label}: HTTP {status} {body}");
    assert_eq!(body["code"], "FAILURE", "{label}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{label}: {message:?} does not say {says:?}");
}

fn compat_ok(label: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!((status, body["code"].as_str()), (200, Some("SUCCESS")), "{label}: {body}");
    body["data"].clone()
}

/// A FedML-SDK upload of `data` as `file_name`, presigned, sent and completed: its upload id,
/// its file key and the file URL a dataset record must bring.
fn compat_uploaded(server: &TestServer, file_name: &str, data: &[u8]) -> (String, String, String) {
    let uid = compat_ok(
        "getUser",
        raw(
            server,
            "POST",
            "/fedmlOpsServer/api/v1/cli/getUser",
            Some(&json!({"apiKey": server.admin_key}).to_string()),
        ),
    )["id"]
        .as_str()
        .expect("user id")
        .to_string();
    let file_key = format!("{uid}/{file_name}");
    let presigned = compat_ok(
        "presign",
        raw(
            server,
            "GET",
            &format!(
                "/system/api/v1/cli/oss/multipart/presigned-url?fileKey={}&partNumber=1",
                fedml_proto::encode_path_segment(&file_key)
            ),
            None,
        ),
    );
    let upload_id = presigned["uploadId"].as_str().expect("upload id").to_string();
    let url = presigned["urls"][0].as_str().expect("url").to_string();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let etag = fedml_client::block_on(async {
        let r = client.http().put(&url).body(data.to_vec()).send().await;
        Ok(r.ok().and_then(|r| r.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string)))
    })
    .expect("put")
    .expect("an ETag");
    let body = json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": 1}]});
    let file_url = compat_ok(
        "complete",
        raw(server, "POST", "/system/api/v1/cli/oss/multipart/upload/complete", Some(&body.to_string())),
    );
    (upload_id, file_key, file_url.as_str().expect("file URL").to_string())
}

fn stored_names(server: &TestServer) -> Vec<String> {
    fedml_client::list_storage_objects_with(&server.admin())
        .data
        .expect("list")
        .into_iter()
        .map(|o| o.data_name)
        .collect()
}

#[test]
fn invisible_characters_in_names_tags_and_keys_are_refused_naming_them() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(100, 4)).expect("write");
    let admin = server.admin();
    // (text, what the refusal names)
    let bad = [
        ("invoice\u{202E}gpj.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("a\u{202D}b", "U+202D LEFT-TO-RIGHT OVERRIDE"),
        ("a\u{2066}b\u{2069}", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("a\u{200F}b", "U+200F RIGHT-TO-LEFT MARK"),
        ("a\u{061C}b", "U+061C ARABIC LETTER MARK"),
        ("zero\u{200B}width", "U+200B ZERO WIDTH SPACE"),
        ("join\u{200D}er", "U+200D ZERO WIDTH JOINER"),
        ("\u{FEFF}bom", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("soft\u{00AD}hyphen", "U+00AD SOFT HYPHEN"),
        ("word\u{2060}joiner", "U+2060 WORD JOINER"),
        ("mongolian\u{180E}", "U+180E MONGOLIAN VOWEL SEPARATOR"),
        ("tag\u{E0041}char", "U+E0041"),
    ];
    for (text, names) in bad {
        // The SDK refuses before sending a byte…
        assert_failure(
            &format!("name {text:?}"),
            fedml_client::upload_with(&file, &upload_opts(admin.clone(), text)),
            names,
        );
        let mut o = upload_opts(admin.clone(), "tagged");
        o.tags = vec![text.to_string()];
        assert_failure(&format!("tag {text:?}"), fedml_client::upload_with(&file, &o), names);
        let mut o = upload_opts(admin.clone(), "keyed");
        o.metadata = Some([(text.to_string(), "v".to_string())].into());
        assert_failure(&format!("metadata key {text:?}"), fedml_client::upload_with(&file, &o), names);
        // …and the server refuses what another client sends.
        for body in [
            json!({"name": text, "service": "R2", "kind": "file", "size": 1}),
            json!({"name": "n", "service": "R2", "kind": "file", "size": 1, "tags": [text]}),
            json!({"name": "n", "service": "R2", "kind": "file", "size": 1, "metadata": {text: "v"}}),
        ] {
            let answer = raw(&server, "POST", "/api/v1/uploads", Some(&body.to_string()));
            assert!(answer.1["message"].as_str().is_some_and(|m| m.contains(names)), "{body}: {}", answer.1);
            assert_refused(&format!("native {body}"), answer);
        }
    }
    // Descriptions and metadata values may hold them (they are escaped when shown).
    let mut o = upload_opts(admin.clone(), "described");
    o.description = Some("right\u{202E}left".into());
    o.metadata = Some([("k".to_string(), "zero\u{200B}width".to_string())].into());
    assert!(fedml_client::upload_with(&file, &o).is_success());

    // The FedML-compatible routes: the file key of the presign, the dataset name and tags.
    let (_, file_key, file_url) = compat_uploaded(&server, "sdk.bin", &bytes(50, 5));
    let (status, body) = raw(
        &server,
        "GET",
        &format!(
            "/system/api/v1/cli/oss/multipart/presigned-url?fileKey={}&partNumber=1",
            fedml_proto::encode_path_segment(&format!("{}/in\u{202E}voice", file_key.split('/').next().expect("uid")))
        ),
        None,
    );
    assert_compat_failure("presign with RLO", (status, body), "U+202E RIGHT-TO-LEFT OVERRIDE");
    let dataset = |name: &str, tags: Value| {
        let body =
            json!({"datasetName": name, "description": "", "fileSize": 50, "fileUrl": file_url, "tagNameList": tags});
        raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(&body.to_string()))
    };
    for (text, names) in bad {
        assert_compat_failure(&format!("dataset name {text:?}"), dataset(text, json!([])), names);
        assert_compat_failure(&format!("dataset tag {text:?}"), dataset("sdk", json!([text])), names);
    }
    assert_eq!(stored_names(&server), vec!["described".to_string()], "nothing else was stored");
    // The refusals consumed nothing: the same upload still becomes its dataset.
    compat_ok("dataset", dataset("sdk", json!(["ok"])));
    assert_eq!(stored_names(&server), vec!["described".to_string(), "sdk".to_string()]);
}

#[test]
fn fedml_routes_refuse_wrong_types_naming_the_field() {
    let server = TestServer::start();
    let mut cases = 0;
    // heartBeat and getUser: the key must be a string.
    for bad in [json!(12), json!({"k": "v"}), json!(["fml_x"]), json!(true)] {
        let body = json!({"apiKey": bad}).to_string();
        let (status, v) = raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/heartBeat", Some(&body));
        assert_eq!(v["data"], false, "heartBeat {bad}: {v}");
        assert_compat_failure(&format!("heartBeat {bad}"), (status, v), "apiKey must be a string");
        assert_compat_failure(
            &format!("getUser {bad}"),
            raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/getUser", Some(&body)),
            "apiKey must be a string",
        );
        cases += 2;
    }
    assert_compat_failure(
        "getUser body not an object",
        raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/getUser", Some("[1]")),
        "JSON object",
    );
    cases += 1;

    // presign: the part count must be a number.
    for bad in ["abc", "-1", "1.5", ""] {
        assert_compat_failure(
            &format!("presign partNumber={bad}"),
            raw(
                &server,
                "GET",
                &format!("/system/api/v1/cli/oss/multipart/presigned-url?fileKey=1%2Fx&partNumber={bad}"),
                None,
            ),
            "partNumber",
        );
        cases += 1;
    }

    // complete: every field and every part's fields, with the real session still open after.
    let uid = compat_ok(
        "getUser",
        raw(
            &server,
            "POST",
            "/fedmlOpsServer/api/v1/cli/getUser",
            Some(&json!({"apiKey": server.admin_key}).to_string()),
        ),
    )["id"]
        .as_str()
        .expect("uid")
        .to_string();
    let file_key = format!("{uid}/typed.bin");
    let presigned = compat_ok(
        "presign",
        raw(
            &server,
            "GET",
            &format!(
                "/system/api/v1/cli/oss/multipart/presigned-url?fileKey={}&partNumber=1",
                fedml_proto::encode_path_segment(&file_key)
            ),
            None,
        ),
    );
    let upload_id = presigned["uploadId"].as_str().expect("id").to_string();
    let url = presigned["urls"][0].as_str().expect("url").to_string();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let etag = fedml_client::block_on(async {
        let r = client.http().put(&url).body(bytes(70, 6)).send().await;
        Ok(r.ok().and_then(|r| r.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string)))
    })
    .expect("put")
    .expect("etag");
    let complete =
        |body: Value| raw(&server, "POST", "/system/api/v1/cli/oss/multipart/upload/complete", Some(&body.to_string()));
    let good_parts = json!([{"etag": etag, "partNumber": 1}]);
    for (body, says) in [
        (
            json!({"fileKey": 5, "uploadId": upload_id, "partETags": good_parts}),
            "fileKey must be a string, not a number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": ["x"], "partETags": good_parts}),
            "uploadId must be a string, not a list",
        ),
        (json!({"fileKey": null, "uploadId": upload_id, "partETags": good_parts}), "fileKey is missing"),
        (json!({"fileKey": file_key, "uploadId": upload_id}), "partETags is missing"),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": {"etag": etag}}),
            "partETags must be a list, not an object",
        ),
        (json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [etag]}), "partETags[0] must be an object"),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag}]}),
            "partETags[0].partNumber is missing",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"partNumber": 1}]}),
            "partETags[0].etag is missing",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": "1"}]}),
            "partETags[0].partNumber must be a whole number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": null}]}),
            "partETags[0].partNumber is missing",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": -1}]}),
            "partETags[0].partNumber must be a whole number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": 0}]}),
            "partETags[0].partNumber is 0",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": 1234, "partNumber": 1}]}),
            "partETags[0].etag must be a string, not a number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": {"v": etag}, "partNumber": 1}]}),
            "partETags[0].etag must be a string, not an object",
        ),
    ] {
        assert_compat_failure(&format!("complete {body}"), complete(body.clone()), says);
        cases += 1;
    }
    let file_url =
        compat_ok("complete", complete(json!({"fileKey": file_key, "uploadId": upload_id, "partETags": good_parts})));
    let file_url = file_url.as_str().expect("file URL").to_string();

    // dataset: every field, then the same upload still becomes its dataset.
    let dataset = |body: Value| raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(&body.to_string()));
    let with = |key: &str, value: Value| {
        let mut body = json!({"datasetName": "typed", "description": "d", "fileSize": 70, "fileUrl": file_url, "tagNameList": ["a"]});
        body[key] = value;
        body
    };
    for (body, says) in [
        (with("tagNameList", json!(["a", "b", 3])), "tagNameList[2] must be a string, not a number"),
        (with("tagNameList", json!([null])), "tagNameList[0] must be a string, not null"),
        (with("tagNameList", json!([["a"]])), "tagNameList[0] must be a string, not a list"),
        (with("tagNameList", json!([{"name": "a"}])), "tagNameList[0] must be a string, not an object"),
        (with("tagNameList", json!("a,b")), "tagNameList must be a list of strings, not a string"),
        (with("tagNameList", json!(7)), "tagNameList must be a list of strings, not a number"),
        (with("description", json!(7)), "description must be a string, not a number"),
        (with("description", json!(["d"])), "description must be a string, not a list"),
        (with("description", json!({"text": "d"})), "description must be a string, not an object"),
        (with("description", json!(false)), "description must be a string, not a boolean"),
        (with("datasetName", json!(1)), "datasetName must be a string, not a number"),
        (with("datasetName", json!(null)), "datasetName is missing"),
        (with("datasetName", json!(["typed"])), "datasetName must be a string, not a list"),
        (with("fileUrl", json!({"url": file_url})), "fileUrl must be a string, not an object"),
        (with("fileSize", json!("70")), "fileSize must be a whole number"),
        (with("fileSize", json!(-70)), "fileSize must be a whole number"),
        (json!("typed"), "the request body must be a JSON object, not a string"),
    ] {
        assert_compat_failure(&format!("dataset {body}"), dataset(body.clone()), says);
        cases += 1;
    }
    assert!(stored_names(&server).is_empty(), "nothing stored by a refused request");
    // What the SDK sends (a null description, no tags) is still taken.
    let mut body = with("description", Value::Null);
    body["tagNameList"] = json!([]);
    let meta = compat_ok("dataset", dataset(body));
    assert_eq!(
        (meta["datasetName"].as_str(), meta["description"].as_str(), meta["fileSize"].as_u64()),
        (Some("typed"), Some(""), Some(70))
    );
    assert_eq!(stored_names(&server), vec!["typed".to_string()]);
    assert!(cases >= 40, "{cases} cases");
}

/// `fedml admin backup`, `restore` and `fsck` given what they cannot use: each a FAILURE (exit
/// 1) that says what to do, and nothing written or replaced.
#[test]
fn admin_backup_restore_and_fsck_refuse_bad_paths_clearly() {
    let work = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str]| {
        let out = fedml_admin(args);
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let path = |name: &str| work.path().join(name).display().to_string();
    let empty = path("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let busy = path("busy");
    std::fs::create_dir(&busy).expect("mkdir");
    std::fs::write(work.path().join("busy/keep.txt"), b"mine").expect("write");
    let not_sqlite = path("not-sqlite");
    std::fs::create_dir(&not_sqlite).expect("mkdir");
    std::fs::write(work.path().join("not-sqlite/catalogue.db"), b"this is not a database at all, just text")
        .expect("write");
    let pg_backup = path("pg-backup");
    std::fs::create_dir(&pg_backup).expect("mkdir");
    std::fs::write(work.path().join("pg-backup/catalogue.dump"), b"PGDMP").expect("write");
    let target = path("target");
    let (b1, b2, missing) = (path("b1"), path("b2"), path("missing.toml"));

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["backup", &b1, "--data-dir", &empty], "no catalogue at"),
        (vec!["fsck", "--data-dir", &empty], "no catalogue at"),
        (vec!["restore", &empty, "--data-dir", &target], "no catalogue.db in"),
        (vec!["restore", &not_sqlite, "--data-dir", &target], "not a readable catalogue"),
        (vec!["restore", &pg_backup, "--data-dir", &target], "pg_restore"),
        (vec!["restore", &empty, "--database", "postgres://u:secret@127.0.0.1:1/db"], "pg_restore"),
        (
            vec!["restore", &empty, "--data-dir", &target, "--database", "sqlite:///elsewhere.db"],
            "--data-dir instead of --database",
        ),
        (vec!["backup", &b2, "--database", "postgres://u:secret@127.0.0.1:1/db"], "pg_dump --format=custom"),
        (vec!["fsck", "--data-dir", &empty, "--service", "R2=ftp://x"], "--service"),
        (vec!["fsck", "--data-dir", &empty, "--config", &missing], "cannot read"),
    ];
    for (args, says) in &cases {
        let (code, shown) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {shown}");
        assert!(shown.contains(says), "{args:?}: {shown:?} does not say {says:?}");
        assert!(!shown.contains("secret"), "{args:?} shows a password: {shown}");
    }
    assert!(!work.path().join("target").join("catalogue.db").exists(), "nothing restored");
    assert!(!work.path().join("b1").exists() && !work.path().join("b2").exists(), "no backup directory made");

    // A backup into a directory that holds files is refused and leaves them alone (the
    // catalogue it would copy comes from a real data directory).
    let server = TestServer::start();
    if let Backend::Embedded = server.backend {
        let data = server.data_dir.display().to_string();
        let (code, shown) = run(&["backup", &busy, "--data-dir", &data]);
        assert_eq!(code, Some(1), "{shown}");
        assert!(shown.contains("already holds files"), "{shown}");
        assert_eq!(std::fs::read(work.path().join("busy/keep.txt")).expect("kept"), b"mine");
        assert_eq!(std::fs::read_dir(&busy).expect("dir").count(), 1);
    }
}

#[test]
fn admin_quota_refuses_bad_values_and_changes_nothing() {
    let server = TestServer::start();
    server.new_user("alice");
    let admin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
            .arg("admin")
            .args(server.admin_location())
            .args(["user", "quota"])
            .args(args)
            .output()
            .expect("run fedml admin")
    };
    assert!(admin(&["alice", "--bytes", "1000", "--objects", "5"]).status.success());
    let cases: [(&[&str], &str); 9] = [
        (&["alice", "--bytes", "-5"], "not a size"),
        (&["alice", "--bytes", "lots"], "not a size"),
        (&["alice", "--bytes", "10XB"], "not a size"),
        (&["alice", "--bytes", "1.5GiB"], "whole number"),
        (&["alice", "--bytes", "99999999999TiB"], "smaller size"),
        (&["alice", "--objects", "-1"], "not a number of objects"),
        (&["alice", "--objects", "many"], "not a number of objects"),
        (&["alice", "--bytes", "2000", "--objects", "1.5"], "--objects"),
        (&["nobody", "--bytes", "1000"], "fedml admin user list"),
    ];
    for (args, says) in cases {
        let out = admin(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: a FAILURE, exit 1: {stderr}");
        assert!(stderr.starts_with("FAILURE: ") && stderr.contains(says), "{args:?}: {stderr:?} does not say {says:?}");
    }
    let out = admin(&["alice", "--bytes", "garbage", "-o", "json"]);
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((out.status.code(), body["code"].as_str()), (Some(1), Some("FAILURE")), "{body}");
    // The server's default is checked the same way before it starts.
    let data = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["server", "--listen", "127.0.0.1:0", "--quota-bytes", "lots", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("run fedml server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--quota-bytes: \"lots\" is not a size"), "{stderr}");
    // Nothing changed: the limits set first still hold.
    let out = admin(&["alice", "-o", "json"]);
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((body["data"]["quotaBytes"].as_u64(), body["data"]["quotaObjects"].as_u64()), (Some(1000), Some(5)));
}

/// Operator settings and headers of the observability features: a wrong log format, an empty or
/// mistyped metrics token are refused before anything is created; an `X-Request-Id` that is not
/// sane is replaced, never echoed; a wrong metrics token is a FAILURE that says what to send.
#[test]
fn observability_settings_and_headers_that_are_wrong() {
    let work = tempfile::tempdir().expect("tmp");
    let data = work.path().join("data");
    let config = work.path().join("fedml.toml");
    let server_with = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
            .arg("server")
            .args(["--data-dir", &data.display().to_string(), "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("FEDML_METRICS_TOKEN")
            .env_remove("FEDML_LOG_FORMAT")
            .env_remove("FEDML_SERVER_CONFIG")
            .output()
            .expect("run fedml server");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut cases = 0;
    let (code, err) = server_with(&["--log-format", "xml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'xml'") && err.contains("text, json"), "{err}");
    cases += 1;
    for token in ["", "   "] {
        let (code, err) = server_with(&["--metrics-token", token]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("metrics_token is empty") && err.contains("leave it out"), "{err}");
        cases += 1;
    }
    for (text, says) in [("metrics_token = \"\"", "metrics_token is empty"), ("metrics_token = 5", "expected a string")]
    {
        std::fs::write(&config, text).expect("config");
        let (code, err) = server_with(&["--config", &config.display().to_string()]);
        assert_eq!(code, Some(1), "{text}: {err}");
        assert!(err.contains(says), "{text}: {err}");
        cases += 1;
    }
    assert!(!data.exists(), "a refused start created the data directory");

    let server = TestServer::start();
    let http = fedml_client::client::http_client().expect("HTTP client");
    for bad in ["", "with space", "ünïcode", &"x".repeat(65), "tab\there", "quote\"d é"] {
        let id = fedml_client::block_on(async {
            let r =
                http.get(format!("{}/api/v1/whoami", server.url)).header("x-request-id", bad.as_bytes()).send().await;
            let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            assert_eq!(r.status().as_u16(), 401, "the request is still answered");
            Ok(r.headers().get("x-request-id").map(|v| v.as_bytes().to_vec()).unwrap_or_default())
        })
        .expect("request");
        assert!(id.len() == 16 && id.iter().all(u8::is_ascii_hexdigit), "{bad:?} answered with id {id:?}");
        cases += 1;
    }
    println!("{cases} observability bad inputs");
}
