//! Packed uploads and downloads: which packs the caller already holds, where to send the new
//! ones, the completion that checks a file's segments against its packs, and reading a packed
//! file whole for the clients that want one URL (the FedML SDK, `download_url`).
//!
//! Dedup never crosses owners: every lookup is of the caller's own packs, in the service the
//! session writes to. A pack the server says it holds is pinned for the session in the same
//! catalogue transaction (`Catalogue::known_packs`, `Catalogue::reserve_packs`), so the
//! collector cannot take it before the session ends.

use std::collections::HashMap;

use bytes::Bytes;
use fedml_proto::content::{
    self, ContentTicket, FileContent, KnownPack, KnownRequest, Layout, NewPack, PackTicket, PacksRequest, Segment,
};
use fedml_proto::{CompleteUpload, CompletedUpload};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use super::upload::{FinishedBlob, check_checksum, check_open};
use super::{Caller, Platform};
use crate::blobs::{BlobError, BlobStore};
use crate::catalogue::{CatalogueError, PackRecord, PackState, StoredContent, UploadRecord, UploadState};
use crate::error::{Error, Result};
use crate::keys;
use crate::time::now_secs;

/// The most sample chunks one lookup names, packs one request announces, and packs a lookup answers.
const MAX_SAMPLES: usize = 4096;
const MAX_PACKS_PER_REQUEST: usize = 256;
const MAX_KNOWN: u32 = 4096;
/// The most packs and segments one file names (a 5 TiB file of 8 MiB packs, and one segment per
/// smallest chunk of 8 GiB).
const MAX_FILE_PACKS: usize = 1 << 20;
const MAX_SEGMENTS: usize = 1 << 20;

impl Platform {
    /// A packed session of the caller's that is still open.
    async fn packed_upload(&self, caller: &Caller, upload_id: &str) -> Result<UploadRecord> {
        Self::require_write(caller)?;
        let upload = self.open_upload(caller, upload_id).await?;
        if upload.layout != Layout::Packs {
            return Err(Error::Invalid("this upload session sends parts, not packs".into()));
        }
        Ok(upload)
    }

    /// The caller's stored packs that hold any of the sample chunks (or, with `previous`, that
    /// the object this session replaces reads), pinned for the session, with URLs to read them.
    pub async fn known_packs(&self, caller: &Caller, upload_id: &str, req: KnownRequest) -> Result<Vec<KnownPack>> {
        let upload = self.packed_upload(caller, upload_id).await?;
        if req.chunks.len() > MAX_SAMPLES {
            return Err(Error::Invalid(format!("at most {MAX_SAMPLES} sample chunks per request")));
        }
        if let Some(bad) = req.chunks.iter().find(|c| !content::is_hex_id(c)) {
            return Err(Error::Invalid(format!("{bad:?} is not a chunk id (64 lowercase hex digits)")));
        }
        let found = self
            .catalogue
            .known_packs(&upload, &req.chunks, req.previous && upload.overwrite, MAX_KNOWN)
            .await
            .map_err(|e| self.session_error(e, &upload))?;
        let store = self.store(&upload.service)?;
        let expires = upload.expires_at / 1000;
        let mut out = Vec::with_capacity(found.len());
        for pack in found {
            let url = store.get_url(&upload.service, &pack.blob_key, expires).await?;
            out.push(KnownPack { pack: pack.hash, size: pack.size, url });
        }
        Ok(out)
    }

    /// For each pack an upload wants to store: already held (a pack of the caller's with the same
    /// id, pinned for the session), or a signed URL to PUT it to.
    pub async fn pack_tickets(&self, caller: &Caller, upload_id: &str, req: PacksRequest) -> Result<Vec<PackTicket>> {
        let upload = self.packed_upload(caller, upload_id).await?;
        if req.packs.is_empty() || req.packs.len() > MAX_PACKS_PER_REQUEST {
            return Err(Error::Invalid(format!("announce 1 to {MAX_PACKS_PER_REQUEST} packs per request")));
        }
        for pack in &req.packs {
            check_pack(pack)?;
        }
        let owner = upload.owner_id.clone();
        let new_key = move || format!("{owner}/pk{}", keys::random_hex(16));
        let expires = upload.expires_at / 1000;
        let records = self
            .catalogue
            .reserve_packs(&upload, &req.packs, &new_key)
            .await
            .map_err(|e| self.session_error(e, &upload))?;
        let store = self.store(&upload.service)?;
        let mut confirmed = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for pack in records {
            let held = match pack.state {
                PackState::Stored => true,
                // Announced by an earlier request (an interrupted upload, or a retry): stored
                // if the store holds it whole.
                PackState::Pending if pack.existed => store.blob_size(&pack.blob_key).await? == Some(pack.size),
                PackState::Pending => false,
            };
            if held {
                if pack.state == PackState::Pending {
                    confirmed.push(pack.blob_key.clone());
                }
                let resumed = pack.state == PackState::Pending;
                out.push(PackTicket { pack: pack.hash, stored: true, resumed, url: None, headers: Default::default() });
            } else {
                let (url, headers) = store.pack_url(&upload.service, &pack.blob_key, expires).await?;
                out.push(PackTicket { pack: pack.hash, stored: false, resumed: false, url: Some(url), headers });
            }
        }
        self.catalogue.mark_packs_stored(&confirmed).await?;
        Ok(out)
    }

