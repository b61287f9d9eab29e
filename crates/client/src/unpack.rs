//! Unpacking a directory object, refusing anything that could write outside the destination:
//! absolute paths, `..`, links, duplicate entries. Works on our archives and on the FedML SDK's
//! (deflated) ones.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{ClientError, Result};

/// Extracts `archive` into the empty directory `into`.
pub fn extract(archive: &Path, into: &Path) -> Result<()> {
    let file = fs::File::open(archive).map_err(|e| ClientError::io("cannot open the downloaded archive", e))?;
    extract_from(io::BufReader::new(file), into)
}

/// Extracts the archive that `reader` holds into the empty directory `into` (what [`extract`]
/// does with a file; the fuzz target feeds it bytes from memory).
pub fn extract_from<R: io::Read + io::Seek>(reader: R, into: &Path) -> Result<()> {
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| ClientError::Error(format!("the downloaded data is not a readable archive: {e}")))?;
    // Folders already made, so that each is created once, not once per file.
    let mut created = std::collections::HashSet::new();
    for i in 0..zip.len() {
        let mut entry =
            zip.by_index(i).map_err(|e| ClientError::Error(format!("archive entry {i} is unreadable: {e}")))?;
        let raw_name = entry.name().to_string();
        let Some(relative) = entry.enclosed_name() else {
            return Err(ClientError::Failure(format!(
                "the archive entry {raw_name:?} would land outside the destination; refusing to unpack"
            )));
        };
        if entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000) {
            return Err(ClientError::Failure(format!(
                "the archive entry {raw_name:?} is a symbolic link; refusing to unpack links"
            )));
        }
        let target = into.join(&relative);
        if entry.is_dir() {
            if created.insert(target.clone()) {
                fs::create_dir_all(&target)
                    .map_err(|e| ClientError::io(format!("cannot create {}", target.display()), e))?;
            }
            continue;
        }
        if let Some(parent) = target.parent()
            && created.insert(parent.to_path_buf())
        {
            fs::create_dir_all(parent)
                .map_err(|e| ClientError::io(format!("cannot create {}", parent.display()), e))?;
        }
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Executables stay executable; everything else gets the usual mode (umask applies).
            let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
            options.mode(if executable { 0o755 } else { 0o644 });
        }
        let mut out = options.open(&target).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                ClientError::Failure(format!("the archive holds {raw_name:?} twice; refusing to unpack"))
            } else {
                ClientError::io(format!("cannot create {}", target.display()), e)
            }
        })?;
        io::copy(&mut entry, &mut out).map_err(|e| ClientError::io(format!("cannot unpack {raw_name:?}"), e))?;
    }
    Ok(())
}

/// The folder that holds the content: the archive's single top folder, or `into` itself.
pub fn content_root(into: &Path) -> Result<PathBuf> {
    let mut items = fs::read_dir(into)
        .map_err(|e| ClientError::io(format!("cannot read {}", into.display()), e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ClientError::io(format!("cannot read {}", into.display()), e))?;
    if items.len() == 1 {
        let only = items.remove(0);
        if only.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            return Ok(only.path());
        }
    }
    Ok(into.to_path_buf())
}
