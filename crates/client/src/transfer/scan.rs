//! The reading side of a packed upload: what is uploaded, read once, in order, hashed (the
//! object's BLAKE3, on a thread of its own) and cut into named chunks handed on in batches.
//!
//! A file is its own bytes. A directory is the stored ZIP archive that a one-blob upload sends
//! (`crate::pack`), but never written anywhere: each file's data is cut on its own, from its
//! first byte to its last, so a file has the same chunks wherever it lies (in another version of
//! the directory, under another name, uploaded alone); the archive's own bytes between files
//! (headers, data descriptors, the central directory) are chunks of their own, held in memory.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use fedml_proto::content::{self, ChunkId, Chunker};

use super::chunks;
use crate::error::{ClientError, Result};
use crate::pack::{TreeEntry, ZipStream};

/// Bytes of the data per batch handed from the reader to the uploader.
const BATCH_BYTES: u64 = 16 << 20;
/// Files of at most this many bytes are kept in memory from their first read to their pack
/// (at most a few batches of them are: the uploader takes batches as it sends their packs).
const KEEP_FILES_UP_TO: u64 = 256 << 10;

/// What a packed upload reads.
pub(super) enum Input {
    /// One file, of the size it had when the upload began.
    File { path: PathBuf, size: u64 },
    /// A scanned directory, archived under the top folder `top` (the object's name).
    Tree { top: String, entries: Vec<TreeEntry> },
}

impl Input {
    /// The local files the data reads, in the order [`From::File`] numbers them.
    pub(super) fn sources(&self) -> Vec<PathBuf> {
        match self {
            Input::File { path, .. } => vec![path.clone()],
            Input::Tree { entries, .. } => entries.iter().filter_map(|e| e.source.clone()).collect(),
        }
    }
}

/// Where a chunk's bytes are to be read again when its pack is sent.
#[derive(Debug, Clone)]
pub(super) enum From {
    /// Local file `file` of [`Input::sources`], at `at`.
    File { file: u32, at: u64 },
    /// Bytes kept since they were read: the archive's own, and small files'.
    Bytes(Bytes),
}

/// One chunk of the data as the reader found it: `len` bytes at `offset` of the data.
#[derive(Debug, Clone)]
pub(super) struct Scanned {
    pub offset: u64,
    pub len: u32,
    pub id: ChunkId,
    pub from: From,
}

type Batches = tokio::sync::mpsc::Sender<Vec<Scanned>>;
/// What goes to the hashing thread: blocks of at least [`HASH_BLOCK`] bytes (but the last), so
/// that a directory of small files costs one hand-over per block, not one per file.
struct Blocks {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    pending: Vec<u8>,
}

const HASH_BLOCK: usize = 256 << 10;

impl Blocks {
    fn send(&mut self, block: &[u8]) -> Result<()> {
        if self.pending.is_empty() && block.len() >= HASH_BLOCK {
            return self.tx.send(block.to_vec()).map_err(|_| stopped("hashing the data"));
        }
        self.pending.extend_from_slice(block);
        if self.pending.len() >= HASH_BLOCK {
            return self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.pending, Vec::with_capacity(HASH_BLOCK));
        self.tx.send(block).map_err(|_| stopped("hashing the data"))
    }
}

/// Reads `input` once: its chunks go to `tx` in batches. Answers the bytes read and the
/// checksum of the data.
pub(super) fn scan(input: &Input, tx: Batches) -> Result<(u64, String)> {
    let (to_hash, hashed) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    let mut blocks = Blocks { tx: to_hash, pending: Vec::new() };
    let hashing = std::thread::spawn(move || {
        let mut hasher = blake3::Hasher::new();
        for block in hashed {
            hasher.update(&block);
        }
        hasher.finalize()
    });
    let mut batcher = Batcher { tx, batch: Vec::new(), bytes: 0 };
    let read = match input {
        Input::File { path, size } => cut_file(path, *size, &mut batcher, &mut blocks),
        Input::Tree { top, entries } => cut_tree(top, entries, &mut batcher, &mut blocks),
    }
    .and_then(|read| batcher.flush().and_then(|()| blocks.flush()).map(|()| read));
    drop(blocks);
    let hash = hashing.join().map_err(|_| ClientError::Error("hashing the data stopped".into()))?;
    read.map(|read| (read, fedml_proto::checksum::of_hash(hash)))
}

/// The error of data that changed while it was read or sent.
pub(super) fn changed(path: &Path) -> ClientError {
    ClientError::Failure(format!("{} changed while it was being uploaded; upload again", path.display()))
}

