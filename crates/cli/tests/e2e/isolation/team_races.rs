//! Races of teams, each repeated with its requests released together by a barrier: a member
//! removed while their upload completes, a link revoked while it is downloaded, two admins
//! changing one membership or removing each other. Each must end in one truthful outcome.

use super::*;

const ROUNDS: usize = 20;

fn admin_of(server: &TestServer, admin: &str, org: &str, user: &str, role: &str) {
    call(server, admin, "PUT", &format!("/api/v1/orgs/{org}/members/{user}"), Some(json!({"role": role})));
}

fn members(server: &TestServer, key: &str, org: &str) -> Vec<(String, String)> {
    let listed = call(server, key, "GET", &format!("/api/v1/orgs/{org}/members"), None);
    listed
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["user"].as_str().expect("user").to_string(), m["role"].as_str().expect("role").to_string()))
        .collect()
}

/// A member removed while their upload completes: either the upload is refused and nothing is
/// stored, or it is stored and answered as stored; never one without the other.
#[test]
fn a_member_removed_while_their_upload_completes_either_stored_it_or_not() {
    let server = TestServer::start();
    let alice = server.new_user("alice");
    let walter = server.new_user("walter");
    call(&server, &alice, "POST", "/api/v1/orgs", Some(json!({"name": "racing-team"})));
    let (mut stored, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        admin_of(&server, &alice, "racing-team", "walter", "writer");
        let name = format!("race-{round}");
        let data = bytes(1000, round as u64);
        let session = call(
            &server,
            &walter,
            "POST",
            "/api/v1/uploads",
            Some(json!({"name": name, "service": "R2", "kind": "file", "size": 1000, "namespace": "racing-team"})),
        );
        let id = session["upload_id"].as_str().expect("id").to_string();
        let urls = call(
            &server,
            &walter,
            "POST",
            &format!("/api/v1/uploads/{id}/parts"),
            Some(json!({"first": 1, "count": 1})),
        );
        let etag = put_part(urls[0]["url"].as_str().expect("url"), &data);
        let complete_url = format!("{}/api/v1/uploads/{id}/complete", server.url);
        let remove_url = format!("{}/api/v1/orgs/racing-team/members/walter", server.url);
        let body = json!({"parts": [{"part_number": 1, "etag": etag}], "size": 1000,
                          "checksum": fedml_proto::checksum::of_bytes(&data)});
        let (w, a) = (walter.clone(), alice.clone());
        let answers = at_once::<Answer>(vec![
            Box::new(move || {
                send("POST", &complete_url, &json_headers(bearer(&w)), Some(body.to_string().into_bytes()))
            }),
            Box::new(move || send("DELETE", &remove_url, &bearer(&a), None)),
        ]);
        let (completed, removed) = (&answers[0], &answers[1]);
        assert_eq!(removed.status, 200, "the removal: {}", removed.text());
        let object =
            send("GET", &format!("{}/api/v1/objects/{name}?namespace=racing-team", server.url), &bearer(&alice), None);
        match completed.status {
            200 => {
                stored += 1;
                assert_eq!(object.status, 200, "answered stored, but not there: {}", object.text());
                assert_eq!(object.json()["data"]["checksum"], json!(fedml_proto::checksum::of_bytes(&data)));
            }
            // Refused: under the namespace's lock at the commit (403), or before it (404: no
            // namespace the caller can use any more).
            403 | 404 => {
                refused += 1;
                assert_eq!(object.status, 404, "refused, but stored: {}", object.text());
            }
            other => panic!("round {round}: the completion answered HTTP {other} {}", completed.text()),
        }
        // From now on the removed member writes nothing there.
        let again = send(
            "POST",
            &format!("{}/api/v1/uploads", server.url),
            &json_headers(bearer(&walter)),
            Some(
                json!({"name": "after", "service": "R2", "kind": "file", "size": 1, "namespace": "racing-team"})
                    .to_string()
                    .into_bytes(),
            ),
        );
        assert_eq!(again.status, 404, "a removed member opened an upload: {}", again.text());
    }
    println!("member removed during completion: stored {stored}, refused {refused} of {ROUNDS}");
}

