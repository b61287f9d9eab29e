//! How the local store reads a finished blob: a range of its file streamed a frame at a time,
//! each frame read on the blocking pool straight into a buffer that is kept for reuse once sent.
//! The signed blob URLs (`/blob/v1`) and the server's assembled reads of packs both read this way.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

use super::{BlobError, LocalStore};

/// The bytes a streamed read of a blob takes from its file at a time: one read on the blocking
/// pool into the buffer that is then sent as one frame of the body.
const READ_AT_ONCE: u64 = 512 << 10;
/// Frames of one streamed read read ahead of the one being sent (2 MiB).
const READ_AHEAD: usize = 4;
/// The frame buffers kept for reuse once sent, at most (8 MiB).
const KEPT_FRAMES: usize = 16;

/// Buffers that sent frames leave, read into again: a fresh one is memory the kernel maps and
/// zeroes a page at a time (page faults took a tenth of a download's server time), and one
/// zeroed by hand costs a pass over it.
static FRAMES: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// One frame of a streamed blob: the first `len` bytes of its buffer, which goes back to
/// [`FRAMES`] when the body has sent it.
struct Frame {
    buf: Vec<u8>,
    len: usize,
}

impl Frame {
    fn buffer() -> Vec<u8> {
        let kept = FRAMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        kept.unwrap_or_else(|| vec![0; READ_AT_ONCE as usize])
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut kept = FRAMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() < KEPT_FRAMES {
            kept.push(buf);
        }
    }
}

/// A finished blob's file, open for reading, and its length: cloned to read several ranges of
/// it with one open file.
#[derive(Clone)]
pub struct BlobFile {
    file: Arc<std::fs::File>,
    pub len: u64,
}

impl BlobFile {
    /// Bytes `first..first + count` of the blob, streamed: each frame read from the file
    /// straight into the buffer that is sent (a kept one, [`FRAMES`]), so a byte is copied once
    /// out of the page cache (an async file reads into a buffer of its own, then copies into
    /// the stream's). A file shorter than asked ends the stream with an error.
    pub fn range(&self, first: u64, count: u64) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        use futures_util::StreamExt;
        let file = self.file.clone();
        let frames = count.div_ceil(READ_AT_ONCE);
        // The next frames are read while this one is checked and sent: [`READ_AHEAD`] reads on
        // the blocking pool at once, answered in order.
        futures_util::stream::iter(0..frames)
            .map(move |i| {
                let file = file.clone();
                let at = first + i * READ_AT_ONCE;
                let want = (count - i * READ_AT_ONCE).min(READ_AT_ONCE);
                async move {
                    let frame = tokio::task::spawn_blocking(move || {
                        let mut frame = Frame { buf: Frame::buffer(), len: want as usize };
                        file.read_exact_at(&mut frame.buf[..frame.len], at).map(|()| frame)
                    })
                    .await
                    .map_err(io::Error::other)??;
                    Ok(Bytes::from_owner(frame))
                }
            })
            .buffered(READ_AHEAD)
    }
}
impl LocalStore {
    /// Opens the finished blob `blob_key` to read (on the blocking pool, with its length); a
    /// missing blob is [`BlobError::NotFound`].
    pub async fn open_blob(&self, blob_key: &str) -> Result<BlobFile, BlobError> {
        let path = self.object_path(blob_key).ok_or(BlobError::NotFound)?;
        let opened = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            let len = file.metadata()?.len();
            Ok::<_, io::Error>(BlobFile { file: Arc::new(file), len })
        })
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?;
        opened.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => BlobError::NotFound,
            _ => BlobError::Io(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every range read from a file comes back exact, through frames whose buffers are reused
    /// (they hold the bytes of the reads before), and a file shorter than asked is an error.
    #[test]
    fn ranges_stream_exactly_through_reused_frames() {
        use futures_util::TryStreamExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("blob");
        let frame = READ_AT_ONCE as usize;
        let data: Vec<u8> = (0..frame * 5 / 2 + 3).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let read = |first: u64, count: u64| {
            let file = BlobFile { file: Arc::new(std::fs::File::open(&path).expect("open")), len: data.len() as u64 };
            let frames: Vec<Bytes> = runtime.block_on(file.range(first, count).try_collect()).expect("read");
            assert!(frames.iter().all(|f| f.len() <= frame), "frames of at most {frame} bytes");
            frames.concat()
        };
        let len = data.len();
        for (first, count) in
            [(0, len), (1, len - 1), (frame - 1, 2), (frame, frame), (len - 3, 3), (7, 0), (0, 1), (0, len)]
        {
            assert_eq!(read(first as u64, count as u64), &data[first..first + count], "bytes {first} + {count}");
        }
        let file = BlobFile { file: Arc::new(std::fs::File::open(&path).expect("open")), len: len as u64 };
        let past = runtime.block_on(file.range(len as u64 - 10, 20).try_collect::<Vec<Bytes>>());
        assert!(past.is_err(), "a file shorter than asked ends the stream with an error");
    }
}
