//! The seed's calls exactly as the seed spells them (positional arguments, key from the login),
//! against a real server. One test in its own binary: it sets the process environment.

#[path = "e2e/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::BTreeMap;

use fedml_client::ResponseCode;
use harness::{TestServer, bytes};

#[test]
fn the_seed_calls_as_written() {
    let work = tempfile::tempdir().expect("tmp");
    // SAFETY: this binary runs this one test, and sets the environment before any thread starts.
    unsafe {
        std::env::set_var("FEDML_CONFIG_DIR", work.path().join("config"));
        std::env::remove_var("FEDML_API_KEY");
    }
    let server = TestServer::start();
    // SAFETY: as above; the server thread does not read the environment.
    unsafe { std::env::set_var("FEDML_SERVER_URL", &server.url) };

    let login = fedml_client::fedml_login(&server.admin_key);
    assert_eq!(login.code, ResponseCode::Success, "{}", login.message);

    let data_path = work.path().join("data");
    harness::sample_tree(&data_path);
    let metadata: BTreeMap<String, String> = [("key".to_string(), "value".to_string())].into();
    let response = fedml_client::upload(
        &data_path,
        None,
        "R2",
        Some("new_name_for_data_directory"),
        Some("description of data uploaded"),
        Some(metadata.clone()),
        true,
        true,
        None,
    );
    assert_eq!(response.code, ResponseCode::Success, "{}", response.message);
    assert!(response.data.expect("url").contains("new_name_for_data_directory"));

    let file = work.path().join("file.bin");
    std::fs::write(&file, bytes(1 << 20, 11)).expect("write");
    let response = fedml_client::upload(&file, Some(&server.admin_key), "R2", None, None, None, false, true, None);
    assert_eq!(response.code, ResponseCode::Success, "{}", response.message);

    let response = fedml_client::get_storage_metadata("new_name_for_data_directory", None);
    let meta = response.data.expect("metadata");
    assert_eq!(meta.description, "description of data uploaded");

    let response = fedml_client::get_storage_user_defined_metadata("new_name_for_data_directory", None);
    assert_eq!(response.data, Some(metadata));

    let response = fedml_client::list_storage_objects(None);
    let names: Vec<String> = response.data.expect("list").into_iter().map(|o| o.data_name).collect();
    assert_eq!(names, vec!["file.bin".to_string(), "new_name_for_data_directory".to_string()]);

    let dest = work.path().join("dataset");
    let response = fedml_client::download("new_name_for_data_directory", None, "R2", Some(&dest), true);
    assert_eq!(response.code, ResponseCode::Success, "{}", response.message);
    harness::assert_same_tree(&data_path, &response.data.expect("path"));

    let response = fedml_client::delete("new_name_for_data_directory", "R2", None);
    assert_eq!((response.code, response.data), (ResponseCode::Success, Some(true)));
    let response = fedml_client::delete("new_name_for_data_directory", "R2", None);
    assert_eq!(response.code, ResponseCode::Failure);

    let response = fedml_client::delete("file.bin", "S3", None);
    assert_eq!(response.code, ResponseCode::Failure, "S3 is not a service of this server");
    assert!(response.message.contains("R2"), "{}", response.message);
}
