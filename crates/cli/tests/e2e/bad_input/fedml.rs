//! Bad input on the FedML-compatible routes, and names that display as another.

use super::*;

/// A FedML-compatible route's refusal: HTTP 200 (the SDK requires it) with FAILURE saying `says`.
fn assert_compat_failure(label: &str, (status, body): (u16, Value), says: &str) {
    assert_eq!(status, 200, "{label}: HTTP {status} {body}");
    assert_eq!(body["code"], "FAILURE", "{label}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{label}: {message:?} does not say {says:?}");
}

pub(super) fn compat_ok(label: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!((status, body["code"].as_str()), (200, Some("SUCCESS")), "{label}: {body}");
    body["data"].clone()
}

/// A FedML-SDK upload of `data` as `file_name`, presigned, sent and completed: its upload id,
/// its file key and the file URL a dataset record must bring.
pub(crate) fn compat_uploaded(server: &TestServer, file_name: &str, data: &[u8]) -> (String, String, String) {
    let uid = compat_ok(
        "getUser",
        raw(
            server,
            "POST",
            "/fedmlOpsServer/api/v1/cli/getUser",
            Some(&json!({"apiKey": server.admin_key}).to_string()),
        ),
    )["id"]
        .as_str()
        .expect("user id")
        .to_string();
    let file_key = format!("{uid}/{file_name}");
    let presigned = compat_ok(
        "presign",
        raw(
            server,
            "GET",
            &format!(
                "/system/api/v1/cli/oss/multipart/presigned-url?fileKey={}&partNumber=1",
                fedml_proto::encode_path_segment(&file_key)
            ),
            None,
        ),
    );
    let upload_id = presigned["uploadId"].as_str().expect("upload id").to_string();
    let url = presigned["urls"][0].as_str().expect("url").to_string();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let etag = fedml_client::block_on(async {
        let r = client.http().put(&url).body(data.to_vec()).send().await;
        Ok(r.ok().and_then(|r| crate::harness::part_tag(r.headers())))
    })
    .expect("put")
    .expect("an ETag");
    let body = json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": 1}]});
    let file_url = compat_ok(
        "complete",
        raw(server, "POST", "/system/api/v1/cli/oss/multipart/upload/complete", Some(&body.to_string())),
    );
    (upload_id, file_key, file_url.as_str().expect("file URL").to_string())
}

fn stored_names(server: &TestServer) -> Vec<String> {
    fedml_client::list_storage_objects_with(&server.admin())
        .data
        .expect("list")
        .into_iter()
        .map(|o| o.data_name)
        .collect()
}

