//! What operators watch, against the real server: the probes answer without a key and name a
//! broken store; `/metrics` parses and, after a known sequence of requests, counts exactly those
//! by route template and status; the metrics token guards `/metrics` and nothing else; an ERROR
//! quotes a request id that its log lines carry; `--log-format json` lines are JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fedml_client::client::Client;
use fedml_proto::{CompleteUpload, CompletedPart, ObjectKind};
use serde_json::{Value, json};

use crate::harness::*;
use crate::process::{ServerProcess, admin_key};

/// Request ids in ERROR messages and in JSON and text log lines.
mod logs;
/// Exact counts by route and status, the collector's numbers, the metrics token.
mod metrics;
/// `/healthz` and `/readyz`: no key, a broken store named, nothing secret.
mod probes;
/// The watcher and the final check the load test runs against `/metrics` and the probes.
pub mod under_load;

// ---------------------------------------------------------------------------------- raw HTTP

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn request_id(&self) -> String {
        let id = self.headers.get("x-request-id").expect("every answer carries X-Request-Id");
        id.to_str().expect("visible ASCII").to_string()
    }
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Answer {
    let http = fedml_client::client::http_client().expect("HTTP client");
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
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        let text = String::from_utf8_lossy(&body).into_owned();
        Ok(Answer { status, headers, body, text })
    })
    .expect("request sent")
}

fn get(url: &str) -> Answer {
    send("GET", url, &[], None)
}

// ---------------------------------------------------------------------------------- the text format

/// One parsed scrape: `name{label="value",…}` (labels sorted) → value; every sample's family has
/// a `# TYPE`, and the text ends with `# EOF`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let mut ended = false;
    for line in text.lines() {
        assert!(!ended, "lines after # EOF: {line:?}");
        if line == "# EOF" {
            ended = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "unexpected type {kind}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or_else(|| panic!("unclosed {line:?}"))),
            None => (series, ""),
        };
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.is_empty(),
            "bad metric name {name:?}"
        );
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no # TYPE");
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad labels in {line:?}"));
            let end = after.find('"').unwrap_or_else(|| panic!("unclosed label value in {line:?}"));
            pairs.push((key.to_string(), after[..end].to_string()));
            rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
        }
        pairs.sort();
        let labels = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",");
        let key = if labels.is_empty() { name.to_string() } else { format!("{name}{{{labels}}}") };
        assert!(samples.insert(key.clone(), value).is_none(), "{key} twice");
    }
    assert!(ended, "the text does not end with # EOF");
    samples
}

fn scrape(url: &str, headers: &[(&str, &str)]) -> BTreeMap<String, f64> {
    let a = send("GET", &format!("{url}/metrics"), headers, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let kind = a.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(kind.starts_with("application/openmetrics-text"), "content type {kind}");
    parse_metrics(&a.text)
}

/// `fedml_http_requests_total` by (route, method, status).
fn request_counts(samples: &BTreeMap<String, f64>) -> BTreeMap<(String, String, u16), u64> {
    let mut out = BTreeMap::new();
    for (key, value) in samples {
        let Some(labels) = key.strip_prefix("fedml_http_requests_total{") else { continue };
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).expect("label") + name.len() + 2;
            labels[start..].split('"').next().expect("value").to_string()
        };
        out.insert((label("route"), label("method"), label("status").parse().expect("status")), *value as u64);
    }
    out
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples.get(key).unwrap_or_else(|| panic!("no {key} in {samples:#?}"))
}
