use super::*;

// ---------------------------------------------------------------------------------- metrics

/// Uploads `data` as `name` through the native API by hand: four requests (open, sign, PUT,
/// complete). Answers the session's part size.
fn upload_by_hand(client: &Client, name: &str, data: &[u8]) -> u64 {
    fedml_client::block_on(async {
        let (session, urls) = open_raw_upload(client, name, ObjectKind::File, data.len() as u64).await?;
        let put = client.http().put(&urls[0].url).body(data.to_vec()).send().await;
        let put = put.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert!(put.status().is_success(), "part refused: {}", put.status());
        let etag = crate::harness::part_tag(put.headers()).expect("ETag");
        let complete = CompleteUpload {
            parts: vec![CompletedPart { part_number: 1, etag }],
            size: data.len() as u64,
            checksum: fedml_proto::checksum::of_bytes(data),
            content: None,
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
    let lifetimes =
        fedml_platform::operations::Lifetimes { upload_secs: 2, reclaim_grace_secs: 0, ..Default::default() };
    let server = TestServer::start_with(lifetimes);
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    for name in ["expires-1", "expires-2"] {
        fedml_client::block_on(open_raw_upload(&client, name, ObjectKind::File, 10)).expect("open");
    }
    assert_eq!(value(&scrape(&server.url, &[]), "fedml_uploads_in_flight"), 2.0);
    std::thread::sleep(Duration::from_millis(3100));
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
