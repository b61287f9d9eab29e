//! The S3 API (`fedml server --s3-listen`) through a real S3 client: requests signed with SigV4
//! by `rusty-s3` (presigned, as every SigV4 client can sign them) and sent with reqwest.
//! Credentials come from `fedml storage s3-credentials`; buckets are namespaces, keys object
//! names and the files of directory objects. boto3, aws-cli, rclone, s3fs and DuckDB run against
//! the same server in tests/s3 (`scripts/s3-clients`).

use std::sync::OnceLock;

use crate::harness::*;

mod reads;

/// An S3 client with one access key.
#[derive(Clone)]
pub struct S3 {
    pub endpoint: url::Url,
    pub key: String,
    pub secret: String,
}

/// An answer: status, headers (names in lower case) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The S3 error code of an XML error answer.
    pub fn code(&self) -> Option<String> {
        xml_text(&String::from_utf8_lossy(&self.body), "Code")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an S3 refusal: this status and code, as XML.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code().as_deref()), (status, Some(code)), "{}", self.text());
    }
}

/// The text of the first `<tag>…</tag>` of an XML document.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

/// Every `<tag>…</tag>` text of an XML document, in order.
pub fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

/// `key`'s path segments percent-encoded as S3 clients send them.
pub fn encode_key(key: &str) -> String {
    key.split('/').map(fedml_proto::encode_path_segment).collect::<Vec<_>>().join("/")
}

impl S3 {
    /// The S3 credentials of `api_key`, as the SDK gives them.
    pub fn of(server: &TestServer, api_key: &str) -> S3 {
        let made = fedml_client::s3_credentials(&server.target(api_key));
        let made = made.data.unwrap_or_else(|| panic!("S3 credentials: {}", made.message));
        S3 {
            endpoint: made.endpoint_url.parse().expect("endpoint URL"),
            key: made.access_key_id,
            secret: made.secret_access_key,
        }
    }

    /// The same access key with another secret.
    pub fn with_secret(&self, secret: &str) -> S3 {
        S3 { secret: secret.to_string(), ..self.clone() }
    }

    /// A URL for `method` on `path` (`/BUCKET[/KEY]`, encoded) with `query`, signed at `at` to be
    /// valid `expires` seconds, the `headers` (lower-case names) signed with it.
    pub fn signed_at(
        &self,
        at: &jiff::Timestamp,
        expires: u64,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> url::Url {
        let method = match method {
            "GET" => rusty_s3::Method::Get,
            "HEAD" => rusty_s3::Method::Head,
            "PUT" => rusty_s3::Method::Put,
            "POST" => rusty_s3::Method::Post,
            "DELETE" => rusty_s3::Method::Delete,
            other => panic!("method {other}"),
        };
        let url = self.endpoint.join(path).expect("URL");
        let mut headers: Vec<(&str, &str)> = headers.to_vec();
        headers.sort();
        let mut query: Vec<(&str, &str)> = query.to_vec();
        query.sort();
        rusty_s3::signing::sign(
            at,
            method,
            url,
            &self.key,
            &self.secret,
            None,
            "us-east-1",
            expires,
            query.iter().copied(),
            headers.into_iter(),
        )
    }

    /// Sends `method` on `path` with `query`, `headers` (signed) and `body`, signed now.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let url = self.signed_at(&jiff::Timestamp::now(), 600, method, path, query, headers);
        send(method, url.as_str(), headers, body)
    }

    pub fn get(&self, bucket: &str, key: &str) -> Answer {
        self.send("GET", &format!("/{bucket}/{}", encode_key(key)), &[], &[], None)
    }

    pub fn head(&self, bucket: &str, key: &str) -> Answer {
        self.send("HEAD", &format!("/{bucket}/{}", encode_key(key)), &[], &[], None)
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) -> Answer {
        self.send("PUT", &format!("/{bucket}/{}", encode_key(key)), &[], &[], Some(body.to_vec()))
    }

    pub fn delete(&self, bucket: &str, key: &str) -> Answer {
        self.send("DELETE", &format!("/{bucket}/{}", encode_key(key)), &[], &[], None)
    }

    /// The keys of a bucket under `prefix` (one page).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let a = self.send("GET", &format!("/{bucket}"), &[("list-type", "2"), ("prefix", prefix)], &[], None);
        assert_eq!(a.status, 200, "{}", a.text());
        xml_all(&a.text(), "Key")
    }

    /// The names of the buckets the key may use.
    pub fn buckets(&self) -> Vec<String> {
        let a = self.send("GET", "/", &[], &[], None);
        assert_eq!(a.status, 200, "{}", a.text());
        xml_all(&a.text(), "Name")
    }
}

/// Sends a request as it is (no signing).
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Answer {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    let http = HTTP.get_or_init(|| fedml_client::client::http_client().expect("HTTP client"));
    fedml_client::block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = http.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = resp.bytes().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?.to_vec();
        Ok(Answer { status, headers, body })
    })
    .expect("an answer")
}

/// The quoted hex MD5 of `data`: the ETag of an object written in one PUT.
pub fn md5_etag(data: &[u8]) -> String {
    use md5::Digest as _;
    format!("\"{}\"", hex::encode(md5::Md5::digest(data)))
}

/// A user with a key and their S3 client.
pub fn user(server: &TestServer, name: &str) -> (String, S3) {
    let key = server.new_user(name);
    let s3 = S3::of(server, &key);
    (key, s3)
}

