//! The content-addressed layout of a file: content-defined chunks, packs and segments.
//!
//! A file is cut into chunks by a gear hash with the Xet protocol's parameters (8 KiB minimum,
//! 64 KiB target, 128 KiB maximum: [`Chunker`]); a chunk is named by its keyed BLAKE3
//! ([`chunk_id`]). The chunks a store does not hold yet travel in *packs*: immutable blobs of
//! chunks back to back followed by their index ([`PackIndex`]), at most [`PACK_TARGET`] bytes of
//! data each. A stored file is a list of *segments*, byte ranges of packs in file order.
//!
//! No I/O here: the client cuts and packs, the server checks what it is told.

use serde::{Deserialize, Serialize};

/// Smallest chunk (but a file's last).
pub const MIN_CHUNK: usize = 8 << 10;
/// Largest chunk.
pub const MAX_CHUNK: usize = 128 << 10;
/// The Xet protocol's boundary mask: a chunk ends where the gear hash has its 16 high bits zero
/// (a 64 KiB mean past the minimum).
const BOUNDARY_MASK: u64 = 0xFFFF_0000_0000_0000;
/// The most sample chunks a completion names per pack (a pack of tiny chunks has more samples
/// than it needs to be found; the first ones are kept).
pub const MAX_PACK_SAMPLES: usize = 64;
/// A pack takes chunks until it holds this many bytes of data.
pub const PACK_TARGET: u64 = 8 << 20;
/// The most data a pack may hold: the target plus one largest chunk.
pub const MAX_PACK_DATA: u64 = PACK_TARGET + MAX_CHUNK as u64;
/// Bytes per entry of a pack's index: the chunk id and its length (u32, little-endian).
pub const INDEX_ENTRY: usize = 36;
/// The pack's last bytes: the chunk count (u32, little-endian) and this magic.
pub const PACK_MAGIC: &[u8; 8] = b"FMLPACK1";
pub const TRAILER: usize = 4 + PACK_MAGIC.len();
/// The most chunks a pack holds: as many as its data takes of the smallest chunk, plus one (a
/// pack of many small files, each a short last chunk, is closed when it holds this many).
pub const MAX_PACK_CHUNKS: usize = (MAX_PACK_DATA / MIN_CHUNK as u64 + 1) as usize;
/// The largest pack blob: its data, the index of the most chunks it can hold, the trailer.
pub const MAX_PACK_SIZE: u64 = MAX_PACK_DATA + (MAX_PACK_CHUNKS * INDEX_ENTRY) as u64 + TRAILER as u64;
/// How many bytes from a pack's end always hold its whole index (a ranged read of this suffix).
pub const INDEX_SUFFIX: u64 = 64 << 10;

/// The key of chunk ids: fixed, so that the same bytes have the same id in every upload of one
/// owner (dedup never crosses owners: the server matches only the caller's own packs).
const CHUNK_KEY: [u8; 32] = *b"fedml-storage chunk id, v1 .....";

/// A chunk's id: the keyed BLAKE3 of its bytes.
pub type ChunkId = [u8; 32];

pub fn chunk_id(bytes: &[u8]) -> ChunkId {
    *blake3::keyed_hash(&CHUNK_KEY, bytes).as_bytes()
}

/// Whether a chunk is one of the samples by which the server finds packs it already holds
/// (about one chunk in 128, so about one per pack): the server indexes only these.
pub fn is_sample(id: &ChunkId) -> bool {
    u16::from_le_bytes([id[0], id[1]]).is_multiple_of(128)
}

/// The first bytes of an upload's data where [`is_early_sample`] chunks are samples too: the
/// same data uploaded again (under another name, with bytes put before it) is found in its
/// first look however far its first [`is_sample`] chunk lies (8 MiB in on average).
pub const EARLY_SAMPLED: u64 = 16 << 20;

/// Whether a chunk in an upload's first [`EARLY_SAMPLED`] bytes is a sample (one in 16, so
/// about 16 in those bytes; every [`is_sample`] chunk is one).
pub fn is_early_sample(id: &ChunkId) -> bool {
    u16::from_le_bytes([id[0], id[1]]).is_multiple_of(16)
}

