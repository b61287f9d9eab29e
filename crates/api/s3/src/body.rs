//! A request body on its way to the platform's intake: its S3 checksums
//! (`x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}`, in a header or in the trailer of an
//! `aws-chunked` body) computed as it flows and checked at its end, where a mismatch ends the
//! stream with an error, so that the intake keeps nothing. s3s checks signatures and the
//! payload's SHA-256; a failure there ends the body too. The S3 error that says what went wrong
//! is kept beside the stream ([`Report`]) for the answer, since the platform sees only that the
//! body failed.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use fedml_platform::operations::intake::Body;
use futures_util::StreamExt;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;
use s3s::dto::{Checksum, ChecksumAlgorithm, StreamingBlob};
use s3s::{S3Error, S3ErrorCode, TrailingHeaders};

use crate::errors::custom;

/// The checksums a request's body should have: the values its headers give, and the algorithms
/// whose value comes in the trailer or that the client only names (to be answered).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expected {
    /// Values given in headers (base64), by algorithm.
    pub given: Checksum,
    /// Algorithms named without a value (`x-amz-sdk-checksum-algorithm`, `x-amz-trailer`).
    pub named: Vec<String>,
}

impl Expected {
    /// What the request's headers say: the checksum fields of its input, the algorithm it names,
    /// and the trailer it announces.
    pub(crate) fn of(given: Checksum, algorithm: Option<&ChecksumAlgorithm>, headers: &axum::http::HeaderMap) -> Self {
        let mut named = Vec::new();
        if let Some(algorithm) = algorithm {
            named.push(algorithm.as_str().to_ascii_lowercase());
        }
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            for name in trailer.split(',') {
                if let Some(algorithm) = name.trim().to_ascii_lowercase().strip_prefix("x-amz-checksum-") {
                    named.push(algorithm.to_string());
                }
            }
        }
        Expected { given, named }
    }

    fn hasher(&self) -> ChecksumHasher {
        let wants = |name: &str, given: &Option<String>| given.is_some() || self.named.iter().any(|n| n == name);
        let g = &self.given;
        ChecksumHasher {
            crc32: wants("crc32", &g.checksum_crc32).then(s3s::crypto::Crc32::new),
            crc32c: wants("crc32c", &g.checksum_crc32c).then(s3s::crypto::Crc32c::new),
            sha1: wants("sha1", &g.checksum_sha1).then(s3s::crypto::Sha1::new),
            sha256: wants("sha256", &g.checksum_sha256).then(s3s::crypto::Sha256::new),
            crc64nvme: wants("crc64nvme", &g.checksum_crc64nvme).then(s3s::crypto::Crc64Nvme::new),
        }
    }
}

/// What became of a body: the checksums computed at its end, or the S3 error that ended it.
#[derive(Default)]
pub(crate) struct Report {
    pub computed: Option<Checksum>,
    pub error: Option<S3Error>,
}

pub(crate) type SharedReport = Arc<Mutex<Report>>;

/// The error a body's report holds, if it ended the body; else `fallback`.
pub(crate) fn body_error_or(report: &SharedReport, fallback: S3Error) -> S3Error {
    report.lock().unwrap_or_else(PoisonError::into_inner).error.take().unwrap_or(fallback)
}

/// The checksums computed of a body that ended well.
pub(crate) fn computed(report: &SharedReport) -> Checksum {
    report.lock().unwrap_or_else(PoisonError::into_inner).computed.clone().unwrap_or_default()
}

struct Flow {
    inner: StreamingBlob,
    hasher: Option<ChecksumHasher>,
    expected: Expected,
    trailers: Option<TrailingHeaders>,
    report: SharedReport,
    ended: bool,
}

/// The body `blob` as the platform takes it, checked against `expected` (see the module's
/// text), with the report of how it ended.
pub(crate) fn incoming(
    blob: StreamingBlob,
    expected: Expected,
    trailers: Option<TrailingHeaders>,
) -> (Body, SharedReport) {
    let report = SharedReport::default();
    let flow =
        Flow { inner: blob, hasher: Some(expected.hasher()), expected, trailers, report: report.clone(), ended: false };
    let body = futures_util::stream::unfold(flow, |mut flow| async move {
        if flow.ended {
            return None;
        }
        let item = flow.next().await?;
        if item.is_err() {
            flow.ended = true;
        }
        Some((item, flow))
    })
    .boxed();
    (body, report)
}

