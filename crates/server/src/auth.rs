//! Who is calling, decided before anything else of the request is read: the `Authorization`
//! header's parsing (one function for the native and the FedML-compatible routes), the
//! [`Caller`] extractor that authenticates once, and [`ApiJson`], the JSON body extractor that
//! runs after it, so that a request without a valid key is refused before its body is read.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::platform::Caller;
use crate::routes::AppState;

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

/// Authenticates the request once, from its headers only: its Bearer key, else a dashboard
/// session cookie (whose state-changing requests must come from the dashboard's own origin and
/// carry the session's CSRF token). Refused with the envelope (HTTP 401/403) before the body is
/// read.
impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, platform: &AppState) -> Result<Caller, Error> {
        if let Some(key) = bearer_key(&parts.headers)? {
            return platform.authenticate(Some(key)).await;
        }
        if let Some(token) = crate::web::session_token(&parts.headers) {
            let (caller, session) = platform.session_caller(token).await?;
            if !parts.method.is_safe() {
                crate::web::check_same_origin(&parts.headers)?;
                crate::web::check_csrf(&parts.headers, &session.csrf_token)?;
            }
            return Ok(caller);
        }
        platform.authenticate(None).await
    }
}

/// A JSON body, refused with the envelope. Its size is bounded by `DefaultBodyLimit` (see
/// [`crate::limits`]) and the pace it arrives at by the body timeouts there.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        // A body announced larger than the limit is refused before a byte of it is read.
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > crate::limits::JSON_BODY_LIMIT as u64) {
            return Err(too_large());
        }
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(e) => Err(body_error(e)),
        }
    }
}

/// A JSON body that could not be taken, as the client should read it.
pub fn body_error(e: JsonRejection) -> Error {
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
        crate::limits::JSON_BODY_LIMIT
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

    /// An unknown key id and a known id with a wrong secret must not be told apart by the time
    /// they take. Counted, not only timed: each path hashes the presented secret exactly once
    /// (the work that used to be skipped for an unknown id). The medians of many interleaved
    /// runs are printed and compared with a tolerance wide enough for a busy 2-core machine.
    #[tokio::test]
    async fn an_unknown_key_id_costs_what_a_wrong_secret_costs() {
        use crate::catalogue::Catalogue;
        use crate::keys;
        use crate::platform::{Lifetimes, Platform};

        let dir = tempfile::tempdir().expect("tmp");
        let catalogue = Catalogue::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.expect("db");
        crate::admin::create_user(&catalogue, "alice").await.expect("user");
        let key = crate::admin::create_key(&catalogue, "alice", false, "test").await.expect("key").1;
        let platform = Platform::new(
            catalogue,
            Default::default(),
            "R2".into(),
            "http://127.0.0.1:1".into(),
            Lifetimes::default(),
        );
        let (prefix, secret) = key.rsplit_once('_').expect("key shape");
        let flipped = format!("{}{}", if secret.starts_with('0') { '1' } else { '0' }, &secret[1..]);
        let wrong_secret = format!("{prefix}_{flipped}");
        let unknown_id = format!("fml_{}_{secret}", "0".repeat(16));
        assert!(!key.contains(&"0".repeat(16)), "the made-up id must be unknown");

        let refusal = |presented: &str| {
            let platform = &platform;
            let presented = presented.to_string();
            async move {
                let before = keys::secret_hashes_on_this_thread();
                let answer =
                    platform.authenticate(Some(&presented)).await.map(|c| c.user_name).map_err(|e| e.to_string());
                (answer, keys::secret_hashes_on_this_thread() - before)
            }
        };
        let (unknown, unknown_hashes) = refusal(&unknown_id).await;
        let (wrong, wrong_hashes) = refusal(&wrong_secret).await;
        let (right, right_hashes) = refusal(&key).await;
        assert_eq!(right, Ok("alice".to_string()));
        assert!(unknown.is_err() && unknown == wrong, "the refusals read differently: {unknown:?} / {wrong:?}");
        assert_eq!((unknown_hashes, wrong_hashes, right_hashes), (1, 1, 1), "hashes per check");

        // Timed: interleaved, so that a slow moment of the machine hits both paths alike; the
        // medians of 1,500 runs each. Before the fix the unknown id took half the time of the
        // wrong secret (5 µs against 11 µs in a debug build); now the two differ by the reading of
        // the found row only. A busy machine can skew one measurement, so it is tried up to three
        // times; a real difference fails all three.
        let mut medians = Vec::new();
        for _attempt in 0..3 {
            let mut times = [Vec::new(), Vec::new()];
            for i in 0..3000 {
                let which = i % 2;
                let presented = if which == 0 { &unknown_id } else { &wrong_secret };
                let started = std::time::Instant::now();
                let answer = platform.authenticate(Some(presented)).await;
                times[which].push(started.elapsed());
                assert!(answer.is_err());
            }
            let [unknown, wrong] = times.map(|mut t| {
                t.sort();
                t[t.len() / 2]
            });
            println!("median: unknown id {unknown:?}, wrong secret {wrong:?}");
            medians.push((unknown, wrong));
            if unknown.max(wrong).as_secs_f64() <= unknown.min(wrong).as_secs_f64() * 1.75 {
                return;
            }
        }
        panic!("an unknown id and a wrong secret take measurably different times: {medians:?}");
    }
}