/// Cuts a byte stream into content-defined chunks, fed in any pieces.
///
/// `cut` answers the length of the next chunk that ends inside `data` (a slice starting at the
/// current chunk's start), or `None` when more bytes are needed; at the end of the stream the
/// rest is one last chunk. The gear hash depends only on the last 64 bytes, so hashing starts
/// 64 bytes before the first byte that may end a chunk.
#[derive(Debug, Default, Clone, Copy)]
pub struct Chunker;

impl Chunker {
    /// The length of the chunk starting at `data[0]` if it ends within `data`.
    pub fn cut(&self, data: &[u8]) -> Option<usize> {
        if data.len() <= MIN_CHUNK {
            return None;
        }
        let window = &data[..data.len().min(MAX_CHUNK)];
        let mut hasher = gearhash::Hasher::default();
        hasher.update(&window[MIN_CHUNK - 64..MIN_CHUNK - 1]);
        match hasher.next_match(&window[MIN_CHUNK - 1..], BOUNDARY_MASK) {
            Some(n) => Some(MIN_CHUNK - 1 + n),
            None if window.len() == MAX_CHUNK => Some(MAX_CHUNK),
            None => None,
        }
    }

    /// Every chunk length of a whole buffer, in order.
    pub fn lengths(&self, mut data: &[u8]) -> Vec<usize> {
        let mut out = Vec::with_capacity(data.len() / (64 << 10) + 1);
        while !data.is_empty() {
            let len = self.cut(data).unwrap_or(data.len());
            out.push(len);
            data = &data[len..];
        }
        out
    }
}

/// One chunk of a pack as its index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: ChunkId,
    pub len: u32,
}

/// A pack's index: its chunks in the order their bytes lie in the pack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackIndex {
    pub chunks: Vec<IndexEntry>,
}

impl PackIndex {
    /// The bytes of the data the index describes.
    pub fn data_len(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.len)).sum()
    }

    /// The index and trailer as they end the pack blob.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.chunks.len() * INDEX_ENTRY + TRAILER);
        for chunk in &self.chunks {
            out.extend_from_slice(&chunk.id);
            out.extend_from_slice(&chunk.len.to_le_bytes());
        }
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        out.extend_from_slice(PACK_MAGIC);
        out
    }

    /// The pack's id: the BLAKE3 of its index (which names every chunk's bytes by their id), in
    /// hex. Two packs with the same chunks in the same order have the same id.
    pub fn pack_id(&self) -> String {
        hex::encode(blake3::hash(&self.encode()).as_bytes())
    }

    /// Reads the index from the last bytes of a pack (`tail`, its final `tail.len()` bytes, of
    /// a pack of `pack_size` bytes in all). Refuses anything that is not a well-formed index of
    /// exactly the data before it.
    pub fn decode_tail(tail: &[u8], pack_size: u64) -> Result<PackIndex, String> {
        let bad = |why: &str| Err(format!("not a pack index: {why}"));
        if tail.len() < TRAILER || &tail[tail.len() - PACK_MAGIC.len()..] != PACK_MAGIC {
            return bad("no trailer");
        }
        let count_at = tail.len() - TRAILER;
        let count = u32::from_le_bytes([tail[count_at], tail[count_at + 1], tail[count_at + 2], tail[count_at + 3]]);
        let index_len = count as usize * INDEX_ENTRY;
        if index_len > count_at {
            return bad("index longer than what was read");
        }
        let index = &tail[count_at - index_len..count_at];
        let chunks: Vec<IndexEntry> = index
            .chunks_exact(INDEX_ENTRY)
            .map(|e| {
                let mut id = [0u8; 32];
                id.copy_from_slice(&e[..32]);
                IndexEntry { id, len: u32::from_le_bytes([e[32], e[33], e[34], e[35]]) }
            })
            .collect();
        let pack = PackIndex { chunks };
        if pack.data_len() + index_len as u64 + TRAILER as u64 != pack_size {
            return bad("its chunks do not add up to the pack");
        }
        Ok(pack)
    }
}

