//! The reading side of a packed upload: what is uploaded, read once, in order, cut into
//! content-defined chunks, each named (a keyed BLAKE3) and the whole hashed (the object's
//! BLAKE3), then handed on in batches. The bytes read are the bytes sent: a chunk is a slice of
//! the block it was read into, kept until its pack is sent, so nothing is read twice and a file
//! changed meanwhile cannot make a pack disagree with its index.
//!
//! Two threads share the work: one reads and cuts (the gear hash finds the boundaries), the
//! other names the chunks and hashes the data in order. What they hold is bounded by a
//! [`Budget`] of blocks, each reused once the uploader has dropped every chunk of it (found
//! stored, or sent). A pack being filled keeps at most [`MAX_PINNED`] blocks alive; a new
//! chunk of another block is copied out of it instead (the new chunks of a small change lie far
//! apart, one in each of many blocks).
//!
//! A file is its own bytes. A directory is the stored ZIP archive that a one-blob upload sends
//! (`crate::pack`), but never written anywhere: each file's data is cut on its own, from its
//! first byte to its last, so a file has the same chunks wherever it lies (in another version of
//! the directory, under another name, uploaded alone); the archive's own bytes between files
//! (headers, data descriptors, the central directory) are chunks of their own.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use fedml_proto::content::{self, ChunkId, Chunker};

use crate::error::{ClientError, Result};
use crate::pack::{TreeEntry, ZipStream};

/// The bytes of one block read. Chunks are slices of it; the unfinished chunk at its end is
/// copied into the next block (at most one largest chunk).
const BLOCK: usize = 2 << 20;
/// A block is closed once less than this is free in it.
const MIN_READ: usize = 64 << 10;
/// Bytes of the data per batch handed to the uploader.
pub(super) const BATCH_BYTES: u64 = 2 << 20;
/// The bytes of data the uploader gathers before it places any: enough sample chunks (about
/// 1 in 128) that data stored before, under another name, is found before any of it is sent.
pub(super) const FIRST_LOOK: u64 = 12 << 20;
/// The fewest bytes of the data a block adds (it is closed with less than `MIN_READ` free and
/// may begin with one unfinished chunk of the last).
const BLOCK_DATA: usize = BLOCK - MIN_READ - content::MAX_CHUNK;
/// The blocks consecutive data of `bytes` may span.
const fn spanned(bytes: usize) -> usize {
    bytes.div_ceil(BLOCK_DATA) + 1
}
/// The blocks one pack being filled may keep alive: those its data spans when its chunks are
/// consecutive.
pub(super) const MAX_PINNED: usize = spanned(content::MAX_PACK_DATA as usize);

/// What a packed upload reads.
pub(super) enum Input {
    /// One file, of the size it had when the upload began.
    File { path: PathBuf, size: u64 },
    /// A scanned directory, archived under the top folder `top` (the object's name).
    Tree { top: String, entries: Vec<TreeEntry> },
}

/// The files whose first chunk is a sample whatever its id ([`Scanned::lead`]).
pub(super) const LEAD_FILES: usize = 16;

/// One chunk of the data, in order: its bytes, found at `offset` of the data, named `id`; a
/// slice of block number `block` of the upload (or a copy of its own).
#[derive(Debug, Clone)]
pub(super) struct Scanned {
    pub offset: u64,
    pub id: ChunkId,
    pub bytes: Bytes,
    pub block: Option<u64>,
    /// The first chunk of one of the first [`LEAD_FILES`] files read (of the file, when one is
    /// uploaded): a sample by which the same data is found again under another name, however
    /// few samples its first bytes hold by id (a directory's own first bytes hold its name).
    pub lead: bool,
}

impl Scanned {
    pub(super) fn len(&self) -> u32 {
        // At most content::MAX_CHUNK.
        self.bytes.len() as u32
    }

    /// The chunk with bytes of its own, which keep no block alive.
    pub(super) fn copied(self) -> Scanned {
        Scanned { bytes: Bytes::copy_from_slice(&self.bytes), block: None, ..self }
    }
}

