//! Versions of an object: listing them, comparing two, removing one.

use std::collections::BTreeMap;

use fedml_proto::{ObjectVersion, VersionDiff};

use super::{Caller, Need, Platform, check_version, no_version, not_found};
use crate::catalogue::{CatalogueError, ObjectRecord, StoredContent, VersionRemoved};
use crate::error::Result;

impl Platform {
    /// Every version of the object `name` of `namespace` the server keeps, newest first.
    pub async fn versions(&self, caller: &Caller, namespace: Option<&str>, name: &str) -> Result<Vec<ObjectVersion>> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let stored = self.stored_name(&here, name).await?;
        let records = self.catalogue.versions(&here.id, &stored).await.map_err(|e| match e {
            CatalogueError::NotFound => not_found(name),
            e => e.into(),
        })?;
        Ok(records.iter().enumerate().map(|(i, r)| r.version_info(i == 0)).collect())
    }

    /// Every version of the object `name` of `namespace` the server keeps, newest first, as
    /// stored (what a protocol answers of each: its attributes, dates, checksum).
    pub async fn version_records(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Vec<ObjectRecord>> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let stored = self.stored_name(&here, name).await?;
        self.catalogue.versions(&here.id, &stored).await.map_err(|e| match e {
            CatalogueError::NotFound => not_found(name),
            e => e.into(),
        })
    }

    /// Versions `from` and `to` (the latest with `None`) of the object `name` of `namespace`, and
    /// the bytes of stored content they share.
    pub async fn diff(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        from: u64,
        to: Option<u64>,
    ) -> Result<VersionDiff> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let latest = self.object_record(&here, name, None).await?;
        let a = self.object_record(&here, name, Some(from)).await?;
        let b = match to {
            Some(to) if to != latest.meta.version => self.object_record(&here, name, Some(to)).await?,
            _ => latest.clone(),
        };
        let latest = latest.meta.version;
        Ok(VersionDiff {
            shared_bytes: shared_bytes(&a, &b),
            from: a.version_info(a.meta.version == latest),
            to: b.version_info(b.meta.version == latest),
        })
    }

    /// Removes version `version` of the object `name` of `namespace`, answering what became of
    /// the name. Removing the latest makes the newest earlier version the latest again.
    pub async fn delete_version(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        service: Option<&str>,
        version: u64,
    ) -> Result<VersionRemoved> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        if let Some(service) = service {
            self.store(service)?;
        }
        let stored = self.stored_name(&here, name).await?;
        check_version(Some(version))?;
        let removed = self.catalogue.delete_version(&here.id, &stored, version, self.reclaim_after()).await.map_err(
            |e| match e {
                CatalogueError::NotFound => not_found(name),
                CatalogueError::NoVersion(latest) => no_version(name, version, latest),
                e => e.into(),
            },
        )?;
        self.audit(caller, &here, "delete-version", &stored, format!("version {version}")).await;
        self.collect_garbage().await?;
        Ok(removed)
    }
}

/// The bytes of stored content two versions both read: the same blob, or the same byte ranges
/// of the same packs (each byte counted once, however often either version reads it).
fn shared_bytes(a: &ObjectRecord, b: &ObjectRecord) -> u64 {
    match (&a.content, &b.content) {
        (Some(a), Some(b)) => shared_ranges(a, b),
        (None, None) if a.blob_key == b.blob_key && a.meta.service == b.meta.service => a.meta.size,
        _ => 0,
    }
}

fn shared_ranges(a: &StoredContent, b: &StoredContent) -> u64 {
    let (a, b) = (ranges_by_pack(a), ranges_by_pack(b));
    let mut shared = 0;
    for (pack, ours) in &a {
        let Some(theirs) = b.get(pack) else { continue };
        let (mut i, mut j) = (0, 0);
        while i < ours.len() && j < theirs.len() {
            let (start, end) = (ours[i].0.max(theirs[j].0), ours[i].1.min(theirs[j].1));
            shared += end.saturating_sub(start);
            if ours[i].1 < theirs[j].1 { i += 1 } else { j += 1 }
        }
    }
    shared
}

/// Each pack's ranges that a content reads, sorted and merged.
fn ranges_by_pack(content: &StoredContent) -> BTreeMap<&str, Vec<(u64, u64)>> {
    let mut by_pack: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for segment in &content.segments {
        let Some(pack) = content.packs.get(segment.pack as usize) else { continue };
        by_pack.entry(pack).or_default().push((segment.offset, segment.offset.saturating_add(segment.length)));
    }
    for ranges in by_pack.values_mut() {
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(start, end) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        *ranges = merged;
    }
    by_pack
}

#[cfg(test)]
mod tests {
    use fedml_proto::content::Segment;

    use super::*;

    fn content(packs: &[&str], segments: &[(u32, u64, u64)]) -> StoredContent {
        StoredContent {
            packs: packs.iter().map(|p| p.to_string()).collect(),
            segments: segments.iter().map(|&(pack, offset, length)| Segment { pack, offset, length }).collect(),
        }
    }

    #[test]
    fn shared_bytes_count_each_byte_of_a_pack_both_read_once() {
        // Pack "p" is index 0 of one and index 1 of the other: packs are matched by key.
        let a = content(&["p", "q"], &[(0, 0, 100), (1, 0, 50), (0, 50, 100)]);
        let b = content(&["r", "p"], &[(1, 120, 100), (0, 0, 10)]);
        // a reads p[0..150) and q[0..50); b reads p[120..220): they share p[120..150).
        assert_eq!(shared_ranges(&a, &b), 30);
        assert_eq!(shared_ranges(&b, &a), 30);
        assert_eq!(shared_ranges(&a, &a), 200);
        let none = content(&["s"], &[(0, 0, 1000)]);
        assert_eq!(shared_ranges(&a, &none), 0);
    }
}
