//! Copies (S3's CopyObject): a new name for what an object (or one of its versions) holds.
//! Within one namespace and service a packed file's copy is a new object naming the same
//! packs and segments: no byte moves, nothing is stored again. Across namespaces (dedup never
//! crosses them) or from an object stored as one blob, the bytes are read and taken in anew.

use std::collections::BTreeMap;

use fedml_proto::ObjectKind;
use fedml_proto::content::NewPack;

use super::intake::{Body, PutRequest, Stored};
use super::upload::FinishedBlob;
use super::{Caller, Need, Platform};
use crate::error::{Error, Result};
use futures_util::StreamExt;

/// Where a copy goes and what it keeps.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    pub name: String,
    /// The copy's user metadata (`None`: the source's).
    pub metadata: Option<BTreeMap<String, String>>,
    /// The copy's media type (`None`: the source's).
    pub content_type: Option<String>,
    /// Only if no object has the name: else [`Error::Precondition`].
    pub create_only: bool,
}

impl Platform {
    /// Copies version `from_version` (the latest with `None`) of object `from` of `from_namespace`
    /// to `to.name` of `to_namespace`; answers the new object.
    pub async fn copy_object(
        &self,
        caller: &Caller,
        from_namespace: Option<&str>,
        from: &str,
        from_version: Option<u64>,
        to_namespace: Option<&str>,
        to: CopyRequest,
    ) -> Result<Stored> {
        let source_here = self.enter(caller, from_namespace, Need::Read).await?;
        let source = self.object_record(&source_here, from, from_version).await?;
        if source.meta.kind != ObjectKind::File {
            return Err(Error::Invalid(format!(
                "{from:?} is a directory object: copy the files inside it one by one, or download and upload it"
            )));
        }
        let here = self.enter(caller, to_namespace, Need::Write).await?;
        let mut attributes = source.attributes.clone();
        if to.content_type.is_some() {
            attributes.content_type = to.content_type.clone();
        }
        let req = PutRequest {
            name: to.name.clone(),
            size: Some(source.meta.size),
            content_type: attributes.content_type.clone(),
            metadata: Some(to.metadata.clone().unwrap_or_else(|| source.meta.user_metadata.clone())),
            create_only: to.create_only,
            content_md5: None,
            sha256: attributes.sha256.is_some(),
        };
        let same_store = source.meta.service == self.default_service && here.id == source_here.id;
        let Some(content) = source.content.clone().filter(|_| same_store) else {
            // The bytes travel: read where they are, taken in as a PUT.
            let body: Body = match &source.content {
                Some(content) => self
                    .read_assembled(&source.meta.service, content.clone(), (0, source.meta.size))?
                    .map(|piece| piece.map_err(Error::from))
                    .boxed(),
                None => {
                    let store = self.store(&source.meta.service)?;
                    store
                        .read_range(&self.http, &source.meta.service, &source.blob_key, 0, source.meta.size)
                        .await?
                        .map(|piece| piece.map_err(Error::from))
                        .boxed()
                }
            };
            return self.put_object(caller, to_namespace, req, body).await;
        };
        let upload = self.open_intake(caller, &here, &req, source.meta.size, super::intake::Shape::Whole, None).await?;
        // The source's packs, pinned for the session as a client's announced packs are.
        let pinned = async {
            let records = self.catalogue.packs_by_key(&content.packs).await?;
            let wanted: Vec<NewPack> = records.iter().map(|p| NewPack { pack: p.hash.clone(), size: p.size }).collect();
            let owner = upload.owner_id.clone();
            let new_key = move || format!("{owner}/pk{}", crate::keys::random_hex(16));
            let found = self.catalogue.reserve_packs(&upload, &wanted, &new_key).await?;
            if found.iter().any(|p| !p.existed) || found.len() != content.packs.len() {
                return Err(Error::Conflict(format!(
                    "the data of {from:?} changed while it was copied; copy it again"
                )));
            }
            Ok(())
        }
        .await;
        if let Err(e) = pinned {
            return Err(self.intake_failed(&upload, e).await);
        }
        let blob = FinishedBlob {
            size: source.meta.size,
            checksum: source.meta.checksum.clone(),
            content: Some((content, Vec::new())),
            attributes,
            expected_version: None,
        };
        let record = self.commit_taken(&upload, blob).await?;
        Ok(Stored { record })
    }
}
