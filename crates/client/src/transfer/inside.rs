//! Inside a directory object without downloading it whole: the list of its files (its archive's
//! central directory) and the files asked for, read by ranged GETs — straight from its packs for
//! a packed object, else from the object's own URL. Works on our archives (stored entries) and on
//! the FedML SDK's (deflated ones).
//!
//! A file fetched this way is checked against the CRC-32 its archive records (a directory
//! object's BLAKE3 is that of the whole archive), written beside its destination and renamed
//! into place only then.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use fedml_proto::{DownloadTicket, ObjectKind, archive};

use super::download::{PieceFrom, REFUSED, Source, ranged_get};
use crate::client::{Client, ObjectRef};
use crate::error::{ClientError, Result};
use crate::retry::{self, Failed};

pub use fedml_proto::ObjectEntry;

/// What the central directory says of one entry.
#[derive(Debug, Clone)]
struct Located {
    entry: ObjectEntry,
    crc: u32,
    method: u16,
    compressed: u64,
    header: u64,
}

/// The object's bytes, read by ranges.
struct Remote<'a> {
    client: &'a Client,
    source: Source,
    size: u64,
}

impl Remote<'_> {
    /// The bytes `start .. start + len`.
    async fn read(&self, start: u64, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        if start.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(ClientError::Error(format!(
                "the archive ends at {} bytes; it cannot hold {len} bytes at {start}",
                self.size
            )));
        }
        let mut out = Vec::with_capacity(len as usize);
        for piece in self.source.pieces(start, len)? {
            let PieceFrom::Url(url) = piece.from else {
                return Err(ClientError::Error("a ranged read named a local file".into()));
            };
            out.extend_from_slice(&get(self.client, url, piece.start, piece.len).await?);
        }
        Ok(out)
    }
}

/// One ranged GET, whole, through the retry helper.
async fn get(client: &Client, url: &str, start: u64, len: u64) -> Result<bytes::Bytes> {
    retry::with_retries(|| async move {
        let response = ranged_get(client, url, start, len).await?;
        let body =
            response.bytes().await.map_err(|e| Failed::retry(crate::client::network_error(client.base(), &e)))?;
        if (body.len() as u64) < len {
            return Err(Failed::retry(ClientError::Error(format!(
                "the connection broke off after {} of {len} bytes",
                body.len()
            ))));
        }
        Ok(body.slice(..len as usize))
    })
    .await
}

/// The object's bytes (a directory's archive), ready to be read by ranges.
async fn open<'a>(client: &'a Client, ticket: &DownloadTicket) -> Result<Remote<'a>> {
    let source = Source::of(client, ticket, &[]).await?;
    Ok(Remote { client, source, size: ticket.object.size })
}

/// [`open`], refusing a file object.
async fn open_directory<'a>(client: &'a Client, ticket: &DownloadTicket) -> Result<Remote<'a>> {
    if ticket.object.kind != ObjectKind::Directory {
        return Err(ClientError::Failure(format!(
            "{:?} is a file, not a directory: download it whole, or read a range of its download URL",
            ticket.object.data_name
        )));
    }
    open(client, ticket).await
}

fn not_an_archive(why: &str) -> ClientError {
    ClientError::Error(archive::not_an_archive(why))
}

/// Every entry of the archive of directory object `name`, from its central directory (two or
/// three ranged reads); refused, as the server's index and unpacking refuse it, when the archive
/// cannot be used as a directory.
async fn central_directory(remote: &Remote<'_>, name: &str) -> Result<Vec<Located>> {
    // Archives rarely carry a comment, so a short read of the end comes first.
    let mut located = archive::Located::NotInTail;
    for want in [archive::SHORT_TAIL, archive::TAIL] {
        let len = want.min(remote.size);
        let tail = remote.read(remote.size - len, len).await?;
        located = archive::locate(&tail, remote.size).map_err(ClientError::Error)?;
        if located != archive::Located::NotInTail || len == remote.size {
            break;
        }
    }
    if let archive::Located::Zip64Record(at) = located {
        let record = remote.read(at, 56).await?;
        located = archive::locate_zip64(&record, remote.size).map_err(ClientError::Error)?;
    }
    let archive::Located::Directory { offset, size, count } = located else {
        return Err(not_an_archive("no end of central directory record"));
    };
    let cd = remote.read(offset, size).await?;
    let entries = archive::entries(&cd, count).map_err(|e| match e {
        archive::ArchiveError::Unreadable(why) => ClientError::Error(why),
        archive::ArchiveError::Refused(why) => ClientError::Failure(archive::cannot_use_as_directory(name, &why)),
    })?;
    Ok(entries
        .into_iter()
        .map(|e| Located {
            entry: ObjectEntry { path: e.path, kind: e.kind, size: e.size, crc32: format!("{:08x}", e.crc) },
            crc: e.crc,
            method: e.method,
            compressed: e.compressed,
            header: e.header,
        })
        .collect())
}

