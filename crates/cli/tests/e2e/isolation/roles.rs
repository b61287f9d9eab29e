//! The isolation matrix by role: every route that acts in a namespace, and the share link, against
//! each kind of caller an organisation knows — the owner of a user's own namespace, an admin, a
//! writer, a reader of the organisation, a user who is not a member, a member's key limited to
//! another namespace, a writer's read-only key, and a share link presented as a key. Each cell
//! says what the answer must be; a refusal is a FAILURE with no data, a member's cells succeed.
//! Destructive cells are each given a fresh object, link or member first, so that every cell
//! meets the same state. Runs on every backend of the suite (SQLite and PostgreSQL included).

use super::*;

/// What a cell must answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum E {
    Ok,
    No(u16),
}
use E::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Col {
    /// Alice in her own namespace (the same requests there).
    Owner,
    /// Alice, the organisation's admin (its creator).
    Admin,
    Writer,
    Reader,
    /// A user who is not a member.
    NonMember,
    /// The writer's key limited to the writer's own namespace.
    ScopedElsewhere,
    /// The writer's read-only key.
    ReadOnly,
    /// A share link of the organisation's file, presented as a key.
    Link,
}
const COLS: [Col; 8] =
    [Col::Owner, Col::Admin, Col::Writer, Col::Reader, Col::NonMember, Col::ScopedElsewhere, Col::ReadOnly, Col::Link];

/// What a destructive cell needs made again before it runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Needs {
    Nothing,
    /// The file with its two versions.
    File,
    /// A live link in the namespace (its id replaces `{link}`).
    ALink,
    /// The victim member (`victim`, a reader).
    Victim,
    /// No repository `hub-made` (made by the cell).
    NoRepo,
    /// The repository `hub-gone` (deleted by the cell).
    ARepo,
}

struct RoleRow {
    method: &'static str,
    /// `{ns}`: the namespace; `{link}`: a link id of it; `{token}`: the organisation's link.
    path: &'static str,
    body: Option<&'static str>,
    needs: Needs,
    expect: [E; 8],
    /// A Hub API route: its answers are the Hub's (`{"error": …}` for a refusal), not the envelope.
    hub: bool,
}

const READ: [E; 8] = [Ok, Ok, Ok, Ok, No(404), No(403), Ok, No(401)];
const WRITE: [E; 8] = [Ok, Ok, Ok, No(403), No(404), No(403), No(403), No(401)];
const MANAGE: [E; 8] = [Ok, Ok, No(403), No(403), No(404), No(403), No(403), No(401)];
/// Organisation routes: a user's own namespace is not one (400).
const ORG_READ: [E; 8] = [No(400), Ok, Ok, Ok, No(404), No(403), Ok, No(401)];
const ORG_MANAGE: [E; 8] = [No(400), Ok, No(403), No(403), No(404), No(403), No(403), No(401)];

const fn r(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    needs: Needs,
    expect: [E; 8],
) -> RoleRow {
    RoleRow { method, path, body, needs, expect, hub: false }
}

/// A Hub API row.
const fn h(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    needs: Needs,
    expect: [E; 8],
) -> RoleRow {
    RoleRow { method, path, body, needs, expect, hub: true }
}

/// A commit that puts `a.txt` as it is (the tree stays what the last check compares).
const SAME_COMMIT: &str = concat!(
    r#"{"key":"header","value":{"summary":"the same notes"}}"#,
    "\n",
    r#"{"key":"file","value":{"path":"a.txt","content":"dGhlIHRlYW0ncyBub3Rlcw==","encoding":"base64"}}"#,
    "\n"
);
const BATCH: &str = r#"{"operation":"upload","objects":[{"oid":"0000000000000000000000000000000000000000000000000000000000000001","size":3}]}"#;

const F: &str = "team-data.bin";
const D: &str = "team-tree";

