//! Bytes the server takes in itself (an S3 PUT or upload part, a Hub upload): cut into
//! content-defined chunks as they arrive, matched against the namespace's packs, the new chunks
//! written into packs the server makes, and committed as a packed file through the same session
//! and the same commit as a client's packed upload ([`Platform::commit`]). Built once here for
//! every front end that receives bytes; `multipart.rs` joins parts taken in so.
//!
//! How it goes, for one stream ([`Platform::take`]):
//! - A task of its own hashes the whole stream (BLAKE3 for the object's checksum, MD5 for an S3
//!   ETag, SHA-256 when asked) while the request's task cuts chunks and names them: two cores
//!   busy on one upload.
//! - A chunk the namespace holds already (in a pack of the version being replaced, found up
//!   front, or of a pack group found through a sample chunk) is referenced where it lies; a new
//!   one goes into the pack being filled. Sample chunks are looked up when a pack is sealed, and
//!   the pack's chunks checked again against what that found: data stored before is found up to
//!   one pack back from its first sample, and no lookup waits on the network per chunk.
//! - A sealed pack is recorded for the session (pinned, as a client's announced pack) and
//!   written while the next fills. The local folder checks it against its id as it lands; on a
//!   bucket the completion reads it back ([`Platform::verify_for_commit`]), as for a client's.
//! - What the packs being filled and written hold counts against one budget per instance
//!   ([`INTAKE_BUDGET`]): an intake that finds it spent seals what it holds and waits, so any
//!   number of concurrent uploads hold a bounded amount of memory and always progress.
//!
//! A stream that fails (its `Err`, a size other than announced) ends the session: nothing is
//! committed, its packs go to the collector, and the error is answered as it came.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use fedml_proto::ObjectKind;
use fedml_proto::checksum::{PartDigest, PartHasher};
use fedml_proto::content::{self, Chunker};
use fedml_proto::rules;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use md5::Digest as _;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::cut::{Cut, MAX_KNOWN, session_error};
use super::upload::FinishedBlob;
use super::{Caller, Here, Need, Platform};
use crate::catalogue::{Attributes, ObjectRecord, PackRecord, PackState, StoredContent, UploadRecord, UploadState};
use crate::error::{Error, Result};

/// A body the server takes in: an `Err` ends the intake, keeping nothing, and is answered.
pub type Body = BoxStream<'static, Result<Bytes>>;

/// What all intakes of an instance hold at once of packs being filled and written, in KiB.
pub(crate) const INTAKE_BUDGET: usize = 96 << 10;
/// The largest object one PUT takes (S3's limit): larger ones go in parts.
pub const MAX_PUT_SIZE: u64 = 5 << 30;
/// Frames waiting for the hashing task.
const DIGEST_QUEUE: usize = 32;

/// What an intake's session makes: a file of one stream, a file of parts, a directory object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Whole,
    Parts,
    Directory,
}

/// What a PUT stores: the name, what the protocol says of the bytes, and how to check them.
#[derive(Debug, Clone, Default)]
pub struct PutRequest {
    pub name: String,
    /// The body's length, when the protocol tells it before the body (a refusal then comes before
    /// any byte is read: quota, size limits).
    pub size: Option<u64>,
    pub content_type: Option<String>,
    /// The user metadata the new version gets (`None`: that of the version it replaces).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Only if no object has the name (S3's `If-None-Match: *`): else [`Error::Precondition`].
    pub create_only: bool,
    /// The MD5 the client says the body has (S3's `Content-MD5`): else [`Error::BadBytes`].
    pub content_md5: Option<[u8; 16]>,
    /// Whether to compute the body's SHA-256 too (an LFS object's id).
    pub sha256: bool,
}

/// An object stored by an intake or a copy: its record as now committed.
#[derive(Debug, Clone)]
pub struct Stored {
    pub record: ObjectRecord,
}

/// Which digests of a stream to compute, beside its chunks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Digesting {
    /// The MD5 an S3 ETag names (only S3's intakes need it: it is the slowest of these hashes).
    pub md5: bool,
    pub blake3: bool,
    pub sha256: bool,
    /// The BLAKE3 subtree digest of the stream as part `index` of parts of `size` bytes.
    pub part: Option<(u64, u64)>,
    /// The CRC-32 (a ZIP entry's), and Git's blob id of a stream of this many bytes.
    pub crc32: bool,
    pub git_sha1: Option<u64>,
}

/// A stream's digests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Digests {
    pub md5: [u8; 16],
    pub sha256: Option<[u8; 32]>,
    pub blake3: Option<blake3::Hash>,
    pub part: Option<PartDigest>,
    pub crc32: Option<u32>,
    pub git_sha1: Option<[u8; 20]>,
}

