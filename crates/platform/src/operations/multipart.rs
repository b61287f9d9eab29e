//! Multipart intakes (S3's multipart uploads): a session whose parts arrive one by one, in any
//! order and again, each taken in as it comes (`intake`), and completed by joining the parts'
//! segments in the order the client names: no byte moves, and a part sent again replaces the
//! one before. The object's checksum is the BLAKE3 of the whole: from the parts' own subtree
//! digests when they are equal powers of two (as aws-cli's and boto3's 8 MiB parts are), else
//! read back from the packs once at completion.

use std::collections::HashMap;

use fedml_proto::checksum::{self, PartDigest, PartHasher};
use fedml_proto::content::Segment;
use futures_util::StreamExt;
use md5::Digest as _;

use super::intake::{Body, Digesting, PutRequest, Stored};
use super::upload::FinishedBlob;
use super::{Caller, Need, Platform};
use crate::catalogue::{Attributes, IntakePart, StoredContent, UploadRecord};
use crate::error::{Error, Result};
use crate::time::now_ms;

/// The most parts of one multipart intake, and the largest part (S3's limits).
pub const MAX_PART_NUMBER: u32 = 10_000;
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// A part as stored.
#[derive(Debug, Clone)]
pub struct PartStored {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of its bytes (its S3 ETag).
    pub md5: String,
    pub modified_ms: i64,
}

/// An open multipart intake and its parts.
#[derive(Debug, Clone)]
pub struct MultipartInfo {
    pub name: String,
    pub started_ms: i64,
    pub parts: Vec<PartStored>,
}

/// An open multipart intake of a namespace.
#[derive(Debug, Clone)]
pub struct MultipartSummary {
    pub upload_id: String,
    pub name: String,
    pub started_ms: i64,
}

/// A part's subtree digest as kept (`intake_parts.digest`).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptDigest {
    /// The part size it was computed for (the part's own, a power of two).
    size: u64,
    cv: String,
    #[serde(default)]
    root: Option<String>,
}

fn no_upload(upload_id: &str) -> Error {
    Error::NotFound(format!("no multipart upload {upload_id:?} here (completed, aborted, expired or never begun)"))
}

