//! What a GET of stored content answers: the whole content, or one byte range as `Range` and
//! `If-Range` ask (RFC 9110 §14.2 and §13.1.5). Shared by every front end that serves bytes
//! itself (the blob URLs, share links, the Hub's `resolve`).
//!
//! - A `Range` header that is not a valid `bytes` ranges-specifier (another unit, `bytes=abc`,
//!   `bytes=5-3`) is ignored: 200 with the whole blob.
//! - A valid range that starts at or past the end (`bytes=999999-` on a small blob) is
//!   unsatisfiable: 416 with `Content-Range: bytes */<len>`.
//! - One satisfiable range: 206 with `Content-Range: bytes <first>-<last>/<len>`.
//! - Several ranges: the whole blob (200), which the RFC allows instead of a multipart answer;
//!   416 only when none of them could be satisfied.
//! - `If-Range` honours the range only when it carries the blob's own strong ETag; a stale or weak
//!   ETag, or a date (no `Last-Modified` is sent), gives the whole blob.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a `Range` header asks of a blob of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeAnswer {
    /// No range, or one to ignore: the whole blob.
    Whole,
    /// Bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// A valid range set of which nothing lies inside the blob.
    Unsatisfiable,
}

/// One `range-spec` of a `bytes` range set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    /// `first-` or `first-last`.
    From { first: u64, last: Option<u64> },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// The bytes `first..=last` of a blob of `len` bytes this spec selects, if any.
    fn within(self, len: u64) -> Option<(u64, u64)> {
        match self {
            RangeSpec::From { first, last } => {
                (first < len).then(|| (first, last.map_or(len - 1, |last| last.min(len - 1))))
            }
            RangeSpec::Suffix(n) => (n > 0 && len > 0).then(|| (len - n.min(len), len - 1)),
        }
    }
}

/// `1*DIGIT`; a number too large for u64 saturates (it still means "past any end").
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

fn parse_spec(item: &str) -> Option<RangeSpec> {
    let (first, last) = item.split_once('-')?;
    if first.is_empty() {
        return digits(last).map(RangeSpec::Suffix);
    }
    let first = digits(first)?;
    let last = if last.is_empty() { None } else { Some(digits(last)?) };
    // `5-3` is not a range (RFC 9110 §14.1.1: invalid when last-pos < first-pos).
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(RangeSpec::From { first, last })
}

/// Reads a `Range` header value against a blob of `len` bytes.
fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some((unit, set)) = value.trim().split_once('=') else { return RangeAnswer::Whole };
    if !unit.eq_ignore_ascii_case("bytes") {
        return RangeAnswer::Whole;
    }
    let mut specs = Vec::new();
    // A list: optional white space around the commas, empty elements allowed and skipped.
    for item in set.split(',').map(|i| i.trim_matches([' ', '\t'])).filter(|i| !i.is_empty()) {
        match parse_spec(item) {
            Some(spec) => specs.push(spec),
            None => return RangeAnswer::Whole,
        }
    }
    let mut inside = specs.iter().filter_map(|s| s.within(len));
    match (specs.len(), inside.next()) {
        (0, _) => RangeAnswer::Whole,
        (_, None) => RangeAnswer::Unsatisfiable,
        (1, Some((first, last))) => RangeAnswer::Part { first, last },
        _ => RangeAnswer::Whole,
    }
}

/// Whether an `If-Range` value lets the range through: only the blob's own strong ETag does
/// (strong comparison, RFC 9110 §8.8.3.2). A date never matches: no `Last-Modified` is sent.
fn if_range_allows(if_range: Option<&HeaderValue>, etag: &str) -> bool {
    match if_range {
        None => true,
        Some(v) => v.to_str().is_ok_and(|v| v.trim() == etag),
    }
}

