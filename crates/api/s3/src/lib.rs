//! The S3 API.
pub fn placeholder() {}
