//! Reading a packed file through this server: the one-URL download (`download_url`, the FedML
//! SDK's path), one file of a directory object, the central directory the file index is built
//! from. Every byte is checked against its chunk's id before it leaves: a range is widened to
//! the chunks that hold it, each chunk is hashed as it streams, and only bytes of chunks that
//! matched are passed on. A mismatch marks the pack corrupt and ends the stream with an error,
//! so a reader never gets a whole body of wrong bytes (the route answers an error status when
//! it comes before the first byte).
//!
//! A read opens each pack once (the local folder) and loads each pack's index once (the cache
//! of [`super::indexes`]); its work is bounded by the bytes it serves, since a file has at most
//! [`super::content::most_segments`] segments and they lie on chunk boundaries.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use fedml_proto::content::{ContentTicket, DataCheck, Segment};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::Platform;
use super::indexes::PackReader;

use crate::blobs::{BlobError, BlobFile, BlobStore};
use crate::catalogue::{CatalogueError, PackRecord, StoredContent};
use crate::error::{Error, Result};
use crate::time::now_secs;

/// Checked pieces waiting for the reader of the response (each at most a frame of the store).
const AHEAD: usize = 4;

impl Platform {
    /// How to read a packed file straight from its store: a signed URL per pack, until `expires`.
    pub(super) async fn content_ticket(
        &self,
        store: &BlobStore,
        service: &str,
        content: &StoredContent,
        expires: i64,
    ) -> Result<ContentTicket> {
        let mut packs = Vec::with_capacity(content.packs.len());
        for key in &content.packs {
            packs.push(store.get_url(service, key, expires).await?);
        }
        Ok(ContentTicket { packs, segments: content.segments.clone() })
    }

    /// The URL that reads a packed file whole, assembled by this server from its packs (for
    /// clients that take one URL: the FedML SDK, `download_url`).
    pub(super) fn assembled_url(&self, service: &str, blob_key: &str, expires: i64) -> String {
        let path = assembled_path(service, blob_key);
        format!("{}{path}?{}", self.public_url.trim_end_matches('/'), self.signer.sign("GET", &path, expires))
    }

    pub fn check_assembled_signature(
        &self,
        path: &str,
        exp: Option<i64>,
        sig: Option<&str>,
    ) -> std::result::Result<(), crate::signing::SignatureError> {
        self.signer.verify("GET", path, exp, sig, now_secs())
    }

    /// The packed file whose object row names `blob_key` in `service`: its size and a strong ETag
    /// (its checksum), and a reader of any of its byte ranges (see [`Platform::read_assembled`]).
    pub async fn assembled(&self, service: &str, blob_key: &str) -> Result<(u64, String, StoredContent)> {
        let gone = || Error::NotFound("the data behind this URL no longer exists".into());
        let record = self.catalogue.object_by_blob(service, blob_key).await.map_err(|e| match e {
            CatalogueError::NotFound => gone(),
            e => e.into(),
        })?;
        let content = record.content.ok_or_else(gone)?;
        let etag = format!("\"{}\"", record.meta.checksum.trim_start_matches(fedml_proto::checksum::PREFIX));
        Ok((record.meta.size, etag, content))
    }

