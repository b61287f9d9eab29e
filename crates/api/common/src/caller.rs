//! Who is calling, decided before anything else of the request is read: the `Authorization`
//! header's parsing (one function for the native and the FedML-compatible routes), the
//! [`Caller`] extractor that authenticates once, and [`ApiJson`], the JSON body extractor that
//! runs after it, so that a request without a valid key is refused before its body is read.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use fedml_platform::Error;

use crate::AppState;
use crate::reply::ApiError;

/// What to tell a client whose `Authorization` header cannot be read.
const HOW: &str = "send `Authorization: Bearer <API key>`";

/// The API key in the `Authorization` header: `Ok(None)` when there is no such header, the
/// token of `Bearer <token>` (scheme in any case, RFC 9110 §11.1), and a refusal that says how
/// to send the key when the header is there but malformed.
pub fn bearer_key(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = |what: &str| Error::Unauthorized(format!("the Authorization header {what}; {HOW}"));
    let text = value
        .to_str()
        .ok()
        .filter(|t| t.bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()))
        .ok_or_else(|| malformed("holds bytes that are not visible ASCII"))?;
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() {
        return Err(malformed("is empty"));
    }
    let (scheme, token) = match text.split_once([' ', '\t']) {
        Some((scheme, token)) => (scheme, token.trim_matches([' ', '\t'])),
        None if text.eq_ignore_ascii_case("bearer") => (text, ""),
        None => return Err(malformed("names no scheme (a bare key?)")),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed(&format!("uses the {scheme:?} scheme, which this server does not take")));
    }
    if token.is_empty() {
        return Err(malformed("says Bearer but carries no key"));
    }
    if token.contains([' ', '\t']) {
        return Err(malformed("carries more than one word after Bearer"));
    }
    Ok(Some(token))
}

/// The platform's caller, established once per request from its headers only: its Bearer key,
/// else a dashboard session cookie (whose state-changing requests must come from the
/// dashboard's own origin and carry the session's CSRF token). Refused with the envelope (HTTP
/// 401/403) before the body is read. It derefs to [`fedml_platform::Caller`], what every
/// operation takes.
pub struct Caller(pub fedml_platform::Caller);

impl std::ops::Deref for Caller {
    type Target = fedml_platform::Caller;

    fn deref(&self) -> &fedml_platform::Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, platform: &AppState) -> Result<Caller, ApiError> {
        if let Some(key) = bearer_key(&parts.headers)? {
            return Ok(Caller(platform.authenticate(Some(key)).await?));
        }
        if let Some(token) = crate::session::session_token(&parts.headers) {
            let (caller, session) = platform.session_caller(token).await?;
            if !parts.method.is_safe() {
                crate::session::check_same_origin(&parts.headers)?;
                crate::session::check_csrf(&parts.headers, &session.csrf_token)?;
            }
            return Ok(Caller(caller));
        }
        Ok(Caller(platform.authenticate(None).await?))
    }
}

/// A JSON body, refused with the envelope. Its size is bounded by `DefaultBodyLimit` (see
/// [`crate::limits`]) and the pace it arrives at by the body timeouts there.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // A body announced larger than the limit is refused before a byte of it is read.
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > crate::bodies::JSON_BODY_LIMIT as u64) {
            return Err(too_large().into());
        }
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(e) => Err(body_error(e).into()),
        }
    }
}

/// A JSON body that could not be taken, as the client should read it.
fn body_error(e: JsonRejection) -> Error {
    match e {
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        JsonRejection::BytesRejection(e) => {
            Error::Invalid(format!("the request body could not be read: {}; send it again", source_text(&e)))
        }
        e => Error::Invalid(format!("the request body is not what this call takes: {}", e.body_text())),
    }
}

fn too_large() -> Error {
    Error::Invalid(format!(
        "the request body is larger than this call takes (at most {} bytes)",
        crate::bodies::JSON_BODY_LIMIT
    ))
}

/// The innermost cause of a body that broke off (a timeout says which).
fn source_text(e: &dyn std::error::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parse(value: &[u8]) -> Result<Option<String>, String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_bytes(value).expect("header value"));
        bearer_key(&headers).map(|k| k.map(str::to_string)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in
            ["Bearer fml_k", "bearer fml_k", "BEARER fml_k", "bEaReR fml_k", "Bearer   fml_k ", "Bearer\tfml_k"]
        {
            assert_eq!(parse(value.as_bytes()), Ok(Some("fml_k".into())), "{value:?}");
        }
        assert_eq!(bearer_key(&HeaderMap::new()).map_err(|e| e.to_string()), Ok(None));
    }

    #[test]
    fn malformed_headers_say_how_to_send_the_key() {
        for (value, says) in [
            (&b"Basic dXNlcjpwYXNz"[..], "\"Basic\" scheme"),
            (b"Token fml_k", "\"Token\" scheme"),
            (b"fml_k", "no scheme"),
            (b"Bearer", "no key"),
            (b"bearer ", "no key"),
            (b"Bearer    ", "no key"),
            (b"", "empty"),
            (b"Bearer fml_k extra", "more than one word"),
            (b"Bearer fml_\xc3\xa9", "not visible ASCII"),
            (b"Bearer \xff", "not visible ASCII"),
        ] {
            let message = parse(value).expect_err("malformed");
            assert!(message.contains(says), "{value:?}: {message:?}");
            assert!(message.contains("Authorization: Bearer <API key>"), "{value:?}: {message:?}");
        }
    }
}