/// The blocks data is read into: at most a budget of them alive at once (read and not yet
/// dropped: the chunks of packs waiting to be filled or sent, of batches waiting to be placed),
/// and each reused once its chunks are dropped, never given back to the system and asked for
/// again (fresh pages cost the kernel a zeroing each).
pub(super) struct Budget {
    pool: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    free: Vec<Vec<u8>>,
    /// Blocks that may still be made.
    left: usize,
}

impl Budget {
    /// A budget of about `bytes`, and more than the pipeline holds when it waits for the
    /// reader, so that it never waits for itself: what the uploader holds then (the batches of
    /// its first look, or a pack being filled), a batch being gathered, the block being read,
    /// two waiting to be named and the one being named.
    pub(super) fn new(bytes: usize) -> Arc<Self> {
        let uploader = spanned((FIRST_LOOK + BATCH_BYTES) as usize).max(MAX_PINNED);
        let floor = uploader + spanned(BATCH_BYTES as usize) + 4 + 1;
        let blocks = bytes.div_ceil(BLOCK).max(floor);
        Arc::new(Budget { pool: Mutex::new(Pool { free: Vec::new(), left: blocks }), freed: Condvar::new() })
    }

    /// An empty block, waiting until one is free.
    fn take(&self) -> Vec<u8> {
        let mut pool = self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(block) = pool.free.pop() {
                return block;
            }
            if pool.left > 0 {
                pool.left -= 1;
                // Zeroed by the kernel as its pages are first touched (a fresh allocation this
                // large is mapped, not written), and never again: a block stays this long.
                return vec![0; BLOCK];
            }
            pool = self.freed.wait(pool).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn give_back(&self, block: Vec<u8>) {
        // Only a block as `take` made it may be read into again (the reader fills it by index,
        // up to BLOCK); anything else (the empty buffer a finished reader leaves) is dropped.
        if block.len() != BLOCK {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pool.free.push(block);
        self.freed.notify_one();
    }
}

/// A block's memory, alive while any chunk cut from it is, then given back to its budget.
struct Block {
    data: Vec<u8>,
    budget: Arc<Budget>,
}

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.budget.give_back(std::mem::take(&mut self.data));
    }
}

type Batches = tokio::sync::mpsc::Sender<Vec<Scanned>>;
/// The chunks cut in one block, not yet named.
struct Cuts {
    /// Their bytes back to back (they are consecutive in the data and in the block): hashed in
    /// one piece for the object's BLAKE3, which is then as fast as on one large buffer, where a
    /// chunk at a time (a file's header, a small file) would keep it from hashing many of its
    /// 1 KiB chunks at once.
    span: Bytes,
    /// Each chunk's offset in the data, its block, its bytes, and whether it leads a file.
    chunks: Vec<(u64, u64, Bytes, bool)>,
}

/// Reads `input` once: its chunks go to `tx` in batches, at most `budget` bytes of them alive.
/// Answers the bytes read and the checksum of the data.
pub(super) fn scan(input: &Input, budget: Arc<Budget>, tx: Batches) -> Result<(u64, String)> {
    let (to_name, cuts) = mpsc::sync_channel::<Cuts>(2);
    let naming = std::thread::spawn(move || name(cuts, tx));
    let mut reader = Reader::new(budget, to_name);
    let read = match input {
        Input::File { path, size } => reader.file(path, *size, None).map(|_| *size),
        Input::Tree { top, entries } => cut_tree(top, entries, &mut reader),
    }
    .and_then(|read| reader.finish().map(|()| read));
    drop(reader);
    let named = naming.join().map_err(|_| stopped("naming the chunks"))?;
    // The reader's own error first: the naming thread stops when the reader does.
    let read = read?;
    named.map(|hash| (read, fedml_proto::checksum::of_hash(hash)))
}

