//! Operations behind the FedML SDK 0.9.6 routes (`compat_routes`): its upload comes in three
//! steps — presigned part URLs for a client-built file key, completion of the parts, then a
//! dataset record that names the object — which map onto our upload session: the session is
//! opened at the first step, its blob finished (and checksummed, since the SDK sends no
//! checksum) at the second, and the object committed at the third, in the same transaction as a
//! native upload. Everything else (list, metadata, download, delete) is the native operation.
//!
//! Security is ours, not the SDK's: file keys must sit under the caller's own id, a dataset
//! record only accepts a file URL this server issued to the same caller, and sizes and checksums
//! are derived here, never taken from the client.

use fedml_proto::{CompletedPart, ObjectKind, ObjectMeta, rules};

use super::{Caller, Completion, FinishedBlob, MAX_PARTS, Need, Platform, check_open};
use crate::catalogue::{UploadRecord, UploadState};
use crate::error::{Error, Result};
use crate::time::now_ms;

/// The SDK cuts every part but the last to exactly this size.
pub const SDK_PART_SIZE: u64 = 20 * 1024 * 1024;
/// The path under which finished SDK uploads are referred to until their dataset record.
pub const FILE_URL_PATH: &str = "/fedml-compat/files/";

/// What the SDK's presign call answers.
pub struct Presigned {
    pub upload_id: String,
    pub urls: Vec<String>,
}

impl Platform {
    /// Splits `<uid>/<file name>`, checks that the uid is the caller's, and answers the file
    /// name in its normal form (as every name is kept: `rules::normal_name`).
    fn own_file_name(caller: &Caller, file_key: &str) -> Result<String> {
        let (uid, file_name) = file_key
            .split_once('/')
            .ok_or_else(|| Error::Invalid(format!("fileKey {file_key:?} must read <user id>/<file name>")))?;
        if uid != caller.user_id {
            return Err(Error::Forbidden("fileKey must start with your own user id".into()));
        }
        rules::normal_name(file_name).map_err(|m| Error::Invalid(format!("fileKey: {m}")))
    }

    /// Step 1: opens a session for `file_key` and presigns `part_count` part URLs.
    pub async fn compat_presign(&self, caller: &Caller, file_key: &str, part_count: u32) -> Result<Presigned> {
        // The FedML SDK's routes stay on the caller's own namespace.
        let here = self.enter(caller, None, Need::Write).await?;
        let file_name = Self::own_file_name(caller, file_key)?;
        if part_count > MAX_PARTS {
            return Err(Error::Invalid(format!("at most {MAX_PARTS} parts")));
        }
        let service = self.default_service.clone();
        let store = self.store(&service)?;
        // Provisional name and kind: the dataset record names the object and says what it is.
        let mut upload = self.new_session(caller, &here, file_name, ObjectKind::File, service.clone(), SDK_PART_SIZE);
        // The SDK cuts parts of 20 MiB: that is the most this upload can hold of the quota.
        upload.reserved_bytes = u64::from(part_count) * SDK_PART_SIZE;
        let upload = self.begin_session(store, upload).await?;
        let expires_at = upload.expires_at / 1000;
        let mut urls = Vec::with_capacity(part_count as usize);
        for n in 1..=part_count {
            urls.push(store.part_url(&service, &upload, n, expires_at).await?);
        }
        self.observe.metrics.upload_urls(upload.part_size, urls.len());
        Ok(Presigned { upload_id: upload.id, urls })
    }

    /// Step 2: finishes the blob from the parts the SDK reports (through the same
    /// [`Platform::finish_upload`] as every upload) and keeps it waiting for its dataset record;
    /// answers the file URL that the dataset record must bring back.
    pub async fn compat_complete(
        &self,
        caller: &Caller,
        file_key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<String> {
        super::access::may_change(caller)?;
        let file_name = Self::own_file_name(caller, file_key)?;
        let upload = self.own_upload(caller, upload_id).await?;
        if upload.name != file_name {
            return Err(Error::Invalid("this upload id belongs to another file".into()));
        }
        check_open(&upload)?;
        let blob = self.finish_upload(&upload, Completion { parts: &parts, size: None, checksum: None }).await?;
        match self.catalogue.set_blob_result(&upload.id, blob.size, &blob.checksum).await {
            Ok(true) => {}
            // Ended meanwhile (its expiry, its key's revocation): whoever ended it cleans up.
            Ok(false) => return Err(self.moved(&upload.id).await),
            Err(e) => {
                self.end_claimed(&upload, UploadState::Completing).await;
                return Err(e.into());
            }
        }
        Ok(format!("{}{FILE_URL_PATH}{}", self.public_url.trim_end_matches('/'), upload.id))
    }

    /// Step 3: the dataset record commits the object under `dataset_name`. A directory arrives as
    /// `<dataset name>.zip`; anything else is a file. A description or tags left out (`None`)
    /// are not given, as in every upload.
    pub async fn compat_create_dataset(
        &self,
        caller: &Caller,
        dataset_name: &str,
        description: Option<String>,
        tags: Option<Vec<String>>,
        file_url: &str,
    ) -> Result<ObjectMeta> {
        let here = self.enter(caller, None, Need::Write).await?;
        let name = self.stored_name(&here, dataset_name).await?;
        // Refused before the session is claimed, so that the SDK can name it again.
        if let Some(other) = self.catalogue.name_clash_now(&here.id, &name).await? {
            return Err(crate::error::name_clash(&name, &other));
        }
        if let Some(description) = &description {
            rules::check_description(description).map_err(Error::Invalid)?;
        }
        if let Some(tags) = &tags {
            rules::check_tags(tags).map_err(Error::Invalid)?;
        }
        let refused = || Error::Forbidden("fileUrl is not a file this server issued to you".into());
        let path_start = file_url.find(FILE_URL_PATH).ok_or_else(refused)?;
        let upload_id = &file_url[path_start + FILE_URL_PATH.len()..];
        let upload = match self.own_upload(caller, upload_id).await {
            Ok(u) => u,
            Err(Error::NotFound(_)) => return Err(refused()),
            Err(e) => return Err(e),
        };
        let (UploadState::Finished, Some(size), Some(checksum)) =
            (upload.state, upload.blob_size, upload.blob_checksum.clone())
        else {
            return Err(match upload.state {
                UploadState::Open | UploadState::Completing => {
                    Error::Invalid("that file's upload is not complete yet".into())
                }
                _ => Error::Conflict(
                    "that file's upload has already been recorded as a dataset, or was abandoned; upload it again"
                        .into(),
                ),
            });
        };
        if upload.expires_at < now_ms() {
            return Err(Error::Conflict("that file's upload has expired; upload it again".into()));
        }
        let kind = if rules::same_name(&upload.name, &format!("{name}.zip")) {
            ObjectKind::Directory
        } else {
            ObjectKind::File
        };
        let named = UploadRecord { name, kind, description, tags, ..upload };
        self.commit(
            &named,
            UploadState::Finished,
            &FinishedBlob { size, checksum, content: None, attributes: Default::default(), expected_version: None },
        )
        .await
    }
}
