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

use fedml_proto::{DownloadTicket, ObjectKind};

use super::download::{PieceFrom, REFUSED, Source, ranged_get};
use crate::client::{Client, ObjectRef};
use crate::error::{ClientError, Result};
use crate::retry::{self, Failed};

/// The largest central directory read (about ten million files).
const MAX_DIRECTORY: u64 = 1 << 30;
/// The end of an archive that always holds its end record: the record, the longest comment,
/// and the ZIP64 locator before it.
const TAIL: u64 = 22 + 0xFFFF + 20;
/// What is read of the end first: the end record and the ZIP64 locator and record before it.
const SHORT_TAIL: u64 = 22 + 20 + 56 + 1024;

/// One entry of a directory object: a file or a folder, its path inside the object (`/`
/// separated, without the object's own top folder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectEntry {
    pub path: String,
    pub kind: ObjectKind,
    pub size: u64,
    /// The CRC-32 the archive records for a file (hex), which a fetched file is checked against.
    pub crc32: String,
}

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

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn not_an_archive(why: &str) -> ClientError {
    ClientError::Error(format!("the object's data is not a readable archive: {why}"))
}

/// Every entry of the archive, from its central directory (two or three ranged reads).
async fn central_directory(remote: &Remote<'_>) -> Result<Vec<Located>> {
    // The end record: its signature, with a comment that runs exactly to the end. Archives
    // rarely carry a comment, so a short read of the end comes first.
    let find_end = |tail: &[u8]| {
        (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(tail, i) == 0x0605_4b50 && i + 22 + usize::from(u16_at(tail, i + 20)) == tail.len())
    };
    let mut tail = Vec::new();
    let mut end = None;
    for want in [SHORT_TAIL, TAIL] {
        let len = want.min(remote.size);
        tail = remote.read(remote.size - len, len).await?;
        end = find_end(&tail);
        if end.is_some() || len == remote.size {
            break;
        }
    }
    let end = end.ok_or_else(|| not_an_archive("no end of central directory record"))?;
    let mut count = u64::from(u16_at(&tail, end + 10));
    let mut size = u64::from(u32_at(&tail, end + 12));
    let mut offset = u64::from(u32_at(&tail, end + 16));
    if (count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF) && end >= 20 {
        let locator = end - 20;
        if u32_at(&tail, locator) == 0x0706_4b50 {
            let record = remote.read(u64_at(&tail, locator + 8), 56).await?;
            if u32_at(&record, 0) != 0x0606_4b50 {
                return Err(not_an_archive("a ZIP64 locator that points at no ZIP64 record"));
            }
            count = u64_at(&record, 32);
            size = u64_at(&record, 40);
            offset = u64_at(&record, 48);
        }
    }
    if size > MAX_DIRECTORY || offset.checked_add(size).is_none_or(|e| e > remote.size) {
        return Err(not_an_archive("a central directory outside the archive"));
    }
    let cd = remote.read(offset, size).await?;
    let mut out = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut at = 0usize;
    while at + 46 <= cd.len() && u32_at(&cd, at) == 0x0201_4b50 {
        let method = u16_at(&cd, at + 10);
        let crc = u32_at(&cd, at + 16);
        let mut compressed = u64::from(u32_at(&cd, at + 20));
        let mut plain = u64::from(u32_at(&cd, at + 24));
        let (name_len, extra_len, comment_len) =
            (usize::from(u16_at(&cd, at + 28)), usize::from(u16_at(&cd, at + 30)), usize::from(u16_at(&cd, at + 32)));
        let mut header = u64::from(u32_at(&cd, at + 42));
        let name_at = at + 46;
        let next = name_at + name_len + extra_len + comment_len;
        if next > cd.len() {
            return Err(not_an_archive("a central directory entry runs past its end"));
        }
        let name = std::str::from_utf8(&cd[name_at..name_at + name_len])
            .map_err(|_| not_an_archive("a file name that is not UTF-8"))?
            .to_string();
        // ZIP64 sizes and offset, in this order, for the fields that say 0xFFFFFFFF.
        let mut extra = &cd[name_at + name_len..name_at + name_len + extra_len];
        while extra.len() >= 4 {
            let (id, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
            let Some(field) = extra.get(4..4 + len) else { break };
            if id == 1 {
                let mut values = field.chunks_exact(8).map(|v| u64_at(v, 0));
                for slot in [&mut plain, &mut compressed, &mut header] {
                    if *slot == 0xFFFF_FFFF {
                        *slot = values.next().unwrap_or(*slot);
                    }
                }
            }
            extra = &extra[4 + len..];
        }
        let directory = name.ends_with('/');
        let entry = ObjectEntry {
            path: name.trim_end_matches('/').to_string(),
            kind: if directory { ObjectKind::Directory } else { ObjectKind::File },
            size: if directory { 0 } else { plain },
            crc32: format!("{crc:08x}"),
        };
        out.push(Located { entry, crc, method, compressed, header });
        at = next;
    }
    // Folders an archive leaves implied (the FedML SDK's lists only files) are listed too.
    let listed: std::collections::HashSet<String> = out.iter().map(|l| l.entry.path.clone()).collect();
    let mut implied = std::collections::BTreeSet::new();
    for l in &out {
        let mut parent = l.entry.path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            if !listed.contains(up) {
                implied.insert(up.to_string());
            }
            parent = up;
        }
    }
    for path in implied {
        let entry = ObjectEntry { path, kind: ObjectKind::Directory, size: 0, crc32: "00000000".into() };
        out.push(Located { entry, crc: 0, method: 0, compressed: 0, header: 0 });
    }
    // The object's own top folder (every entry under one folder) is not part of the paths.
    let top = out.first().and_then(|l| l.entry.path.split('/').next()).unwrap_or("").to_string();
    let under = |p: &str| p == top || p.starts_with(&format!("{top}/"));
    if !top.is_empty() && out.iter().all(|l| under(&l.entry.path)) {
        out.retain(|l| l.entry.path != top);
        for l in &mut out {
            l.entry.path = l.entry.path[top.len() + 1..].to_string();
        }
    }
    Ok(out)
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
            ObjectKind::Directory => central_directory(&open(client, &ticket).await?).await?,
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
    if u32_at(&local, 0) != 0x0403_4b50 {
        return Err(not_an_archive(&format!("no local header for {:?}", located.entry.path)));
    }
    Ok(located.header + 30 + u64::from(u16_at(&local, 26)) + u64::from(u16_at(&local, 28)))
}

