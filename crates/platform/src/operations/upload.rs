//! Uploads: opening a session, receiving its parts (local folder), finishing its bytes and
//! committing the object, aborting.
//!
//! Every upload — native or FedML SDK — ends through [`Platform::finish_upload`] and
//! [`Platform::commit`]. Of any number of requests racing on one session (completions, aborts,
//! part uploads, the collector, a key's revocation) exactly one moves it on: each step is a
//! compare-and-set of its [`UploadState`] in the catalogue, and only the request that made a move
//! cleans up after a failure ([`Platform::end_claimed`]). On the local folder, parts and the
//! completion also exclude each other on the staging file itself (see `blobs::local::PartSlot`),
//! so committed bytes never change.

use fedml_proto::content::Layout;
use fedml_proto::rules;
use fedml_proto::{
    CompleteUpload, CompletedPart, CompletedUpload, CreateUpload, ObjectKind, ObjectMeta, PartUrl, UploadSession,
};

use super::{Caller, Here, MAX_OBJECT_SIZE, MAX_PARTS, Need, Platform, name_taken, part_size_for};
use crate::blobs::{BlobError, BlobStore};
use crate::catalogue::{Attributes, CatalogueError, Made, PartRecord, StoredContent, UploadRecord, UploadState};
use crate::error::{Error, Result};
use crate::keys;
use crate::time::{now_ms, now_secs};

/// What a client says it sent to complete an upload. The FedML SDK sends neither size nor
/// checksum: then the size is what the store holds and the checksum is read back from it.
pub(crate) struct Completion<'a> {
    pub parts: &'a [CompletedPart],
    pub size: Option<u64>,
    pub checksum: Option<&'a str>,
}

/// A session's bytes, finished by the request that claimed the session: one blob, or for a
/// packed file its content and the samples of its new packs (`(chunk id, pack key)`).
pub(crate) struct FinishedBlob {
    pub size: u64,
    pub checksum: String,
    pub content: Option<(StoredContent, Vec<(String, String)>)>,
    pub attributes: Attributes,
    /// Commit only if the name's latest version is this one.
    pub expected_version: Option<u64>,
}

impl Platform {
    /// Opens an upload session into `req.namespace` (the caller's own when left out).
    pub async fn create_upload(&self, caller: &Caller, req: CreateUpload) -> Result<UploadSession> {
        let here = self.enter(caller, req.namespace.as_deref(), Need::Write).await?;
        let name = self.stored_name(&here, &req.name).await?;
        if let Some(description) = &req.description {
            rules::check_description(description).map_err(Error::Invalid)?;
        }
        if let Some(tags) = &req.tags {
            rules::check_tags(tags).map_err(Error::Invalid)?;
        }
        if let Some(metadata) = &req.metadata {
            rules::check_metadata(metadata).map_err(Error::Invalid)?;
        }
        let store = self.store(&req.service)?;
        let size = req.size.unwrap_or(0);
        if size > MAX_OBJECT_SIZE {
            return Err(Error::Invalid(format!(
                "{size} bytes is more than the largest object this server stores ({MAX_OBJECT_SIZE} bytes)"
            )));
        }
        if !req.overwrite && self.catalogue.object_exists(&here.id, &name).await? {
            return Err(name_taken(&name));
        }
        if let Some(other) = self.catalogue.name_clash_now(&here.id, &name).await? {
            return Err(crate::error::name_clash(&name, &other));
        }
        let mut upload = self.new_session(caller, &here, name, req.kind, req.service, part_size_for(size));
        // A directory's size is an estimate (its archive is packed while streaming).
        upload.declared_size = if req.kind == ObjectKind::File { req.size } else { None };
        // What it holds of the quota, and the most it may store: the size announced (for a
        // directory an upper bound), else all its parts can hold.
        upload.reserved_bytes = req.size.unwrap_or(upload.part_size * u64::from(MAX_PARTS));
        upload.description = req.description;
        upload.tags = req.tags;
        upload.metadata = req.metadata;
        upload.overwrite = req.overwrite;
        upload.layout = req.layout;
        let upload = self.begin_session(store, upload).await?;
        let expires_at = upload.expires_at / 1000;
        Ok(UploadSession {
            upload_id: upload.id,
            part_size: upload.part_size,
            max_parts: MAX_PARTS,
            expires_at,
            layout: upload.layout,
        })
    }

