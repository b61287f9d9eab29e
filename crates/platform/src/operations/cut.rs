//! The cutting of one intake's bytes into packs (`intake`): each chunk matched against what the
//! namespace holds (packs learned up front, and groups found through sample chunks when a pack is
//! sealed, the pack's chunks checked again against what that found), the new ones packed, each
//! sealed pack recorded for the session and written while the next fills, within the instance's
//! intake budget; the chunks' places become the content's segments.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use fedml_proto::content::{self, ChunkId, FileContent, IndexEntry, NewPack, PackIndex, Segment};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

use super::Platform;
use super::indexes::PackReader;
use crate::blobs::{BlobError, BlobStore};
use crate::catalogue::{CatalogueError, PackRecord, PackState, StoredContent, UploadRecord};
use crate::error::{Error, Result};
use crate::keys;

/// The packs the server makes: smaller than a client's, so that many uploads at once hold little.
const PACK_TARGET: u64 = 4 << 20;
/// Sealed packs of one intake being written at once while the next fills.
const WRITES_IN_FLIGHT: usize = 2;
/// The most packs of what it replaces, or of one group, an intake learns of at once.
pub(super) const MAX_KNOWN: u32 = 4096;

/// Where a chunk's bytes lie: pack `slot` of the intake's list, at `offset`.
#[derive(Debug, Clone, Copy)]
struct Place {
    slot: u32,
    offset: u64,
    len: u32,
}

/// A chunk of the stream, in order: where it lies, or which new chunk of the pack being filled.
#[derive(Debug, Clone, Copy)]
enum Item {
    Known(Place),
    New(usize),
}

/// A new chunk waiting in the pack being filled.
struct Fresh {
    id: ChunkId,
    bytes: Bytes,
    /// Its offset in the stream (samples of the first bytes are denser).
    at: u64,
}

/// The cutting of one stream: what is known, the pack being filled, the packs being written.
pub(super) struct Cut<'a> {
    platform: &'a Platform,
    upload: &'a UploadRecord,
    reader: PackReader,
    /// Chunks known to lie in a pack, by the first 128 bits of their id.
    known: HashMap<u128, Place>,
    /// The packs the content may read, by slot: their keys; and the slots by key.
    slots: Vec<String>,
    slot_of: HashMap<String, u32>,
    /// The stream's chunks since the last seal.
    items: Vec<Item>,
    fresh: Vec<Fresh>,
    fresh_of: HashMap<u128, usize>,
    fresh_bytes: u64,
    /// The budget the fresh chunks hold.
    held: Vec<OwnedSemaphorePermit>,
    /// Sample chunks to look up at the next seal, and those looked up.
    asks: Vec<String>,
    asked: std::collections::HashSet<u128>,
    offset: u64,
    segments: Vec<Segment>,
    samples: Vec<(String, String)>,
    writes: VecDeque<JoinHandle<Result<()>>>,
}

fn short(id: &ChunkId) -> u128 {
    let mut first = [0u8; 16];
    first.copy_from_slice(&id[..16]);
    u128::from_le_bytes(first)
}

impl<'a> Cut<'a> {
    pub(super) fn new(platform: &'a Platform, upload: &'a UploadRecord, reader: PackReader) -> Self {
        Cut {
            platform,
            upload,
            reader,
            known: HashMap::new(),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            items: Vec::new(),
            fresh: Vec::new(),
            fresh_of: HashMap::new(),
            fresh_bytes: 0,
            held: Vec::new(),
            asks: Vec::new(),
            asked: Default::default(),
            offset: 0,
            segments: Vec::new(),
            samples: Vec::new(),
            writes: VecDeque::new(),
        }
    }

    /// Learns the chunks of stored packs (their indexes read back, checked, cached).
    pub(super) async fn learn(&mut self, packs: Vec<PackRecord>) -> Result<()> {
        for pack in packs {
            if self.slot_of.contains_key(&pack.blob_key) {
                continue;
            }
            let loaded = self.reader.index(&pack).await?;
            let slot = self.slot(&pack.blob_key);
            let mut offset = 0u64;
            for entry in &loaded.index.chunks {
                self.known.entry(short(&entry.id)).or_insert(Place { slot, offset, len: entry.len });
                offset += u64::from(entry.len);
            }
        }
        Ok(())
    }

    fn slot(&mut self, key: &str) -> u32 {
        if let Some(&slot) = self.slot_of.get(key) {
            return slot;
        }
        let slot = self.slots.len() as u32;
        self.slots.push(key.to_string());
        self.slot_of.insert(key.to_string(), slot);
        slot
    }

