//! A file or directory uploaded as chunks in packs: only the chunks the caller's store lacks
//! travel.
//!
//! The data is read once, in order (`super::scan`): hashed (the object's BLAKE3), cut into
//! content-defined chunks and each named (`fedml_proto::content`), and handed on in batches of
//! chunks that keep their bytes. For each window of batches (the first of at least
//! [`scan::FIRST_LOOK`] bytes) the uploader asks the server which of the caller's packs hold its
//! sample chunks (pinned for the session), reads those packs' indexes, and so learns which
//! chunks are stored already; their bytes are dropped. The others go into new packs of about
//! 8 MiB, in file order; each is announced (the server may hold it already: an interrupted
//! upload of the same data sent it) and PUT to its signed URL from the bytes read, a few at a
//! time, each on a task of its own. The completion names the packs and the file's segments in
//! them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use fedml_proto::content::{
    self, ChunkId, FileContent, IndexEntry, KnownPack, KnownRequest, NewPack, PackIndex, PacksRequest, Segment,
    TransferStats,
};
use futures_util::StreamExt;
use indicatif::ProgressBar;
use tokio::task::JoinSet;

use super::chunks;
use super::put::{Piece, put_buffer};
use super::scan::{self, Budget, Input, Scanned};
use crate::client::Client;
use crate::error::{ClientError, Result};

/// Whether a chunk is a sample: one in 128 anywhere, the first chunk of each of the first files
/// ([`Scanned::lead`]), and one in 16 of the data's first `early` bytes. The commit records those
/// of the first [`content::EARLY_SAMPLED`] bytes; a lookup asks for those of twice as many, so
/// that data stored before is found with up to that much put before it.
fn sampled(chunk: &Scanned, early: u64) -> bool {
    content::is_sample(&chunk.id) || chunk.lead || (chunk.offset < early && content::is_early_sample(&chunk.id))
}

/// A chunk as the uploader remembers it: the first 128 bits of its id (a keyed BLAKE3, so two
/// chunks of one upload share them with a chance of about 2^-128 per pair), which halves the
/// memory of the map that holds one entry per chunk of the upload (160,000 for 10 GiB).
type Known = u128;

fn known(id: &ChunkId) -> Known {
    let mut first = [0u8; 16];
    first.copy_from_slice(&id[..16]);
    u128::from_le_bytes(first)
}

/// Where a chunk's bytes are: pack `pack` (an index into the completion's list) at `offset`.
#[derive(Debug, Clone, Copy)]
struct Place {
    pack: u32,
    /// Within the pack's data, which is at most `content::MAX_PACK_DATA` bytes: kept in 32 bits
    /// (one entry per chunk of the upload is held in memory).
    offset: u32,
}

/// A new pack being filled: its chunks, with their bytes.
#[derive(Default)]
struct Filling {
    index: u32,
    chunks: Vec<Scanned>,
    data: u64,
    samples: usize,
    /// The blocks its chunks keep alive (see `scan::MAX_PINNED`), and the last one's number.
    pinned: usize,
    last_block: Option<u64>,
}

impl Filling {
    /// Adds a chunk: a slice of its block while the pack keeps few blocks alive, else a copy.
    fn push(&mut self, chunk: Scanned) {
        let chunk = match chunk.block {
            Some(block) if self.last_block == Some(block) => chunk,
            Some(block) if self.pinned < scan::MAX_PINNED => {
                self.pinned += 1;
                self.last_block = Some(block);
                chunk
            }
            Some(_) => chunk.copied(),
            None => chunk,
        };
        self.data += u64::from(chunk.len());
        self.chunks.push(chunk);
    }
}

/// What a packed upload sends to complete, and what it moved.
pub(super) struct Packed {
    pub content: FileContent,
    pub size: u64,
    pub checksum: String,
    pub stats: TransferStats,
}

