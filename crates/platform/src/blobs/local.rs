//! The local folder backend: parts are written in place into one staging file, finished blobs
//! are plain files, and the server serves its own HMAC-signed URLs for them.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::BlobError;
use crate::catalogue::UploadRecord;
use crate::signing::UrlSigner;

/// The local folder backend: `<root>/staging/<upload-id>` while uploading,
/// `<root>/objects/<owner>/<upload-id>` once complete.
#[derive(Clone)]
pub struct LocalStore {
    root: PathBuf,
    public_url: Arc<str>,
    signer: UrlSigner,
    /// Parts being received right now, by every request of this server.
    receiving: Arc<AtomicUsize>,
}

/// Memory for received bytes waiting to be written, shared by all the parts being received:
/// one upload writes in batches of [`MAX_BATCH`], a hundred at once in batches of
/// [`MIN_BATCH`], so that the server's memory does not grow with the number of clients.
const WRITE_BUDGET: usize = 16 << 20;
const MAX_BATCH: usize = 512 << 10;
const MIN_BATCH: usize = 64 << 10;

/// A part being received: holds a shared lock on the session's staging file for as long as it
/// lives. A completion seals the file with an exclusive lock, so that while any part is being
/// written (and recorded) no completion can finish the file, and once a completion has sealed it
/// no part can be written into it any more. The lock is the kernel's (`flock`), so it holds
/// between several server processes over one folder, and a crashed process holds none.
pub struct PartSlot {
    file: Arc<std::fs::File>,
}

/// A staging file sealed for its completion: no part can be written while this lives.
pub struct Sealed {
    file: std::fs::File,
}

/// How long a completion waits for parts still being written before it says so.
const SEAL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Counts one part being received for as long as it lives.
struct Receiving(Arc<AtomicUsize>);

impl Receiving {
    fn start(counter: &Arc<AtomicUsize>) -> Receiving {
        counter.fetch_add(1, Ordering::Relaxed);
        Receiving(counter.clone())
    }