    /// A fresh, open session record of the caller's key into namespace `here` (not stored yet),
    /// writing to a fresh blob key.
    pub(crate) fn new_session(
        &self,
        caller: &Caller,
        here: &Here,
        name: String,
        kind: ObjectKind,
        service: String,
        part_size: u64,
    ) -> UploadRecord {
        let id = keys::random_hex(16);
        UploadRecord {
            blob_key: format!("{}/{}", here.id, id),
            id,
            owner_id: here.id.clone(),
            name,
            kind,
            service,
            declared_size: None,
            part_size,
            description: None,
            tags: None,
            metadata: None,
            overwrite: false,
            store_upload_id: String::new(),
            key_id: Some(caller.key_id.clone()),
            state: UploadState::Open,
            expires_at: (now_secs() + self.lifetimes.upload_secs) * 1000,
            blob_size: None,
            blob_checksum: None,
            reserved_bytes: 0,
            layout: Layout::Blob,
            attributes: Default::default(),
        }
    }

    /// Starts the session in its store and records it, reserving its `reserved_bytes` of its
    /// owner's quota (refused when they do not fit); nothing is left behind if either fails.
    pub(crate) async fn begin_session(&self, store: &BlobStore, mut upload: UploadRecord) -> Result<UploadRecord> {
        // A packed session has nothing in the store of its own: its packs are recorded one by one.
        if upload.layout == Layout::Packs {
            self.catalogue.insert_upload(&upload, &self.quota).await?;
            return Ok(upload);
        }
        if !store.names_its_uploads() {
            // The record first: a crash between the two steps then leaves a session that the
            // collector expires, never a staging file that no record points at.
            self.catalogue.insert_upload(&upload, &self.quota).await?;
            if let Err(e) = store.begin_upload(&upload).await {
                self.end_claimed(&upload, UploadState::Open).await;
                return Err(e.into());
            }
            return Ok(upload);
        }
        upload.store_upload_id = store.begin_upload(&upload).await?;
        if let Err(e) = self.catalogue.insert_upload(&upload, &self.quota).await {
            let _ = store.abort_upload(&upload).await;
            return Err(e.into());
        }
        Ok(upload)
    }

    /// Loads an upload session of the caller's, in whatever state, for writing to it. A session
    /// belongs to the key that opened it: any other caller, another key of the same user
    /// included, is told it does not exist, exactly as for an id that was never issued. The
    /// key must still be allowed to write into the session's namespace (a member removed
    /// meanwhile is refused from then on).
    pub(crate) async fn own_upload(&self, caller: &Caller, upload_id: &str) -> Result<UploadRecord> {
        super::access::may_change(caller)?;
        let upload = match self.catalogue.upload(upload_id).await {
            Ok(u) if u.key_id.as_deref().map_or(u.owner_id == caller.user_id, |k| k == caller.key_id) => u,
            Ok(_) | Err(CatalogueError::NotFound) => {
                return Err(Error::NotFound(format!("no upload session {upload_id:?}; start the upload again")));
            }
            Err(e) => return Err(e.into()),
        };
        self.enter_id(caller, &upload.owner_id, Need::Write).await?;
        Ok(upload)
    }

    /// Loads an upload session of the caller's that is still open.
    pub(crate) async fn open_upload(&self, caller: &Caller, upload_id: &str) -> Result<UploadRecord> {
        let upload = self.own_upload(caller, upload_id).await?;
        check_open(&upload)?;
        Ok(upload)
    }

