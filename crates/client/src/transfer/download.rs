//! Downloads: parallel ranged GETs into a temporary file beside the destination, hashed on the
//! way and placed (`crate::place`) only once the checksum matches; each range through the one
//! retry helper (`crate::retry`).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use fedml_proto::checksum::{self, PartDigest, PartHasher};
use fedml_proto::{DownloadTicket, ObjectKind, ObjectMeta};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::StatusCode;
use reqwest::header::RANGE;
use tokio_util::sync::CancellationToken;

use super::{cancelled, reuse};
use crate::client::{Client, ObjectRef, retryable};
use crate::error::{ClientError, Result};
use crate::place::{self, Placement, Scratch};
use crate::progress::{self, ProgressOptions};
use crate::retry::{self, Failed};
use crate::unpack;

/// Size of each ranged GET of a download (a power of two, so each range is a BLAKE3 subtree).
const RANGE_SIZE: u64 = 16 << 20;

/// Downloads `name` into the directory `dest_dir`, under its last part (`x.bin` of
/// `team/data/x.bin`): a file becomes `dest_dir/<last part>`, a directory `dest_dir/<last part>/`. What is already there is replaced only after the new data is verified,
/// and only when [`place`] allows it (or `replace` asks for it); the check runs before any byte
/// is fetched.
pub async fn download(
    client: &Client,
    at: ObjectRef<'_>,
    dest_dir: &Path,
    replace: bool,
    progress: &ProgressOptions,
    cancel: &CancellationToken,
) -> Result<PathBuf> {
    let ticket = client.download_ticket(at).await?;
    let name = place::placed_name(at.name, &ticket.object.data_name);
    std::fs::create_dir_all(dest_dir)
        .map_err(|e| ClientError::io(format!("cannot create the destination {}", dest_dir.display()), e))?;
    let placement = Placement::new(dest_dir, name, ticket.object.kind, replace);
    placement.check()?;
    let temp = place::scratch(dest_dir, Scratch::Partial);
    let bar = progress::bar(progress, ticket.object.size);
    // A packed file takes what it can from disk: an older copy at the target, and what an
    // interrupted download of the same data left.
    let resume = reuse::resumable_path(dest_dir, &ticket.object.checksum);
    let write_failed = std::sync::atomic::AtomicBool::new(false);
    let fetched = async {
        let sources = [placement.target().to_path_buf(), resume.clone()];
        let source = Source::of(client, &ticket, &sources).await?;
        fetch(client, &source, &ticket.object, &temp, &bar, &write_failed).await
    };
    // The cancellation is polled first: a download cancelled before it began fetches nothing
    // (polled in random order, one poll of the transfer could already land bytes and keep them).
    let result = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(cancelled()),
        r = fetched => r,
    };
    bar.finish_and_clear();
    // Interrupted (cancelled, the network gone) with bytes written: kept for the next download
    // of the same data to take up. Not after a failed write (that partial would only take room)
    // nor after a checksum mismatch (`write_failed` says either).
    let resumable = ticket.content.is_some()
        && result.is_err()
        && bar.position() > 0
        && !write_failed.load(std::sync::atomic::Ordering::Relaxed)
        && std::fs::rename(&temp, &resume).is_ok();
    if result.is_ok() {
        let _ = std::fs::remove_file(&resume);
    }
    if resumable {
        return Err(result.err().map(resumable_error).unwrap_or_else(cancelled));
    }
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

/// The error of a download whose bytes so far are kept for the next one.
fn resumable_error(e: ClientError) -> ClientError {
    let keep = "; what arrived is kept beside the destination, and the same download run again fetches only the rest";
    match e {
        ClientError::Failure(m) => ClientError::Failure(format!("{m}{keep}")),
        ClientError::Error(m) => ClientError::Error(format!("{m}{keep}")),
    }
}

/// Where a download's bytes come from: one URL for the whole content, or (a packed file) runs
/// of its packs and of local files, in file order.
pub(super) enum Source {
    Whole(String),
    Packs { urls: Vec<String>, runs: Vec<(u64, reuse::Run)>, local: reuse::Local },
}

