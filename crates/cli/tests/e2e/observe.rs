//! What operators watch, against the real server: the probes answer without a key and name a
//! broken store; `/metrics` parses and, after a known sequence of requests, counts exactly those
//! by route template and status; the metrics token guards `/metrics` and nothing else; an ERROR
//! quotes a request id that its log lines carry; `--log-format json` lines are JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fedml_client::client::Client;
use fedml_proto::{CompleteUpload, CompletedPart, CreateUpload, ObjectKind};
use serde_json::{Value, json};

use crate::crash::{ServerProcess, admin_key};
use crate::harness::*;

// ---------------------------------------------------------------------------------- raw HTTP

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn request_id(&self) -> String {
        let id = self.headers.get("x-request-id").expect("every answer carries X-Request-Id");
        id.to_str().expect("visible ASCII").to_string()
    }
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Answer {
    let http = fedml_client::client::http_client().expect("HTTP client");
    fedml_client::block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = http.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        let text = String::from_utf8_lossy(&body).into_owned();
        Ok(Answer { status, headers, body, text })
    })
    .expect("request sent")
}

fn get(url: &str) -> Answer {
    send("GET", url, &[], None)
}

// ---------------------------------------------------------------------------------- the text format

/// One parsed scrape: `name{label="value",…}` (labels sorted) → value; every sample's family has
/// a `# TYPE`, and the text ends with `# EOF`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let mut ended = false;
    for line in text.lines() {
        assert!(!ended, "lines after # EOF: {line:?}");
        if line == "# EOF" {
            ended = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "unexpected type {kind}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or_else(|| panic!("unclosed {line:?}"))),
            None => (series, ""),
        };
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.is_empty(),
            "bad metric name {name:?}"
        );
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no # TYPE");
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad labels in {line:?}"));
            let end = after.find('"').unwrap_or_else(|| panic!("unclosed label value in {line:?}"));
            pairs.push((key.to_string(), after[..end].to_string()));
            rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
        }
        pairs.sort();
        let labels = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",");
        let key = if labels.is_empty() { name.to_string() } else { format!("{name}{{{labels}}}") };
        assert!(samples.insert(key.clone(), value).is_none(), "{key} twice");
    }
    assert!(ended, "the text does not end with # EOF");
    samples
}

fn scrape(url: &str, headers: &[(&str, &str)]) -> BTreeMap<String, f64> {
    let a = send("GET", &format!("{url}/metrics"), headers, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let kind = a.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(kind.starts_with("application/openmetrics-text"), "content type {kind}");
    parse_metrics(&a.text)
}

/// `fedml_http_requests_total` by (route, method, status).
fn request_counts(samples: &BTreeMap<String, f64>) -> BTreeMap<(String, String, u16), u64> {
    let mut out = BTreeMap::new();
    for (key, value) in samples {
        let Some(labels) = key.strip_prefix("fedml_http_requests_total{") else { continue };
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).expect("label") + name.len() + 2;
            labels[start..].split('"').next().expect("value").to_string()
        };
        out.insert((label("route"), label("method"), label("status").parse().expect("status")), *value as u64);
    }
    out
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples.get(key).unwrap_or_else(|| panic!("no {key} in {samples:#?}"))
}

// ---------------------------------------------------------------------------------- probes

