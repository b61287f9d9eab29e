//! The whole-content checksum: standard BLAKE3, computed part by part.
//!
//! A client uploads (and downloads) equal-sized parts in parallel, so no single reader sees the
//! bytes in order. With parts whose size is a power of two of at least one BLAKE3 chunk, every
//! part is a complete subtree of the BLAKE3 tree: each reader hashes its own part into a
//! chaining value, and [`merge`] joins them into the same hash that `blake3::hash` gives for the
//! whole content. Uploads and downloads both use it, so a download verifies exactly the checksum
//! its uploader computed.

use blake3::hazmat::{ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

pub const PREFIX: &str = "blake3:";

/// Hashes one part. Feed it the part's bytes in order.
pub struct PartHasher {
    hasher: blake3::Hasher,
    first: bool,
}

impl PartHasher {
    /// `part_index` is 0-based; `part_size` must be a power of two ≥ 1024.
    pub fn new(part_index: u64, part_size: u64) -> Self {
        debug_assert!(part_size.is_power_of_two() && part_size >= blake3::CHUNK_LEN as u64);
        let mut hasher = blake3::Hasher::new();
        hasher.set_input_offset(part_index * part_size);
        PartHasher { hasher, first: part_index == 0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    pub fn finish(&self) -> PartDigest {
        PartDigest {
            // An empty part can only be the whole (empty) content: its root hash is all that counts.
            chaining_value: if self.hasher.count() == 0 { [0; 32] } else { self.hasher.finalize_non_root() },
            // Only the first part can be the whole content, and then its root hash is the answer.
            root_if_alone: self.first.then(|| *self.hasher.finalize().as_bytes()),
        }
    }
}

/// What a part contributes to the whole checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartDigest {
    pub chaining_value: ChainingValue,
    pub root_if_alone: Option<[u8; 32]>,
}

/// Joins the digests of parts 1..=n (in order) into the BLAKE3 hash of the whole content,
/// formatted `blake3:<hex>`. `None` when there is no part or the first part lacks its root.
pub fn merge(parts: &[PartDigest]) -> Option<String> {
    let hash = match parts {
        [] => return None,
        [only] => only.root_if_alone?,
        _ => {
            let cvs: Vec<ChainingValue> = parts.iter().map(|p| p.chaining_value).collect();
            let split = left_len(cvs.len());
            let left = merge_non_root(&cvs[..split]);
            let right = merge_non_root(&cvs[split..]);
            *merge_subtrees_root(&left, &right, Mode::Hash).as_bytes()
        }
    };
    Some(format!("{PREFIX}{}", hex::encode(hash)))
}

/// The number of parts in the left subtree of `n ≥ 2` equal parts: the largest power of two < n.
fn left_len(n: usize) -> usize {
    let mut p = 1;
    while p * 2 < n {
        p *= 2;
    }
    p
}

fn merge_non_root(cvs: &[ChainingValue]) -> ChainingValue {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let split = left_len(cvs.len());
    merge_subtrees_non_root(&merge_non_root(&cvs[..split]), &merge_non_root(&cvs[split..]), Mode::Hash)
}

/// The checksum a whole-content hasher arrived at.
pub fn of_hash(hash: blake3::Hash) -> String {
    format!("{PREFIX}{}", hash.to_hex())
}

/// The checksum of bytes hashed in one piece (small content, tests).
pub fn of_bytes(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", blake3::hash(bytes).to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_parts(data: &[u8], part_size: usize) -> String {
        let mut digests = Vec::new();
        let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(part_size).collect() };
        for (i, chunk) in chunks.iter().enumerate() {
            let mut h = PartHasher::new(i as u64, part_size as u64);
            for piece in chunk.chunks(777) {
                h.update(piece);
            }
            digests.push(h.finish());
        }
        merge(&digests).expect("merge")
    }

    #[test]
    fn parts_merge_to_the_plain_hash() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for part_size in [1024usize, 2048, 4096, 8192] {
            for len in [0usize, 1, 1023, 1024, 1025, 4096, 5000, 12_288, 20_000, 65_536, 70_000] {
                assert_eq!(by_parts(&data[..len], part_size), of_bytes(&data[..len]), "len {len} part {part_size}");
            }
        }
    }
}
