//! What the load test reads of `/metrics` and the probes while 64 clients run: a watcher that
//! scrapes both every 200 ms (every answer 200, counters never going down), and the check that
//! the final counts cover the operations the clients completed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `fedml_http_requests_total` summed by (route, status class 2xx or not), from one scrape.
fn request_totals(url: &str) -> BTreeMap<(String, bool), u64> {
    let http = fedml_client::client::http_client().expect("HTTP client");
    let text = fedml_client::block_on(async {
        let r = http.get(format!("{url}/metrics")).send().await;
        let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert_eq!(r.status().as_u16(), 200, "/metrics under load");
        Ok(r.text().await.unwrap_or_default())
    })
    .expect("scrape");
    assert!(text.trim_end().ends_with("# EOF"), "a scrape cut short");
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("fedml_http_requests_total{")) {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\"")).expect("label") + name.len() + 2;
            line[start..].split('"').next().expect("value").to_string()
        };
        let n: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value");
        *out.entry((label("route"), label("status").starts_with('2'))).or_default() += n as u64;
    }
    out
}

/// Scrapes `/metrics` and asks both probes every 200 ms until `deadline`: every answer 200, every
/// counter only ever grows. Answers how many scrapes it made.
pub fn watch(url: &str, deadline: Instant) -> usize {
    let http = fedml_client::client::http_client().expect("HTTP client");
    let mut last: BTreeMap<(String, bool), u64> = BTreeMap::new();
    let mut scrapes = 0;
    while Instant::now() < deadline {
        for probe in ["healthz", "readyz"] {
            let status = fedml_client::block_on(async {
                let r = http.get(format!("{url}/{probe}")).send().await;
                r.map(|r| r.status().as_u16()).map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))
            });
            assert_eq!(status.ok(), Some(200), "/{probe} under load");
        }
        let now = request_totals(url);
        for (series, n) in &last {
            assert!(now.get(series).is_some_and(|m| m >= n), "{series:?} went down from {n} to {:?}", now.get(series));
        }
        last = now;
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    scrapes
}

/// The request counters grew by at least the operations the clients completed: each operation
/// is at least one request of its route, answered 2xx.
pub fn check_metrics_cover(url: &str, counts: &BTreeMap<&'static str, u64>, scrapes: usize) {
    let totals = request_totals(url);
    let ok = |route: &str| totals.get(&(route.to_string(), true)).copied().unwrap_or(0);
    let ops = |names: &[&str]| names.iter().map(|n| counts.get(n).copied().unwrap_or(0)).sum::<u64>();
    let uploads = ops(&[
        "upload-file",
        "upload-multipart",
        "upload-dir",
        "upload-dir-multipart",
        "overwrite-own",
        "overwrite-shared",
    ]);
    assert!(
        ok("/api/v1/uploads/{id}/complete") >= uploads,
        "completions counted {} < {uploads} uploads",
        ok("/api/v1/uploads/{id}/complete")
    );
    let downloads = ops(&["download-own", "download-shared"]);
    assert!(ok("/api/v1/objects/{name}/download") >= downloads, "download tickets counted < {downloads}");
    assert!(ok("/api/v1/objects") >= ops(&["list"]), "listings counted < {}", ops(&["list"]));
    let all_ok: u64 = totals.iter().filter(|((_, ok), _)| *ok).map(|(_, n)| n).sum();
    // Expected refusals are requests too, answered 409: they count among the others.
    let total_ops: u64 = counts.iter().filter(|(op, _)| **op != "expected-refusal").map(|(_, n)| n).sum();
    let refused: u64 = totals.iter().filter(|((_, ok), _)| !*ok).map(|(_, n)| n).sum();
    assert!(refused >= ops(&["expected-refusal"]), "{refused} refusals counted");
    assert!(all_ok >= total_ops, "{all_ok} successful requests counted for {total_ops} operations");
    assert!(ok("/metrics") as usize >= scrapes && scrapes > 0, "{scrapes} scrapes, {} counted", ok("/metrics"));
    assert!(ok("/readyz") as usize >= scrapes, "readiness probes under load not all counted");
    println!("load: {scrapes} scrapes of /metrics; {all_ok} successful requests counted for {total_ops} operations");
}
