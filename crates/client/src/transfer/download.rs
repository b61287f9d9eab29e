//! Downloads: parallel ranged GETs into a temporary file beside the destination, hashed on the
//! way and placed (`crate::place`) only once the checksum matches; each range through the one
//! retry helper (`crate::retry`).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use fedml_proto::checksum::{self, PartDigest, PartHasher};
use fedml_proto::content::Segment;
use fedml_proto::{DownloadTicket, ObjectKind, ObjectMeta};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::StatusCode;
use reqwest::header::RANGE;
use tokio_util::sync::CancellationToken;

use super::cancelled;
use crate::client::{Client, retryable};
use crate::error::{ClientError, Result};
use crate::place::{self, Placement, Scratch};
use crate::progress::{self, ProgressOptions};
use crate::retry::{self, Failed};
use crate::unpack;

/// Size of each ranged GET of a download (a power of two, so each range is a BLAKE3 subtree).
const RANGE_SIZE: u64 = 16 << 20;

/// Downloads `name` into the directory `dest_dir`: a file becomes `dest_dir/<name>`, a directory
/// `dest_dir/<name>/`. What is already there is replaced only after the new data is verified,
/// and only when [`place`] allows it (or `replace` asks for it); the check runs before any byte
/// is fetched.
pub async fn download(
    client: &Client,
    name: &str,
    service: Option<&str>,
    dest_dir: &Path,
    replace: bool,
    progress: &ProgressOptions,
    cancel: &CancellationToken,
) -> Result<PathBuf> {
    let ticket = client.download_ticket(name, service).await?;
    std::fs::create_dir_all(dest_dir)
        .map_err(|e| ClientError::io(format!("cannot create the destination {}", dest_dir.display()), e))?;
    let placement = Placement::new(dest_dir, name, ticket.object.kind, replace);
    placement.check()?;
    let temp = place::scratch(dest_dir, Scratch::Partial);
    let bar = progress::bar(progress, ticket.object.size);
    let source = Source::of(&ticket);
    let fetched = async { fetch(client, &source, &ticket.object, &temp, &bar).await };
    let result = tokio::select! {
        r = fetched => r,
        _ = cancel.cancelled() => Err(cancelled()),
    };
    bar.finish_and_clear();
    let placed = match result {
        Ok(()) => match ticket.object.kind {
            ObjectKind::File => placement.place(&temp),
            ObjectKind::Directory => {
                let staging = place::scratch(dest_dir, Scratch::Unpack);
                let unpacked = std::fs::create_dir(&staging)
                    .map_err(|e| ClientError::io(format!("cannot create {}", staging.display()), e))
                    .and_then(|()| unpack::extract(&temp, &staging))
                    .and_then(|()| unpack::content_root(&staging))
                    .and_then(|root| placement.place(&root));
                let _ = std::fs::remove_dir_all(&staging);
                unpacked
            }
        },
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&temp);
    placed.map(|()| placement.target().to_path_buf())
}

/// Where a download's bytes come from: one URL for the whole content, or (a packed file) the
/// ranges of its packs, in file order.
enum Source {
    Whole(String),
    Packs { urls: Vec<String>, segments: Vec<(u64, Segment)> },
}

/// One ranged read: `len` bytes at `start` of `url`.
struct Piece<'a> {
    url: &'a str,
    start: u64,
    len: u64,
}

impl Source {
    fn of(ticket: &DownloadTicket) -> Source {
        match &ticket.content {
            Some(content) => {
                let mut at = 0u64;
                let segments = content
                    .segments
                    .iter()
                    .map(|s| {
                        let placed = (at, *s);
                        at += s.length;
                        placed
                    })
                    .collect();
                Source::Packs { urls: content.packs.clone(), segments }
            }
            None => Source::Whole(ticket.url.clone()),
        }
    }

    /// The reads that make the file's bytes `start..start + len`, in order.
    fn pieces(&self, start: u64, len: u64) -> Result<Vec<Piece<'_>>> {
        match self {
            Source::Whole(url) => Ok(vec![Piece { url, start, len }]),
            Source::Packs { urls, segments } => {
                let end = start + len;
                let first = segments.partition_point(|(at, s)| at + s.length <= start);
                let mut out = Vec::new();
                for (at, segment) in &segments[first..] {
                    if *at >= end {
                        break;
                    }
                    let from = start.max(*at);
                    let to = end.min(at + segment.length);
                    let url = urls.get(segment.pack as usize).ok_or_else(|| {
                        ClientError::Error(format!("the server named pack {} of {}", segment.pack, urls.len()))
                    })?;
                    out.push(Piece { url, start: segment.offset + (from - at), len: to - from });
                }
                if out.iter().map(|p| p.len).sum::<u64>() != len {
                    return Err(ClientError::Error("the server's segments do not cover the file".into()));
                }
                Ok(out)
            }
        }
    }
}

