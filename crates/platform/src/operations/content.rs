//! Packed uploads and downloads: which packs the caller already holds, where to send the new
//! ones, the completion that checks a file's segments against its packs, and reading a packed
//! file whole for the clients that want one URL (the FedML SDK, `download_url`).
//!
//! Dedup never crosses owners: every lookup is of the caller's own packs, in the service the
//! session writes to. A pack the server says it holds is pinned for the session in the same
//! catalogue transaction (`Catalogue::known_packs`, `Catalogue::reserve_packs`), so the
//! collector cannot take it before the session ends.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use fedml_proto::content::{
    self, FileContent, KnownPack, KnownRequest, Layout, NewPack, PackTicket, PacksRequest, Segment,
};
use fedml_proto::{CompleteUpload, CompletedUpload};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use super::indexes::{Loaded, PackReader};
use super::upload::{FinishedBlob, check_checksum, check_open};
use super::{Caller, Platform};
use crate::blobs::{BlobError, BlobStore, Checked};
use crate::catalogue::{CatalogueError, PackRecord, PackState, StoredContent, UploadRecord, UploadState};
use crate::error::{Error, Result};
use crate::keys;

/// The most sample chunks one lookup names, packs one request announces, and packs a lookup answers.
const MAX_SAMPLES: usize = 4096;
const MAX_PACKS_PER_REQUEST: usize = 256;
const MAX_KNOWN: u32 = 4096;
/// The most packs and segments one file names (a 5 TiB file of 8 MiB packs, and one segment per
/// smallest chunk of 8 GiB).
const MAX_FILE_PACKS: usize = 1 << 20;
const MAX_SEGMENTS: usize = 1 << 20;
/// Packs read back and checked at once by one request.
const CHECKS_AT_ONCE: usize = 8;