    /// One chunk of the stream, in order.
    pub(super) async fn chunk(&mut self, bytes: Bytes) -> Result<()> {
        let id = content::chunk_id(&bytes);
        let key = short(&id);
        let at = self.offset;
        self.offset += bytes.len() as u64;
        if let Some(&place) = self.known.get(&key) {
            self.items.push(Item::Known(place));
            return Ok(());
        }
        if let Some(&i) = self.fresh_of.get(&key) {
            self.items.push(Item::New(i));
            return Ok(());
        }
        let sample = content::is_sample(&id) || (at < 2 * content::EARLY_SAMPLED && content::is_early_sample(&id));
        if sample && self.asked.insert(key) {
            self.asks.push(hex::encode(id));
        }
        let kib = (bytes.len() as u32).div_ceil(1024).max(1);
        let budget = self.platform.intake_budget.clone();
        let permit = match budget.clone().try_acquire_many_owned(kib) {
            Ok(permit) => permit,
            Err(_) => {
                // The instance's budget is spent: what this intake holds goes now, then it waits.
                self.seal().await?;
                budget
                    .acquire_many_owned(kib)
                    .await
                    .map_err(|_| Error::Internal("the intake budget was closed".into()))?
            }
        };
        self.held.push(permit);
        self.fresh_of.insert(key, self.fresh.len());
        self.items.push(Item::New(self.fresh.len()));
        self.fresh_bytes += bytes.len() as u64;
        self.fresh.push(Fresh { id, bytes, at });
        // A pack's index must stay readable from its last bytes: at most that many chunks (many
        // small files make many small chunks).
        if self.fresh_bytes >= PACK_TARGET || self.fresh.len() >= content::MAX_PACK_CHUNKS {
            self.seal().await?;
        }
        Ok(())
    }

    /// Looks up the samples asked for, then packs the fresh chunks that are still new, records
    /// the pack for the session and starts writing it; the chunks since the last seal become
    /// segments.
    pub(super) async fn seal(&mut self) -> Result<()> {
        if !self.asks.is_empty() {
            let asks = std::mem::take(&mut self.asks);
            for batch in asks.chunks(256) {
                let found = self
                    .platform
                    .catalogue
                    .known_packs(self.upload, batch, false, MAX_KNOWN)
                    .await
                    .map_err(session_error)?;
                self.learn(found).await?;
            }
        }
        // The fresh chunks the lookups found stay where they are; the others make the pack.
        let mut place_in_pack: Vec<Option<u64>> = vec![None; self.fresh.len()];
        let mut chunks: Vec<IndexEntry> = Vec::new();
        let mut bytes: Vec<Bytes> = Vec::new();
        let mut first_at: Vec<u64> = Vec::new();
        let mut data = 0u64;
        for (i, fresh) in self.fresh.iter().enumerate() {
            if self.known.contains_key(&short(&fresh.id)) {
                continue;
            }
            place_in_pack[i] = Some(data);
            chunks.push(IndexEntry { id: fresh.id, len: fresh.bytes.len() as u32 });
            bytes.push(fresh.bytes.clone());
            first_at.push(fresh.at);
            data += fresh.bytes.len() as u64;
        }
        let held = std::mem::take(&mut self.held);
        let mut new_slot = None;
        if !chunks.is_empty() {
            let index = PackIndex { chunks };
            let encoded = Bytes::from(index.encode());
            let hash = index.pack_id();
            let size = data + encoded.len() as u64;
            let owner = self.upload.owner_id.clone();
            let new_key = move || format!("{owner}/pk{}", keys::random_hex(16));
            let records = self
                .platform
                .catalogue
                .reserve_packs(self.upload, &[NewPack { pack: hash.clone(), size }], &new_key)
                .await
                .map_err(session_error)?;
            let record = records.into_iter().next().ok_or_else(|| Error::Internal("no pack reserved".into()))?;
            let slot = self.slot(&record.blob_key);
            new_slot = Some(slot);
            let mut offset = 0u64;
            for (entry, at) in index.chunks.iter().zip(&first_at) {
                let sampled = content::is_sample(&entry.id)
                    || (*at < content::EARLY_SAMPLED && content::is_early_sample(&entry.id));
                if sampled
                    && self.samples.iter().filter(|(_, k)| *k == record.blob_key).count() < content::MAX_PACK_SAMPLES
                {
                    self.samples.push((hex::encode(entry.id), record.blob_key.clone()));
                }
                self.known.entry(short(&entry.id)).or_insert(Place { slot, offset, len: entry.len });
                offset += u64::from(entry.len);
            }
            if record.state != PackState::Verified {
                bytes.push(encoded);
                self.write(record, index, bytes, held).await?;
            }
        }
        // The chunks since the last seal, in order, as segments.
        for item in std::mem::take(&mut self.items) {
            let place = match item {
                Item::Known(place) => place,
                Item::New(i) => match (place_in_pack[i], new_slot) {
                    (Some(offset), Some(slot)) => Place { slot, offset, len: self.fresh[i].bytes.len() as u32 },
                    _ => *self
                        .known
                        .get(&short(&self.fresh[i].id))
                        .ok_or_else(|| Error::Internal("a chunk of an upload was lost".into()))?,
                },
            };
            push_segment(&mut self.segments, place);
        }
        self.fresh.clear();
        self.fresh_of.clear();
        self.fresh_bytes = 0;
        Ok(())
    }

