//! The OpenAPI document against the real server: it is served as checked in, every documented
//! operation is routed and answers 200 for a good request, and every answer of a scenario that
//! walks each operation (successes and refusals) has a documented status, a JSON content type
//! and a body that validates against the documented schema.

use std::collections::BTreeSet;

use fedml_client::client::Client;
use serde_json::{Map, Value, json};

use crate::harness::*;

/// The served document and what the scenario saw of each operation.
struct Checker {
    doc: Value,
    server: String,
    http: reqwest::Client,
    /// operationIds that answered 200 at least once.
    succeeded: BTreeSet<String>,
    answers: usize,
}

struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Checker {
    /// Sends one request for the documented operation `method template` to `path`, checks the
    /// answer against the document, and returns it.
    fn call(&mut self, method: &str, template: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Answer {
        let headers: Vec<(String, String)> =
            key.map(|k| ("authorization".to_string(), format!("Bearer {k}"))).into_iter().collect();
        self.call_with(method, template, path, &headers, body)
    }

    /// [`Checker::call`] with the request's headers given (a session cookie, a CSRF token).
    fn call_with(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        extra: &[(String, String)],
        body: Option<Value>,
    ) -> Answer {
        let (status, content_type, text, headers) = fedml_client::block_on(async {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let mut req = self.http.request(m, format!("{}{path}", self.server));
            for (name, value) in extra {
                req = req.header(name.as_str(), value.as_str());
            }
            if let Some(body) = &body {
                req = req.header("content-type", "application/json").body(body.to_string());
            }
            let resp = req.send().await.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let text = resp.text().await.unwrap_or_default();
            Ok((status, ct, text, headers))
        })
        .expect("request");
        let label = format!("{method} {path} -> {status}");
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not in the document");
        let response = op["responses"].get(status.to_string()).unwrap_or_else(|| {
            panic!("{label}: status {status} is not documented for {method} {template}; body {text}")
        });
        let response = resolve(&self.doc, response);
        assert!(content_type.starts_with("application/json"), "{label}: content type {content_type:?}");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{label}: not JSON ({e}): {text}"));
        let schema = &response["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{label}: no JSON schema documented");
        if let Err(e) = validate(&self.doc, schema, &body, "$") {
            panic!("{label}: the answer does not match the document: {e}\nanswer: {body}");
        }
        if status == 200 {
            self.succeeded.insert(op["operationId"].as_str().expect("operationId").to_string());
        }
        self.answers += 1;
        Answer { status, body, headers }
    }
}

fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        v = doc.pointer(r.strip_prefix('#').expect("local $ref")).unwrap_or_else(|| panic!("dangling {r}"));
    }
    v
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        other => panic!("unknown JSON type {other:?} in the document"),
    }
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
}

