//! `<data-dir>/server.lock`: every running server holds a shared `flock` on it, a restore an
//! exclusive one. So a restore refuses a data directory a server is using, and a server does
//! not start while a restore runs. The kernel's lock dies with its process.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::{OpsError, io_error};

pub const LOCK_FILE: &str = "server.lock";

/// Held for as long as it lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

fn open(data_dir: &Path) -> Result<(File, PathBuf), OpsError> {
    let path = data_dir.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path).map_err(io_error(&path))?;
    Ok((file, path))
}

impl DataDirLock {
    /// What a server holds: shared with the other servers on the directory; refused while a
    /// restore holds it.
    pub fn shared(data_dir: &Path) -> Result<DataDirLock, OpsError> {
        let (file, path) = open(data_dir)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(OpsError::Refused(format!(
                "a restore is under way in {} (it holds {}); start the server once `fedml admin restore` has ended",
                data_dir.display(),
                path.display()
            ))),
            Err(TryLockError::Error(e)) => Err(io_error(&path)(e)),
        }
    }

    /// What a restore holds: refused while any server runs on the directory.
    pub fn exclusive(data_dir: &Path) -> Result<DataDirLock, OpsError> {
        let (file, path) = open(data_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(OpsError::Refused(format!(
                "a server is running on {} (it holds {}); stop every `fedml server` using that data directory, \
                 then restore again",
                data_dir.display(),
                path.display()
            ))),
            Err(TryLockError::Error(e)) => Err(io_error(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_directory_and_a_restore_excludes_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let one = DataDirLock::shared(dir.path()).expect("a server");
        let two = DataDirLock::shared(dir.path()).expect("a second server on the same directory");
        let refused = DataDirLock::exclusive(dir.path()).expect_err("a restore while servers run");
        assert!(refused.to_string().contains("a server is running"), "{refused}");
        drop((one, two));
        let restore = DataDirLock::exclusive(dir.path()).expect("a restore once they stopped");
        let refused = DataDirLock::shared(dir.path()).expect_err("a server during the restore");
        assert!(refused.to_string().contains("a restore is under way"), "{refused}");
        drop(restore);
        DataDirLock::shared(dir.path()).expect("a server after the restore");
    }
}