/// What the request's headers ask of a blob of `len` bytes whose ETag is `etag`.
fn answer(request: &HeaderMap, len: u64, etag: &str) -> RangeAnswer {
    let mut ranges = request.get_all(header::RANGE).iter();
    let (Some(range), None) = (ranges.next(), ranges.next()) else { return RangeAnswer::Whole };
    let Ok(range) = range.to_str() else { return RangeAnswer::Whole };
    if !if_range_allows(request.get(header::IF_RANGE), etag) {
        return RangeAnswer::Whole;
    }
    parse_range(range, len)
}

/// A range that lies outside content of this many bytes: answered 416.
pub struct Unsatisfiable(u64);

impl IntoResponse for Unsatisfiable {
    fn into_response(self) -> Response {
        let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", self.0)) {
            h.insert(header::CONTENT_RANGE, v);
        }
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        response
    }
}

/// The bytes `(first, count)` a GET of content of `len` bytes (ETag `etag`) is to answer.
pub fn plan(request: &HeaderMap, len: u64, etag: &str) -> Result<(u64, u64), Unsatisfiable> {
    match answer(request, len, etag) {
        RangeAnswer::Whole => Ok((0, len)),
        RangeAnswer::Part { first, last } => Ok((first, last - first + 1)),
        RangeAnswer::Unsatisfiable => Err(Unsatisfiable(len)),
    }
}