/// What one stream became: its content in packs pinned for its session, the sample chunks of
/// its new packs (`(chunk id, pack key)`), its digests.
pub(crate) struct Taken {
    pub size: u64,
    pub content: StoredContent,
    pub samples: Vec<(String, String)>,
    pub digests: Digests,
}

impl Platform {
    /// Stores the body as object `req.name` of `namespace` (the caller's own with `None`): a new
    /// version when the name exists. Answers the committed record (its attributes: media type,
    /// MD5, SHA-256 if asked).
    pub async fn put_object(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        req: PutRequest,
        body: Body,
    ) -> Result<Stored> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let size = req
            .size
            .ok_or_else(|| Error::Invalid("the length of the body must be given before it (Content-Length)".into()))?;
        if size > MAX_PUT_SIZE {
            return Err(Error::TooLarge(format!(
                "{size} bytes is more than one PUT stores ({MAX_PUT_SIZE} bytes); upload it in parts (multipart)"
            )));
        }
        let upload = self.open_intake(caller, &here, &req, size, Shape::Whole, None).await?;
        let digesting = Digesting { md5: true, blake3: true, sha256: req.sha256, ..Default::default() };
        let taken = match self.take(&upload, body, digesting, Some(size)).await {
            Ok(taken) => taken,
            Err(e) => return Err(self.intake_failed(&upload, e).await),
        };
        if let Some(md5) = req.content_md5
            && md5 != taken.digests.md5
        {
            let e = Error::BadBytes(format!(
                "the body's MD5 is {}, not the {} its Content-MD5 names: it was damaged on its way; nothing was stored, \
                 send it again",
                hex::encode(taken.digests.md5),
                hex::encode(md5)
            ));
            return Err(self.intake_failed(&upload, e).await);
        }
        let checksum = taken.digests.blake3.map(fedml_proto::checksum::of_hash).unwrap_or_default();
        let mut attributes = upload.attributes.clone();
        attributes.multipart = false;
        attributes.md5 = Some(hex::encode(taken.digests.md5));
        attributes.sha256 = taken.digests.sha256.map(hex::encode);
        let record = self.commit_taken(&upload, taken.finished(checksum, attributes, None)).await?;
        Ok(Stored { record })
    }

    /// Opens the session an intake of `req` into `here` writes in: a packed file, reserving
    /// `size` bytes of the namespace's quota (a multipart intake grows it as parts arrive).
    pub(crate) async fn open_intake(
        &self,
        caller: &Caller,
        here: &Here,
        req: &PutRequest,
        size: u64,
        shape: Shape,
        description: Option<String>,
    ) -> Result<UploadRecord> {
        let multipart = shape == Shape::Parts;
        if let Some(description) = &description {
            rules::check_description(description).map_err(Error::Invalid)?;
        }
        let name = self.stored_name(here, &req.name).await?;
        if let Some(metadata) = &req.metadata {
            rules::check_metadata(metadata).map_err(Error::Invalid)?;
        }
        if let Some(kind) = &req.content_type {
            check_content_type(kind)?;
        }
        if req.create_only && self.catalogue.object_exists(&here.id, &name).await? {
            return Err(precondition_taken(&name));
        }
        if let Some(other) = self.catalogue.name_clash_now(&here.id, &name).await? {
            return Err(crate::error::name_clash(&name, &other));
        }
        let service = self.default_service.clone();
        let store = self.store(&service)?;
        let kind = if shape == Shape::Directory { ObjectKind::Directory } else { ObjectKind::File };
        let mut upload = self.new_session(caller, here, name, kind, service, super::part_size_for(size));
        upload.layout = content::Layout::Packs;
        upload.declared_size = (shape == Shape::Whole).then_some(size);
        upload.reserved_bytes = size;
        upload.metadata = req.metadata.clone();
        upload.description = description;
        upload.overwrite = !req.create_only;
        upload.attributes = Attributes { content_type: req.content_type.clone(), multipart, ..Default::default() };
        self.begin_session(store, upload).await
    }

    /// Ends a session whose intake failed, and answers the error to tell (a lost race as the
    /// state it lost to).
    pub(crate) async fn intake_failed(&self, upload: &UploadRecord, e: Error) -> Error {
        match self.catalogue.upload(&upload.id).await {
            Ok(now) if now.state == UploadState::Open => {
                self.end_claimed(upload, UploadState::Open).await;
                e
            }
            Ok(_) => self.moved(&upload.id).await,
            Err(_) => e,
        }
    }

    /// Checks the packs of `content` the server has not verified yet (a bucket's, read back),
    /// claims the session and commits it as a packed file.
    pub(crate) async fn commit_taken(&self, upload: &UploadRecord, blob: FinishedBlob) -> Result<ObjectRecord> {
        let Some((content, _)) = &blob.content else {
            return Err(Error::Internal("an intake commits packed content".into()));
        };
        let checked = async {
            let reader = self.pack_reader(&upload.service)?;
            let records = self.catalogue.packs_by_key(&content.packs).await?;
            let packs: Vec<&PackRecord> = records.iter().collect();
            self.verify_for_commit(&reader, &packs).await
        }
        .await;
        if let Err(e) = checked {
            return Err(self.intake_failed(upload, e).await);
        }
        if !self.catalogue.move_upload(&upload.id, UploadState::Open, UploadState::Completing).await? {
            return Err(self.moved(&upload.id).await);
        }
        let meta = self.commit(upload, UploadState::Completing, &blob).await.map_err(|e| match e {
            Error::Conflict(_) if !upload.overwrite => precondition_taken(&upload.name),
            e => e,
        })?;
        self.catalogue.object(&upload.owner_id, &meta.data_name).await.map_err(Error::from)
    }

    /// Takes in one stream for open session `upload`: cut, matched, new chunks packed and written.
    /// `expected`: the exact length it must have.
    pub(crate) async fn take(
        &self,
        upload: &UploadRecord,
        mut body: Body,
        digesting: Digesting,
        expected: Option<u64>,
    ) -> Result<Taken> {
        let mut composer = Composer::start(self, upload, digesting).await?;
        let fed = async {
            while let Some(frame) = body.next().await {
                let frame = frame?;
                if let Some(expected) = expected
                    && composer.received + frame.len() as u64 > expected
                {
                    return Err(Error::Invalid(format!(
                        "the body is longer than the {expected} bytes announced; nothing was stored"
                    )));
                }
                composer.feed(frame).await?;
            }
            if let Some(expected) = expected
                && composer.received != expected
            {
                return Err(Error::Invalid(format!(
                    "the body ended after {} of the {expected} bytes announced; nothing was stored",
                    composer.received
                )));
            }
            Ok(())
        }
        .await;
        match fed {
            Ok(()) => composer.finish().await,
            Err(e) => {
                composer.abandon().await;
                Err(e)
            }
        }
    }
}

