//! Directories travel as one ZIP archive with stored (uncompressed) entries, written while it is
//! uploaded: no temporary archive is ever made beside the user's data.
//!
//! Stored entries pack at disk speed (AI data rarely compresses) and keep the FedML SDK able to
//! unpack our objects. Sizes come from the directory scan, the CRC-32 is computed on the way and
//! written in a data descriptor after each file; ZIP64 records are added where sizes or offsets
//! need them. Symbolic links are never followed out of the tree.

use std::io::{self, Write};

pub use fedml_proto::zip_write::ZipStream;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::UNIX_EPOCH;

use crate::error::{ClientError, Result};

/// One thing to put in the archive.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    /// Path inside the archive, `/`-separated, without the top folder.
    pub relative: String,
    /// Where to read a file's bytes from (`None` for a directory).
    pub source: Option<PathBuf>,
    pub size: u64,
    pub mtime: i64,
    pub mode: u32,
}

/// Walks `root` (sorted, so archives are reproducible) and checks every entry before a byte is
/// sent: names must be UTF-8, and links may only point at files inside the tree. What earlier
/// downloads left in a folder (their markers and temporary names: `place::is_download_leftover`)
/// is left out, at any depth. Directories
/// are read on a few threads at once (a tree of many small files costs a metadata read per
/// file, and on one thread the other cores wait); the entries come out in the same order
/// whatever thread read them: each directory's children by name, last first, each directory's
/// contents after the entries of its parent's, the first subdirectory by name first.
pub fn scan(root: &Path) -> Result<Vec<TreeEntry>> {
    let canonical_root =
        root.canonicalize().map_err(|e| ClientError::io(format!("cannot read the directory {}", root.display()), e))?;
    let walk = Walk {
        state: Mutex::new(WalkState {
            queue: vec![(0, root.to_path_buf(), String::new())],
            busy: 0,
            listings: vec![None],
            failed: None,
        }),
        changed: Condvar::new(),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, WALK_THREADS);
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| walk.work(&canonical_root));
        }
        walk.work(&canonical_root);
    });
    let state = walk.state.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(e) = state.failed {
        return Err(e);
    }
    let mut listings = state.listings;
    let mut entries = Vec::new();
    let mut stack = vec![0];
    while let Some(id) = stack.pop() {
        let listing = listings.get_mut(id).and_then(Option::take).unwrap_or_default();
        for (entry, dir) in listing.into_iter().rev() {
            entries.push(entry);
            stack.extend(dir);
        }
    }
    Ok(entries)
}

/// The most threads that read a tree's directories at once.
const WALK_THREADS: usize = 4;

/// A walk shared by the threads that read directories.
struct Walk {
    state: Mutex<WalkState>,
    changed: Condvar,
}

/// A directory's children by name, each with the number of its own listing when it is one.
type Listing = Vec<(TreeEntry, Option<usize>)>;

struct WalkState {
    /// Directories to read: their number, path and path inside the archive.
    queue: Vec<(usize, PathBuf, String)>,
    /// Directories being read.
    busy: usize,
    /// Each directory's listing, by number, once read.
    listings: Vec<Option<Listing>>,
    failed: Option<ClientError>,
}

impl Walk {
    /// Reads directories until none is left to read (or one failed).
    fn work(&self, canonical_root: &Path) {
        let lock = || self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut state = lock();
        loop {
            if state.failed.is_some() {
                return;
            }
            let Some((id, dir, prefix)) = state.queue.pop() else {
                if state.busy == 0 {
                    self.changed.notify_all();
                    return;
                }
                state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            };
            state.busy += 1;
            drop(state);
            let read = list_directory(&dir, &prefix, canonical_root);
            state = lock();
            state.busy -= 1;
            match read {
                Ok(children) => {
                    let mut listing = Vec::with_capacity(children.len());
                    for (entry, subdirectory) in children {
                        let number = subdirectory.map(|path| {
                            let number = state.listings.len();
                            state.listings.push(None);
                            state.queue.push((number, path, entry.relative.clone()));
                            number
                        });
                        listing.push((entry, number));
                    }
                    if let Some(slot) = state.listings.get_mut(id) {
                        *slot = Some(listing);
                    }
                }
                Err(e) => {
                    state.failed.get_or_insert(e);
                }
            }
            self.changed.notify_all();
        }
    }
}

