//! How the Hub's routes refuse: the Hub's own shape, `{"error": "…"}` with the HTTP status the
//! clients act on and, for a 404, the `X-Error-Code` that tells `huggingface_hub` what was not
//! found (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`: `transformers` and `datasets` skip
//! an optional file on `EntryNotFound` only). Every platform [`Error`] is mapped here once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fedml_platform::Error;

/// `X-Error-Code` values the clients read.
pub const REPO_NOT_FOUND: &str = "RepoNotFound";
pub const REVISION_NOT_FOUND: &str = "RevisionNotFound";
pub const ENTRY_NOT_FOUND: &str = "EntryNotFound";

/// What `huggingface_hub` reads as "the key is wrong" rather than "the repository is missing"
/// on a 401 (`utils/_http.py`, `hf_raise_for_status`).
const INVALID_CREDENTIALS: &str = "Invalid credentials in Authorization header";

/// A refusal or breakage, as the Hub answers it.
#[derive(Debug)]
pub struct HubError {
    status: StatusCode,
    code: Option<&'static str>,
    message: String,
    /// The commit the request was answered at (`X-Repo-Commit` of an `EntryNotFound`, which
    /// the client caches as "this file does not exist at that commit").
    commit: Option<String>,
    retry_after: Option<u64>,
}

pub type HubResult<T> = Result<T, HubError>;

impl HubError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> HubError {
        HubError { status, code: None, message: message.into(), commit: None, retry_after: None }
    }

    /// Bad input: 400 with the message.
    pub fn bad(message: impl Into<String>) -> HubError {
        HubError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404 with its `X-Error-Code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> HubError {
        HubError { code: Some(code), ..HubError::new(StatusCode::NOT_FOUND, message) }
    }

    /// A 404 of this error is the repository that was not found.
    pub fn repo(self) -> HubError {
        self.code_404(REPO_NOT_FOUND)
    }

    /// A 404 of this error is the revision that was not found.
    pub fn revision(self) -> HubError {
        self.code_404(REVISION_NOT_FOUND)
    }

    /// A 404 of this error is the file or folder that was not found at `commit`.
    pub fn entry(self, commit: &str) -> HubError {
        let mut e = self.code_404(ENTRY_NOT_FOUND);
        if e.status == StatusCode::NOT_FOUND {
            e.commit = Some(commit.to_string());
        }
        e
    }

    fn code_404(mut self, code: &'static str) -> HubError {
        if self.status == StatusCode::NOT_FOUND && self.code.is_none() {
            self.code = Some(code);
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl std::fmt::Display for HubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for HubError {
    fn from(error: Error) -> HubError {
        let status = match &error {
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Precondition(_) => StatusCode::PRECONDITION_FAILED,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            Error::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::BadBytes(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Damaged(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &error {
            Error::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                fedml_api_common::requests::internal_error_message()
            }
            Error::StorageFull(message) | Error::Damaged(message) => {
                tracing::warn!(%message, "request failed");
                fedml_api_common::requests::with_request_id(message)
            }
            Error::Unauthorized(message) => format!(
                "{message} (huggingface_hub: set HF_TOKEN, or run `hf auth login`, with an API key of this server)"
            ),
            other => other.to_string(),
        };
        let retry_after = match &error {
            Error::TooManyRequests(_, wait) => Some(*wait),
            _ => None,
        };
        HubError { status, code: None, message, commit: None, retry_after }
    }
}

impl From<fedml_api_common::ApiError> for HubError {
    fn from(e: fedml_api_common::ApiError) -> HubError {
        e.0.into()
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response();
        let h = response.headers_mut();
        if let Some(code) = self.code {
            h.insert("x-error-code", HeaderValue::from_static(code));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert("x-error-message", HeaderValue::from_static(INVALID_CREDENTIALS));
        }
        if let Some(commit) = self.commit.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert("x-repo-commit", commit);
        }
        if let Some(wait) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_codes_are_set_once_and_only_on_404() {
        let e = HubError::from(Error::NotFound("no".into())).repo().revision();
        assert_eq!(e.code, Some(REPO_NOT_FOUND));
        let e = HubError::from(Error::Forbidden("no".into())).repo();
        assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, None));
        let e = HubError::from(Error::NotFound("no".into())).entry("abc");
        assert_eq!((e.code, e.commit.as_deref()), (Some(ENTRY_NOT_FOUND), Some("abc")));
        let e = HubError::from(Error::Conflict("taken".into())).entry("abc");
        assert_eq!((e.status, e.commit), (StatusCode::CONFLICT, None));
    }

    #[test]
    fn refusals_read_as_the_hub_writes_them() {
        let r = HubError::not_found(REVISION_NOT_FOUND, "no such revision").into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["x-error-code"], "RevisionNotFound");
        let r = HubError::from(Error::Unauthorized("the API key is not valid".into())).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["x-error-message"], INVALID_CREDENTIALS);
    }
}
