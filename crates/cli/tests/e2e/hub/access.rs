//! Who may do what through the Hub API, decided by the platform as everywhere: in an
//! organisation's repository a reader downloads and cannot commit, send LFS objects or create; a
//! writer does all of it; a user who is not a member finds nothing (404 `RepoNotFound`, as for a
//! repository that does not exist); a key limited to another namespace and a read-only key are
//! refused (403); no key or a bad one is 401, read as a bad token, not a missing repository.

use serde_json::json;

use super::*;

#[test]
fn roles_and_scoped_keys_hold_on_every_hub_route() {
    let server = TestServer::start();
    let alice = server.new_user("alice");
    let writer = server.new_user("walter");
    let reader = server.new_user("rita");
    let stranger = server.new_user("nora");
    let admin = Hub::new(&server, &alice);
    let made = admin.json("POST", "/api/v1/orgs", &json!({"name": "lab"}));
    assert_eq!(made.status, 200, "{}", made.text());
    for (user, role) in [("walter", "writer"), ("rita", "reader")] {
        let a = admin.json("PUT", &format!("/api/v1/orgs/lab/members/{user}"), &json!({"role": role}));
        assert_eq!(a.status, 200, "{}", a.text());
    }
    let scoped = Hub::new(&server, &writer)
        .json("POST", "/api/v1/keys", &json!({"label": "own only", "namespaces": ["walter"]}))
        .json()["data"]["api_key"]
        .as_str()
        .expect("scoped key")
        .to_string();
    let writer_ro = server.new_key("walter", true);

    let w = Hub::new(&server, &writer);
    assert_eq!(w.create("model", "lab/net").status, 200);
    let weights = bytes(2 << 20, 3);
    w.send_lfs("", "lab/net", &[&weights]);
    let c = w.commit("models", "lab/net", "first", None, &[regular("a.txt", HELLO), lfs("w.bin", &weights)]);
    assert_eq!(c.status, 200, "{}", c.text());
    let commit = c.json()["commitOid"].as_str().expect("oid").to_string();

    // The reader reads everything and changes nothing.
    let r = Hub::new(&server, &reader);
    assert_eq!(r.get("/api/models/lab/net").json()["sha"], commit.as_str());
    assert_eq!(r.get("/lab/net/resolve/main/w.bin").body, weights);
    assert_eq!(r.get("/api/models/lab/net/tree/main?recursive=true").status, 200);
    r.commit("models", "lab/net", "no", None, &[regular("b.txt", b"b")]).refused(403, None);
    r.batch("", "lab/net", &[b"new bytes"]).refused(403, None);
    r.create("model", "lab/mine").refused(403, None);
    r.json("POST", "/api/models/lab/net/preupload/main", &json!({"files": [{"path": "b.txt", "size": 1}]}))
        .refused(403, None);
    r.json("DELETE", "/api/repos/delete", &json!({"name": "net", "organization": "lab"})).refused(403, None);
    let whoami = r.get("/api/whoami-v2").json();
    assert_eq!(whoami["orgs"][0]["name"], "lab");
    assert_eq!(whoami["orgs"][0]["roleInOrg"], "read");

    // A read-only key of the writer reads, and is refused every write the same way whether the
    // repository exists or not.
    let ro = Hub::new(&server, &writer_ro);
    assert_eq!(ro.get("/lab/net/resolve/main/a.txt").body, HELLO);
    for id in ["lab/net", "lab/nothing"] {
        ro.commit("models", id, "no", None, &[regular("b.txt", b"b")]).refused(403, None);
        ro.batch("", id, &[b"new bytes"]).refused(403, None);
    }
    assert_eq!(ro.get("/api/whoami-v2").json()["auth"]["accessToken"]["role"], "read");

    // A stranger finds nothing, as for a repository that does not exist.
    let s = Hub::new(&server, &stranger);
    for id in ["lab/net", "lab/nothing"] {
        s.get(&format!("/api/models/{id}")).refused(404, Some("RepoNotFound"));
        s.get(&format!("/{id}/resolve/main/a.txt")).refused(404, Some("RepoNotFound"));
        s.commit("models", id, "no", None, &[regular("b.txt", b"b")]).refused(404, Some("RepoNotFound"));
        s.batch("", id, &[b"new bytes"]).refused(404, Some("RepoNotFound"));
    }
    s.create("model", "lab/theirs").refused(404, None);

    // A key limited to the writer's own namespace is refused in the organisation's.
    let k = Hub::new(&server, &scoped);
    k.get("/api/models/lab/net").refused(403, None);
    k.get("/lab/net/resolve/main/a.txt").refused(403, None);
    k.commit("models", "lab/net", "no", None, &[regular("b.txt", b"b")]).refused(403, None);
    assert_eq!(k.create("model", "walter/own").status, 200, "at home it may");

    // No key, or a bad one: 401, which the client reads as a bad token.
    let nobody = Hub { server: &server, key: None };
    for bad in [nobody, Hub::new(&server, "fml_0123456789abcdef_nope")] {
        for a in [bad.get("/api/whoami-v2"), bad.get("/lab/net/resolve/main/a.txt"), bad.get("/api/models/lab/net")] {
            a.refused(401, None);
            assert_eq!(a.header("x-error-message").as_deref(), Some("Invalid credentials in Authorization header"));
        }
    }

    // A signed upload URL works once per key: revoked, its URL is refused.
    let fresh = server.new_key("walter", false);
    let batch = Hub::new(&server, &fresh).batch("", "lab/net", &[b"fresh bytes"]);
    let href = batch.json()["objects"][0]["actions"]["upload"]["href"].as_str().expect("href").to_string();
    server.revoke(&fresh);
    let put = Hub { server: &server, key: None }.send("PUT", &href, &[], Some(b"fresh bytes".to_vec()));
    assert_eq!(put.status, 403, "{}", put.text());
    let tampered = href.replace("sig=", "sig=0");
    let put = Hub { server: &server, key: None }.send("PUT", &tampered, &[], Some(b"fresh bytes".to_vec()));
    assert_eq!(put.status, 403, "{}", put.text());

    // The writer's commit went in; nothing the others tried did.
    let files = r.get("/api/models/lab/net/tree/main?recursive=true").json();
    assert_eq!(files.as_array().map(Vec::len), Some(2), "{files}");
    assert_eq!(r.get("/api/models/lab/net").json()["sha"], commit.as_str());
}
