//! Putting a verified download at its final path `DEST/NAME` without destroying what is there.
//!
//! What may be replaced without being asked:
//! - a file object replaces a regular file (renamed over it in one step);
//! - a directory object replaces a directory that an earlier download of a directory object of
//!   the same name put there. Each such download leaves a marker beside it,
//!   `DEST/.fedml-download-<16 hex digits of the name's BLAKE3>`, that records the name and the
//!   directory's identity (device, inode, creation time); a directory whose identity does not
//!   match is not ours (the user made it, moved it there, or deleted ours and made another).
//!
//! Anything else in the way (a directory for a file object, a file for a directory object, a
//! directory without a matching marker, a symbolic link, a FIFO, a socket, a device) is refused
//! with a FAILURE that names the path and what is there, unless the caller asks for it to be
//! replaced (`replace`). Refusing deletes nothing. The check runs before any byte is fetched and
//! again just before placing.
//!
//! Every temporary name beside the target has a fixed length that does not embed the object's
//! name (`.fedml-partial-<16 hex>`, `.fedml-unpack-<16 hex>`, `.fedml-old-<16 hex>`), so it fits
//! wherever the final name fits.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use fedml_proto::ObjectKind;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

/// The temporary names a download uses in its destination directory.
#[derive(Debug, Clone, Copy)]
pub enum Scratch {
    /// The downloaded bytes, before they are verified.
    Partial,
    /// A directory object's archive unpacked, before it is moved into place.
    Unpack,
    /// What is being replaced, moved aside until the new data is in place.
    Old,
}

/// A fresh temporary path in `dir` of fixed length (31 bytes at most).
pub fn scratch(dir: &Path, kind: Scratch) -> PathBuf {
    use rand::RngCore;
    let what = match kind {
        Scratch::Partial => "partial",
        Scratch::Unpack => "unpack",
        Scratch::Old => "old",
    };
    dir.join(format!(".fedml-{what}-{:016x}", rand::rng().next_u64()))
}

/// The prefixes of the names a download leaves in its destination directory: the marker of an
/// earlier directory download and the temporary names of [`Scratch`], each followed by exactly
/// 16 lowercase hex digits.
const OWN_PREFIXES: [&str; 4] = [".fedml-download-", ".fedml-partial-", ".fedml-unpack-", ".fedml-old-"];

/// Whether `name` (one path component) is one a download made: a marker
/// (`.fedml-download-<16 hex>`) or a temporary name (`.fedml-partial-`, `.fedml-unpack-`,
/// `.fedml-old-`, then 16 hex digits). A directory upload leaves these out; anything else,
/// `.fedml-notes` or `.fedml-old-backup` say, is the user's and travels.
pub fn is_download_leftover(name: &str) -> bool {
    OWN_PREFIXES.iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    })
}

/// The name a download of `asked` is placed by (it lands under its last part: [`Placement`]):
/// the object's own name as the server answered it (`answered`) when that is the name asked for
/// up to Unicode normalisation — the server stores names in NFC, so "é" typed decomposed (as
/// macOS gives it) finds the object and lands where every other download of it lands, beside the
/// same marker —, else `asked`.
pub fn placed_name<'a>(asked: &'a str, answered: &'a str) -> &'a str {
    let same = fedml_proto::rules::same_name(asked, answered) && fedml_proto::rules::check_name(answered).is_ok();
    if same { answered } else { asked }
}

/// Who a directory is: stable across renames, different for a directory made anew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    dev: u64,
    ino: u64,
    /// Creation time (seconds, nanoseconds) where the file system records it.
    born: Option<(u64, u32)>,
}

impl Identity {
    fn of(meta: &fs::Metadata) -> Identity {
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| (d.as_secs(), d.subsec_nanos()));
        Identity { dev: meta.dev(), ino: meta.ino(), born }
    }
}

/// What an earlier download of a directory object left beside it.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    name: String,
    directory: Identity,
}

/// What is at the target path.
#[derive(Debug)]
enum Occupant {
    Nothing,
    File,
    /// A directory an earlier download of a directory object of this name put there.
    EarlierDownload(Identity),
    /// Any other directory, with how many entries it holds (counted up to a limit).
    Directory {
        entries: usize,
    },
    /// A symbolic link (to what it points to), a FIFO, a socket, a device.
    Other(String),
}

