//! One PUT of bytes in memory to a signed URL (a part, or a pack as the pieces it is made of),
//! retried, and the check of what the store answers: success, an acknowledgement, and where the
//! store says what it received, that it is what was sent. Both the one-blob upload (`upload`) and
//! the packed one (`packed`) send this way.

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, ETAG};

use crate::client::{Client, retryable};
use crate::error::{ClientError, Result};
use crate::retry::{self, Failed};

/// What a PUT sends, as its messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece {
    /// Part `n` (from 0) of a one-blob upload.
    Part(u64),
    /// A pack of a packed upload.
    Pack,
}

impl std::fmt::Display for Piece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Piece::Part(n) => write!(f, "part {}", n + 1),
            Piece::Pack => f.write_str("a pack"),
        }
    }
}

/// PUTs a buffer (a part; a pack, as the pieces it is made of, sent as they are) to a signed
/// URL with `headers`, through the retry helper; `crc` is the CRC-32C of the pieces in order.
/// Answers the store's acknowledgement (see `accept_part`).
pub(super) async fn put_buffer(
    client: &Client,
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    pieces: Vec<Bytes>,
    crc: u32,
    what: Piece,
) -> Result<String> {
    let len: usize = pieces.iter().map(Bytes::len).sum();
    // A URL that only creates (a pack's, on a bucket): what it names is there already, sent by
    // an attempt whose answer was lost or by another upload of the same pack. The completion
    // reads and checks it whoever sent it.
    let create_only = headers.iter().any(|(name, value)| {
        (name.eq_ignore_ascii_case("if-none-match") && value == "*")
            || (name.eq_ignore_ascii_case("x-goog-if-generation-match") && value == "0")
    });
    retry::with_retries(|| {
        let pieces = pieces.clone();
        async move {
            let mut request = client.http().put(url).header(CONTENT_LENGTH, len);
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let body = match <[Bytes; 1]>::try_from(pieces) {
                Ok([one]) => reqwest::Body::from(one),
                Err(pieces) => reqwest::Body::wrap_stream(futures_util::stream::iter(
                    pieces.into_iter().map(Ok::<_, std::convert::Infallible>),
                )),
            };
            match request.body(body).send().await {
                Ok(response) if create_only && response.status() == StatusCode::PRECONDITION_FAILED => {
                    Ok(String::new())
                }
                Ok(response) => {
                    let status = response.status();
                    let etag = part_tag(response.headers());
                    let store_crc = store_crc32c(response.headers());
                    let body = response.bytes().await.unwrap_or_default();
                    accept_part(status, etag, store_crc, &body, crc, what)
                }
                Err(e) => Err(Failed::retry(crate::client::network_error(client.base(), &e))),
            }
        }
    })
    .await
}

/// What acknowledges a part: its `ETag`, or where the store answers none (Azure's Put Block),
/// the digest it computed of what it received.
pub(super) fn part_tag(headers: &reqwest::header::HeaderMap) -> Option<String> {
    [ETAG.as_str(), "x-ms-content-crc64", "content-md5"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()))
        .map(str::to_string)
}

/// The CRC-32C a store says it computed of a part, where it says one: Google Cloud Storage's
/// `x-goog-hash: crc32c=<base64>` (S3's `x-amz-checksum-crc32c` when asked for), big-endian.
pub(super) fn store_crc32c(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    use base64::Engine;
    let from_goog = headers
        .get_all("x-goog-hash")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(',').find_map(|item| item.trim().strip_prefix("crc32c=").map(str::to_string)));
    let encoded = from_goog.or_else(|| headers.get("x-amz-checksum-crc32c")?.to_str().ok().map(str::to_string))?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Checks a part's answer: success status and an ETag; where the store's ETag is the CRC-32C of
/// what it received (the local folder), or the store names the CRC-32C it computed (GCS), it must
/// be the CRC-32C of what we sent.
pub(super) fn accept_part(
    status: StatusCode,
    etag: Option<String>,
    store_crc: Option<u32>,
    body: &[u8],
    crc: u32,
    what: Piece,
) -> std::result::Result<String, Failed> {
    if !status.is_success() {
        let said = store_says(body);
        let hint = if said.as_deref().is_some_and(|m| m.contains("again")) { "" } else { "; try again" };
        let why = said.map(|m| format!(": {m}")).unwrap_or_default();
        // 422: the server found the bytes it received not to be what they claim (damaged on the
        // way): the same bytes are sent again.
        return Err(Failed::retry_if(
            retryable(status) || status == StatusCode::UNPROCESSABLE_ENTITY,
            ClientError::Error(format!("the store refused {what} (HTTP {status}{why}){hint}")),
        ));
    }
    let etag =
        etag.ok_or_else(|| Failed::retry(ClientError::Error(format!("the store answered {what} without an ETag"))))?;
    let theirs = etag.trim_matches('"');
    let local_mismatch =
        theirs.len() == 8 && theirs.bytes().all(|b| b.is_ascii_hexdigit()) && theirs != format!("{crc:08x}");
    if local_mismatch || store_crc.is_some_and(|c| c != crc) {
        return Err(Failed::retry(ClientError::Error(format!("{what} arrived damaged; it was sent again"))));
    }
    Ok(etag)
}

/// What a store's error answer says: our envelope's `message`, or an S3 error's `Message`/`Code`.
fn store_says(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let said = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v.get("message").and_then(|m| m.as_str()).map(str::to_string),
        Err(_) => ["Message", "Code"].iter().find_map(|tag| {
            let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
            let end = start + text[start..].find(&format!("</{tag}>"))?;
            Some(text[start..end].to_string())
        }),
    }?;
    let said = said.trim();
    (!said.is_empty()).then(|| said.chars().take(300).collect())
}

#[cfg(test)]
mod part_answer_tests {
    use super::*;

    #[test]
    fn a_store_s_crc32c_must_be_ours() {
        let crc = crc32c::crc32c(b"hello");
        let mut headers = reqwest::header::HeaderMap::new();
        let encoded = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
        };
        let value = format!("crc32c={encoded},md5=XUFAKrxLKna5cZ2REBfFkg==");
        headers.insert("x-goog-hash", value.parse().expect("header"));
        assert_eq!(store_crc32c(&headers), Some(crc));
        let ok = accept_part(
            StatusCode::OK,
            Some("\"5d41402abc4b2a76b9719d911017c592\"".into()),
            Some(crc),
            b"",
            crc,
            Piece::Part(0),
        );
        assert!(ok.is_ok());
        let damaged = accept_part(StatusCode::OK, Some("\"x\"".into()), Some(crc ^ 1), b"", crc, Piece::Part(0));
        assert!(damaged.is_err());
        assert_eq!(store_crc32c(&reqwest::header::HeaderMap::new()), None);
    }
}