/// The naming thread: names each chunk, hashes the data in order, and gathers batches.
fn name(cuts: mpsc::Receiver<Cuts>, tx: Batches) -> Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    for group in cuts {
        hasher.update(&group.span);
        for (offset, block, chunk, lead) in group.chunks {
            bytes += chunk.len() as u64;
            batch.push(Scanned { offset, id: content::chunk_id(&chunk), bytes: chunk, block: Some(block), lead });
            if bytes >= BATCH_BYTES {
                tx.blocking_send(std::mem::take(&mut batch)).map_err(|_| stopped("the upload"))?;
                bytes = 0;
            }
        }
    }
    if !batch.is_empty() {
        tx.blocking_send(batch).map_err(|_| stopped("the upload"))?;
    }
    Ok(hasher.finalize())
}

/// The error of data that changed while it was read.
fn changed(path: &Path) -> ClientError {
    ClientError::Failure(format!("{} changed while it was being uploaded; upload again", path.display()))
}

/// The error of a file scanned, then gone before it was read.
fn vanished(path: &Path, e: &std::io::Error) -> ClientError {
    ClientError::Failure(format!("{} vanished while it was being uploaded ({e}); upload again", path.display()))
}

fn stopped(what: &str) -> ClientError {
    ClientError::Error(format!("{what} stopped"))
}

/// Reads regions of the data (a file's bytes, the archive's own) into blocks and cuts each
/// region into chunks from its first byte.
struct Reader {
    /// The block being filled (always [`BLOCK`] bytes long, of which the first `filled` hold
    /// data read); `buf[0]` is byte `base` of the data.
    buf: Vec<u8>,
    filled: usize,
    base: u64,
    /// The number of the block being filled.
    number: u64,
    /// Chunks cut in `buf`: start, length, whether it leads a file.
    cuts: Vec<(usize, usize, bool)>,
    /// Files read so far.
    files: usize,
    budget: Arc<Budget>,
    out: mpsc::SyncSender<Cuts>,
}

impl Reader {
    fn new(budget: Arc<Budget>, out: mpsc::SyncSender<Cuts>) -> Self {
        Reader { buf: budget.take(), filled: 0, base: 0, number: 0, cuts: Vec::new(), files: 0, budget, out }
    }

    /// The data offset of the next byte read.
    fn offset(&self) -> u64 {
        self.base + self.filled as u64
    }

    /// Reads local file `path`, expected to hold `size` bytes, as one region; answers its
    /// CRC-32 when `crc` asks for it (a directory's archive records it).
    fn file(&mut self, path: &Path, size: u64, crc: Option<crc32fast::Hasher>) -> Result<Option<u32>> {
        let unreadable = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => vanished(path, &e),
            _ => ClientError::io(format!("cannot read {}", path.display()), e),
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let lead = self.files < LEAD_FILES;
        self.files += 1;
        let (read, crc) = self.region(file, Some(size), crc, lead, unreadable)?;
        if read != size {
            return Err(changed(path));
        }
        Ok(crc.map(|c| c.finalize()))
    }

    /// Reads `reader` to its end as one region, cutting it as it goes (its first chunk marked
    /// `lead`). Answers the bytes read. A region expected to hold `size` bytes (a file) ends
    /// once a read answers fewer bytes than asked with exactly that many read, or once it holds
    /// more (the file changed): a small file costs one read, not a second to find its end.
    fn region(
        &mut self,
        mut reader: impl Read,
        size: Option<u64>,
        mut crc: Option<crc32fast::Hasher>,
        mut lead: bool,
        read_error: impl Fn(std::io::Error) -> ClientError,
    ) -> Result<(u64, Option<crc32fast::Hasher>)> {
        let mut start = self.filled; // where the next chunk starts in `buf`
        let mut read = 0u64;
        let mut eof = false;
        loop {
            // Keep at least one largest chunk ahead of `start`, or all that is left.
            while !eof && self.filled - start < content::MAX_CHUNK {
                if BLOCK - self.filled < MIN_READ {
                    start = self.close_block(start)?;
                }
                let room = BLOCK - self.filled;
                // One byte more than a file should still hold: that it holds more shows.
                let want = size.map_or(room, |size| room.min(size.saturating_sub(read).saturating_add(1) as usize));
                let had = self.filled;
                let n = read_some(&mut reader, &mut self.buf[had..had + want]).map_err(&read_error)?;
                if let Some(crc) = crc.as_mut() {
                    crc.update(&self.buf[had..had + n]);
                }
                self.filled += n;
                read += n as u64;
                eof = n == 0 || size.is_some_and(|size| read > size || (n < want && read == size));
            }
            let rest = &self.buf[start..self.filled];
            if rest.is_empty() {
                return Ok((read, crc));
            }
            let len = Chunker.cut(rest).unwrap_or(rest.len());
            debug_assert!(self.cuts.last().is_none_or(|&(at, n, _)| at + n == start), "chunks are consecutive");
            self.cuts.push((start, len, std::mem::take(&mut lead)));
            start += len;
        }
    }