/// Bytes taken in as a sequence of regions (a stream is one; a composed archive's headers and
/// files are one each): chunks never span two regions, so that a region's bytes are cut as they
/// are wherever they lie, and found again when the same bytes come in another place.
pub(crate) struct Composer<'a> {
    cut: Cut<'a>,
    carry: BytesMut,
    frames: Option<tokio::sync::mpsc::Sender<Bytes>>,
    hashing: JoinHandle<Digests>,
    pub received: u64,
}

impl<'a> Composer<'a> {
    /// Starts taking bytes in for open session `upload`, knowing the chunks of the version it
    /// replaces (and, for a part of a multipart intake, what its other parts found or made).
    pub(crate) async fn start(platform: &'a Platform, upload: &'a UploadRecord, digesting: Digesting) -> Result<Self> {
        let reader = platform.pack_reader(&upload.service)?;
        let mut cut = Cut::new(platform, upload, reader);
        if upload.overwrite && platform.catalogue.object_exists(&upload.owner_id, &upload.name).await? {
            let found = platform.catalogue.known_packs(upload, &[], true, MAX_KNOWN).await.map_err(session_error)?;
            cut.learn(found).await?;
        }
        if upload.attributes.multipart {
            // What the session's other parts found or made (checked packs only: one still being
            // written is not read), so that a part without a sample chunk of its own finds them.
            let pinned = platform.catalogue.pinned_packs(&upload.id).await?;
            cut.learn(pinned.into_iter().filter(|p| p.state == PackState::Verified).collect()).await?;
        }
        let (frames, rx) = tokio::sync::mpsc::channel::<Bytes>(DIGEST_QUEUE);
        let hashing = tokio::task::spawn_blocking(move || digest(rx, digesting));
        Ok(Composer {
            cut,
            carry: BytesMut::with_capacity(2 * content::MAX_CHUNK),
            frames: Some(frames),
            hashing,
            received: 0,
        })
    }

    /// Learns the chunks of more stored packs (pinned for the session, or by another that lives
    /// until this one commits).
    pub(crate) async fn learn(&mut self, packs: Vec<PackRecord>) -> Result<()> {
        self.cut.learn(packs).await
    }

