use super::*;

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

    // Break the store: its folder (or, on S3, the bucket's folder in s3s-fs) replaced by a file;
    // root ignores permissions, and s3s-fs would make a missing bucket's folder again.
    let (broken, aside) = match &server.backend {
        Backend::Embedded => (server.data_dir.join("blobs"), server.data_dir.join("blobs.aside")),
        Backend::PostgresS3 { s3_root, bucket, .. } => (s3_root.join(bucket), s3_root.join(format!("{bucket}.aside"))),
        Backend::Cloud(_) => {
            println!(
                "skipped on this emulator: a bucket of this server's own to break (every test server shares the \
                 emulator's one bucket, each under its own prefix)"
            );
            return;
        }
    };
    std::fs::rename(&broken, &aside).expect("move the store away");
    std::fs::write(&broken, b"not a folder").expect("a file in its place");
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
    std::fs::remove_file(&broken).expect("remove the file");
    std::fs::rename(&aside, &broken).expect("put the store back");
    let again = get(&format!("{}/readyz", server.url));
    assert_eq!(again.status, 200, "{}", again.text);
}
