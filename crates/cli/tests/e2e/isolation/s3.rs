//! The S3 column of the isolation matrix: every S3 operation against each kind of caller but the
//! owner (another user, a read-only key, a revoked key, no signature, a wrong secret, a key
//! limited to another namespace, a reader of an organisation), each refused as S3 refuses it or
//! allowed to read only; and nothing of the owner's changed by any of it.

use crate::harness::*;
use crate::s3::{Answer, S3, md5_etag, send, user, xml_all};

/// What a cell must answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum E {
    /// Allowed: 2xx.
    Ok,
    /// 403 AccessDenied.
    Denied,
    /// 404 NoSuchBucket, as for a bucket that does not exist.
    NoBucket,
    /// 403 InvalidAccessKeyId.
    BadKey,
    /// 403 SignatureDoesNotMatch.
    BadSig,
    /// DeleteObjects: 200 with every key refused AccessDenied.
    PerKey,
}
use E::*;

/// The callers, in the columns' order.
const WHO: [&str; 7] = [
    "other user",
    "read-only key",
    "revoked key",
    "no signature",
    "wrong secret",
    "key limited elsewhere",
    "org reader",
];

/// One S3 operation: its name, method, path under the bucket (`{b}` the bucket, `{k}` a key that
/// exists), query, headers, body, and what each caller gets.
struct Op {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    expect: [E; 7],
}

const fn op(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    expect: [E; 7],
) -> Op {
    Op { name, method, path, query, expect }
}