impl Platform {
    /// A packed session of the caller's that is still open.
    async fn packed_upload(&self, caller: &Caller, upload_id: &str) -> Result<UploadRecord> {
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

    /// For each pack an upload wants to store: already held (a verified pack of the caller's with
    /// the same id, pinned for the session), or a signed URL to PUT it to. A pack another session
    /// announced (an interrupted upload of the same data, or another key's) is read and verified
    /// before this one may rely on it: one that is not what its id names is marked corrupt, and
    /// this session gets a fresh key to send it to.
    pub async fn pack_tickets(&self, caller: &Caller, upload_id: &str, req: PacksRequest) -> Result<Vec<PackTicket>> {
        let upload = self.packed_upload(caller, upload_id).await?;
        if req.packs.is_empty() || req.packs.len() > MAX_PACKS_PER_REQUEST {
            return Err(Error::Invalid(format!("announce 1 to {MAX_PACKS_PER_REQUEST} packs per request")));
        }
        for pack in &req.packs {
            check_pack(pack)?;
        }
        let reader = self.pack_reader(&upload.service)?;
        let mut records = self.reserve(&upload, &req.packs).await?;
        // Packs recorded before this request are checked (at most once: a corrupt one is
        // reserved anew under a fresh key, which is then simply sent).
        let unchecked: Vec<usize> =
            (0..records.len()).filter(|&i| records[i].existed && records[i].state != PackState::Verified).collect();
        let mut held = vec![false; records.len()];
        let mut again = Vec::new();
        let to_check: Vec<&PackRecord> = unchecked.iter().map(|&i| &records[i]).collect();
        let checks = self.check_packs(&reader, &to_check).await?;
        for (&i, check) in unchecked.iter().zip(checks) {
            match check {
                Some(Ok(_)) => held[i] = true,
                // Not sent yet (or still on its way from another request): sent by this one too.
                None => {}
                Some(Err(_)) => again.push(i),
            }
        }
        for (i, record) in records.iter().enumerate() {
            held[i] |= record.state == PackState::Verified;
        }
        if !again.is_empty() {
            let wanted: Vec<NewPack> = again.iter().map(|&i| req.packs[i].clone()).collect();
            for (&i, fresh) in again.iter().zip(self.reserve(&upload, &wanted).await?) {
                records[i] = fresh;
            }
        }
        // Held, and read by no object yet: sent by an upload that did not finish.
        let resumed: Vec<bool> =
            records.iter().zip(&held).map(|(r, &held)| held && r.existed && !r.referenced).collect();
        let expires = upload.expires_at / 1000;
        let mut out = Vec::with_capacity(records.len());
        for (i, pack) in records.into_iter().enumerate() {
            if held[i] {
                let resumed = resumed[i];
                out.push(PackTicket { pack: pack.hash, stored: true, resumed, url: None, headers: Default::default() });
            } else {
                let (url, headers) = reader.store.pack_url(&upload.service, &pack.blob_key, expires).await?;
                out.push(PackTicket { pack: pack.hash, stored: false, resumed: false, url: Some(url), headers });
            }
        }
        if !matches!(reader.store, BlobStore::Local(_)) {
            self.check_sent_packs(reader, &upload, &req.packs).await;
        }
        Ok(out)
    }

    /// On a bucket, reads and checks in the background the packs this session announced before
    /// (the ones in `now` it announces right now are still to be sent) that the store already
    /// holds, while the client sends the next ones, so that its completion has little left to
    /// read. At most [`super::indexes::CHECKS_IN_BACKGROUND`] at once on an instance, and each pack once; what is
    /// not checked so (not there yet, no room) the completion reads.
    async fn check_sent_packs(&self, reader: PackReader, upload: &UploadRecord, now: &[NewPack]) {
        let pending = match self.catalogue.pending_packs_of(upload).await {
            Ok(pending) => pending,
            Err(e) => return tracing::warn!(error = %e, "cannot list a session's packs to check them"),
        };
        let checks = self.background_checks.clone();
        let mut mine = Vec::new();
        for pack in pending.into_iter().filter(|p| !now.iter().any(|n| n.pack == p.hash)) {
            let Some(permit) = checks.take(&pack.blob_key) else { continue };
            mine.push((pack, permit));
        }
        if mine.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for (pack, _permit) in mine {
                match check_one(&reader, &pack).await {
                    Ok(Some(checked)) => {
                        if let Err(e) = reader.record(vec![(&pack, checked)]).await {
                            tracing::warn!(error = %e, "cannot record a pack's check");
                        }
                    }
                    // Not sent yet: the completion reads it.
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, pack = %pack.blob_key, "cannot read a pack back to check it"),
                }
            }
        });
    }

    /// Records (or finds) the packs a session announces, each pinned for it.
    async fn reserve(&self, upload: &UploadRecord, packs: &[NewPack]) -> Result<Vec<PackRecord>> {
        let owner = upload.owner_id.clone();
        let new_key = move || format!("{owner}/pk{}", keys::random_hex(16));
        self.catalogue.reserve_packs(upload, packs, &new_key).await.map_err(|e| self.session_error(e, upload))
    }

    /// Reads and checks packs (a few at a time) and records what was found: for each, `None`
    /// when the store holds nothing under its key, else whether it is what its id names (else
    /// what is wrong).
    async fn check_packs(
        &self,
        reader: &PackReader,
        packs: &[&PackRecord],
    ) -> Result<Vec<Option<std::result::Result<(), String>>>> {
        let reads: Vec<_> = packs.iter().map(|pack| check_one(reader, pack)).collect();
        let found: Vec<Option<Checked>> =
            futures_util::stream::iter(reads).buffered(CHECKS_AT_ONCE).try_collect().await?;
        let out = found.iter().map(|f| f.as_ref().map(|c| c.as_ref().map(|_| ()).map_err(Clone::clone))).collect();
        let checked = packs.iter().copied().zip(found).filter_map(|(pack, f)| f.map(|c| (pack, c))).collect();
        reader.record(checked).await?;
        Ok(out)
    }

    /// Receives a pack into the local folder `service` from a signed pack URL (the signature
    /// was checked by the caller); answers its ETag (the CRC-32C of what arrived). The pack is
    /// checked against its id before it is linked into place (a pack that is not what its id
    /// names is refused, and nothing is kept), then recorded as verified. Refused once the
    /// catalogue no longer records the pack (its session ended and nothing else wanted it).
    pub async fn receive_pack<S, E>(&self, service: &str, blob_key: &str, mut body: S) -> Result<String>
    where
        S: futures_util::Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Ok(BlobStore::Local(store)) = self.store(service) else {
            return Err(Error::NotFound("no such blob".into()));
        };
        let no_longer =
            || Error::NotFound("this pack is no longer wanted (its upload ended); start the upload again".into());
        let pack = self.catalogue.pack(blob_key).await.map_err(|e| match e {
            CatalogueError::NotFound => no_longer(),
            e => e.into(),
        })?;
        if pack.state == PackState::Corrupt {
            return Err(no_longer());
        }
        let received = match store.write_pack(blob_key, &pack.hash, pack.size, &mut body).await {
            Ok(received) => received,
            Err(BlobError::Rejected(why)) => {
                self.observe.metrics.failed_pack_checks().inc();
                return Err(Error::BadBytes(format!(
                    "pack {} is not what its id names ({why}): nothing was kept; send it again",
                    pack.hash
                )));
            }
            Err(e) => return Err(super::refused_after(e, pack.size, body).await),
        };
        // The session may have ended while the bytes arrived, and the collector found nothing to
        // remove yet: what was just linked into place would then be referenced by nothing.
        if let Err(CatalogueError::NotFound) = self.catalogue.pack(blob_key).await {
            let _ = self.store(service)?.delete(blob_key).await;
            return Err(no_longer());
        }
        if let Some(index) = received.index {
            self.pack_reader(service)?.record(vec![(&pack, Ok(index))]).await?;
        }
        Ok(format!("\"{:08x}\"", received.crc))
    }

    /// Completes a packed upload: checks that every pack it names was announced in this session
    /// (or found for it), that each is in the store and is what its id names (a pack the server
    /// has not verified yet is read now: on a bucket, the ones this session sent), that the
    /// segments lie inside their packs on chunk boundaries and add up to the file, then commits
    /// the object in one transaction with its pack references. Adjacent segments are merged, and
    /// a file has at most [`most_segments`] of them.
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
        // Checked as sent; then only the packs the file reads are kept (and verified, and kept
        // alive with the object), and adjacent segments are one.
        let mut file = file.trimmed();
        file.segments = merged(std::mem::take(&mut file.segments));
        let packs = check_content(&file, &pinned, req.size)?;
        let most = most_segments(req.size);
        if file.segments.len() > most {
            return Err(Error::Invalid(format!(
                "the file is described in {} segments; a file of {} bytes has at most {most} (one per 32 bytes, \
                 and 64 more): name each run of consecutive chunks of a pack as one segment",
                file.segments.len(),
                req.size
            )));
        }
        let reader = self.pack_reader(&upload.service)?;
        self.verify_for_commit(&reader, &packs).await?;
        check_boundaries(&reader, &packs, &file.segments).await?;
        let stored = StoredContent {
            packs: packs.iter().map(|p| p.blob_key.clone()).collect(),
            segments: file.segments.clone(),
        };
        let samples: Vec<(String, String)> =
            file.samples.iter().map(|(chunk, i)| (chunk.clone(), packs[*i as usize].blob_key.clone())).collect();
        if !self.catalogue.move_upload(&upload.id, UploadState::Open, UploadState::Completing).await? {
            return Err(self.moved(&upload.id).await);
        }
        let blob = FinishedBlob {
            size: req.size,
            checksum: req.checksum.clone(),
            content: Some((stored, samples)),
            attributes: Default::default(),
            expected_version: None,
        };
        let object = self.commit(upload, UploadState::Completing, &blob).await?;
        Ok(CompletedUpload { url: self.object_url(&upload.owner_id, &object.data_name).await, object, transfer: None })
    }

    /// Reads and checks every pack a completion names that the server has not verified yet.
    /// Refuses, saying which, when one is missing or is not what its id names (that one is
    /// never used again: the same upload run again sends it anew).
    pub(super) async fn verify_for_commit(&self, reader: &PackReader, packs: &[&PackRecord]) -> Result<()> {
        let unchecked: Vec<&PackRecord> = packs.iter().copied().filter(|p| p.state != PackState::Verified).collect();
        let checks = self.check_packs(reader, &unchecked).await?;
        let mut corrupt = unchecked.iter().zip(&checks).filter_map(|(p, c)| match c {
            Some(Err(why)) => Some((p, why)),
            _ => None,
        });
        if let Some((pack, why)) = corrupt.next() {
            let others = corrupt.count();
            let more = if others > 0 { format!(" (and {others} more such)") } else { String::new() };
            return Err(Error::BadBytes(format!(
                "pack {} is not what its id names ({why}){more}: it was damaged on its way or sent by another \
                 upload that lied, and will not be used again; upload again: what is missing is sent anew",
                pack.hash
            )));
        }
        if let Some((pack, _)) = unchecked.iter().zip(&checks).find(|(_, c)| c.is_none()) {
            return Err(Error::Invalid(format!(
                "pack {} should hold {} bytes but the store holds nothing; send it again and complete again",
                pack.hash, pack.size
            )));
        }
        Ok(())
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

/// One range of a blob, as a stream (see [`BlobStore::read_range`]).
pub(super) async fn read_range(
    store: &BlobStore,
    http: &reqwest::Client,
    service: &str,
    key: &str,
    offset: u64,
    length: u64,
    _expires: i64,
) -> std::result::Result<BoxStream<'static, std::result::Result<Bytes, BlobError>>, BlobError> {
    store.read_range(http, service, key, offset, length).await
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

/// Reads and checks one pack: `None` when the store holds nothing under its key.
async fn check_one(reader: &PackReader, pack: &PackRecord) -> std::result::Result<Option<Checked>, BlobError> {
    match reader.store.check_pack(&reader.http, &reader.service, &pack.blob_key, &pack.hash, pack.size).await {
        Ok(checked) => Ok(Some(checked)),
        Err(BlobError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks that every segment starts and ends where a chunk of its pack does (so a read checks
/// exactly the chunks it serves, never more), from the packs' indexes.
async fn check_boundaries(reader: &PackReader, packs: &[&PackRecord], segments: &[Segment]) -> Result<()> {
    let reads: Vec<_> = packs.iter().map(|pack| reader.index(pack)).collect();
    let indexes: Vec<Arc<Loaded>> = futures_util::stream::iter(reads).buffered(CHECKS_AT_ONCE).try_collect().await?;
    for (i, segment) in segments.iter().enumerate() {
        let index = &indexes[segment.pack as usize];
        if !index.is_boundary(segment.offset) || !index.is_boundary(segment.offset + segment.length) {
            return Err(Error::Invalid(format!(
                "segment {i} ({} bytes at {}) of pack {} does not start and end where its chunks do",
                segment.length, segment.offset, packs[segment.pack as usize].hash
            )));
        }
    }
    Ok(())
}

/// The most segments a file of `size` bytes may have: one per 32 bytes, and 64 more. A legitimate
/// file has at most one per chunk, and a chunk of ours holds at least 8 KiB but the last of a
/// file or the headers between a directory's files: a directory of empty files, each one's
/// headers a chunk of their own alternating between packs, has one segment per 94 bytes or more
/// (local header, data descriptor and central entry of a one-byte name). So a read's work, and a
/// manifest's size (about 40 bytes a segment), are bounded by the bytes the file holds.
pub(crate) fn most_segments(size: u64) -> usize {
    usize::try_from(size / 32).unwrap_or(usize::MAX).saturating_add(64).min(MAX_SEGMENTS)
}

/// Segments with each run of adjacent ones (the same pack, one starting where the other ends)
/// made one.
fn merged(segments: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for segment in segments {
        if let Some(last) = out.last_mut()
            && last.pack == segment.pack
            && last.offset + last.length == segment.offset
        {
            last.length += segment.length;
        } else {
            out.push(segment);
        }
    }
    out
}
