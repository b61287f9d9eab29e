//! The native API calls the dashboard added, as any client sees them (the browser itself is in
//! `tests/dashboard`): administrators and what only they may do, listings searched, sorted and
//! paged over thousands of objects with ties, `fedml storage edit` and `fedml admin user admin`,
//! and dashboard sessions across two servers sharing one catalogue.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::*;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

fn send(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    fedml_client::block_on(async {
        let http = fedml_client::client::http_client()?;
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = http.request(m, format!("{url}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok(Answer { status, headers, body })
    })
    .expect("request")
}

fn with_key(server: &TestServer, key: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
    let auth = format!("Bearer {key}");
    send(&server.url, method, path, &[("authorization", auth.as_str())], body)
}

fn fedml_admin_on(server: &TestServer, args: &[&str]) -> std::process::Output {
    fedml_admin(server.admin_location().iter().map(String::as_str).chain(args.iter().copied()))
}

#[test]
fn administrators_see_every_user_and_may_revoke_any_key_and_no_one_else_may() {
    let server = TestServer::start();
    let alice = server.new_user("alice");
    let bob = server.new_user("bob");
    let admin = server.admin_key.clone();

    // The first start's user is an administrator; alice and bob are not.
    let users = with_key(&server, &admin, "GET", "/api/v1/admin/users", None);
    assert_eq!(users.status, 200, "{}", users.body);
    let names: Vec<&str> =
        users.body["data"].as_array().expect("users").iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    assert_eq!(users.body["data"][0]["admin"], true);
    for key in [&alice, &bob] {
        let refused = with_key(&server, key, "GET", "/api/v1/admin/users", None);
        assert_eq!((refused.status, refused.body["code"].as_str()), (403, Some("FAILURE")), "{}", refused.body);
        assert!(refused.body["message"].as_str().expect("message").contains("fedml admin user admin"));
    }
    let alice_id = alice.split('_').nth(1).expect("id");
    // Bob cannot revoke alice's key, and is told it does not exist.
    let refused = with_key(&server, &bob, "DELETE", &format!("/api/v1/keys/{alice_id}"), None);
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(with_key(&server, &alice, "GET", "/api/v1/whoami", None).status, 200);

    // Made an administrator with the CLI, bob sees alice's keys and may revoke one.
    let made = fedml_admin_on(&server, &["user", "admin", "bob"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(String::from_utf8_lossy(&made.stdout).contains("is now an administrator"));
    let keys = with_key(&server, &bob, "GET", "/api/v1/admin/users/alice/keys", None);
    assert_eq!(keys.status, 200, "{}", keys.body);
    assert_eq!(keys.body["data"][0]["id"], alice_id);
    assert!(!keys.body.to_string().contains(&alice), "a key's secret in an answer");
    let revoked = with_key(&server, &bob, "DELETE", &format!("/api/v1/keys/{alice_id}"), None);
    assert_eq!((revoked.status, &revoked.body["data"]), (200, &json!(true)), "{}", revoked.body);
    assert_eq!(with_key(&server, &alice, "GET", "/api/v1/whoami", None).status, 401);

    // And no longer one.
    assert!(fedml_admin_on(&server, &["user", "admin", "bob", "--off"]).status.success());
    assert_eq!(with_key(&server, &bob, "GET", "/api/v1/admin/users", None).status, 403);
    let listed = fedml_admin_on(&server, &["user", "list", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let flags: Vec<(String, bool)> = listed["data"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| (u["name"].as_str().expect("name").to_string(), u["admin"].as_bool().expect("admin")))
        .collect();
    assert_eq!(flags, [("admin".into(), true), ("alice".into(), false), ("bob".into(), false)]);
    let unknown = fedml_admin_on(&server, &["user", "admin", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user named"));
}

/// Rows straight into the catalogue (as a migration from another system would put them), so
/// that a listing can be paged over thousands of objects with sizes and times that tie.
fn seed_objects(server: &TestServer, owner: &str, count: usize) {
    let owner_id = server.block_on({
        let catalogue = server.platform.catalogue.clone();
        let owner = owner.to_string();
        async move { catalogue.user_by_name(&owner).await.expect("user").id }
    });
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                let tags = if i % 3 == 0 { r#"["Gold"]"# } else { r#"["plain"]"# };
                format!(
                    "('{owner_id}-{i}', '{owner_id}', 'obj-{i:05}', 'file', 'R2', {}, 'blake3:{}', '', '{tags}', '{{}}', \
                     '{owner_id}/seed{i}', {}, {})",
                    i % 7,
                    "0".repeat(64),
                    1_700_000_000_000i64,
                    1_700_000_000_000i64 + (i % 5) as i64
                )
            })
            .collect();
        catalogue_sql(
            server,
            format!(
                "INSERT INTO objects (id, owner_id, name, kind, service, size, checksum, description, tags, metadata, \
                 blob_key, created_at, updated_at) VALUES {}",
                rows.join(", ")
            ),
        );
    }
}

#[test]
fn listings_are_searched_sorted_and_paged_completely_with_ties() {
    let server = TestServer::start();
    let key = server.new_user("carol");
    let other = server.new_user("dave");
    const N: usize = 2_345;
    seed_objects(&server, "carol", N);
    seed_objects(&server, "dave", 10);

    for (query, expected) in [("", N), ("gold", N.div_ceil(3)), ("OBJ-0001", 10), ("50%", 0)] {
        for (sort, order) in [("name", "asc"), ("name", "desc"), ("size", "asc"), ("size", "desc"), ("updated", "desc")]
        {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            let mut pages = 0;
            loop {
                let q = fedml_proto::encode_path_segment(query);
                let mut path = format!("/api/v1/objects?limit=250&sort={sort}&order={order}&q={q}");
                if let Some(a) = &after {
                    path.push_str(&format!("&after={}", fedml_proto::encode_path_segment(a)));
                }
                let page = with_key(&server, &key, "GET", &path, None);
                assert_eq!(page.status, 200, "{path}: {}", page.body);
                let total = if after.is_none() { json!(expected) } else { Value::Null };
                assert_eq!(page.body["data"]["total"], total, "{path}: the total, on the first page only");
                let objects = page.body["data"]["objects"].as_array().expect("objects");
                seen.extend(objects.iter().map(|o| {
                    (
                        o["size"].as_u64().expect("size"),
                        o["updatedAt"].as_str().expect("t").to_string(),
                        o["dataName"].as_str().expect("name").to_string(),
                    )
                }));
                pages += 1;
                match page.body["data"]["next"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
            let label = format!("q={query:?} sort={sort} order={order}");
            assert_eq!(seen.len(), expected, "{label}: every object once");
            let names: std::collections::BTreeSet<_> = seen.iter().map(|s| s.2.clone()).collect();
            assert_eq!(names.len(), expected, "{label}: an object listed twice");
            assert!(!names.iter().any(|n| n.len() != "obj-00000".len()), "{label}: another user's object");
            let mut sorted = seen.clone();
            match sort {
                "name" => sorted.sort_by(|a, b| a.2.cmp(&b.2)),
                "size" => sorted.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2))),
                _ => sorted.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2))),
            }
            if order == "desc" {
                sorted.reverse();
            }
            assert_eq!(seen, sorted, "{label}: out of order");
            assert!(pages >= expected / 250, "{label}");
        }
    }
    // Dave sees his ten, whatever he searches for.
    let page = with_key(&server, &other, "GET", "/api/v1/objects?q=obj&limit=10000", None);
    assert_eq!(page.body["data"]["total"], 10);
    let long = "x".repeat(201);
    let refused = with_key(&server, &key, "GET", &format!("/api/v1/objects?q={long}"), None);
    assert_eq!(refused.status, 400, "{}", refused.body);
}

#[test]
fn storage_edit_changes_metadata_and_never_the_bytes() {
    let server = TestServer::start();
    let key = server.new_user("erin");
    let reader = server.new_key("erin", true);
    let work = tempfile::tempdir().expect("tmp");
    let path = work.path().join("model.bin");
    std::fs::write(&path, bytes(50_000, 7)).expect("write");
    let mut options = upload_opts(server.target(&key), "model.bin");
    options.description = Some("before".into());
    options.tags = Some(vec!["a".into()]);
    assert!(fedml_client::upload_with(&path, &options).is_success());
    let before = fedml_client::get_storage_metadata_with("model.bin", None, &server.target(&key)).data.expect("meta");

    let cli = |k: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fedml"))
            .env("FEDML_CONFIG_DIR", work.path().join("cfg"))
            .env_remove("FEDML_API_KEY")
            .args(["storage", "edit", "model.bin"])
            .args(args)
            .args(["-k", k, "--server", &server.url])
            .output()
            .expect("run")
    };
    let out = cli(&key, &["-d", "after", "--user_metadata", r#"{"epoch": "12"}"#]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Updated"));
    let after = fedml_client::get_storage_metadata_with("model.bin", None, &server.target(&key)).data.expect("meta");
    assert_eq!((after.description.as_str(), after.tags.clone()), ("after", vec!["a".to_string()]), "tags untouched");
    assert_eq!(after.user_metadata.get("epoch").map(String::as_str), Some("12"));
    assert_eq!((after.checksum.as_str(), after.size), (before.checksum.as_str(), before.size));
    assert!(after.updated_at >= before.updated_at);

    // Empty values clear; bad values and read-only keys are refused with what to do.
    assert!(cli(&key, &["-t", "", "--user_metadata", "{}"]).status.success());
    let cleared = fedml_client::get_storage_metadata_with("model.bin", None, &server.target(&key)).data.expect("meta");
    assert!(cleared.tags.is_empty() && cleared.user_metadata.is_empty());
    for (k, args, says) in [
        (&key, vec![], "nothing to change"),
        (&key, vec!["--user_metadata", "[1]"], "--user_metadata"),
        (&key, vec!["-t", "x\u{202e}y"], "invisible"),
        (&reader, vec!["-d", "x"], "read-only"),
    ] {
        let out = cli(k, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let edit = fedml_client::EditObject { description: Some("x".into()), ..Default::default() };
    let missing = fedml_client::update_storage_metadata_with("nope", &edit, &server.target(&key));
    assert_eq!(missing.code, fedml_client::ResponseCode::Failure);
    assert!(missing.message.contains("no data named"), "{}", missing.message);
}

#[test]
fn a_session_works_on_every_instance_and_ends_everywhere_at_sign_out_or_revocation() {
    let first = TestServer::start();
    let second = TestServer::start_sharing(&first);
    let key = first.new_user("fay");
    let sign_in = send(&first.url, "POST", "/api/v1/session", &[], Some(json!({"api_key": key})));
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    let set_cookie = sign_in.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: no Secure flag, or the browser would drop it");
    let cookie = set_cookie.split(';').next().expect("pair").to_string();
    let csrf = sign_in.body["data"]["csrf_token"].as_str().expect("csrf").to_string();
    for server in [&first, &second] {
        let me = send(&server.url, "GET", "/api/v1/whoami", &[("cookie", &cookie)], None);
        assert_eq!((me.status, me.body["data"]["user"].as_str()), (200, Some("fay")), "{}", me.body);
    }
    // Signed out on the second instance: refused on both.
    let out = send(&second.url, "DELETE", "/api/v1/session", &[("cookie", &cookie), ("x-csrf-token", &csrf)], None);
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.headers.get("set-cookie").and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("Max-Age=0")));
    for server in [&first, &second] {
        assert_eq!(send(&server.url, "GET", "/api/v1/whoami", &[("cookie", &cookie)], None).status, 401);
    }
    // A new session ends when its key is revoked.
    let again = send(&first.url, "POST", "/api/v1/session", &[], Some(json!({"api_key": key})));
    let cookie = again.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    let cookie = cookie.split(';').next().expect("pair").to_string();
    assert_eq!(send(&second.url, "GET", "/api/v1/objects", &[("cookie", &cookie)], None).status, 200);
    first.revoke(&key);
    let refused = send(&second.url, "GET", "/api/v1/objects", &[("cookie", &cookie)], None);
    assert_eq!(refused.status, 401);
    assert!(refused.body["message"].as_str().expect("message").contains("sign in again"), "{}", refused.body);
}