    /// Hands the chunks cut in the current block on and starts the next block with the bytes
    /// from `keep` on (an unfinished chunk); answers where they lie in the new block.
    fn close_block(&mut self, keep: usize) -> Result<usize> {
        let mut next = self.budget.take();
        let kept = self.filled - keep;
        next[..kept].copy_from_slice(&self.buf[keep..self.filled]);
        let full = std::mem::replace(&mut self.buf, next);
        self.filled = kept;
        let base = self.base;
        self.base += keep as u64;
        self.hand_on(full, base)?;
        Ok(0)
    }

    /// Hands on the chunks cut in `data`, whose first byte is byte `base` of the data; a block
    /// nothing was cut in goes straight back to the budget.
    fn hand_on(&mut self, data: Vec<u8>, base: u64) -> Result<()> {
        let block = Block { data, budget: self.budget.clone() };
        if self.cuts.is_empty() {
            return Ok(());
        }
        let block = Bytes::from_owner(block);
        let number = self.number;
        self.number += 1;
        let first = self.cuts.first().map_or(0, |&(start, _, _)| start);
        let end = self.cuts.last().map_or(0, |&(start, len, _)| start + len);
        let span = block.slice(first..end);
        let chunks = self
            .cuts
            .drain(..)
            .map(|(start, len, lead)| (base + start as u64, number, block.slice(start..start + len), lead));
        self.out.send(Cuts { span, chunks: chunks.collect() }).map_err(|_| stopped("naming the chunks"))
    }

    /// Hands on the chunks of the last block.
    fn finish(&mut self) -> Result<()> {
        let data = std::mem::take(&mut self.buf);
        self.hand_on(data, self.base)
    }
}

/// One `read` into `buf`, again when interrupted: the bytes it read (0 at the end).
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            answer => return answer,
        }
    }
}

/// Cuts the archive of a directory: its own bytes as they are written, each file's data from
/// the file. Answers the archive's size.
fn cut_tree(top: &str, entries: &[TreeEntry], reader: &mut Reader) -> Result<u64> {
    let archive_error = |e: std::io::Error| ClientError::Error(format!("archiving the directory failed: {e}"));
    let mut zip = ZipStream::new(Vec::new());
    let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    zip.add_directory(top, now, 0o755).map_err(archive_error)?;
    for entry in entries {
        let name = format!("{top}/{}", entry.relative);
        let Some(path) = &entry.source else {
            zip.add_directory(&name, entry.mtime, entry.mode).map_err(archive_error)?;
            continue;
        };
        zip.begin_file(&name, entry.mtime, entry.mode, entry.size).map_err(archive_error)?;
        let own = std::mem::take(zip.inner_mut());
        reader.region(own.as_slice(), None, None, false, archive_error)?;
        debug_assert_eq!(reader.offset(), zip.written());
        let crc = reader.file(path, entry.size, Some(crc32fast::Hasher::new()))?.unwrap_or_default();
        zip.skip(entry.size);
        zip.end_file(crc).map_err(|_| changed(path))?;
    }
    let (total, own) = zip.finish().map_err(archive_error)?;
    reader.region(own.as_slice(), None, None, false, archive_error)?;
    Ok(total)
}
