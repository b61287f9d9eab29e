//! Packs' indexes as the server reads them back: loaded from a pack's last bytes, checked against
//! the pack's id (so an index read is as good as the id the catalogue records), and kept in a
//! small cache shared by every read and completion of this instance. A pack never changes under
//! its key (keys are fresh, packs are written once), so a cached index stays true; a pack that
//! is let go is simply never asked for again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use fedml_proto::content::{self, PackIndex};

use prometheus_client::metrics::counter::Counter;

use super::Platform;
use crate::blobs::{BlobError, BlobStore};
use crate::catalogue::{Catalogue, PackCheck, PackRecord};
use crate::error::{Error, Result};

/// The most index bytes the cache keeps (a typical 8 MiB pack's index is about 4.6 KiB; the
/// largest possible one 37 KiB).
const CACHE_BYTES: usize = 32 << 20;

/// A pack's checked index, and where each of its chunks starts in its data.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub index: PackIndex,
    /// One more than chunks: the end of the last chunk comes last.
    pub offsets: Vec<u64>,
}

impl Loaded {
    pub fn new(index: PackIndex) -> Loaded {
        let offsets = index.offsets();
        Loaded { index, offsets }
    }

    /// The chunk whose bytes hold data offset `at` (`at` within the data).
    pub fn chunk_at(&self, at: u64) -> usize {
        self.offsets.partition_point(|&start| start <= at).saturating_sub(1)
    }

    /// Whether data offset `at` is where a chunk starts, or the data's end.
    pub fn is_boundary(&self, at: u64) -> bool {
        self.offsets.binary_search(&at).is_ok()
    }

    fn weight(&self) -> usize {
        self.index.chunks.len() * (content::INDEX_ENTRY + 8) + 64
    }
}

/// The cache: by pack key, the oldest entry first out.
#[derive(Default)]
pub(crate) struct PackIndexes {
    inner: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    map: HashMap<String, Arc<Loaded>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl PackIndexes {
    pub fn get(&self, key: &str) -> Option<Arc<Loaded>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).map.get(key).cloned()
    }

    /// Keeps `loaded` as the index of `key`, letting the oldest go past the budget.
    pub fn put(&self, key: &str, loaded: Loaded) -> Arc<Loaded> {
        let loaded = Arc::new(loaded);
        let mut cached = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cached.map.insert(key.to_string(), loaded.clone()).is_none() {
            cached.order.push_back(key.to_string());
            cached.bytes += loaded.weight();
        }
        while cached.bytes > CACHE_BYTES {
            let Some(oldest) = cached.order.pop_front() else { break };
            if let Some(gone) = cached.map.remove(&oldest) {
                cached.bytes = cached.bytes.saturating_sub(gone.weight());
            }
        }
        loaded
    }
}

/// Packs one instance reads back in the background at once (see `content::check_sent_packs`).
pub(crate) const CHECKS_IN_BACKGROUND: usize = 4;

/// The background checks of packs under way on this instance: at most [`CHECKS_IN_BACKGROUND`],
/// each pack once.
pub(crate) struct BackgroundChecks {
    permits: Arc<tokio::sync::Semaphore>,
    checking: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Default for BackgroundChecks {
    fn default() -> Self {
        BackgroundChecks {
            permits: Arc::new(tokio::sync::Semaphore::new(CHECKS_IN_BACKGROUND)),
            checking: Default::default(),
        }
    }
}

/// The room to check one pack in the background, given back when dropped.
pub(crate) struct CheckPermit {
    _permit: tokio::sync::OwnedSemaphorePermit,
    checking: Arc<Mutex<std::collections::HashSet<String>>>,
    key: String,
}

impl BackgroundChecks {
    /// Room to check the pack `key`, unless it is being checked or there is no room now.
    pub fn take(&self, key: &str) -> Option<CheckPermit> {
        let mut checking = self.checking.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if checking.contains(key) {
            return None;
        }
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        checking.insert(key.to_string());
        Some(CheckPermit { _permit: permit, checking: self.checking.clone(), key: key.to_string() })
    }
}

impl Drop for CheckPermit {
    fn drop(&mut self) {
        self.checking.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&self.key);
    }
}

/// What reads a service's packs back and records what it finds: shared by completions and
/// reads, and cloned into a read's own task.
#[derive(Clone)]
pub(crate) struct PackReader {
    pub store: BlobStore,
    pub http: reqwest::Client,
    pub service: String,
    catalogue: Catalogue,
    indexes: Arc<PackIndexes>,
    failed: Counter,
}

impl Platform {
    /// The reader of `service`'s packs.
    pub(crate) fn pack_reader(&self, service: &str) -> Result<PackReader> {
        Ok(PackReader {
            store: self.store(service)?.clone(),
            http: self.http.clone(),
            service: service.to_string(),
            catalogue: self.catalogue.clone(),
            indexes: self.indexes.clone(),
            failed: self.observe.metrics.failed_pack_checks(),
        })
    }
}

