//! Reading a pack back to know it is what its id names: its index is the one the id (the BLAKE3
//! of the index) names, and every chunk's bytes match the chunk's id. The one check of a pack's
//! bytes, for every store: the local folder runs it on a pack it receives before linking it into
//! place ([`check_pack_file`]); on a bucket, where the client PUTs straight to the store, the
//! server reads the pack back once before any upload relies on it ([`BlobStore::check_pack`]).
//!
//! Nothing is held whole: the index (at most [`content::INDEX_SUFFIX`] bytes) is read first,
//! then the data streams through a [`DataCheck`].

use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use fedml_proto::content::{self, DataCheck, PackIndex};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{BlobError, BlobStore};

/// What reading a pack found: its index (checked, with every chunk), or what is wrong with it.
pub type Checked = Result<PackIndex, String>;

/// How much of a pack's data is read at once from a local file.
const READ_AT_ONCE: usize = 1 << 20;

/// Checks the pack of `size` bytes in `file` against its id `hash` (blocking).
pub fn check_pack_file(file: &std::fs::File, hash: &str, size: u64) -> io::Result<Checked> {
    let found = file.metadata()?.len();
    if found != size {
        return Ok(Err(format!("it holds {found} bytes, not the {size} announced")));
    }
    let tail_len = size.min(content::INDEX_SUFFIX);
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact_at(&mut tail, size - tail_len)?;
    let index = match checked_index(&tail, hash, size) {
        Ok(index) => index,
        Err(why) => return Ok(Err(why)),
    };
    let data = index.data_len();
    let mut check = DataCheck::new(&index, 0..index.chunks.len());
    let mut buf = vec![0u8; READ_AT_ONCE.min(data as usize)];
    let mut at = 0u64;
    while at < data {
        let n = (data - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if let Err(why) = check.feed(&buf[..n]) {
            return Ok(Err(why));
        }
        at += n as u64;
    }
    let done = check.finish();
    Ok(done.map(|()| index))
}

/// The index at the end of a pack (`tail`: its last bytes) if it is the one `hash` names.
pub fn checked_index(tail: &[u8], hash: &str, size: u64) -> Result<PackIndex, String> {
    let index = PackIndex::decode_tail(tail, size)?;
    index.check(hash)?;
    Ok(index)
}

impl BlobStore {
    /// Reads the pack stored under `key` (recorded with id `hash` and `size` bytes) and checks
    /// it. [`BlobError::NotFound`] when the store holds nothing under the key.
    pub async fn check_pack(
        &self,
        http: &reqwest::Client,
        service: &str,
        key: &str,
        hash: &str,
        size: u64,
    ) -> Result<Checked, BlobError> {
        if let BlobStore::Local(local) = self {
            let path = local.object_path(key).ok_or(BlobError::NotFound)?;
            let hash = hash.to_string();
            let checked = tokio::task::spawn_blocking(move || {
                let file = std::fs::File::open(&path)?;
                check_pack_file(&file, &hash, size)
            })
            .await
            .map_err(|e| BlobError::Io(io::Error::other(e)))?;
            return checked.map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => BlobError::NotFound,
                _ => BlobError::Io(e),
            });
        }
        match self.blob_size(key).await? {
            None => return Err(BlobError::NotFound),
            Some(found) if found != size => {
                return Ok(Err(format!("it holds {found} bytes, not the {size} announced")));
            }
            Some(_) => {}
        }
        let tail_len = size.min(content::INDEX_SUFFIX);
        let tail = collect(self.read_range(http, service, key, size - tail_len, tail_len).await?).await?;
        if tail.len() as u64 != tail_len {
            return Err(BlobError::Store(format!(
                "reading a pack: {} of its last {tail_len} bytes arrived",
                tail.len()
            )));
        }
        let index = match checked_index(&tail, hash, size) {
            Ok(index) => index,
            Err(why) => return Ok(Err(why)),
        };
        let data = index.data_len();
        let mut check = DataCheck::new(&index, 0..index.chunks.len());
        if data > 0 {
            let mut stream = self.read_range(http, service, key, 0, data).await?;
            let mut read = 0u64;
            while let Some(piece) = stream.next().await {
                let piece = piece?;
                read += piece.len() as u64;
                if let Err(why) = check.feed(&piece) {
                    return Ok(Err(why));
                }
            }
            if read != data {
                return Err(BlobError::Store(format!("reading a pack: {read} of {data} bytes arrived")));
            }
        }
        let done = check.finish();
        Ok(done.map(|()| index))
    }

    /// Bytes `offset .. offset + length` of a blob, as a stream: from the file for the local
    /// folder, else by a ranged GET of a signed URL (the same request a client makes). A blob
    /// shorter than asked ends the stream with an error.
    pub async fn read_range(
        &self,
        http: &reqwest::Client,
        service: &str,
        key: &str,
        offset: u64,
        length: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        use futures_util::TryStreamExt;
        if let BlobStore::Local(local) = self {
            let file = local.open_blob(key).await?;
            return Ok(file.range(offset, length).map_err(BlobError::Io).boxed());
        }
        if length == 0 {
            return Ok(futures_util::stream::empty().boxed());
        }
        let expires = crate::time::now_secs() + 600;
        let url = self.get_url(service, key, expires).await?;
        let response = http
            .get(url)
            .header(reqwest::header::RANGE, format!("bytes={offset}-{}", offset + length - 1))
            .send()
            .await
            .map_err(|e| BlobError::Store(format!("reading a blob: {e}")))?;
        match response.status() {
            reqwest::StatusCode::PARTIAL_CONTENT => {}
            reqwest::StatusCode::NOT_FOUND => return Err(BlobError::NotFound),
            status => return Err(BlobError::Store(format!("reading a blob: HTTP {status}"))),
        }
        Ok(response.bytes_stream().map_err(|e| BlobError::Store(format!("reading a blob: {e}"))).boxed())
    }
}

/// A stream's bytes, whole (a pack's index: at most [`content::INDEX_SUFFIX`]).
async fn collect(mut stream: BoxStream<'static, Result<Bytes, BlobError>>) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}