/// An object opened for reading in part, as fsspec's `fedml://` does: a directory's list of
/// files read once, each file's bytes read by ranges (a file object reads as the path `""`) (a deflated file, from the FedML
/// SDK, is inflated whole on its first read and kept while it is the one being read).
pub struct Directory {
    client: Client,
    name: String,
    service: Option<String>,
    /// The version opened, or `None` for whatever is the latest.
    version: Option<u64>,
    state: tokio::sync::Mutex<Opened>,
}

struct Opened {
    ticket: DownloadTicket,
    entries: Vec<Located>,
    /// Where each file's data starts (from its local header), once read.
    starts: std::collections::HashMap<usize, u64>,
    /// The last deflated file read, inflated.
    inflated: Option<(usize, std::sync::Arc<Vec<u8>>)>,
}

impl Directory {
    /// Opens directory object `name`: its download ticket and its list of files.
    pub async fn open(client: &Client, at: ObjectRef<'_>) -> Result<Directory> {
        let opened = Self::fresh(client, at).await?;
        Ok(Directory {
            client: client.clone(),
            name: at.name.to_string(),
            service: at.service.map(str::to_string),
            version: at.version,
            state: tokio::sync::Mutex::new(opened),
        })
    }

    async fn fresh(client: &Client, at: ObjectRef<'_>) -> Result<Opened> {
        let ticket = client.download_ticket(at).await?;
        let entries = match ticket.object.kind {
            ObjectKind::Directory => central_directory(&open(client, &ticket).await?, &ticket.object.data_name).await?,
            ObjectKind::File => Vec::new(),
        };
        Ok(Opened { ticket, entries, starts: Default::default(), inflated: None })
    }

    /// Whether the object is a directory (else a file, read as the path `""`).
    pub async fn kind(&self) -> ObjectKind {
        self.state.lock().await.ticket.object.kind
    }

    /// When the object was last written (RFC 3339).
    pub async fn updated_at(&self) -> String {
        self.state.lock().await.ticket.object.updated_at.clone()
    }

    /// The object's size (a directory's: its archive's).
    pub async fn size(&self) -> u64 {
        self.state.lock().await.ticket.object.size
    }