    pub async fn part_urls(&self, caller: &Caller, upload_id: &str, first: u32, count: u32) -> Result<Vec<PartUrl>> {
        let upload = self.open_upload(caller, upload_id).await?;
        if first == 0 || count == 0 || count > 1000 || first.saturating_add(count - 1) > MAX_PARTS {
            return Err(Error::Invalid(format!("part numbers run from 1 to {MAX_PARTS}, at most 1000 per request")));
        }
        let store = self.store(&upload.service)?;
        let expires = upload.expires_at / 1000;
        let mut urls = Vec::with_capacity(count as usize);
        for n in first..first + count {
            urls.push(PartUrl { part_number: n, url: store.part_url(&upload.service, &upload, n, expires).await? });
        }
        self.observe.metrics.upload_urls(upload.part_size, urls.len());
        Ok(urls)
    }

    /// The open upload session behind a signed part URL (the signature was checked by the caller).
    async fn upload_for_part(&self, upload_id: &str, part_number: u32) -> Result<UploadRecord> {
        if part_number == 0 || part_number > MAX_PARTS {
            return Err(Error::Invalid(format!("part numbers run from 1 to {MAX_PARTS}")));
        }
        let upload = self.catalogue.upload(upload_id).await.map_err(|e| match e {
            CatalogueError::NotFound => Error::NotFound("no such upload session".into()),
            e => e.into(),
        })?;
        check_open(&upload)?;
        Ok(upload)
    }