/// A link revoked while it is being downloaded: each download is either whole and exact or
/// refused; once the revocation has answered, the link reads nothing.
#[test]
fn a_link_revoked_while_downloaded_gives_all_or_nothing_and_then_nothing() {
    let server = TestServer::start();
    let alice = server.new_user("alice");
    let work = tempfile::tempdir().expect("tmp");
    let data = bytes(3 << 20, 41);
    let path = work.path().join("shared.bin");
    std::fs::write(&path, &data).expect("write");
    let r = fedml_client::upload_with(&path, &upload_opts(server.target(&alice), "shared.bin"));
    assert!(r.is_success(), "{}", r.message);
    let (mut whole, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let link = call(&server, &alice, "POST", "/api/v1/shares", Some(json!({"name": "shared.bin"})));
        let url = link["url"].as_str().expect("url").to_string();
        let id = link["share"]["id"].as_str().expect("id").to_string();
        let unshare = format!("{}/api/v1/shares/{id}", server.url);
        let (u, a) = (url.clone(), alice.clone());
        let answers = at_once::<Answer>(vec![
            Box::new(move || send("GET", &u, &[], None)),
            Box::new(move || send("DELETE", &unshare, &bearer(&a), None)),
        ]);
        assert_eq!(answers[1].status, 200, "the revocation: {}", answers[1].text());
        match answers[0].status {
            200 => {
                whole += 1;
                assert!(answers[0].body == data, "round {round}: a download that is not the whole object");
            }
            404 => refused += 1,
            other => panic!("round {round}: the download answered HTTP {other}"),
        }
        let after = send("GET", &url, &[], None);
        assert_eq!(after.status, 404, "a revoked link still reads");
        let ranged = send("GET", &url, &[("range".into(), "bytes=100-".into())], None);
        assert_eq!(ranged.status, 404, "a revoked link still resumes");
    }
    println!("link revoked during download: whole {whole}, refused {refused} of {ROUNDS}");
}

/// Two admins changing one membership at once (one makes the member a writer, the other removes
/// them): the member ends in one of the two states, as the members list and the answers say; two
/// admins removing each other at once leave exactly one admin.
#[test]
fn two_admins_changing_one_membership_leave_one_truthful_state() {
    let server = TestServer::start();
    let alice = server.new_user("alice");
    let bob = server.new_user("bob");
    server.new_user("mia");
    let mut outcomes = BTreeMap::new();
    for round in 0..ROUNDS {
        let org = format!("duo-{round}");
        call(&server, &alice, "POST", "/api/v1/orgs", Some(json!({"name": org})));
        admin_of(&server, &alice, &org, "bob", "admin");
        admin_of(&server, &alice, &org, "mia", "reader");
        let set = format!("{}/api/v1/orgs/{org}/members/mia", server.url);
        let remove = set.clone();
        let (a, b) = (alice.clone(), bob.clone());
        let answers = at_once::<Answer>(vec![
            Box::new(move || {
                send("PUT", &set, &json_headers(bearer(&a)), Some(json!({"role": "writer"}).to_string().into_bytes()))
            }),
            Box::new(move || send("DELETE", &remove, &bearer(&b), None)),
        ]);
        assert_eq!(answers[1].status, 200, "the removal: {}", answers[1].text());
        let mia: Vec<_> = members(&server, &alice, &org).into_iter().filter(|(u, _)| u == "mia").collect();
        match (answers[0].status, mia.as_slice()) {
            // Made a writer after the removal: added back as one.
            (200, [(_, role)]) if role == "writer" => *outcomes.entry("writer").or_insert(0) += 1,
            // Made a writer, then removed: the set answered before the removal went through.
            (200, []) => *outcomes.entry("removed").or_insert(0) += 1,
            // The removal came between the change and its answer: told so, and absent.
            (409, []) => *outcomes.entry("told removed").or_insert(0) += 1,
            (status, state) => panic!("round {round}: set answered {status}, mia is {state:?}"),
        }

        // The two admins remove each other: one wins, the other is refused, one admin is left.
        let (a, b) = (alice.clone(), bob.clone());
        let (alice_out, bob_out) = (
            format!("{}/api/v1/orgs/{org}/members/bob", server.url),
            format!("{}/api/v1/orgs/{org}/members/alice", server.url),
        );
        let answers = at_once::<Answer>(vec![
            Box::new(move || send("DELETE", &alice_out, &bearer(&a), None)),
            Box::new(move || send("DELETE", &bob_out, &bearer(&b), None)),
        ]);
        let won: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(won.iter().filter(|s| **s == 200).count(), 1, "round {round}: {won:?}");
        assert!(won.iter().all(|s| [200, 404, 409].contains(s)), "round {round}: {won:?}");
        let survivor = if won[0] == 200 { &alice } else { &bob };
        let admins: Vec<_> = members(&server, survivor, &org).into_iter().filter(|(_, r)| r == "admin").collect();
        assert_eq!(admins.len(), 1, "round {round}: admins left {admins:?}");
    }
    println!("two admins on one membership: {outcomes:?}");
}
