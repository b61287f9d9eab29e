//! Unpacking a directory object, refusing anything that could write outside the destination:
//! absolute paths, `..`, links, duplicate entries. Works on our archives and on the FedML SDK's
//! (deflated) ones.
//!
//! Before a byte is written, the archive's central directory is read and checked by the rule
//! the server's index of its files and every other reader follow (`fedml_proto::archive`), so
//! that an archive whose files cannot be listed is not unpacked either, and the other way round
//! (the ZIP reader used to unpack keeps only the last of two entries of one name, and takes `..`
//! that stays inside; neither gets that far).

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use fedml_proto::archive::{self, ArchiveError, Located};

use crate::error::{ClientError, Result};

/// Extracts `archive` into the empty directory `into`.
pub fn extract(archive: &Path, into: &Path) -> Result<()> {
    let file = fs::File::open(archive).map_err(|e| ClientError::io("cannot open the downloaded archive", e))?;
    extract_from(io::BufReader::new(file), into)
}

/// Extracts the archive that `reader` holds into the empty directory `into` (what [`extract`]
/// does with a file; the fuzz target feeds it bytes from memory).
pub fn extract_from<R: io::Read + io::Seek>(mut reader: R, into: &Path) -> Result<()> {
    check_listing(&mut reader)?;
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

/// Reads the archive's central directory as the server's index does and refuses what it refuses.
fn check_listing<R: Read + Seek>(reader: &mut R) -> Result<()> {
    let unreadable = ClientError::Error;
    let io_error = |e: io::Error| ClientError::io("cannot read the downloaded archive", e);
    let size = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    let mut read_at = |at: u64, len: u64| -> Result<Vec<u8>> {
        reader.seek(SeekFrom::Start(at)).map_err(io_error)?;
        let mut bytes = Vec::new();
        reader.take(len).read_to_end(&mut bytes).map_err(io_error)?;
        Ok(bytes)
    };
    let mut located = Located::NotInTail;
    for want in [archive::SHORT_TAIL, archive::TAIL] {
        let len = want.min(size);
        located = archive::locate(&read_at(size - len, len)?, size).map_err(unreadable)?;
        if located != Located::NotInTail || len == size {
            break;
        }
    }
    if let Located::Zip64Record(at) = located {
        located = archive::locate_zip64(&read_at(at, 56)?, size).map_err(unreadable)?;
    }
    let Located::Directory { offset, size: length, count } = located else {
        return Err(unreadable(archive::not_an_archive("no end of central directory record")));
    };
    match archive::entries(&read_at(offset, length)?, count) {
        Ok(_) => Ok(()),
        Err(ArchiveError::Unreadable(why)) => Err(ClientError::Error(why)),
        Err(ArchiveError::Refused(why)) => Err(ClientError::Failure(format!(
            "the downloaded archive cannot be used as a directory: {why}; refusing to unpack it — upload the \
             directory again to replace it"
        ))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = crate::pack::ZipStream::new(Vec::new());
        for (name, body) in entries {
            zip.add_file(name, 0, 0o644, body.len() as u64, &mut &body[..]).expect("entry");
        }
        zip.finish().expect("finish").1
    }

    fn unpacked(entries: &[(&str, &[u8])]) -> (Result<()>, Vec<PathBuf>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let into = dir.path().join("into");
        fs::create_dir(&into).expect("mkdir");
        let result = extract_from(io::Cursor::new(archive(entries)), &into);
        let mut left: Vec<PathBuf> =
            fs::read_dir(dir.path()).expect("dir").flatten().map(|e| e.path()).filter(|p| p != &into).collect();
        left.extend(fs::read_dir(&into).expect("into").flatten().map(|e| e.path()));
        (result, left)
    }

    #[test]
    fn a_sound_archive_unpacks() {
        let (result, left) = unpacked(&[("top/a.txt", b"a"), ("top/b/c.txt", b"c")]);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn what_the_index_refuses_is_not_unpacked_and_nothing_is_written() {
        for (entries, says) in [
            (&[("top/a.txt", &b"first"[..]), ("top/a.txt", &b"second"[..])][..], "holds \"top/a.txt\" twice"),
            (&[("top/a", &b"file"[..]), ("top/a/b.txt", &b"inside"[..])][..], "both as a file and as a folder"),
            (&[("top/a/../b.txt", &b"x"[..])][..], "\"..\" path component"),
            (&[("top\\b.txt", &b"x"[..])][..], "backslash"),
            (&[("top//b.txt", &b"x"[..])][..], "empty path component"),
        ] {
            let (result, left) = unpacked(entries);
            match result {
                Err(ClientError::Failure(m)) => {
                    assert!(m.contains(says) && m.contains("upload the directory again"), "{m}")
                }
                other => panic!("{entries:?}: {other:?}"),
            }
            assert!(left.is_empty(), "{entries:?} left {left:?}");
        }
    }
}