impl PackIndex {
    /// Checks the index against the pack's id (the BLAKE3 of the index, as the catalogue
    /// records it) and against what an uploader writes: at most [`MAX_PACK_CHUNKS`] chunks of 1
    /// to [`MAX_CHUNK`] bytes, at most [`MAX_PACK_DATA`] bytes of data. A server that checks this
    /// and then every chunk's bytes against its id ([`DataCheck`]) knows the pack is what its id
    /// names.
    pub fn check(&self, pack_id: &str) -> Result<(), String> {
        if self.chunks.len() > MAX_PACK_CHUNKS {
            return Err(format!(
                "its index lists {} chunks, more than the {MAX_PACK_CHUNKS} a pack holds",
                self.chunks.len()
            ));
        }
        if let Some((i, chunk)) = self.chunks.iter().enumerate().find(|(_, c)| c.len == 0 || c.len as usize > MAX_CHUNK)
        {
            return Err(format!("chunk {} of its index has {} bytes; a chunk has 1 to {MAX_CHUNK}", i + 1, chunk.len));
        }
        if self.data_len() > MAX_PACK_DATA {
            return Err(format!(
                "its index describes {} bytes of data, more than the {MAX_PACK_DATA} a pack holds",
                self.data_len()
            ));
        }
        if self.pack_id() != pack_id {
            return Err("its index is not the one its id names".to_string());
        }
        Ok(())
    }

    /// Where each chunk's bytes start in the pack's data, and the end of the last: one more
    /// entry than chunks.
    pub fn offsets(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.chunks.len() + 1);
        let mut at = 0u64;
        out.push(0);
        for chunk in &self.chunks {
            at += u64::from(chunk.len);
            out.push(at);
        }
        out
    }
}

/// Checks the bytes of some of a pack's chunks against its index as they arrive, in pieces of
/// any size: each chunk's keyed BLAKE3 is computed as its bytes come (nothing is buffered) and
/// compared with its id once its last byte is in.
pub struct DataCheck<'a> {
    chunks: &'a [IndexEntry],
    /// The chunk being hashed (its number in the whole index, for messages), and its bytes still to come.
    at: usize,
    first: usize,
    left: u32,
    hasher: blake3::Hasher,
}

impl<'a> DataCheck<'a> {
    /// A check of the bytes of the chunks `chunks` of `index` (all: `0..index.chunks.len()`),
    /// fed from the first one's start.
    pub fn new(index: &'a PackIndex, chunks: std::ops::Range<usize>) -> DataCheck<'a> {
        let first = chunks.start;
        let chunks = index.chunks.get(chunks).unwrap_or_default();
        DataCheck {
            chunks,
            at: 0,
            first,
            left: chunks.first().map_or(0, |c| c.len),
            hasher: blake3::Hasher::new_keyed(&CHUNK_KEY),
        }
    }

    /// Feeds the next bytes; refuses at the first chunk whose bytes do not match its id, or
    /// bytes past the last chunk.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            let Some(chunk) = self.chunks.get(self.at) else {
                return Err("more bytes than its index describes".to_string());
            };
            let take = bytes.len().min(self.left as usize);
            self.hasher.update(&bytes[..take]);
            bytes = &bytes[take..];
            self.left -= take as u32;
            if self.left == 0 {
                if *self.hasher.finalize().as_bytes() != chunk.id {
                    return Err(format!(
                        "chunk {} of {} does not match its id",
                        self.first + self.at + 1,
                        self.first + self.chunks.len()
                    ));
                }
                self.hasher.reset();
                self.at += 1;
                self.left = self.chunks.get(self.at).map_or(0, |c| c.len);
            }
        }
        Ok(())
    }

    /// Whether the bytes fed end exactly where a chunk ends (every chunk fed so far was checked).
    pub fn at_boundary(&self) -> bool {
        self.chunks.get(self.at).is_none_or(|c| self.left == c.len)
    }

    /// Chunks checked so far.
    pub fn checked(&self) -> usize {
        self.at
    }

    /// Refuses unless every chunk of the index from `first` on was fed and matched.
    pub fn finish(self) -> Result<(), String> {
        if self.at < self.chunks.len() {
            return Err(format!("{} of its chunks' bytes are missing", self.chunks.len() - self.at));
        }
        Ok(())
    }
}

