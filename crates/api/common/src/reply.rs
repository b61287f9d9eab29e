//! How every front end but the FedML routes answers: the envelope `{code, message, data}` of a
//! success ([`Reply`]) or of a refusal ([`ApiError`], the one mapping of a platform error to an
//! HTTP status), and the path and query extractors that refuse bad input with it.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fedml_platform::Error;
use fedml_proto::{Envelope, ResponseCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A success: its message and its data, in the envelope with HTTP 200.
pub struct Reply<T>(pub String, pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (StatusCode::OK, axum::Json(Envelope::success(self.0, self.1))).into_response()
    }
}

/// A platform [`Error`] as every front end but the FedML routes answers it: an envelope whose
/// HTTP status and code say what kind of refusal or breakage it is. The message of a breakage
/// stays in the log, under the request's id, which the answer quotes.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        let (status, code) = match &error {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ResponseCode::Failure),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, ResponseCode::Failure),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, ResponseCode::Failure),
            Error::Conflict(_) => (StatusCode::CONFLICT, ResponseCode::Failure),
            Error::Invalid(_) => (StatusCode::BAD_REQUEST, ResponseCode::Failure),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ResponseCode::Failure),
            Error::Precondition(_) => (StatusCode::PRECONDITION_FAILED, ResponseCode::Failure),
            Error::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, ResponseCode::Failure),
            Error::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, ResponseCode::Failure),
            Error::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, ResponseCode::Error),
            Error::BadBytes(_) => (StatusCode::UNPROCESSABLE_ENTITY, ResponseCode::Failure),
            Error::Damaged(_) => (StatusCode::INTERNAL_SERVER_ERROR, ResponseCode::Error),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ResponseCode::Error),
        };
        let message = match &error {
            Error::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                crate::requests::internal_error_message()
            }
            Error::StorageFull(message) | Error::Damaged(message) => {
                tracing::warn!(%message, "request failed");
                crate::requests::with_request_id(message)
            }
            other => other.to_string(),
        };
        let body: Envelope<()> = Envelope { code, message, data: None };
        let mut response = (status, axum::Json(body)).into_response();
        if let Error::TooManyRequests(_, wait) = &error {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*wait));
        }
        response
    }
}

pub type ApiResult<T> = Result<Reply<T>, ApiError>;

/// `Path`, refused like every other bad input: an envelope, not axum's plain-text rejection
/// (a path segment that is not UTF-8, a part number that is not a number).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) if e.status().is_server_error() => Err(Error::Internal(e.body_text()).into()),
            Err(e) => Err(Error::Invalid(e.body_text()).into()),
        }
    }
}

/// `Query`, refused with an envelope (a repeated or malformed parameter).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| Error::Invalid(e.body_text()).into())
    }
}

/// The answer to a path no front end serves.
pub async fn handle_unknown_route() -> ApiError {
    Error::NotFound("no such API route; see the README for the API".into()).into()
}

/// The answer to a known path asked with a method it does not take.
pub async fn handle_wrong_method(method: axum::http::Method) -> ApiError {
    Error::MethodNotAllowed(format!("this route does not take {method}; see the README for the API")).into()
}

/// `?namespace=NS`: the namespace a call acts in; `None` (left out, or empty) means the caller's
/// own. Read beside a handler's own query parameters.
pub struct Namespace(pub Option<String>);

impl Namespace {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Namespace {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        #[derive(serde::Deserialize)]
        struct Only {
            namespace: Option<String>,
        }
        let ApiQuery(Only { namespace }) = ApiQuery::<Only>::from_request_parts(parts, state).await?;
        Ok(Namespace(namespace.filter(|n| !n.trim().is_empty())))
    }
}