/// A JSON Schema validator for the keywords the document uses; any other keyword fails the test,
/// so that the document cannot grow a constraint this check silently skips.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    let s = schema.as_object().ok_or_else(|| format!("{at}: schema is not an object"))?;
    for (keyword, arg) in s {
        match keyword.as_str() {
            "description" | "default" | "example" | "title" | "$ref" => {}
            "type" => {
                let ok = match arg {
                    Value::String(t) => type_matches(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().expect("type name"), v)),
                    _ => panic!("bad type keyword"),
                };
                if !ok {
                    return Err(format!("{at}: {v} is not of type {arg}"));
                }
            }
            "const" if v != arg => return Err(format!("{at}: {v} is not {arg}")),
            "enum" if !arg.as_array().expect("enum").contains(v) => return Err(format!("{at}: {v} not in {arg}")),
            "const" | "enum" => {}
            "required" => {
                if let Some(o) = v.as_object() {
                    for name in arg.as_array().expect("required") {
                        let name = name.as_str().expect("name");
                        if !o.contains_key(name) {
                            return Err(format!("{at}: required property {name:?} is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (name, sub) in arg.as_object().expect("properties") {
                        if let Some(value) = o.get(name) {
                            validate(doc, sub, value, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let known = s.get("properties").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
                    for (name, value) in o.iter().filter(|(n, _)| !known.contains_key(*n)) {
                        match arg {
                            Value::Bool(false) => return Err(format!("{at}: undocumented property {name:?}")),
                            Value::Bool(true) => {}
                            sub => validate(doc, sub, value, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, item) in a.iter().enumerate() {
                        validate(doc, arg, item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "minimum" | "maximum" => {
                if let Some(n) = v.as_f64() {
                    let bound = arg.as_f64().expect("bound");
                    if (keyword == "minimum" && n < bound) || (keyword == "maximum" && n > bound) {
                        return Err(format!("{at}: {n} breaks {keyword} {bound}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(t) = v.as_str() {
                    let n = t.chars().count() as u64;
                    let bound = arg.as_u64().expect("bound");
                    if (keyword == "minLength" && n < bound) || (keyword == "maxLength" && n > bound) {
                        return Err(format!("{at}: length {n} breaks {keyword} {bound}"));
                    }
                }
            }
            "maxItems" | "maxProperties" => {
                let n = v.as_array().map(Vec::len).or(v.as_object().map(Map::len));
                if let Some(n) = n
                    && n as u64 > arg.as_u64().expect("bound")
                {
                    return Err(format!("{at}: {n} items break {keyword} {arg}"));
                }
            }
            "pattern" => {
                let Some(t) = v.as_str() else { continue };
                let ok = match arg.as_str().expect("pattern") {
                    "^blake3:[0-9a-f]{64}$" => t.strip_prefix("blake3:").is_some_and(|h| {
                        h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    }),
                    "^[0-9a-f]{64}$" => fedml_proto::content::is_hex_id(t),
                    other => panic!("the validator does not know the pattern {other:?}; teach it"),
                };
                if !ok {
                    return Err(format!("{at}: {t:?} does not match {arg}"));
                }
            }
            "format" => {
                if let Some(t) = v.as_str() {
                    match arg.as_str().expect("format") {
                        "date-time" if !is_rfc3339(t) => return Err(format!("{at}: {t:?} is not a date-time")),
                        "date-time" => {}
                        other => panic!("the validator does not know the format {other:?}; teach it"),
                    }
                }
            }
            "oneOf" => {
                let matching =
                    arg.as_array().expect("oneOf").iter().filter(|sub| validate(doc, sub, v, at).is_ok()).count();
                if matching != 1 {
                    return Err(format!("{at}: {v} matches {matching} of the schemas of oneOf, not exactly one"));
                }
            }
            other => panic!("the validator does not know the keyword {other:?}; teach it"),
        }
    }
    Ok(())
}

fn operation_ids(doc: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("item").values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                ids.insert(id.to_string());
            }
        }
    }
    ids
}

#[test]
fn the_openapi_document_describes_every_answer_of_the_native_api() {
    let server = TestServer::start();
    let admin = server.admin_key.clone();
    let key = Some(admin.as_str());
    let reader_user = "openapi-reader";
    server.new_user(reader_user);
    let reader = server.new_key(reader_user, true);
    let http = Client::new(&server.url, &admin).expect("client").http().clone();

    // Served as checked in, without a key.
    let served: Value = fedml_client::block_on(async {
        let r = http.get(format!("{}/api/v1/openapi.json", server.url)).send().await;
        let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert_eq!(r.status().as_u16(), 200);
        Ok(r.json::<Value>().await.expect("JSON"))
    })
    .expect("document");
    let checked_in: Value = serde_json::from_str(fedml_api_native::openapi::DOCUMENT).expect("JSON");
    assert_eq!(served, checked_in);
    let mut c = Checker { doc: served, server: server.url.clone(), http, succeeded: BTreeSet::new(), answers: 0 };

    c.call("get", "/api/v1/openapi.json", "/api/v1/openapi.json", None, None);
    c.call("get", "/api/v1/health", "/api/v1/health", None, None);
    c.call("get", "/healthz", "/healthz", None, None);
    assert_eq!(c.call("get", "/readyz", "/readyz", None, None).body["data"]["ready"], true);
    let me = c.call("get", "/api/v1/whoami", "/api/v1/whoami", key, None);
    assert_eq!(me.body["data"]["read_only"], false);
    assert_eq!(c.call("get", "/api/v1/whoami", "/api/v1/whoami", None, None).status, 401);
    assert_eq!(c.call("get", "/api/v1/whoami", "/api/v1/whoami", Some("fml_nope"), None).status, 401);

    // An upload through the API by hand: open, sign, PUT, complete.
    let content = b"hello, OpenAPI";
    let create = json!({"name": "doc.txt", "service": "R2", "kind": "file", "size": content.len(),
        "description": "a document", "tags": ["a", "b"], "metadata": {"k": "v"}});
    let session = c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, Some(create.clone()));
    assert_eq!(session.status, 200, "{}", session.body);
    let id = session.body["data"]["upload_id"].as_str().expect("id").to_string();
    let parts_path = format!("/api/v1/uploads/{id}/parts");
    let urls = c.call("post", "/api/v1/uploads/{id}/parts", &parts_path, key, Some(json!({"first": 1, "count": 1})));
    assert_eq!(urls.status, 200, "{}", urls.body);
    let url = urls.body["data"][0]["url"].as_str().expect("url").to_string();
    let etag = fedml_client::block_on(async {
        let r = c.http.put(&url).body(content.to_vec()).send().await;
        let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert!(r.status().is_success(), "PUT part: {}", r.status());
        Ok(crate::harness::part_tag(r.headers()).expect("ETag"))
    })
    .expect("put part");
    let complete = json!({"parts": [{"part_number": 1, "etag": etag}], "size": content.len(),
        "checksum": fedml_proto::checksum::of_bytes(content)});
    let complete_path = format!("/api/v1/uploads/{id}/complete");
    let done = c.call("post", "/api/v1/uploads/{id}/complete", &complete_path, key, Some(complete.clone()));
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["data"]["object"]["dataName"], "doc.txt");
    // Completing again with the same account (a retry whose answer was lost) answers the same
    // object; with another account of the bytes, or taking the name again without overwrite:
    // conflicts.
    let again = c.call("post", "/api/v1/uploads/{id}/complete", &complete_path, key, Some(complete.clone()));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["data"]["object"]["checksum"], done.body["data"]["object"]["checksum"]);
    let mut other = complete;
    other["checksum"] = json!(fedml_proto::checksum::of_bytes(b"other bytes"));
    assert_eq!(c.call("post", "/api/v1/uploads/{id}/complete", &complete_path, key, Some(other)).status, 409);
    assert_eq!(c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, Some(create)).status, 409);

    // A packed upload by hand: open, ask what is stored, announce the pack, PUT it, complete
    // naming its segment; its download ticket names the pack.
    let data = bytes(50_000, 8);
    let (index, pack) = one_pack(&data);
    let pack_id = index.pack_id();
    let create = json!({"name": "packed.bin", "service": "R2", "kind": "file", "size": data.len(), "layout": "packs"});
    let session = c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, Some(create));
    assert_eq!(session.body["data"]["layout"], "packs", "{}", session.body);
    let id = session.body["data"]["upload_id"].as_str().expect("id").to_string();
    let first = hex::encode(index.chunks[0].id);
    let known_path = format!("/api/v1/uploads/{id}/known");
    let known = c.call("post", "/api/v1/uploads/{id}/known", &known_path, key, Some(json!({"chunks": [first]})));
    assert_eq!(known.body["data"], json!([]), "{}", known.body);
    let packs_path = format!("/api/v1/uploads/{id}/packs");
    let tickets = c.call(
        "post",
        "/api/v1/uploads/{id}/packs",
        &packs_path,
        key,
        Some(json!({"packs": [{"pack": pack_id, "size": pack.len()}]})),
    );
    assert_eq!(tickets.body["data"][0]["stored"], false, "{}", tickets.body);
    let url = tickets.body["data"][0]["url"].as_str().expect("url").to_string();
    // The headers the store needs on the PUT (Azure's blob type), as the ticket names them.
    let headers: Vec<(String, String)> = tickets.body["data"][0]["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let body = pack.clone();
    fedml_client::block_on(async {
        let mut put = c.http.put(&url);
        for (name, value) in &headers {
            put = put.header(name.as_str(), value.as_str());
        }
        let r = put.body(body).send().await;
        let r = r.map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?;
        assert!(r.status().is_success(), "PUT pack: {}", r.status());
        Ok(())
    })
    .expect("put pack");
    let complete = json!({"parts": [], "size": data.len(), "checksum": fedml_proto::checksum::of_bytes(&data),
        "content": {"packs": [pack_id], "segments": [{"pack": 0, "offset": 0, "length": data.len()}],
                    "samples": [[first, 0]]}});
    let done_path = format!("/api/v1/uploads/{id}/complete");
    let done = c.call("post", "/api/v1/uploads/{id}/complete", &done_path, key, Some(complete));
    assert_eq!(done.status, 200, "{}", done.body);
    let ticket = c.call("get", "/api/v1/objects/{name}/download", "/api/v1/objects/packed.bin/download", key, None);
    assert_eq!(ticket.body["data"]["content"]["segments"][0]["length"], data.len(), "{}", ticket.body);
    let gone = c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/packed.bin", key, None);
    assert_eq!(gone.status, 200, "{}", gone.body);

    let usage = c.call("get", "/api/v1/usage", "/api/v1/usage", key, None);
    assert_eq!(usage.status, 200, "{}", usage.body);
    let usages = c.call("get", "/api/v1/admin/usage", "/api/v1/admin/usage", key, None);
    assert_eq!(usages.status, 200, "{}", usages.body);

    // A second object through the SDK, and a session that is aborted.
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("two.bin"), bytes(1000, 3)).expect("write");
    let up = fedml_client::upload_with(work.path().join("two.bin"), &upload_opts(server.admin(), "two.bin"));
    assert_eq!(up.code, fedml_client::ResponseCode::Success, "{}", up.message);
    let open = json!({"name": "aborted", "service": "R2", "kind": "directory", "size": null});
    let session = c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, Some(open));
    let aborted_path = format!("/api/v1/uploads/{}", session.body["data"]["upload_id"].as_str().expect("id"));
    let first = c.call("delete", "/api/v1/uploads/{id}", &aborted_path, key, None);
    assert_eq!((first.status, &first.body["data"]), (200, &json!(true)));
    // Aborting again: nothing to do, and the answer says so; a committed session is not aborted.
    let again = c.call("delete", "/api/v1/uploads/{id}", &aborted_path, key, None);
    assert_eq!((again.status, &again.body["data"]), (200, &json!(false)));
    let committed_path = format!("/api/v1/uploads/{id}");
    assert_eq!(c.call("delete", "/api/v1/uploads/{id}", &committed_path, key, None).status, 409);
    assert_eq!(c.call("delete", "/api/v1/uploads/{id}", "/api/v1/uploads/nope", key, None).status, 404);
    let bad_parts = Some(json!({"first": 0, "count": 1}));
    assert_eq!(c.call("post", "/api/v1/uploads/{id}/parts", &parts_path, key, bad_parts.clone()).status, 409);
    let pending = json!({"name": "pending", "service": "R2", "kind": "file", "size": 10});
    let pending = c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, Some(pending));
    let pending_parts = format!("/api/v1/uploads/{}/parts", pending.body["data"]["upload_id"].as_str().expect("id"));
    assert_eq!(c.call("post", "/api/v1/uploads/{id}/parts", &pending_parts, key, bad_parts.clone()).status, 400);
    let too_many = Some(json!({"first": 1, "count": 1001}));
    assert_eq!(c.call("post", "/api/v1/uploads/{id}/parts", &pending_parts, key, too_many).status, 400);
    let pending_done = pending_parts.replace("/parts", "/complete");
    let no_parts = Some(json!({"parts": [], "size": 10, "checksum": "blake3:00"}));
    assert_eq!(c.call("post", "/api/v1/uploads/{id}/complete", &pending_done, key, no_parts).status, 400);
    assert_eq!(c.call("post", "/api/v1/uploads/{id}/parts", "/api/v1/uploads/x/parts", key, bad_parts).status, 404);

    // Listing, one page at a time.
    let all = c.call("get", "/api/v1/objects", "/api/v1/objects", key, None);
    assert_eq!(all.body["data"]["objects"].as_array().map(Vec::len), Some(2), "{}", all.body);
    let page = c.call("get", "/api/v1/objects", "/api/v1/objects?limit=1", key, None);
    assert_eq!(page.body["data"]["next"], "doc.txt");
    let rest = c.call("get", "/api/v1/objects", "/api/v1/objects?after=doc.txt&limit=1", key, None);
    assert_eq!(rest.body["data"]["objects"][0]["dataName"], "two.bin");
    assert_eq!(c.call("get", "/api/v1/objects", "/api/v1/objects?limit=many", key, None).status, 400);

    // Reading one object.
    let meta = c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", key, None);
    assert_eq!(meta.body["data"]["tags"], json!(["a", "b"]));
    let um = c.call("get", "/api/v1/objects/{name}/user-metadata", "/api/v1/objects/doc.txt/user-metadata", key, None);
    assert_eq!(um.body["data"], json!({"k": "v"}));
    let ticket = c.call("get", "/api/v1/objects/{name}/download", "/api/v1/objects/doc.txt/download", key, None);
    assert_eq!(ticket.body["data"]["object"]["size"], content.len());
    let by_reader = c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", Some(&reader), None);
    assert_eq!(by_reader.status, 404, "another user's object is not visible");
    assert_eq!(c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/missing", key, None).status, 404);
    assert_eq!(c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/a%2Fb", key, None).status, 404);
    assert_eq!(c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/a%2F%2Fb", key, None).status, 400);
    let wrong_service = "/api/v1/objects/doc.txt/download?service=nope";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/download", wrong_service, key, None).status, 400);

    // Versions: two.bin again, as a second version.
    std::fs::write(work.path().join("two.bin"), bytes(1500, 4)).expect("write");
    let mut again = upload_opts(server.admin(), "two.bin");
    again.overwrite = true;
    assert!(fedml_client::upload_with(work.path().join("two.bin"), &again).is_success());
    let versions = c.call("get", "/api/v1/objects/{name}/versions", "/api/v1/objects/two.bin/versions", key, None);
    assert_eq!(versions.body["data"][0]["version"], 2, "{}", versions.body);
    assert_eq!(versions.body["data"][1]["latest"], false, "{}", versions.body);
    let diff = c.call("get", "/api/v1/objects/{name}/diff", "/api/v1/objects/two.bin/diff?from=1&to=2", key, None);
    assert_eq!(diff.body["data"]["to"]["size"], 1500, "{}", diff.body);
    let latest = c.call("get", "/api/v1/objects/{name}/diff", "/api/v1/objects/two.bin/diff?from=1", key, None);
    assert_eq!(latest.body["data"]["to"]["version"], 2, "{}", latest.body);
    let first = c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/two.bin?version=1", key, None);
    assert_eq!((first.body["data"]["version"].clone(), first.body["data"]["size"].clone()), (json!(1), json!(1000)));
    let um1 = "/api/v1/objects/two.bin/user-metadata?version=1";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/user-metadata", um1, key, None).status, 200);
    let old = "/api/v1/objects/two.bin/download?version=1";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/download", old, key, None).body["data"]["object"]["size"], 1000);
    for (path, status) in [
        ("/api/v1/objects/two.bin?version=9", 404),
        ("/api/v1/objects/two.bin?version=0", 400),
        ("/api/v1/objects/two.bin?version=first", 400),
        ("/api/v1/objects/two.bin?version=-1", 400),
    ] {
        assert_eq!(c.call("get", "/api/v1/objects/{name}", path, key, None).status, status, "{path}");
    }
    let no_to = "/api/v1/objects/two.bin/diff?to=1";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/diff", no_to, key, None).status, 400);
    let missing = "/api/v1/objects/two.bin/diff?from=1&to=5";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/diff", missing, key, None).status, 404);
    assert_eq!(
        c.call("get", "/api/v1/objects/{name}/versions", "/api/v1/objects/nope/versions", key, None).status,
        404
    );
    // Inside a directory object: its files, paged, and one file's bytes in place.
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("a.txt"), b"first file").expect("write");
    std::fs::write(tree.join("sub/b.txt"), b"second file").expect("write");
    assert!(fedml_client::upload_with(&tree, &upload_opts(server.admin(), "tree")).is_success());
    let top = c.call("get", "/api/v1/objects/{name}/files", "/api/v1/objects/tree/files", key, None);
    assert_eq!(top.body["data"]["entries"].as_array().map(Vec::len), Some(2), "{}", top.body);
    let page = "/api/v1/objects/tree/files?recursive=true&limit=1";
    let first = c.call("get", "/api/v1/objects/{name}/files", page, key, None);
    assert_eq!(first.body["data"]["next"], "a.txt", "{}", first.body);
    let rest = "/api/v1/objects/tree/files?recursive=true&after=a.txt&version=1";
    let rest = c.call("get", "/api/v1/objects/{name}/files", rest, key, None);
    assert_eq!(rest.body["data"]["entries"][1]["path"], "sub/b.txt", "{}", rest.body);
    let read = c.call("get", "/api/v1/objects/{name}/file", "/api/v1/objects/tree/file?path=sub/b.txt", key, None);
    assert_eq!(read.body["data"]["length"], 11, "{}", read.body);
    for (path, status) in [
        ("/api/v1/objects/tree/file?path=nope.txt", 404),
        ("/api/v1/objects/tree/file?path=sub", 400),
        ("/api/v1/objects/tree/file", 400),
        ("/api/v1/objects/two.bin/file?path=x", 400),
    ] {
        assert_eq!(c.call("get", "/api/v1/objects/{name}/file", path, key, None).status, status, "{path}");
    }
    let missing = "/api/v1/objects/tree/files?path=nowhere";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/files", missing, key, None).status, 404);
    assert_eq!(c.call("get", "/api/v1/objects/{name}/files", "/api/v1/objects/two.bin/files", key, None).status, 400);

    let one = c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/two.bin?version=2", key, None);
    assert_eq!(one.body["data"], json!({"version": 2, "latest": 1, "name_deleted": false}), "{}", one.body);
    let by_reader =
        c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/two.bin?version=1", Some(&reader), None);
    assert_eq!(by_reader.status, 403, "a read-only key deletes nothing");

    // Refusals that axum itself used to answer in plain text now come in the envelope.
    assert_eq!(c.call("get", "/api/v1/objects/{name}", "/api/v1/objects/%FF", key, None).status, 400);
    assert_eq!(c.call("delete", "/api/v1/uploads/{id}", "/api/v1/uploads/%FF%FE", key, None).status, 400);
    let twice = "/api/v1/objects/doc.txt/download?service=R2&service=R2";
    assert_eq!(c.call("get", "/api/v1/objects/{name}/download", twice, key, None).status, 400);
    assert_eq!(
        c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt?service=a&service=b", key, None).status,
        400
    );

    // Bad input, and a read-only key writing.
    let bad_name = Some(json!({"name": "a//b", "service": "R2", "kind": "file", "size": 1}));
    assert_eq!(c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, bad_name).status, 400);
    assert_eq!(c.call("post", "/api/v1/uploads", "/api/v1/uploads", key, Some(json!([1, 2]))).status, 400);
    let fine = Some(json!({"name": "r", "service": "R2", "kind": "file", "size": 1}));
    assert_eq!(c.call("post", "/api/v1/uploads", "/api/v1/uploads", Some(&reader), fine).status, 403);
    assert_eq!(c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", Some(&reader), None).status, 403);

    // Editing an object's metadata; searching and sorting the listing.
    let edit = Some(json!({"description": "edited", "tags": ["c"], "user_metadata": {"k": "w"}}));
    let edited = c.call("patch", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", key, edit.clone());
    assert_eq!(
        (edited.body["data"]["description"].as_str(), &edited.body["data"]["tags"]),
        (Some("edited"), &json!(["c"]))
    );
    assert_eq!(c.call("patch", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", key, Some(json!({}))).status, 400);
    let unknown_field = Some(json!({"colour": "red"}));
    assert_eq!(c.call("patch", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", key, unknown_field).status, 400);
    assert_eq!(c.call("patch", "/api/v1/objects/{name}", "/api/v1/objects/missing", key, edit.clone()).status, 404);
    assert_eq!(c.call("patch", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", Some(&reader), edit).status, 403);
    let found = c.call("get", "/api/v1/objects", "/api/v1/objects?q=C&sort=size&order=desc", key, None);
    assert_eq!(
        (found.body["data"]["total"].as_u64(), found.body["data"]["objects"][0]["dataName"].as_str()),
        (Some(1), Some("doc.txt"))
    );
    assert_eq!(c.call("get", "/api/v1/objects", "/api/v1/objects?sort=colour", key, None).status, 400);
    assert_eq!(c.call("get", "/api/v1/objects", "/api/v1/objects?sort=size&after=doc.txt", key, None).status, 400);

    // API keys, administrators, and a dashboard session.
    let minted = c.call("post", "/api/v1/keys", "/api/v1/keys", key, Some(json!({"label": "docs", "read_only": true})));
    let minted_key = minted.body["data"]["api_key"].as_str().expect("key").to_string();
    let minted_id = minted.body["data"]["key"]["id"].as_str().expect("id").to_string();
    assert_eq!(c.call("post", "/api/v1/keys", "/api/v1/keys", Some(&minted_key), Some(json!({}))).status, 403);
    assert_eq!(c.call("post", "/api/v1/keys", "/api/v1/keys", key, Some(json!({"label": 5}))).status, 400);
    let listed = c.call("get", "/api/v1/keys", "/api/v1/keys", key, None);
    assert!(listed.body["data"].as_array().expect("keys").iter().any(|k| k["id"] == json!(minted_id)));
    let users = c.call("get", "/api/v1/admin/users", "/api/v1/admin/users", key, None);
    assert!(users.body["data"].as_array().expect("users").iter().any(|u| u["name"] == reader_user));
    assert_eq!(c.call("get", "/api/v1/admin/users", "/api/v1/admin/users", Some(&reader), None).status, 403);
    let reader_keys = format!("/api/v1/admin/users/{reader_user}/keys");
    assert_eq!(c.call("get", "/api/v1/admin/users/{name}/keys", &reader_keys, key, None).status, 200);
    assert_eq!(
        c.call("get", "/api/v1/admin/users/{name}/keys", "/api/v1/admin/users/nobody/keys", key, None).status,
        404
    );
    let revoke_path = format!("/api/v1/keys/{minted_id}");
    assert_eq!(c.call("delete", "/api/v1/keys/{id}", &revoke_path, key, None).body["data"], true);
    assert_eq!(c.call("delete", "/api/v1/keys/{id}", &revoke_path, key, None).body["data"], false);
    assert_eq!(c.call("delete", "/api/v1/keys/{id}", "/api/v1/keys/0000000000000000", Some(&reader), None).status, 403);
    assert_eq!(c.call("delete", "/api/v1/keys/{id}", "/api/v1/keys/0000000000000000", key, None).status, 404);

    let sign_in = Some(json!({"api_key": admin}));
    let session = c.call("post", "/api/v1/session", "/api/v1/session", None, sign_in);
    let cookie = session.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("a cookie").to_string();
    let cookie = cookie.split(';').next().expect("name=value").to_string();
    let csrf = session.body["data"]["csrf_token"].as_str().expect("csrf").to_string();
    assert_eq!(
        c.call("post", "/api/v1/session", "/api/v1/session", None, Some(json!({"api_key": "nope"}))).status,
        401
    );
    assert_eq!(c.call("post", "/api/v1/session", "/api/v1/session", None, Some(json!({}))).status, 400);
    let with_cookie = vec![("cookie".to_string(), cookie.clone())];
    assert_eq!(c.call_with("get", "/api/v1/session", "/api/v1/session", &with_cookie, None).status, 200);
    assert_eq!(c.call("get", "/api/v1/session", "/api/v1/session", None, None).status, 401);
    assert_eq!(c.call_with("delete", "/api/v1/session", "/api/v1/session", &with_cookie, None).status, 403);
    let mut signed = with_cookie.clone();
    signed.push(("x-csrf-token".to_string(), csrf));
    assert_eq!(c.call_with("delete", "/api/v1/session", "/api/v1/session", &signed, None).status, 200);
    assert_eq!(c.call_with("get", "/api/v1/session", "/api/v1/session", &with_cookie, None).status, 401);

    // Teams: namespaces, an organisation and its members, a share link, the audit log.
    assert_eq!(c.call("get", "/api/v1/namespaces", "/api/v1/namespaces", key, None).status, 200);
    let org = Some(json!({"name": "doc-team"}));
    assert_eq!(c.call("post", "/api/v1/orgs", "/api/v1/orgs", key, org.clone()).status, 200);
    assert_eq!(c.call("post", "/api/v1/orgs", "/api/v1/orgs", key, org).status, 409);
    assert_eq!(c.call("post", "/api/v1/orgs", "/api/v1/orgs", key, Some(json!({"name": "no spaces"}))).status, 400);
    assert_eq!(c.call("get", "/api/v1/orgs", "/api/v1/orgs", key, None).status, 200);
    let member = "/api/v1/orgs/doc-team/members/{user}".replace("{user}", reader_user);
    let template = "/api/v1/orgs/{org}/members/{user}";
    assert_eq!(c.call("put", template, &member, key, Some(json!({"role": "reader"}))).status, 200);
    assert_eq!(c.call("put", template, &member, key, Some(json!({"role": "owner"}))).status, 400);
    let members = c.call("get", "/api/v1/orgs/{org}/members", "/api/v1/orgs/doc-team/members", key, None);
    assert_eq!(members.body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(c.call("put", template, &member, Some(&reader), Some(json!({"role": "admin"}))).status, 403);
    assert_eq!(c.call("delete", template, &member, key, None).body["data"], true);
    assert_eq!(c.call("delete", template, &member, key, None).body["data"], false);
    let shared = c.call("post", "/api/v1/shares", "/api/v1/shares", key, Some(json!({"name": "doc.txt"})));
    assert_eq!(shared.status, 200);
    let share_id = shared.body["data"]["share"]["id"].as_str().expect("share id").to_string();
    let too_long = Some(json!({"name": "doc.txt", "expires_in": 400 * 86_400}));
    assert_eq!(c.call("post", "/api/v1/shares", "/api/v1/shares", key, too_long).status, 400);
    assert_eq!(c.call("get", "/api/v1/shares", "/api/v1/shares", key, None).status, 200);
    let unshare = format!("/api/v1/shares/{share_id}");
    assert_eq!(c.call("delete", "/api/v1/shares/{id}", &unshare, key, None).body["data"], true);
    assert_eq!(c.call("delete", "/api/v1/shares/{id}", "/api/v1/shares/0000000000000000", key, None).status, 404);
    assert_eq!(c.call("get", "/api/v1/log", "/api/v1/log?limit=3", key, None).status, 200);
    assert_eq!(c.call("get", "/api/v1/log", "/api/v1/log?namespace=doc-team", Some(&reader), None).status, 403);
    assert_eq!(c.call("delete", "/api/v1/orgs/{org}", "/api/v1/orgs/doc-team", key, None).status, 200);
    assert_eq!(c.call("delete", "/api/v1/orgs/{org}", "/api/v1/orgs/doc-team", key, None).status, 404);

    // S3 credentials of the key in use (the test server serves S3 on a port of its own); none
    // without a key.
    let s3 = c.call("get", "/api/v1/s3-credentials", "/api/v1/s3-credentials", key, None);
    assert_eq!(s3.status, 200);
    assert!(s3.body["data"]["access_key_id"].as_str().is_some_and(|id| id.starts_with("FMLK")), "{}", s3.body);
    assert_eq!(c.call("get", "/api/v1/s3-credentials", "/api/v1/s3-credentials", None, None).status, 401);

    // Deleting.
    let deleted = c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt?service=R2", key, None);
    assert_eq!(deleted.body["data"], true);
    assert!(deleted.headers.get("content-type").is_some());
    assert_eq!(c.call("delete", "/api/v1/objects/{name}", "/api/v1/objects/doc.txt", key, None).status, 404);

    // Every documented operation was reached and succeeded at least once.
    let missing: Vec<_> = operation_ids(&c.doc).difference(&c.succeeded).cloned().collect();
    assert!(missing.is_empty(), "operations never answered 200: {missing:?}");
    assert!(c.answers > 40, "only {} answers checked", c.answers);
}

#[test]
fn the_validator_refuses_what_the_document_does_not_allow() {
    let doc: Value = serde_json::from_str(fedml_api_native::openapi::DOCUMENT).expect("JSON");
    let meta = json!({"$ref": "#/components/schemas/ObjectMeta"});
    let good = json!({"dataName": "x", "description": "", "kind": "file", "service": "R2", "size": 1,
        "checksum": format!("blake3:{}", "a".repeat(64)), "tags": [], "userMetadata": {},
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "version": 1});
    assert_eq!(validate(&doc, &meta, &good, "$"), Ok(()));
    for (field, bad) in [
        ("kind", json!("folder")),
        ("size", json!(-1)),
        ("checksum", json!("md5:00")),
        ("tags", json!([1])),
        ("userMetadata", json!({"k": 1})),
        ("createdAt", json!("yesterday")),
        ("extra", json!(1)),
    ] {
        let mut v = good.clone();
        v[field] = bad;
        assert!(validate(&doc, &meta, &v, "$").is_err(), "{field} accepted");
    }
    let mut v = good.clone();
    v.as_object_mut().expect("object").remove("service");
    assert!(validate(&doc, &meta, &v, "$").is_err(), "missing service accepted");
    let error = json!({"$ref": "#/components/schemas/ErrorEnvelope"});
    assert!(validate(&doc, &error, &json!({"code": "SUCCESS", "message": "", "data": null}), "$").is_err());
    assert!(validate(&doc, &error, &json!({"code": "FAILURE", "message": "m", "data": {}}), "$").is_err());
    assert_eq!(validate(&doc, &error, &json!({"code": "ERROR", "message": "m", "data": null}), "$"), Ok(()));
}