    /// Receives a pack into the local folder `service` from a signed pack URL (the signature
    /// was checked by the caller); answers its ETag (the CRC-32C of what arrived). Refused once
    /// the catalogue no longer records the pack (its session ended and nothing else wanted it).
    pub async fn receive_pack<S, E>(&self, service: &str, blob_key: &str, mut body: S) -> Result<String>
    where
        S: futures_util::Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Ok(BlobStore::Local(store)) = self.store(service) else {
            return Err(Error::NotFound("no such blob".into()));
        };
        let pack = self.catalogue.pack(blob_key).await.map_err(|e| match e {
            CatalogueError::NotFound => {
                Error::NotFound("this pack is no longer wanted (its upload ended); start the upload again".into())
            }
            e => e.into(),
        })?;
        let crc = match store.write_pack(blob_key, pack.size, &mut body).await {
            Ok(crc) => crc,
            Err(e) => return Err(super::refused_after(e, pack.size, body).await),
        };
        // The session may have ended while the bytes arrived, and the collector found nothing to
        // remove yet: what was just linked into place would then be referenced by nothing.
        if let Err(CatalogueError::NotFound) = self.catalogue.pack(blob_key).await {
            let _ = self.store(service)?.delete(blob_key).await;
            return Err(Error::NotFound(
                "this pack is no longer wanted (its upload ended); start the upload again".into(),
            ));
        }
        Ok(format!("\"{crc:08x}\""))
    }

    /// Completes a packed upload: checks that every pack it names was announced in this session
    /// (or found for it) and is in the store whole, that the segments lie inside their packs and
    /// add up to the file, then commits the object in one transaction with its pack references.
    pub(super) async fn complete_packed(&self, upload: &UploadRecord, req: CompleteUpload) -> Result<CompletedUpload> {
        check_open(upload)?;
        let Some(file) = req.content else {
            return Err(Error::Invalid("a packed upload completes with its content: packs and segments".into()));
        };

        if !req.parts.is_empty() {
            return Err(Error::Invalid("a packed upload has no parts; name its packs and segments".into()));
        }
        check_checksum(&req.checksum)?;
        if let Some(declared) = upload.declared_size
            && declared != req.size
        {
            return Err(Error::Invalid(format!(
                "the file was announced as {declared} bytes but the completion describes {}; did it change during \
                 the upload?",
                req.size
            )));
        }
        if req.size > upload.reserved_bytes {
            return Err(Error::Invalid(format!(
                "the upload describes {} bytes, more than the {} it announced when it started; start it again \
                 announcing its true size",
                req.size, upload.reserved_bytes
            )));
        }
        let pinned: HashMap<String, PackRecord> =
            self.catalogue.pinned_packs(&upload.id).await?.into_iter().map(|p| (p.hash.clone(), p)).collect();
        check_content(&file, &pinned, req.size)?;
        // Checked as sent; then only the packs the file reads are kept (and confirmed, and kept
        // alive with the object).
        let file = file.trimmed();
        let packs = check_content(&file, &pinned, req.size)?;
        // Packs sent in this session: the store must hold each, whole.
        let store = self.store(&upload.service)?.clone();
        let pending: Vec<(String, String, u64)> = packs
            .iter()
            .filter(|p| p.state == PackState::Pending)
            .map(|p| (p.hash.clone(), p.blob_key.clone(), p.size))
            .collect();
        let sizes: Vec<(String, u64, Option<u64>)> = futures_util::stream::iter(pending)
            .map(|(hash, key, size)| {
                let store = store.clone();
                async move { Ok::<_, BlobError>((hash, size, store.blob_size(&key).await?)) }
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        if let Some((hash, size, found)) = sizes.iter().find(|(_, size, found)| *found != Some(*size)) {
            let found = found.map(|f| format!("{f} bytes")).unwrap_or_else(|| "nothing".into());
            return Err(Error::Invalid(format!(
                "pack {hash} should hold {size} bytes but the store holds {found}; send it again and complete again"
            )));
        }
        let confirmed: Vec<String> =
            packs.iter().filter(|p| p.state == PackState::Pending).map(|p| p.blob_key.clone()).collect();
        self.catalogue.mark_packs_stored(&confirmed).await?;
        let stored = StoredContent {
            packs: packs.iter().map(|p| p.blob_key.clone()).collect(),
            segments: file.segments.clone(),
        };
        let samples: Vec<(String, String)> =
            file.samples.iter().map(|(chunk, i)| (chunk.clone(), packs[*i as usize].blob_key.clone())).collect();
        if !self.catalogue.move_upload(&upload.id, UploadState::Open, UploadState::Completing).await? {
            return Err(self.moved(&upload.id).await);
        }
        let blob = FinishedBlob { size: req.size, checksum: req.checksum.clone(), content: Some((stored, samples)) };
        let object = self.commit(upload, UploadState::Completing, &blob).await?;
        Ok(CompletedUpload { url: self.object_url(&object.data_name), object, transfer: None })
    }

    /// How to read a packed file straight from its store: a signed URL per pack, until `expires`.
    pub(super) async fn content_ticket(
        &self,
        store: &BlobStore,
        service: &str,
        content: &StoredContent,
        expires: i64,
    ) -> Result<ContentTicket> {
        let mut packs = Vec::with_capacity(content.packs.len());
        for key in &content.packs {
            packs.push(store.get_url(service, key, expires).await?);
        }
        Ok(ContentTicket { packs, segments: content.segments.clone() })
    }

    /// The URL that reads a packed file whole, assembled by this server from its packs (for
    /// clients that take one URL: the FedML SDK, `download_url`).
    pub(super) fn assembled_url(&self, service: &str, blob_key: &str, expires: i64) -> String {
        let path = assembled_path(service, blob_key);
        format!("{}{path}?{}", self.public_url.trim_end_matches('/'), self.signer.sign("GET", &path, expires))
    }

    pub fn check_assembled_signature(
        &self,
        path: &str,
        exp: Option<i64>,
        sig: Option<&str>,
    ) -> std::result::Result<(), crate::signing::SignatureError> {
        self.signer.verify("GET", path, exp, sig, now_secs())
    }

    /// The packed file whose object row names `blob_key` in `service`: its size and a strong ETag
    /// (its checksum), and a reader of any of its byte ranges (see [`Platform::read_assembled`]).
    pub async fn assembled(&self, service: &str, blob_key: &str) -> Result<(u64, String, StoredContent)> {
        let gone = || Error::NotFound("the data behind this URL no longer exists".into());
        let record = self.catalogue.object_by_blob(service, blob_key).await.map_err(|e| match e {
            CatalogueError::NotFound => gone(),
            e => e.into(),
        })?;
        let content = record.content.ok_or_else(gone)?;
        let etag = format!("\"{}\"", record.meta.checksum.trim_start_matches(fedml_proto::checksum::PREFIX));
        Ok((record.meta.size, etag, content))
    }

    /// The bytes `first .. first + count` of a packed file, segment after segment.
    pub fn read_assembled(
        &self,
        service: &str,
        content: StoredContent,
        (first, count): (u64, u64),
    ) -> Result<BoxStream<'static, std::result::Result<Bytes, BlobError>>> {
        let store = self.store(service)?.clone();
        let http = self.http.clone();
        let service = service.to_string();
        let expires = now_secs() + self.lifetimes.download_secs;
        // The pieces of the segments that lie inside the range.
        let end = first + count;
        let mut at = 0u64;
        let mut pieces = Vec::new();
        for segment in &content.segments {
            let (from, to) = (at.max(first), (at + segment.length).min(end));
            if from < to {
                pieces.push(Segment { pack: segment.pack, offset: segment.offset + (from - at), length: to - from });
            }
            at += segment.length;
        }
        let packs = content.packs;
        let stream = futures_util::stream::iter(pieces)
            .then(move |segment| {
                let key = packs.get(segment.pack as usize).cloned().unwrap_or_default();
                let (store, http, service) = (store.clone(), http.clone(), service.clone());
                async move { read_range(&store, &http, &service, &key, segment.offset, segment.length, expires).await }
            })
            .try_flatten();
        Ok(stream.boxed())
    }

    /// A catalogue refusal of a pack request: the session moved on, or whatever else failed.
    fn session_error(&self, e: CatalogueError, upload: &UploadRecord) -> Error {
        match e {
            CatalogueError::Moved => Error::Conflict(format!(
                "the upload session for {:?} is no longer open (completed, aborted or expired); start the upload again",
                upload.name
            )),
            CatalogueError::Conflict(message) => Error::Invalid(message),
            e => e.into(),
        }
    }
}

