//! Reading through S3: ranges (single and suffix), conditions, `response-*` overrides, versions
//! by `versionId`, and the files of a directory object as keys under its name (read in place,
//! read-only).

use super::*;

#[test]
fn ranges_conditions_and_versions() {
    let server = TestServer::start();
    let (_, s3) = user(&server, "alice");
    let first = bytes(1000, 7);
    assert_eq!(s3.put("alice", "data/r.bin", &first).status, 200);
    let path = "/alice/data/r.bin";
    let head = s3.head("alice", "data/r.bin");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1000"));
    let etag = head.header("etag").expect("an ETag").to_string();
    assert_eq!(etag, md5_etag(&first));
    let modified = head.header("last-modified").expect("Last-Modified").to_string();

    let ranged = |range: &str| s3.send("GET", path, &[], &[("range", range)], None);
    let a = ranged("bytes=100-199");
    assert_eq!((a.status, a.header("content-range")), (206, Some("bytes 100-199/1000")));
    assert!(a.body == first[100..200]);
    let a = ranged("bytes=-10");
    assert_eq!((a.status, a.header("content-range")), (206, Some("bytes 990-999/1000")));
    assert!(a.body == first[990..]);
    let a = ranged("bytes=990-");
    assert!(a.status == 206 && a.body == first[990..]);
    ranged("bytes=1000-").refused(416, "InvalidRange");
    let h = s3.send("HEAD", path, &[], &[("range", "bytes=0-9")], None);
    assert_eq!((h.status, h.header("content-length")), (206, Some("10")));

    // Conditions, in RFC 9110's order.
    let when = |headers: &[(&str, &str)]| s3.send("GET", path, &[], headers, None);
    assert_eq!(when(&[("if-match", &etag)]).status, 200);
    when(&[("if-match", "\"0123\"")]).refused(412, "PreconditionFailed");
    assert_eq!(when(&[("if-none-match", &etag)]).status, 304);
    assert_eq!(when(&[("if-none-match", "\"0123\"")]).status, 200);
    assert_eq!(when(&[("if-modified-since", &modified)]).status, 304);
    assert_eq!(when(&[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]).status, 200);
    assert_eq!(when(&[("if-unmodified-since", &modified)]).status, 200);
    when(&[("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]).refused(412, "PreconditionFailed");
    // If-Match decides over If-Unmodified-Since, If-None-Match over If-Modified-Since.
    assert_eq!(when(&[("if-match", &etag), ("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]).status, 200);
    assert_eq!(when(&[("if-none-match", "\"0123\""), ("if-modified-since", &modified)]).status, 200);
    assert_eq!(s3.send("HEAD", path, &[], &[("if-none-match", &etag)], None).status, 304);

    // response-* overrides what the answer says of the body.
    let a = s3.send(
        "GET",
        path,
        &[("response-content-type", "text/x-test"), ("response-content-disposition", "attachment; filename=\"r.bin\"")],
        &[],
        None,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/x-test"));
    assert_eq!(a.header("content-disposition"), Some("attachment; filename=\"r.bin\""));

    // A second version; the first read back by its versionId.
    let second = bytes(500, 8);
    let put = s3.put("alice", "data/r.bin", &second);
    assert_eq!((put.status, put.header("x-amz-version-id")), (200, Some("2")));
    assert!(s3.get("alice", "data/r.bin").body == second);
    let v1 = s3.send("GET", path, &[("versionId", "1")], &[], None);
    assert!(v1.status == 200 && v1.body == first && v1.header("x-amz-version-id") == Some("1"));
    assert_eq!(v1.header("etag"), Some(etag.as_str()));
    s3.send("GET", path, &[("versionId", "9")], &[], None).refused(404, "NoSuchVersion");
    s3.send("GET", path, &[("versionId", "zero")], &[], None).refused(400, "InvalidArgument");
    let versions = s3.send("GET", "/alice", &[("versions", ""), ("prefix", "data/")], &[], None);
    assert_eq!(versions.status, 200, "{}", versions.text());
    assert_eq!(xml_all(&versions.text(), "VersionId"), ["2", "1"]);
    assert_eq!(xml_all(&versions.text(), "IsLatest"), ["true", "false"]);
    // Versioning is on, as the bucket says.
    let status = s3.send("GET", "/alice", &[("versioning", "")], &[], None);
    assert_eq!(xml_text(&status.text(), "Status").as_deref(), Some("Enabled"), "{}", status.text());
    // A missing key, and a key in a missing bucket.
    s3.get("alice", "data/none.bin").refused(404, "NoSuchKey");
    s3.get("nobody-here", "data/r.bin").refused(404, "NoSuchBucket");
}

#[test]
fn a_directory_objects_files_are_read_only_keys() {
    let server = TestServer::start();
    let (key, s3) = user(&server, "alice");
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("ds");
    std::fs::create_dir_all(dir.join("train")).expect("dirs");
    let part = bytes(300_000, 5);
    std::fs::write(dir.join("train/part-0001.bin"), &part).expect("write");
    std::fs::write(dir.join("README.md"), b"# a dataset\n").expect("write");
    let up = fedml_client::upload_with(&dir, &upload_opts(server.target(&key), "ds"));
    assert!(up.is_success(), "{}", up.message);

    // Listed under the directory object's name, whole or as its prefix.
    assert_eq!(s3.keys("alice", ""), ["ds/README.md", "ds/train/part-0001.bin"]);
    let top = s3.send("GET", "/alice", &[("list-type", "2"), ("delimiter", "/")], &[], None);
    assert_eq!(xml_all(&top.text(), "Prefix"), ["", "ds/"], "{}", top.text());
    // Read in place, ranges too.
    let got = s3.get("alice", "ds/train/part-0001.bin");
    assert!(got.status == 200 && got.body == part, "{}", got.status);
    let a = s3.send("GET", "/alice/ds/train/part-0001.bin", &[], &[("range", "bytes=1000-1999")], None);
    assert!(a.status == 206 && a.body == part[1000..2000]);
    let head = s3.head("alice", "ds/README.md");
    assert_eq!((head.status, head.header("content-length")), (200, Some("12")));
    let listed = s3.send("GET", "/alice", &[("list-type", "2"), ("prefix", "ds/README")], &[], None);
    let listed_etag = xml_text(&listed.text(), "ETag").map(|e| e.replace("&quot;", "\""));
    assert_eq!(listed_etag.as_deref(), head.header("etag"), "a listing and a HEAD give one ETag");
    // The directory object itself is no key; a folder of it neither.
    s3.get("alice", "ds").refused(404, "NoSuchKey");
    s3.get("alice", "ds/train").refused(404, "NoSuchKey");
    s3.get("alice", "ds/train/none.bin").refused(404, "NoSuchKey");
    // Read-only: no write or delete inside it, and it stays as it was.
    s3.put("alice", "ds/new.txt", b"x").refused(403, "AccessDenied");
    s3.put("alice", "ds/README.md", b"x").refused(403, "AccessDenied");
    s3.delete("alice", "ds/README.md").refused(403, "AccessDenied");
    assert_eq!(s3.keys("alice", ""), ["ds/README.md", "ds/train/part-0001.bin"]);
    assert!(s3.get("alice", "ds/README.md").body == b"# a dataset\n");
}