#[test]
fn probes_answer_without_a_key_name_a_broken_store_and_hold_no_secret() {
    let server = TestServer::start();
    let healthz = get(&format!("{}/healthz", server.url));
    assert_eq!((healthz.status, healthz.json()["code"].clone()), (200, json!("SUCCESS")), "{}", healthz.text);
    let ready = get(&format!("{}/readyz", server.url));
    assert_eq!(ready.status, 200, "{}", ready.text);
    let v = ready.json();
    assert_eq!(v["data"]["ready"], true);
    assert_eq!(
        v["data"]["checks"],
        json!([{"name": "catalogue", "status": "ok"}, {"name": "service R2", "status": "ok"}])
    );

    // Break the store: its folder replaced by a file (root ignores permissions), or its bucket
    // moved away.
    let (broken, aside) = match &server.backend {
        Backend::Embedded => (server.data_dir.join("blobs"), server.data_dir.join("blobs.aside")),
        Backend::PostgresS3 { s3_root, bucket, .. } => (s3_root.join(bucket), s3_root.join(format!("{bucket}.aside"))),
    };
    std::fs::rename(&broken, &aside).expect("move the store away");
    if matches!(server.backend, Backend::Embedded) {
        std::fs::write(&broken, b"not a folder").expect("a file in its place");
    }
    let a = get(&format!("{}/readyz", server.url));
    assert_eq!(a.status, 503, "{}", a.text);
    let v = a.json();
    assert_eq!(v["code"], "ERROR");
    assert_eq!(v["data"]["ready"], false);
    assert_eq!(v["data"]["checks"][0], json!({"name": "catalogue", "status": "ok"}));
    assert_eq!(v["data"]["checks"][1]["name"], "service R2");
    assert_eq!(v["data"]["checks"][1]["status"], "failed");
    let reason = v["data"]["checks"][1]["reason"].as_str().expect("a reason").to_string();
    assert!(reason.len() > 8, "{reason}");
    let message = v["message"].as_str().expect("message");
    assert!(message.contains("service R2") && message.contains(&reason), "{message}");
    // Liveness is not readiness: the process still serves.
    assert_eq!(get(&format!("{}/healthz", server.url)).status, 200);

    // Nothing secret in any answer: no path, no endpoint, no bucket, no database, no key.
    let mut secrets = vec![
        server.data_dir.display().to_string(),
        server.admin_key.clone(),
        "blobs".to_string(),
        "catalogue.db".to_string(),
    ];
    if let Backend::PostgresS3 { database_url, endpoint, bucket, s3_root } = &server.backend {
        secrets.extend([database_url.clone(), endpoint.clone(), bucket.clone(), s3_root.display().to_string()]);
    }
    for answer in [&healthz, &ready, &a] {
        let text = format!("{:?}{}", answer.headers, answer.text);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a probe's answer holds {s:?}: {text}");
        }
    }

    // Mended, ready again.
    if matches!(server.backend, Backend::Embedded) {
        std::fs::remove_file(&broken).expect("remove the file");
    }
    std::fs::rename(&aside, &broken).expect("put the store back");
    let again = get(&format!("{}/readyz", server.url));
    assert_eq!(again.status, 200, "{}", again.text);
}

// ---------------------------------------------------------------------------------- metrics

/// Uploads `data` as `name` through the native API by hand: four requests (open, sign, PUT,
/// complete). Answers the session's part size.
fn upload_by_hand(client: &Client, name: &str, data: &[u8]) -> u64 {
    fedml_client::block_on(async {
        let session = client
            .create_upload(&CreateUpload {
                name: name.into(),
                service: "R2".into(),
                kind: ObjectKind::File,
                size: Some(data.len() as u64),
                description: String::new(),
                tags: vec![],
                metadata: Default::default(),
                overwrite: false,
            })
            .await?;
        let urls = client.part_urls(&session.upload_id, 1, 1).await?;
        let put = client.http().put(&urls[0].url).body(data.to_vec()).send().await;
        let put = put.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert!(put.status().is_success(), "part refused: {}", put.status());
        let etag = put.headers().get("etag").and_then(|v| v.to_str().ok()).expect("ETag").to_string();
        let complete = CompleteUpload {
            parts: vec![CompletedPart { part_number: 1, etag }],
            size: data.len() as u64,
            checksum: fedml_proto::checksum::of_bytes(data),
        };
        client.complete_upload(&session.upload_id, &complete).await?;
        Ok(session.part_size)
    })
    .expect("upload by hand")
}

