//! Reading keys: HeadObject and GetObject (ranges, conditions, versions), and what every answer
//! about an object says of it (its ETag, media type, dates, user metadata).
//!
//! A key is a file object's name, or `ds/<path>` for a file inside the directory object `ds`
//! ([`Platform::readable_key`]). Bytes are streamed from the store as the client reads them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use fedml_platform::catalogue::ObjectRecord;
use fedml_platform::operations::Readable;
use s3s::dto::{
    ChecksumMode, ChecksumType, ETag, ETagCondition, GetObjectInput, GetObjectOutput, HeadObjectInput,
    HeadObjectOutput, Metadata, Range, StreamingBlob, Timestamp,
};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::Fedml;
use crate::auth::caller;
use crate::errors::{On, custom, s3};

/// The media type of an object that names none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// What an answer says of the object a key reads.
pub(crate) struct Described {
    pub etag: String,
    /// When it was written, to the millisecond (listings), and in the whole seconds HTTP dates
    /// carry (what conditions compare).
    pub last_modified: Timestamp,
    pub modified_secs: Timestamp,
    pub content_type: String,
    pub metadata: Option<Metadata>,
    /// User metadata that cannot be sent as a header.
    pub missing_meta: Option<i32>,
    pub version: Option<String>,
    pub size: u64,
    /// The whole object's S3 checksums kept with it (base64, by algorithm).
    pub checksums: BTreeMap<String, String>,
    /// The sizes of its parts, when it was written in parts.
    pub part_sizes: Vec<u64>,
}

/// The ETag of an object version: `"{md5}"` (or `"{md5}-{parts}"`) when it was written through
/// S3, else its BLAKE3 checksum (64 hex digits, which no client takes for an MD5).
pub(crate) fn etag(record: &ObjectRecord) -> String {
    match (&record.attributes.md5, record.attributes.parts) {
        (Some(md5), Some(parts)) => format!("{md5}-{parts}"),
        (Some(md5), None) => md5.clone(),
        (None, _) => record.meta.checksum.trim_start_matches(fedml_proto::checksum::PREFIX).to_string(),
    }
}

/// When a version was written, as S3 dates it.
pub(crate) fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// The same, in the whole seconds of an HTTP date (so that a date read back from
/// `Last-Modified` compares equal).
fn whole_seconds(ms: i64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_secs((ms.max(0) / 1000) as u64))
}

/// User metadata as `x-amz-meta-*` headers: the entries whose name can be a header's, and how
/// many cannot.
pub(crate) fn metadata(map: &std::collections::BTreeMap<String, String>) -> (Option<Metadata>, Option<i32>) {
    let mut out = Metadata::default();
    let mut missing = 0;
    for (key, value) in map {
        let header = format!("x-amz-meta-{}", key.to_ascii_lowercase());
        if axum::http::HeaderName::from_bytes(header.as_bytes()).is_ok() {
            out.insert(key.to_ascii_lowercase(), value.clone());
        } else {
            missing += 1;
        }
    }
    ((!out.is_empty()).then_some(out), (missing > 0).then_some(missing))
}

/// A `versionId` as ours: a version number. `null` (what S3 calls an unversioned object's) is
/// the latest.
pub(crate) fn version_id(given: Option<&str>) -> S3Result<Option<u64>> {
    match given {
        None | Some("null") => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("invalid version id {text:?}: versions are numbered from 1 (ListObjectVersions lists them)"),
            )),
        },
    }
}

/// What answers say of what `readable` reads.
pub(crate) fn describe(readable: &Readable) -> Described {
    let record = readable.record();
    let (metadata, missing_meta) = metadata(&record.meta.user_metadata);
    match readable.file() {
        None => Described {
            etag: etag(record),
            last_modified: timestamp(record.updated_ms),
            modified_secs: whole_seconds(record.updated_ms),
            content_type: record.attributes.content_type.clone().unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
            metadata,
            missing_meta,
            version: Some(record.meta.version.to_string()),
            size: record.meta.size,
            checksums: checksums(&record.attributes),
            part_sizes: record.attributes.part_sizes.clone(),
        },
        Some(file) => Described {
            etag: file_etag(record.updated_ms, &file.entry.crc32, file.entry.size, &file.entry.path),
            last_modified: timestamp(record.updated_ms),
            modified_secs: whole_seconds(record.updated_ms),
            content_type: DEFAULT_CONTENT_TYPE.into(),
            metadata: None,
            missing_meta: None,
            version: Some(record.meta.version.to_string()),
            size: file.entry.size,
            checksums: BTreeMap::new(),
            part_sizes: Vec::new(),
        },
    }
}