impl Flow {
    fn fail(&mut self, error: S3Error) -> fedml_platform::Error {
        let message = error.message().unwrap_or("the request body was refused").to_string();
        self.report.lock().unwrap_or_else(PoisonError::into_inner).error = Some(error);
        fedml_platform::Error::BadBytes(message)
    }

    async fn next(&mut self) -> Option<Result<Bytes, fedml_platform::Error>> {
        match self.inner.next().await {
            Some(Ok(bytes)) => {
                if let Some(hasher) = &mut self.hasher {
                    hasher.update(&bytes);
                }
                Some(Ok(bytes))
            }
            Some(Err(e)) => {
                let error = body_failure(&e.to_string());
                Some(Err(self.fail(error)))
            }
            None => {
                let computed = self.hasher.take().map(ChecksumHasher::finalize).unwrap_or_default();
                let trailer = self.trailers.as_ref().and_then(TrailingHeaders::take);
                let expected = |name: &str, given: &Option<String>| {
                    given.clone().or_else(|| {
                        let header = format!("x-amz-checksum-{name}");
                        trailer.as_ref().and_then(|t| t.get(&header)).and_then(|v| v.to_str().ok()).map(str::to_string)
                    })
                };
                let g = self.expected.given.clone();
                let pairs = [
                    ("crc32", expected("crc32", &g.checksum_crc32), &computed.checksum_crc32),
                    ("crc32c", expected("crc32c", &g.checksum_crc32c), &computed.checksum_crc32c),
                    ("sha1", expected("sha1", &g.checksum_sha1), &computed.checksum_sha1),
                    ("sha256", expected("sha256", &g.checksum_sha256), &computed.checksum_sha256),
                    ("crc64nvme", expected("crc64nvme", &g.checksum_crc64nvme), &computed.checksum_crc64nvme),
                ];
                for (name, wanted, got) in pairs {
                    if let Some(wanted) = wanted
                        && Some(&wanted) != got.as_ref()
                    {
                        let error = S3Error::with_message(
                            S3ErrorCode::BadDigest,
                            format!(
                                "the body's {} checksum is {}, not the {wanted} the request gives: it was damaged \
                                 on its way; nothing was stored, send it again",
                                name.to_ascii_uppercase(),
                                got.as_deref().unwrap_or("(none)")
                            ),
                        );
                        return Some(Err(self.fail(error)));
                    }
                }
                self.report.lock().unwrap_or_else(PoisonError::into_inner).computed = Some(computed);
                None
            }
        }
    }
}

/// The S3 error of a body s3s or the connection ended, from what it says.
fn body_failure(what: &str) -> S3Error {
    if what.contains("SignatureMismatch") {
        S3Error::with_message(S3ErrorCode::SignatureDoesNotMatch, "a chunk of the body does not match its signature")
    } else if what.contains("Sha256Mismatch") {
        custom(
            "XAmzContentSHA256Mismatch",
            400,
            "the body's SHA-256 is not the x-amz-content-sha256 the request signed",
        )
    } else if what.contains("request body arrived") {
        S3Error::with_message(S3ErrorCode::RequestTimeout, format!("the request body stalled: {what}"))
    } else if what.contains("LengthMismatch") || what.contains("Incomplete") {
        S3Error::with_message(S3ErrorCode::IncompleteBody, "the body ended before the length the request announced")
    } else if what.contains("FormatError") || what.contains("TooLarge") || what.contains("TooMany") {
        S3Error::with_message(S3ErrorCode::InvalidRequest, format!("the aws-chunked body is malformed: {what}"))
    } else {
        S3Error::with_message(S3ErrorCode::IncompleteBody, format!("the request body broke off: {what}"))
    }
}
