//! Comparing two versions of an object: what the server says they share, and for a directory
//! which files were added, removed or changed (from the server's index of each version's files,
//! as `fedml storage ls -r` reads it; no file data is fetched).

use std::collections::BTreeMap;

use fedml_proto::{ObjectKind, ObjectMeta, ObjectVersion};

use super::inside::{ObjectEntry, list};
use crate::client::{Client, ObjectRef};
use crate::error::Result;

/// How one file differs between the two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

/// One file that differs; a file object is the one path `""`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
    /// Its size in the `from` version (`None`: it was not there).
    pub from_size: Option<u64>,
    /// Its size in the `to` version (`None`: it is not there).
    pub to_size: Option<u64>,
}

/// What `fedml storage diff` shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionChanges {
    pub name: String,
    pub from: ObjectVersion,
    pub to: ObjectVersion,
    /// The bytes of stored content both versions read (each counted once).
    pub shared_bytes: u64,
    /// The files that differ, in path order.
    pub files: Vec<FileChange>,
    /// The files that are the same in both (same size and CRC-32; for a file object, the same
    /// checksum).
    pub unchanged_files: u64,
}

/// Versions `from` and `to` (the latest with `None`) of object `name`, compared.
pub async fn diff(client: &Client, name: &str, from: u64, to: Option<u64>) -> Result<VersionChanges> {
    let versions = client.diff(name, from, to).await?;
    let at = |version| ObjectRef { name, service: None, version: Some(version) };
    let (a, b) = (at(versions.from.version), at(versions.to.version));
    let (ours, theirs) = (files_of(client, a).await?, files_of(client, b).await?);
    let (a, b) = (&ours.0, &theirs.0);
    let mut files = Vec::new();
    let mut unchanged_files = 0;
    match (ours.1, theirs.1) {
        (Some(ours), Some(theirs)) => {
            let files_of = |entries: Vec<ObjectEntry>| -> BTreeMap<String, ObjectEntry> {
                entries.into_iter().filter(|e| e.kind == ObjectKind::File).map(|e| (e.path.clone(), e)).collect()
            };
            let (ours, mut theirs) = (files_of(ours), files_of(theirs));
            for (path, old) in ours {
                match theirs.remove(&path) {
                    None => files.push(FileChange {
                        path,
                        change: Change::Removed,
                        from_size: Some(old.size),
                        to_size: None,
                    }),
                    Some(new) if new.size != old.size || new.crc32 != old.crc32 => files.push(FileChange {
                        path,
                        change: Change::Changed,
                        from_size: Some(old.size),
                        to_size: Some(new.size),
                    }),
                    Some(_) => unchanged_files += 1,
                }
            }
            files.extend(theirs.into_values().map(|new| FileChange {
                path: new.path,
                change: Change::Added,
                from_size: None,
                to_size: Some(new.size),
            }));
            files.sort_by(|x, y| x.path.cmp(&y.path));
        }
        // A file, or a file on one side and a directory on the other: the object as one thing.
        _ => {
            if a.checksum == b.checksum && a.kind == b.kind {
                unchanged_files = 1;
            } else {
                files.push(FileChange {
                    path: String::new(),
                    change: Change::Changed,
                    from_size: Some(a.size),
                    to_size: Some(b.size),
                });
            }
        }
    }
    Ok(VersionChanges {
        name: name.to_string(),
        from: versions.from,
        to: versions.to,
        shared_bytes: versions.shared_bytes,
        files,
        unchanged_files,
    })
}

/// A version's metadata and, for a directory, every entry (pages of the server's index of its
/// files, as `ls -r` reads them).
async fn files_of(client: &Client, at: ObjectRef<'_>) -> Result<(ObjectMeta, Option<Vec<ObjectEntry>>)> {
    let meta = client.object(at).await?;
    let entries = match meta.kind {
        ObjectKind::Directory => Some(list(client, at, "", true).await?),
        ObjectKind::File => None,
    };
    Ok((meta, entries))
}