#[rustfmt::skip]
const OPS: &[Op] = &[
    //  operation                 method    path              query                      other      read-only  revoked  unsigned  wrong secret  limited  reader
    op("ListObjectsV2",          "GET",    "/{b}",           &[("list-type", "2")],     [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("ListObjects",            "GET",    "/{b}",           &[],                       [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("ListObjectVersions",     "GET",    "/{b}",           &[("versions", "")],       [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("HeadBucket",             "HEAD",   "/{b}",           &[],                       [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("GetBucketLocation",      "GET",    "/{b}",           &[("location", "")],       [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("GetBucketVersioning",    "GET",    "/{b}",           &[("versioning", "")],     [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("GetObject",              "GET",    "/{b}/{k}",       &[],                       [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("HeadObject",             "HEAD",   "/{b}/{k}",       &[],                       [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("GetObject versionId",    "GET",    "/{b}/{k}",       &[("versionId", "1")],     [NoBucket, Ok,        BadKey,  Denied,   BadSig,       Denied,  Ok]),
    op("PutObject",              "PUT",    "/{b}/new.bin",   &[],                       [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
    op("PutObject over",         "PUT",    "/{b}/{k}",       &[],                       [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
    op("CopyObject",             "PUT",    "/{b}/copy.bin",  &[],                       [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
    op("DeleteObject",           "DELETE", "/{b}/{k}",       &[],                       [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
    op("DeleteObjects",          "POST",   "/{b}",           &[("delete", "")],         [NoBucket, PerKey,    BadKey,  Denied,   BadSig,       Denied,  PerKey]),
    op("CreateMultipartUpload",  "POST",   "/{b}/m.bin",     &[("uploads", "")],        [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
    op("ListMultipartUploads",   "GET",    "/{b}",           &[("uploads", "")],        [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
    op("DeleteBucket",           "DELETE", "/{b}",           &[],                       [NoBucket, Denied,    BadKey,  Denied,   BadSig,       Denied,  Denied]),
];

/// The request of `op` on `bucket` by `s3` (`None`: unsigned, to `endpoint`).
fn call(endpoint: &url::Url, s3: Option<&S3>, op: &Op, bucket: &str, key: &str) -> Answer {
    let path = op.path.replace("{b}", bucket).replace("{k}", key);
    let source = format!("/{bucket}/{key}");
    let delete = format!("<Delete><Object><Key>{key}</Key></Object></Delete>");
    let md5 = {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(delete.as_bytes()))
    };
    let (headers, body): (Vec<(&str, &str)>, Option<Vec<u8>>) = match op.name {
        "CopyObject" => (vec![("x-amz-copy-source", source.as_str())], None),
        "DeleteObjects" => (vec![("content-md5", md5.as_str())], Some(delete.clone().into_bytes())),
        "PutObject" | "PutObject over" => (vec![], Some(b"refused".to_vec())),
        _ => (vec![], None),
    };
    match s3 {
        Some(s3) => s3.send(op.method, &path, op.query, &headers, body),
        None => {
            let mut url = endpoint.join(&path).expect("URL");
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in op.query {
                    pairs.append_pair(k, v);
                }
            }
            if op.query.is_empty() {
                url.set_query(None);
            }
            send(op.method, url.as_str(), &headers, body)
        }
    }
}

/// Whether `answer` is what `expect` says.
fn holds(answer: &Answer, expect: E, head: bool) -> bool {
    let code = answer.code();
    let is = |status: u16, want: &str| answer.status == status && (head || code.as_deref() == Some(want));
    match expect {
        Ok => (200..300).contains(&answer.status),
        Denied => is(403, "AccessDenied"),
        NoBucket => is(404, "NoSuchBucket"),
        BadKey => is(403, "InvalidAccessKeyId"),
        BadSig => is(403, "SignatureDoesNotMatch"),
        PerKey => {
            let text = answer.text();
            answer.status == 200 && xml_all(&text, "Deleted").is_empty() && xml_all(&text, "Code") == ["AccessDenied"]
        }
    }
}

#[test]
fn every_s3_operation_refuses_every_caller_but_the_owner() {
    let server = TestServer::start();
    let (alice_key, alice) = user(&server, "alice");
    let (_, bob) = user(&server, "bob");
    let (_, rita) = user(&server, "rita");
    let target = server.target(&alice_key);
    assert!(fedml_client::org_create("lab", &target).is_success());
    let added = fedml_client::org_set_member("lab", "rita", fedml_client::Role::Reader, &target);
    assert!(added.is_success(), "{}", added.message);
    let read_only = S3::of(&server, &server.new_key("alice", true));
    let limited_key = fedml_client::create_key("elsewhere", false, Some(vec!["lab".into()]), &target);
    let limited = S3::of(&server, &limited_key.data.expect("a limited key").api_key);
    let revoked_key = server.new_key("alice", false);
    let revoked = S3::of(&server, &revoked_key);
    server.revoke(&revoked_key);
    let wrong = alice.with_secret(&"0".repeat(40));
    let endpoint = alice.endpoint.clone();

    let mine = bytes(4000, 1);
    let theirs = bytes(3000, 2);
    assert_eq!(alice.put("alice", "a.bin", &mine).status, 200);
    assert_eq!(alice.put("lab", "x.bin", &theirs).status, 200);

    // Which bucket and key each caller tries: alice's own namespace, or the organisation for its reader.
    let callers: [(Option<&S3>, &str, &str); 7] = [
        (Some(&bob), "alice", "a.bin"),
        (Some(&read_only), "alice", "a.bin"),
        (Some(&revoked), "alice", "a.bin"),
        (None, "alice", "a.bin"),
        (Some(&wrong), "alice", "a.bin"),
        (Some(&limited), "alice", "a.bin"),
        (Some(&rita), "lab", "x.bin"),
    ];
    let mut problems = Vec::new();
    for op in OPS {
        for (i, (s3, bucket, key)) in callers.iter().enumerate() {
            let answer = call(&endpoint, *s3, op, bucket, key);
            let expect = op.expect[i];
            if !holds(&answer, expect, op.method == "HEAD") {
                problems.push(format!(
                    "{} by {}: expected {expect:?}, got {} {}",
                    op.name,
                    WHO[i],
                    answer.status,
                    answer.text()
                ));
            }
            // Another user's bucket reads exactly as one that does not exist.
            if expect == NoBucket && op.method != "HEAD" {
                let none = call(&endpoint, *s3, op, "no-such-namespace", key);
                if none.status != answer.status || none.code() != answer.code() {
                    problems.push(format!("{} by {}: tells alice's bucket from none", op.name, WHO[i]));
                }
            }
        }
        // Bob's view of the organisation he is no member of is as of alice's own.
        let answer = call(&endpoint, Some(&bob), op, "lab", "x.bin");
        if !holds(&answer, NoBucket, op.method == "HEAD") {
            problems.push(format!("{} by bob on lab: {} {}", op.name, answer.status, answer.text()));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));

    // Each caller lists the buckets it may use, and no other.
    assert_eq!(bob.buckets(), ["bob"]);
    assert_eq!(read_only.buckets(), ["alice", "lab"]);
    assert_eq!(limited.buckets(), ["lab"]);
    assert_eq!(rita.buckets(), ["rita", "lab"]);
    for refused in [&revoked, &wrong] {
        assert!(refused.send("GET", "/", &[], &[], None).status == 403);
    }
    // Nothing of alice's changed.
    let a = alice.get("alice", "a.bin");
    assert!(a.status == 200 && a.body == mine && a.header("etag") == Some(md5_etag(&mine).as_str()));
    assert!(alice.get("lab", "x.bin").body == theirs);
    assert_eq!(alice.keys("alice", ""), ["a.bin"]);
    assert_eq!(alice.keys("lab", ""), ["x.bin"]);
    let uploads = alice.send("GET", "/lab", &[("uploads", "")], &[], None);
    assert!(xml_all(&uploads.text(), "UploadId").is_empty(), "{}", uploads.text());
}
