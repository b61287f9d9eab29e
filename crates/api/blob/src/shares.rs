//! Share links (`/s/{token}`): a key-less credential like a signed URL, whose authority is the
//! link the platform checks. A plain GET answers the bytes (ranges too, so that `curl -C -` and
//! download managers resume); a browser (asking for HTML, without a range) gets a small page
//! with the name, size, checksum, expiry and a download button.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use fedml_api_common::{ApiError, ApiPath, ApiQuery, AppState};
use fedml_platform::operations::SharedObject;
use fedml_platform::time::rfc3339;
use serde::Deserialize;

use crate::ranges;

#[derive(Deserialize)]
pub(crate) struct ShareQuery {
    /// Always the bytes, never the page (the page's download button).
    download: Option<String>,
}

/// Whether the request is a browser opening the link: it asks for HTML and no range.
fn wants_page(headers: &HeaderMap, method: &Method) -> bool {
    method == Method::GET
        && !headers.contains_key(header::RANGE)
        && headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

pub(crate) async fn handle_shared(
    State(p): State<AppState>,
    method: Method,
    ApiPath(token): ApiPath<String>,
    ApiQuery(q): ApiQuery<ShareQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let shared = p.shared(&token).await?;
    if q.download.is_none() && wants_page(&headers, &method) {
        return Ok(page(&shared, &token));
    }
    let size = shared.record.meta.size;
    let etag = shared.etag();
    let range = match ranges::plan(&headers, size, &etag) {
        Ok(range) => range,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let mut stream = p.read_shared(&shared, range).await?;
        // A read that fails before its first byte is answered as an error; one that fails later
        // ends the body early, never as a complete one.
        let first = match futures_util::StreamExt::next(&mut stream).await {
            Some(Err(e)) => return Err(fedml_platform::Error::from(e).into()),
            first => first,
        };
        let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), stream);
        Body::from_stream(futures_util::StreamExt::map(stream, |r| r.map_err(std::io::Error::other)))
    };
    let mut response = ranges::respond(&headers, range, size, &etag, body);
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&file_name(&shared))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(fedml_api_common::observe::count_served(&p, response))
}

/// The name a download is saved under: the object's name, its last `/` segment, and `.zip`
/// for a directory object (its bytes are a zip archive).
fn file_name(shared: &SharedObject) -> String {
    let name = shared.record.meta.data_name.rsplit('/').next().unwrap_or("download").to_string();
    match shared.record.meta.kind {
        fedml_proto::ObjectKind::Directory if !name.ends_with(".zip") => format!("{name}.zip"),
        _ => name,
    }
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 one (RFC 6266, RFC 8187).
fn content_disposition(name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `1.50 GiB (1610612736 bytes)`: as people read it, and exact.
fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => fedml_proto::text::size(bytes),
        _ => format!("{} ({bytes} bytes)", fedml_proto::text::size(bytes)),
    }
}

/// The page a browser sees: what the link downloads, until when, and the button.
fn page(shared: &SharedObject, token: &str) -> Response {
    let meta = &shared.record.meta;
    let version = format!("version {}", meta.version);
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{name} · shared with you</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;background:#f5f6f8;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px 36px;max-width:560px;width:calc(100% - 48px)}}
h1{{font-size:22px;margin:0 0 4px;word-break:break-all}} .sub{{color:#5b6474;margin:0 0 20px}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:0 0 24px}} dt{{color:#5b6474}} dd{{margin:0;word-break:break-all}}
code{{font-size:13px}} a.button{{display:inline-block;background:#2453d4;color:#fff;text-decoration:none;padding:10px 22px;border-radius:8px;font-weight:600}}
a.button:hover{{background:#1b43b3}} footer{{color:#8a92a1;font-size:13px;margin-top:20px}}
</style></head>
<body><main>
<h1 id="name">{name}</h1>
<p class="sub">Shared with you from <b>{namespace}</b>, {version}</p>
<dl>
<dt>Size</dt><dd id="size">{size}</dd>
<dt>Kind</dt><dd>{kind}</dd>
<dt>Checksum</dt><dd><code id="checksum">{checksum}</code></dd>
<dt>Link expires</dt><dd id="expires">{expires}</dd>
</dl>
<a class="button" id="download" href="/s/{token}?download=1" download="{file}">Download</a>
<footer>Anyone with this link can download this data until it expires. From a shell, <code>curl -fL -C - -o {file} '&lt;link&gt;'</code> downloads it and resumes where it stopped.</footer>
</main></body></html>"#,
        name = escape(&meta.data_name),
        namespace = escape(&shared.namespace),
        version = escape(&version),
        size = escape(&human_size(meta.size)),
        kind = match meta.kind {
            fedml_proto::ObjectKind::Directory => "directory (downloads as a .zip archive)",
            _ => "file",
        },
        checksum = escape(&meta.checksum),
        expires = escape(&rfc3339(shared.expires_at)),
        token = escape(token),
        file = escape(&file_name(shared)),
    );
    let mut response = Html(html).into_response();
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}
