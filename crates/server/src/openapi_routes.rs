//! The native API's OpenAPI document against the routes the server wires: every `/api/v1/` route
//! (the native API's and the dashboard's session) and the probes are documented, and nothing
//! else is.

use std::collections::{BTreeMap, BTreeSet};

use fedml_api_native::openapi::DOCUMENT;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Routes outside `/api/v1/` that the document describes: the probes. `/metrics` is left out
/// on purpose (OpenMetrics text for operators under its own token, not the JSON API; the
/// document's description says so), as are the signed `/blob/v1/…` URLs.
const DOCUMENTED_OUTSIDE_API: [&str; 2] = ["/healthz", "/readyz"];

/// `path -> methods` of every `.route("/api/v1/…", …)` and probe route of the native API, the
/// dashboard and the server's own router, read from their source (a `.route(` that rustfmt
/// broke over lines is joined first).
fn routed() -> BTreeMap<String, BTreeSet<String>> {
    let source =
        [include_str!("lib.rs"), include_str!("../../api/native/src/lib.rs"), include_str!("../../api/web/src/lib.rs")]
            .join("\n");
    let mut joined = String::new();
    let mut pending = String::new();
    for line in source.lines().map(str::trim) {
        if !pending.is_empty() {
            pending.push_str(line);
            if line.ends_with(')') || line.ends_with("),") {
                joined.push_str(&pending);
                joined.push('\n');
                pending.clear();
            }
        } else if line == ".route(" {
            pending.push_str(line);
        } else {
            joined.push_str(line);
            joined.push('\n');
        }
    }
    let mut routes = BTreeMap::new();
    for line in joined.lines().filter(|l| l.starts_with(".route(\"/")) {
        let rest = &line[".route(\"".len()..];
        let (path, handlers) = rest.split_once('"').expect("a quoted path");
        if !(path.starts_with("/api/v1/") || DOCUMENTED_OUTSIDE_API.contains(&path)) {
            continue;
        }
        let methods: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| {
                handlers
                    .match_indices(&format!("{m}("))
                    .any(|(i, _)| handlers[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_')))
            })
            .map(|m| m.to_string())
            .collect();
        assert!(!methods.is_empty(), "no method found on the line {line:?}");
        assert!(routes.insert(path.to_string(), methods).is_none(), "{path} routed twice");
    }
    routes
}

fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .map(|(path, item)| {
            let item = item.as_object().expect("path item");
            let methods = item.keys().filter(|k| METHODS.contains(&k.as_str())).cloned().collect();
            (path.clone(), methods)
        })
        .collect()
}

#[test]
fn every_native_route_is_documented_and_nothing_else() {
    let routed = routed();
    assert!(routed.len() >= 10, "the routers parsed to only {routed:?}");
    assert_eq!(routed, documented(), "the routers (left) and openapi.json (right) disagree");
}
