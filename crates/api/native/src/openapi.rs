//! The OpenAPI document of the native API (`openapi.json` beside this file), served as is at
//! `GET /api/v1/openapi.json`. The tests below check its shape, and the server's keep it and the
//! routes it wires in step (`crates/server/src/openapi_routes.rs`); the black-box
//! suite (`crates/cli/tests/e2e/openapi.rs`) checks real answers against its schemas, and
//! `scripts/schemathesis` fuzzes a running server against it.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, checked in and embedded at build time.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub(crate) async fn handle_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::DOCUMENT;

    const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

    #[test]
    fn the_document_is_well_formed() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer");
        // Every $ref points at something that exists.
        fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
        }
        // Operation ids are unique, every operation answers 200 and, when it needs a key, 401.
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item").iter().filter(|(k, _)| METHODS.contains(&k.as_str())) {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
                assert!(op["responses"]["200"].is_object(), "{method} {path} has no 200 answer");
                let public = op.get("security").is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
                // Sign-in is open to anyone and refuses a bad key in its body with 401.
                let takes_a_key = !public || id == "signIn";
                assert_eq!(op["responses"]["401"].is_object(), takes_a_key, "{method} {path}: 401 iff a key is needed");
            }
        }
    }

    /// An upload's description, tags and metadata may be left out or null (kept from the version
    /// it replaces), as the wire type reads them: no default that would say "empty", and every
    /// field of the wire type documented.
    #[test]
    fn an_upload_documents_that_what_it_leaves_out_is_kept() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let create = &doc["components"]["schemas"]["CreateUpload"];
        let required: Vec<&str> =
            create["required"].as_array().expect("required").iter().filter_map(|v| v.as_str()).collect();
        for field in ["description", "tags", "metadata"] {
            assert!(!required.contains(&field), "{field} is required");
            let schema = &create["properties"][field];
            let null = serde_json::json!("null");
            let typed_null = schema["type"].as_array().is_some_and(|t| t.contains(&null));
            let one_of_null = schema["oneOf"].as_array().is_some_and(|o| o.iter().any(|s| s["type"] == null));
            assert!(typed_null || one_of_null, "{field} does not allow null: {schema}");
            assert!(schema.get("default").is_none(), "{field} has a default: left out would read as it");
            let said = schema["description"].as_str().unwrap_or_default();
            assert!(said.contains("left out") && said.contains("clear"), "{field}: {said:?}");
            let read: fedml_proto::CreateUpload = serde_json::from_value(serde_json::json!({
                "name": "n", "service": "s", "kind": "file", "size": 1, field: null}))
            .expect("null is read");
            assert!(read.description.is_none() && read.tags.is_none() && read.metadata.is_none());
        }
        let every = fedml_proto::CreateUpload {
            name: "n".into(),
            service: "s".into(),
            kind: fedml_proto::ObjectKind::File,
            size: Some(1),
            description: Some(String::new()),
            tags: Some(Vec::new()),
            metadata: Some(BTreeMap::new()),
            overwrite: true,
            layout: fedml_proto::content::Layout::Packs,
            namespace: Some("team".into()),
        };
        let sent = serde_json::to_value(every).expect("serialise");
        let sent: BTreeSet<&String> = sent.as_object().expect("object").keys().collect();
        let documented: BTreeSet<&String> = create["properties"].as_object().expect("properties").keys().collect();
        assert_eq!(sent, documented);
    }
}
