//! Wire types shared by the platform server and every client (Rust SDK, CLI, Python package).
//!
//! This crate does no I/O. It defines the response envelope (`code`, `message`, `data`), the
//! object metadata the seed's examples read (`dataName`, `description`, `createdAt`, …), the
//! request bodies of the native API, the rules every name, tag and metadata map must follow,
//! the content checksum (BLAKE3, computed part by part and merged, see [`checksum`]), and how
//! stored text is shown to people ([`text::visible`]).

pub mod archive;
pub mod checksum;
pub mod content;
pub mod rules;
mod teams;
pub mod text;
mod wire;
pub mod zip_write;

pub use teams::*;
pub use wire::*;

/// Percent-encodes one URL path segment (object names in API paths).
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