/// Every entry of the object `ticket` reads, in path order;
/// `None` for a file object.
pub(super) async fn entries_of(client: &Client, ticket: &DownloadTicket) -> Result<Option<Vec<ObjectEntry>>> {
    if ticket.object.kind == ObjectKind::File {
        return Ok(None);
    }
    let mut entries: Vec<ObjectEntry> =
        central_directory(&open(client, ticket).await?).await?.into_iter().map(|l| l.entry).collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Some(entries))
}

/// The entries of directory object `name` under the folder `path` ("" for its top): only those
/// directly in it, or with `recursive` all below it, in path order.
pub async fn list(client: &Client, at: ObjectRef<'_>, path: &str, recursive: bool) -> Result<Vec<ObjectEntry>> {
    let name = at.name;
    let ticket = client.download_ticket(at).await?;
    let remote = open_directory(client, &ticket).await?;
    let folder = path.trim_matches('/');
    let all = central_directory(&remote).await?;
    // Every folder is an entry (`central_directory` adds the implied ones): a path is a file,
    // a folder, or nothing the object holds.
    if !folder.is_empty() {
        match all.iter().find(|l| l.entry.path == folder) {
            None => {
                return Err(ClientError::Failure(format!(
                    "{name:?} holds no folder {folder:?}; `fedml storage ls {name}` lists its top"
                )));
            }
            Some(file) if file.entry.kind == ObjectKind::File => return Ok(vec![file.entry.clone()]),
            Some(_) => {}
        }
    }
    let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
    let mut out: Vec<ObjectEntry> = all
        .into_iter()
        .map(|l| l.entry)
        .filter(|e| e.path.starts_with(&prefix) && e.path.len() > prefix.len())
        .filter(|e| recursive || !e.path[prefix.len()..].contains('/'))
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Downloads only the files of directory object `name` that `wanted` selects (exact paths or
/// globs) into `dest_dir/<name>/…`, where a whole download would place them; answers their
/// paths. Refuses a selection that matches nothing.
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
    let all = central_directory(&remote).await?;
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
    let root = dest_dir.join(name);
    let mut placed = Vec::with_capacity(files.len());
    for located in files {
        let target = enclosed(&root, &located.entry.path)?;
        fetch_entry(&remote, located, &target, bar).await?;
        placed.push(target);
    }
    Ok(placed)
}

/// A path inside the object as a path under `root`, refusing anything that would leave it.
fn enclosed(root: &Path, path: &str) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return Err(ClientError::Failure(format!(
                "the archive entry {path:?} would land outside the destination; refusing it"
            )));
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