/// Checks a whole pack blob: a well-formed index of exactly its data, every chunk's bytes
/// matching its id. Answers the index, or what is wrong.
pub fn verify_pack(body: &[u8]) -> Result<PackIndex, String> {
    let index = PackIndex::decode_tail(body, body.len() as u64)?;
    let data = index.data_len() as usize;
    let mut check = DataCheck::new(&index, 0..index.chunks.len());
    check.feed(&body[..data])?;
    check.finish()?;
    Ok(index)
}

/// Whether `text` is a chunk or pack id: 64 lowercase hex digits.
pub fn is_hex_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// How an upload stores its bytes: one blob (`blob`, what every client before the content store
/// sends and the FedML SDK always does), or chunks in packs (`packs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Blob,
    Packs,
}

impl Layout {
    pub fn is_blob(&self) -> bool {
        *self == Layout::Blob
    }
}

/// `POST /api/v1/uploads/{id}/known`: which packs of the caller's does the server hold that
/// have these sample chunks (and, with `previous`, the packs of the object this upload
/// replaces)? The answer pins them for the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownRequest {
    /// Sample chunk ids ([`is_sample`]), hex.
    #[serde(default)]
    pub chunks: Vec<String>,
    #[serde(default)]
    pub previous: bool,
}

/// A pack the server holds for the caller, with a signed URL that reads it (its index is in
/// its last [`INDEX_SUFFIX`] bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnownPack {
    pub pack: String,
    pub size: u64,
    pub url: String,
}

/// One pack an upload wants to store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPack {
    pub pack: String,
    pub size: u64,
}

/// `POST /api/v1/uploads/{id}/packs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacksRequest {
    pub packs: Vec<NewPack>,
}

/// The answer for one [`NewPack`]: already stored (nothing to send), or where to PUT it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackTicket {
    pub pack: String,
    /// The server holds it already; `resumed` when an unfinished upload of the caller's sent it.
    pub stored: bool,
    #[serde(default)]
    pub resumed: bool,
    /// Where to PUT the pack's bytes, with these headers, when it is not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// A byte range of a pack, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Index into the list of packs that comes with it.
    pub pack: u32,
    pub offset: u64,
    pub length: u64,
}

/// What a packed upload's completion names: the packs it uses and its segments, in file order,
/// plus the sample chunks ([`is_sample`]) of its new packs, for later uploads to find.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileContent {
    pub packs: Vec<String>,
    pub segments: Vec<Segment>,
    /// `(chunk id, index into packs)`.
    #[serde(default)]
    pub samples: Vec<(String, u32)>,
}

impl FileContent {
    /// The same content naming only the packs its segments read, in the order listed, with
    /// segments and samples renumbered; the samples of packs no segment reads are dropped. An
    /// upload learns of packs it may not use in the end (those of the previous version, of a
    /// group): naming them would keep them alive with the object, whatever it reads. A segment
    /// naming a pack that is not listed keeps an index past the end, for the check that refuses it.
    pub fn trimmed(self) -> FileContent {
        let mut used = vec![false; self.packs.len()];
        for segment in &self.segments {
            if let Some(u) = used.get_mut(segment.pack as usize) {
                *u = true;
            }
        }
        let mut renumbered = vec![None; self.packs.len()];
        let mut packs = Vec::new();
        for (i, pack) in self.packs.into_iter().enumerate() {
            if used[i] {
                renumbered[i] = Some(packs.len() as u32);
                packs.push(pack);
            }
        }
        let past_end = u32::try_from(packs.len()).unwrap_or(u32::MAX);
        let new_index = |i: u32| renumbered.get(i as usize).copied().flatten();
        let segments =
            self.segments.into_iter().map(|s| Segment { pack: new_index(s.pack).unwrap_or(past_end), ..s }).collect();
        let samples = self.samples.into_iter().filter_map(|(chunk, i)| new_index(i).map(|i| (chunk, i))).collect();
        FileContent { packs, segments, samples }
    }
}

