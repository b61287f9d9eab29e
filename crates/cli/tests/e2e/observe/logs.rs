use super::*;

// ---------------------------------------------------------------------------------- request ids and logs

/// Replaces a local upload session's staging file with a folder: every later step on it fails
/// inside the server (an I/O error, not the client's fault).
fn break_staging(data: &Path, upload_id: &str) {
    let staging = data.join("blobs").join("staging").join(upload_id);
    std::fs::remove_file(&staging).expect("the staging file exists");
    std::fs::create_dir(&staging).expect("a folder in its place");
}

fn log_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l:?}")))
        .collect()
}

fn lines_of(lines: &[Value], id: &str) -> Vec<Value> {
    lines.iter().filter(|l| l["span"]["request_id"] == id).cloned().collect()
}

#[test]
fn an_error_quotes_the_request_id_its_json_log_lines_carry() {
    // The embedded backend whatever FEDML_TEST_BACKEND says: the failure is provoked in the local
    // store's staging folder.
    let work = tempfile::tempdir().expect("tmp");
    let data = work.path().join("data");
    let log = work.path().join("server.log");
    let flags = vec!["--data-dir".to_string(), data.display().to_string(), "--log-format".into(), "json".into()];
    let server = ServerProcess::start(&flags, &log);
    let key = admin_key(&data);
    let client = Client::new(&server.url, &key).expect("client");
    let auth = format!("Bearer {key}");

    // Native API: a part PUT into a broken session is an ERROR (HTTP 500).
    let (session, urls) =
        fedml_client::block_on(open_raw_upload(&client, "breaks", ObjectKind::File, 10)).expect("session");
    break_staging(&data, &session.upload_id);
    let a = send("PUT", &urls[0].url, &[], Some(b"0123456789".to_vec()));
    assert_eq!(a.status, 500, "{}", a.text);
    let v = a.json();
    assert_eq!(v["code"], "ERROR");
    let id = a.request_id();
    assert_eq!(
        v["message"],
        format!(
            "the server could not complete the request; its log has the details (request {id}; quote it to your \
             administrator)"
        )
    );

    // FedML-compatible: the same quote in its FAILURE (HTTP 200, as that SDK needs).
    let presign = format!("{}/system/api/v1/cli/oss/multipart/presigned-url?fileKey=x/ds.bin&partNumber=1", server.url);
    let uid = send(
        "POST",
        &format!("{}/fedmlOpsServer/api/v1/cli/getUser", server.url),
        &[("content-type", "application/json")],
        Some(json!({"apiKey": key}).to_string().into_bytes()),
    );
    let uid = uid.json()["data"]["id"].as_str().expect("user id").to_string();
    let presign = presign.replace("fileKey=x/", &format!("fileKey={uid}/"));
    let p = send("GET", &presign, &[("authorization", &auth)], None);
    let compat_upload = p.json()["data"]["uploadId"].as_str().unwrap_or_else(|| panic!("{}", p.text)).to_string();
    break_staging(&data, &compat_upload);
    let complete = json!({"fileKey": format!("{uid}/ds.bin"), "uploadId": compat_upload, "partETags": []});
    let c = send(
        "POST",
        &format!("{}/system/api/v1/cli/oss/multipart/upload/complete", server.url),
        &[("authorization", &auth), ("content-type", "application/json"), ("x-request-id", "ops-ticket-42")],
        Some(complete.to_string().into_bytes()),
    );
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.json()["code"], "FAILURE", "{}", c.text);
    assert_eq!(c.request_id(), "ops-ticket-42", "a sane incoming id is kept");
    assert!(c.text.contains("(request ops-ticket-42; quote it to your administrator)"), "{}", c.text);

    // An id that is not sane is replaced by a fresh one.
    for bad in ["has space", &"x".repeat(65), "tab\there"] {
        let a = send("GET", &format!("{}/healthz", server.url), &[("x-request-id", bad)], None);
        let got = a.request_id();
        assert!(got != bad && got.len() == 16 && got.bytes().all(|b| b.is_ascii_hexdigit()), "{bad:?} → {got:?}");
    }
    // Each request its own id.
    let ids: std::collections::BTreeSet<String> =
        (0..20).map(|_| get(&format!("{}/healthz", server.url)).request_id()).collect();
    assert_eq!(ids.len(), 20);

    // Every line is JSON; the error's lines carry its id: the cause (ERROR) and the request line.
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = log_lines(&log);
        if lines_of(&lines, "ops-ticket-42").iter().any(|l| l["fields"]["status"] == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (id, status) in [(id.as_str(), 500), ("ops-ticket-42", 200)] {
        let of = lines_of(&lines, id);
        assert!(
            of.iter().any(|l| l["level"] == "ERROR" && l["fields"]["cause"].as_str().is_some_and(|c| !c.is_empty())),
            "no ERROR line with the cause for {id}: {of:#?}"
        );
        assert!(of.iter().any(|l| l["fields"]["status"] == status), "no request line for {id}: {of:#?}");
    }
    // No key, no signature, no query string in any line.
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(&key), "the log holds the API key");
    assert!(!text.contains("sig="), "the log holds a URL signature");
    assert!(!text.contains("partNumber="), "the log holds a query string");
}

#[test]
fn text_logs_carry_the_request_id_too() {
    let work = tempfile::tempdir().expect("tmp");
    let data = work.path().join("data");
    let log = work.path().join("server.log");
    let server = ServerProcess::start(&Backend::fresh().server_flags(&data), &log);
    let a = send("GET", &format!("{}/api/v1/objects/x", server.url), &[("x-request-id", "trace-me-7")], None);
    assert_eq!((a.status, a.request_id().as_str()), (401, "trace-me-7"));
    let mut found = false;
    for _ in 0..50 {
        let text = std::fs::read_to_string(&log).expect("log");
        if text.lines().any(|l| l.contains("request_id=trace-me-7") && l.contains("status=401")) {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(found, "no text log line with the request id:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
}