const COUNT_LIMIT: usize = 10_000;

/// Where one download goes, and what it may replace there.
#[derive(Debug)]
pub struct Placement {
    dest_dir: PathBuf,
    name: String,
    target: PathBuf,
    kind: ObjectKind,
    replace: bool,
}

impl Placement {
    /// Where the object `name` lands in `dest_dir`: at its last part (`DEST/x.bin` for
    /// `team/data/x.bin`, as `aws s3 cp` names a copied key). Its marker, keyed by the whole name,
    /// tells one object's earlier download from another's of the same last part.
    pub fn new(dest_dir: &Path, name: &str, kind: ObjectKind, replace: bool) -> Placement {
        Placement {
            dest_dir: dest_dir.to_path_buf(),
            name: name.to_string(),
            target: dest_dir.join(fedml_proto::rules::last_part(name)),
            kind,
            replace,
        }
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    fn marker_path(&self) -> PathBuf {
        let hash = blake3::hash(self.name.as_bytes()).to_hex();
        self.dest_dir.join(format!(".fedml-download-{}", &hash.as_str()[..16]))
    }

    fn marked(&self) -> Option<Identity> {
        let text = fs::read(self.marker_path()).ok()?;
        let marker: Marker = serde_json::from_slice(&text).ok()?;
        (marker.name == self.name).then_some(marker.directory)
    }

    fn inspect(&self) -> Result<Occupant> {
        let meta = match fs::symlink_metadata(&self.target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Occupant::Nothing),
            Err(e) => return Err(ClientError::io(format!("cannot look at {}", self.target.display()), e)),
            Ok(m) => m,
        };
        let kind = meta.file_type();
        Ok(if kind.is_file() {
            Occupant::File
        } else if kind.is_dir() {
            let identity = Identity::of(&meta);
            if self.marked().as_ref() == Some(&identity) {
                Occupant::EarlierDownload(identity)
            } else {
                let entries = fs::read_dir(&self.target).map(|d| d.take(COUNT_LIMIT).count()).unwrap_or(0);
                Occupant::Directory { entries }
            }
        } else if kind.is_symlink() {
            let to = fs::read_link(&self.target).map(|p| format!(" to {}", p.display())).unwrap_or_default();
            Occupant::Other(format!("a symbolic link{to}"))
        } else if kind.is_fifo() {
            Occupant::Other("a named pipe (FIFO)".into())
        } else if kind.is_socket() {
            Occupant::Other("a socket".into())
        } else if kind.is_block_device() || kind.is_char_device() {
            Occupant::Other("a device file".into())
        } else {
            Occupant::Other("something that is neither a file nor a directory".into())
        })
    }

    /// Why `occupant` may not be replaced, or `None` when it may.
    fn refusal(&self, occupant: &Occupant) -> Option<String> {
        let name = &self.name;
        let what = match (self.kind, occupant) {
            (_, Occupant::Nothing) | (ObjectKind::File, Occupant::File) => return None,
            (ObjectKind::Directory, Occupant::EarlierDownload(_)) => return None,
            _ if self.replace => return None,
            (ObjectKind::Directory, Occupant::File) => format!("a file, and {name:?} is a directory object"),
            (ObjectKind::File, Occupant::EarlierDownload(_)) => {
                format!("the directory an earlier download of {name:?} left there, and {name:?} is now a file object")
            }
            (kind, Occupant::Directory { entries }) => {
                let holding = match *entries {
                    0 => "empty".to_string(),
                    1 => "holding 1 entry".to_string(),
                    n if n >= COUNT_LIMIT => format!("holding {n} entries or more"),
                    n => format!("holding {n} entries"),
                };
                match kind {
                    ObjectKind::File => format!("a directory ({holding}), and {name:?} is a file object"),
                    ObjectKind::Directory => {
                        format!("a directory ({holding}) that no earlier download of {name:?} put there")
                    }
                }
            }
            (_, Occupant::Other(what)) => what.clone(),
        };
        Some(format!(
            "{} is in the way: it is {what}. Nothing was downloaded or deleted; choose another destination \
             (-d / dest_path=), move it away, or ask for it to be replaced (--replace / replace=True)",
            self.target.display()
        ))
    }