/// How to read a packed file: a signed GET URL per pack, and the segments in file order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentTicket {
    pub packs: Vec<String>,
    pub segments: Vec<Segment>,
}

/// What an upload moved, as the client counted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStats {
    /// Bytes of the data read (its size).
    pub read_bytes: u64,
    /// Bytes sent to the store.
    pub sent_bytes: u64,
    /// Bytes of the data the store held already (sent by an earlier upload).
    pub stored_bytes: u64,
    /// Whether packs of an earlier, unfinished upload were taken up.
    pub resumed: bool,
}

#[cfg(test)]
mod tests {

    #[test]
    fn trimming_keeps_only_the_packs_segments_read() {
        let seg = |pack, offset| Segment { pack, offset, length: 10 };
        let content = FileContent {
            packs: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            segments: vec![seg(2, 0), seg(0, 5), seg(2, 40), seg(9, 0)],
            samples: vec![("x".into(), 1), ("y".into(), 2)],
        };
        let trimmed = content.trimmed();
        assert_eq!(trimmed.packs, ["a", "c"]);
        assert_eq!(trimmed.segments, [seg(1, 0), seg(0, 5), seg(1, 40), seg(2, 0)], "an unlisted pack stays unlisted");
        assert_eq!(trimmed.samples, [("y".to_string(), 1)]);
    }

    use super::*;

    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn chunks_cover_the_data_within_bounds() {
        let data = bytes(4 << 20, 7);
        let lengths = Chunker.lengths(&data);
        assert_eq!(lengths.iter().sum::<usize>(), data.len());
        for len in &lengths[..lengths.len() - 1] {
            assert!((MIN_CHUNK..=MAX_CHUNK).contains(len), "{len}");
        }
        let mean = data.len() / lengths.len();
        assert!((40 << 10..=90 << 10).contains(&mean), "mean chunk {mean}");
    }

    #[test]
    fn an_insertion_moves_only_nearby_boundaries() {
        let data = bytes(4 << 20, 9);
        let mut edited = bytes(1000, 3);
        edited.extend_from_slice(&data);
        let ids = |d: &[u8]| {
            let mut at = 0;
            Chunker
                .lengths(d)
                .into_iter()
                .map(|l| {
                    at += l;
                    chunk_id(&d[at - l..at])
                })
                .collect::<std::collections::HashSet<_>>()
        };
        let (a, b) = (ids(&data), ids(&edited));
        assert!(a.intersection(&b).count() + 2 >= a.len(), "{} of {}", a.intersection(&b).count(), a.len());
    }

