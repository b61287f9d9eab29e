//! Moving bytes: uploads in equal parts PUT in parallel to signed URLs, downloads in parallel
//! ranged GETs, both hashed on the way (BLAKE3 by parts, see `fedml_proto::checksum`), neither
//! ever holding a whole file in memory. A directory is packed into its archive while its parts
//! are sent. A download lands in a temporary file beside its destination and is renamed into
//! place only once its checksum matches: no partial file is ever left at the final path.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fedml_proto::checksum::{self, PartDigest, PartHasher};
use fedml_proto::{CompleteUpload, CompletedPart, CompletedUpload, CreateUpload, ObjectKind, ObjectMeta};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, ETAG, RANGE};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use crate::client::{Client, retryable};
use crate::error::{ClientError, Result};
use crate::pack;
use crate::place::{self, Placement, Scratch};
use crate::progress::{self, ProgressOptions};
use crate::unpack;

const ATTEMPTS: u32 = 4;
/// Size of each ranged GET of a download (a power of two, so each range is a BLAKE3 subtree).
const RANGE_SIZE: u64 = 16 << 20;

fn cancelled() -> ClientError {
    ClientError::Failure("cancelled; nothing was stored or left behind".into())
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
}

/// What an upload stores, besides its bytes.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub name: String,
    pub service: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub overwrite: bool,
}

/// Uploads a file or directory; aborts the server-side session on any failure or cancellation.
pub async fn upload(
    client: &Client,
    path: &Path,
    req: UploadRequest,
    progress: &ProgressOptions,
    cancel: &CancellationToken,
) -> Result<CompletedUpload> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ClientError::Failure(format!("{} does not exist; check the data path", path.display()))
        } else {
            ClientError::io(format!("cannot read {}", path.display()), e)
        }
    })?;
    let (kind, size, tree) = if meta.is_dir() {
        let entries = pack::scan(path)?;
        (ObjectKind::Directory, pack::estimate_size(&req.name, &entries), Some(entries))
    } else if meta.is_file() {
        std::fs::File::open(path).map_err(|e| ClientError::io(format!("cannot read {}", path.display()), e))?;
        (ObjectKind::File, meta.len(), None)
    } else {
        return Err(ClientError::Failure(format!("{} is neither a file nor a directory", path.display())));
    };
    let session = client
        .create_upload(&CreateUpload {
            name: req.name.clone(),
            service: req.service.clone(),
            kind,
            size: Some(size),
            description: req.description.clone(),
            tags: req.tags.clone(),
            metadata: req.metadata.clone(),
            overwrite: req.overwrite,
        })
        .await?;
    let bar = progress::bar(progress, size);
    let sent = async {
        match tree {
            None => send_file(client, &session.upload_id, session.part_size, path, size, &bar).await,
            Some(entries) => send_tree(client, &session.upload_id, session.part_size, &req.name, entries, &bar).await,
        }
    };
    let result = tokio::select! {
        r = sent => r,
        _ = cancel.cancelled() => Err(cancelled()),
    };
    let result = match result {
        Ok((parts, total, checksum)) => {
            let done =
                client.complete_upload(&session.upload_id, &CompleteUpload { parts, size: total, checksum }).await;
            if done.is_ok() {
                bar.set_length(total);
                bar.set_position(total);
            }
            done
        }
        Err(e) => Err(e),
    };
    bar.finish_and_clear();
    if result.is_err() {
        // Best effort: the collector reclaims the session at its expiry otherwise.
        let _ = client.abort_upload(&session.upload_id).await;
    }
    result
}

type Sent = (Vec<CompletedPart>, u64, String);

/// Fetches signed URLs for parts `first..first+count`.
async fn urls(client: &Client, upload_id: &str, first: u32, count: u32) -> Result<Vec<String>> {
    let urls = client.part_urls(upload_id, first, count).await?;
    if urls.len() != count as usize {
        return Err(ClientError::Error(format!("the server gave {} part URLs for {count} parts", urls.len())));
    }
    Ok(urls.into_iter().map(|u| u.url).collect())
}

