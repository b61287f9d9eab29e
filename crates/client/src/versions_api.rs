//! Versions: the SDK's calls that list the versions of an object, compare two, and remove one.
//! Every other call takes a version where it reads one (`version` of [`crate::DownloadOptions`],
//! [`crate::get_storage_metadata_with`], …) and means the latest without it.

pub use fedml_proto::{DeletedVersion, ObjectVersion};

use crate::client::ObjectRef;
use crate::error::ClientError;
pub use crate::transfer::versions::{Change, FileChange, VersionChanges};
use crate::{FedMLResponse, Target, block_on, transfer};

/// Every version of object `data_name` the server keeps, newest first: the first is the latest,
/// the one every call without a version reads. An upload with `overwrite` adds one; the
/// server's retention removes the oldest.
pub fn list_versions_with(data_name: &str, target: &Target) -> FedMLResponse<Vec<ObjectVersion>> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        block_on(client.versions(data_name))
    })();
    FedMLResponse::from_result(result, |v| format!("{} versions of {data_name:?}", v.len()))
}

/// Versions `from` and `to` (the latest with `None`) of object `data_name` compared: for a
/// directory, the files added, removed and changed (from the two lists of files, without
/// fetching any file), and the bytes of stored content the two versions share.
pub fn diff_versions_with(
    data_name: &str,
    from: u64,
    to: Option<u64>,
    target: &Target,
) -> FedMLResponse<VersionChanges> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        block_on(transfer::versions::diff(&client, data_name, from, to))
    })();
    FedMLResponse::from_result(result, |d| {
        let (from, to) = (d.from.version, d.to.version);
        format!("{} files differ between versions {from} and {to} of {data_name:?}", d.files.len())
    })
}

/// Removes version `version` of object `data_name`. Removing the latest makes the newest
/// earlier version the latest again (`data.latest` says which); removing the only version
/// removes the name (`data.name_deleted`).
pub fn delete_version_with(
    data_name: &str,
    version: u64,
    service: Option<&str>,
    target: &Target,
) -> FedMLResponse<DeletedVersion> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        block_on(client.delete_version(ObjectRef { name: data_name, service, version: Some(version) }))
    })();
    FedMLResponse::from_result(result, |d| match (d.latest, d.name_deleted) {
        (Some(latest), _) => format!("deleted version {version} of {data_name:?}; version {latest} is the latest now"),
        (None, true) => format!("deleted {data_name:?}: version {version} was its only version"),
        (None, false) => format!("deleted version {version} of {data_name:?}"),
    })
}
