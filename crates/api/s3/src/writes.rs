//! Writing keys: PutObject, CopyObject, DeleteObject and DeleteObjects, over the platform's
//! intake (`put_object`, `copy_object`) and deletes. A directory object's prefix is read-only:
//! its files are keys to read, not to write or delete (refused with `AccessDenied`).

use std::collections::BTreeMap;

use fedml_platform::Caller;
use fedml_platform::catalogue::ObjectRecord;
use fedml_platform::operations::Need;
use fedml_platform::operations::copy::CopyRequest;
use fedml_platform::operations::intake::{Body, PutRequest};
use futures_util::{StreamExt, TryStreamExt};
use s3s::dto::{
    Checksum, CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, DeletedObject, ETag, ETagCondition, MetadataDirective, PutObjectInput,
    PutObjectOutput,
};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::Fedml;
use crate::auth::caller;
use crate::body::{Expected, body_error_or, computed, incoming};
use crate::errors::{On, s3};
use crate::objects::{Conditions, describe, etag, timestamp, version_id};

/// The most keys one DeleteObjects names (S3's limit).
const MAX_DELETE: usize = 1000;

/// The MD5 a `Content-MD5` header gives (base64 of 16 bytes).
pub(crate) fn content_md5(given: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    use base64::Engine as _;
    let Some(text) = given else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok();
    match bytes.and_then(|b| <[u8; 16]>::try_from(b).ok()) {
        Some(md5) => Ok(Some(md5)),
        None => Err(S3Error::with_message(
            S3ErrorCode::InvalidDigest,
            "Content-MD5 must be the base64 of the body's 16-byte MD5",
        )),
    }
}