    /// The next bytes of the current region.
    pub(crate) async fn feed(&mut self, frame: Bytes) -> Result<()> {
        self.received += frame.len() as u64;
        if self.received > super::MAX_OBJECT_SIZE {
            return Err(Error::TooLarge("the body is larger than the largest object this server stores".into()));
        }
        self.carry.extend_from_slice(&frame);
        let sent = match &self.frames {
            Some(frames) => frames.send(frame).await.is_ok(),
            None => false,
        };
        if !sent {
            return Err(Error::Internal("the hashing task of an upload stopped".into()));
        }
        while self.carry.len() >= content::MAX_CHUNK {
            let len = Chunker.cut(&self.carry).unwrap_or(content::MAX_CHUNK);
            self.cut.chunk(self.carry.split_to(len).freeze()).await?;
        }
        Ok(())
    }

    /// Ends the current region: its last bytes are cut as its last chunks.
    pub(crate) async fn end_region(&mut self) -> Result<()> {
        while !self.carry.is_empty() {
            let len = Chunker.cut(&self.carry).unwrap_or(self.carry.len());
            self.cut.chunk(self.carry.split_to(len).freeze()).await?;
        }
        Ok(())
    }

    /// Ends the last region, writes what is left and answers the content and digests.
    pub(crate) async fn finish(mut self) -> Result<Taken> {
        let done = async {
            self.end_region().await?;
            self.cut.seal().await?;
            self.cut.written().await
        }
        .await;
        self.frames = None;
        let digests = (&mut self.hashing)
            .await
            .map_err(|e| Error::Internal(format!("the hashing task of an upload failed: {e}")));
        if let Err(e) = done {
            self.cut.abandon();
            return Err(e);
        }
        let size = self.received;
        let (content, samples) = self.cut.finish();
        Ok(Taken { size, content, samples, digests: digests? })
    }

    /// Stops: the packs being written are left to the collector with the session.
    pub(crate) async fn abandon(mut self) {
        self.frames = None;
        let _ = (&mut self.hashing).await;
        self.cut.abandon();
    }
}

impl Taken {
    /// What a commit of this content makes: its checksum, what the protocol keeps beside it,
    /// and the version it must replace (`None`: whatever is the latest).
    pub(crate) fn finished(
        self,
        checksum: String,
        attributes: Attributes,
        expected_version: Option<u64>,
    ) -> FinishedBlob {
        FinishedBlob {
            size: self.size,
            checksum,
            content: Some((self.content, self.samples)),
            attributes,
            expected_version,
        }
    }
}

/// Hashes the frames of a stream as they come, on a blocking thread.
fn digest(mut rx: tokio::sync::mpsc::Receiver<Bytes>, digesting: Digesting) -> Digests {
    let mut md5 = digesting.md5.then(md5::Md5::new);
    let mut sha256 = digesting.sha256.then(<sha2::Sha256 as sha2::Digest>::new);
    let mut whole = digesting.blake3.then(blake3::Hasher::new);
    let mut part = digesting.part.map(|(index, size)| PartHasher::new(index, size));
    let mut crc = digesting.crc32.then(crc32fast::Hasher::new);
    let mut git = digesting.git_sha1.map(|size| {
        let mut h = sha1::Sha1::new();
        sha1::Digest::update(&mut h, format!("blob {size}\0").as_bytes());
        h
    });
    while let Some(frame) = rx.blocking_recv() {
        if let Some(h) = crc.as_mut() {
            h.update(&frame);
        }
        if let Some(h) = git.as_mut() {
            sha1::Digest::update(h, &frame);
        }
        if let Some(h) = md5.as_mut() {
            h.update(&frame);
        }
        if let Some(h) = sha256.as_mut() {
            sha2::Digest::update(h, &frame);
        }
        if let Some(h) = whole.as_mut() {
            h.update(&frame);
        }
        if let Some(h) = part.as_mut() {
            h.update(&frame);
        }
    }
    Digests {
        md5: md5.map(|h| h.finalize().into()).unwrap_or_default(),
        sha256: sha256.map(|h| sha2::Digest::finalize(h).into()),
        blake3: whole.map(|h| h.finalize()),
        part: part.map(|h| h.finish()),
        crc32: crc.map(|h| h.finalize()),
        git_sha1: git.map(|h| sha1::Digest::finalize(h).into()),
    }
}

/// The refusal of a write that may only create: the name is taken.
pub(crate) fn precondition_taken(name: &str) -> Error {
    Error::Precondition(format!("{name:?} exists already and this write may only create it"))
}

/// A media type as a protocol gives it: printable ASCII, at most 256 bytes.
fn check_content_type(kind: &str) -> Result<()> {
    if kind.len() > 256 || kind.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err(Error::Invalid(
            "the Content-Type must be printable ASCII of at most 256 bytes, such as application/octet-stream".into(),
        ));
    }
    Ok(())
}

/// The intake budget of an instance.
pub(crate) fn budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(INTAKE_BUDGET))
}

#[cfg(test)]
#[path = "intake_tests.rs"]
pub(crate) mod tests_support;
