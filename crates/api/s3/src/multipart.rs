//! Multipart uploads over the platform's multipart intakes: create, upload part, complete,
//! abort, list parts, list uploads. An upload belongs to the namespace it was begun in and to
//! the key that began it; another key's upload id reads as no upload.

use fedml_platform::operations::Need;
use fedml_platform::operations::intake::PutRequest;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CommonPrefix, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, ETag, Initiator,
    ListMultipartUploadsInput, ListMultipartUploadsOutput, ListPartsInput, ListPartsOutput, MultipartUpload, Part,
    UploadPartInput, UploadPartOutput,
};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::Fedml;
use crate::auth::caller;
use crate::body::{Expected, body_error_or, incoming};
use crate::errors::{On, s3};
use crate::objects::{etag, timestamp};
use crate::writes::{content_md5, length, user_metadata};

/// The least a part but the last may hold (S3's rule).
const MIN_PART: u64 = 5 << 20;

/// The most parts a ListParts page holds.
const PARTS_PAGE: usize = 1000;

impl Fedml {
    pub(crate) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let request = PutRequest {
            name: input.key.clone(),
            size: None,
            content_type: input.content_type,
            metadata: Some(user_metadata(input.metadata)),
            create_only: false,
            content_md5: None,
            sha256: false,
        };
        let upload_id =
            self.platform.begin_multipart(&caller, Some(&input.bucket), request).await.map_err(|e| s3(e, On::Key))?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    pub(crate) async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| S3Error::with_message(S3ErrorCode::InvalidArgument, "part numbers run from 1 to 10000"))?;
        let size = length(input.content_length, &req.headers)?;
        let given = s3s::dto::Checksum {
            checksum_crc32: input.checksum_crc32,
            checksum_crc32c: input.checksum_crc32c,
            checksum_crc64nvme: input.checksum_crc64nvme,
            checksum_sha1: input.checksum_sha1,
            checksum_sha256: input.checksum_sha256,
            ..Default::default()
        };
        let expected = Expected::of(given, input.checksum_algorithm.as_ref(), &req.headers);
        let blob = input.body.unwrap_or_else(|| {
            s3s::dto::StreamingBlob::wrap(futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        });
        let (body, report) = incoming(blob, expected, req.trailing_headers);
        let md5 = content_md5(input.content_md5.as_deref())?;
        let part = match self
            .platform
            .put_part(&caller, Some(&input.bucket), &input.upload_id, number, Some(size), md5, body)
            .await
        {
            Ok(part) => part,
            Err(e) => return Err(body_error_or(&report, s3(e, On::Upload))),
        };
        // The part's checksums are not answered: clients then leave them out of the completion.
        Ok(S3Response::new(UploadPartOutput { e_tag: Some(ETag::Strong(part.md5)), ..Default::default() }))
    }

    pub(crate) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let listed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if listed.is_empty() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "name at least one part to complete an upload",
            ));
        }
        let mut parts = Vec::with_capacity(listed.len());
        for part in listed {
            let number = part.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::InvalidPart, "every part of the completion needs its PartNumber")
            })?;
            parts.push((number, part.e_tag.map(|e| e.value().to_string())));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidPartOrder,
                "the parts must be listed in ascending order of their numbers, each once",
            ));
        }
        let sizes = self.check_parts(&caller, &input.bucket, &input.upload_id, &parts).await?;
        let stored =
            match self.platform.complete_multipart(&caller, Some(&input.bucket), &input.upload_id, &parts).await {
                Ok(stored) => stored,
                Err(fedml_platform::Error::Invalid(m)) => {
                    return Err(S3Error::with_message(S3ErrorCode::InvalidPart, m));
                }
                Err(e) => return Err(s3(e, On::Upload)),
            };
        let stored = self
            .platform
            .annotate(&caller, Some(&input.bucket), stored.record, |a| a.part_sizes = sizes)
            .await
            .map_err(|e| s3(e, On::Key))?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(etag(&stored))),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id: Some(stored.meta.version.to_string()),
            ..Default::default()
        }))
    }

    /// The parts a completion names, as S3 checks them: each uploaded with the ETag given
    /// (`InvalidPart`), each but the last of at least 5 MiB (`EntityTooSmall`). Answers their sizes.
    async fn check_parts(
        &self,
        caller: &fedml_platform::Caller,
        bucket: &str,
        upload_id: &str,
        parts: &[(u32, Option<String>)],
    ) -> S3Result<Vec<u64>> {
        let info =
            self.platform.multipart_parts(caller, Some(bucket), upload_id).await.map_err(|e| s3(e, On::Upload))?;
        let mut sizes = Vec::with_capacity(parts.len());
        for (number, given) in parts {
            let stored = info.parts.iter().find(|p| p.number == *number).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidPart,
                    format!("part {number} was not uploaded; send it first"),
                )
            })?;
            if let Some(given) = given
                && given.trim().trim_matches('"').to_ascii_lowercase() != stored.md5
            {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidPart,
                    format!("part {number}'s ETag is \"{}\", not {given:?}", stored.md5),
                ));
            }
            sizes.push(stored.size);
        }
        if let Some(at) = sizes.iter().take(sizes.len().saturating_sub(1)).position(|s| *s < MIN_PART) {
            return Err(S3Error::with_message(
                S3ErrorCode::EntityTooSmall,
                format!("part {} has {} bytes; every part but the last needs at least 5 MiB", parts[at].0, sizes[at]),
            ));
        }
        Ok(sizes)
    }

    pub(crate) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        self.platform
            .abort_multipart(&caller, Some(&input.bucket), &input.upload_id)
            .await
            .map_err(|e| s3(e, On::Upload))?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let info = self
            .platform
            .multipart_parts(&caller, Some(&input.bucket), &input.upload_id)
            .await
            .map_err(|e| s3(e, On::Upload))?;
        let after = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let most = input.max_parts.map_or(PARTS_PAGE, |n| (n.max(0) as usize).min(PARTS_PAGE));
        let mut parts: Vec<_> = info.parts.into_iter().filter(|p| p.number > after).collect();
        parts.sort_by_key(|p| p.number);
        let truncated = parts.len() > most;
        parts.truncate(most);
        let next = parts.last().map(|p| p.number as i32).filter(|_| truncated);
        let initiator = Initiator { display_name: Some(caller.user_name.clone()), id: Some(caller.user_id.clone()) };
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(info.name),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            next_part_number_marker: next,
            part_number_marker: input.part_number_marker,
            max_parts: Some(most as i32),
            initiator: Some(initiator),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| Part {
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        e_tag: Some(ETag::Strong(p.md5)),
                        last_modified: Some(timestamp(p.modified_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(crate) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        self.bucket(&caller, &input.bucket, Need::Write).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let open = self
            .platform
            .multipart_uploads(&caller, Some(&input.bucket), &prefix)
            .await
            .map_err(|e| s3(e, On::Bucket))?;
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        for upload in open {
            if let Some(d) = &delimiter
                && let Some(at) = upload.name[prefix.len().min(upload.name.len())..].find(d.as_str())
            {
                let common = upload.name[..prefix.len() + at + d.len()].to_string();
                if !prefixes.contains(&common) {
                    prefixes.push(common);
                }
                continue;
            }
            uploads.push(MultipartUpload {
                key: Some(upload.name),
                upload_id: Some(upload.upload_id),
                initiated: Some(timestamp(upload.started_ms)),
                ..Default::default()
            });
        }
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            is_truncated: Some(false),
            max_uploads: Some(1000),
            uploads: Some(uploads),
            common_prefixes: (!prefixes.is_empty())
                .then(|| prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(p) }).collect()),
            ..Default::default()
        }))
    }
}
