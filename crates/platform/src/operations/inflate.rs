//! A deflated file of a directory object (as the FedML SDK's archives keep them), inflated as its
//! compressed bytes stream in: a window of the inflated bytes is passed on, nothing is held
//! whole. Deflate cannot start in the middle, so a range is inflated from the file's start and
//! what lies before it dropped.

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use futures_util::StreamExt;

use super::reads::ReadStream;
use crate::blobs::BlobError;

/// Inflated bytes produced per step.
const STEP: usize = 64 << 10;

struct Inflating {
    input: ReadStream,
    inflater: Decompress,
    /// Compressed bytes received and not yet inflated.
    pending: Bytes,
    /// Inflated bytes produced so far.
    produced: u64,
    first: u64,
    end: u64,
    ended: bool,
}

/// The inflated bytes `first .. first + count` of the raw deflate stream `input`.
pub(super) fn inflated(input: ReadStream, (first, count): (u64, u64)) -> ReadStream {
    let state = Inflating {
        input,
        inflater: Decompress::new(false),
        pending: Bytes::new(),
        produced: 0,
        first,
        end: first.saturating_add(count),
        ended: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        let item = s.next_window().await?;
        Some((item, s))
    })
    .boxed()
}

impl Inflating {
    /// The next piece of the window, `None` once it is all passed on; an error ends it.
    async fn next_window(&mut self) -> Option<Result<Bytes, BlobError>> {
        let mut out = vec![0u8; STEP];
        while self.produced < self.end && !self.ended {
            if self.pending.is_empty() {
                match self.input.next().await {
                    Some(Ok(bytes)) => self.pending = bytes,
                    Some(Err(e)) => {
                        self.ended = true;
                        return Some(Err(e));
                    }
                    None => {
                        self.ended = true;
                        return Some(Err(BlobError::Damaged(
                            "a deflated file's data ends before the file does".into(),
                        )));
                    }
                }
            }
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status = match self.inflater.decompress(&self.pending, &mut out, FlushDecompress::None) {
                Ok(status) => status,
                Err(e) => {
                    self.ended = true;
                    return Some(Err(BlobError::Damaged(format!("a deflated file does not inflate: {e}"))));
                }
            };
            let used = (self.inflater.total_in() - in_before) as usize;
            let made = (self.inflater.total_out() - out_before) as usize;
            self.pending = self.pending.slice(used.min(self.pending.len())..);
            let (from, to) = (self.produced, self.produced + made as u64);
            self.produced = to;
            if status == Status::StreamEnd {
                self.ended = true;
                if self.produced < self.end {
                    return Some(Err(BlobError::Damaged(
                        "a deflated file inflates to fewer bytes than its archive says".into(),
                    )));
                }
            }
            let (lo, hi) = (from.max(self.first), to.min(self.end));
            if lo < hi {
                let piece = Bytes::copy_from_slice(&out[(lo - from) as usize..(hi - from) as usize]);
                return Some(Ok(piece));
            }
            if used == 0 && made == 0 && status != Status::StreamEnd {
                // No progress with input at hand: the stream wants more than a step of output
                // room, which cannot be, or is damaged.
                self.ended = true;
                return Some(Err(BlobError::Damaged("a deflated file's data cannot be inflated".into())));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("deflate");
        encoder.finish().expect("deflate")
    }

    async fn collect(stream: ReadStream) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::new();
        let mut stream = stream;
        while let Some(piece) = stream.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    fn chunks(data: Vec<u8>, size: usize) -> ReadStream {
        let pieces: Vec<Result<Bytes, BlobError>> = data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures_util::stream::iter(pieces).boxed()
    }

    #[tokio::test]
    async fn windows_of_a_deflated_stream_inflate_to_the_same_bytes() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i / 977) as u8).collect();
        let packed = deflate(&data);
        for (first, count) in [(0, data.len() as u64), (1, 10), (65_530, 20), (299_990, 10), (100, 0)] {
            let got = collect(inflated(chunks(packed.clone(), 1000), (first, count))).await.expect("inflates");
            assert_eq!(got, data[first as usize..(first + count) as usize], "{first}+{count}");
        }
        // Asking past the end of the data is an error, not a short answer.
        let past = collect(inflated(chunks(packed.clone(), 4096), (0, data.len() as u64 + 1))).await;
        assert!(matches!(past, Err(BlobError::Damaged(_))), "{past:?}");
        let cut = collect(inflated(chunks(packed[..packed.len() / 2].to_vec(), 4096), (0, data.len() as u64))).await;
        assert!(matches!(cut, Err(BlobError::Damaged(_))), "{cut:?}");
        let garbage = collect(inflated(chunks(vec![0xff; 1000], 100), (0, 10))).await;
        assert!(matches!(garbage, Err(BlobError::Damaged(_))), "{garbage:?}");
    }
}