/// The path of a packed file's assembled read.
pub fn assembled_path(service: &str, blob_key: &str) -> String {
    format!("/blob/v1/{service}/file/{blob_key}")
}

/// One range of a pack, as a stream: from the file for the local folder, else by a ranged GET
/// of a signed URL (the same request a client makes).
pub(super) async fn read_range(
    store: &BlobStore,
    http: &reqwest::Client,
    service: &str,
    key: &str,
    offset: u64,
    length: u64,
    expires: i64,
) -> std::result::Result<BoxStream<'static, std::result::Result<Bytes, BlobError>>, BlobError> {
    if let BlobStore::Local(local) = store {
        let file = local.open_blob(key).await?;
        return Ok(file.range(offset, length).map_err(BlobError::Io).boxed());
    }
    let url = store.get_url(service, key, expires).await?;
    let response = http
        .get(url)
        .header(reqwest::header::RANGE, format!("bytes={offset}-{}", offset + length - 1))
        .send()
        .await
        .map_err(|e| BlobError::Store(format!("reading a pack: {e}")))?;
    if response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
        return Err(BlobError::Store(format!("reading a pack: HTTP {}", response.status())));
    }
    Ok(response.bytes_stream().map_err(|e| BlobError::Store(format!("reading a pack: {e}"))).boxed())
}