impl PackReader {
    /// The checked index of `pack`, from the cache or read from the pack's end. An index that
    /// is not the one the pack's id names marks the pack corrupt, and is refused.
    pub async fn index(&self, pack: &PackRecord) -> Result<Arc<Loaded>> {
        if let Some(loaded) = self.indexes.get(&pack.blob_key) {
            return Ok(loaded);
        }
        let tail_len = pack.size.min(content::INDEX_SUFFIX);
        let mut stream = self
            .store
            .read_range(&self.http, &self.service, &pack.blob_key, pack.size - tail_len, tail_len)
            .await
            .map_err(|e| gone_or(e, pack))?;
        let mut tail = Vec::with_capacity(tail_len as usize);
        while let Some(piece) = futures_util::StreamExt::next(&mut stream).await {
            tail.extend_from_slice(&piece.map_err(|e| gone_or(e, pack))?);
        }
        if tail.len() as u64 != tail_len {
            // A store that holds less than the recorded size: the pack is not what was checked.
            let problem = format!("its last {tail_len} bytes could not be read ({} arrived)", tail.len());
            return Err(self.damaged(pack, problem).await);
        }
        match crate::blobs::checked_index(&tail, &pack.hash, pack.size) {
            Ok(index) => Ok(self.indexes.put(&pack.blob_key, Loaded::new(index))),
            Err(problem) => Err(self.damaged(pack, problem).await),
        }
    }

    /// The recorded packs among `keys` (any order).
    pub async fn records(&self, keys: &[String]) -> Result<Vec<PackRecord>> {
        Ok(self.catalogue.packs_by_key(keys).await?)
    }

    /// Keeps an index just checked with its pack's bytes.
    pub fn keep(&self, key: &str, index: PackIndex) -> Arc<Loaded> {
        self.indexes.put(key, Loaded::new(index))
    }

    /// Records what reading packs found: verified (kept in the cache too) or corrupt.
    pub async fn record(&self, found: Vec<(&PackRecord, crate::blobs::Checked)>) -> Result<()> {
        let mut checks = Vec::with_capacity(found.len());
        for (pack, checked) in found {
            checks.push((pack.blob_key.clone(), match checked {
                Ok(index) => {
                    let data_bytes = index.data_len();
                    self.keep(&pack.blob_key, index);
                    PackCheck::Verified { data_bytes }
                }
                Err(problem) => {
                    tracing::error!(pack = %pack.blob_key, hash = %pack.hash, %problem, "a stored pack is not what its id names");
                    self.failed.inc();
                    PackCheck::Corrupt { problem }
                }
            }));
        }
        Ok(self.catalogue.record_checks(&checks).await?)
    }

    /// Records that `pack` failed a check (it is never offered to an upload again, and `fsck`
    /// and `/metrics` report it), and answers the error that ends the request that found it.
    pub async fn damaged(&self, pack: &PackRecord, problem: String) -> Error {
        if let Err(e) = self.record(vec![(pack, Err(problem.clone()))]).await {
            tracing::warn!(error = %e, "cannot record a corrupt pack");
        }
        Error::Damaged(format!(
            "the stored bytes of pack {} are damaged ({problem}); the server will not use it again: upload the data \
             again to store it anew",
            pack.hash
        ))
    }
}

/// A read of a pack that failed: gone from the store, or the store's own error.
fn gone_or(e: BlobError, pack: &PackRecord) -> Error {
    match e {
        BlobError::NotFound => Error::Internal(format!("pack {} is missing from its store", pack.hash)),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedml_proto::content::IndexEntry;

    fn index(lens: &[u32]) -> PackIndex {
        PackIndex { chunks: lens.iter().map(|&len| IndexEntry { id: [len as u8; 32], len }).collect() }
    }

    #[test]
    fn chunks_are_found_by_offset() {
        let loaded = Loaded::new(index(&[10, 20, 5]));
        assert_eq!(loaded.offsets, [0, 10, 30, 35]);
        assert_eq!([0, 9, 10, 29, 30, 34].map(|at| loaded.chunk_at(at)), [0, 0, 1, 1, 2, 2]);
        assert!(loaded.is_boundary(0) && loaded.is_boundary(30) && loaded.is_boundary(35));
        assert!(!loaded.is_boundary(31));
    }

    #[test]
    fn the_cache_lets_the_oldest_go_past_its_budget() {
        let cache = PackIndexes::default();
        let big = || index(&vec![1; content::MAX_PACK_CHUNKS]);
        let per = Loaded::new(big()).weight();
        let fits = CACHE_BYTES / per;
        for i in 0..fits + 3 {
            cache.put(&format!("k{i}"), Loaded::new(big()));
        }
        assert!(cache.get("k0").is_none() && cache.get("k2").is_none());
        assert!(cache.get("k3").is_some() && cache.get(&format!("k{}", fits + 2)).is_some());
        assert!(cache.inner.lock().expect("lock").bytes <= CACHE_BYTES);
    }
}