    /// The bytes `first .. first + count` of a packed file, segment after segment, each checked
    /// against its chunk's id before it is passed on (see the module's description). A pack found
    /// damaged ends the stream with [`BlobError::Damaged`].
    pub fn read_assembled(
        &self,
        service: &str,
        content: StoredContent,
        (first, count): (u64, u64),
    ) -> Result<BoxStream<'static, std::result::Result<Bytes, BlobError>>> {
        let reader = self.pack_reader(service)?;
        let pieces = pieces_of(&content.segments, first, count);
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
        tokio::spawn(async move {
            if let Err(e) = send_checked(&reader, &content.packs, pieces, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed())
    }
}

/// The path of a packed file's assembled read.
pub fn assembled_path(service: &str, blob_key: &str) -> String {
    format!("/blob/v1/{service}/file/{blob_key}")
}

/// The pieces of `segments` (in file order) that lie in the file's bytes `first .. first + count`.
fn pieces_of(segments: &[Segment], first: u64, count: u64) -> Vec<Segment> {
    let end = first.saturating_add(count);
    let mut at = 0u64;
    let mut pieces = Vec::new();
    for segment in segments {
        let (from, to) = (at.max(first), (at + segment.length).min(end));
        if from < to {
            pieces.push(Segment { pack: segment.pack, offset: segment.offset + (from - at), length: to - from });
        }
        at += segment.length;
        if at >= end {
            break;
        }
    }
    pieces
}

type Sender = tokio::sync::mpsc::Sender<std::result::Result<Bytes, BlobError>>;

/// Sends the bytes of `pieces` (ranges of the packs `keys` names) to `tx`, each checked. Stops
/// quietly when the receiver is gone (the client went away).
async fn send_checked(
    reader: &PackReader,
    keys: &[String],
    pieces: Vec<Segment>,
    tx: &Sender,
) -> std::result::Result<(), BlobError> {
    let damaged = |e: Error| BlobError::Damaged(e.to_string());
    // Only the packs the pieces read (a small range of a large file reads one or two).
    let mut wanted: Vec<String> = pieces.iter().filter_map(|p| keys.get(p.pack as usize).cloned()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let records: HashMap<String, PackRecord> =
        reader.records(&wanted).await.map_err(damaged)?.into_iter().map(|p| (p.blob_key.clone(), p)).collect();
    let mut files: HashMap<String, BlobFile> = HashMap::new();
    for piece in pieces {
        let pack = keys
            .get(piece.pack as usize)
            .and_then(|key| records.get(key))
            .ok_or_else(|| BlobError::Damaged("a pack this file reads is no longer recorded".into()))?;
        let index = reader.index(pack).await.map_err(damaged)?;
        let end = piece.offset + piece.length;
        if index.index.chunks.is_empty() {
            return Err(damaged(reader.damaged(pack, "a file reads bytes of a pack with no chunks".into()).await));
        }
        let (c0, c1) = (index.chunk_at(piece.offset), index.chunk_at(end - 1));
        let (from, to) = (index.offsets[c0], index.offsets[c1 + 1]);
        if to < end {
            return Err(damaged(reader.damaged(pack, format!("a file reads past its data ({end} of {to})")).await));
        }
        let mut stream = match &reader.store {
            BlobStore::Local(local) => {
                let file = match files.get(&pack.blob_key) {
                    Some(file) => file.clone(),
                    None => {
                        let file = local.open_blob(&pack.blob_key).await?;
                        files.insert(pack.blob_key.clone(), file.clone());
                        file
                    }
                };
                futures_util::TryStreamExt::map_err(file.range(from, to - from), BlobError::Io).boxed()
            }
            store => store.read_range(&reader.http, &reader.service, &pack.blob_key, from, to - from).await?,
        };
        let mut check = DataCheck::new(&index.index, c0..c1 + 1);
        // Bytes read but not yet checked (their chunk not complete), from data offset `held_at`.
        let mut held: VecDeque<Bytes> = VecDeque::new();
        let mut held_at = from;
        let mut read_to = from;
        while let Some(frame) = stream.next().await {
            let frame = frame?;
            if let Err(why) = check.feed(&frame) {
                return Err(damaged(reader.damaged(pack, why).await));
            }
            read_to += frame.len() as u64;
            held.push_back(frame);
            let checked_to = index.offsets[c0 + check.checked()];
            // Pass on what is checked, cut to the piece.
            while let Some(front) = held.front() {
                let front_end = held_at + front.len() as u64;
                let upto = front_end.min(checked_to);
                if upto <= held_at {
                    break;
                }
                let (lo, hi) = (held_at.max(piece.offset), upto.min(end));
                if lo < hi {
                    let bytes = front.slice((lo - held_at) as usize..(hi - held_at) as usize);
                    if tx.send(Ok(bytes)).await.is_err() {
                        return Ok(());
                    }
                }
                if upto == front_end {
                    held.pop_front();
                } else if let Some(front) = held.front_mut() {
                    *front = front.slice((upto - held_at) as usize..);
                }
                held_at = upto;
            }
        }
        if read_to != to {
            return Err(BlobError::Store(format!(
                "reading pack {}: {} of {} bytes arrived",
                pack.hash,
                read_to - from,
                to - from
            )));
        }
        if let Err(why) = check.finish() {
            return Err(damaged(reader.damaged(pack, why).await));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_the_segments_cut_to_the_range() {
        let seg = |pack, offset, length| Segment { pack, offset, length };
        let segments = [seg(0, 100, 10), seg(1, 0, 20), seg(0, 500, 5)];
        assert_eq!(pieces_of(&segments, 0, 35), segments);
        assert_eq!(pieces_of(&segments, 5, 10), [seg(0, 105, 5), seg(1, 0, 5)]);
        assert_eq!(pieces_of(&segments, 30, 100), [seg(0, 500, 5)]);
        assert!(pieces_of(&segments, 35, 10).is_empty());
        assert!(pieces_of(&segments, 0, 0).is_empty());
    }
}
