//! Comparing two versions of an object: what the server says they share, and for a directory
//! which files were added, removed or changed (from the two archives' lists of files, read by
//! ranged GETs as `fedml storage ls` reads them; no file data is fetched).

use std::collections::BTreeMap;

use fedml_proto::{ObjectKind, ObjectVersion};

use super::inside::{ObjectEntry, entries_of};
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
    let ticket = |version| client.download_ticket(ObjectRef { name, service: None, version: Some(version) });
    let (a, b) = (ticket(versions.from.version).await?, ticket(versions.to.version).await?);
    let mut files = Vec::new();
    let mut unchanged_files = 0;
    let (ours, theirs) = (entries_of(client, &a).await?, entries_of(client, &b).await?);
    match (ours, theirs) {
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
            if a.object.checksum == b.object.checksum && a.object.kind == b.object.kind {
                unchanged_files = 1;
            } else {
                files.push(FileChange {
                    path: String::new(),
                    change: Change::Changed,
                    from_size: Some(a.object.size),
                    to_size: Some(b.object.size),
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