#[test]
fn metrics_count_exactly_the_requests_sent() {
    const UPLOADS: usize = 3;
    const DOWNLOADS: usize = 4;
    const LISTS: usize = 5;
    let server = TestServer::start();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let auth = format!("Bearer {}", server.admin_key);
    let local = matches!(server.backend, Backend::Embedded);

    let sizes = [1000usize, 2000, 3000];
    let mut part_sizes = 0u64;
    for (i, size) in sizes.iter().enumerate() {
        part_sizes += upload_by_hand(&client, &format!("m-{i}"), &bytes(*size, i as u64));
    }
    let mut downloaded = 0u64;
    for i in 0..DOWNLOADS {
        let name = format!("m-{}", i % UPLOADS);
        let ticket =
            send("GET", &format!("{}/api/v1/objects/{name}/download", server.url), &[("authorization", &auth)], None);
        assert_eq!(ticket.status, 200, "{}", ticket.text);
        let url = ticket.json()["data"]["url"].as_str().expect("url").to_string();
        let blob = get(&url);
        assert_eq!(blob.status, 200);
        assert_eq!(blob.body, bytes(sizes[i % UPLOADS], (i % UPLOADS) as u64));
        downloaded += sizes[i % UPLOADS] as u64;
    }
    for _ in 0..LISTS {
        assert_eq!(
            send("GET", &format!("{}/api/v1/objects", server.url), &[("authorization", &auth)], None).status,
            200
        );
    }
    for name in ["missing-1", "missing-2"] {
        let a = send("GET", &format!("{}/api/v1/objects/{name}", server.url), &[("authorization", &auth)], None);
        assert_eq!(a.status, 404);
    }
    assert_eq!(get(&format!("{}/api/v1/objects/m-0", server.url)).status, 401);
    assert_eq!(get(&format!("{}/no/such/route/m-0", server.url)).status, 404);
    let deleted = send("DELETE", &format!("{}/api/v1/objects/m-2", server.url), &[("authorization", &auth)], None);
    assert_eq!(deleted.status, 200);
    // One session left open: in flight.
    let open = fedml_client::block_on(open_raw_upload(&client, "left-open", ObjectKind::File, 10)).expect("open");
    assert!(!open.0.upload_id.is_empty());

    let samples = scrape(&server.url, &[]);
    let mut expected: BTreeMap<(String, String, u16), u64> = BTreeMap::new();
    let mut add = |route: &str, method: &str, status: u16, n: usize| {
        *expected.entry((route.to_string(), method.to_string(), status)).or_default() += n as u64;
    };
    add("/api/v1/uploads", "POST", 200, UPLOADS + 1);
    add("/api/v1/uploads/{id}/parts", "POST", 200, UPLOADS + 1);
    add("/api/v1/uploads/{id}/complete", "POST", 200, UPLOADS);
    add("/api/v1/objects/{name}/download", "GET", 200, DOWNLOADS);
    add("/api/v1/objects", "GET", 200, LISTS);
    add("/api/v1/objects/{name}", "GET", 404, 2);
    add("/api/v1/objects/{name}", "GET", 401, 1);
    add("/api/v1/objects/{name}", "DELETE", 200, 1);
    add("unmatched", "GET", 404, 1);
    if local {
        add("/blob/v1/{service}/part/{upload_id}/{part}", "PUT", 200, UPLOADS);
        add("/blob/v1/{service}/object/{owner}/{blob}", "GET", 200, DOWNLOADS);
    }
    assert_eq!(request_counts(&samples), expected, "requests counted (left) and sent (right)");
    // Every counted request was timed under its route and method.
    let mut timed: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((route, method, _), n) in &expected {
        *timed.entry((route.clone(), method.clone())).or_default() += n;
    }
    for ((route, method), n) in timed {
        let count = format!("fedml_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}}");
        assert_eq!(value(&samples, &count) as u64, n, "{count}");
        let inf =
            format!("fedml_http_request_duration_seconds_bucket{{le=\"+Inf\",method=\"{method}\",route=\"{route}\"}}");
        assert_eq!(value(&samples, &inf) as u64, n, "{inf}");
    }

    let open_part = open.0.part_size;
    assert_eq!(value(&samples, "fedml_upload_url_bytes_total"), (part_sizes + open_part) as f64);
    assert_eq!(value(&samples, "fedml_download_url_bytes_total"), downloaded as f64);
    let sent: usize = sizes.iter().sum();
    let (received, served) = if local { (sent as f64, downloaded as f64) } else { (0.0, 0.0) };
    assert_eq!(value(&samples, "fedml_local_bytes_received_total"), received);
    assert_eq!(value(&samples, "fedml_local_bytes_served_total"), served);
    assert_eq!(value(&samples, "fedml_uploads_in_flight"), 1.0);
    // The deleted object's blob waits out its grace period.
    assert_eq!(value(&samples, "fedml_garbage_backlog"), 1.0);
    assert_eq!(value(&samples, "fedml_reclaimed_blobs_total"), 0.0);
    assert_eq!(value(&samples, "fedml_sessions_expired_total"), 0.0);
    assert!(value(&samples, "fedml_catalogue_pool_size") >= 1.0);
    assert!(value(&samples, "fedml_catalogue_pool_idle") <= value(&samples, "fedml_catalogue_pool_size"));

    // The scrape itself is counted by the next one; nothing else moved.
    let next = request_counts(&scrape(&server.url, &[]));
    let mut with_scrape = expected.clone();
    with_scrape.insert(("/metrics".into(), "GET".into(), 200), 1);
    assert_eq!(next, with_scrape);
}

