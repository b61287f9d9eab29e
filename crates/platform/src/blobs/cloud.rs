//! What the Google Cloud Storage and Azure backends share: a small JSON/REST client for the
//! calls `object_store` does not make (compose, listings with MD5s and generations), URL
//! lifetimes, and reading a blob back for its checksum.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;

use super::BlobError;
use crate::time::now_secs;

/// A signed URL's lifetime: until `expires` (Unix seconds), at least 1 s, at most 7 days (the
/// longest both clouds sign).
pub(super) fn lifetime(expires: i64) -> Duration {
    Duration::from_secs((expires - now_secs()).clamp(1, 7 * 24 * 3600) as u64)
}

/// A key prefix as the stores' listings write names: no leading, doubled or missing trailing
/// `/` (`"/team-a"`, `"team-a"`, `"a//b/"` become `"team-a/"`, `"team-a/"`, `"a/b/"`), `None` when
/// empty.
pub(super) fn normalise_prefix(prefix: Option<&str>) -> Option<String> {
    let segments: Vec<&str> = prefix?.split('/').filter(|s| !s.is_empty()).collect();
    (!segments.is_empty()).then(|| format!("{}/", segments.join("/")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_are_normalised() {
        for (given, expected) in [
            (Some("/team-a"), Some("team-a/")),
            (Some("team-a/"), Some("team-a/")),
            (Some("a//b/"), Some("a/b/")),
            (Some("/"), None),
            (Some(""), None),
            (None, None),
        ] {
            assert_eq!(super::normalise_prefix(given).as_deref(), expected, "{given:?}");
        }
    }
}

/// Percent-encodes one path segment or object name (every byte but the unreserved ones).
pub(super) use fedml_proto::encode_path_segment as encode;

/// `base` with `pairs` appended to its query, each encoded.
pub(super) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}{}", encoded.join("&"))
}

pub(super) fn store(e: reqwest::Error) -> BlobError {
    // reqwest's message may hold the URL; its query (a token) is not in it for these calls.
    BlobError::Store(e.without_url().to_string())
}

/// Whether a part's ETag (a quoted hex MD5, as both clouds answer a simple upload) names the
/// MD5 the store lists (base64). An ETag that is no MD5, or a listing without one, is not
/// compared: the download's BLAKE3 check still holds.
pub(super) fn etag_matches_md5(etag: &str, listed_md5: Option<&str>) -> bool {
    let hex_md5 = etag.trim().trim_start_matches("W/").trim_matches('"');
    let Some(listed) = listed_md5 else { return true };
    match (hex_md5.len() == 32).then(|| hex::decode(hex_md5).ok()).flatten() {
        Some(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes) == listed,
        None => true,
    }
}

/// The `blake3:<hex>` of a response body, read as a stream.
pub(super) async fn blake3_of(response: reqwest::Response) -> Result<String, BlobError> {
    let mut stream = response.bytes_stream();
    let mut hasher = blake3::Hasher::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk.map_err(store)?);
    }
    Ok(format!("{}{}", fedml_proto::checksum::PREFIX, hasher.finalize().to_hex()))
}

/// A REST client for one bucket's or container's base URL.
#[derive(Clone)]
pub(super) struct JsonClient {
    http: reqwest::Client,
    base: Arc<str>,
}

impl JsonClient {
    pub(super) fn new(base: String) -> Result<Self, BlobError> {
        // A bound on silence, not on the whole call: reading a large blob back for its checksum
        // (FedML SDK uploads, `fsck --deep`) takes as long as its size needs.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(store)?;
        Ok(JsonClient { http, base: base.into() })
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn base(&self) -> &str {
        &self.base
    }

    /// Sends `request` with the bearer `token` (none when empty): 404 is
    /// [`BlobError::NotFound`], 409/412 (a precondition) [`BlobError::Rejected`], any other
    /// failure [`BlobError::Store`] with the status and the start of the answer.
    pub(super) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<reqwest::Response, BlobError> {
        // A call that never reached the store, or that the store answered "slow down" or "not
        // now" (429, 500, 502, 503, 504), is sent again, up to four times in about 3 s; a time-out
        // is not (the call may have taken effect).
        const ATTEMPTS: u32 = 4;
        let mut pending = Some(request);
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let Some(current) = pending.take() else {
                return Err(BlobError::Store("a request to the store could not be repeated".into()));
            };
            let again = if attempt < ATTEMPTS { current.try_clone() } else { None };
            let current = if token.is_empty() { current } else { current.bearer_auth(token) };
            let sent = current.send().await;
            let transient = match &sent {
                Err(e) => e.is_connect(),
                Ok(r) => matches!(r.status().as_u16(), 429 | 500 | 502 | 503 | 504),
            };
            if transient && again.is_some() {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                pending = again;
                continue;
            }
            break sent.map_err(store)?;
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let said: String = body.chars().take(300).collect();
        if status.as_u16() == 404 {
            // Often expected (an abort of what was never created, a size of what is gone).
            tracing::debug!(%status, "the store has no such object");
            return Err(BlobError::NotFound);
        }
        tracing::warn!(%status, answer = %said, "the store refused a request");
        match status.as_u16() {
            409 | 412 => Err(BlobError::Rejected(
                "a part changed or an object appeared while the upload completed; upload again".into(),
            )),
            _ => Err(BlobError::Store(format!("HTTP {status}: {said}"))),
        }
    }
}
