//! What a packed download takes from disk instead of the network: the chunks of an older copy
//! at its destination (a file, or the files of a directory), and of an interrupted download of
//! the same data (its partial file, kept
//! beside the destination under a name derived from the object's checksum).
//!
//! The file's chunks are learnt from its packs' indexes (a ranged read of each pack's end); each
//! local file is cut and named the same way (`fedml_proto::content`); a chunk found locally is
//! copied, the rest is fetched. What is copied is checked with everything else: the file's BLAKE3
//! before it is placed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fedml_proto::content::{ChunkId, ContentTicket, PackIndex};
use futures_util::StreamExt;

use super::chunks;
use crate::client::Client;
use crate::error::{ClientError, Result};

/// Where some bytes of the new file come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum From {
    /// Pack `n` of the ticket, at `offset`.
    Pack(u32),
    /// Local file `n` of [`Local::files`], at `offset`.
    Local(usize),
}

/// A run of the new file's bytes: `length` bytes at `offset` of `from`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub from: From,
    pub offset: u64,
    pub length: u64,
}

/// The local files a download reads chunks from (a chunk taken from one that changed since
/// is caught by the checksum, like any other wrong byte).
pub(super) struct Local {
    pub files: Vec<PathBuf>,
}

/// The runs of a packed file in order: straight from its segments, or, when `sources` hold some
/// of its chunks, with those taken locally. Answers the runs, the local files they read, and how
/// many bytes come from disk.
pub(super) async fn plan(
    client: &Client,
    content: &ContentTicket,
    sources: &[PathBuf],
) -> Result<(Vec<Run>, Local, u64)> {
    let straight: Vec<Run> =
        content.segments.iter().map(|s| Run { from: From::Pack(s.pack), offset: s.offset, length: s.length }).collect();
    // Reading local files costs a pass over them: far more than the download is not worth it.
    let size: u64 = content.segments.iter().map(|s| s.length).sum();
    let sources = local_files(sources, 2 * size + (1 << 30));
    if sources.is_empty() {
        return Ok((straight, Local { files: Vec::new() }, 0));
    }
    // What the local files hold, by chunk id.
    let scanned = tokio::task::spawn_blocking(move || scan_all(&sources))
        .await
        .map_err(|e| ClientError::Error(format!("reading what is on disk stopped: {e}")))?;
    let (files, by_id) = scanned;
    if by_id.is_empty() {
        return Ok((straight, Local { files }, 0));
    }
    // The new file's chunks, from the packs' indexes. Taking chunks from disk is only a saving:
    // if an index cannot be read, the file is fetched as it is.
    let indexes: Result<Vec<(usize, PackIndex)>> = futures_util::stream::iter(content.packs.iter().enumerate())
        .map(|(i, url)| async move { chunks::read_index(client, url, None).await.map(|index| (i, index)) })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect();
    let Ok(indexes) = indexes else { return Ok((straight, Local { files }, 0)) };
    let indexes: HashMap<usize, PackIndex> = indexes.into_iter().collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut local_bytes = 0u64;
    for segment in &content.segments {
        let Some(index) = indexes.get(&(segment.pack as usize)) else { return Ok((straight, Local { files }, 0)) };
        // The chunks of the pack that make the segment (segments are whole chunks).
        let mut at = 0u64;
        let end = segment.offset + segment.length;
        for chunk in &index.chunks {
            let len = u64::from(chunk.len);
            if at >= segment.offset && at + len <= end {
                let run = match by_id.get(&chunk.id) {
                    Some(&(file, offset)) => {
                        local_bytes += len;
                        Run { from: From::Local(file), offset, length: len }
                    }
                    None => Run { from: From::Pack(segment.pack), offset: at, length: len },
                };
                push(&mut runs, run);
            }
            at += len;
            if at >= end {
                break;
            }
        }
    }
    if runs.iter().map(|r| r.length).sum::<u64>() != content.segments.iter().map(|s| s.length).sum::<u64>() {
        // Segments that do not fall on chunk boundaries: read them as they are.
        return Ok((straight, Local { files }, 0));
    }
    Ok((runs, Local { files }, local_bytes))
}

/// The regular files at `sources` (a directory's, an older copy of a directory object, walked
/// without following links), up to `budget` bytes in all.
fn local_files(sources: &[PathBuf], budget: u64) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack: Vec<PathBuf> = sources.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_file() {
            if total + meta.len() > budget {
                continue;
            }
            total += meta.len();
            files.push(path);
        } else if meta.is_dir()
            && let Ok(read) = std::fs::read_dir(&path)
        {
            let mut children: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
            children.sort();
            stack.extend(children.into_iter().rev());
        }
    }
    files
}

/// Appends a run, merged with the last one when it continues it.
fn push(runs: &mut Vec<Run>, run: Run) {
    if let Some(last) = runs.last_mut()
        && last.from == run.from
        && last.offset + last.length == run.offset
    {
        last.length += run.length;
        return;
    }
    runs.push(run);
}

type Scanned = (Vec<PathBuf>, HashMap<ChunkId, (usize, u64)>);

/// Cuts and names the chunks of each local file (opened one at a time: a directory's files are
/// many).
fn scan_all(sources: &[PathBuf]) -> Scanned {
    let mut files = Vec::new();
    let mut by_id = HashMap::new();
    let mut buf = Vec::with_capacity(4 << 20);
    for path in sources {
        let Ok(file) = std::fs::File::open(path) else { continue };
        let n = files.len();
        if scan(&file, n, &mut buf, &mut by_id).is_ok() {
            files.push(path.clone());
        } else {
            by_id.retain(|_, (f, _)| *f != n);
        }
    }
    (files, by_id)
}

fn scan(
    file: &std::fs::File,
    n: usize,
    buf: &mut Vec<u8>,
    by_id: &mut HashMap<ChunkId, (usize, u64)>,
) -> std::io::Result<()> {
    chunks::cut(
        file,
        buf,
        |e| e,
        |_| Ok(()),
        |offset, _, id| {
            by_id.entry(id).or_insert((n, offset));
            Ok(())
        },
    )
    .map(|_| ())
}

/// Where an interrupted download of content with this checksum leaves its bytes in `dir`, to be
/// taken up by the next download of it (fixed length, like every name the client makes there).
pub(super) fn resumable_path(dir: &Path, checksum: &str) -> PathBuf {
    let hex = checksum.trim_start_matches(fedml_proto::checksum::PREFIX);
    dir.join(format!(".fedml-partial-{}", &hex[..hex.len().min(16)]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kept_partial_is_a_name_directory_uploads_leave_out() {
        let path = super::resumable_path(std::path::Path::new("/d"), &fedml_proto::checksum::of_bytes(b"data"));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(crate::place::is_download_leftover(name), "{name}");
    }
}