/// Where one read goes: a URL (ranged GET), or a local file.
pub(super) enum PieceFrom<'a> {
    Url(&'a str),
    File(&'a Path),
}

/// One read: `len` bytes at `start` of its source.
pub(super) struct Piece<'a> {
    pub(super) from: PieceFrom<'a>,
    pub(super) start: u64,
    pub(super) len: u64,
}

impl Source {
    pub(super) async fn of(client: &Client, ticket: &DownloadTicket, local: &[PathBuf]) -> Result<Source> {
        match &ticket.content {
            Some(content) => {
                let (runs, local, _) = reuse::plan(client, content, local).await?;
                let mut at = 0u64;
                let runs = runs
                    .into_iter()
                    .map(|r| {
                        let placed = (at, r);
                        at += r.length;
                        placed
                    })
                    .collect();
                Ok(Source::Packs { urls: content.packs.clone(), runs, local })
            }
            None => Ok(Source::Whole(ticket.url.clone())),
        }
    }

    /// The reads that make the file's bytes `start..start + len`, in order.
    pub(super) fn pieces(&self, start: u64, len: u64) -> Result<Vec<Piece<'_>>> {
        match self {
            Source::Whole(url) => Ok(vec![Piece { from: PieceFrom::Url(url), start, len }]),
            Source::Packs { urls, runs, local } => {
                let end = start + len;
                let first = runs.partition_point(|(at, r)| at + r.length <= start);
                let mut out = Vec::new();
                for (at, run) in &runs[first..] {
                    if *at >= end {
                        break;
                    }
                    let from = start.max(*at);
                    let to = end.min(at + run.length);
                    let source = match run.from {
                        reuse::From::Pack(n) => PieceFrom::Url(urls.get(n as usize).ok_or_else(|| {
                            ClientError::Error(format!("the server named pack {n} of {}", urls.len()))
                        })?),
                        reuse::From::Local(n) => PieceFrom::File(
                            local.files.get(n).ok_or_else(|| ClientError::Error("a local file went missing".into()))?,
                        ),
                    };
                    out.push(Piece { from: source, start: run.offset + (from - at), len: to - from });
                }
                if out.iter().map(|p| p.len).sum::<u64>() != len {
                    return Err(ClientError::Error("the server's segments do not cover the file".into()));
                }
                Ok(out)
            }
        }
    }
}