    /// Receives part `part_number` of a session into the local folder `service` from a signed
    /// part URL (the signature was checked by the caller); answers the part's ETag.
    ///
    /// The part is written and recorded under the staging file's shared lock, and the session
    /// is checked to be open once that lock is held: a completion claims the session only under
    /// the exclusive lock, so a part either lands before the completion reads the parts, or is
    /// refused — it can never change bytes a completion has checked or committed.
    pub async fn receive_part<S, E>(
        &self,
        service: &str,
        upload_id: &str,
        part_number: u32,
        mut body: S,
    ) -> Result<String>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Ok(BlobStore::Local(store)) = self.store(service) else {
            return Err(Error::NotFound("no such blob".into()));
        };
        let upload = self.upload_for_part(upload_id, part_number).await?;
        if upload.service != service {
            return Err(Error::Forbidden("this URL does not belong to that service".into()));
        }
        let slot = match store.open_part(&upload) {
            Ok(slot) => slot,
            Err(BlobError::NotFound) => return Err(self.moved(upload_id).await),
            Err(e) => return Err(e.into()),
        };
        let upload = self.upload_for_part(upload_id, part_number).await?;
        let (size, crc) = match store.write_part(&slot, &upload, part_number, &mut body).await {
            Ok(written) => written,
            Err(e) => return Err(super::refused_after(e, upload.part_size, body).await),
        };
        let etag = format!("\"{crc:08x}\"");
        if !self.catalogue.put_part(&upload.id, &PartRecord { part_number, size, etag: etag.clone() }).await? {
            return Err(self.moved(upload_id).await);
        }
        drop(slot);
        Ok(etag)
    }

    /// Completes a native upload: checks the client's account of its parts against what the
    /// store received, finishes the bytes and commits the object. Asked again for a session it
    /// already committed, it answers the same object (a client retrying a completion whose answer
    /// it lost), as long as that object still holds these bytes.
    pub async fn complete_upload(
        &self,
        caller: &Caller,
        upload_id: &str,
        req: CompleteUpload,
    ) -> Result<CompletedUpload> {
        let upload = self.own_upload(caller, upload_id).await?;
        if upload.state == UploadState::Committed {
            return self.completed_before(&upload, &req).await;
        }
        if upload.layout == Layout::Packs {
            return self.complete_packed(&upload, req).await;
        }
        if req.content.is_some() {
            return Err(Error::Invalid("this upload session sends parts; its completion names no packs".into()));
        }
        check_open(&upload)?;
        let completion = Completion { parts: &req.parts, size: Some(req.size), checksum: Some(&req.checksum) };
        let blob = self.finish_upload(&upload, completion).await?;
        let object = self.commit(&upload, UploadState::Completing, &blob).await?;
        let url = self.object_url(&upload.owner_id, &object.data_name).await;
        Ok(CompletedUpload { url, object, transfer: None })
    }

    /// The answer to a completion of a session committed before: its object, if it still holds
    /// the bytes the client describes.
    async fn completed_before(&self, upload: &UploadRecord, req: &CompleteUpload) -> Result<CompletedUpload> {
        let changed = || {
            Error::Conflict(format!(
                "this upload session was completed earlier, and {:?} has been replaced or deleted since",
                upload.name
            ))
        };
        let record = match self.catalogue.object(&upload.owner_id, &upload.name).await {
            Ok(record) => record,
            Err(CatalogueError::NotFound) => return Err(changed()),
            Err(e) => return Err(e.into()),
        };
        if record.blob_key != upload.blob_key {
            return Err(changed());
        }
        if record.meta.checksum != req.checksum || record.meta.size != req.size {
            return Err(Error::Conflict(
                "this upload session was completed earlier with other bytes than this request describes".into(),
            ));
        }
        let url = self.object_url(&upload.owner_id, &record.meta.data_name).await;
        Ok(CompletedUpload { object: record.meta, url, transfer: None })
    }

    /// Finishes the bytes of an open session: the one path by which every upload, native or
    /// FedML SDK, ends. Seals the store's bytes (no part lands any more), checks the parts,
    /// claims the session (`open` → `completing`; a request that loses this race is told who
    /// won), and makes the blob. Once claimed, any failure ends the session in one place.
    pub(crate) async fn finish_upload(
        &self,
        upload: &UploadRecord,
        completion: Completion<'_>,
    ) -> Result<FinishedBlob> {
        let store = self.store(&upload.service)?;
        let seal = match store.seal(upload).await {
            Ok(seal) => seal,
            Err(BlobError::NotFound) => return Err(self.moved(&upload.id).await),
            Err(e) => return Err(e.into()),
        };
        // Sealed now: had another completion claimed the session while this one waited for the
        // seal, it shows here (and its parts are gone); so does an expiry, after which the
        // collector may empty the bytes of a session whose abort it cannot record.
        check_open(&self.catalogue.upload(&upload.id).await?)?;
        let stored = if store.records_parts() { Some(self.catalogue.parts(&upload.id).await?) } else { None };
        let received = check_completion(upload, stored.as_deref(), &completion)?;
        if !self.catalogue.move_upload(&upload.id, UploadState::Open, UploadState::Completing).await? {
            return Err(self.moved(&upload.id).await);
        }
        let finished = async {
            let held = store.finish_upload(upload, received, completion.parts, seal).await?;
            if held > upload.reserved_bytes {
                return Err(Error::Invalid(format!(
                    "the upload holds {held} bytes, more than the {} it announced when it started; start it again \
                     announcing its true size",
                    upload.reserved_bytes
                )));
            }
            if let Some(size) = completion.size
                && held != size
            {
                return Err(Error::Invalid(format!(
                    "the store holds {held} bytes but the client sent {size}; upload again"
                )));
            }
            let checksum = match completion.checksum {
                Some(checksum) => checksum.to_string(),
                None => store.checksum(&upload.blob_key).await?,
            };
            Ok(FinishedBlob {
                size: held,
                checksum,
                content: None,
                attributes: Default::default(),
                expected_version: None,
            })
        }
        .await;
        if finished.is_err() {
            self.end_claimed(upload, UploadState::Completing).await;
        }
        finished
    }

    /// Commits a finished blob as the session's object, moving the session from `from`
    /// (`completing`, or `finished` for a FedML SDK upload) to `committed`. On failure the
    /// session ends and its bytes go.
    pub(crate) async fn commit(
        &self,
        upload: &UploadRecord,
        from: UploadState,
        blob: &FinishedBlob,
    ) -> Result<ObjectMeta> {
        let made = Made {
            size: blob.size,
            checksum: &blob.checksum,
            content: blob.content.as_ref().map(|(content, samples)| (content, samples.as_slice())),
            attributes: &blob.attributes,
            expected_version: blob.expected_version,
        };
        match self.catalogue.commit_upload(upload, from, &made, self.reclaim_after()).await {
            Ok(object) => {
                self.audit_commit(upload, &object).await;
                Ok(object)
            }
            // Ended meanwhile (its expiry, its key's revocation): whoever ended it cleans up.
            Err(CatalogueError::Moved) => Err(self.moved(&upload.id).await),
            Err(e) => {
                self.end_claimed(upload, from).await;
                Err(match e {
                    CatalogueError::NameTaken => name_taken(&upload.name),
                    e => e.into(),
                })
            }
        }
    }

    /// Ends a session this request holds in state `from` after a failure — the one clean-up
    /// path of every upload. Its bytes go to the collector, which removes them now unless an
    /// object points at them. If the session has moved on meanwhile, whoever moved it owns it,
    /// and nothing is touched here.
    pub(crate) async fn end_claimed(&self, upload: &UploadRecord, from: UploadState) {
        match self.catalogue.abort_upload(upload, from, now_ms()).await {
            Ok(true) => {
                if let Err(e) = self.collect_garbage().await {
                    tracing::warn!(error = %e, "cannot reclaim an abandoned upload now; the collector will");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot record an abandoned upload; it ends at its expiry"),
        }
    }

    /// Aborts one of the caller's sessions: `Ok(true)` when this call ended it, `Ok(false)` when
    /// it had already been aborted. A session being completed or committed is not aborted, and
    /// the answer says so.
    pub async fn abort_upload(&self, caller: &Caller, upload_id: &str) -> Result<bool> {
        let upload = self.own_upload(caller, upload_id).await?;
        match upload.state {
            UploadState::Aborted => return Ok(false),
            UploadState::Completing | UploadState::Committed => return Err(state_error(&upload)),
            UploadState::Open | UploadState::Finished => {}
        }
        if self.catalogue.abort_upload(&upload, upload.state, now_ms()).await? {
            self.collect_garbage().await?;
            return Ok(true);
        }
        match self.catalogue.upload(upload_id).await? {
            u if u.state == UploadState::Aborted => Ok(false),
            u => Err(state_error(&u)),
        }
    }

    /// The truthful refusal for a request that found its session moved on by another.
    pub(crate) async fn moved(&self, upload_id: &str) -> Error {
        match self.catalogue.upload(upload_id).await {
            Ok(upload) => state_error(&upload),
            Err(CatalogueError::NotFound) => Error::NotFound("no such upload session; start the upload again".into()),
            Err(e) => e.into(),
        }
    }
}

/// Why a session in its present state cannot take a request that needs it open.
fn state_error(upload: &UploadRecord) -> Error {
    Error::Conflict(match upload.state {
        UploadState::Open if upload.expires_at < now_ms() => {
            "the upload session has expired; start the upload again".to_string()
        }
        UploadState::Open => "the upload session is still open; complete it once every part is sent".to_string(),
        UploadState::Completing => "another request is completing this upload session right now; wait for its \
                                    answer, or list your objects to see the result"
            .to_string(),
        UploadState::Finished => "this upload's bytes are complete and wait for their dataset record".to_string(),
        UploadState::Committed => {
            format!(
                "this upload session is already complete: {:?} is stored; start a new upload to change it",
                upload.name
            )
        }
        UploadState::Aborted => "the upload session was aborted (by an abort, a failure, its expiry or the \
                                 revocation of its key); start the upload again"
            .to_string(),
    })
}

pub(crate) fn check_open(upload: &UploadRecord) -> Result<()> {
    if upload.state != UploadState::Open || upload.expires_at < now_ms() {
        return Err(state_error(upload));
    }
    Ok(())
}

/// Checks a client's account of an upload (and, where the store recorded each part, what it
/// received: numbers, sizes, ETags); answers the bytes received where the store knows them. A
/// native completion lists at least one part and carries the checksum the client computed
/// while reading the data, which every download verifies.
fn check_completion(
    upload: &UploadRecord,
    stored: Option<&[PartRecord]>,
    completion: &Completion<'_>,
) -> Result<Option<u64>> {
    let parts = completion.parts;
    let native = completion.checksum.is_some();
    if parts.len() > MAX_PARTS as usize || (native && parts.is_empty()) {
        return Err(Error::Invalid(format!("an upload has 1 to {MAX_PARTS} parts; {} listed", parts.len())));
    }
    for (i, given) in parts.iter().enumerate() {
        if given.part_number != i as u32 + 1 {
            return Err(Error::Invalid(format!("part {} is missing; parts must run 1, 2, 3, …", i + 1)));
        }
    }
    let received = match stored {
        // The FedML SDK sends no part for an empty file.
        Some([]) if parts.is_empty() => Some(0),
        Some(stored) => Some(check_received(upload, stored, parts)?),
        None => None,
    };
    if let (Some(total), Some(size)) = (received, completion.size)
        && total != size
    {
        return Err(Error::Invalid(format!("the parts hold {total} bytes but the request says {size}; upload again")));
    }
    if let (Some(declared), Some(total)) = (upload.declared_size, received.or(completion.size))
        && declared != total
    {
        return Err(Error::Invalid(format!(
            "the file was announced as {declared} bytes but {total} arrived; did it change during the upload?"
        )));
    }
    if let Some(checksum) = completion.checksum {
        check_checksum(checksum)?;
    }
    Ok(received)
}

/// A client's checksum must read `blake3:<64 lowercase hex digits>`.
pub(super) fn check_checksum(checksum: &str) -> Result<()> {
    let prefix = fedml_proto::checksum::PREFIX;
    if !checksum.starts_with(prefix) || checksum.len() != prefix.len() + 64 {
        return Err(Error::Invalid("checksum must read blake3:<64 hex digits>".into()));
    }
    if !checksum[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(Error::Invalid("checksum must read blake3:<64 lowercase hex digits>".into()));
    }
    Ok(())
}

/// Compares the parts a store recorded with the client's list; returns the bytes received.
fn check_received(upload: &UploadRecord, stored: &[PartRecord], parts: &[CompletedPart]) -> Result<u64> {
    if parts.len() != stored.len() || stored.is_empty() {
        return Err(Error::Invalid(format!(
            "the store received {} parts, the request lists {}; upload the missing parts and complete again",
            stored.len(),
            parts.len()
        )));
    }
    let mut total = 0u64;
    let last = stored.len() - 1;
    for (i, (given, got)) in parts.iter().zip(stored).enumerate() {
        let number = i as u32 + 1;
        if got.part_number != number {
            return Err(Error::Invalid(format!("part {number} never reached the store; upload it again")));
        }
        if given.etag.trim_matches('"') != got.etag.trim_matches('"') {
            return Err(Error::Invalid(format!(
                "part {number} differs from what the store received (ETag mismatch); upload it again"
            )));
        }
        let size_ok = if i == last { got.size <= upload.part_size } else { got.size == upload.part_size };
        if !size_ok || (got.size == 0 && stored.len() > 1) {
            return Err(Error::Invalid(format!(
                "part {number} has {} bytes; every part but the last must have exactly {} bytes",
                got.size, upload.part_size
            )));
        }
        total += got.size;
    }
    Ok(total)
}