#[test]
fn invisible_characters_in_names_tags_and_keys_are_refused_naming_them() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(100, 4)).expect("write");
    let admin = server.admin();
    // (text, what the refusal names)
    let bad = [
        ("invoice\u{202E}gpj.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("a\u{202D}b", "U+202D LEFT-TO-RIGHT OVERRIDE"),
        ("a\u{2066}b\u{2069}", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("a\u{200F}b", "U+200F RIGHT-TO-LEFT MARK"),
        ("a\u{061C}b", "U+061C ARABIC LETTER MARK"),
        ("zero\u{200B}width", "U+200B ZERO WIDTH SPACE"),
        ("join\u{200D}er", "U+200D ZERO WIDTH JOINER"),
        ("\u{FEFF}bom", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("soft\u{00AD}hyphen", "U+00AD SOFT HYPHEN"),
        ("word\u{2060}joiner", "U+2060 WORD JOINER"),
        ("mongolian\u{180E}", "U+180E MONGOLIAN VOWEL SEPARATOR"),
        ("tag\u{E0041}char", "U+E0041"),
    ];
    for (text, names) in bad {
        // The SDK refuses before sending a byte…
        assert_failure(
            &format!("name {text:?}"),
            fedml_client::upload_with(&file, &upload_opts(admin.clone(), text)),
            names,
        );
        let mut o = upload_opts(admin.clone(), "tagged");
        o.tags = Some(vec![text.to_string()]);
        assert_failure(&format!("tag {text:?}"), fedml_client::upload_with(&file, &o), names);
        let mut o = upload_opts(admin.clone(), "keyed");
        o.metadata = Some([(text.to_string(), "v".to_string())].into());
        assert_failure(&format!("metadata key {text:?}"), fedml_client::upload_with(&file, &o), names);
        // …and the server refuses what another client sends.
        for body in [
            json!({"name": text, "service": "R2", "kind": "file", "size": 1}),
            json!({"name": "n", "service": "R2", "kind": "file", "size": 1, "tags": [text]}),
            json!({"name": "n", "service": "R2", "kind": "file", "size": 1, "metadata": {text: "v"}}),
        ] {
            let answer = raw(&server, "POST", "/api/v1/uploads", Some(&body.to_string()));
            assert!(answer.1["message"].as_str().is_some_and(|m| m.contains(names)), "{body}: {}", answer.1);
            assert_refused(&format!("native {body}"), answer);
        }
    }
    // Descriptions and metadata values may hold them (they are escaped when shown).
    let mut o = upload_opts(admin.clone(), "described");
    o.description = Some("right\u{202E}left".into());
    o.metadata = Some([("k".to_string(), "zero\u{200B}width".to_string())].into());
    assert!(fedml_client::upload_with(&file, &o).is_success());

    // The FedML-compatible routes: the file key of the presign, the dataset name and tags.
    let (_, file_key, file_url) = compat_uploaded(&server, "sdk.bin", &bytes(50, 5));
    let (status, body) = raw(
        &server,
        "GET",
        &format!(
            "/system/api/v1/cli/oss/multipart/presigned-url?fileKey={}&partNumber=1",
            fedml_proto::encode_path_segment(&format!("{}/in\u{202E}voice", file_key.split('/').next().expect("uid")))
        ),
        None,
    );
    assert_compat_failure("presign with RLO", (status, body), "U+202E RIGHT-TO-LEFT OVERRIDE");
    let dataset = |name: &str, tags: Value| {
        let body =
            json!({"datasetName": name, "description": "", "fileSize": 50, "fileUrl": file_url, "tagNameList": tags});
        raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(&body.to_string()))
    };
    for (text, names) in bad {
        assert_compat_failure(&format!("dataset name {text:?}"), dataset(text, json!([])), names);
        assert_compat_failure(&format!("dataset tag {text:?}"), dataset("sdk", json!([text])), names);
    }
    assert_eq!(stored_names(&server), vec!["described".to_string()], "nothing else was stored");
    // The refusals consumed nothing: the same upload still becomes its dataset.
    compat_ok("dataset", dataset("sdk", json!(["ok"])));
    assert_eq!(stored_names(&server), vec!["described".to_string(), "sdk".to_string()]);
}

#[test]
fn fedml_routes_refuse_wrong_types_naming_the_field() {
    let server = TestServer::start();
    let mut cases = 0;
    // heartBeat and getUser: the key must be a string.
    for bad in [json!(12), json!({"k": "v"}), json!(["fml_x"]), json!(true)] {
        let body = json!({"apiKey": bad}).to_string();
        let (status, v) = raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/heartBeat", Some(&body));
        assert_eq!(v["data"], false, "heartBeat {bad}: {v}");
        assert_compat_failure(&format!("heartBeat {bad}"), (status, v), "apiKey must be a string");
        assert_compat_failure(
            &format!("getUser {bad}"),
            raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/getUser", Some(&body)),
            "apiKey must be a string",
        );
        cases += 2;
    }
    assert_compat_failure(
        "getUser body not an object",
        raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/getUser", Some("[1]")),
        "JSON object",
    );
    cases += 1;

    // presign: the part count must be a number.
    for bad in ["abc", "-1", "1.5", ""] {
        assert_compat_failure(
            &format!("presign partNumber={bad}"),
            raw(
                &server,
                "GET",
                &format!("/system/api/v1/cli/oss/multipart/presigned-url?fileKey=1%2Fx&partNumber={bad}"),
                None,
            ),
            "partNumber",
        );
        cases += 1;
    }

    // complete: every field and every part's fields, with the real session still open after.
    let uid = compat_ok(
        "getUser",
        raw(
            &server,
            "POST",
            "/fedmlOpsServer/api/v1/cli/getUser",
            Some(&json!({"apiKey": server.admin_key}).to_string()),
        ),
    )["id"]
        .as_str()
        .expect("uid")
        .to_string();
    let file_key = format!("{uid}/typed.bin");
    let presigned = compat_ok(
        "presign",
        raw(
            &server,
            "GET",
            &format!(
                "/system/api/v1/cli/oss/multipart/presigned-url?fileKey={}&partNumber=1",
                fedml_proto::encode_path_segment(&file_key)
            ),
            None,
        ),
    );
    let upload_id = presigned["uploadId"].as_str().expect("id").to_string();
    let url = presigned["urls"][0].as_str().expect("url").to_string();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let etag = fedml_client::block_on(async {
        let r = client.http().put(&url).body(bytes(70, 6)).send().await;
        Ok(r.ok().and_then(|r| crate::harness::part_tag(r.headers())))
    })
    .expect("put")
    .expect("etag");
    let complete =
        |body: Value| raw(&server, "POST", "/system/api/v1/cli/oss/multipart/upload/complete", Some(&body.to_string()));
    let good_parts = json!([{"etag": etag, "partNumber": 1}]);
    for (body, says) in [
        (
            json!({"fileKey": 5, "uploadId": upload_id, "partETags": good_parts}),
            "fileKey must be a string, not a number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": ["x"], "partETags": good_parts}),
            "uploadId must be a string, not a list",
        ),
        (json!({"fileKey": null, "uploadId": upload_id, "partETags": good_parts}), "fileKey is missing"),
        (json!({"fileKey": file_key, "uploadId": upload_id}), "partETags is missing"),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": {"etag": etag}}),
            "partETags must be a list, not an object",
        ),
        (json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [etag]}), "partETags[0] must be an object"),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag}]}),
            "partETags[0].partNumber is missing",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"partNumber": 1}]}),
            "partETags[0].etag is missing",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": "1"}]}),
            "partETags[0].partNumber must be a whole number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": null}]}),
            "partETags[0].partNumber is missing",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": -1}]}),
            "partETags[0].partNumber must be a whole number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": etag, "partNumber": 0}]}),
            "partETags[0].partNumber is 0",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": 1234, "partNumber": 1}]}),
            "partETags[0].etag must be a string, not a number",
        ),
        (
            json!({"fileKey": file_key, "uploadId": upload_id, "partETags": [{"etag": {"v": etag}, "partNumber": 1}]}),
            "partETags[0].etag must be a string, not an object",
        ),
    ] {
        assert_compat_failure(&format!("complete {body}"), complete(body.clone()), says);
        cases += 1;
    }
    let file_url =
        compat_ok("complete", complete(json!({"fileKey": file_key, "uploadId": upload_id, "partETags": good_parts})));
    let file_url = file_url.as_str().expect("file URL").to_string();

    // dataset: every field, then the same upload still becomes its dataset.
    let dataset = |body: Value| raw(&server, "POST", "/fedmlOpsServer/api/v1/cli/dataset", Some(&body.to_string()));
    let with = |key: &str, value: Value| {
        let mut body = json!({"datasetName": "typed", "description": "d", "fileSize": 70, "fileUrl": file_url, "tagNameList": ["a"]});
        body[key] = value;
        body
    };
    for (body, says) in [
        (with("tagNameList", json!(["a", "b", 3])), "tagNameList[2] must be a string, not a number"),
        (with("tagNameList", json!([null])), "tagNameList[0] must be a string, not null"),
        (with("tagNameList", json!([["a"]])), "tagNameList[0] must be a string, not a list"),
        (with("tagNameList", json!([{"name": "a"}])), "tagNameList[0] must be a string, not an object"),
        (with("tagNameList", json!("a,b")), "tagNameList must be a list of strings, not a string"),
        (with("tagNameList", json!(7)), "tagNameList must be a list of strings, not a number"),
        (with("description", json!(7)), "description must be a string, not a number"),
        (with("description", json!(["d"])), "description must be a string, not a list"),
        (with("description", json!({"text": "d"})), "description must be a string, not an object"),
        (with("description", json!(false)), "description must be a string, not a boolean"),
        (with("datasetName", json!(1)), "datasetName must be a string, not a number"),
        (with("datasetName", json!(null)), "datasetName is missing"),
        (with("datasetName", json!(["typed"])), "datasetName must be a string, not a list"),
        (with("fileUrl", json!({"url": file_url})), "fileUrl must be a string, not an object"),
        (with("fileSize", json!("70")), "fileSize must be a whole number"),
        (with("fileSize", json!(-70)), "fileSize must be a whole number"),
        (json!("typed"), "the request body must be a JSON object, not a string"),
    ] {
        assert_compat_failure(&format!("dataset {body}"), dataset(body.clone()), says);
        cases += 1;
    }
    assert!(stored_names(&server).is_empty(), "nothing stored by a refused request");
    // What the SDK sends (a null description, no tags) is still taken.
    let mut body = with("description", Value::Null);
    body["tagNameList"] = json!([]);
    let meta = compat_ok("dataset", dataset(body));
    assert_eq!(
        (meta["datasetName"].as_str(), meta["description"].as_str(), meta["fileSize"].as_u64()),
        (Some("typed"), Some(""), Some(70))
    );
    assert_eq!(stored_names(&server), vec!["typed".to_string()]);
    assert!(cases >= 40, "{cases} cases");
}