async fn send_file(
    client: &Client,
    upload_id: &str,
    part_size: u64,
    path: &Path,
    size: u64,
    bar: &ProgressBar,
) -> Result<Sent> {
    let count = size.div_ceil(part_size).max(1);
    let count = u32::try_from(count).map_err(|_| ClientError::Failure("the file is too large".into()))?;
    let mut all_urls = Vec::with_capacity(count as usize);
    let mut first = 1;
    while first <= count {
        let n = (count - first + 1).min(1000);
        all_urls.extend(urls(client, upload_id, first, n).await?);
        first += n;
    }
    let path = Arc::new(path.to_path_buf());
    let mut results: Vec<(u32, String, PartDigest)> = futures_util::stream::iter(all_urls.into_iter().enumerate())
        .map(|(i, url)| {
            let path = path.clone();
            async move {
                let offset = i as u64 * part_size;
                let len = part_size.min(size - offset.min(size));
                let (etag, digest) = put_file_part(client, &url, &path, i as u64, part_size, offset, len, bar).await?;
                Ok::<_, ClientError>((i as u32 + 1, etag, digest))
            }
        })
        .buffer_unordered(client.parallel.max(1))
        .try_collect()
        .await?;
    results.sort_by_key(|r| r.0);
    finish_parts(results, size)
}

fn finish_parts(results: Vec<(u32, String, PartDigest)>, total: u64) -> Result<Sent> {
    let digests: Vec<PartDigest> = results.iter().map(|r| r.2).collect();
    let checksum = checksum::merge(&digests).ok_or_else(|| ClientError::Error("no part was hashed".into()))?;
    let parts = results.into_iter().map(|(part_number, etag, _)| CompletedPart { part_number, etag }).collect();
    Ok((parts, total, checksum))
}

/// Checks a part's answer: success status and an ETag; where the store's ETag is the CRC-32C of
/// what it received (the local folder), it must be the CRC-32C of what we sent.
fn accept_part(
    status: StatusCode,
    etag: Option<String>,
    body: &[u8],
    crc: u32,
    part: u64,
) -> std::result::Result<String, (bool, ClientError)> {
    if !status.is_success() {
        let said = store_says(body);
        let hint = if said.as_deref().is_some_and(|m| m.contains("again")) { "" } else { "; try again" };
        let why = said.map(|m| format!(": {m}")).unwrap_or_default();
        return Err((
            retryable(status),
            ClientError::Error(format!("the store refused part {} (HTTP {status}{why}){hint}", part + 1)),
        ));
    }
    let etag = etag
        .ok_or_else(|| (true, ClientError::Error(format!("the store answered part {} without an ETag", part + 1))))?;
    let theirs = etag.trim_matches('"');
    if theirs.len() == 8 && theirs.bytes().all(|b| b.is_ascii_hexdigit()) && theirs != format!("{crc:08x}") {
        return Err((true, ClientError::Error(format!("part {} arrived damaged; it was sent again", part + 1))));
    }
    Ok(etag)
}

/// What a store's error answer says: our envelope's `message`, or an S3 error's `Message`/`Code`.
fn store_says(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let said = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v.get("message").and_then(|m| m.as_str()).map(str::to_string),
        Err(_) => ["Message", "Code"].iter().find_map(|tag| {
            let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
            let end = start + text[start..].find(&format!("</{tag}>"))?;
            Some(text[start..end].to_string())
        }),
    }?;
    let said = said.trim();
    (!said.is_empty()).then(|| said.chars().take(300).collect())
}

