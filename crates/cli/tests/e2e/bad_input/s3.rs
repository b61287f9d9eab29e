//! Bad S3 requests: malformed or wrong signatures, bodies that are not what they say (MD5,
//! checksums, payload hash), ranges, XML, names, tokens. Each is an S3 error as XML with a 4xx
//! status (never a 500), nothing of it is stored, and the server keeps serving.

use crate::harness::*;
use crate::s3::{Answer, S3, encode_key, send, user};

/// A refusal: 4xx, an S3 error document with a code and a message.
#[track_caller]
fn refused(label: &str, a: &Answer, code: &str) {
    assert!((400..500).contains(&a.status), "{label}: HTTP {} {}", a.status, a.text());
    assert_eq!(a.code().as_deref(), Some(code), "{label}: {}", a.text());
    assert!(a.text().contains("<Message>"), "{label}: no message: {}", a.text());
}

fn base64_md5(data: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

fn crc32_of(data: &[u8]) -> String {
    // CRC-32 (IEEE), big-endian, base64: what x-amz-checksum-crc32 carries.
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode((!crc).to_be_bytes())
}

#[test]
fn every_bad_s3_request_is_an_s3_error_and_stores_nothing() {
    let server = TestServer::start();
    let (_, s3) = user(&server, "alice");
    let data = bytes(5000, 4);
    assert_eq!(s3.put("alice", "kept.bin", &data).status, 200);
    let endpoint = s3.endpoint.clone();
    let at = |path: &str| endpoint.join(path).expect("URL").to_string();

    // Signatures: malformed headers, a wrong secret, an unknown key, an expired or future URL,
    // Signature Version 2.
    let listing = at("/alice?list-type=2");
    for (label, authorization) in [
        ("garbage", "garbage"),
        ("SigV4 without fields", "AWS4-HMAC-SHA256"),
        ("SigV4 with a broken credential", "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00"),
    ] {
        let a = send(
            "GET",
            &listing,
            &[
                ("authorization", authorization),
                ("x-amz-date", "20260101T000000Z"),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ],
            None,
        );
        assert!((400..500).contains(&a.status) && a.code().is_some(), "{label}: {} {}", a.status, a.text());
    }
    refused(
        "SigV2 header",
        &send(
            "GET",
            &listing,
            &[("authorization", "AWS FMLK0000000000000000:c2lnbmF0dXJl"), ("date", "Mon, 01 Jan 2024 00:00:00 GMT")],
            None,
        ),
        "InvalidAccessKeyId",
    );
    let (_, bob) = user(&server, "bob");
    let v2 = send(
        "GET",
        &listing,
        &[("authorization", &format!("AWS {}:c2lnbmF0dXJl", bob.key)), ("date", "Mon, 01 Jan 2024 00:00:00 GMT")],
        None,
    );
    assert_eq!(v2.status, 403, "{}", v2.text());
    refused(
        "wrong secret",
        &s3.with_secret(&"1".repeat(40)).send("GET", "/alice", &[("list-type", "2")], &[], None),
        "SignatureDoesNotMatch",
    );
    let unknown = S3 { key: "FMLK0000000000000000".into(), ..s3.clone() };
    refused("unknown key", &unknown.send("GET", "/alice", &[("list-type", "2")], &[], None), "InvalidAccessKeyId");
    let not_ours = S3 { key: "AKIAIOSFODNN7EXAMPLE".into(), ..s3.clone() };
    refused(
        "another service's key",
        &not_ours.send("GET", "/alice", &[("list-type", "2")], &[], None),
        "InvalidAccessKeyId",
    );
    let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
    let expired = s3.signed_at(&hour_ago, 60, "GET", "/alice/kept.bin", &[], &[]);
    let a = send("GET", expired.as_str(), &[], None);
    refused("expired URL", &a, "AccessDenied");
    assert!(a.text().contains("expired"), "{}", a.text());
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(86_400);
    refused(
        "a URL dated tomorrow",
        &send("GET", s3.signed_at(&tomorrow, 60, "GET", "/alice/kept.bin", &[], &[]).as_str(), &[], None),
        "RequestTimeTooSkewed",
    );
    let signed = s3.signed_at(&jiff::Timestamp::now(), 600, "GET", "/alice/kept.bin", &[], &[]);
    let tampered = signed.as_str().replace("kept.bin", "kepT.bin");
    refused("a URL for another key", &send("GET", &tampered, &[], None), "SignatureDoesNotMatch");
    refused("a GET URL used to PUT", &send("PUT", signed.as_str(), &[], Some(b"x".to_vec())), "SignatureDoesNotMatch");
    refused("unsigned", &send("GET", &listing, &[], None), "AccessDenied");

    // Bodies that are not what they say: nothing is kept.
    let body = b"what was sent".to_vec();
    let put = |key: &str, headers: &[(&str, &str)], body: &[u8]| {
        s3.send("PUT", &format!("/alice/{}", encode_key(key)), &[], headers, Some(body.to_vec()))
    };
    refused(
        "wrong Content-MD5",
        &put("bad/md5.bin", &[("content-md5", &base64_md5(b"something else"))], &body),
        "BadDigest",
    );
    refused("malformed Content-MD5", &put("bad/md5b.bin", &[("content-md5", "not base64!")], &body), "InvalidDigest");
    refused("wrong CRC32", &put("bad/crc.bin", &[("x-amz-checksum-crc32", &crc32_of(b"other"))], &body), "BadDigest");
    let sha = "0".repeat(64);
    refused(
        "wrong payload SHA-256",
        &put("bad/sha.bin", &[("x-amz-content-sha256", &sha)], &body),
        "XAmzContentSHA256Mismatch",
    );
    let right =
        put("bad/right.bin", &[("content-md5", &base64_md5(&body)), ("x-amz-checksum-crc32", &crc32_of(&body))], &body);
    assert_eq!(right.status, 200, "the same body with the right digests is stored: {}", right.text());
    assert_eq!(right.header("x-amz-checksum-crc32"), Some(crc32_of(&body).as_str()));
    assert_eq!(s3.keys("alice", "bad/"), ["bad/right.bin"], "nothing of the refused bodies was kept");

    // Names S3 takes but no object may have.
    // (Dot segments are resolved by the client's URL before they are sent.)
    for key in ["a//b.bin", "nul\u{1}byte.bin", "back\\slash.bin", "/leading.bin"] {
        let a = put(key, &[], b"x");
        assert!((400..500).contains(&a.status) && a.code().is_some(), "{key:?}: {} {}", a.status, a.text());
    }
    let long = "k".repeat(1025);
    let a = put(&long, &[], b"x");
    assert!((400..500).contains(&a.status) && a.code().is_some(), "a 1,025-byte key: {} {}", a.status, a.text());

    // Ranges, versions, listings' parameters.
    let get_with =
        |headers: &[(&str, &str)], query: &[(&str, &str)]| s3.send("GET", "/alice/kept.bin", query, headers, None);
    refused("a range past the end", &get_with(&[("range", "bytes=5000-")], &[]), "InvalidRange");
    for range in ["bytes=abc", "bytes=10-5", "lines=1-2", "bytes=--1"] {
        let a = get_with(&[("range", range)], &[]);
        assert!(
            a.status == 200 || ((400..500).contains(&a.status) && a.code().is_some()),
            "{range}: {} {}",
            a.status,
            a.text()
        );
    }
    refused("a version that is no number", &get_with(&[], &[("versionId", "v1")]), "InvalidArgument");
    refused("version 0", &get_with(&[], &[("versionId", "0")]), "InvalidArgument");
    refused("part and range", &get_with(&[("range", "bytes=0-1")], &[("partNumber", "1")]), "InvalidRequest");
    let list = |query: &[(&str, &str)]| s3.send("GET", "/alice", query, &[], None);
    refused(
        "a continuation token no listing gave",
        &list(&[("list-type", "2"), ("continuation-token", "!!!")]),
        "InvalidArgument",
    );
    refused("negative max-keys", &list(&[("list-type", "2"), ("max-keys", "-1")]), "InvalidArgument");
    refused("an unknown encoding", &list(&[("list-type", "2"), ("encoding-type", "base64")]), "InvalidArgument");

    // XML that is not what the operation reads.
    let post = |query: &[(&str, &str)], xml: &str| {
        s3.send("POST", "/alice", query, &[("content-md5", &base64_md5(xml.as_bytes()))], Some(xml.as_bytes().to_vec()))
    };
    refused("DeleteObjects: not XML", &post(&[("delete", "")], "<<<"), "MalformedXML");
    refused("DeleteObjects: another document", &post(&[("delete", "")], "<Other/>"), "MalformedXML");
    let many: String = (0..1001).map(|i| format!("<Object><Key>k{i}</Key></Object>")).collect();
    refused("DeleteObjects: 1,001 keys", &post(&[("delete", "")], &format!("<Delete>{many}</Delete>")), "MalformedXML");
    let upload = s3.send("POST", "/alice/mp.bin", &[("uploads", "")], &[], None);
    let upload_id = crate::s3::xml_text(&upload.text(), "UploadId").expect("an upload id");
    let complete = |xml: &str| {
        s3.send("POST", "/alice/mp.bin", &[("uploadId", upload_id.as_str())], &[], Some(xml.as_bytes().to_vec()))
    };
    refused("complete: not XML", &complete("not xml"), "MalformedXML");
    refused("complete: no parts", &complete("<CompleteMultipartUpload></CompleteMultipartUpload>"), "InvalidRequest");
    refused(
        "complete: a part never sent",
        &complete(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"00\"</ETag></Part></CompleteMultipartUpload>",
        ),
        "InvalidPart",
    );
    refused(
        "a part number past 10,000",
        &s3.send(
            "PUT",
            "/alice/mp.bin",
            &[("partNumber", "10001"), ("uploadId", upload_id.as_str())],
            &[],
            Some(b"x".to_vec()),
        ),
        "InvalidArgument",
    );
    refused(
        "an unknown upload",
        &s3.send("PUT", "/alice/mp.bin", &[("partNumber", "1"), ("uploadId", "0000")], &[], Some(b"x".to_vec())),
        "NoSuchUpload",
    );
    let too_big = "<Delete>".to_string() + &" ".repeat(9 << 20) + "</Delete>";
    let a = post(&[("delete", "")], &too_big);
    assert!((400..500).contains(&a.status) && a.code().is_some(), "9 MiB of XML: {} {}", a.status, a.text());

    // Buckets S3 would not name, and one's own namespace, are refused.
    for bucket in ["UPPER", "ab", "under_score"] {
        refused(bucket, &s3.send("PUT", &format!("/{bucket}"), &[], &[], None), "InvalidBucketName");
    }
    refused("delete one's own namespace", &s3.send("DELETE", "/alice", &[], &[], None), "AccessDenied");
    refused("create one's own namespace", &s3.send("PUT", "/alice", &[], &[], None), "BucketAlreadyOwnedByYou");

    // What was there is there, and the server still serves.
    let kept = s3.get("alice", "kept.bin");
    assert!(kept.status == 200 && kept.body == data);
    let mut keys = s3.keys("alice", "");
    keys.sort();
    assert_eq!(keys, ["bad/right.bin", "kept.bin"]);
}