#[test]
fn the_collector_s_work_is_counted() {
    let lifetimes = fedml_server::platform::Lifetimes { upload_secs: 1, download_secs: 3600, reclaim_grace_secs: 0 };
    let server = TestServer::start_with(lifetimes);
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    for name in ["expires-1", "expires-2"] {
        fedml_client::block_on(open_raw_upload(&client, name, ObjectKind::File, 10)).expect("open");
    }
    assert_eq!(value(&scrape(&server.url, &[]), "fedml_uploads_in_flight"), 2.0);
    std::thread::sleep(Duration::from_millis(2100));
    let platform = server.platform.clone();
    let report = server.block_on(async move { platform.collect_all_garbage().await.expect("collect") });
    assert_eq!(report.sessions_expired, 2);
    let samples = scrape(&server.url, &[]);
    assert_eq!(value(&samples, "fedml_sessions_expired_total"), 2.0);
    assert_eq!(value(&samples, "fedml_reclaimed_blobs_total"), report.blobs_reclaimed as f64);
    assert!(report.blobs_reclaimed >= 2, "the expired sessions' bytes are garbage: {report:?}");
    assert_eq!(value(&samples, "fedml_uploads_in_flight"), 0.0);
    assert_eq!(value(&samples, "fedml_garbage_backlog"), 0.0);
}

// ---------------------------------------------------------------------------------- the token

#[test]
fn the_metrics_token_guards_metrics_and_nothing_else() {
    let work = tempfile::tempdir().expect("tmp");
    let data = work.path().join("data");
    let log = work.path().join("server.log");
    let token = "scrape-me-0123456789";
    let mut flags = Backend::fresh().server_flags(&data);
    flags.extend(["--metrics-token".to_string(), token.to_string()]);
    let server = ServerProcess::start(&flags, &log);
    let key = admin_key(&data);
    let url = format!("{}/metrics", server.url);

    for (label, header) in [
        ("no Authorization", None),
        ("the admin's API key", Some(format!("Bearer {key}"))),
        ("a wrong token", Some("Bearer scrape-me-0123456788".to_string())),
        ("a prefix of the token", Some("Bearer scrape-me".to_string())),
        ("the token and more", Some(format!("Bearer {token}0"))),
        ("another scheme", Some(format!("Basic {token}"))),
        ("a bare token", Some(token.to_string())),
    ] {
        let headers: Vec<(&str, &str)> = header.as_deref().map(|h| vec![("authorization", h)]).unwrap_or_default();
        let a = send("GET", &url, &headers, None);
        assert_eq!(a.status, 401, "{label}: {}", a.text);
        let v = a.json();
        assert_eq!(v["code"], "FAILURE", "{label}: {}", a.text);
        let message = v["message"].as_str().expect("message");
        assert!(message.contains("token") || message.contains("Authorization"), "{label}: {message}");
        assert!(!a.text.contains(token) && !a.text.contains(&key), "{label}: the answer repeats a secret");
        assert!(!a.text.contains("fedml_http_requests"), "{label}: metrics leaked");
    }
    let bearer = format!("Bearer {token}");
    let samples = scrape(&server.url, &[("authorization", &bearer)]);
    // The refused scrapes were counted (as 401s on /metrics), under the route, never the token.
    assert_eq!(request_counts(&samples).get(&("/metrics".into(), "GET".into(), 401)), Some(&7));
    let lower = format!("bearer {token}");
    scrape(&server.url, &[("authorization", &lower)]);
    // The probes and the API keep their own rules.
    assert_eq!(get(&format!("{}/healthz", server.url)).status, 200);
    assert_eq!(get(&format!("{}/readyz", server.url)).status, 200);
    let whoami = send("GET", &format!("{}/api/v1/whoami", server.url), &[("authorization", &bearer)], None);
    assert_eq!(whoami.status, 401, "the metrics token is no API key");
    // The token never reaches the log.
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(!logged.contains(token), "the log holds the metrics token");

    // The same from the environment.
    let data2 = work.path().join("data2");
    let server2 = ServerProcess::start_with(&Backend::fresh().server_flags(&data2), &log, |c| {
        c.env("FEDML_METRICS_TOKEN", token);
    });
    assert_eq!(get(&format!("{}/metrics", server2.url)).status, 401);
    scrape(&server2.url, &[("authorization", &bearer)]);
}

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