fn check_pack(pack: &NewPack) -> Result<()> {
    if !content::is_hex_id(&pack.pack) {
        return Err(Error::Invalid(format!("{:?} is not a pack id (64 lowercase hex digits)", pack.pack)));
    }
    if pack.size <= content::TRAILER as u64 || pack.size > content::MAX_PACK_SIZE {
        return Err(Error::Invalid(format!(
            "pack {} has {} bytes; a pack holds more than {} and at most {} bytes",
            pack.pack,
            pack.size,
            content::TRAILER,
            content::MAX_PACK_SIZE
        )));
    }
    Ok(())
}

/// Checks a completion's packs and segments: every pack pinned for the session and named once,
/// every segment non-empty and inside its pack's data, the segments adding up to `size`, the
/// samples naming listed packs. Answers the packs in the completion's order.
fn check_content<'a>(
    file: &FileContent,
    pinned: &'a HashMap<String, PackRecord>,
    size: u64,
) -> Result<Vec<&'a PackRecord>> {
    if file.packs.len() > MAX_FILE_PACKS || file.segments.len() > MAX_SEGMENTS {
        return Err(Error::Invalid(format!("a file names at most {MAX_FILE_PACKS} packs and {MAX_SEGMENTS} segments")));
    }
    let mut packs = Vec::with_capacity(file.packs.len());
    let mut seen = std::collections::HashSet::new();
    for hash in &file.packs {
        if !seen.insert(hash.as_str()) {
            return Err(Error::Invalid(format!("pack {hash:?} is listed twice")));
        }
        let pack = pinned.get(hash).ok_or_else(|| {
            Error::Invalid(format!(
                "pack {hash:?} was neither sent nor found in this upload session; announce it and send it first"
            ))
        })?;
        packs.push(pack);
    }
    let mut total = 0u64;
    for (i, segment) in file.segments.iter().enumerate() {
        let pack = packs.get(segment.pack as usize).ok_or_else(|| {
            Error::Invalid(format!("segment {i} names pack {} of {} listed", segment.pack, packs.len()))
        })?;
        let data = pack.size.saturating_sub(content::TRAILER as u64);
        if segment.length == 0 || segment.offset.checked_add(segment.length).is_none_or(|end| end > data) {
            return Err(Error::Invalid(format!(
                "segment {i} ({} bytes at {}) does not lie inside pack {} ({} bytes)",
                segment.length, segment.offset, pack.hash, pack.size
            )));
        }
        total = total.saturating_add(segment.length);
    }
    if total != size {
        return Err(Error::Invalid(format!("the segments add up to {total} bytes, not the {size} of the file")));
    }
    let most_samples = packs.len() * content::MAX_PACK_SAMPLES + 16;
    if file.samples.len() > most_samples {
        return Err(Error::Invalid(format!(
            "at most {} sample chunks per pack listed ({most_samples} here)",
            content::MAX_PACK_SAMPLES
        )));
    }
    for (chunk, i) in &file.samples {
        if !content::is_hex_id(chunk) || *i as usize >= packs.len() {
            return Err(Error::Invalid(format!("sample {chunk:?} of pack {i} is not a chunk id of a listed pack")));
        }
    }
    Ok(packs)
}
