//! Byte ranges on a real signed download URL (RFC 9110 §14.2, §13.1.5): a valid range is served
//! with 206, an invalid `Range` header is ignored (200, the whole blob), an unsatisfiable one is
//! 416 with `Content-Range: bytes */len`, and `If-Range` honours the range only for the blob's
//! current ETag.

use fedml_client::client::Client;

use crate::harness::*;

struct Answer {
    status: u16,
    body: Vec<u8>,
    content_range: Option<String>,
    etag: Option<String>,
}

fn get(client: &Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    fedml_client::block_on(async {
        let mut req = client.http().get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (status, content_range, etag) = (resp.status().as_u16(), header("content-range"), header("etag"));
        let body = resp.bytes().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?.to_vec();
        Ok(Answer { status, body, content_range, etag })
    })
    .expect("GET the signed URL")
}

#[test]
fn ranges_on_the_signed_download_url() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let data = bytes(1000, 11);
    let file = work.path().join("blob.bin");
    std::fs::write(&file, &data).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "ranged")).is_success());
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let url = fedml_client::block_on(client.download_ticket(fedml_client::client::ObjectRef::latest("ranged")))
        .expect("download URL")
        .url;

    let whole = get(&client, &url, &[]);
    assert_eq!((whole.status, whole.body.len()), (200, 1000));
    assert!(whole.body == data);
    let etag = if server.backend.lacks("ETag on reads") {
        String::new()
    } else {
        whole.etag.clone().expect("the blob URL answers an ETag")
    };

    // A valid range: 206 and exactly those bytes.
    let a = get(&client, &url, &[("range", "bytes=100-199")]);
    assert_eq!(a.status, 206);
    assert!(a.body == data[100..200]);
    assert_eq!(a.content_range.as_deref(), Some("bytes 100-199/1000"));
    if !server.backend.lacks("suffix byte ranges") {
        let a = get(&client, &url, &[("range", "bytes=-10")]);
        assert_eq!((a.status, a.content_range.as_deref()), (206, Some("bytes 990-999/1000")));
        assert!(a.body == data[990..]);
    }
    let a = get(&client, &url, &[("range", "bytes=995-")]);
    assert_eq!((a.status, a.content_range.as_deref()), (206, Some("bytes 995-999/1000")));

    if let Backend::PostgresS3 { .. } | Backend::Cloud(_) = server.backend {
        // The S3 store (and a cloud's) answers ranges itself; the rest is about the local
        // store's URL.
        return;
    }

    // Not a valid range: ignored, the whole blob.
    for ignored in ["bytes=abc", "bytes=5-3", "bytes=1-2-3", "items=0-1", "bytes=0 - 1", "bytes=0-1,2-3"] {
        let a = get(&client, &url, &[("range", ignored)]);
        assert_eq!(a.status, 200, "{ignored:?}");
        assert!(a.body == data, "{ignored:?}: not the whole blob");
        assert_eq!(a.content_range, None, "{ignored:?}");
    }
    // Valid and unsatisfiable: 416 with the length.
    for unsatisfiable in ["bytes=999999-", "bytes=1000-", "bytes=-0", "bytes=5000-6000, 7000-"] {
        let a = get(&client, &url, &[("range", unsatisfiable)]);
        assert_eq!(a.status, 416, "{unsatisfiable:?}");
        assert_eq!(a.content_range.as_deref(), Some("bytes */1000"), "{unsatisfiable:?}");
    }

    // If-Range with the current ETag honours the range; a stale one, a weak one or a date gives
    // the whole blob (even where the range could not be satisfied).
    let a = get(&client, &url, &[("range", "bytes=0-9"), ("if-range", &etag)]);
    assert_eq!((a.status, a.body.len()), (206, 10));
    assert!(a.body == data[..10]);
    for stale in ["\"0123456789abcdef\"", &format!("W/{etag}"), "Tue, 01 Dec 2026 06:00:00 GMT"] {
        let a = get(&client, &url, &[("range", "bytes=0-9"), ("if-range", stale)]);
        assert_eq!(a.status, 200, "If-Range {stale:?}");
        assert!(a.body == data, "If-Range {stale:?}: not the whole blob");
    }
    let a = get(&client, &url, &[("range", "bytes=999999-"), ("if-range", "\"stale\"")]);
    assert_eq!((a.status, a.body.len()), (200, 1000));

    // An overwrite makes a new blob under a new URL and a new ETag: the old ETag is stale there.
    std::fs::write(&file, bytes(1000, 12)).expect("write");
    let mut o = upload_opts(server.admin(), "ranged");
    o.overwrite = true;
    assert!(fedml_client::upload_with(&file, &o).is_success());
    let new_url = fedml_client::block_on(client.download_ticket(fedml_client::client::ObjectRef::latest("ranged")))
        .expect("download URL")
        .url;
    let a = get(&client, &new_url, &[("range", "bytes=0-9"), ("if-range", &etag)]);
    assert_eq!((a.status, a.body.len()), (200, 1000), "the old ETag no longer matches");
    assert!(a.etag.is_some_and(|e| e != etag));

    // The SDK's own ranged download still works.
    let dest = work.path().join("dl");
    let r = fedml_client::download_with("ranged", &download_opts(server.admin(), &dest));
    assert!(r.is_success(), "{r:?}");
    assert!(std::fs::read(dest.join("ranged")).expect("read") == bytes(1000, 12));
}