/// The ETag of a file inside a directory object: a digest of what tells its bytes apart (when
/// its directory object's version was written, its CRC-32, size and path), the same from a
/// listing and from a read.
pub(crate) fn file_etag(written_ms: i64, crc32: &str, size: u64, path: &str) -> String {
    let text = format!("{written_ms}\n{crc32}\n{size}\n{path}");
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// The S3 checksums kept with an object: those its writer asked for, and its SHA-256 when it is
/// known otherwise (an LFS object's).
fn checksums(attributes: &fedml_platform::catalogue::Attributes) -> BTreeMap<String, String> {
    use base64::Engine as _;
    let mut out = attributes.checksums.clone();
    if let Some(sha256) = attributes.sha256.as_deref().and_then(|h| hex::decode(h).ok()) {
        out.entry("sha256".into()).or_insert_with(|| base64::engine::general_purpose::STANDARD.encode(sha256));
    }
    out
}

/// The conditions of a read (RFC 9110's order, as S3 takes them): a failed `If-Match` or
/// `If-Unmodified-Since` is `PreconditionFailed`, a matched `If-None-Match` or an unmodified
/// `If-Modified-Since` is `NotModified`.
pub(crate) struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl Conditions<'_> {
    pub(crate) fn check(&self, described: &Described) -> S3Result<()> {
        let ours = ETag::Strong(described.etag.clone());
        let modified = &described.modified_secs;
        if let Some(condition) = self.if_match {
            let holds = match condition {
                ETagCondition::Any => true,
                ETagCondition::ETag(theirs) => ours.strong_cmp(theirs),
            };
            if !holds {
                return Err(S3Error::with_message(S3ErrorCode::PreconditionFailed, "If-Match does not hold"));
            }
        } else if let Some(since) = self.if_unmodified_since
            && modified > since
        {
            return Err(S3Error::with_message(S3ErrorCode::PreconditionFailed, "modified since If-Unmodified-Since"));
        }
        if let Some(condition) = self.if_none_match {
            let matches = match condition {
                ETagCondition::Any => true,
                ETagCondition::ETag(theirs) => ours.weak_cmp(theirs),
            };
            if matches {
                return Err(S3Error::new(S3ErrorCode::NotModified));
            }
        } else if let Some(since) = self.if_modified_since
            && modified <= since
        {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
        Ok(())
    }
}

impl Fedml {
    /// What the key of a request reads, in the bucket it names.
    async fn readable(
        &self,
        caller: &fedml_platform::Caller,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<Readable> {
        self.bucket(caller, bucket, fedml_platform::operations::Need::Read).await?;
        let version = version_id(version)?;
        let on = if version.is_some() { On::Version } else { On::Key };
        self.platform.readable_key(caller, Some(bucket), key, version).await.map_err(|e| s3(e, on))
    }

    pub(crate) async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        let readable = self.readable(&caller, &input.bucket, &input.key, input.version_id.as_deref()).await?;
        let described = describe(&readable);
        Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&described)?;
        let read = Span::of(input.range, input.part_number, &described)?;
        let sums = Sums::of(&described, &read, input.checksum_mode.as_ref());
        let output = HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(read.length as i64),
            content_range: read.content_range(described.size),
            parts_count: read.parts_count,
            content_type: Some(described.content_type),
            e_tag: Some(ETag::Strong(described.etag)),
            last_modified: Some(described.last_modified),
            metadata: described.metadata,
            missing_meta: described.missing_meta,
            version_id: described.version,
            checksum_crc32: sums.get("crc32"),
            checksum_crc32c: sums.get("crc32c"),
            checksum_crc64nvme: sums.get("crc64nvme"),
            checksum_sha1: sums.get("sha1"),
            checksum_sha256: sums.get("sha256"),
            checksum_type: sums.kind(),
            ..Default::default()
        };
        let mut response = S3Response::new(output);
        if read.range.is_some() {
            // s3s answers a HEAD 200 whatever it says: the endpoint makes it a 206.
            response.extensions.insert(crate::PartialContent);
        }
        Ok(response)
    }

    pub(crate) async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        let readable = self.readable(&caller, &input.bucket, &input.key, input.version_id.as_deref()).await?;
        let described = describe(&readable);
        Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&described)?;
        let read = Span::of(input.range, input.part_number, &described)?;
        let stream = self.platform.read(&readable, (read.first, read.length)).await.map_err(|e| s3(e, On::Key))?;
        let body = StreamingBlob::from(s3s::Body::http_body_unsync(axum::body::Body::from_stream(stream)));
        let sums = Sums::of(&described, &read, input.checksum_mode.as_ref());
        let output = GetObjectOutput {
            body: Some(body),
            accept_ranges: Some("bytes".into()),
            content_length: Some(read.length as i64),
            content_range: read.content_range(described.size),
            parts_count: read.parts_count,
            content_type: Some(described.content_type),
            e_tag: Some(ETag::Strong(described.etag)),
            last_modified: Some(described.last_modified),
            metadata: described.metadata,
            missing_meta: described.missing_meta,
            version_id: described.version,
            checksum_crc32: sums.get("crc32"),
            checksum_crc32c: sums.get("crc32c"),
            checksum_crc64nvme: sums.get("crc64nvme"),
            checksum_sha1: sums.get("sha1"),
            checksum_sha256: sums.get("sha256"),
            checksum_type: sums.kind(),
            ..Default::default()
        };
        let mut response = S3Response::new(output);
        if read.range.is_some() {
            response.extensions.insert(crate::PartialContent);
        }
        Ok(response)
    }
}

