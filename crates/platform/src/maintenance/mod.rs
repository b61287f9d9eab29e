//! Operations on a whole installation, for `fedml admin`: backup and restore of the catalogue
//! (`backup`), the check of the catalogue against the blob stores (`fsck`), and the lock that
//! keeps a restore and a running server off one data directory (`lock`).

pub mod backup;
pub mod fsck;
pub mod lock;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Refused: the message says what to do instead.
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("catalogue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Catalogue(#[from] crate::catalogue::CatalogueError),
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> OpsError + '_ {
    move |source| OpsError::Io { path: path.to_path_buf(), source }
}