async fn fetch(
    client: &Client,
    source: &Source,
    object: &ObjectMeta,
    temp: &Path,
    bar: &ProgressBar,
    write_failed: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(|e| ClientError::io(format!("cannot create {}", temp.display()), e))?;
    file.set_len(object.size).map_err(|e| {
        write_failed.store(true, std::sync::atomic::Ordering::Relaxed);
        write_error(e)
    })?;
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
                    get_range(client, &pieces, file, i, start, len, bar, write_failed).await.map(|d| (i, d))
                }
            })
            .buffer_unordered(client.download_parallel.max(1))
            .try_collect()
            .await?
    };
    digests.sort_by_key(|d| d.0);
    let digests: Vec<PartDigest> = digests.into_iter().map(|d| d.1).collect();
    let computed = checksum::merge(&digests).ok_or_else(|| ClientError::Error("nothing was hashed".into()))?;
    if computed != object.checksum {
        // Damaged bytes are not worth keeping for a resume.
        write_failed.store(true, std::sync::atomic::Ordering::Relaxed);
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

const NO_ROOM: &str = "not enough room for the download";
const CANNOT_WRITE: &str = "cannot write the download";

/// A failed write of a download; a full disk (or a file size limit) says what to do.
fn write_error(e: std::io::Error) -> ClientError {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    if matches!(e.kind(), StorageFull | FileTooLarge | QuotaExceeded) {
        ClientError::Error(format!(
            "{NO_ROOM} ({e}); nothing was written — free some space or choose another destination, then try again"
        ))
    } else {
        ClientError::io(CANNOT_WRITE, e)
    }
}

/// Reads the file's bytes `start..start + len` (range `index`) from `pieces`, one after the
/// other, into `file` at their offsets; answers their digest.
#[allow(clippy::too_many_arguments)]
async fn get_range(
    client: &Client,
    pieces: &[Piece<'_>],
    file: Arc<std::fs::File>,
    index: u64,
    start: u64,
    len: u64,
    bar: &ProgressBar,
    write_failed: &std::sync::atomic::AtomicBool,
) -> Result<PartDigest> {
    retry::with_retries(|| {
        let file = file.clone();
        async move {
            let mut received = 0u64;
            let mut hasher = PartHasher::new(index, RANGE_SIZE);
            let outcome: std::result::Result<PartDigest, Failed> = async {
                for piece in pieces {
                    let at = start + received;
                    hasher = match piece.from {
                        PieceFrom::Url(url) => {
                            get_piece(client, url, piece, &file, at, hasher, &mut received, bar).await
                        }
                        PieceFrom::File(local) => copy_piece(local, piece, &file, at, hasher, &mut received, bar).await,
                    }
                    .inspect_err(|failed| {
                        if is_write_error(&failed.error) {
                            write_failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    })?;
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
#[allow(clippy::too_many_arguments)]
async fn get_piece(
    client: &Client,
    url: &str,
    piece: &Piece<'_>,
    file: &Arc<std::fs::File>,
    offset: u64,
    mut hasher: PartHasher,
    counted: &mut u64,
    bar: &ProgressBar,
) -> std::result::Result<PartHasher, Failed> {
    let (start, len) = (piece.start, piece.len);
    let mut received = 0u64;
    async {
        let response = ranged_get(client, url, start, len).await?;
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

/// How a refused ranged read's message starts (the data replaced or deleted, or the URL expired).
pub(super) const REFUSED: &str = "the store refused the read";

/// One ranged GET of `len` bytes at `start` of a signed URL, answered with those bytes (or, from
/// a store that ignores ranges, the whole body when `start` is 0); a refusal gives up, a store
/// error is retried when it may pass.
pub(super) async fn ranged_get(
    client: &Client,
    url: &str,
    start: u64,
    len: u64,
) -> std::result::Result<reqwest::Response, Failed> {
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
            "{REFUSED} (HTTP {status}): the data was replaced or deleted meanwhile, or the link expired; try again"
        ))));
    }
    if status != StatusCode::PARTIAL_CONTENT && !(status == StatusCode::OK && start == 0) {
        return Err(Failed::retry_if(
            retryable(status),
            ClientError::Error(format!("the store answered HTTP {status} to a ranged read")),
        ));
    }
    Ok(response)
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

/// One piece copied from a local file (a chunk an older copy or an interrupted download holds)
/// into `file` at `offset`, hashed on the way.
async fn copy_piece(
    local: &Path,
    piece: &Piece<'_>,
    file: &Arc<std::fs::File>,
    offset: u64,
    hasher: PartHasher,
    counted: &mut u64,
    bar: &ProgressBar,
) -> std::result::Result<PartHasher, Failed> {
    // A local file that changed since it was cut: the download is run again, which cuts it anew.
    let gone = |e: std::io::Error| {
        Failed::give_up(ClientError::Error(format!(
            "{} changed while the download read it ({e}); run the download again",
            local.display()
        )))
    };
    let source = std::fs::File::open(local).map_err(gone)?;
    let (file, start, len) = (file.clone(), piece.start, piece.len);
    let copied = tokio::task::spawn_blocking(move || -> std::result::Result<PartHasher, (bool, std::io::Error)> {
        let mut hasher = hasher;
        let mut buf = vec![0u8; (len as usize).min(1 << 20)];
        let mut done = 0u64;
        while done < len {
            let n = ((len - done) as usize).min(buf.len());
            source.read_exact_at(&mut buf[..n], start + done).map_err(|e| (true, e))?;
            file.write_all_at(&buf[..n], offset + done).map_err(|e| (false, e))?;
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        Ok(hasher)
    })
    .await
    .map_err(|e| Failed::give_up(ClientError::Error(e.to_string())))?;
    let hasher = copied.map_err(|(reading, e)| if reading { gone(e) } else { Failed::give_up(write_error(e)) })?;
    *counted += len;
    bar.inc(len);
    Ok(hasher)
}

/// Whether an error is [`write_error`]'s: the download's own file could not be written.
fn is_write_error(e: &ClientError) -> bool {
    matches!(e, ClientError::Error(m) if m.starts_with(NO_ROOM) || m.starts_with(CANNOT_WRITE))
}
