//! `fedml admin fsck --deep` of a packed file (the latest version of an object, or an earlier
//! one): its bytes assembled from its packs' segments, in file order, and hashed as a download
//! hashes them (BLAKE3, `blake3:<hex>`), then compared with the recorded checksum.
//!
//! Streaming: a pack (at most [`MAX_PACK_SIZE`]) is read whole once and kept only while later
//! segments need it, at most [`CACHED_PACKS`] at a time; when one more is needed, the one needed
//! again last (or never) goes. A file's packs are each read once unless its segments go back
//! and forth between more packs than that; a file is never held whole.

use std::collections::{HashMap, HashSet};

use fedml_proto::content::MAX_PACK_SIZE;

use super::{FsckError, Problem};
use crate::blobs::{BlobError, BlobStore};
use crate::catalogue::{Catalogue, PackedFile};

/// Packs held at once while a file is assembled (at most about 35 MiB).
const CACHED_PACKS: usize = 4;

/// The packs the references' check looked at, and which of them it found whole (present with
/// their recorded size): a file reading a pack found missing or of another size is not
/// assembled (that pack's problem is reported already).
#[derive(Debug, Default)]
pub(super) struct CheckedPacks {
    checked: HashSet<(String, String)>,
    whole: HashSet<(String, String)>,
}

impl CheckedPacks {
    pub(super) fn checked(&mut self, service: &str, blob_key: &str, whole: bool) {
        let id = (service.to_string(), blob_key.to_string());
        if whole {
            self.whole.insert(id.clone());
        }
        self.checked.insert(id);
    }
}

/// Assembles `file` from its packs and compares its BLAKE3 (and size) with the recorded ones,
/// adding what is wrong to `problems`. A file deleted meanwhile is skipped.
pub(super) async fn check(
    catalogue: &Catalogue,
    store: &BlobStore,
    file: &PackedFile,
    packs: &CheckedPacks,
    problems: &mut Vec<Problem>,
) -> Result<(), FsckError> {
    let Some(content) = catalogue.packed_content(&file.service, &file.blob_key).await? else {
        return Ok(());
    };
    let damaged = |why: String| Problem::WrongChecksum {
        service: file.service.clone(),
        owner: file.owner.clone(),
        object: file.object.clone(),
        blob_key: file.blob_key.clone(),
        checksum: file.checksum.clone(),
        found_checksum: format!("damaged: {why}"),
    };
    let total = content.segments.iter().try_fold(0u64, |sum, s| sum.checked_add(s.length));
    if total != Some(file.size) {
        problems.push(Problem::WrongSize {
            service: file.service.clone(),
            owner: file.owner.clone(),
            object: file.object.clone(),
            blob_key: file.blob_key.clone(),
            size: file.size,
            found_size: total.unwrap_or(u64::MAX),
        });
        return Ok(());
    }
    if let Some((i, s)) = content.segments.iter().enumerate().find(|(_, s)| s.pack as usize >= content.packs.len()) {
        problems.push(damaged(format!(
            "segment {} names pack #{} of the {} it lists",
            i + 1,
            s.pack + 1,
            content.packs.len()
        )));
        return Ok(());
    }
    if file.checksum.is_empty() {
        return Ok(());
    }
    // Every pack it reads must be there whole before its bytes are worth hashing.
    let used: HashSet<usize> = content.segments.iter().map(|s| s.pack as usize).collect();
    for &p in &used {
        let key = &content.packs[p];
        let id = (file.service.clone(), key.clone());
        if packs.whole.contains(&id) {
            continue;
        }
        if packs.checked.contains(&id) {
            // Missing or of another size: reported as the pack's problem.
            return Ok(());
        }
        // Not among the packs checked (committed after they were read): look it up here.
        match store.blob_size(key).await {
            Ok(Some(size)) if size <= MAX_PACK_SIZE => {}
            Ok(Some(size)) => {
                problems.push(damaged(format!("pack {key} holds {size} bytes, more than any pack")));
                return Ok(());
            }
            Ok(None) => return missing(catalogue, file, key, problems).await,
            Err(e) => {
                problems.push(Problem::StoreUnreadable { service: file.service.clone(), error: e.to_string() });
                return Ok(());
            }
        }
    }

    // The segment after each one that reads the same pack (`usize::MAX`: none).
    let mut next_use = vec![usize::MAX; content.segments.len()];
    let mut last_seen: HashMap<usize, usize> = HashMap::new();
    for (i, s) in content.segments.iter().enumerate().rev() {
        if let Some(&j) = last_seen.get(&(s.pack as usize)) {
            next_use[i] = j;
        }
        last_seen.insert(s.pack as usize, i);
    }
    // Pack index -> (its bytes, the next segment that reads it).
    let mut cache: HashMap<usize, (Vec<u8>, usize)> = HashMap::new();
    let mut hasher = blake3::Hasher::new();
    for (i, segment) in content.segments.iter().enumerate() {
        let p = segment.pack as usize;
        let key = &content.packs[p];
        if !cache.contains_key(&p) {
            if cache.len() >= CACHED_PACKS
                && let Some(&furthest) = cache.iter().max_by_key(|(_, (_, next))| *next).map(|(p, _)| p)
            {
                cache.remove(&furthest);
            }
            match store.read_small(key).await {
                Ok(bytes) => {
                    cache.insert(p, (bytes, next_use[i]));
                }
                Err(BlobError::NotFound) => return missing(catalogue, file, key, problems).await,
                Err(e) => {
                    problems.push(Problem::StoreUnreadable { service: file.service.clone(), error: e.to_string() });
                    return Ok(());
                }
            }
        }
        let Some((bytes, next)) = cache.get_mut(&p) else { continue };
        *next = next_use[i];
        let end = segment.offset.checked_add(segment.length).filter(|&end| end <= bytes.len() as u64);
        let Some(end) = end else {
            problems.push(damaged(format!(
                "segment {} (bytes {}..+{} of pack {key}) lies past the pack's {} bytes",
                i + 1,
                segment.offset,
                segment.length,
                bytes.len()
            )));
            return Ok(());
        };
        hasher.update(&bytes[segment.offset as usize..end as usize]);
        if next_use[i] == usize::MAX {
            cache.remove(&p);
        }
    }
    let found = fedml_proto::checksum::of_hash(hasher.finalize());
    if found != file.checksum {
        problems.push(Problem::WrongChecksum {
            service: file.service.clone(),
            owner: file.owner.clone(),
            object: file.object.clone(),
            blob_key: file.blob_key.clone(),
            checksum: file.checksum.clone(),
            found_checksum: found,
        });
    }
    Ok(())
}

/// A pack the file reads is not in the store: a problem unless the pack was let go meanwhile.
async fn missing(
    catalogue: &Catalogue,
    file: &PackedFile,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Result<(), FsckError> {
    if let Some(size) = catalogue.pack_size(key).await? {
        problems.push(Problem::Missing {
            service: file.service.clone(),
            owner: file.owner.clone(),
            object: file.object.clone(),
            blob_key: key.to_string(),
            size,
        });
    }
    Ok(())
}
