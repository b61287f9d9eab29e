//! Signed URLs: guessed, expired, tampered (each signed parameter, each path segment, the
//! method), moved to another session or owner, replayed after the session ended.

use super::*;

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
    // A part URL: the local store's `part/`, S3's `uploadId`, Azure's `comp=block`, GCS's `.parts/`.
    let method = if u.segments.contains(&"part".to_string())
        || u.param("uploadId").is_some()
        || u.param("comp").is_some_and(|c| c == "block")
        || u.segments.contains(&".parts".to_string())
    {
        "PUT"
    } else {
        "GET"
    };
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
    if server.backend.lacks("signature checking") {
        return;
    }
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
    let random = |n| fedml_platform::keys::random_hex(n);
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
        // The part number: a path segment (local `1`, GCS `00001`), S3's `partNumber`, Azure's
        // `blockid`.
        let u = pa.with_segment_replaced("1", "2").with_segment_replaced("00001", "00002");
        let u = if u.param("partNumber").is_some() { u.with_param("partNumber", "2") } else { u };
        if u.param("blockid").is_some() { u.with_param("blockid", "MDAwMDAwMDAwMg%3D%3D") } else { u }
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
        if server.backend.lacks("signature checking") {
            continue;
        }
        if label.ends_with("another part number")
            && matches!(server.backend, Backend::Cloud(fedml_server::ServiceSpec::Azure(_)))
        {
            // Not an emulator's gap: Azure's SAS cannot sign `blockid`, so a part URL takes any
            // block of its own session's staging blob, which only its completion reads.
            println!("skipped on Azure: a SAS cannot sign the block id (a part URL names its session's staging blob)");
            continue;
        }
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
    // On GCS and Azure a signed URL cannot be revoked before it expires: a late part lands in a
    // part object or staging blob that nothing reads (the lifecycle rule removes it). What must
    // hold there is checked below: the committed object is not rewritten.
    let cloud = matches!(server.backend, Backend::Cloud(_));
    if cloud {
        println!("on this cloud a late part URL is taken into a part nobody reads; checking the object stays whole");
        for url in [&part_a, &urls_b[0]] {
            send("PUT", url, &[], Some(bytes(1000, 99)));
        }
    } else {
        refuse("part URL of a completed session", "PUT", &part_a);
        refuse("part URL of an aborted session", "PUT", &urls_b[0]);
    }
    // Revoked: a part URL of a session whose key was revoked — refused at once on the local
    // folder, and once the collector has aborted the multipart upload on S3.
    let doomed = server.new_key("alice", false);
    let (sess_d, part_d, _) = open_session(&server, &doomed, "a-revoked", 1000);
    server.revoke(&doomed);
    let platform = server.platform.clone();
    server.block_on(async move { platform.collect_all_garbage().await.expect("collect") });
    if cloud {
        send("PUT", &part_d, &[], Some(bytes(1000, 99)));
    } else {
        assert_refused(&server, &[&sess_d], "part URL of a revoked key's session", "PUT", &part_d, &secret);
    }
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
    let server = TestServer::start_with(fedml_platform::operations::Lifetimes {
        upload_secs: 5,
        download_secs: 1,
        ..Default::default()
    });
    if server.backend.lacks("signature checking") {
        return;
    }
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