impl Platform {
    /// Begins a multipart intake of `req.name` into `namespace`; answers its id.
    pub async fn begin_multipart(&self, caller: &Caller, namespace: Option<&str>, req: PutRequest) -> Result<String> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        Ok(self.open_intake(caller, &here, &req, 0, super::intake::Shape::Parts, None).await?.id)
    }

    /// The open multipart session `upload_id` of `namespace`, opened by the caller's key.
    async fn multipart(&self, caller: &Caller, namespace: Option<&str>, upload_id: &str) -> Result<UploadRecord> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let upload = self.open_upload(caller, upload_id).await.map_err(|e| match e {
            Error::NotFound(_) | Error::Conflict(_) => no_upload(upload_id),
            e => e,
        })?;
        if upload.owner_id != here.id || !upload.attributes.multipart {
            return Err(no_upload(upload_id));
        }
        Ok(upload)
    }

    /// Takes in part `number` (1 to 10,000) of multipart intake `upload_id`: `size` bytes,
    /// checked against `content_md5` when given. Answers the part as stored.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_part(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        upload_id: &str,
        number: u32,
        size: Option<u64>,
        content_md5: Option<[u8; 16]>,
        body: Body,
    ) -> Result<PartStored> {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(Error::Invalid(format!("part numbers run from 1 to {MAX_PART_NUMBER}, not {number}")));
        }
        let size = size.ok_or_else(|| Error::Invalid("the length of a part must be given before it".into()))?;
        if size > MAX_PART_SIZE {
            return Err(Error::TooLarge(format!("a part holds at most {MAX_PART_SIZE} bytes, not {size}")));
        }
        let upload = self.multipart(caller, namespace, upload_id).await?;
        self.catalogue.grow_reservation(&upload, size, &self.quota).await?;
        let power = size.is_power_of_two() && size >= blake3::CHUNK_LEN as u64;
        let digesting =
            Digesting { md5: true, part: power.then(|| (u64::from(number) - 1, size)), ..Default::default() };
        // A part that fails leaves the session open: the client sends it again.
        let taken = self.take(&upload, body, digesting, Some(size)).await?;
        if let Some(md5) = content_md5
            && md5 != taken.digests.md5
        {
            return Err(Error::BadBytes(format!(
                "the part's MD5 is {}, not the {} its Content-MD5 names: it was damaged on its way; send it again",
                hex::encode(taken.digests.md5),
                hex::encode(md5)
            )));
        }
        let digest = taken.digests.part.and_then(|d| {
            let kept = KeptDigest { size, cv: hex::encode(d.chaining_value), root: d.root_if_alone.map(hex::encode) };
            serde_json::to_string(&kept).ok()
        });
        let part = IntakePart {
            number,
            size: taken.size,
            md5: hex::encode(taken.digests.md5),
            digest,
            content: taken.content,
            samples: taken.samples,
            created_ms: now_ms(),
        };
        self.catalogue.put_intake_part(&upload, &part).await.map_err(|e| match e {
            crate::catalogue::CatalogueError::Moved => no_upload(upload_id),
            e => e.into(),
        })?;
        Ok(PartStored { number, size: part.size, md5: part.md5, modified_ms: part.created_ms })
    }

    /// Completes multipart intake `upload_id` with the parts named, in ascending order, each with
    /// the ETag (MD5) it was answered when one is given: the object is those parts' bytes, one
    /// after the other, a new version when the name exists.
    pub async fn complete_multipart(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        upload_id: &str,
        parts: &[(u32, Option<String>)],
    ) -> Result<Stored> {
        let upload = self.multipart(caller, namespace, upload_id).await?;
        if parts.is_empty() {
            return Err(Error::Invalid("name at least one part to complete a multipart upload".into()));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::Invalid(
                "the parts must be listed in ascending order of their numbers, each once".into(),
            ));
        }
        let stored = self.all_parts(upload_id).await?;
        let by_number: HashMap<u32, &IntakePart> = stored.iter().map(|p| (p.number, p)).collect();
        let mut chosen = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            let part = by_number.get(number).ok_or_else(|| {
                Error::Invalid(format!(
                    "part {number} was not uploaded (or was uploaded to another upload); send it first"
                ))
            })?;
            if let Some(etag) = etag {
                let given = etag.trim().trim_matches('"').to_ascii_lowercase();
                if given != part.md5 {
                    return Err(Error::Invalid(format!(
                        "part {number}'s ETag is \"{}\", not {etag:?}: name each part with the ETag its upload answered",
                        part.md5
                    )));
                }
            }
            chosen.push(*part);
        }
        let (content, samples, size) = joined(&chosen);
        let mut md5s = md5::Md5::new();
        for part in &chosen {
            md5s.update(hex::decode(&part.md5).map_err(|e| Error::Internal(format!("a part's MD5: {e}")))?);
        }
        let checksum = match merged_checksum(&chosen, parts) {
            Some(checksum) => checksum,
            None => self.checksum_of(&upload.service, &content, size, &chosen).await?,
        };
        let attributes = Attributes {
            content_type: upload.attributes.content_type.clone(),
            md5: Some(hex::encode(md5s.finalize())),
            parts: Some(chosen.len() as u32),
            ..Default::default()
        };
        let blob =
            FinishedBlob { size, checksum, content: Some((content, samples)), attributes, expected_version: None };
        let record = self.commit_taken(&upload, blob).await?;
        Ok(Stored { record })
    }

    /// Aborts multipart intake `upload_id`: its parts go.
    pub async fn abort_multipart(&self, caller: &Caller, namespace: Option<&str>, upload_id: &str) -> Result<()> {
        let upload = self.multipart(caller, namespace, upload_id).await?;
        self.abort_upload(caller, &upload.id).await?;
        Ok(())
    }

    /// The parts stored so far of multipart intake `upload_id`.
    pub async fn multipart_parts(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        upload_id: &str,
    ) -> Result<MultipartInfo> {
        let upload = self.multipart(caller, namespace, upload_id).await?;
        let started_ms = upload.expires_at - (self.lifetimes.upload_secs * 1000);
        let parts = self
            .all_parts(upload_id)
            .await?
            .into_iter()
            .map(|p| PartStored { number: p.number, size: p.size, md5: p.md5, modified_ms: p.created_ms })
            .collect();
        Ok(MultipartInfo { name: upload.name, started_ms, parts })
    }

    /// The open multipart intakes of `namespace` whose names start with `prefix` (at most 1,000).
    pub async fn multipart_uploads(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        prefix: &str,
    ) -> Result<Vec<MultipartSummary>> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let open = self.catalogue.open_intakes(&here.id, prefix, 1000).await?;
        Ok(open
            .into_iter()
            .map(|o| MultipartSummary { upload_id: o.upload_id, name: o.name, started_ms: o.started_ms })
            .collect())
    }

    async fn all_parts(&self, upload_id: &str) -> Result<Vec<IntakePart>> {
        let mut out: Vec<IntakePart> = Vec::new();
        loop {
            let after = out.last().map_or(0, |p| p.number);
            let page = self.catalogue.intake_parts(upload_id, after, 1000).await?;
            let done = page.len() < 1000;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// The BLAKE3 of content read back from its packs (checked as it streams); with `parts`
    /// whose digests fit all but the last, only the last part is read.
    async fn checksum_of(
        &self,
        service: &str,
        content: &StoredContent,
        size: u64,
        parts: &[&IntakePart],
    ) -> Result<String> {
        if let Some((digests, last_at, part_size)) = all_but_last(parts) {
            let mut hasher = PartHasher::new(digests.len() as u64, part_size);
            self.hash_range(service, content, (last_at, size - last_at), |b| hasher.update(b)).await?;
            let mut all = digests;
            all.push(hasher.finish());
            return checksum::merge(&all).ok_or_else(|| Error::Internal("no checksum of the parts".into()));
        }
        let mut hasher = blake3::Hasher::new();
        self.hash_range(service, content, (0, size), |b| {
            hasher.update(b);
        })
        .await?;
        Ok(checksum::of_hash(hasher.finalize()))
    }

    async fn hash_range(
        &self,
        service: &str,
        content: &StoredContent,
        range: (u64, u64),
        mut feed: impl FnMut(&[u8]),
    ) -> Result<()> {
        if range.1 == 0 {
            return Ok(());
        }
        let mut stream = self.read_assembled(service, content.clone(), range)?;
        while let Some(piece) = stream.next().await {
            feed(&piece?);
        }
        Ok(())
    }
}

/// The parts' contents joined in order (segments that go on from one another merged), the
/// samples of their packs, and the total size.
fn joined(parts: &[&IntakePart]) -> (StoredContent, Vec<(String, String)>, u64) {
    let mut packs: Vec<String> = Vec::new();
    let mut slot_of: HashMap<&str, u32> = HashMap::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut samples = Vec::new();
    let mut size = 0u64;
    for part in parts {
        size += part.size;
        for segment in &part.content.segments {
            let Some(key) = part.content.packs.get(segment.pack as usize) else { continue };
            let slot = *slot_of.entry(key.as_str()).or_insert_with(|| {
                packs.push(key.clone());
                (packs.len() - 1) as u32
            });
            match segments.last_mut() {
                Some(last) if last.pack == slot && last.offset + last.length == segment.offset => {
                    last.length += segment.length;
                }
                _ => segments.push(Segment { pack: slot, ..*segment }),
            }
        }
        samples.extend(part.samples.iter().filter(|(_, key)| slot_of.contains_key(key.as_str())).cloned());
    }
    (StoredContent { packs, segments }, samples, size)
}

/// The whole checksum from the parts' digests, when every part was hashed as the part of its
/// number in parts of one power-of-two size: parts 1..=n, all of the first one's size.
fn merged_checksum(parts: &[&IntakePart], listed: &[(u32, Option<String>)]) -> Option<String> {
    let size = parts.first()?.size;
    let consecutive = listed.iter().enumerate().all(|(i, (n, _))| *n as usize == i + 1);
    if !consecutive || parts.iter().any(|p| p.size != size) {
        return None;
    }
    let digests: Option<Vec<PartDigest>> = parts.iter().map(|p| kept(p, size)).collect();
    checksum::merge(&digests?)
}

/// The digests of all parts but the last, when they were hashed as parts of one power-of-two
/// size (the first's) at their places, the offset of the last part, and that size.
fn all_but_last(parts: &[&IntakePart]) -> Option<(Vec<PartDigest>, u64, u64)> {
    let (last, rest) = parts.split_last()?;
    let size = rest.first()?.size;
    if last.size > size || rest.iter().enumerate().any(|(i, p)| p.size != size || p.number as usize != i + 1) {
        return None;
    }
    let digests: Option<Vec<PartDigest>> = rest.iter().map(|p| kept(p, size)).collect();
    Some((digests?, size * rest.len() as u64, size))
}

/// A part's kept digest, if it was computed for parts of `size` bytes.
fn kept(part: &IntakePart, size: u64) -> Option<PartDigest> {
    let kept: KeptDigest = serde_json::from_str(part.digest.as_deref()?).ok()?;
    if kept.size != size {
        return None;
    }
    let cv: [u8; 32] = hex::decode(&kept.cv).ok()?.try_into().ok()?;
    let root = match kept.root {
        Some(root) => Some(hex::decode(root).ok()?.try_into().ok()?),
        None => None,
    };
    Some(PartDigest { chaining_value: cv, root_if_alone: root })
}