    /// Refuses (FAILURE) when the target holds something this download may not replace.
    pub fn check(&self) -> Result<()> {
        match self.refusal(&self.inspect()?) {
            Some(why) => Err(ClientError::Failure(why)),
            None => Ok(()),
        }
    }

    /// Moves `new` (a verified file, or an unpacked directory) to the target, replacing what is
    /// there only if [`Placement::check`] allows it now; records or forgets the marker.
    pub fn place(&self, new: &Path) -> Result<()> {
        let err = |e| ClientError::io(format!("cannot place the data at {}", self.target.display()), e);
        let occupant = self.inspect()?;
        if let Some(why) = self.refusal(&occupant) {
            return Err(ClientError::Failure(why));
        }
        match (&occupant, self.kind) {
            (Occupant::Nothing, _) => rename_no_replace(new, &self.target).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    ClientError::Failure(format!(
                        "{} appeared while the data was downloading; nothing was replaced — look at it, then \
                         download again",
                        self.target.display()
                    ))
                } else {
                    err(e)
                }
            })?,
            // One step: readers see the old file or the new one.
            (Occupant::File, ObjectKind::File) => fs::rename(new, &self.target).map_err(err)?,
            _ => {
                let aside = scratch(&self.dest_dir, Scratch::Old);
                fs::rename(&self.target, &aside).map_err(err)?;
                let moved = fs::symlink_metadata(&aside).map_err(err)?;
                // What was checked must be what was moved: an earlier download, still the same one.
                if let Occupant::EarlierDownload(identity) = &occupant
                    && Identity::of(&moved) != *identity
                {
                    let _ = fs::rename(&aside, &self.target);
                    return Err(ClientError::Failure(format!(
                        "{} changed while the data was downloading; nothing was replaced — download again",
                        self.target.display()
                    )));
                }
                if let Err(e) = rename_no_replace(new, &self.target) {
                    let _ = fs::rename(&aside, &self.target);
                    return Err(err(e));
                }
                let _ = if moved.is_dir() { fs::remove_dir_all(&aside) } else { fs::remove_file(&aside) };
            }
        }
        self.remember();
        Ok(())
    }

    /// A directory object leaves its marker; a file object removes a stale one. Best effort: a
    /// marker that cannot be written only means the next download asks before replacing.
    fn remember(&self) {
        let marker = self.marker_path();
        match self.kind {
            ObjectKind::File => {
                let _ = fs::remove_file(&marker);
            }
            ObjectKind::Directory => {
                let Ok(meta) = fs::symlink_metadata(&self.target) else { return };
                let record = Marker { name: self.name.clone(), directory: Identity::of(&meta) };
                let Ok(text) = serde_json::to_vec(&record) else { return };
                let temp = scratch(&self.dest_dir, Scratch::Partial);
                if fs::write(&temp, text).and_then(|()| fs::rename(&temp, &marker)).is_err() {
                    let _ = fs::remove_file(&temp);
                }
            }
        }
    }
}