    #[test]
    fn the_cut_does_not_depend_on_how_bytes_arrive() {
        let data = bytes(1 << 20, 11);
        let whole = Chunker.lengths(&data);
        // A streaming caller holds at most one largest chunk beyond the start.
        let mut start = 0;
        let mut got = Vec::new();
        while start < data.len() {
            let end = (start + MAX_CHUNK).min(data.len());
            let len = Chunker.cut(&data[start..end]).unwrap_or(end - start);
            got.push(len);
            start += len;
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn a_pack_index_reads_back_and_refuses_damage() {
        let chunks = vec![IndexEntry { id: [1; 32], len: 10 }, IndexEntry { id: [2; 32], len: 20 }];
        let index = PackIndex { chunks };
        let tail = index.encode();
        let size = 30 + tail.len() as u64;
        assert_eq!(PackIndex::decode_tail(&tail, size), Ok(index.clone()));
        assert!(PackIndex::decode_tail(&tail, size + 1).is_err());
        let mut longer = vec![0u8; 5];
        longer.extend_from_slice(&tail);
        assert_eq!(PackIndex::decode_tail(&longer, size), Ok(index.clone()));
        assert!(PackIndex::decode_tail(&tail[1..], size).is_err());
        assert!(PackIndex::decode_tail(&tail[..tail.len() - 1], size).is_err());
        assert!(is_hex_id(&index.pack_id()));
        let data = bytes(20_000, 4);
        let whole = PackIndex { chunks: vec![IndexEntry { id: chunk_id(&data), len: data.len() as u32 }] };
        let mut pack = data.clone();
        pack.extend_from_slice(&whole.encode());
        assert_eq!(verify_pack(&pack), Ok(whole));
        pack[123] ^= 1;
        assert!(verify_pack(&pack).is_err_and(|why| why.contains("chunk 1 of 1")));
        const { assert!(MAX_PACK_SIZE - MAX_PACK_DATA <= INDEX_SUFFIX) };
    }

    fn pack_of(data: &[u8]) -> (PackIndex, Vec<u8>) {
        let mut at = 0;
        let chunks = Chunker
            .lengths(data)
            .into_iter()
            .map(|len| {
                at += len;
                IndexEntry { id: chunk_id(&data[at - len..at]), len: len as u32 }
            })
            .collect();
        let index = PackIndex { chunks };
        let mut pack = data.to_vec();
        pack.extend_from_slice(&index.encode());
        (index, pack)
    }

    #[test]
    fn data_is_checked_in_pieces_of_any_size_from_any_chunk() {
        let data = bytes(1 << 20, 21);
        let (index, _) = pack_of(&data);
        assert!(index.chunks.len() > 4);
        let offsets = index.offsets();
        for piece in [1usize, 7, 4096, 65_537, 1 << 20] {
            for first in [0, 3] {
                let mut check = DataCheck::new(&index, first..index.chunks.len());
                for part in data[offsets[first] as usize..].chunks(piece) {
                    check.feed(part).unwrap();
                }
                assert!(check.at_boundary());
                check.finish().unwrap();
            }
        }
        // One flipped byte is named by its chunk; a short feed is not finished.
        let mut damaged = data.clone();
        damaged[offsets[2] as usize + 5] ^= 0x40;
        let all = 0..index.chunks.len();
        let mut check = DataCheck::new(&index, all.clone());
        let why = check.feed(&damaged).unwrap_err();
        assert!(why.contains(&format!("chunk 3 of {}", index.chunks.len())), "{why}");
        let mut check = DataCheck::new(&index, all.clone());
        check.feed(&data[..offsets[1] as usize + 1]).unwrap();
        assert!(!check.at_boundary());
        assert!(check.finish().is_err());
        let mut check = DataCheck::new(&index, all);
        let mut longer = data.clone();
        longer.push(0);
        assert!(check.feed(&longer).is_err());
        // Some chunks only: bytes past the last one asked for are refused.
        let mut check = DataCheck::new(&index, 1..3);
        check.feed(&data[offsets[1] as usize..offsets[3] as usize]).unwrap();
        assert_eq!(check.checked(), 2);
        assert!(check.feed(&data[offsets[3] as usize..offsets[3] as usize + 1]).is_err());
    }

    #[test]
    fn an_index_is_checked_against_its_id_and_its_limits() {
        let data = bytes(300_000, 5);
        let (index, pack) = pack_of(&data);
        let id = index.pack_id();
        index.check(&id).unwrap();
        assert!(index.check(&PackIndex::default().pack_id()).is_err());
        let mut long = index.clone();
        long.chunks[0].len = MAX_CHUNK as u32 + 1;
        assert!(long.check(&long.pack_id()).unwrap_err().contains("chunk 1"));
        let mut empty = index.clone();
        empty.chunks[1].len = 0;
        assert!(empty.check(&empty.pack_id()).is_err());
        let many = PackIndex { chunks: vec![IndexEntry { id: [0; 32], len: 1 }; MAX_PACK_CHUNKS + 1] };
        assert!(many.check(&many.pack_id()).is_err());
        assert_eq!(verify_pack(&pack), Ok(index));
    }
}