/// Reads, dedups and sends `input` in session `upload_id`.
pub(super) async fn send(client: &Client, upload_id: &str, input: Input, bar: &ProgressBar) -> Result<Packed> {
    // Room for the batches of a first look; what they hold is bounded by the budget.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Scanned>>((scan::FIRST_LOOK / scan::BATCH_BYTES) as usize + 1);
    let parallel = client.parallel.max(1);
    // Blocks for the packs in flight; the budget raises it to its floor (what the first look
    // and a pack being filled hold) when they are few.
    let budget = Budget::new(parallel * content::PACK_TARGET as usize);
    let reader = tokio::task::spawn_blocking(move || scan::scan(&input, budget, tx));
    let mut up = Uploader {
        client,
        upload_id,
        bar,
        known: HashMap::new(),
        loaded: HashMap::new(),
        packs: Vec::new(),
        segments: Vec::new(),
        samples: Vec::new(),
        filling: None,
        first: true,
        sent: Arc::new(AtomicU64::new(0)),
        stored: 0,
        resumed: Arc::new(AtomicBool::new(false)),
        label: bar.message(),
    };
    // Tasks of their own, so that a pack's announcement and PUT go on while the next batch is
    // awaited or learnt about; dropped (aborted) with the set when the upload fails.
    let mut in_flight = JoinSet::new();
    let outcome: Result<()> = async {
        let mut least = scan::FIRST_LOOK;
        while let Some(batch) = window(&mut rx, std::mem::take(&mut least)).await {
            up.learn(&batch).await?;
            for chunk in batch {
                if let Some(pack) = up.place(chunk) {
                    while in_flight.len() >= parallel {
                        if let Some(done) = in_flight.join_next().await {
                            up.finished(done)?;
                        }
                    }
                    in_flight.spawn(up.ship(pack));
                }
            }
        }
        if let Some(pack) = up.filling.take() {
            in_flight.spawn(up.ship(pack));
        }
        while let Some(done) = in_flight.join_next().await {
            up.finished(done)?;
        }
        Ok(())
    }
    .await;
    drop(in_flight);
    drop(rx);
    let scanned = reader.await.map_err(|e| ClientError::Error(format!("reading stopped: {e}")))?;
    outcome?;
    let (size, checksum) = scanned?;
    let stats = TransferStats {
        read_bytes: size,
        sent_bytes: up.sent.load(Ordering::Relaxed),
        stored_bytes: up.stored,
        resumed: up.resumed.load(Ordering::Relaxed),
    };
    let content = FileContent { packs: up.packs, segments: up.segments, samples: up.samples }.trimmed();
    Ok(Packed { content, size, checksum, stats })
}

/// The next chunks to place: the next batch and those already read after it, at least `least`
/// bytes of them unless the data ends first, at most about [`scan::FIRST_LOOK`]. `None` at the
/// end of the data.
async fn window(rx: &mut tokio::sync::mpsc::Receiver<Vec<Scanned>>, least: u64) -> Option<Vec<Scanned>> {
    let size = |batch: &[Scanned]| batch.iter().map(|c| u64::from(c.len())).sum::<u64>();
    let mut window = rx.recv().await?;
    let mut bytes = size(&window);
    while bytes < scan::FIRST_LOOK {
        let next = if bytes < least { rx.recv().await } else { rx.try_recv().ok() };
        let Some(more) = next else { break };
        bytes += size(&more);
        window.extend(more);
    }
    Some(window)
}

type Shipped = Result<(u64, bool)>;

struct Uploader<'a> {
    client: &'a Client,
    upload_id: &'a str,
    bar: &'a ProgressBar,
    /// Chunks the store holds (or that this upload is sending), by id.
    known: HashMap<Known, Place>,
    /// Packs found on the server whose index was read, by id → index in `packs`.
    loaded: HashMap<String, u32>,
    packs: Vec<String>,
    segments: Vec<Segment>,
    samples: Vec<(String, u32)>,
    filling: Option<Filling>,
    first: bool,
    sent: Arc<AtomicU64>,
    stored: u64,
    resumed: Arc<AtomicBool>,
    /// The bar's own text, to which the bytes sent are added.
    label: String,
}