/// `rename` that fails with `AlreadyExists` instead of replacing an existing `to` (Linux:
/// `renameat2(RENAME_NOREPLACE)`, one atomic step; elsewhere a check just before).
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        };
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: two valid NUL-terminated paths relative to the working directory.
        let rc =
            unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), libc::RENAME_NOREPLACE) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // File systems without the flag: fall through to the check-then-rename below.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    match fs::symlink_metadata(to) {
        Ok(_) => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(from, to),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(r: Result<()>) -> String {
        match r {
            Err(ClientError::Failure(m)) => m,
            other => panic!("expected a FAILURE, got {other:?}"),
        }
    }

    #[test]
    fn temporary_names_have_a_fixed_short_length() {
        for kind in [Scratch::Partial, Scratch::Unpack, Scratch::Old] {
            let p = scratch(Path::new("/d"), kind);
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            assert!(name.starts_with(".fedml-") && name.len() <= 31, "{name}");
        }
        let long = "é".repeat(127);
        let marker = Placement::new(Path::new("/d"), &long, ObjectKind::Directory, false).marker_path();
        assert_eq!(marker.file_name().map(|n| n.len()), Some(".fedml-download-".len() + 16));
    }

    #[test]
    fn every_name_a_download_leaves_is_recognised_and_nothing_else() {
        let name = |p: PathBuf| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let mut made: Vec<String> =
            [Scratch::Partial, Scratch::Unpack, Scratch::Old].map(|k| name(scratch(Path::new("/d"), k))).into();
        made.push(name(Placement::new(Path::new("/d"), "ds", ObjectKind::Directory, false).marker_path()));
        for n in &made {
            assert!(is_download_leftover(n), "{n} is the client's own");
        }
        for user in [
            ".fedml-notes",
            ".fedml-old-backup",
            ".fedml-download-0123456789abcde",
            ".fedml-download-0123456789abcdef0",
            ".fedml-download-0123456789ABCDEF",
            ".fedml-partial-0123456789abcdeg",
            ".fedml-download-0123456789abcdef.txt",
            "x.fedml-old-0123456789abcdef",
            ".fedml-other-0123456789abcdef",
            ".fedml-",
        ] {
            assert!(!is_download_leftover(user), "{user} is the user's");
        }
    }

    #[test]
    fn what_appears_after_the_check_is_refused_just_before_placing() {
        let dest = tempfile::tempdir().expect("tmp");
        // A directory object: its first download, then a check that recognises it...
        let place = Placement::new(dest.path(), "ds", ObjectKind::Directory, false);
        let first = dest.path().join("first");
        fs::create_dir(&first).expect("mkdir");
        place.check().expect("nothing in the way");
        place.place(&first).expect("placed");
        place.check().expect("an earlier download of ds");
        // ...and meanwhile the user swaps in a directory of their own: refused, both kept.
        fs::rename(dest.path().join("ds"), dest.path().join("moved")).expect("mv");
        fs::create_dir(dest.path().join("ds")).expect("mkdir");
        fs::write(dest.path().join("ds/own.txt"), b"own").expect("write");
        let second = dest.path().join("second");
        fs::create_dir(&second).expect("mkdir");
        let why = failure(place.place(&second));
        assert!(why.contains("no earlier download of \"ds\""), "{why}");
        assert_eq!(fs::read(dest.path().join("ds/own.txt")).expect("read"), b"own");
        assert!(second.is_dir(), "the new data is left for the caller to remove");

        // A file object checked against an empty slot, then a directory appears there.
        let place = Placement::new(dest.path(), "f", ObjectKind::File, false);
        place.check().expect("nothing in the way");
        fs::create_dir(dest.path().join("f")).expect("mkdir");
        let new = dest.path().join("new-file");
        fs::write(&new, b"new").expect("write");
        let why = failure(place.place(&new));
        assert!(why.contains("it is a directory (empty)"), "{why}");
        assert!(dest.path().join("f").is_dir());
    }

    #[test]
    fn a_name_of_several_parts_lands_at_its_last_part_and_is_told_from_others_of_that_part() {
        let dest = tempfile::tempdir().expect("tmp");
        let place = Placement::new(dest.path(), "team/data/ds", ObjectKind::Directory, false);
        assert_eq!(place.target(), dest.path().join("ds"));
        let first = dest.path().join("first");
        fs::create_dir(&first).expect("mkdir");
        place.place(&first).expect("placed");
        place.check().expect("an earlier download of team/data/ds");
        // Another object of the same last part finds a directory it did not put there.
        let other = Placement::new(dest.path(), "other/ds", ObjectKind::Directory, false);
        let why = failure(other.check());
        assert!(why.contains("no earlier download of \"other/ds\""), "{why}");
        assert_ne!(other.marker_path(), place.marker_path());
    }

    #[test]
    fn placing_into_an_empty_slot_never_replaces_what_appears_there() {
        let dir = tempfile::tempdir().expect("tmp");
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        fs::write(&from, b"new").expect("write");
        fs::write(&to, b"theirs").expect("write");
        let e = rename_no_replace(&from, &to).expect_err("refused");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&to).expect("read"), b"theirs");
        fs::remove_file(&to).expect("rm");
        rename_no_replace(&from, &to).expect("placed");
        assert_eq!(fs::read(&to).expect("read"), b"new");
    }
}
