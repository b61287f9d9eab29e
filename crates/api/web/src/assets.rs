//! The dashboard's files, embedded in the binary at build time (plain HTML, CSS and JavaScript
//! modules: nothing is built or installed on the user's machine).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../assets/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../assets/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../assets/api.js")),
    ("views.js", "text/javascript; charset=utf-8", include_bytes!("../assets/views.js")),
    ("upload.js", "text/javascript; charset=utf-8", include_bytes!("../assets/upload.js")),
    ("shell.js", "text/javascript; charset=utf-8", include_bytes!("../assets/shell.js")),
    ("teams.js", "text/javascript; charset=utf-8", include_bytes!("../assets/teams.js")),
    ("versions.js", "text/javascript; charset=utf-8", include_bytes!("../assets/versions.js")),
    ("blake3.js", "text/javascript; charset=utf-8", include_bytes!("../assets/blake3.js")),
    ("zip.js", "text/javascript; charset=utf-8", include_bytes!("../assets/zip.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
];

/// The answer for one file, `None` for a name the dashboard does not have.
pub fn response(name: &str) -> Option<Response> {
    let (_, content_type, bytes) = FILES.iter().find(|(file, _, _)| *file == name)?;
    let mut response = (StatusCode::OK, *bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// Everything the page loads, within the 150 KB page-weight budget.
    #[test]
    fn the_page_weighs_under_150_kb() {
        let total: usize = FILES.iter().map(|(_, _, bytes)| bytes.len()).sum();
        println!("dashboard page weight: {total} bytes in {} files", FILES.len());
        assert!(total > 0 && total < 150_000, "{total} bytes");
        assert!(FILES.iter().all(|(_, _, bytes)| !bytes.is_empty()), "an empty dashboard file");
    }
}
