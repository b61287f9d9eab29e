//! Content-defined chunkers for the content-addressed store, measured on one core: how fast each
//! cuts, how even its chunks are, and how few bytes a re-upload sends after the edits the
//! benchmark of the store uses (100 scattered 64 KiB overwrites and a 1 MiB insertion at the
//! start of a file). Chunk ids are BLAKE3 (keyed), so the per-chunk hashing cost is measured
//! too, against one BLAKE3 over the whole file as the anchor.
//!
//! `cargo run --release -- [MiB]` (default 1024).

use std::collections::HashSet;
use std::time::Instant;

const MIN: usize = 8 << 10;
const AVG: usize = 64 << 10;
const MAX: usize = 128 << 10;
/// The Xet protocol's boundary mask: 16 one-bits in the high end of the gear hash.
const XET_MASK: u64 = 0xFFFF_0000_0000_0000;

/// Deterministic pseudo-random bytes (xorshift), incompressible like model weights.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut x = seed | 1;
    for word in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        word.copy_from_slice(&bytes[..word.len()]);
    }
    out
}

/// Chunk lengths, in order, covering all of `data`.
type Cutter = fn(&[u8]) -> Vec<usize>;

/// A gear-hash chunker with the Xet protocol's parameters: a chunk of at least 8 KiB ends at the
/// first byte where the gear hash has its 16 high bits zero, and at 128 KiB at the latest. The
/// 64-bit gear hash depends only on the last 64 bytes, so hashing starts 64 bytes before the
/// first byte tested (the 8,192nd).
fn xet_gear(data: &[u8]) -> Vec<usize> {
    let mut out = Vec::with_capacity(data.len() / AVG + 1);
    let mut start = 0;
    while start < data.len() {
        let rest = &data[start..];
        if rest.len() <= MIN {
            out.push(rest.len());
            break;
        }
        let window = &rest[..rest.len().min(MAX)];
        let mut hasher = gearhash::Hasher::default();
        hasher.update(&window[MIN - 64..MIN - 1]);
        let len = match hasher.next_match(&window[MIN - 1..], XET_MASK) {
            Some(n) => MIN - 1 + n,
            None => window.len(),
        };
        out.push(len);
        start += len;
    }
    out
}

/// FastCDC (2020) with normalized chunking at the given level.
fn fastcdc_level(data: &[u8], level: fastcdc::v2020::Normalization) -> Vec<usize> {
    fastcdc::v2020::FastCDC::with_level(data, MIN as u32, AVG as u32, MAX as u32, level).map(|c| c.length).collect()
}

fn fastcdc_nc1(data: &[u8]) -> Vec<usize> {
    fastcdc_level(data, fastcdc::v2020::Normalization::Level1)
}

fn fastcdc_nc2(data: &[u8]) -> Vec<usize> {
    fastcdc_level(data, fastcdc::v2020::Normalization::Level2)
}

fn chunk_ids(data: &[u8], lengths: &[usize], key: &[u8; 32]) -> Vec<[u8; 32]> {
    let mut at = 0;
    lengths
        .iter()
        .map(|&len| {
            let id = *blake3::keyed_hash(key, &data[at..at + len]).as_bytes();
            at += len;
            id
        })
        .collect()
}

/// The file after the edits of the store's benchmark: 100 scattered 64 KiB overwrites and
/// 1 MiB inserted at the start.
fn edited(data: &[u8]) -> Vec<u8> {
    let mut out = random_bytes(1 << 20, 77);
    let mut body = data.to_vec();
    let stride = body.len() / 100;
    for i in 0..100 {
        let at = i * stride + stride / 3;
        let patch = random_bytes(64 << 10, 1000 + i as u64);
        let end = (at + patch.len()).min(body.len());
        body[at..end].copy_from_slice(&patch[..end - at]);
    }
    out.extend_from_slice(&body);
    out
}

fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let data = random_bytes(mib << 20, 42);
    let changed = edited(&data);
    let key = *blake3::hash(b"fedml chunk id key").as_bytes();
    let secs = |t: Instant| t.elapsed().as_secs_f64();
    let rate = |bytes: usize, s: f64| bytes as f64 / (1 << 20) as f64 / s;

    // Each timing is the best of three runs: the machine is shared, the work is deterministic.
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                secs(t)
            })
            .fold(f64::INFINITY, f64::min)
    };
    let whole_s = best(&|| {
        std::hint::black_box(blake3::hash(&data));
    });
    println!("anchor: one BLAKE3 over {mib} MiB on one core: {:.0} MiB/s (best of 3)", rate(data.len(), whole_s));
    println!();
    println!(
        "{:<14} {:>10} {:>12} {:>9} {:>9} {:>9} {:>14} {:>12}",
        "chunker", "cut MiB/s", "cut+id MiB/s", "chunks", "mean KiB", "sd KiB", "re-upload sent", "same file"
    );
    let chunkers: [(&str, Cutter); 3] =
        [("xet-gear", xet_gear), ("fastcdc-nc1", fastcdc_nc1), ("fastcdc-nc2", fastcdc_nc2)];
    for (name, cut) in chunkers {
        let lengths = cut(&data);
        let cut_s = best(&|| {
            std::hint::black_box(cut(&data));
        });
        assert_eq!(lengths.iter().sum::<usize>(), data.len(), "{name}: the chunks cover the file");
        assert!(lengths[..lengths.len() - 1].iter().all(|&l| (MIN..=MAX).contains(&l)), "{name}: sizes in bounds");
        let ids = chunk_ids(&data, &lengths, &key);
        let id_s = best(&|| {
            std::hint::black_box(chunk_ids(&data, &lengths, &key));
        });
        let n = lengths.len() as f64;
        let mean = data.len() as f64 / n;
        let sd = (lengths.iter().map(|&l| (l as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();

        let known: HashSet<[u8; 32]> = ids.iter().copied().collect();
        let new_lengths = cut(&changed);
        let new_ids = chunk_ids(&changed, &new_lengths, &key);
        let sent: usize = new_ids.iter().zip(&new_lengths).filter(|(id, _)| !known.contains(*id)).map(|(_, l)| l).sum();
        let again = cut(&data);
        let same = if again == lengths { "0 B" } else { "differs!" };
        println!(
            "{:<14} {:>10.0} {:>12.0} {:>9} {:>9.1} {:>9.1} {:>13.2}% {:>12}",
            name,
            rate(data.len(), cut_s),
            rate(data.len(), cut_s + id_s),
            lengths.len(),
            mean / 1024.0,
            sd / 1024.0,
            100.0 * sent as f64 / changed.len() as f64,
            same
        );
    }
    println!();
    println!(
        "re-upload sent: bytes of chunks the first version does not hold, as a share of the edited file \
         ({} MiB: 6.25 MiB overwritten, 1 MiB inserted); the target is at most 3%",
        changed.len() >> 20
    );
}