#[test]
fn credentials_from_the_cli_open_the_callers_buckets_only() {
    let server = TestServer::start();
    let (alice_key, _) = user(&server, "alice");
    let (_, bob) = user(&server, "bob");
    let org = fedml_client::org_create("team-s3", &server.target(&alice_key));
    assert!(org.is_success(), "{}", org.message);
    let config = tempfile::tempdir().expect("tmp");
    let alice_cli = As { key: alice_key.clone(), url: &server.url, config: config.path() };
    let made = alice_cli.json(["storage", "s3-credentials"]);
    assert_eq!(made["code"], "SUCCESS", "{made}");
    let data = &made["data"];
    let alice = S3 {
        endpoint: data["endpoint_url"].as_str().expect("endpoint").parse().expect("URL"),
        key: data["access_key_id"].as_str().expect("key").to_string(),
        secret: data["secret_access_key"].as_str().expect("secret").to_string(),
    };
    assert_eq!(data["region"], "us-east-1");
    assert_eq!(Some(alice.endpoint.as_str().trim_end_matches('/')), server.platform.s3_url());
    assert!(alice.key.starts_with("FMLK") && alice.key.len() == 20 && alice.secret.len() == 40, "{made}");
    // The table names the same key.
    let table = alice_cli.ok(["storage", "s3-credentials"]);
    assert!(table.contains(&alice.key) && table.contains(&alice.secret), "{table}");

    let mut buckets = alice.buckets();
    buckets.sort();
    assert_eq!(buckets, ["alice", "team-s3"]);
    assert_eq!(bob.buckets(), ["bob"]);

    // A round trip, seen by the native API as one object.
    let data = bytes(70_000, 3);
    let put = alice.put("team-s3", "shared/model.bin", &data);
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.header("etag"), Some(md5_etag(&data).as_str()));
    let got = alice.get("team-s3", "shared/model.bin");
    assert!(got.status == 200 && got.body == data, "{}", got.status);
    let mut target = server.target(&alice_key);
    target.namespace = Some("team-s3".into());
    let meta = fedml_client::get_storage_metadata_with("shared/model.bin", None, &target);
    assert_eq!(meta.data.map(|m| m.size), Some(70_000), "{}", meta.message);
    assert_eq!(alice.keys("team-s3", ""), ["shared/model.bin"]);
    let deleted = alice.delete("team-s3", "shared/model.bin");
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    alice.get("team-s3", "shared/model.bin").refused(404, "NoSuchKey");
    assert!(!fedml_client::get_storage_metadata_with("shared/model.bin", None, &target).is_success());

    // Bob's view of alice's buckets is that of buckets that do not exist.
    for bucket in ["alice", "team-s3"] {
        let theirs = bob.send("GET", &format!("/{bucket}"), &[("list-type", "2")], &[], None);
        let none = bob.send("GET", "/no-such-bucket", &[("list-type", "2")], &[], None);
        theirs.refused(404, "NoSuchBucket");
        none.refused(404, "NoSuchBucket");
        bob.head(bucket, "shared/model.bin").refused_status(404);
    }
}

impl Answer {
    /// A HEAD's refusal: the status only (a HEAD has no body).
    #[track_caller]
    pub fn refused_status(&self, status: u16) {
        assert_eq!(self.status, status, "{:?}", self.headers);
    }
}

/// `--s3-listen off` serves no S3 API and gives no credentials; an S3 address asked for that is
/// taken stops the start, saying so.
#[test]
fn the_s3_listener_is_the_operators_to_turn_off_or_place() {
    use crate::process::{ServerProcess, admin_key};
    let scratch = tempfile::tempdir().expect("tmp");
    let data = scratch.path().join("data");
    let log = scratch.path().join("server.log");
    let off = ServerProcess::start(
        &["--data-dir".into(), data.display().to_string(), "--s3-listen".into(), "off".into()],
        &log,
    );
    let made = fedml_client::s3_credentials(&off.target(&admin_key(&data)));
    assert!(!made.is_success() && made.message.contains("--s3-listen off"), "{}", made.message);
    drop(off);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("addr").port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch.path().join("other"))
        .args(["--s3-listen", &format!("127.0.0.1:{port}")])
        .env_remove("FEDML_S3_LISTEN")
        .output()
        .expect("run fedml server");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("cannot serve the S3 API on") && stderr.contains("--s3-listen"), "{stderr}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["server", "--listen", "127.0.0.1:0", "--s3-listen", "somewhere", "--data-dir"])
        .arg(scratch.path().join("third"))
        .output()
        .expect("run fedml server");
    assert!(text(&bad).1.contains("--s3-listen \"somewhere\""), "{:?}", text(&bad));
    drop(taken);
}

/// A PUT over the namespace's quota is refused before its body is kept: `QuotaExceeded`, 403,
/// with the quota's own message; what fits is stored.
#[test]
fn a_put_over_the_quota_is_quota_exceeded() {
    use fedml_platform::quota::{Limit, Quota};
    let quota = Quota { bytes: Limit::Max(10_000), objects: Limit::Unlimited };
    let server = TestServer::start_with_quota(fedml_platform::operations::Lifetimes::default(), quota);
    let (_, s3) = user(&server, "alice");
    assert_eq!(s3.put("alice", "fits.bin", &bytes(4000, 1)).status, 200);
    let over = s3.put("alice", "over.bin", &bytes(20_000, 2));
    over.refused(403, "QuotaExceeded");
    assert!(over.text().contains("quota"), "{}", over.text());
    assert_eq!(s3.keys("alice", ""), ["fits.bin"]);
}
