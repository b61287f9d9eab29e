//! The one mapping of a platform [`Error`] to an S3 error: its code, status and message. What a
//! refusal names depends on what the request named (a bucket, a key, an upload, a version), so
//! the mapping takes it ([`On`]). Breakage is logged under the request's id and answered
//! `InternalError` without its detail.

use fedml_platform::Error;
use s3s::{S3Error, S3ErrorCode};

/// What a request acts on, for the refusals that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// A bucket (a namespace): not found is `NoSuchBucket`.
    Bucket,
    /// An object's key: not found is `NoSuchKey`; a conflict is a write into what is read-only.
    Key,
    /// A version of a key: not found is `NoSuchVersion`.
    Version,
    /// A multipart upload: not found is `NoSuchUpload`.
    Upload,
}

/// An S3 error with a code that S3's list lacks, answered with `status`.
pub fn custom(code: &'static str, status: u16, message: impl Into<String>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message.into());
    if let Ok(status) = axum::http::StatusCode::from_u16(status) {
        e.set_status_code(status);
    }
    e
}

/// The S3 error for `e`, met acting on `on`.
pub fn s3(e: Error, on: On) -> S3Error {
    let mut answer = match e {
        Error::Unauthorized(m) => S3Error::with_message(S3ErrorCode::InvalidAccessKeyId, m),
        Error::Forbidden(m) if is_quota(&m) => custom("QuotaExceeded", 403, m),
        Error::Forbidden(m) => S3Error::with_message(S3ErrorCode::AccessDenied, m),
        Error::NotFound(m) => S3Error::with_message(
            match on {
                On::Bucket => S3ErrorCode::NoSuchBucket,
                On::Key => S3ErrorCode::NoSuchKey,
                On::Version => S3ErrorCode::NoSuchVersion,
                On::Upload => S3ErrorCode::NoSuchUpload,
            },
            m,
        ),
        // A name that is a folder of other names, or lies inside a directory object: the write
        // can never succeed, so it is refused rather than reported as a race to retry.
        Error::Conflict(m) if on != On::Bucket => S3Error::with_message(S3ErrorCode::AccessDenied, m),
        Error::Conflict(m) => S3Error::with_message(S3ErrorCode::OperationAborted, m),
        Error::Invalid(m) => S3Error::with_message(S3ErrorCode::InvalidArgument, m),
        Error::TooLarge(m) => S3Error::with_message(S3ErrorCode::EntityTooLarge, m),
        Error::Precondition(m) => S3Error::with_message(S3ErrorCode::PreconditionFailed, m),
        Error::TooManyRequests(m, _) => S3Error::with_message(S3ErrorCode::SlowDown, m),
        Error::MethodNotAllowed(m) => S3Error::with_message(S3ErrorCode::MethodNotAllowed, m),
        Error::StorageFull(m) => custom("StorageFull", 507, m),
        Error::BadBytes(m) => S3Error::with_message(S3ErrorCode::BadDigest, m),
        Error::Damaged(m) => {
            tracing::error!(error = %m, "stored data found damaged");
            S3Error::with_message(S3ErrorCode::InternalError, m)
        }
        Error::Internal(m) => {
            tracing::error!(error = %m, "an S3 request failed");
            S3Error::with_message(S3ErrorCode::InternalError, fedml_api_common::requests::internal_error_message())
        }
    };
    if let Some(id) = fedml_api_common::requests::current_request_id() {
        answer.set_request_id(id.to_string());
    }
    answer
}

/// The message an error that s3s answers itself lacks (a signature that does not match, XML
/// that does not parse, …): what went wrong and what to do, as every refusal of this server says.
fn message_for(code: &str) -> &'static str {
    match code {
        "SignatureDoesNotMatch" => {
            "the request's signature does not match: check the secret access key (`fedml storage s3-credentials` \
             prints it) and that the client signs with Signature Version 4 for region us-east-1"
        }
        "AccessDenied" => "access denied",
        "MalformedXML" => "the request's XML body is not the document this operation reads",
        "InvalidRequest" => "the request is malformed for this operation",
        "InvalidArgument" => "an argument of the request is not valid",
        "InvalidURI" => "the request's path cannot be read as a bucket and key",
        "InvalidBucketName" => "not a bucket name: a bucket is a namespace's name",
        "KeyTooLongError" => "the key is longer than 1,024 bytes",
        "MissingContentLength" => "the body's length must be given (Content-Length)",
        "RequestTimeTooSkewed" => "the request's date is too far from the server's clock (15 minutes at most)",
        "MaxMessageLengthExceeded" => "the request's XML body is larger than this server reads",
        "NotImplemented" => "this server does not implement this S3 operation or header",
        "MethodNotAllowed" => "this method is not allowed on this resource",
        "EntityTooLarge" => "the body is larger than this operation takes",
        "XAmzContentSHA256Mismatch" => "the body's SHA-256 is not the one the request signed",
        _ => "the S3 request was refused",
    }
}

/// An error answer of s3s's own, given the message it lacks and the request's id.
pub(crate) async fn with_message(response: axum::response::Response) -> axum::response::Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let Some(end) = text.find("</Code>").filter(|_| !text.contains("<Message>")) else {
        return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let code = text[..end].rsplit('>').next().unwrap_or_default();
    let mut added = format!("<Message>{}</Message>", message_for(code));
    if !text.contains("<RequestId>")
        && let Some(id) = fedml_api_common::requests::current_request_id()
    {
        added.push_str(&format!("<RequestId>{id}</RequestId>"));
    }
    let at = end + "</Code>".len();
    let body = format!("{}{added}{}", &text[..at], &text[at..]);
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// Whether a refusal is the quota's (the platform's refusals of the quota name it).
fn is_quota(message: &str) -> bool {
    message.contains("quota")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_s3_codes() {
        let code = |e: Error, on: On| s3(e, on).code().as_str().to_string();
        assert_eq!(code(Error::NotFound("x".into()), On::Bucket), "NoSuchBucket");
        assert_eq!(code(Error::NotFound("x".into()), On::Key), "NoSuchKey");
        assert_eq!(code(Error::NotFound("x".into()), On::Upload), "NoSuchUpload");
        assert_eq!(code(Error::Forbidden("read-only".into()), On::Key), "AccessDenied");
        assert_eq!(code(Error::Forbidden("over the namespace's quota of 10 bytes".into()), On::Key), "QuotaExceeded");
        assert_eq!(code(Error::BadBytes("md5".into()), On::Key), "BadDigest");
        assert_eq!(code(Error::Precondition("taken".into()), On::Key), "PreconditionFailed");
        assert_eq!(code(Error::TooLarge("big".into()), On::Key), "EntityTooLarge");
        let quota = s3(Error::Forbidden("over the quota".into()), On::Key);
        assert_eq!(quota.status_code().map(|s| s.as_u16()), Some(403));
        let internal = s3(Error::Internal("disk on fire at /srv".into()), On::Key);
        assert_eq!(internal.code().as_str(), "InternalError");
        assert!(!internal.message().unwrap_or_default().contains("/srv"), "details stay in the log");
    }
}
