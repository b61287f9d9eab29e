//! Moving bytes: uploads in equal parts PUT in parallel to signed URLs, downloads in parallel
//! ranged GETs, both hashed on the way (BLAKE3 by parts, see `fedml_proto::checksum`), neither
//! ever holding a whole file in memory. A directory is packed into its archive while its parts
//! are sent. A download lands in a temporary file beside its destination and is placed only
//! once its checksum matches: no partial file is ever left at the final path.
//!
//! `upload` and `download` are the two jobs; every step of either that may be retried goes
//! through `crate::retry`, and placing a download at its target through `crate::place`.

mod chunks;
mod download;
pub mod inside;
mod packed;
mod put;
mod reuse;
mod scan;
mod upload;
pub mod versions;

pub use download::download;
pub use upload::{UploadRequest, upload};

use crate::error::ClientError;

fn cancelled() -> ClientError {
    ClientError::Failure("cancelled; nothing was stored or left behind".into())
}
