use fedml_client::ResponseCode;

use crate::harness::*;

#[test]
fn keys_bad_revoked_and_read_only() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(100, 1)).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "shared")).is_success());

    for bad in ["", "garbage", "fml_0000000000000000_0000"] {
        let r = fedml_client::list_storage_objects_with(&server.target(bad));
        assert_eq!(r.code, ResponseCode::Failure, "{bad:?}");
    }
    let forged = server.admin_key[..server.admin_key.len() - 1].to_string() + "0";
    let forged = if forged == server.admin_key { forged.replace('0', "1") } else { forged };
    let r = fedml_client::list_storage_objects_with(&server.target(&forged));
    assert_eq!(r.code, ResponseCode::Failure);
    assert!(r.message.contains("not valid") && !r.message.contains(&forged), "{}", r.message);

    let ro = server.new_key("admin", true);
    assert!(fedml_client::list_storage_objects_with(&server.target(&ro)).is_success());
    assert!(fedml_client::get_storage_metadata_with("shared", None, &server.target(&ro)).is_success());
    let d = fedml_client::download_with("shared", &download_opts(server.target(&ro), &work.path().join("ro")));
    assert!(d.is_success(), "{}", d.message);
    let up = fedml_client::upload_with(&file, &upload_opts(server.target(&ro), "other"));
    assert_eq!(up.code, ResponseCode::Failure);
    assert!(up.message.contains("read-only"), "{}", up.message);
    let del = fedml_client::delete_with("shared", None, &server.target(&ro));
    assert_eq!(del.code, ResponseCode::Failure);
    assert!(fedml_client::get_storage_metadata_with("shared", None, &server.admin()).is_success(), "still there");

    let rw = server.new_key("admin", false);
    assert!(fedml_client::list_storage_objects_with(&server.target(&rw)).is_success());
    server.revoke(&rw);
    let r = fedml_client::list_storage_objects_with(&server.target(&rw));
    assert_eq!(r.code, ResponseCode::Failure);
    assert!(r.message.contains("revoked"), "{}", r.message);
}

#[test]
fn users_never_see_each_others_data() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("secret.bin");
    std::fs::write(&file, bytes(5000, 4)).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "secret")).is_success());
    let bob = server.target(&server.new_user("bob"));

    assert_eq!(fedml_client::list_storage_objects_with(&bob).data, Some(vec![]));
    assert_eq!(fedml_client::get_storage_metadata_with("secret", None, &bob).code, ResponseCode::Failure);
    assert_eq!(fedml_client::get_storage_user_defined_metadata_with("secret", None, &bob).code, ResponseCode::Failure);
    let d = fedml_client::download_with("secret", &download_opts(bob.clone(), &work.path().join("bob")));
    assert_eq!(d.code, ResponseCode::Failure);
    assert!(!work.path().join("bob/secret").exists());
    assert_eq!(fedml_client::delete_with("secret", None, &bob).code, ResponseCode::Failure);
    assert!(fedml_client::get_storage_metadata_with("secret", None, &server.admin()).is_success());

    // Bob may use the same name for his own data.
    std::fs::write(&file, b"bob's").expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(bob.clone(), "secret")).is_success());
    let admin_copy = work.path().join("admin");
    fedml_client::download_with("secret", &download_opts(server.admin(), &admin_copy));
    assert!(std::fs::read(admin_copy.join("secret")).expect("read") == bytes(5000, 4));
}

#[test]
fn signed_urls_refuse_tampering_expiry_and_absence() {
    let server = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f.bin");
    std::fs::write(&file, bytes(4096, 5)).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "f")).is_success());
    let client = fedml_client::client::Client::new(&server.url, &server.admin_key).expect("client");
    let ticket =
        fedml_client::block_on(client.download_ticket(fedml_client::client::ObjectRef::latest("f"))).expect("ticket");
    let status = |url: String| {
        fedml_client::block_on(async {
            Ok(client
                .http()
                .get(url)
                .send()
                .await
                .map_err(|e| fedml_client::error::ClientError::Error(e.to_string()))?
                .status()
                .as_u16())
        })
        .expect("request")
    };
    assert_eq!(status(ticket.url.clone()), 200);
    if server.backend.lacks("signature checking") {
        return;
    }
    let azure = matches!(server.backend, Backend::Cloud(fedml_server::ServiceSpec::Azure(_)));
    let (base, query) = ticket.url.split_once('?').expect("query");
    // Azure answers an anonymous read of a private container's blob 404.
    let unsigned = status(base.to_string());
    assert!(matches!(unsigned, 401 | 403) || (azure && unsigned == 404), "no signature: {unsigned}");
    let tampered_sig = match query.strip_suffix('0') {
        Some(rest) => format!("{rest}1"),
        None => format!("{}0", &query[..query.len() - 1]),
    };
    assert_eq!(status(format!("{base}?{tampered_sig}")), 403, "tampered signature");
    // Stretch the expiry: our URLs carry `exp`, S3's `X-Amz-Expires`, GCS's `X-Goog-Expires`,
    // Azure's `se` (a time: a year later).
    let (name, value) = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| ["exp", "X-Amz-Expires", "X-Goog-Expires", "se"].contains(k))
        .expect("an expiry parameter");
    let stretched = match value.parse::<i64>() {
        Ok(n) => (n + 1000).to_string(),
        Err(_) => value.replacen("20", "21", 1),
    };
    let later = query.replace(&format!("{name}={value}"), &format!("{name}={stretched}"));
    assert_eq!(status(format!("{base}?{later}")), 403, "extended expiry");
    let other_blob = format!("{}x?{query}", base);
    assert!(status(other_blob) >= 400, "another key");

    // An expired URL: a server whose download URLs live 1 second.
    let short =
        TestServer::start_with(fedml_platform::operations::Lifetimes { download_secs: 1, ..Default::default() });
    assert!(fedml_client::upload_with(&file, &upload_opts(short.admin(), "f")).is_success());
    let client2 = fedml_client::client::Client::new(&short.url, &short.admin_key).expect("client");
    let ticket =
        fedml_client::block_on(client2.download_ticket(fedml_client::client::ObjectRef::latest("f"))).expect("ticket");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(status(ticket.url), 403, "expired");
}
