//! The Hugging Face Hub API driven as `huggingface_hub` drives it (the requests of its
//! `create_repo`, `preupload`, LFS batch and PUT, NDJSON `create_commit`, `model_info`,
//! `list_repo_tree`, `get_paths_info`, `list_repo_commits`, `hf_hub_download`'s HEAD and ranged
//! GETs), over a real server: a repository is a directory object, a commit a version; errors
//! carry the `X-Error-Code` the clients act on; roles and scoped keys hold on every route. The
//! real Python clients are run by `tests/hub`.

use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use crate::harness::*;

/// Who may do what: readers read, writers commit, strangers see nothing, scoped keys stay home.
mod access;
/// Every route of a repository's life, as the client calls them.
mod round_trip;

pub(crate) struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// A Hub refusal: this status, `{"error": …}`, and this `X-Error-Code` (or none).
    #[track_caller]
    pub fn refused(&self, status: u16, code: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(self.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "no error: {}", self.text());
        assert_eq!(self.header("x-error-code").as_deref(), code, "{}", self.text());
    }
}

/// A client of the Hub API with one key.
pub(crate) struct Hub<'a> {
    pub server: &'a TestServer,
    pub key: Option<String>,
}

impl<'a> Hub<'a> {
    pub fn new(server: &'a TestServer, key: &str) -> Hub<'a> {
        Hub { server, key: Some(key.to_string()) }
    }

    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Answer {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.server.url) };
        let key = self.key.clone();
        fedml_client::block_on(async move {
            let http = fedml_client::client::http_client()?;
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = http.request(method, url);
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(body) = body {
                req = req.body(body);
            }
            let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Ok(Answer { status, headers, body })
        })
        .expect("request sent")
    }

    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None)
    }

    pub fn json(&self, method: &str, path: &str, body: &Value) -> Answer {
        self.send(method, path, &[("content-type", "application/json")], Some(body.to_string().into_bytes()))
    }

    /// `create_repo`: `id` is `ns/name`.
    pub fn create(&self, kind: &str, id: &str) -> Answer {
        let (ns, name) = id.split_once('/').expect("ns/name");
        self.json("POST", "/api/repos/create", &json!({"name": name, "organization": ns, "type": kind}))
    }

    /// The LFS batch for these objects; answers the batch's answer.
    pub fn batch(&self, prefix: &str, id: &str, objects: &[&[u8]]) -> Answer {
        let objects: Vec<Value> = objects.iter().map(|o| json!({"oid": sha256(o), "size": o.len()})).collect();
        let body = json!({"operation": "upload", "transfers": ["basic", "multipart"], "objects": objects,
                          "hash_algo": "sha256", "ref": {"name": "main"}});
        self.send(
            "POST",
            &format!("/{prefix}{id}.git/info/lfs/objects/batch"),
            &[("content-type", "application/vnd.git-lfs+json"), ("accept", "application/vnd.git-lfs+json")],
            Some(body.to_string().into_bytes()),
        )
    }

    /// Sends LFS objects as the client does: the batch, then a PUT (no key) to each href.
    #[track_caller]
    pub fn send_lfs(&self, prefix: &str, id: &str, objects: &[&[u8]]) {
        let a = self.batch(prefix, id, objects);
        assert_eq!(a.status, 200, "batch: {}", a.text());
        for (o, answered) in objects.iter().zip(a.json()["objects"].as_array().expect("objects")) {
            assert_eq!(answered["oid"], sha256(o));
            if let Some(href) = answered["actions"]["upload"]["href"].as_str() {
                assert!(answered["actions"]["upload"]["header"]["chunk_size"].is_null(), "basic transfer only");
                let put = Hub { server: self.server, key: None }.send("PUT", href, &[], Some(o.to_vec()));
                assert_eq!(put.status, 200, "PUT: {}", put.text());
            }
        }
    }

    /// A commit of these NDJSON operations to `main`.
    pub fn commit(&self, api: &str, id: &str, summary: &str, parent: Option<&str>, ops: &[Value]) -> Answer {
        let mut header = json!({"summary": summary, "description": ""});
        if let Some(parent) = parent {
            header["parentCommit"] = json!(parent);
        }
        let mut body = json!({"key": "header", "value": header}).to_string();
        for op in ops {
            body.push('\n');
            body.push_str(&op.to_string());
        }
        body.push('\n');
        self.send(
            "POST",
            &format!("/api/{api}/{id}/commit/main"),
            &[("content-type", "application/x-ndjson")],
            Some(body.into_bytes()),
        )
    }
}

pub(crate) fn sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// `hello\n` and its git blob id (`printf 'hello\n' | git hash-object --stdin`).
pub(crate) const HELLO: &[u8] = b"hello\n";
pub(crate) const HELLO_GIT_SHA1: &str = "ce013625030ba8dba906f756967f9e9ca394464a";

/// A regular file's line of a commit.
pub(crate) fn regular(path: &str, data: &[u8]) -> Value {
    json!({"key": "file", "value": {"path": path, "encoding": "base64",
                                    "content": base64::engine::general_purpose::STANDARD.encode(data)}})
}

/// An LFS file's line of a commit.
pub(crate) fn lfs(path: &str, data: &[u8]) -> Value {
    json!({"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": sha256(data), "size": data.len()}})
}

pub(crate) fn deleted(path: &str) -> Value {
    json!({"key": "deletedFile", "value": {"path": path}})
}

pub(crate) fn deleted_folder(path: &str) -> Value {
    json!({"key": "deletedFolder", "value": {"path": path}})
}