impl Uploader<'_> {
    /// Asks the server which packs hold the batch's sample chunks (the first time, also those of
    /// the object this upload replaces) and reads the indexes of the ones not read yet.
    async fn learn(&mut self, batch: &[Scanned]) -> Result<()> {
        let mut chunks: Vec<String> = batch
            .iter()
            .filter(|c| sampled(c, 2 * content::EARLY_SAMPLED))
            .filter(|c| !self.known.contains_key(&known(&c.id)))
            .map(|c| hex::encode(c.id))
            .collect();
        chunks.dedup();
        let previous = std::mem::take(&mut self.first);
        if chunks.is_empty() && !previous {
            return Ok(());
        }
        let found = self.client.known_packs(self.upload_id, &KnownRequest { chunks, previous }).await?;
        let fresh: Vec<KnownPack> = found.into_iter().filter(|p| !self.loaded.contains_key(&p.pack)).collect();
        let client = self.client;
        let mut indexes = futures_util::stream::iter(fresh)
            .map(|pack| async move {
                chunks::read_index(client, &pack.url, Some(pack.size)).await.map(|index| (pack, index))
            })
            .buffer_unordered(8);
        while let Some(read) = indexes.next().await {
            let (pack, index) = read?;
            let at = self.packs.len() as u32;
            self.packs.push(pack.pack.clone());
            self.loaded.insert(pack.pack, at);
            let mut offset = 0u32;
            for chunk in index.chunks {
                self.known.entry(known(&chunk.id)).or_insert(Place { pack: at, offset });
                // A pack holds at most MAX_PACK_DATA bytes; one that claims more teaches nothing more.
                let Some(next) = offset.checked_add(chunk.len) else { break };
                offset = next;
            }
        }
        Ok(())
    }

    /// Places one chunk: a segment of a pack the store holds, or the next bytes of the pack
    /// being filled. Answers that pack once it is full.
    fn place(&mut self, chunk: Scanned) -> Option<Filling> {
        let (id, len) = (chunk.id, chunk.len());
        let sample = sampled(&chunk, content::EARLY_SAMPLED);
        if let Some(place) = self.known.get(&known(&id)).copied() {
            self.push_segment(place, len);
            // Counted as stored only when an earlier upload holds it, not a repeat in this one.
            if !self.is_new_pack(place.pack) {
                self.stored += u64::from(len);
            }
            self.bar.inc(u64::from(len));
            return None;
        }
        let filling = self.filling.get_or_insert_with(|| {
            let index = self.packs.len() as u32;
            self.packs.push(String::new());
            Filling { index, ..Default::default() }
        });
        let place = Place { pack: filling.index, offset: filling.data as u32 };
        filling.push(chunk);
        let full = filling.data >= content::PACK_TARGET || filling.chunks.len() >= content::MAX_PACK_CHUNKS;
        if sample && filling.samples < content::MAX_PACK_SAMPLES {
            filling.samples += 1;
            self.samples.push((hex::encode(id), place.pack));
        }
        self.known.insert(known(&id), place);
        self.push_segment(place, len);
        if full { self.filling.take() } else { None }
    }

    fn is_new_pack(&self, pack: u32) -> bool {
        self.packs.get(pack as usize).is_some_and(|id| id.is_empty() || !self.loaded.contains_key(id))
    }

    fn push_segment(&mut self, place: Place, len: u32) {
        let len = u64::from(len);
        if let Some(last) = self.segments.last_mut()
            && last.pack == place.pack
            && last.offset + last.length == u64::from(place.offset)
        {
            last.length += len;
            return;
        }
        self.segments.push(Segment { pack: place.pack, offset: u64::from(place.offset), length: len });
    }

    /// Closes a full pack: its id is known now; announces and sends it.
    fn ship(&mut self, pack: Filling) -> impl std::future::Future<Output = Shipped> + use<> {
        let index = PackIndex { chunks: pack.chunks.iter().map(|c| IndexEntry { id: c.id, len: c.len() }).collect() };
        let id = index.pack_id();
        self.packs[pack.index as usize] = id.clone();
        let client = self.client.clone();
        let upload_id = self.upload_id.to_string();
        let bar = self.bar.clone();
        let (sent, resumed) = (self.sent.clone(), self.resumed.clone());
        let label = self.label.clone();
        async move {
            let size = pack.data + (index.chunks.len() * content::INDEX_ENTRY + content::TRAILER) as u64;
            let tickets = client
                .pack_tickets(&upload_id, &PacksRequest { packs: vec![NewPack { pack: id.clone(), size }] })
                .await?;
            let ticket = tickets
                .into_iter()
                .find(|t| t.pack == id)
                .ok_or_else(|| ClientError::Error(format!("the server did not answer for pack {id}")))?;
            if ticket.stored {
                resumed.fetch_or(ticket.resumed, Ordering::Relaxed);
                bar.inc(pack.data);
                return Ok((pack.data, true));
            }
            let url = ticket.url.ok_or_else(|| ClientError::Error(format!("no URL to send pack {id} to")))?;
            // The pack is its chunks' bytes as read, then its index.
            let mut body: Vec<Bytes> = pack.chunks.into_iter().map(|c| c.bytes).collect();
            body.push(Bytes::from(index.encode()));
            let len = body.iter().map(|b| b.len() as u64).sum::<u64>();
            let crc = body.iter().fold(0, |crc, piece| crc32c::crc32c_append(crc, piece));
            if let Err(e) = put_buffer(&client, &url, &ticket.headers, body, crc, Piece::Pack).await {
                // A bucket's pack URL only creates: a store that refuses a PUT of what is there
                // already may close the connection before it reads the body (s3s-fs does), which
                // looks like a broken network. Asked again, the server reads and checks the pack
                // the store holds, and says whether it holds it.
                let request = PacksRequest { packs: vec![NewPack { pack: id.clone(), size }] };
                let held = client.pack_tickets(&upload_id, &request).await.is_ok_and(|t| t.iter().any(|t| t.stored));
                if !held {
                    return Err(e);
                }
                bar.inc(pack.data);
                return Ok((pack.data, true));
            }
            let total = sent.fetch_add(len, Ordering::Relaxed) + len;
            // The bar counts the bytes read; its text says how many were sent.
            bar.set_message(format!("{label} (sent {})", indicatif::HumanBytes(total)));
            bar.inc(pack.data);
            Ok((pack.data, false))
        }
    }

    fn finished(&mut self, done: std::result::Result<Shipped, tokio::task::JoinError>) -> Result<()> {
        let (data, already) = done.map_err(|e| ClientError::Error(format!("sending a pack stopped: {e}")))??;
        if already {
            self.stored += data;
        }
        Ok(())
    }
}