/// The error of a file scanned, then gone before it was read.
pub(super) fn vanished(path: &Path, e: &std::io::Error) -> ClientError {
    ClientError::Failure(format!("{} vanished while it was being uploaded ({e}); upload again", path.display()))
}

fn stopped(what: &str) -> ClientError {
    ClientError::Error(format!("{what} stopped"))
}

/// Gathers chunks into batches of about [`BATCH_BYTES`].
struct Batcher {
    tx: Batches,
    batch: Vec<Scanned>,
    bytes: u64,
}

impl Batcher {
    fn push(&mut self, chunk: Scanned) -> Result<()> {
        self.bytes += u64::from(chunk.len);
        self.batch.push(chunk);
        if self.bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.bytes = 0;
        if self.batch.is_empty() {
            return Ok(());
        }
        self.tx.blocking_send(std::mem::take(&mut self.batch)).map_err(|_| stopped("the upload"))
    }
}

/// Cuts local file number `file` (at `path`, expected to hold `size` bytes), whose data starts
/// at `base` of the upload's data; answers its CRC-32 (a directory's archive records it).
fn cut_source(
    path: &Path,
    (file, base, size): (u32, u64, u64),
    buf: &mut Vec<u8>,
    batcher: &mut Batcher,
    blocks: &mut Blocks,
) -> Result<u32> {
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => vanished(path, &e),
        _ => ClientError::io(format!("cannot read {}", path.display()), e),
    };
    let reader = std::fs::File::open(path).map_err(unreadable)?;
    let mut crc = crc32fast::Hasher::new();
    let read = chunks::cut(
        reader,
        buf,
        unreadable,
        |block| {
            crc.update(block);
            blocks.send(block)
        },
        |at, bytes, id| {
            let len = bytes.len() as u32;
            // A small file's bytes are kept: reading it again for its pack would cost an open.
            let from = if size <= KEEP_FILES_UP_TO {
                From::Bytes(Bytes::copy_from_slice(bytes))
            } else {
                From::File { file, at }
            };
            batcher.push(Scanned { offset: base + at, len, id, from })
        },
    )?;
    if read != size {
        return Err(changed(path));
    }
    Ok(crc.finalize())
}

fn cut_file(path: &Path, size: u64, batcher: &mut Batcher, blocks: &mut Blocks) -> Result<u64> {
    cut_source(path, (0, 0, size), &mut Vec::with_capacity(4 << 20), batcher, blocks)?;
    Ok(size)
}

/// Cuts the archive of a directory: its own bytes as they are written, each file's data from
/// the file. Answers the archive's size.
fn cut_tree(top: &str, entries: &[TreeEntry], batcher: &mut Batcher, blocks: &mut Blocks) -> Result<u64> {
    let archive_error = |e: std::io::Error| ClientError::Error(format!("archiving the directory failed: {e}"));
    let mut zip = ZipStream::new(Vec::new());
    let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    zip.add_directory(top, now, 0o755).map_err(archive_error)?;
    let mut buf = Vec::with_capacity(4 << 20);
    let mut file = 0u32;
    for entry in entries {
        let name = format!("{top}/{}", entry.relative);
        let Some(path) = &entry.source else {
            zip.add_directory(&name, entry.mtime, entry.mode).map_err(archive_error)?;
            continue;
        };
        zip.begin_file(&name, entry.mtime, entry.mode, entry.size).map_err(archive_error)?;
        let base = zip.written();
        let own = std::mem::take(zip.inner_mut());
        cut_own(own, base, batcher, blocks)?;
        let crc = cut_source(path, (file, base, entry.size), &mut buf, batcher, blocks)?;
        zip.skip(entry.size);
        zip.end_file(crc).map_err(|_| changed(path))?;
        file += 1;
    }
    let (total, own) = zip.finish().map_err(archive_error)?;
    cut_own(own, total, batcher, blocks)?;
    Ok(total)
}

/// Cuts bytes of the archive's own that end at `end` of the data.
fn cut_own(own: Vec<u8>, end: u64, batcher: &mut Batcher, blocks: &mut Blocks) -> Result<()> {
    if own.is_empty() {
        return Ok(());
    }
    blocks.send(&own)?;
    let own = Bytes::from(own);
    let mut at = 0usize;
    let start = end - own.len() as u64;
    for len in Chunker.lengths(&own) {
        let bytes = own.slice(at..at + len);
        let id = content::chunk_id(&bytes);
        batcher.push(Scanned { offset: start + at as u64, len: len as u32, id, from: From::Bytes(bytes) })?;
        at += len;
    }
    Ok(())
}
