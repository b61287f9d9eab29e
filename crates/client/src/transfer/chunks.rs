//! What packed uploads and downloads both do: cut a file into content-defined chunks as it is
//! read once (`fedml_proto::content`), and read a stored pack's index from its end.

use std::io::Read;

use fedml_proto::content::{self, ChunkId, Chunker, PackIndex};
use reqwest::header::{CONTENT_RANGE, RANGE};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::retry::{self, Failed};

/// Reads `reader` to its end once: `on_read` sees each block as it is read, `on_chunk` each
/// chunk's file offset, bytes and id, in order. A failed read is `read_error`'s; `on_read` and
/// `on_chunk` may stop the cut with their own errors. `buf` is scratch space, kept by callers
/// that cut many files (a directory's) so that each small file costs no fresh allocation.
/// Answers the bytes read.
pub(super) fn cut<E>(
    mut reader: impl Read,
    buf: &mut Vec<u8>,
    read_error: impl Fn(std::io::Error) -> E,
    mut on_read: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    mut on_chunk: impl FnMut(u64, &[u8], ChunkId) -> std::result::Result<(), E>,
) -> std::result::Result<u64, E> {
    const BLOCK: u64 = 2 << 20;
    buf.clear();
    let mut start = 0usize; // where the next chunk starts in `buf`
    let mut base = 0u64; // file offset of `buf[0]`
    let mut eof = false;
    loop {
        // Keep at least one largest chunk ahead of `start`, or all that is left.
        while !eof && buf.len() - start < content::MAX_CHUNK {
            if start > 0 {
                buf.drain(..start);
                base += start as u64;
                start = 0;
            }
            let had = buf.len();
            // Appends without zeroing the room first; fewer bytes than asked means the end.
            let n = (&mut reader).take(BLOCK).read_to_end(buf).map_err(&read_error)?;
            if n > 0 {
                on_read(&buf[had..])?;
            }
            eof = (n as u64) < BLOCK;
        }
        let rest = &buf[start..];
        if rest.is_empty() {
            return Ok(base + buf.len() as u64);
        }
        let len = Chunker.cut(rest).unwrap_or(rest.len());
        on_chunk(base + start as u64, &rest[..len], content::chunk_id(&rest[..len]))?;
        start += len;
    }
}

/// A stored pack's index, from a ranged read of its last bytes. With its `size` known, an
/// explicit range (not every S3-compatible store takes a suffix longer than the object); else a
/// suffix range (the size from the answer's `Content-Range`), and where that is refused, the
/// whole pack.
pub(super) async fn read_index(client: &Client, url: &str, size: Option<u64>) -> Result<PackIndex> {
    match size {
        Some(size) => {
            let suffix = content::INDEX_SUFFIX.min(size);
            read_tail(client, url, Some(format!("bytes={}-{}", size - suffix, size.saturating_sub(1))), true).await
        }
        None => match read_tail(client, url, Some(format!("bytes=-{}", content::INDEX_SUFFIX)), false).await {
            Ok(index) => Ok(index),
            Err(_) => read_tail(client, url, None, true).await,
        },
    }
}

/// One GET of a pack (`range` of it, or all of it) decoded as its tail; a refusal is retried
/// only when `retry_refusals` and the store's status is worth another try.
async fn read_tail(client: &Client, url: &str, range: Option<String>, retry_refusals: bool) -> Result<PackIndex> {
    retry::with_retries(|| {
        let range = range.clone();
        async move {
            let mut request = client.http().get(url);
            if let Some(range) = range {
                request = request.header(RANGE, range);
            }
            let response =
                request.send().await.map_err(|e| Failed::retry(crate::client::network_error(client.base(), &e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(Failed::retry_if(
                    retry_refusals && crate::client::retryable(status),
                    ClientError::Error(format!("the store answered HTTP {status} to a read of a pack's index")),
                ));
            }
            let total = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .and_then(|v| v.parse::<u64>().ok());
            let bytes =
                response.bytes().await.map_err(|e| Failed::retry(crate::client::network_error(client.base(), &e)))?;
            let size = total.unwrap_or(bytes.len() as u64);
            PackIndex::decode_tail(&bytes, size).map_err(|why| Failed::give_up(ClientError::Error(why)))
        }
    })
    .await
}