/// The answer carrying `body`, the bytes [`plan`] chose: 200 for the whole content, else 206
/// with its `Content-Range`.
pub fn respond(request: &HeaderMap, (first, count): (u64, u64), len: u64, etag: &str, body: Body) -> Response {
    let partial = !matches!(answer(request, len, etag), RangeAnswer::Whole);
    let mut response = Response::new(body);
    if partial {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if partial && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{}/{len}", first + count.max(1) - 1)) {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::{Part, Unsatisfiable, Whole};
    use super::*;

    fn part(first: u64, last: u64) -> RangeAnswer {
        Part { first, last }
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parse_range("bytes=0-3", 10), part(0, 3));
        assert_eq!(parse_range("bytes=0-0", 10), part(0, 0));
        assert_eq!(parse_range("bytes=9-9", 10), part(9, 9));
        assert_eq!(parse_range("bytes=3-3", 10), part(3, 3));
        assert_eq!(parse_range("bytes=0-9", 10), part(0, 9));
        // Open-ended.
        assert_eq!(parse_range("bytes=5-", 10), part(5, 9));
        assert_eq!(parse_range("bytes=0-", 10), part(0, 9));
        // A last position past the end stops at the end.
        assert_eq!(parse_range("bytes=8-100", 10), part(8, 9));
        // Suffix: the last n bytes; longer than the blob means all of it.
        assert_eq!(parse_range("bytes=-4", 10), part(6, 9));
        assert_eq!(parse_range("bytes=-10", 10), part(0, 9));
        assert_eq!(parse_range("bytes=-500", 10), part(0, 9));
    }

    #[test]
    fn units_and_spelling() {
        // The unit is case-insensitive; other units are ignored.
        assert_eq!(parse_range("BYTES=0-1", 10), part(0, 1));
        assert_eq!(parse_range("Bytes=0-1", 10), part(0, 1));
        assert_eq!(parse_range("items=0-1", 10), Whole);
        assert_eq!(parse_range("bits=0-1", 10), Whole);
        assert_eq!(parse_range("0-1", 10), Whole);
        assert_eq!(parse_range("", 10), Whole);
        assert_eq!(parse_range("bytes", 10), Whole);
        assert_eq!(parse_range("bytes=", 10), Whole);
        assert_eq!(parse_range("bytes=,", 10), Whole);
        // White space: around the value and around list commas, not inside a range.
        assert_eq!(parse_range("  bytes=0-1  ", 10), part(0, 1));
        assert_eq!(parse_range("bytes= 0-1", 10), part(0, 1));
        assert_eq!(parse_range("bytes=0 - 1", 10), Whole);
        assert_eq!(parse_range("bytes =0-1", 10), Whole);
        assert_eq!(parse_range("bytes=\t2-3\t", 10), part(2, 3));
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        for bad in [
            "bytes=abc",
            "bytes=5-3",
            "bytes=-",
            "bytes=--1",
            "bytes=1--2",
            "bytes=1-2-3",
            "bytes=x-1",
            "bytes=1-x",
            "bytes=+1-2",
            "bytes=-+2",
            "bytes=0x10-",
            "bytes=1.5-2",
            "bytes=١-٢",
            "bytes=0-1,abc",
            "bytes=0-1;2-3",
        ] {
            assert_eq!(parse_range(bad, 10), Whole, "{bad:?}");
        }
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=999999-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn huge_numbers() {
        let huge = "99999999999999999999999999999";
        assert_eq!(parse_range(&format!("bytes={huge}-"), 10), Unsatisfiable);
        assert_eq!(parse_range(&format!("bytes=0-{huge}"), 10), part(0, 9));
        assert_eq!(parse_range(&format!("bytes=-{huge}"), 10), part(0, 9));
        assert_eq!(parse_range(&format!("bytes={huge}-{huge}"), 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=18446744073709551615-", u64::MAX), Unsatisfiable);
        assert_eq!(parse_range("bytes=18446744073709551614-", u64::MAX), part(u64::MAX - 1, u64::MAX - 1));
        assert_eq!(parse_range("bytes=-1", u64::MAX), part(u64::MAX - 1, u64::MAX - 1));
    }

    #[test]
    fn several_ranges() {
        // The whole blob instead of a multipart answer, unless none of them is inside it.
        assert_eq!(parse_range("bytes=0-1,4-5", 10), Whole);
        assert_eq!(parse_range("bytes=0-1, 4-5", 10), Whole);
        assert_eq!(parse_range("bytes=0-1, 20-30", 10), Whole);
        assert_eq!(parse_range("bytes=20-, 30-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0, 10-", 10), Unsatisfiable);
        // Empty list elements are skipped.
        assert_eq!(parse_range("bytes=,0-1,", 10), part(0, 1));
        assert_eq!(parse_range("bytes= , 2-3 ,, ", 10), part(2, 3));
        // One bad element spoils the set.
        assert_eq!(parse_range("bytes=0-1,5-3", 10), Whole);
    }

    #[test]
    fn if_range() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
            }
            h
        };
        let etag = "\"abc\"";
        assert_eq!(answer(&headers(&[("range", "bytes=0-1")]), 10, etag), part(0, 1));
        assert_eq!(answer(&headers(&[("range", "bytes=0-1"), ("if-range", "\"abc\"")]), 10, etag), part(0, 1));
        assert_eq!(answer(&headers(&[("range", "bytes=0-1"), ("if-range", "\"old\"")]), 10, etag), Whole);
        assert_eq!(answer(&headers(&[("range", "bytes=0-1"), ("if-range", "W/\"abc\"")]), 10, etag), Whole);
        assert_eq!(answer(&headers(&[("range", "bytes=0-1"), ("if-range", "abc")]), 10, etag), Whole);
        assert_eq!(
            answer(&headers(&[("range", "bytes=0-1"), ("if-range", "Tue, 01 Dec 2026 06:00:00 GMT")]), 10, etag),
            Whole
        );
        // A stale validator wins over an unsatisfiable range: the whole blob, not 416.
        assert_eq!(answer(&headers(&[("range", "bytes=50-"), ("if-range", "\"old\"")]), 10, etag), Whole);
        assert_eq!(answer(&headers(&[("range", "bytes=50-"), ("if-range", "\"abc\"")]), 10, etag), Unsatisfiable);
        // If-Range without Range changes nothing; two Range fields are not one range.
        assert_eq!(answer(&headers(&[("if-range", "\"old\"")]), 10, etag), Whole);
        assert_eq!(answer(&headers(&[("range", "bytes=0-1"), ("range", "bytes=2-3")]), 10, etag), Whole);
        assert_eq!(answer(&headers(&[]), 10, etag), Whole);
    }
}
