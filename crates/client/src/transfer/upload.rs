//! Uploads: a file in equal parts PUT in parallel to signed URLs, a directory packed into its
//! archive while its parts are sent, both hashed on the way (BLAKE3 by parts, see
//! `fedml_proto::checksum`) and never held whole in memory; each part through the one retry
//! helper (`crate::retry`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fedml_proto::checksum::{self, PartDigest, PartHasher};
use fedml_proto::content::{Layout, TransferStats};
use fedml_proto::{CompleteUpload, CompletedPart, CompletedUpload, CreateUpload, ObjectKind};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::header::CONTENT_LENGTH;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use super::put::{Piece, accept_part, part_tag, put_buffer, store_crc32c};
use super::scan::Input;
use super::{cancelled, packed};
use crate::client::{Client, Completion};
use crate::error::{ClientError, Result};
use crate::pack;
use crate::progress::{self, ProgressOptions};
use crate::retry::{self, Failed};

/// What an upload stores, besides its bytes. A description, tags or metadata of `None` is not
/// given: left out of the request, so that a new version keeps those of the one it replaces.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub name: String,
    pub service: String,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    pub overwrite: bool,
    /// Ask for a packed upload (see `packed`): only the chunks the store lacks are sent.
    pub dedup: bool,
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
    // A directory's archive holds it under one top folder, the last part of its name (`ds` of
    // `team/data/ds`): where a download unpacks it, and one every reader of the archive takes.
    let top = fedml_proto::rules::last_part(&req.name).to_string();
    let (kind, size, tree) = if meta.is_dir() {
        if let Err(why) = fedml_proto::archive::check_segment(&top) {
            return Err(ClientError::Failure(format!(
                "the name {:?} {why}; a directory cannot be stored under it: choose another name",
                req.name
            )));
        }
        let entries = pack::scan(path)?;
        (ObjectKind::Directory, pack::estimate_size(&top, &entries), Some(entries))
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
            layout: if req.dedup { Layout::Packs } else { Layout::Blob },
            namespace: client.namespace().map(str::to_string),
        })
        .await?;
    let bar = progress::bar(progress, size);
    let packed = session.layout == Layout::Packs;
    // What a completion refused for a pack that was not what its id names, when the data was
    // sent again: once (that pack is never offered again, so the second time it is sent anew).
    let mut sent_again: Option<TransferStats> = None;
    let result = loop {
        let tree = tree.clone();
        let sent = async {
            if packed {
                let input = match tree {
                    None => Input::File { path: path.to_path_buf(), size },
                    Some(entries) => Input::Tree { top: top.clone(), entries },
                };
                let p = packed::send(client, &session.upload_id, input, &bar).await?;
                let completion =
                    CompleteUpload { parts: Vec::new(), size: p.size, checksum: p.checksum, content: Some(p.content) };
                return Ok((completion, Some(p.stats)));
            }
            let sent = match tree {
                None => send_file(client, &session.upload_id, session.part_size, path, size, &bar).await?,
                Some(entries) => send_tree(client, &session.upload_id, session.part_size, &top, entries, &bar).await?,
            };
            let (parts, total, checksum) = sent;
            let stats = TransferStats { read_bytes: total, sent_bytes: total, stored_bytes: 0, resumed: false };
            Ok((CompleteUpload { parts, size: total, checksum, content: None }, Some(stats)))
        };
        // The cancellation is polled first, so an upload cancelled before it began sends nothing.
        let result: Result<(CompleteUpload, Option<TransferStats>)> = tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(if packed { cancelled_resumable() } else { cancelled() }),
            r = sent => r,
        };
        let (completion, mut stats) = match result {
            Ok(sent) => sent,
            Err(e) => break Err(e),
        };
        if let (Some(stats), Some(before)) = (stats.as_mut(), sent_again) {
            stats.sent_bytes += before.sent_bytes;
        }
        let total = completion.size;
        match client.complete_upload_checked(&session.upload_id, &completion).await {
            Ok(Completion::Done(done)) => {
                bar.set_length(total);
                bar.set_position(total);
                let mut done = *done;
                done.transfer = stats;
                break Ok(done);
            }
            Ok(Completion::SendAgain(_)) if packed && sent_again.is_none() => {
                sent_again = Some(stats.unwrap_or_default());
                bar.set_position(0);
            }
            Ok(Completion::SendAgain(why)) => break Err(ClientError::Failure(why)),
            Err(e) => break Err(e),
        }
    };
    bar.finish_and_clear();
    // A packed upload cancelled (Ctrl-C) keeps what it sent: its session pins it until it
    // expires, so that running the same upload again sends only the rest. Any other failure
    // ends the session — unless the server cannot be reached to end it (the network gone, the
    // server down), which leaves it for the same resume; so does a client killed outright.
    let keep = packed && matches!(&result, Err(e) if is_cancel(e));
    if result.is_err() && !keep {
        // Best effort: the collector reclaims the session at its expiry otherwise.
        let _ = client.abort_upload(&session.upload_id).await;
    }
    result
}

fn cancelled_resumable() -> ClientError {
    ClientError::Failure(RESUMABLE_CANCEL.into())
}

const RESUMABLE_CANCEL: &str =
    "cancelled; nothing was stored — what was sent is kept for a while, so the same upload run again resumes";

fn is_cancel(e: &ClientError) -> bool {
    matches!(e, ClientError::Failure(m) if m == RESUMABLE_CANCEL)
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
    let unreadable = |e| Failed::give_up(ClientError::io(format!("cannot read {}", path.display()), e));
    retry::with_retries(|| async move {
        let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
        file.seek(std::io::SeekFrom::Start(offset)).await.map_err(unreadable)?;
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
            _ if shrank => Err(Failed::give_up(ClientError::Failure(format!(
                "{} changed while it was being uploaded (shorter than announced); upload again",
                path.display()
            )))),
            Ok(response) => {
                let status = response.status();
                let etag = part_tag(response.headers());
                let store_crc = store_crc32c(response.headers());
                let body = response.bytes().await.unwrap_or_default();
                match hasher.lock().map(|h| (h.0.finish(), h.1)) {
                    Ok(_) if status.is_success() && sent_bytes != len => Err(Failed::retry(ClientError::Error(
                        format!("part {} was cut short on its way; try again", index + 1),
                    ))),
                    Ok((digest, crc)) => {
                        accept_part(status, etag, store_crc, &body, crc, Piece::Part(index)).map(|etag| (etag, digest))
                    }
                    Err(_) => Err(Failed::give_up(ClientError::Error("the part hasher failed".into()))),
                }
            }
            Err(e) => Err(Failed::retry(crate::client::network_error(client.base(), &e))),
        };
        if outcome.is_err() {
            bar.set_position(bar.position().saturating_sub(sent_bytes));
        }
        outcome
    })
    .await
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
    let len = data.len() as u64;
    let etag = put_buffer(client, url, &Default::default(), vec![data], crc, Piece::Part(index)).await?;
    bar.inc(len);
    Ok(etag)
}