#[allow(clippy::too_many_arguments)]
async fn put_file_part(
    client: &Client,
    url: &str,
    path: &Path,
    index: u64,
    part_size: u64,
    offset: u64,
    len: u64,
    bar: &ProgressBar,
) -> Result<(String, PartDigest)> {
    let mut attempt = 0;
    loop {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ClientError::io(format!("cannot read {}", path.display()), e))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| ClientError::io(format!("cannot read {}", path.display()), e))?;
        let hasher = Arc::new(Mutex::new((PartHasher::new(index, part_size), 0u32)));
        let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (h, c, b) = (hasher.clone(), counted.clone(), bar.clone());
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file.take(len), 1 << 20).map_ok(move |chunk: Bytes| {
                if let Ok(mut h) = h.lock() {
                    h.0.update(&chunk);
                    h.1 = crc32c::crc32c_append(h.1, &chunk);
                }
                c.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                b.inc(chunk.len() as u64);
                chunk
            });
        let sent =
            client.http().put(url).header(CONTENT_LENGTH, len).body(reqwest::Body::wrap_stream(stream)).send().await;
        let sent_bytes = counted.load(std::sync::atomic::Ordering::Relaxed);
        // Fewer bytes sent than announced: the file shrank, or the store answered (or the
        // connection broke) before the body was through. Only the file's length tells which.
        let shrank =
            sent_bytes != len && tokio::fs::metadata(path).await.map(|m| m.len() < offset + len).unwrap_or(true);
        let outcome = match sent {
            _ if shrank => Err((
                false,
                ClientError::Failure(format!(
                    "{} changed while it was being uploaded (shorter than announced); upload again",
                    path.display()
                )),
            )),
            Ok(response) => {
                let status = response.status();
                let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
                let body = response.bytes().await.unwrap_or_default();
                match hasher.lock().map(|h| (h.0.finish(), h.1)) {
                    Ok(_) if status.is_success() && sent_bytes != len => Err((
                        true,
                        ClientError::Error(format!("part {} was cut short on its way; try again", index + 1)),
                    )),
                    Ok((digest, crc)) => accept_part(status, etag, &body, crc, index).map(|etag| (etag, digest)),
                    Err(_) => Err((false, ClientError::Error("the part hasher failed".into()))),
                }
            }
            Err(e) => Err((true, crate::client::network_error(client.base(), &e))),
        };
        match outcome {
            Ok(done) => return Ok(done),
            Err((retry, e)) => {
                bar.set_position(bar.position().saturating_sub(sent_bytes));
                attempt += 1;
                if !retry || attempt >= ATTEMPTS {
                    return Err(e);
                }
                backoff(attempt).await;
            }
        }
    }
}

/// Writes the archive into part-sized buffers handed to the uploader as they fill.
struct PartSink {
    buffer: Vec<u8>,
    part_size: usize,
    index: u64,
    tx: tokio::sync::mpsc::Sender<(u64, Bytes, PartDigest, u32)>,
}

impl PartSink {
    fn ship(&mut self) -> std::io::Result<()> {
        let data = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_size));
        let mut hasher = PartHasher::new(self.index, self.part_size as u64);
        hasher.update(&data);
        let digest = hasher.finish();
        let crc = crc32c::crc32c(&data);
        self.tx
            .blocking_send((self.index, Bytes::from(data), digest, crc))
            .map_err(|_| std::io::Error::other("the upload stopped"))?;
        self.index += 1;
        Ok(())
    }
}

impl std::io::Write for PartSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.part_size - self.buffer.len();
        let n = room.min(buf.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == self.part_size {
            self.ship()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn send_tree(
    client: &Client,
    upload_id: &str,
    part_size: u64,
    top: &str,
    entries: Vec<pack::TreeEntry>,
    bar: &ProgressBar,
) -> Result<Sent> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Bytes, PartDigest, u32)>(1);
    let top = top.to_string();
    let packer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let sink =
            PartSink { buffer: Vec::with_capacity(part_size as usize), part_size: part_size as usize, index: 0, tx };
        let (total, mut sink) = pack::pack(&top, &entries, sink)?;
        // The last part: shorter, or the only one.
        if !sink.buffer.is_empty() || sink.index == 0 {
            sink.ship()?;
        }
        Ok(total)
    });
    let mut url_cache: Vec<String> = Vec::new();
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    let mut results = Vec::new();
    let parallel = client.parallel.max(1);
    let mut upload_error: Option<ClientError> = None;
    loop {
        tokio::select! {
            next = rx.recv(), if in_flight.len() < parallel && upload_error.is_none() => {
                let Some((index, data, digest, crc)) = next else { break };
                let needed = index as usize + 1;
                if url_cache.len() < needed {
                    match urls(client, upload_id, url_cache.len() as u32 + 1, 64).await {
                        Ok(more) => url_cache.extend(more),
                        Err(e) => { upload_error = Some(e); break; }
                    }
                }
                let url = url_cache[index as usize].clone();
                in_flight.push(async move {
                    let etag = put_buffer_part(client, &url, data, crc, index, bar).await?;
                    Ok::<_, ClientError>((index as u32 + 1, etag, digest))
                });
            }
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                match done {
                    Ok(r) => results.push(r),
                    Err(e) => { upload_error = Some(e); break; }
                }
            }
        }
    }
    if upload_error.is_none() {
        while let Some(done) = in_flight.next().await {
            match done {
                Ok(r) => results.push(r),
                Err(e) => {
                    upload_error = Some(e);
                    break;
                }
            }
        }
    }
    drop(rx);
    let packed = packer.await.map_err(|e| ClientError::Error(format!("packing stopped: {e}")))?;
    if let Some(e) = upload_error {
        return Err(e);
    }
    let total = packed.map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => ClientError::Failure(e.to_string()),
        // Scanned, then gone before it was read.
        std::io::ErrorKind::NotFound => {
            ClientError::Failure(format!("{e}: the directory changed while it was being uploaded; upload again"))
        }
        _ => ClientError::Error(format!("packing the directory failed: {e}")),
    })?;
    results.sort_by_key(|r| r.0);
    finish_parts(results, total)
}