    /// Every entry, in path order.
    pub async fn entries(&self) -> Vec<ObjectEntry> {
        let mut out: Vec<ObjectEntry> = self.state.lock().await.entries.iter().map(|l| l.entry.clone()).collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// The object's checksum when it was opened (what a reader caches under).
    pub async fn checksum(&self) -> String {
        self.state.lock().await.ticket.object.checksum.clone()
    }

    /// Bytes `start .. start + len` of the file at `path` (fewer at its end). Signed URLs that
    /// expired meanwhile are renewed once; an object replaced since it was opened is refused.
    pub async fn read(&self, path: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let mut state = self.state.lock().await;
        match read_in(&self.client, &mut state, path, start, len).await {
            Err(ClientError::Failure(m)) if m.starts_with(REFUSED) => {
                let at = ObjectRef { name: &self.name, service: self.service.as_deref(), version: self.version };
                let renewed = Self::fresh(&self.client, at).await?;
                if renewed.ticket.object.checksum != state.ticket.object.checksum {
                    return Err(ClientError::Failure(format!(
                        "{:?} was replaced since it was opened; open it again",
                        self.name
                    )));
                }
                *state = renewed;
                read_in(&self.client, &mut state, path, start, len).await
            }
            other => other,
        }
    }
}

async fn read_in(client: &Client, state: &mut Opened, path: &str, start: u64, len: u64) -> Result<Vec<u8>> {
    let path = path.trim_matches('/');
    if state.ticket.object.kind == ObjectKind::File {
        if !path.is_empty() {
            return Err(ClientError::Failure(format!(
                "{:?} is a file, and holds no file {path:?}",
                state.ticket.object.data_name
            )));
        }
        let len = len.min(state.ticket.object.size.saturating_sub(start));
        return open(client, &state.ticket).await?.read(start, len).await;
    }
    let Some(i) = state.entries.iter().position(|l| l.entry.path == path && l.entry.kind == ObjectKind::File) else {
        return Err(ClientError::Failure(format!("{:?} holds no file {path:?}", state.ticket.object.data_name)));
    };
    let located = state.entries[i].clone();
    let size = located.entry.size;
    let len = len.min(size.saturating_sub(start));
    if len == 0 {
        return Ok(Vec::new());
    }
    let remote = open(client, &state.ticket).await?;
    let data_start = match state.starts.get(&i) {
        Some(at) => *at,
        None => {
            let at = data_start(&remote, &located).await?;
            state.starts.insert(i, at);
            at
        }
    };
    match located.method {
        0 => remote.read(data_start + start, len).await,
        8 => {
            let whole = match &state.inflated {
                Some((n, bytes)) if *n == i => bytes.clone(),
                _ => {
                    let raw = remote.read(data_start, located.compressed).await?;
                    let mut out = Vec::with_capacity(size as usize);
                    flate2::read::DeflateDecoder::new(raw.as_slice())
                        .take(size)
                        .read_to_end(&mut out)
                        .map_err(|e| not_an_archive(&format!("{path:?} does not inflate: {e}")))?;
                    let bytes = std::sync::Arc::new(out);
                    state.inflated = Some((i, bytes.clone()));
                    bytes
                }
            };
            let from = start as usize;
            Ok(whole.get(from..from + len as usize).map(<[u8]>::to_vec).unwrap_or_default())
        }
        other => Err(not_an_archive(&format!("{path:?} is compressed with method {other}, not supported"))),
    }
}

/// Where an entry's data starts: after its local header, whose name and extra field may differ
/// in length from the central directory's.
async fn data_start(remote: &Remote<'_>, located: &Located) -> Result<u64> {
    let local = remote.read(located.header, 30).await?;
    archive::data_start(located.header, &local)
        .map_err(|e| ClientError::Error(format!("{e} (for {:?})", located.entry.path)))
}

/// The entries of directory object `at` under the folder `path` ("" for its top): only those
/// directly in it, or with `recursive` all below it, in path order; page after page of the
/// server's index of its files (a path that is a file lists that file).
pub async fn list(client: &Client, at: ObjectRef<'_>, path: &str, recursive: bool) -> Result<Vec<ObjectEntry>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client.files(at, path, recursive, after.as_deref(), None).await?;
        out.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Downloads only the files of directory object `name` that `wanted` selects (exact paths or
/// globs) into `dest_dir/<last part of name>/…`, where a whole download would place them;
/// answers their paths. Refuses a selection that matches nothing.
pub async fn fetch(
    client: &Client,
    at: ObjectRef<'_>,
    dest_dir: &Path,
    wanted: &[String],
    bar: &indicatif::ProgressBar,
) -> Result<Vec<PathBuf>> {
    let name = at.name;
    let ticket = client.download_ticket(at).await?;
    let remote = open_directory(client, &ticket).await?;
    let all = central_directory(&remote, name).await?;
    let files: Vec<&Located> = all
        .iter()
        .filter(|l| l.entry.kind == ObjectKind::File && wanted.iter().any(|w| glob_matches(w, &l.entry.path)))
        .collect();
    if files.is_empty() {
        return Err(ClientError::Failure(format!(
            "nothing in {name:?} matches {}; `fedml storage ls {name} --recursive` lists its files",
            wanted.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", ")
        )));
    }
    bar.set_length(files.iter().map(|l| l.compressed).sum());
    let root = dest_dir.join(fedml_proto::rules::last_part(crate::place::placed_name(name, &ticket.object.data_name)));
    let mut placed = Vec::with_capacity(files.len());
    for located in files {
        let target = enclosed(&root, &located.entry.path)?;
        fetch_entry(&remote, located, &target, bar).await?;
        placed.push(target);
    }
    Ok(placed)
}

/// A path inside the object as a path under `root`, refusing anything that would leave it (by
/// the rule every reader of an archive follows: `archive::check_segment`).
fn enclosed(root: &Path, path: &str) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    for part in path.split('/') {
        if let Err(why) = archive::check_segment(part) {
            return Err(ClientError::Failure(format!("the archive entry {path:?} {why}; refusing it")));
        }
        out.push(part);
    }
    Ok(out)
}

/// Bytes of a file's data per ranged read.
const STEP: u64 = 8 << 20;

/// Writes what it is given to a file, counting it and its CRC-32.
struct Sink {
    file: std::fs::File,
    crc: crc32fast::Hasher,
    written: u64,
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.crc.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Where a file's data goes: straight to its file, or inflated first.
enum Writer {
    Stored(Sink),
    Deflated(flate2::write::DeflateDecoder<Sink>),
}

/// Fetches one file into `target`: its local header read for where its data starts, its data
/// read in ranges (inflated if the archive deflated it) into a file beside the target, checked
/// against its size and CRC-32, then renamed into place (its folders made).
async fn fetch_entry(
    remote: &Remote<'_>,
    located: &Located,
    target: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let path = &located.entry.path;
    if located.method != 0 && located.method != 8 {
        return Err(not_an_archive(&format!("{path:?} is compressed with method {}, not supported", located.method)));
    }
    let start = data_start(remote, located).await?;
    let dir = target.parent().ok_or_else(|| ClientError::Error("a file with no folder".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(format!("cannot create {}", dir.display()), e))?;
    if target.is_dir() {
        return Err(ClientError::Failure(format!(
            "{} is a folder; move it away to download the file of that name",
            target.display()
        )));
    }
    let temp = crate::place::scratch(dir, crate::place::Scratch::Partial);
    let cannot = |e: std::io::Error| ClientError::io(format!("cannot write {}", target.display()), e);
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp).map_err(cannot)?;
    let written = async {
        use std::io::Write;
        let sink = Sink { file, crc: crc32fast::Hasher::new(), written: 0 };
        let inflate_error = |e: std::io::Error| not_an_archive(&format!("{path:?} does not inflate: {e}"));
        let mut out = if located.method == 8 {
            Writer::Deflated(flate2::write::DeflateDecoder::new(sink))
        } else {
            Writer::Stored(sink)
        };
        let mut at = 0u64;
        while at < located.compressed {
            let n = STEP.min(located.compressed - at);
            let bytes = remote.read(start + at, n).await?;
            match &mut out {
                Writer::Stored(sink) => sink.write_all(&bytes).map_err(cannot)?,
                Writer::Deflated(decoder) => decoder.write_all(&bytes).map_err(inflate_error)?,
            }
            at += n;
            bar.inc(n);
        }
        let sink = match out {
            Writer::Stored(sink) => sink,
            Writer::Deflated(decoder) => decoder.finish().map_err(inflate_error)?,
        };
        if sink.written != located.entry.size || sink.crc.finalize() != located.crc {
            return Err(ClientError::Error(format!(
                "{path:?} does not match the size and CRC-32 its archive records; nothing was written — try again"
            )));
        }
        sink.file.sync_all().map_err(cannot)?;
        std::fs::rename(&temp, target).map_err(cannot)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Whether `path` matches `pattern`: `*` any run of characters but `/`, `**` any run at all,
/// `?` one character but `/`; anything else itself. A pattern with none of them is a path
/// (a folder's path selects everything under it).
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_matches('/');
    if !pattern.contains(['*', '?']) {
        return path == pattern || path.starts_with(&format!("{pattern}/"));
    }
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') if p.get(1) == Some(&'*') => {
                let rest = if p.get(2) == Some(&'/') { &p[3..] } else { &p[2..] };
                (0..=s.len()).any(|i| go(rest, &s[i..]))
            }
            Some('*') => (0..=s.len()).take_while(|&i| i == 0 || s[i - 1] != '/').any(|i| go(&p[1..], &s[i..])),
            Some('?') => s.first().is_some_and(|c| *c != '/') && go(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    go(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("train/*.parquet", "train/a.parquet"));
        assert!(!glob_matches("train/*.parquet", "train/x/a.parquet"));
        assert!(glob_matches("train/**/*.parquet", "train/x/y/a.parquet"));
        assert!(glob_matches("train/**/*.parquet", "train/a.parquet"));
        assert!(glob_matches("**", "a/b/c"));
        assert!(glob_matches("sub", "sub/deeper/x.json"));
        assert!(glob_matches("sub/file.bin", "sub/file.bin"));
        assert!(!glob_matches("sub/file.bin", "sub/file.bin2"));
        assert!(glob_matches("?.txt", "a.txt"));
        assert!(!glob_matches("?.txt", "ab.txt"));
        assert!(!glob_matches("*.txt", "a/b.txt"));
    }
}
