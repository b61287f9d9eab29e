//! The one error type of the platform's operations, by meaning. Each front end maps every
//! variant once to its protocol (the native envelope: `FAILURE` for refusals, `ERROR` for
//! breakage, in the common `ApiError`); the enum is exhaustive so that a new variant is mapped
//! everywhere before it compiles.

use crate::blobs::BlobError;
use crate::catalogue::CatalogueError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No key, a malformed, unknown or revoked key.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key that may not do this (read-only key writing).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The name exists, the session is closed, a race was lost.
    #[error("{0}")]
    Conflict(String),
    /// Bad input: names, metadata, sizes, parts.
    #[error("{0}")]
    Invalid(String),
    /// More bytes than the operation takes (one PUT, the largest object): say what to do instead.
    #[error("{0}")]
    TooLarge(String),
    /// A condition the request set does not hold (a write that may only create found the name
    /// taken; the version it named is not the latest).
    #[error("{0}")]
    Precondition(String),
    /// Too many attempts (failed sign-ins from one address): wait this many seconds.
    #[error("{0}")]
    TooManyRequests(String, u64),
    /// A route asked with a method it does not take.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The blob store has no room left (disk full, file size limit): shown, since only the
    /// server admin can make room.
    #[error("{0}")]
    StorageFull(String),
    /// Bytes a client sent are not what their id names (a pack that fails its check on
    /// receipt): damaged on the way, or a lie; nothing was kept, and sending again may succeed.
    #[error("{0}")]
    BadBytes(String),
    /// Stored bytes are not what their id names (a pack found damaged while read): shown, since
    /// it says what is lost and what to do.
    #[error("{0}")]
    Damaged(String),
    /// Something broke on the server's side; the message is logged, never shown.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The refusal of the name `name` because of the object `other`: a name is either data or a
/// folder of other names (`team/data/x.bin` makes `team` and `team/data` folders), never both.
pub fn name_clash(name: &str, other: &str) -> Error {
    let inside = other.len() > name.len() && other.starts_with(name) && other[name.len()..].starts_with('/');
    Error::Conflict(if inside {
        format!(
            "{name:?} cannot be stored: it is a folder of other data ({other:?} is stored), and a name cannot be \
             both data and a folder; choose another name, or delete what is stored under \"{name}/\" first"
        )
    } else {
        format!(
            "{name:?} cannot be stored: {other:?} is stored as data, and a name cannot be both data and a folder of \
             other names; choose another name, or delete {other:?} first"
        )
    })
}

impl From<CatalogueError> for Error {
    fn from(e: CatalogueError) -> Self {
        match e {
            CatalogueError::NotFound => Error::NotFound("not found".into()),
            CatalogueError::NameTaken => Error::Conflict("an object with that name already exists".into()),
            CatalogueError::NoVersion(latest) => Error::NotFound(format!("no such version; the latest is {latest}")),
            CatalogueError::Conflict(m) => Error::Conflict(m),
            CatalogueError::Stale(latest) => Error::Precondition(format!(
                "the data moved on while this change was made from an earlier version: its latest version is {latest} \
                 now; make the change again from that version"
            )),
            CatalogueError::Forbidden(m) => Error::Forbidden(m),
            CatalogueError::Clash { name, other } => name_clash(&name, &other),
            CatalogueError::Moved => {
                Error::Conflict("the upload session changed state meanwhile; start the upload again".into())
            }
            CatalogueError::Database(e) => Error::Internal(format!("catalogue: {e}")),
            CatalogueError::Sqlite(e) => Error::Internal(format!("catalogue: {e}")),
            CatalogueError::Corrupt(m) => Error::Internal(format!("catalogue: {m}")),
            CatalogueError::OverQuota(refusal) => Error::Forbidden(refusal.to_string()),
        }
    }
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => Error::NotFound("the stored data is missing from the blob store".into()),
            BlobError::TooLarge(m) => Error::Invalid(m),
            BlobError::Busy(m) => Error::Conflict(m),
            BlobError::Body(m) => Error::Invalid(format!("the upload body broke off: {m}; retry the part")),
            BlobError::Rejected(m) => Error::Invalid(m),
            BlobError::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::StorageFull
                        | std::io::ErrorKind::FileTooLarge
                        | std::io::ErrorKind::QuotaExceeded
                ) =>
            {
                Error::StorageFull(format!(
                    "the server's storage is full ({e}); nothing was stored — ask the server admin to free space, \
                     then try again"
                ))
            }
            BlobError::Io(e) => Error::Internal(format!("blob store: {e}")),
            BlobError::Store(m) => Error::Internal(format!("blob store: {m}")),
            BlobError::Damaged(m) => Error::Damaged(m),
        }
    }
}