/// The checksums a read answers: the whole object's, on a whole read that asked for them
/// (`x-amz-checksum-mode: ENABLED`), never on a range or a part.
struct Sums(BTreeMap<String, String>);

impl Sums {
    fn of(described: &Described, read: &Span, mode: Option<&ChecksumMode>) -> Sums {
        let asked = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        Sums(if asked && read.whole { described.checksums.clone() } else { BTreeMap::new() })
    }

    fn get(&self, algorithm: &str) -> Option<String> {
        self.0.get(algorithm).cloned()
    }

    fn kind(&self) -> Option<ChecksumType> {
        (!self.0.is_empty()).then(|| ChecksumType::from_static(ChecksumType::FULL_OBJECT))
    }
}

/// What a read answers of an object: all of it, a range, or one part.
struct Span {
    first: u64,
    length: u64,
    whole: bool,
    /// The range's first and last byte, when it is not the whole.
    range: Option<(u64, u64)>,
    parts_count: Option<i32>,
}

impl Span {
    /// The read `range` or `part_number` asks of `described` (not both): `InvalidRange` for a
    /// range past the end, `InvalidPartNumber` for a part the object has not.
    fn of(range: Option<Range>, part_number: Option<i32>, described: &Described) -> S3Result<Span> {
        let size = described.size;
        if let Some(number) = part_number {
            if range.is_some() {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "a read names a part number or a range, not both",
                ));
            }
            let sizes = match described.part_sizes.as_slice() {
                [] => vec![size],
                sizes => sizes.to_vec(),
            };
            let index = usize::try_from(number).ok().filter(|n| (1..=sizes.len()).contains(n)).ok_or_else(|| {
                custom("InvalidPartNumber", 416, format!("the object has {} parts, not a part {number}", sizes.len()))
            })?;
            let first: u64 = sizes[..index - 1].iter().sum();
            let length = sizes[index - 1];
            let parts = i32::try_from(sizes.len()).ok().filter(|_| !described.part_sizes.is_empty());
            let whole = first == 0 && length == size;
            let range = (!whole && length > 0).then(|| (first, first + length - 1));
            return Ok(Span { first, length, whole, range, parts_count: parts });
        }
        let Some(asked) = range else {
            return Ok(Span { first: 0, length: size, whole: true, range: None, parts_count: None });
        };
        let found = asked.check(size).map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidRange,
                format!("the range {} lies outside the object's {size} bytes", asked.to_header_string()),
            )
        })?;
        Ok(Span {
            first: found.start,
            length: found.end - found.start,
            whole: false,
            range: Some((found.start, found.end - 1)),
            parts_count: None,
        })
    }

    fn content_range(&self, size: u64) -> Option<String> {
        self.range.map(|(first, last)| format!("bytes {first}-{last}/{size}"))
    }
}