async fn fetch(client: &Client, source: &Source, object: &ObjectMeta, temp: &Path, bar: &ProgressBar) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(|e| ClientError::io(format!("cannot create {}", temp.display()), e))?;
    file.set_len(object.size).map_err(write_error)?;
    let file = Arc::new(file);
    let size = object.size;
    let ranges = size.div_ceil(RANGE_SIZE).max(1);
    let mut digests: Vec<(u64, PartDigest)> = if size == 0 {
        vec![(0, PartHasher::new(0, RANGE_SIZE).finish())]
    } else {
        futures_util::stream::iter(0..ranges)
            .map(|i| {
                let file = file.clone();
                async move {
                    let start = i * RANGE_SIZE;
                    let len = RANGE_SIZE.min(size - start);
                    let pieces = source.pieces(start, len)?;
                    get_range(client, &pieces, file, i, start, len, bar).await.map(|d| (i, d))
                }
            })
            .buffer_unordered(client.parallel.max(1))
            .try_collect()
            .await?
    };
    digests.sort_by_key(|d| d.0);
    let digests: Vec<PartDigest> = digests.into_iter().map(|d| d.1).collect();
    let computed = checksum::merge(&digests).ok_or_else(|| ClientError::Error("nothing was hashed".into()))?;
    if computed != object.checksum {
        return Err(ClientError::Error(format!(
            "the downloaded data does not match its checksum ({computed} instead of {}); nothing was written — try again",
            object.checksum
        )));
    }
    // A file is made durable before it is renamed into place; a directory's archive is only a
    // staging copy, deleted once unpacked, so flushing it would only cost time.
    if object.kind == ObjectKind::File {
        let f = file.clone();
        tokio::task::spawn_blocking(move || f.sync_all())
            .await
            .map_err(|e| ClientError::Error(e.to_string()))?
            .map_err(|e| ClientError::io("cannot flush the download to disk", e))?;
    }
    Ok(())
}

/// A failed write of a download; a full disk (or a file size limit) says what to do.
fn write_error(e: std::io::Error) -> ClientError {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    if matches!(e.kind(), StorageFull | FileTooLarge | QuotaExceeded) {
        ClientError::Error(format!(
            "not enough room for the download ({e}); nothing was written — free some space or choose another \
             destination, then try again"
        ))
    } else {
        ClientError::io("cannot write the download", e)
    }
}

/// Reads the file's bytes `start..start + len` (range `index`) from `pieces`, one after the
/// other, into `file` at their offsets; answers their digest.
async fn get_range(
    client: &Client,
    pieces: &[Piece<'_>],
    file: Arc<std::fs::File>,
    index: u64,
    start: u64,
    len: u64,
    bar: &ProgressBar,
) -> Result<PartDigest> {
    retry::with_retries(|| {
        let file = file.clone();
        async move {
            let mut received = 0u64;
            let mut hasher = PartHasher::new(index, RANGE_SIZE);
            let outcome: std::result::Result<PartDigest, Failed> = async {
                for piece in pieces {
                    hasher = get_piece(client, piece, &file, start + received, hasher, &mut received, bar).await?;
                }
                let f = file.clone();
                let _ = tokio::task::spawn_blocking(move || start_writeback(&f, start, len)).await;
                Ok(hasher.finish())
            }
            .await;
            if outcome.is_err() {
                bar.set_position(bar.position().saturating_sub(received));
            }
            outcome
        }
    })
    .await
}

/// One piece of a range into `file` at `offset`, hashed on the way; counts what it wrote into
/// `counted` (to be taken back if the range fails).
async fn get_piece(
    client: &Client,
    piece: &Piece<'_>,
    file: &Arc<std::fs::File>,
    offset: u64,
    mut hasher: PartHasher,
    counted: &mut u64,
    bar: &ProgressBar,
) -> std::result::Result<PartHasher, Failed> {
    let (url, start, len) = (piece.url, piece.start, piece.len);
    let mut received = 0u64;
    async {
        let response = client
            .http()
            .get(url)
            .header(RANGE, format!("bytes={start}-{}", start + len - 1))
            .send()
            .await
            .map_err(|e| Failed::retry(crate::client::network_error(client.base(), &e)))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
            return Err(Failed::give_up(ClientError::Failure(format!(
                "the store refused the download (HTTP {status}): the data was replaced or deleted meanwhile, \
             or the link expired; try again"
            ))));
        }
        let whole = status == StatusCode::OK && start == 0;
        if status != StatusCode::PARTIAL_CONTENT && !whole {
            return Err(Failed::retry_if(
                retryable(status),
                ClientError::Error(format!("the store answered HTTP {status} to a ranged read")),
            ));
        }
        let mut stream = response.bytes_stream();
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0usize;
        loop {
            let next = stream.next().await;
            let done = next.is_none();
            if let Some(chunk) = next {
                let mut chunk = chunk.map_err(|e| Failed::retry(crate::client::network_error(client.base(), &e)))?;
                let room = (len - received) as usize - batched;
                chunk.truncate(room);
                batched += chunk.len();
                batch.push(chunk);
            }
            if batched >= (1 << 20) || (done && batched > 0) {
                let chunks = std::mem::take(&mut batch);
                let f = file.clone();
                let offset = offset + received;
                hasher = tokio::task::spawn_blocking(move || -> std::io::Result<PartHasher> {
                    let mut at = offset;
                    for chunk in &chunks {
                        f.write_all_at(chunk, at)?;
                        hasher.update(chunk);
                        at += chunk.len() as u64;
                    }
                    Ok(hasher)
                })
                .await
                .map_err(|e| Failed::give_up(ClientError::Error(e.to_string())))?
                .map_err(|e| Failed::give_up(write_error(e)))?;
                received += batched as u64;
                *counted += batched as u64;
                bar.inc(batched as u64);
                batched = 0;
            }
            if done || received == len {
                break;
            }
        }
        if received != len {
            return Err(Failed::retry(ClientError::Error(format!(
                "the connection broke off after {received} of {len} bytes"
            ))));
        }
        Ok(hasher)
    }
    .await
}

/// Asks the kernel to start writing a range to disk now (Linux), so the final `fsync` before the
/// rename has little left to wait for.
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor and plain integers; the call only schedules I/O.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}