async fn put_buffer_part(
    client: &Client,
    url: &str,
    data: Bytes,
    crc: u32,
    index: u64,
    bar: &ProgressBar,
) -> Result<String> {
    let mut attempt = 0;
    loop {
        let sent = client.http().put(url).header(CONTENT_LENGTH, data.len()).body(data.clone()).send().await;
        let outcome = match sent {
            Ok(response) => {
                let status = response.status();
                let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
                let body = response.bytes().await.unwrap_or_default();
                accept_part(status, etag, &body, crc, index)
            }
            Err(e) => Err((true, crate::client::network_error(client.base(), &e))),
        };
        match outcome {
            Ok(etag) => {
                bar.inc(data.len() as u64);
                return Ok(etag);
            }
            Err((retry, e)) => {
                attempt += 1;
                if !retry || attempt >= ATTEMPTS {
                    return Err(e);
                }
                backoff(attempt).await;
            }
        }
    }
}

// ---------------------------------------------------------------------- download

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
    let fetched = async { fetch(client, &ticket.url, &ticket.object, &temp, &bar).await };
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

async fn fetch(client: &Client, url: &str, object: &ObjectMeta, temp: &Path, bar: &ProgressBar) -> Result<()> {
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
                    get_range(client, url, file, i, start, len, bar).await.map(|d| (i, d))
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

async fn get_range(
    client: &Client,
    url: &str,
    file: Arc<std::fs::File>,
    index: u64,
    start: u64,
    len: u64,
    bar: &ProgressBar,
) -> Result<PartDigest> {
    let mut attempt = 0;
    loop {
        let mut received = 0u64;
        let outcome: std::result::Result<PartDigest, (bool, ClientError)> = async {
            let response = client
                .http()
                .get(url)
                .header(RANGE, format!("bytes={start}-{}", start + len - 1))
                .send()
                .await
                .map_err(|e| (true, crate::client::network_error(client.base(), &e)))?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
                return Err((
                    false,
                    ClientError::Failure(format!(
                        "the store refused the download (HTTP {status}): the data was replaced or deleted meanwhile, \
                     or the link expired; try again"
                    )),
                ));
            }
            let whole = status == StatusCode::OK && start == 0;
            if status != StatusCode::PARTIAL_CONTENT && !whole {
                return Err((
                    retryable(status),
                    ClientError::Error(format!("the store answered HTTP {status} to a ranged read")),
                ));
            }
            let mut hasher = PartHasher::new(index, RANGE_SIZE);
            let mut stream = response.bytes_stream();
            let mut batch: Vec<Bytes> = Vec::new();
            let mut batched = 0usize;
            loop {
                let next = stream.next().await;
                let done = next.is_none();
                if let Some(chunk) = next {
                    let mut chunk = chunk.map_err(|e| (true, crate::client::network_error(client.base(), &e)))?;
                    let room = (len - received) as usize - batched;
                    chunk.truncate(room);
                    batched += chunk.len();
                    batch.push(chunk);
                }
                if batched >= (1 << 20) || (done && batched > 0) {
                    let chunks = std::mem::take(&mut batch);
                    let f = file.clone();
                    let offset = start + received;
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
                    .map_err(|e| (false, ClientError::Error(e.to_string())))?
                    .map_err(|e| (false, write_error(e)))?;
                    received += batched as u64;
                    bar.inc(batched as u64);
                    batched = 0;
                }
                if done || received == len {
                    break;
                }
            }
            if received != len {
                return Err((
                    true,
                    ClientError::Error(format!("the connection broke off after {received} of {len} bytes")),
                ));
            }
            let f = file.clone();
            let _ = tokio::task::spawn_blocking(move || start_writeback(&f, start, len)).await;
            Ok(hasher.finish())
        }
        .await;
        match outcome {
            Ok(d) => return Ok(d),
            Err((retry, e)) => {
                bar.set_position(bar.position().saturating_sub(received));
                attempt += 1;
                if !retry || attempt >= ATTEMPTS {
                    return Err(e);
                }
                backoff(attempt).await;
            }
        }
    }
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