    /// Writes a sealed pack while the intake goes on (at most [`WRITES_IN_FLIGHT`] at once); the
    /// budget its bytes hold is given back once it is written.
    async fn write(
        &mut self,
        record: PackRecord,
        index: PackIndex,
        bytes: Vec<Bytes>,
        held: Vec<OwnedSemaphorePermit>,
    ) -> Result<()> {
        while self.writes.len() >= WRITES_IN_FLIGHT {
            if let Some(write) = self.writes.pop_front() {
                joined(write.await)?;
            }
        }
        let reader = self.reader.clone();
        let expires = self.upload.expires_at / 1000;
        self.writes.push_back(tokio::spawn(async move {
            let _held = held;
            write_pack(&reader, &record, index, bytes, expires).await
        }));
        Ok(())
    }

    /// Waits for every pack being written.
    pub(super) async fn written(&mut self) -> Result<()> {
        while let Some(write) = self.writes.pop_front() {
            joined(write.await)?;
        }
        Ok(())
    }

    /// Stops the writes still going (the session ends; the collector takes what landed).
    pub(super) fn abandon(&mut self) {
        for write in self.writes.drain(..) {
            write.abort();
        }
    }

    /// The content (only the packs its segments read) and the samples of its new packs.
    pub(super) fn finish(self) -> (StoredContent, Vec<(String, String)>) {
        let slot_of = self.slot_of;
        let samples: Vec<(String, u32)> =
            self.samples.iter().filter_map(|(chunk, key)| slot_of.get(key).map(|&s| (chunk.clone(), s))).collect();
        let file = FileContent { packs: self.slots, segments: self.segments, samples }.trimmed();
        let samples = file.samples.iter().map(|(chunk, i)| (chunk.clone(), file.packs[*i as usize].clone())).collect();
        (StoredContent { packs: file.packs, segments: file.segments }, samples)
    }
}

/// Appends a chunk's place to `segments`, joined to the last one when it goes on from it.
fn push_segment(segments: &mut Vec<Segment>, place: Place) {
    if let Some(last) = segments.last_mut()
        && last.pack == place.slot
        && last.offset + last.length == place.offset
    {
        last.length += u64::from(place.len);
        return;
    }
    segments.push(Segment { pack: place.slot, offset: place.offset, length: u64::from(place.len) });
}

fn joined(done: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    done.map_err(|e| Error::Internal(format!("a pack write stopped: {e}")))?
}

/// Writes one pack the server made to its store. The local folder checks it against its id as
/// it lands and the check is recorded; on a bucket the completion reads it back.
async fn write_pack(
    reader: &PackReader,
    record: &PackRecord,
    index: PackIndex,
    bytes: Vec<Bytes>,
    expires: i64,
) -> Result<()> {
    let size = record.size;
    match &reader.store {
        BlobStore::Local(local) => {
            let body = futures_util::stream::iter(bytes.into_iter().map(Ok::<Bytes, std::convert::Infallible>));
            let received = local.write_pack(&record.blob_key, &record.hash, size, body).await.map_err(blob_error)?;
            let checked = received.index.unwrap_or(index);
            reader.record(vec![(record, Ok(checked))]).await
        }
        store => {
            let (url, headers) = store.pack_url(&reader.service, &record.blob_key, expires).await?;
            let mut whole = BytesMut::with_capacity(size as usize);
            for piece in bytes {
                whole.extend_from_slice(&piece);
            }
            let mut request = reader.http.put(url).body(whole.freeze());
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| Error::Internal(format!("cannot write a pack: {e}")))?;
            let status = response.status();
            // 412: a pack of the same id is there already (another upload's): the completion checks it.
            if status.is_success() || status.as_u16() == 412 {
                Ok(())
            } else {
                Err(Error::Internal(format!("the store answered HTTP {status} to a pack write")))
            }
        }
    }
}

fn blob_error(e: BlobError) -> Error {
    match e {
        BlobError::Rejected(why) => Error::Internal(format!("a pack the server made failed its check: {why}")),
        e => e.into(),
    }
}

/// A catalogue refusal of a pack request of an intake: its session ended meanwhile.
pub(super) fn session_error(e: CatalogueError) -> Error {
    match e {
        CatalogueError::Moved => {
            Error::Conflict("the upload ended while its bytes arrived (aborted or expired); send it again".into())
        }
        e => e.into(),
    }
}