/// User metadata as the platform keeps it.
pub(crate) fn user_metadata(given: Option<s3s::dto::Metadata>) -> BTreeMap<String, String> {
    given.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

/// The body's length, which every write needs before its first byte: its Content-Length, or
/// for an `aws-chunked` body sent without one, the decoded length it announces.
pub(crate) fn length(given: Option<i64>, headers: &axum::http::HeaderMap) -> S3Result<u64> {
    let decoded = || {
        let value = headers.get("x-amz-decoded-content-length")?.to_str().ok()?;
        value.trim().parse::<i64>().ok()
    };
    match given.or_else(decoded) {
        Some(n) if n >= 0 => Ok(n as u64),
        Some(_) => Err(S3Error::with_message(S3ErrorCode::InvalidArgument, "a negative Content-Length")),
        None => Err(S3Error::with_message(
            S3ErrorCode::MissingContentLength,
            "the body's length must be given (Content-Length, or x-amz-decoded-content-length for aws-chunked)",
        )),
    }
}

/// A request's checksum headers.
fn given(c: [Option<String>; 5]) -> Checksum {
    let [crc32, crc32c, crc64nvme, sha1, sha256] = c;
    Checksum {
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64nvme,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        ..Default::default()
    }
}

impl Fedml {
    pub(crate) async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let size = length(input.content_length, &req.headers)?;
        // A "folder" marker (an empty key ending in '/'): folders are implied by the names under
        // them, so there is nothing to keep.
        if input.key.ends_with('/') && size == 0 {
            return Ok(S3Response::new(PutObjectOutput {
                e_tag: Some(ETag::Strong("d41d8cd98f00b204e9800998ecf8427e".into())),
                ..Default::default()
            }));
        }
        if let Some(condition) = &input.if_match {
            self.check_current(&caller, &input.bucket, &input.key, condition).await?;
        }
        let expected = Expected::of(
            given([
                input.checksum_crc32,
                input.checksum_crc32c,
                input.checksum_crc64nvme,
                input.checksum_sha1,
                input.checksum_sha256,
            ]),
            input.checksum_algorithm.as_ref(),
            &req.headers,
        );
        let blob = input.body.unwrap_or_else(|| {
            s3s::dto::StreamingBlob::wrap(futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        });
        let (body, report) = incoming(blob, expected, req.trailing_headers);
        let request = PutRequest {
            name: input.key,
            size: Some(size),
            content_type: input.content_type,
            metadata: Some(user_metadata(input.metadata)),
            create_only: input.if_none_match.as_ref().is_some_and(ETagCondition::is_any),
            content_md5: content_md5(input.content_md5.as_deref())?,
            sha256: false,
        };
        let stored = match self.platform.put_object(&caller, Some(&input.bucket), request, body).await {
            Ok(stored) => stored,
            Err(e) => return Err(body_error_or(&report, s3(e, On::Key))),
        };
        let sums = computed(&report);
        let record = self.keep_checksums(&caller, &input.bucket, stored.record, &sums).await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag(&record))),
            version_id: Some(record.meta.version.to_string()),
            size: Some(record.meta.size as i64),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            ..Default::default()
        }))
    }

    /// Keeps with a stored object the S3 checksums its body was sent with (computed and checked).
    async fn keep_checksums(
        &self,
        caller: &Caller,
        bucket: &str,
        record: ObjectRecord,
        sums: &Checksum,
    ) -> S3Result<ObjectRecord> {
        let kept: BTreeMap<String, String> = [
            ("crc32", &sums.checksum_crc32),
            ("crc32c", &sums.checksum_crc32c),
            ("crc64nvme", &sums.checksum_crc64nvme),
            ("sha1", &sums.checksum_sha1),
            ("sha256", &sums.checksum_sha256),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name.to_string(), v)))
        .collect();
        if kept.is_empty() {
            return Ok(record);
        }
        self.platform.annotate(caller, Some(bucket), record, |a| a.checksums = kept).await.map_err(|e| s3(e, On::Key))
    }

    /// An `If-Match` on a write: the key must exist with that ETag.
    async fn check_current(&self, caller: &Caller, bucket: &str, key: &str, condition: &ETagCondition) -> S3Result<()> {
        let readable = self.platform.readable_key(caller, Some(bucket), key, None).await.map_err(|e| s3(e, On::Key))?;
        let described = describe(&readable);
        let conditions = Conditions {
            if_match: Some(condition),
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
        };
        conditions.check(&described)
    }

    pub(crate) async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        let CopySource::Bucket { bucket: from_bucket, key: from_key, version_id: from_version } = &input.copy_source
        else {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "copies from access points are not supported",
            ));
        };
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        self.bucket(&caller, from_bucket, Need::Read).await?;
        let version = version_id(from_version.as_deref())?;
        let on = if version.is_some() { On::Version } else { On::Key };
        let source =
            self.platform.readable_key(&caller, Some(from_bucket), from_key, version).await.map_err(|e| s3(e, on))?;
        let described = describe(&source);
        let refuse = |e: S3Error| match e.code() {
            S3ErrorCode::NotModified => {
                S3Error::with_message(S3ErrorCode::PreconditionFailed, "x-amz-copy-source-if-none-match holds")
            }
            _ => e,
        };
        Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        }
        .check(&described)
        .map_err(refuse)?;
        let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if !replace && &**from_bucket == input.bucket.as_str() && &**from_key == input.key.as_str() && version.is_none()
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "copying an object onto itself changes nothing; give x-amz-metadata-directive: REPLACE with new metadata",
            ));
        }
        let (metadata, content_type) =
            if replace { (Some(user_metadata(input.metadata)), input.content_type) } else { (None, None) };
        let stored = match source.file() {
            // A file inside a directory object: its bytes are taken in as a new object.
            Some(_) => {
                let size = source.size();
                let read = self.platform.read(&source, (0, size)).await.map_err(|e| s3(e, On::Key))?;
                let body: Body = read.map_err(fedml_platform::Error::from).boxed();
                let request = PutRequest {
                    name: input.key.clone(),
                    size: Some(size),
                    content_type,
                    metadata: Some(metadata.unwrap_or_default()),
                    create_only: false,
                    content_md5: None,
                    sha256: false,
                };
                self.platform.put_object(&caller, Some(&input.bucket), request, body).await
            }
            None => {
                let to = CopyRequest { name: input.key.clone(), metadata, content_type, create_only: false };
                let name = source.record().meta.data_name.clone();
                let version = Some(source.record().meta.version);
                self.platform.copy_object(&caller, Some(from_bucket), &name, version, Some(&input.bucket), to).await
            }
        }
        .map_err(|e| s3(e, On::Key))?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(etag(&stored.record))),
                last_modified: Some(timestamp(stored.record.updated_ms)),
                ..Default::default()
            }),
            copy_source_version_id: described.version,
            version_id: Some(stored.record.meta.version.to_string()),
            ..Default::default()
        }))
    }

    pub(crate) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let version = version_id(input.version_id.as_deref())?;
        self.delete_key(&caller, &input.bucket, &input.key, version).await?;
        Ok(S3Response::new(DeleteObjectOutput { version_id: input.version_id, ..Default::default() }))
    }

    /// Deletes the key `key` (all its versions), or one version of it. A key that is not there
    /// is deleted already; a file inside a directory object is refused.
    async fn delete_key(&self, caller: &Caller, bucket: &str, key: &str, version: Option<u64>) -> S3Result<()> {
        let read_only = || {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!(
                    "{key:?} lies inside a directory object, whose files are read-only through S3; delete the \
                     directory object with `fedml storage delete`"
                ),
            )
        };
        match self.platform.readable_key(caller, Some(bucket), key, version).await {
            Ok(found) if found.file().is_some() => return Err(read_only()),
            Ok(_) => {}
            Err(fedml_platform::Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(s3(e, On::Key)),
        }
        let deleted = match version {
            Some(v) => self.platform.delete_version(caller, Some(bucket), key, None, v).await.map(|_| ()),
            None => self.platform.delete(caller, Some(bucket), key, None).await.map(|_| ()),
        };
        match deleted {
            Ok(()) | Err(fedml_platform::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(s3(e, On::Key)),
        }
    }

    pub(crate) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Read).await?;
        // A caller who may not write there is refused each key, as S3 answers it.
        let refused = self.bucket(&caller, &input.bucket, Need::Write).await.err();
        if input.delete.objects.len() > MAX_DELETE {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                format!("a DeleteObjects names at most {MAX_DELETE} keys, not {}", input.delete.objects.len()),
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for object in input.delete.objects {
            let outcome = match (&refused, version_id(object.version_id.as_deref())) {
                (Some(refusal), _) => Err(S3Error::with_message(
                    refusal.code().clone(),
                    refusal.message().unwrap_or("access denied").to_string(),
                )),
                (None, Ok(version)) => self.delete_key(&caller, &input.bucket, &object.key, version).await,
                (None, Err(e)) => Err(e),
            };
            match outcome {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    version_id: object.version_id,
                    ..Default::default()
                }),
                Err(e) => errors.push(s3s::dto::Error {
                    code: Some(e.code().as_str().to_string()),
                    message: e.message().map(str::to_string),
                    key: Some(object.key),
                    version_id: object.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }
}