/// The children of `dir` (whose path inside the archive is `prefix`), sorted by name, each with
/// its path when it is a directory to read in turn.
fn list_directory(dir: &Path, prefix: &str, canonical_root: &Path) -> Result<Vec<(TreeEntry, Option<PathBuf>)>> {
    let read = std::fs::read_dir(dir).map_err(|e| ClientError::io(format!("cannot read {}", dir.display()), e))?;
    let mut children = Vec::new();
    for item in read {
        let item = item.map_err(|e| ClientError::io(format!("cannot read {}", dir.display()), e))?;
        if item.file_name().to_str().is_some_and(crate::place::is_download_leftover) {
            continue;
        }
        let name = item.file_name().into_string().map_err(|raw| {
            ClientError::Failure(format!(
                "the file name {:?} in {} is not valid UTF-8; rename it before uploading",
                raw,
                dir.display()
            ))
        })?;
        // A name that no reader of the archive would take (`archive::check_segment`: a backslash,
        // a drive letter) is refused here, before anything is stored that could not be used.
        if let Err(why) = fedml_proto::archive::check_segment(&name) {
            return Err(ClientError::Failure(format!(
                "the file name {name:?} in {} {why}; rename it before uploading",
                dir.display()
            )));
        }
        children.push((name, item));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(children.len());
    for (name, item) in children {
        let path = item.path();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        // The entry's own metadata (a link's, not its target's), read relative to the open
        // directory rather than by walking the whole path again.
        let meta = item.metadata().map_err(|e| ClientError::io(format!("cannot read {}", path.display()), e))?;
        let (meta, source) = if meta.file_type().is_symlink() {
            let target = path.canonicalize().map_err(|e| {
                ClientError::Failure(format!(
                    "the link {} is broken or loops ({e}); fix or remove it before uploading",
                    path.display()
                ))
            })?;
            if !target.starts_with(canonical_root) {
                return Err(ClientError::Failure(format!(
                    "the link {} points outside the directory being uploaded, to {}; copy the target in or remove \
                     the link",
                    path.display(),
                    target.display()
                )));
            }
            let target_meta = std::fs::metadata(&target)
                .map_err(|e| ClientError::io(format!("cannot read {}", target.display()), e))?;
            if !target_meta.is_file() {
                return Err(ClientError::Failure(format!(
                    "the link {} points at a directory; links to directories are not followed — replace it with the \
                     directory or remove it",
                    path.display()
                )));
            }
            (target_meta, target)
        } else {
            (meta, path.clone())
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mode = unix_mode(&meta);
        if meta.is_dir() {
            out.push((TreeEntry { relative, source: None, size: 0, mtime, mode }, Some(path)));
        } else if meta.is_file() {
            out.push((TreeEntry { relative, source: Some(source), size: meta.len(), mtime, mode }, None));
        } else {
            return Err(ClientError::Failure(format!(
                "{} is neither a file nor a directory (a socket, device or pipe); remove it before uploading",
                path.display()
            )));
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn unix_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn unix_mode(meta: &std::fs::Metadata) -> u32 {
    if meta.is_dir() { 0o755 } else { 0o644 }
}

/// An upper bound of the archive size for `entries` under the top folder `top`.
pub fn estimate_size(top: &str, entries: &[TreeEntry]) -> u64 {
    let per_entry = |name_len: usize| 30 + 46 + 2 * name_len as u64 + 2 * 28 + 24;
    let mut total = per_entry(top.len() + 1) + 22 + 56 + 20;
    for e in entries {
        total += e.size + per_entry(top.len() + 2 + e.relative.len());
    }
    total
}

/// Packs the scanned tree under the top folder `top`.
pub fn pack<W: Write>(top: &str, entries: &[TreeEntry], out: W) -> io::Result<(u64, W)> {
    let mut zip = ZipStream::new(out);
    let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    zip.add_directory(top, now, 0o755)?;
    for e in entries {
        let name = format!("{top}/{}", e.relative);
        match &e.source {
            None => zip.add_directory(&name, e.mtime, e.mode)?,
            Some(path) => {
                let mut file = std::fs::File::open(path)
                    .map_err(|err| io::Error::new(err.kind(), format!("cannot read {}: {err}", path.display())))?;
                zip.add_file(&name, e.mtime, e.mode, e.size, &mut file)?;
            }
        }
    }
    zip.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk's order, whatever thread read which directory: each directory's children by
    /// name, last first, then the contents of its subdirectories, the first by name first (the
    /// order archives have always had, so a tree uploaded again makes the same archive).
    #[test]
    fn a_tree_is_walked_in_one_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for d in ["a/y", "c", "d/e/f"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        for f in ["a/x", "a/y/z", "b", "c/w", "d/e/f/g", "d/h"] {
            std::fs::write(root.join(f), f).expect("write");
        }
        let expected = ["d", "c", "b", "a", "a/y", "a/x", "a/y/z", "c/w", "d/h", "d/e", "d/e/f", "d/e/f/g"];
        for _ in 0..50 {
            let entries = scan(root).expect("scan");
            let order: Vec<&str> = entries.iter().map(|e| e.relative.as_str()).collect();
            assert_eq!(order, expected);
            let file = entries.iter().find(|e| e.relative == "d/e/f/g").expect("a file");
            assert_eq!(file.size, 7);
            assert_eq!(file.source.as_deref(), Some(root.join("d/e/f/g").as_path()));
            assert!(entries.iter().filter(|e| e.source.is_none()).all(|e| e.size == 0));
        }
    }

    #[test]
    fn what_downloads_left_is_left_out_at_any_depth_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/ds")).expect("mkdir");
        // A download's marker and its temporary names, at the top and deeper; one of them a
        // folder (an unpacked archive before it moved into place), and a link that points out of
        // the tree (it is not followed, so it does not fail the walk).
        for f in [
            ".fedml-download-0123456789abcdef",
            "sub/.fedml-partial-fedcba9876543210",
            "sub/.fedml-old-00000000000000ff",
        ] {
            std::fs::write(root.join(f), b"{}").expect("write");
        }
        std::fs::create_dir_all(root.join("sub/.fedml-unpack-0000000000000001/ds")).expect("mkdir");
        std::os::unix::fs::symlink("/etc/hostname", root.join(".fedml-old-1111111111111111")).expect("link");
        // The user's own names that merely look alike travel.
        for f in [".fedml-notes", "sub/.fedml-download-0123", "sub/ds/.fedml-old-backup", "sub/ds/data"] {
            std::fs::write(root.join(f), b"mine").expect("write");
        }
        let entries = scan(root).expect("scan");
        let mut names: Vec<&str> = entries.iter().map(|e| e.relative.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [".fedml-notes", "sub", "sub/.fedml-download-0123", "sub/ds", "sub/ds/.fedml-old-backup", "sub/ds/data"]
        );
    }

    #[test]
    fn a_bad_entry_anywhere_fails_the_walk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for i in 0..20 {
            std::fs::create_dir_all(root.join(format!("d{i}/inner"))).expect("mkdir");
            std::fs::write(root.join(format!("d{i}/inner/f")), b"x").expect("write");
        }
        std::os::unix::fs::symlink("/etc/hostname", root.join("d13/inner/out")).expect("link");
        let error = scan(root).expect_err("a link out of the tree").to_string();
        assert!(error.contains("points outside the directory being uploaded"), "{error}");
    }

    #[test]
    fn names_no_reader_of_the_archive_would_take_are_refused_before_anything_is_sent() {
        for (name, says) in [("a\\..\\b.txt", "backslash"), ("c:notes.txt", "drive letter")] {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::create_dir_all(dir.path().join("deep/er")).expect("mkdir");
            std::fs::write(dir.path().join("deep/er").join(name), b"x").expect("write");
            let error = scan(dir.path()).expect_err("refused").to_string();
            assert!(error.contains(&format!("{name:?}")) && error.contains(says), "{error}");
            assert!(error.contains("rename it before uploading"), "{error}");
        }
        // Names Windows would take, and the common ones with a colon, are kept.
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["12:30.log", "ab:c", ".env", "..."] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        assert_eq!(scan(dir.path()).expect("scanned").len(), 4);
    }
}
