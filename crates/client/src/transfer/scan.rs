//! The reading side of a packed upload: what is uploaded, read once, in order, cut into
//! content-defined chunks, each named (a keyed BLAKE3) and the whole hashed (the object's
//! BLAKE3), then handed on in batches. The bytes read are the bytes sent: a chunk is a slice of
//! the block it was read into, kept until its pack is sent, so nothing is read twice and a file
//! changed meanwhile cannot make a pack disagree with its index.
//!
//! Three threads share the work, in stages of about the same cost per byte: one reads and
//! hashes the data in order, one cuts it (the gear hash finds the boundaries), one names the
//! chunks; the unfinished chunk at a block's end is carried into the room left at the start of
//! the next ([`HEAD`]), so the reader never waits for a cut. What they hold is bounded by a
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
/// copied into the room left at the start of the next block ([`HEAD`]: one largest chunk).
const BLOCK: usize = 2 << 20;
/// A block is closed once less than this is free in it.
const MIN_READ: usize = 64 << 10;
/// Bytes of the data per batch handed to the uploader.
pub(super) const BATCH_BYTES: u64 = 2 << 20;
/// The bytes of data the uploader gathers before it places any: enough sample chunks (about
/// 1 in 128) that data stored before, under another name, is found before any of it is sent.
pub(super) const FIRST_LOOK: u64 = 12 << 20;
/// The fewest bytes of the data a block adds (its reading starts past [`HEAD`], which holds
/// the unfinished chunk of the last, and ends with less than `MIN_READ` free).
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
    /// its first look, or a pack being filled), a batch being gathered, the block being read
    /// and the next it takes before handing that one on, and for each of the cutter and the
    /// namer the blocks waiting for it ([`IN_HAND`]) and the one it works on.
    pub(super) fn new(bytes: usize) -> Arc<Self> {
        let uploader = spanned((FIRST_LOOK + BATCH_BYTES) as usize).max(MAX_PINNED);
        let floor = uploader + spanned(BATCH_BYTES as usize) + 2 + 2 * (IN_HAND + 1);
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

/// Room left free at the start of every block for the unfinished chunk of the block before (a
/// chunk is never longer than this), so that every chunk is one slice of one block.
const HEAD: usize = content::MAX_CHUNK;

/// A block as the reader hands it to the cutter: bytes `HEAD..filled` of `data` are the data
/// from byte `base` on; `starts` are where regions begin in it (a region is cut from its first
/// byte on its own), each with whether its first chunk leads a file. `last` ends the data.
struct Filled {
    data: Vec<u8>,
    filled: usize,
    base: u64,
    starts: Vec<(usize, bool)>,
    last: bool,
}

/// The chunks cut in one block, not yet named: each one's offset in the data, its block, its
/// bytes, and whether it leads a file.
type Cuts = Vec<(u64, u64, Bytes, bool)>;

/// Reads `input` once: its chunks go to `tx` in batches, at most `budget` bytes of them alive.
/// Answers the bytes read and the checksum of the data.
///
/// Three threads share the work, each a stage of about the same cost per byte: this one reads
/// and hashes the data in order (the object's BLAKE3, a block at a time), the cutter finds the
/// chunk boundaries (the gear hash), the namer names each chunk (a keyed BLAKE3) and gathers
/// the batches. When nothing is sent (data the server holds) the three keep both cores busy.
pub(super) fn scan(input: &Input, budget: Arc<Budget>, tx: Batches) -> Result<(u64, String)> {
    let (to_cut, filled) = mpsc::sync_channel::<Filled>(IN_HAND);
    let (to_name, cuts) = mpsc::sync_channel::<Cuts>(IN_HAND);
    let cutting = {
        let budget = budget.clone();
        std::thread::spawn(move || cut(filled, to_name, budget))
    };
    let naming = std::thread::spawn(move || name(cuts, tx));
    let mut reader = Reader::new(budget, to_cut);
    let read = match input {
        Input::File { path, size } => reader.file(path, *size, None).map(|_| *size),
        Input::Tree { top, entries } => cut_tree(top, entries, &mut reader),
    }
    .and_then(|read| reader.finish().map(|hash| (read, hash)));
    drop(reader);
    let cut = cutting.join().map_err(|_| stopped("cutting the chunks"))?;
    let named = naming.join().map_err(|_| stopped("naming the chunks"))?;
    // The reader's own error first: the threads after it stop when it does.
    let (read, hash) = read?;
    cut?;
    named?;
    Ok((read, fedml_proto::checksum::of_hash(hash)))
}

/// Blocks waiting between two threads (each channel's room).
const IN_HAND: usize = 1;

/// The cutting thread: cuts each block's regions into chunks (the gear hash), carries the
/// unfinished chunk at a block's end into the room at the start of the next, and hands each
/// block's chunks on as slices of it.
fn cut(blocks: mpsc::Receiver<Filled>, out: mpsc::SyncSender<Cuts>, budget: Arc<Budget>) -> Result<()> {
    // The bytes of the current region after its last cut, and whether its first chunk is still
    // to come and leads a file.
    let mut tail: Vec<u8> = Vec::with_capacity(HEAD);
    let mut lead = false;
    let mut number = 0u64;
    for Filled { mut data, filled, base, starts, last } in blocks {
        let mut at = HEAD - tail.len();
        data[at..HEAD].copy_from_slice(&tail);
        tail.clear();
        let mut cuts: Vec<(usize, usize, bool)> = Vec::new();
        let mut starts = starts.into_iter();
        loop {
            let next = starts.next();
            // Up to where a region begins the current one is cut whole; past the last start it
            // is cut while a largest chunk lies ahead (a cut then sees all it may), and whole
            // at the end of the data.
            let (end, whole) = next.map_or((filled, last), |(start, _)| (start, true));
            while at < end {
                let rest = &data[at..end];
                if !whole && rest.len() < content::MAX_CHUNK {
                    break;
                }
                let len = Chunker.cut(rest).unwrap_or(rest.len());
                cuts.push((at, len, std::mem::take(&mut lead)));
                at += len;
            }
            match next {
                Some((start, leads)) => (at, lead) = (start, leads),
                None => break,
            }
        }
        tail.extend_from_slice(&data[at..filled]);
        let block = Block { data, budget: budget.clone() };
        if cuts.is_empty() {
            // Nothing cut in it (the data ended, or a region went on past it): its memory
            // goes straight back.
            continue;
        }
        let block = Bytes::from_owner(block);
        // The data offset of position `p` of the block.
        let offset = |p: usize| base + p as u64 - HEAD as u64;
        let chunks = cuts
            .into_iter()
            .map(|(start, len, lead)| (offset(start), number, block.slice(start..start + len), lead))
            .collect();
        number += 1;
        out.send(chunks).map_err(|_| stopped("naming the chunks"))?;
    }
    Ok(())
}

/// The naming thread: names each chunk and gathers batches.
fn name(cuts: mpsc::Receiver<Cuts>, tx: Batches) -> Result<()> {
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    for group in cuts {
        for (offset, block, chunk, lead) in group {
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
    Ok(())
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

/// Reads regions of the data (a file's bytes, the archive's own) into blocks, one after the
/// other, hashing the data in order, and hands each full block to the cutter with where its
/// regions begin.
struct Reader {
    /// The block being filled (always [`BLOCK`] bytes long): its bytes `HEAD..filled` are
    /// data read, the first of them byte `base` of the data.
    buf: Vec<u8>,
    filled: usize,
    base: u64,
    /// Where regions begin in `buf`, and whether their first chunk leads a file.
    starts: Vec<(usize, bool)>,
    /// Files read so far.
    files: usize,
    /// The object's BLAKE3, fed a block at a time (a small file or a header at a time, it
    /// could not hash many of its 1 KiB chunks at once).
    hasher: blake3::Hasher,
    budget: Arc<Budget>,
    out: mpsc::SyncSender<Filled>,
}

impl Reader {
    fn new(budget: Arc<Budget>, out: mpsc::SyncSender<Filled>) -> Self {
        Reader {
            buf: budget.take(),
            filled: HEAD,
            base: 0,
            starts: Vec::new(),
            files: 0,
            hasher: blake3::Hasher::new(),
            budget,
            out,
        }
    }

    /// The data offset of the next byte read.
    fn offset(&self) -> u64 {
        self.base + (self.filled - HEAD) as u64
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

    /// Reads `reader` to its end as one region (its first chunk marked `lead`). Answers the
    /// bytes read. A region expected to hold `size` bytes (a file) ends once a read answers
    /// fewer bytes than asked with exactly that many read, or once it holds more (the file
    /// changed): a small file costs one read, not a second to find its end.
    fn region(
        &mut self,
        mut reader: impl Read,
        size: Option<u64>,
        mut crc: Option<crc32fast::Hasher>,
        lead: bool,
        read_error: impl Fn(std::io::Error) -> ClientError,
    ) -> Result<(u64, Option<crc32fast::Hasher>)> {
        self.starts.push((self.filled, lead));
        let mut read = 0u64;
        loop {
            if BLOCK - self.filled < MIN_READ {
                self.hand_on(false)?;
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
            if n == 0 || size.is_some_and(|size| read > size || (n < want && read == size)) {
                return Ok((read, crc));
            }
        }
    }

    /// Hashes the block being filled and hands it to the cutter; starts the next one unless
    /// the data ends (`last`).
    fn hand_on(&mut self, last: bool) -> Result<()> {
        let next = if last { Vec::new() } else { self.budget.take() };
        let data = std::mem::replace(&mut self.buf, next);
        self.hasher.update(&data[HEAD..self.filled]);
        let filled = std::mem::replace(&mut self.filled, HEAD);
        let base = self.base;
        self.base += (filled - HEAD) as u64;
        let starts = std::mem::take(&mut self.starts);
        self.out.send(Filled { data, filled, base, starts, last }).map_err(|_| stopped("cutting the chunks"))
    }

    /// Hands on the last block; answers the data's BLAKE3.
    fn finish(&mut self) -> Result<blake3::Hash> {
        self.hand_on(true)?;
        Ok(self.hasher.finalize())
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

#[cfg(test)]
mod tests {
    use super::*;
    use fedml_proto::archive::{self, Located};
    use fedml_proto::checksum;

    /// What the scan handed on, chunk by chunk (copied, so no block stays alive), and what it
    /// answered.
    struct Scan {
        chunks: Vec<(u64, ChunkId, Vec<u8>, bool)>,
        read: u64,
        checksum: String,
    }

    /// Scans `input` with the smallest budget there is, taking its batches as they come.
    fn scan_all(input: Input) -> Scan {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Scanned>>(1);
        let scanning = std::thread::spawn(move || scan(&input, Budget::new(0), tx));
        let mut chunks = Vec::new();
        while let Some(batch) = rx.blocking_recv() {
            for c in batch {
                chunks.push((c.offset, c.id, c.bytes.to_vec(), c.lead));
            }
        }
        let (read, checksum) = scanning.join().expect("the scan ran").expect("the scan succeeded");
        Scan { chunks, read, checksum }
    }

    /// Random bytes with long runs of one byte (where only the largest chunk ends a cut).
    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(61) {
                out.extend(std::iter::repeat_n(x as u8, (x >> 40) as usize % (300 << 10)));
            } else {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    /// The chunks a reference cut gives: each region of `bytes` (split at `bounds`) cut on its
    /// own from its first byte, as offsets and lengths.
    fn reference(bytes: &[u8], bounds: &[u64]) -> Vec<(u64, usize)> {
        let mut cuts: Vec<u64> = bounds.to_vec();
        cuts.extend([0, bytes.len() as u64]);
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = Vec::new();
        for pair in cuts.windows(2) {
            let mut at = pair[0];
            for len in Chunker.lengths(&bytes[pair[0] as usize..pair[1] as usize]) {
                out.push((at, len));
                at += len as u64;
            }
        }
        out
    }

    /// Checks the chunks against the reference cut of `bytes` and their ids; answers the
    /// offsets of the chunks marked as leading a file.
    fn check(scan: &Scan, bytes: &[u8], bounds: &[u64]) -> Vec<u64> {
        let want = reference(bytes, bounds);
        let got: Vec<(u64, usize)> = scan.chunks.iter().map(|(at, _, b, _)| (*at, b.len())).collect();
        assert_eq!(got.len(), want.len(), "as many chunks as the reference cut");
        assert!(got == want, "the chunks lie where the reference cut puts them");
        for (at, id, b, _) in &scan.chunks {
            assert_eq!(b.as_slice(), &bytes[*at as usize..*at as usize + b.len()], "the bytes at {at}");
            assert_eq!(*id, content::chunk_id(b), "the id of the chunk at {at}");
        }
        assert_eq!(scan.read, bytes.len() as u64);
        assert_eq!(scan.checksum, checksum::of_bytes(bytes), "the object's checksum");
        scan.chunks.iter().filter(|c| c.3).map(|c| c.0).collect()
    }

    #[test]
    fn a_file_is_cut_as_one_region_however_its_blocks_fall() {
        let dir = tempfile::tempdir().expect("tmp");
        for (len, seed) in
            [(0, 1), (1, 2), (content::MIN_CHUNK + 1, 3), (BLOCK - HEAD, 4), (BLOCK + 5, 5), (9 << 20, 6)]
        {
            let bytes = data(len, seed);
            let path = dir.path().join(format!("f{seed}"));
            std::fs::write(&path, &bytes).expect("write");
            let scan = scan_all(Input::File { path, size: len as u64 });
            let leads = check(&scan, &bytes, &[]);
            assert_eq!(leads, if len == 0 { vec![] } else { vec![0] }, "the file's first chunk leads ({len} bytes)");
        }
    }

    #[test]
    fn a_tree_is_its_archive_with_each_file_cut_on_its_own() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
        std::fs::create_dir_all(root.join("empty")).expect("mkdir");
        let sizes = [0, 1, 100, 10 << 10, 70 << 10, 0, 200 << 10, 3 << 20, 17, 5 << 20, 9000, 1 << 20];
        for (i, size) in sizes.iter().enumerate() {
            for folder in ["", "sub", "sub/deeper"] {
                let name = root.join(folder).join(format!("file{i:02}"));
                std::fs::write(name, data(*size, (i * 7 + folder.len() + 1) as u64)).expect("write");
            }
        }
        let entries = crate::pack::scan(&root).expect("scan the tree");
        let archive = || crate::pack::pack("tree", &entries, Vec::new()).expect("pack").1;
        let before = archive();
        let scan = scan_all(Input::Tree { top: "tree".into(), entries: entries.clone() });
        let bytes: Vec<u8> = scan.chunks.iter().flat_map(|c| c.2.iter().copied()).collect();
        // The archive the one-blob path writes (its top folder's time is the clock's second).
        assert!(bytes == before || bytes == archive(), "the chunks make the archive the one-blob path writes");

        // Where each file's data lies, from the archive's own central directory.
        let size = bytes.len() as u64;
        let tail = &bytes[bytes.len().saturating_sub(archive::TAIL as usize)..];
        let Ok(Located::Directory { offset, size: cd, count }) = archive::locate(tail, size) else {
            panic!("the archive's central directory is found")
        };
        let listed = archive::entries(&bytes[offset as usize..(offset + cd) as usize], count).expect("entries");
        let mut bounds = Vec::new();
        let mut leads = Vec::new();
        let mut files = 0;
        for e in listed.iter().filter(|e| e.kind == fedml_proto::ObjectKind::File) {
            let start = archive::data_start(e.header, &bytes[e.header as usize..]).expect("local header");
            bounds.extend([start, start + e.size]);
            if files < LEAD_FILES && e.size > 0 {
                leads.push(start);
            }
            files += 1;
        }
        assert!(files > LEAD_FILES, "more files than lead");
        let mut got = check(&scan, &bytes, &bounds);
        got.sort_unstable();
        leads.sort_unstable();
        assert_eq!(got, leads, "the first chunk of each of the first files leads");
    }
}