#[rustfmt::skip]
const ROWS: &[RoleRow] = &[
    r("GET",    "/api/v1/objects?namespace={ns}",                                None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-data.bin?namespace={ns}",                  None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-data.bin?namespace={ns}&version=1",        None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-data.bin/user-metadata?namespace={ns}",    None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-data.bin/download?namespace={ns}",         None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-data.bin/versions?namespace={ns}",         None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-data.bin/diff?namespace={ns}&from=1",      None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-tree/files?namespace={ns}&recursive=true", None, Needs::Nothing, READ),
    r("GET",    "/api/v1/objects/team-tree/file?namespace={ns}&path=a.txt",      None, Needs::Nothing, READ),
    r("GET",    "/api/v1/usage?namespace={ns}",                                  None, Needs::Nothing, READ),
    r("POST",   "/api/v1/uploads",  Some(r#"{"name":"new-one","service":"R2","kind":"file","size":5,"namespace":"{ns}"}"#), Needs::Nothing, WRITE),
    r("PATCH",  "/api/v1/objects/team-data.bin?namespace={ns}", Some(r#"{"description":"edited"}"#), Needs::Nothing, WRITE),
    r("POST",   "/api/v1/shares",   Some(r#"{"name":"team-data.bin","namespace":"{ns}","expires_in":600}"#), Needs::Nothing, WRITE),
    r("GET",    "/api/v1/shares?namespace={ns}",                                 None, Needs::Nothing, WRITE),
    r("DELETE", "/api/v1/shares/{link}",                                         None, Needs::ALink, WRITE),
    r("DELETE", "/api/v1/objects/team-data.bin?namespace={ns}&version=1",        None, Needs::File, WRITE),
    r("DELETE", "/api/v1/objects/team-data.bin?namespace={ns}",                  None, Needs::File, WRITE),
    r("GET",    "/api/v1/log?namespace={ns}",                                    None, Needs::Nothing, MANAGE),
    r("GET",    "/api/v1/orgs/{ns}/members",                                     None, Needs::Nothing, ORG_READ),
    r("PUT",    "/api/v1/orgs/{ns}/members/victim", Some(r#"{"role":"writer"}"#), Needs::Victim, ORG_MANAGE),
    r("DELETE", "/api/v1/orgs/{ns}/members/victim",                              None, Needs::Victim, ORG_MANAGE),
    // Keys: any full key mints one for its user; a key limited to some namespaces or read-only does not.
    r("POST",   "/api/v1/keys",     Some(r#"{"label":"minted"}"#), Needs::Nothing, [Ok, Ok, Ok, Ok, Ok, No(403), No(403), No(401)]),
    r("POST",   "/api/v1/keys",     Some(r#"{"label":"minted","namespaces":["{ns}"]}"#), Needs::Nothing, [Ok, Ok, Ok, Ok, No(404), No(403), No(403), No(401)]),
    // Refused while the organisation holds objects: an admin passes the check and meets the 409.
    r("DELETE", "/api/v1/orgs/{ns}",  None, Needs::Nothing, [No(400), No(409), No(403), No(403), No(404), No(403), No(403), No(401)]),
    // The Hub API: the organisation's model repository team-tree (the directory object).
    h("GET",    "/api/whoami-v2",                                               None, Needs::Nothing, [Ok, Ok, Ok, Ok, Ok, Ok, Ok, No(401)]),
    h("GET",    "/api/models/{ns}/team-tree",                                   None, Needs::Nothing, READ),
    h("GET",    "/api/models/{ns}/team-tree/revision/main",                     None, Needs::Nothing, READ),
    h("GET",    "/api/models/{ns}/team-tree/tree/main?recursive=true",          None, Needs::Nothing, READ),
    h("POST",   "/api/models/{ns}/team-tree/paths-info/main", Some(r#"{"paths":["a.txt"]}"#), Needs::Nothing, READ),
    h("GET",    "/api/models/{ns}/team-tree/commits/main",                      None, Needs::Nothing, READ),
    h("GET",    "/{ns}/team-tree/resolve/main/a.txt",                           None, Needs::Nothing, READ),
    h("HEAD",   "/{ns}/team-tree/resolve/main/a.txt",                           None, Needs::Nothing, READ),
    h("POST",   "/api/models/{ns}/team-tree/preupload/main", Some(r#"{"files":[{"path":"a.txt","size":16}]}"#), Needs::Nothing, WRITE),
    h("POST",   "/api/models/{ns}/team-tree/commit/main",       Some(SAME_COMMIT), Needs::Nothing, WRITE),
    h("POST",   "/{ns}/team-tree.git/info/lfs/objects/batch",   Some(BATCH),       Needs::Nothing, WRITE),
    h("POST",   "/api/repos/create",   Some(r#"{"name":"hub-made","organization":"{ns}","type":"dataset"}"#), Needs::NoRepo, WRITE),
    h("DELETE", "/api/repos/delete",   Some(r#"{"name":"hub-gone","organization":"{ns}"}"#), Needs::ARepo, WRITE),
];

struct Team {
    server: TestServer,
    _work: tempfile::TempDir,
    alice: String,
    writer: String,
    reader: String,
    stranger: String,
    scoped: String,
    writer_ro: String,
    /// The token of a link to the organisation's file.
    token: String,
    file: Vec<u8>,
    file_v1: Vec<u8>,
    path: std::path::PathBuf,
    tree: std::path::PathBuf,
}

const ORG: &str = "vision-team";

impl Team {
    fn new() -> Team {
        let server = TestServer::start();
        let work = tempfile::tempdir().expect("tmp");
        let alice = server.new_user("alice");
        let writer = server.new_user("walter");
        let reader = server.new_user("rita");
        let stranger = server.new_user("nora");
        server.new_user("victim");
        catalogue_sql(&server, "UPDATE users SET is_admin = 0".into());
        call(&server, &alice, "POST", "/api/v1/orgs", Some(json!({"name": ORG})));
        for (user, role) in [("walter", "writer"), ("rita", "reader")] {
            call(&server, &alice, "PUT", &format!("/api/v1/orgs/{ORG}/members/{user}"), Some(json!({"role": role})));
        }
        let scoped = call(
            &server,
            &writer,
            "POST",
            "/api/v1/keys",
            Some(json!({"label": "own only", "namespaces": ["walter"]})),
        )["api_key"]
            .as_str()
            .expect("key")
            .to_string();
        let writer_ro = server.new_key("walter", true);
        let path = work.path().join(F);
        let tree = work.path().join("tree");
        std::fs::create_dir_all(&tree).expect("mkdir");
        std::fs::write(tree.join("a.txt"), b"the team's notes").expect("write");
        let team = Team {
            _work: work,
            alice,
            writer,
            reader,
            stranger,
            scoped,
            writer_ro,
            token: String::new(),
            file: bytes(40_000, 31),
            file_v1: bytes(40_000, 30),
            path,
            tree,
            server,
        };
        for ns in [ORG, "alice"] {
            team.make_file(ns);
            let mut t = team.server.target(&team.alice);
            t.namespace = Some(ns.to_string());
            let r = fedml_client::upload_with(&team.tree, &upload_opts(t, D));
            assert!(r.is_success(), "{}", r.message);
        }
        let link =
            call(&team.server, &team.alice, "POST", "/api/v1/shares", Some(json!({"name": F, "namespace": ORG})));
        let token = link["url"].as_str().expect("url").rsplit('/').next().expect("token").to_string();
        Team { token, ..team }
    }

    /// The file in `ns` with exactly two versions (`file_v1`, then `file`).
    fn make_file(&self, ns: &str) {
        let mut t = self.server.target(&self.alice);
        t.namespace = Some(ns.to_string());
        let _ = fedml_client::delete_with(F, None, &t);
        for (data, overwrite) in [(&self.file_v1, false), (&self.file, true)] {
            std::fs::write(&self.path, data).expect("write");
            let mut o = upload_opts(t.clone(), F);
            o.overwrite = overwrite;
            let r = fedml_client::upload_with(&self.path, &o);
            assert!(r.is_success(), "{ns}: {}", r.message);
        }
    }

    fn key(&self, col: Col) -> String {
        match col {
            Col::Owner | Col::Admin => self.alice.clone(),
            Col::Writer => self.writer.clone(),
            Col::Reader => self.reader.clone(),
            Col::NonMember => self.stranger.clone(),
            Col::ScopedElsewhere => self.scoped.clone(),
            Col::ReadOnly => self.writer_ro.clone(),
            Col::Link => self.token.clone(),
        }
    }

    /// Makes what a destructive cell needs; answers the `{link}` id when it made a link.
    fn prepare(&self, needs: Needs, ns: &str) -> String {
        match needs {
            Needs::Nothing => String::new(),
            Needs::File => {
                self.make_file(ns);
                String::new()
            }
            Needs::ALink => {
                let link = call(
                    &self.server,
                    &self.alice,
                    "POST",
                    "/api/v1/shares",
                    Some(json!({"name": F, "namespace": ns})),
                );
                link["share"]["id"].as_str().expect("id").to_string()
            }
            Needs::NoRepo => {
                let mut t = self.server.target(&self.alice);
                t.namespace = Some(ns.to_string());
                let _ = fedml_client::delete_with("datasets/hub-made", None, &t);
                String::new()
            }
            Needs::ARepo => {
                let body = json!({"name": "hub-gone", "organization": ns}).to_string().into_bytes();
                let a =
                    send("POST", &format!("{}/api/repos/create", self.server.url), &bearer(&self.alice), Some(body));
                assert!(a.status == 200 || a.status == 409, "{}", a.text());
                String::new()
            }
            Needs::Victim => {
                if ns == ORG {
                    call(
                        &self.server,
                        &self.alice,
                        "PUT",
                        &format!("/api/v1/orgs/{ORG}/members/victim"),
                        Some(json!({"role": "reader"})),
                    );
                }
                String::new()
            }
        }
    }
}

#[test]
fn every_namespace_route_answers_each_role_as_its_rights_say() {
    let team = Team::new();
    let mut problems = Vec::new();
    let mut cells = 0;
    // The share link: its bytes to anyone, whatever key comes with it, a range too; nothing
    // through the API (the Link column below). Read before the rows that delete the file.
    for col in COLS {
        let url = format!("{}/s/{}", team.server.url, team.token);
        let a = send("GET", &url, &bearer(&team.key(col)), None);
        if a.status != 200 || a.body != team.file {
            problems.push(format!("GET the link with {col:?}'s key: HTTP {} ({} bytes)", a.status, a.body.len()));
        }
        cells += 1;
    }
    for row in ROWS {
        for (col, expect) in COLS.iter().zip(row.expect) {
            let ns = if *col == Col::Owner { "alice" } else { ORG };
            let link = team.prepare(row.needs, ns);
            let path = row.path.replace("{ns}", ns).replace("{link}", &link);
            let body = row.body.map(|b| b.replace("{ns}", ns).into_bytes());
            let mut headers = bearer(&team.key(*col));
            if body.is_some() {
                headers = json_headers(headers);
            }
            let a = send(row.method, &format!("{}{path}", team.server.url), &headers, body);
            cells += 1;
            let v = a.json();
            let label = format!("{} {path} as {col:?}", row.method);
            if row.hub {
                let refused_well = |status| a.status == status && (row.method == "HEAD" || v["error"].is_string());
                match expect {
                    Ok if a.status != 200 || !v["error"].is_null() => {
                        problems.push(format!("{label}: expected the Hub's answer, got HTTP {} {}", a.status, a.text()))
                    }
                    No(status) if !refused_well(status) => problems.push(format!(
                        "{label}: expected a Hub refusal with HTTP {status}, got HTTP {} {}",
                        a.status,
                        a.text()
                    )),
                    No(_) if contains(&a.body, &team.file[..64]) || a.text().contains(&team.token) => {
                        problems.push(format!("{label}: a refusal carries the team's bytes or link"))
                    }
                    _ => {}
                }
                continue;
            }
            match expect {
                Ok if a.status != 200 || v["code"] != "SUCCESS" => {
                    problems.push(format!("{label}: expected SUCCESS, got HTTP {} {}", a.status, a.text()))
                }
                No(status) if a.status != status || v["code"] != "FAILURE" || !v["data"].is_null() => problems.push(
                    format!("{label}: expected a FAILURE with HTTP {status}, got HTTP {} {}", a.status, a.text()),
                ),
                No(_) if contains(&a.body, &team.file[..64]) || a.text().contains(&team.token) => {
                    problems.push(format!("{label}: a refusal carries the team's bytes or link"))
                }
                _ => {}
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(cells, ROWS.len() * COLS.len() + COLS.len());
    println!("role matrix: {} routes x {} callers = {cells} cells", ROWS.len(), COLS.len());

    // The rows that deleted the file (and made it again under the same name) ended its link.
    let a = send("GET", &format!("{}/s/{}", team.server.url, team.token), &[], None);
    assert_eq!(a.status, 404, "a link outlived its object: {}", a.text());

    // The reader's and the stranger's requests changed nothing: the organisation's file is
    // there, with its versions, as the last cell left it.
    let mut t = team.server.target(&team.reader);
    t.namespace = Some(ORG.to_string());
    let work = tempfile::tempdir().expect("tmp");
    let r = fedml_client::download_with(D, &download_opts(t, work.path()));
    assert!(r.is_success(), "{}", r.message);
    assert_same_tree(&team.tree, &work.path().join(D));
}

/// A member removed on one instance is refused at once by another over the same catalogue (no
/// instance keeps memberships), and the server administrator sees and manages every
/// organisation without being a member.
#[test]
fn a_removal_ends_access_on_every_instance_and_the_server_admin_manages_every_organisation() {
    let a = TestServer::start();
    let b = TestServer::start_sharing(&a);
    let alice = a.new_user("alice");
    let rita = a.new_user("rita");
    call(&a, &alice, "POST", "/api/v1/orgs", Some(json!({"name": "far-team"})));
    call(&a, &alice, "PUT", "/api/v1/orgs/far-team/members/rita", Some(json!({"role": "reader"})));
    let list = |server: &TestServer| {
        send("GET", &format!("{}/api/v1/objects?namespace=far-team", server.url), &bearer(&rita), None).status
    };
    assert_eq!((list(&a), list(&b)), (200, 200));
    call(&a, &alice, "DELETE", "/api/v1/orgs/far-team/members/rita", None);
    assert_eq!((list(&b), list(&a)), (404, 404), "the removal holds on the other instance at once");

    // The first user is the server's administrator: every organisation is listed for it, and
    // it may manage one it does not belong to.
    let admin = &a.admin_key;
    let orgs = call(&b, admin, "GET", "/api/v1/orgs", None);
    let far = orgs.as_array().expect("orgs").iter().find(|o| o["name"] == "far-team").expect("listed");
    assert_eq!(far["role"], serde_json::Value::Null, "not a member: {far}");
    call(&b, admin, "PUT", "/api/v1/orgs/far-team/members/rita", Some(json!({"role": "writer"})));
    assert_eq!(list(&a), 200);
    let log = call(&a, admin, "GET", "/api/v1/log?namespace=far-team", None);
    let actions: Vec<&str> =
        log["entries"].as_array().expect("log").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["member-add", "member-remove", "member-add", "org-create"], "{log}");
    // Alice's own namespace stays hers alone.
    let own = send("GET", &format!("{}/api/v1/objects?namespace=alice", b.url), &bearer(admin), None);
    assert_eq!(own.status, 404, "{}", own.text());
}