    /// How many bytes this part may hold before writing them.
    fn batch(&self) -> usize {
        (WRITE_BUDGET / self.0.load(Ordering::Relaxed).max(1)).clamp(MIN_BATCH, MAX_BATCH)
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LocalStore {
    pub fn new(root: PathBuf, public_url: &str, signer: UrlSigner) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("staging"))?;
        std::fs::create_dir_all(root.join("objects"))?;
        Ok(LocalStore {
            root,
            public_url: public_url.trim_end_matches('/').into(),
            signer,
            receiving: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn upload_id_of(blob_key: &str) -> &str {
        blob_key.rsplit('/').next().unwrap_or(blob_key)
    }

    fn staging_path(&self, upload_id: &str) -> PathBuf {
        self.root.join("staging").join(upload_id)
    }

    /// The path of a finished blob. Keys are made by the server (`<hex>/<hex>`), and are checked
    /// again here so that no key can name a path outside the folder.
    pub fn object_path(&self, blob_key: &str) -> Option<PathBuf> {
        let mut parts = blob_key.split('/');
        let (Some(owner), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        (ok(owner) && ok(id)).then(|| self.root.join("objects").join(owner).join(id))
    }

    pub fn part_path(service: &str, upload_id: &str, part_number: u32) -> String {
        format!("/blob/v1/{service}/part/{upload_id}/{part_number}")
    }

    pub fn object_url_path(service: &str, blob_key: &str) -> String {
        format!("/blob/v1/{service}/object/{blob_key}")
    }

    pub(super) fn part_url(&self, service: &str, upload_id: &str, part_number: u32, expires: i64) -> String {
        let path = Self::part_path(service, upload_id, part_number);
        format!("{}{path}?{}", self.public_url, self.signer.sign("PUT", &path, expires))
    }

    pub fn pack_url_path(service: &str, blob_key: &str) -> String {
        format!("/blob/v1/{service}/pack/{blob_key}")
    }

    pub(super) fn pack_url(&self, service: &str, blob_key: &str, expires: i64) -> String {
        let path = Self::pack_url_path(service, blob_key);
        format!("{}{path}?{}", self.public_url, self.signer.sign("PUT", &path, expires))
    }

    /// Receives a whole pack of exactly `size` bytes into its blob, create-only: written into
    /// `staging/<its name>` under an exclusive lock, checked against its id `hash` (its index is
    /// the one the id names, every chunk's bytes match the chunk's id: a pack that is not is
    /// refused with [`BlobError::Rejected`] and nothing is kept), flushed, then moved into place
    /// in one step ([`place_new`]), so the blob appears whole and checked, or not at all, bytes
    /// already there never change, and a process killed at any instant leaves the pack at one
    /// name. The same pack sent by two requests at once (two uploads of the same data) is written
    /// once: the second waits for the first, then answers from the pack in place, never creating
    /// a file of its own; had the first failed (bytes that were not the pack, a client gone), the
    /// second writes its own. Removing the pack ([`LocalStore::remove`]) removes that staging
    /// file too, so a server killed mid-write leaves nothing the collector does not find. Answers
    /// the CRC-32C of what arrived (the ETag the client checks) and, when this request placed the
    /// pack, its checked index.
    pub async fn write_pack<S, E>(
        &self,
        blob_key: &str,
        hash: &str,
        size: u64,
        mut body: S,
    ) -> Result<ReceivedPack, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let target = self.object_path(blob_key).ok_or(BlobError::NotFound)?;
        let temp = self.staging_path(Self::upload_id_of(blob_key));
        let deadline = std::time::Instant::now() + PACK_WAIT;
        let file = loop {
            if let Some(crc) = already_placed(&target, size, &mut body).await? {
                return Ok(ReceivedPack { crc, index: None });
            }
            let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&temp)?;
            loop {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {
                        return Err(BlobError::Busy(
                            "another request has been sending this pack for a long time; send it again".into(),
                        ));
                    }
                    Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
                }
            }
            // Still the file at the staging name: this request writes it. Else the request that
            // held the lock is done with it: its pack is in place, or it failed (bytes that were
            // not the pack, a client gone) and this one writes its own.
            if same_file(&file, &temp) {
                break file;
            }
        };
        file.set_len(0)?;
        let file = Arc::new(file);
        // Dropped before `file` (so still under the lock): the next request for this pack starts
        // from a fresh file, and a request dropped mid-write (its client gone) leaves none.
        let _staging = RemoveOnDrop(&temp);
        async {
            let too_large = || format!("the pack is larger than the {size} bytes announced");
            let (at, crc) = write_body(&file, 0, size, &|| MAX_BATCH, &mut body, &too_large).await?;
            if at != size {
                return Err(BlobError::Body(format!("{at} of the pack's {size} bytes arrived")));
            }
            let f = file.clone();
            let target = target.clone();
            let temp = temp.clone();
            let hash = hash.to_string();
            let checked = tokio::task::spawn_blocking(move || -> io::Result<super::Checked> {
                let checked = super::check_pack_file(&f, &hash, size)?;
                if checked.is_err() {
                    return Ok(checked);
                }
                f.sync_all()?;
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                place_new(&temp, &target)?;
                Ok(checked)
            })
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
            match checked {
                Ok(index) => Ok(ReceivedPack { crc, index: Some(index) }),
                Err(why) => Err(BlobError::Rejected(why)),
            }
        }
        .await
    }

    pub(super) fn get_url(&self, service: &str, blob_key: &str, expires: i64) -> String {
        let path = Self::object_url_path(service, blob_key);
        format!("{}{path}?{}", self.public_url, self.signer.sign("GET", &path, expires))
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    pub(super) async fn begin_upload(&self, upload: &UploadRecord) -> Result<(), BlobError> {
        tokio::fs::File::create(self.staging_path(&upload.id)).await?;
        Ok(())
    }

    /// Opens the staging file of `upload` for receiving a part: refused while a completion has
    /// it sealed ([`BlobError::Busy`]) and once the file is gone ([`BlobError::NotFound`]).
    pub fn open_part(&self, upload: &UploadRecord) -> Result<PartSlot, BlobError> {
        let file = match std::fs::OpenOptions::new().write(true).open(self.staging_path(&upload.id)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(PartSlot { file: Arc::new(file) }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(BlobError::Busy("the upload is being completed; no part is accepted any more".into()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }

    /// Seals the staging file of `upload` for its completion, waiting a little for parts still
    /// being written; [`BlobError::Busy`] if some still are.
    pub(super) async fn seal(&self, upload: &UploadRecord) -> Result<Sealed, BlobError> {
        let file = match std::fs::OpenOptions::new().write(true).open(self.staging_path(&upload.id)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Sealed { file }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < SEAL_PATIENCE => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(BlobError::Busy(
                        "parts of this upload are still being received; wait until every part upload has \
                         answered, then complete again"
                            .into(),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }

    /// Receives part `part_number` of `upload` into the slot [`LocalStore::open_part`] gave:
    /// writes it at its offset in the staging file and computes its CRC-32C on the way (the
    /// part's ETag, which the client checks against its own). Refuses a body longer than the part
    /// size. Once written, the part's pages are handed to the disk at once, so that completing
    /// the upload does not wait for all of them.
    pub async fn write_part<S, E>(
        &self,
        slot: &PartSlot,
        upload: &UploadRecord,
        part_number: u32,
        mut body: S,
    ) -> Result<(u64, u32), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let file = slot.file.clone();
        let part_size = upload.part_size;
        let start = u64::from(part_number - 1) * part_size;
        let receiving = Receiving::start(&self.receiving);
        let received = Self::receive_part(file.clone(), part_number, part_size, start, &receiving, &mut body).await;
        // On a full disk, what this attempt wrote is garbage: give the room back at once (the
        // catalogue needs some to record that the upload is abandoned). Only then: a broken
        // body's attempt may overlap a retry of the same part, whose bytes must stay.
        if let Err(BlobError::Io(e)) = &received
            && matches!(
                e.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded
            )
        {
            let f = file.clone();
            let _ = tokio::task::spawn_blocking(move || free_range(&f, start, part_size)).await;
        }
        received
    }

    async fn receive_part<S, E>(
        file: Arc<std::fs::File>,
        part_number: u32,
        part_size: u64,
        start: u64,
        receiving: &Receiving,
        body: &mut S,
    ) -> Result<(u64, u32), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let too_large = || format!("part {part_number} is larger than the session's part size of {part_size} bytes");
        write_body(&file, start, part_size, &|| receiving.batch(), body, &too_large).await
    }

    /// Empties a sealed staging file, giving its blocks back.
    pub(super) async fn empty(&self, sealed: Sealed) -> Result<(), BlobError> {
        tokio::task::spawn_blocking(move || sealed.file.set_len(0))
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
        Ok(())
    }

    /// Makes the sealed staging file the blob: its final length, durable, renamed into place.
    pub(super) async fn finish_upload(
        &self,
        upload: &UploadRecord,
        total: u64,
        sealed: Sealed,
    ) -> Result<(), BlobError> {
        let staging = self.staging_path(&upload.id);
        let target = self.object_path(&upload.blob_key).ok_or(BlobError::NotFound)?;
        tokio::task::spawn_blocking(move || -> Result<(), BlobError> {
            let file = sealed.file;
            file.set_len(total)?;
            file.sync_all()?;
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&staging, &target)?;
            if let Some(dir) = target.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
    }

    pub(super) async fn checksum(&self, blob_key: &str) -> Result<String, BlobError> {
        let path = self.object_path(blob_key).ok_or(BlobError::NotFound)?;
        tokio::task::spawn_blocking(move || -> Result<String, BlobError> {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound),
                Err(e) => return Err(e.into()),
            };
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = io::Read::read(&mut file, &mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Ok(format!("{}{}", fedml_proto::checksum::PREFIX, hasher.finalize().to_hex()))
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
    }

    pub(super) async fn remove(&self, blob_key: &str) -> Result<(), BlobError> {
        let staging = self.staging_path(Self::upload_id_of(blob_key));
        let object = self.object_path(blob_key);
        for path in [Some(staging), object].into_iter().flatten() {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// Removes a file when dropped, however the work that made it ends.
/// Moves the file at `temp` to `target` unless something is there already (then it stays, and
/// `temp` goes): in one step where the file system can (`renameat2` with `RENAME_NOREPLACE`), so
/// that a process killed at any instant leaves the pack at one name, never at both; else by a
/// hard link and an unlink.
fn place_new(temp: &Path, target: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
        let (from, to) = (c(temp)?, c(target)?);
        // SAFETY: both are NUL-terminated paths that live across the call.
        let done = unsafe {
            libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE)
        };
        if done == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EEXIST) => return std::fs::remove_file(temp),
            // A file system without it: the portable way below.
            Some(libc::EINVAL) | Some(libc::ENOSYS) => {}
            _ => return Err(e),
        }
    }
    match std::fs::hard_link(temp, target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    std::fs::remove_file(temp)
}

struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// How long a request sending a pack waits for another sending the same pack.
const PACK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A pack of `size` bytes already at `target`: `body`, read to its end, is the same pack again
/// (its name is its content's), so it is not written; answers the CRC-32C of what arrived.
async fn already_placed<S, E>(target: &Path, size: u64, body: &mut S) -> Result<Option<u32>, BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    match tokio::fs::metadata(target).await {
        Ok(meta) if meta.len() == size => {}
        _ => return Ok(None),
    }
    let (mut crc, mut at) = (0u32, 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        at += chunk.len() as u64;
        if at > size {
            return Err(BlobError::TooLarge(format!("the pack is larger than the {size} bytes announced")));
        }
        crc = crc32c::crc32c_append(crc, &chunk);
    }
    if at != size {
        return Err(BlobError::Body(format!("{at} of the pack's {size} bytes arrived")));
    }
    Ok(Some(crc))
}

/// A pack the local folder received: the CRC-32C of what arrived and, when this request placed
/// it, its index (checked with every chunk).
pub struct ReceivedPack {
    pub crc: u32,
    pub index: Option<fedml_proto::content::PackIndex>,
}

/// Whether the open `file` is still the one at `path`.
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Writes a request body into `file` from `start` as it comes (no copy into a bigger buffer), a
/// batch of about `batch()` bytes per hop to the blocking pool, each set to be written to disk at
/// once; refuses more than `most` bytes with `too_large()`. Answers the bytes written and their
/// CRC-32C.
async fn write_body<S, E>(
    file: &Arc<std::fs::File>,
    start: u64,
    most: u64,
    batch_size: &(dyn Fn() -> usize + Sync),
    body: &mut S,
    too_large: &(dyn Fn() -> String + Sync),
) -> Result<(u64, u32), BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut crc = 0u32;
    let mut written: u64 = 0;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0usize;
    loop {
        let next = body.next().await;
        let done = next.is_none();
        if let Some(chunk) = next {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            if written + (batched + chunk.len()) as u64 > most {
                return Err(BlobError::TooLarge(too_large()));
            }
            batched += chunk.len();
            batch.push(chunk);
        }
        if batched >= batch_size() || (done && batched > 0) {
            let (file, chunks, offset) = (file.clone(), std::mem::take(&mut batch), start + written);
            crc = tokio::task::spawn_blocking(move || -> io::Result<u32> {
                let mut at = offset;
                let mut crc = crc;
                for chunk in &chunks {
                    file.write_all_at(chunk, at)?;
                    crc = crc32c::crc32c_append(crc, chunk);
                    at += chunk.len() as u64;
                }
                // The disk writes while the rest arrives, so that the flush at the end waits
                // for little.
                start_writeback(&file, offset, at - offset);
                Ok(crc)
            })
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
            written += batched as u64;
            batched = 0;
        }
        if done {
            return Ok((written, crc));
        }
    }
}

/// Frees the blocks of a range of a file, which then reads as zeros (Linux; elsewhere a no-op).
fn free_range(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor and plain integers; the call only deallocates blocks.
        unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as i64,
                len as i64,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Asks the kernel to start writing a range to disk now (Linux), without waiting for it.
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor and plain integers; the call only schedules I/O.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// What `fedml admin fsck` reads of the folder: listing and sizes, never a change.
impl LocalStore {
    /// The folder at `root` for reading only: nothing is created (a missing folder holds
    /// nothing), and no URL it could sign is ever issued.
    pub fn for_reading(root: PathBuf) -> Self {
        let signer = UrlSigner::new(crate::keys::random_hex(32).as_bytes());
        LocalStore { root, public_url: "http://127.0.0.1".into(), signer, receiving: Arc::new(AtomicUsize::new(0)) }
    }

    /// Every file under `objects/` (as blob keys `<owner>/<id>`, or the relative path of a file
    /// that is not where a blob would be) and under `staging/` (as upload ids), with sizes.
    pub(super) fn list_stored(&self) -> Result<Vec<super::StoredBlob>, BlobError> {
        let mut out = Vec::new();
        list_files(&self.root.join("objects"), "", &mut |key, size| {
            out.push(super::StoredBlob { place: super::StoredPlace::Blob, key, size })
        })?;
        list_files(&self.root.join("staging"), "", &mut |key, size| {
            out.push(super::StoredBlob { place: super::StoredPlace::Staging, key, size })
        })?;
        Ok(out)
    }

    /// The size of a finished blob, `None` when it is absent.
    pub(super) fn blob_size(&self, blob_key: &str) -> Result<Option<u64>, BlobError> {
        match self.object_path(blob_key) {
            Some(path) => file_size(&path),
            None => Ok(None),
        }
    }

    /// The size of a session's staging file, `None` when it is absent.
    pub(super) fn staging_size(&self, upload_id: &str) -> Result<Option<u64>, BlobError> {
        if upload_id.is_empty() || !upload_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        file_size(&self.staging_path(upload_id))
    }
}

fn file_size(path: &Path) -> Result<Option<u64>, BlobError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Calls `found(relative path, size)` for every regular file below `dir` (a missing `dir` has
/// none); links are reported as files of size 0 and never followed.
fn list_files(dir: &Path, prefix: &str, found: &mut dyn FnMut(String, u64)) -> Result<(), BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), &relative, found)?;
        } else {
            let size = if kind.is_file() { entry.metadata()?.len() } else { 0 };
            found(relative, size);
        }
    }
    Ok(())
}
