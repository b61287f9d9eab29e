//! Repositories (the Hugging Face Hub's protocol): a repository is a directory object and a
//! commit is a version. A commit names only what changes — files added or replaced (their bytes
//! inline, or staged before by their SHA-256), files and folders deleted — and the server makes
//! the next version itself from the latest: it writes the new archive with the same ZIP writer
//! the client packs directories with (`fedml_proto::zip_write`), each file's data a region of its
//! own, through the intake's [`Composer`]. The unchanged files' bytes are read from the packs and
//! cut again on the server, where every chunk is found where it lies: none is sent by the client
//! nor stored again; only the archive's headers and the changed files are new. A commit is made
//! from one version and only commits while that version is the latest (a compare-and-set in the
//! commit's transaction): racing commits make one chain of versions, and none loses a file.
//!
//! Every version has a stable commit id (40 hex digits of a hash of its blob key, which no other
//! version shares), and every file its SHA-256 and Git blob id, kept once computed.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use fedml_proto::{ObjectKind, archive, zip_write::ZipStream};
use futures_util::StreamExt;
use sha2::Digest as _;

use super::intake::{Body, Composer, Digesting, PutRequest, Shape};
use super::staged::hex_sha256;
use super::{Caller, Here, Need, Platform};
use crate::catalogue::{Attributes, CatalogueError, FileHashes, IndexedFile, ObjectRecord, StagedFile, UploadState};
use crate::error::{Error, Result};
use crate::time::now_secs;

/// The most changes one commit names, and files a repository holds.
pub const MAX_CHANGES: usize = 100_000;
pub const MAX_REPO_FILES: usize = 1_000_000;
/// Commits retried on a newer latest version when they name no parent.
const RETRIES: usize = 8;

/// One change of a commit.
#[derive(Debug, Clone)]
pub enum RepoChange {
    Put { path: String, source: RepoSource },
    Delete { path: String },
    DeleteFolder { path: String },
}

/// The bytes a commit puts at a path.
#[derive(Debug, Clone)]
pub enum RepoSource {
    /// A regular file's content, sent with the commit.
    Bytes(Bytes),
    /// An LFS object sent before (`Platform::stage_file`), by its SHA-256.
    Staged { sha256: String },
}

/// A commit: the version it was made from (`None`: the latest), its changes and message.
#[derive(Debug, Clone, Default)]
pub struct RepoCommit {
    pub parent: Option<u64>,
    pub changes: Vec<RepoChange>,
    pub message: String,
}

/// A file of a repository's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub git_sha1: String,
}

/// The next version of a repository: its name, the version it is made from, its files.
struct Next<'a> {
    name: &'a str,
    base: Option<&'a ObjectRecord>,
    files: BTreeMap<String, Source>,
    /// The first version: only if the name is free.
    create_only: bool,
}

/// Where a file of the next version comes from.
enum Source {
    Base(IndexedFile),
    /// A file of another repository's latest version.
    Other(Box<ObjectRecord>, IndexedFile),
    Bytes(Bytes),
    Staged(StagedFile),
}

/// The commit id of a version: 40 hex digits of a hash of its blob key (unique per version).
pub fn commit_id(record: &ObjectRecord) -> String {
    let digest = sha2::Sha256::digest(format!("fedml commit\n{}", record.blob_key).as_bytes());
    hex::encode(&digest[..20])
}

fn check_path(path: &str) -> Result<()> {
    if path.is_empty() || path.len() > 1024 {
        return Err(Error::Invalid(format!("{path:?} is not a file path: give 1 to 1,024 bytes")));
    }
    for segment in path.split('/') {
        archive::check_segment(segment).map_err(|why| Error::Invalid(format!("the path {path:?} {why}")))?;
    }
    Ok(())
}

impl Platform {
    /// Makes the empty repository `name` of `namespace`: a directory object of no file, its first
    /// version. Refused ([`Error::Conflict`]) when the name is taken.
    pub async fn create_repo(&self, caller: &Caller, namespace: Option<&str>, name: &str) -> Result<ObjectRecord> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let stored = self.stored_name(&here, name).await?;
        if self.catalogue.object_exists(&here.id, &stored).await? {
            return Err(Error::Conflict(format!("{name:?} exists already in {:?}", here.name)));
        }
        let next = Next { name: &stored, base: None, files: BTreeMap::new(), create_only: true };
        self.compose(caller, &here, next, "Create the repository".into()).await.map_err(|e| match e {
            Error::Precondition(_) => Error::Conflict(format!("{name:?} exists already in {:?}", here.name)),
            e => e,
        })
    }

    /// Commits `commit` to repository `name` of `namespace`: its next version, made from the one
    /// named (the latest when none is, retried on a newer one). Refused with
    /// [`Error::Precondition`] when the parent named is no longer the latest.
    pub async fn commit_repo(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        commit: RepoCommit,
    ) -> Result<ObjectRecord> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        if commit.changes.len() > MAX_CHANGES {
            return Err(Error::Invalid(format!("a commit names at most {MAX_CHANGES} changes")));
        }
        for change in &commit.changes {
            let (RepoChange::Put { path, .. } | RepoChange::Delete { path } | RepoChange::DeleteFolder { path }) =
                change;
            check_path(path.trim_end_matches('/'))?;
        }
        let stored = self.stored_name(&here, name).await?;
        let mut attempt = 0;
        loop {
            let base = self.object_record(&here, name, None).await?;
            if base.meta.kind != ObjectKind::Directory {
                return Err(Error::Invalid(format!("{name:?} is a file, not a repository (a directory object)")));
            }
            if let Some(parent) = commit.parent
                && parent != base.meta.version
            {
                return Err(Error::Precondition(format!(
                    "the commit was made from version {parent} of {name:?}, but its latest is {} ({}): fetch it and \
                     commit again",
                    base.meta.version,
                    commit_id(&base)
                )));
            }
            let files = self.next_files(&here, &base, &commit.changes).await?;
            let next = Next { name: &stored, base: Some(&base), files, create_only: false };
            match self.compose(caller, &here, next, commit.message.clone()).await {
                Err(Error::Precondition(_)) if commit.parent.is_none() && attempt + 1 < RETRIES => attempt += 1,
                done => return done,
            }
        }
    }

    /// The files of the next version: those of `base` with `changes` applied, by path.
    async fn next_files(
        &self,
        here: &Here,
        base: &ObjectRecord,
        changes: &[RepoChange],
    ) -> Result<BTreeMap<String, Source>> {
        let mut files: BTreeMap<String, Source> = BTreeMap::new();
        for file in self.all_files(base).await? {
            files.insert(file.entry.path.clone(), Source::Base(file));
        }
        for change in changes {
            match change {
                RepoChange::Put { path, source } => {
                    let source = match source {
                        RepoSource::Bytes(bytes) => Source::Bytes(bytes.clone()),
                        RepoSource::Staged { sha256 } => {
                            let sha256 = hex_sha256(sha256)?;
                            match self.catalogue.staged_file(&here.id, &sha256).await? {
                                Some(staged) => Source::Staged(staged),
                                None => match self.stored_file(here, &sha256).await? {
                                    Some(found) => found,
                                    None => {
                                        return Err(Error::Invalid(format!(
                                            "the LFS object {sha256} of {path:?} was never sent (or its upload \
                                             expired): upload it first"
                                        )));
                                    }
                                },
                            }
                        }
                    };
                    files.insert(path.clone(), source);
                }
                RepoChange::Delete { path } => {
                    if files.remove(path).is_none() {
                        return Err(Error::NotFound(format!("there is no file {path:?} to delete")));
                    }
                }
                RepoChange::DeleteFolder { path } => {
                    let folder = format!("{}/", path.trim_end_matches('/'));
                    let before = files.len();
                    files.retain(|p, _| !p.starts_with(&folder));
                    if files.len() == before {
                        return Err(Error::NotFound(format!("there is no folder {path:?} to delete")));
                    }
                }
            }
        }
        if files.len() > MAX_REPO_FILES {
            return Err(Error::Invalid(format!("a repository holds at most {MAX_REPO_FILES} files")));
        }
        // A path cannot be both a file and a folder of files.
        let mut previous: Option<&str> = None;
        for path in files.keys() {
            if let Some(p) = previous
                && path.starts_with(p)
                && path[p.len()..].starts_with('/')
            {
                return Err(Error::Invalid(format!("{p:?} cannot be both a file and a folder (of {path:?})")));
            }
            previous = Some(path);
        }
        Ok(files)
    }

    /// A file with this SHA-256 in the latest version of a repository of the namespace, as a
    /// source: that version's file, read where it lies.
    async fn stored_file(&self, here: &Here, sha256: &str) -> Result<Option<Source>> {
        let Some((service, blob_key, path)) = self.catalogue.file_by_hash(&here.id, sha256).await? else {
            return Ok(None);
        };
        let record = match self.catalogue.object_by_blob(&service, &blob_key).await {
            Ok(record) => record,
            Err(CatalogueError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(file) = self.catalogue.file_at(&record.blob_key, &path).await? else { return Ok(None) };
        Ok(Some(Source::Other(Box::new(record), file)))
    }

    /// Every file (not folder) of directory object version `record`, indexed if it was not.
    async fn all_files(&self, record: &ObjectRecord) -> Result<Vec<IndexedFile>> {
        self.index(record).await?;
        let mut out: Vec<IndexedFile> = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.catalogue.files_under(&record.blob_key, "", &after, 1000).await?;
            let done = page.len() < 1000;
            if let Some(last) = page.last() {
                after = last.entry.path.clone();
            }
            out.extend(page.into_iter().filter(|f| f.entry.kind == ObjectKind::File));
            if done || out.len() > MAX_REPO_FILES {
                return Ok(out);
            }
        }
    }

    /// Writes and commits the next version of `name`: its archive of `files`, made from `base`.
    async fn compose(&self, caller: &Caller, here: &Here, next: Next<'_>, message: String) -> Result<ObjectRecord> {
        let Next { name, base, files, create_only } = next;
        let top = name.rsplit('/').next().unwrap_or(name).to_string();
        let estimate: u64 = files
            .iter()
            .map(|(path, source)| {
                let size = match source {
                    Source::Base(f) | Source::Other(_, f) => f.entry.size,
                    Source::Bytes(b) => b.len() as u64,
                    Source::Staged(s) => s.size,
                };
                size + 2 * (top.len() + path.len()) as u64 + 200
            })
            .sum::<u64>()
            + 1024;
        let req = PutRequest { name: name.to_string(), size: Some(estimate), create_only, ..Default::default() };
        // The commit's message is the version's description (what `fedml storage versions` shows).
        let upload = self.open_intake(caller, here, &req, estimate, Shape::Directory, Some(message)).await?;
        let kept: HashMap<String, FileHashes> = match base {
            Some(base) => {
                self.catalogue.file_hashes(&base.blob_key).await?.into_iter().map(|h| (h.path.clone(), h)).collect()
            }
            None => HashMap::new(),
        };
        let staged: Vec<String> = files
            .values()
            .filter_map(|s| match s {
                Source::Staged(s) => Some(s.upload_id.clone()),
                _ => None,
            })
            .collect();
        let written = async {
            let mut composer = Composer::start(self, &upload, Digesting { blake3: true, ..Default::default() }).await?;
            for id in &staged {
                composer.learn(self.catalogue.pinned_packs(id).await?).await?;
            }
            let now = now_secs();
            let mut zip = ZipStream::new(Vec::new());
            zip.add_directory(&top, now, 0o755).map_err(zip_error)?;
            let mut hashes = Vec::with_capacity(files.len());
            for (path, source) in &files {
                let size = match source {
                    Source::Base(f) | Source::Other(_, f) => f.entry.size,
                    Source::Bytes(b) => b.len() as u64,
                    Source::Staged(s) => s.size,
                };
                zip.begin_file(&format!("{top}/{path}"), now, 0o644, size).map_err(zip_error)?;
                composer.feed(Bytes::from(std::mem::take(zip.inner_mut()))).await?;
                composer.end_region().await?;
                // Hashes kept of the base's file at this path, when it is that file.
                let known = match source {
                    Source::Base(_) => kept.get(path).cloned(),
                    _ => None,
                };
                // A staged file's hashes were taken as it arrived.
                let hashed = known.is_some() || matches!(source, Source::Staged(_));
                let mut hasher = (!hashed).then(|| FileHasher::new(size));
                let crc = match source {
                    Source::Bytes(bytes) => {
                        if let Some(h) = hasher.as_mut() {
                            h.update(bytes);
                        }
                        composer.feed(bytes.clone()).await?;
                        crc32fast::hash(bytes)
                    }
                    Source::Staged(staged) => {
                        let stream = self.read_assembled(&upload.service, staged.content.clone(), (0, staged.size))?;
                        feed_stream(&mut composer, stream.map(|p| p.map_err(Error::from)).boxed(), hasher.as_mut())
                            .await?;
                        u32::from_str_radix(&staged.crc32, 16).map_err(|_| Error::Internal("a staged CRC".into()))?
                    }
                    Source::Base(file) | Source::Other(_, file) => {
                        let from = match (source, base) {
                            (Source::Other(record, _), _) => record.as_ref(),
                            (_, Some(base)) => base,
                            _ => return Err(Error::Internal("no base version".into())),
                        };
                        let stream = self.base_file(from, file).await?;
                        feed_stream(&mut composer, stream, hasher.as_mut()).await?;
                        u32::from_str_radix(&file.entry.crc32, 16)
                            .map_err(|_| Error::Internal(format!("the CRC-32 of {path:?} in the index")))?
                    }
                };
                composer.end_region().await?;
                zip.skip(size);
                zip.end_file(crc).map_err(zip_error)?;
                hashes.push(match (known, hasher, source) {
                    (Some(known), _, _) => known,
                    (None, _, Source::Staged(s)) => {
                        FileHashes { path: path.clone(), sha256: s.sha256.clone(), git_sha1: s.git_sha1.clone() }
                    }
                    (None, Some(h), _) => h.finish(path),
                    (None, None, _) => return Err(Error::Internal("a file was not hashed".into())),
                });
            }
            let (_, tail) = zip.finish().map_err(zip_error)?;
            composer.feed(Bytes::from(tail)).await?;
            Ok::<_, Error>((composer.finish().await?, hashes))
        }
        .await;
        let (taken, hashes) = match written {
            Ok(done) => done,
            Err(e) => return Err(self.intake_failed(&upload, e).await),
        };
        let checksum = taken.digests.blake3.map(fedml_proto::checksum::of_hash).unwrap_or_default();
        let expected = base.map(|b| b.meta.version);
        let record = self.commit_taken(&upload, taken.finished(checksum, Attributes::default(), expected)).await?;
        if let Err(e) = self.catalogue.keep_file_hashes(&record.blob_key, &hashes).await {
            tracing::warn!(error = %e, "cannot keep a repository's file hashes; they are computed again when asked");
        }
        // The staged files are in the version now: their sessions end (and stop holding quota).
        for id in staged {
            if let Ok(session) = self.catalogue.upload(&id).await
                && session.state == UploadState::Open
            {
                self.end_claimed(&session, UploadState::Open).await;
            }
        }
        Ok(record)
    }

    /// The bytes of a file of a stored version (inflated if its archive deflated it).
    async fn base_file(&self, base: &ObjectRecord, file: &IndexedFile) -> Result<Body> {
        let (found, offset) = self.locate_file(base, &base.meta.data_name, &file.entry.path).await?;
        let raw = self.read_record(base, (offset, found.compressed)).await?;
        let stream = match found.method {
            super::reads::STORED => raw,
            super::reads::DEFLATED => super::inflate::inflated(raw, (0, found.entry.size)),
            method => {
                return Err(Error::Invalid(format!(
                    "{:?} is compressed with method {method}, which this server cannot read",
                    file.entry.path
                )));
            }
        };
        Ok(stream.map(|p| p.map_err(Error::from)).boxed())
    }

    /// The files of version `version` (the latest with `None`) of repository `name`, with their
    /// SHA-256 and Git blob id (computed once, by reading the file, and kept).
    pub async fn repo_files(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        version: Option<u64>,
    ) -> Result<Vec<RepoFile>> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let record = self.object_record(&here, name, version).await?;
        if record.meta.kind != ObjectKind::Directory {
            return Err(Error::Invalid(format!("{name:?} is a file, not a repository (a directory object)")));
        }
        let files = self.all_files(&record).await?;
        let kept: HashMap<String, FileHashes> =
            self.catalogue.file_hashes(&record.blob_key).await?.into_iter().map(|h| (h.path.clone(), h)).collect();
        let mut computed = Vec::new();
        let mut out = Vec::with_capacity(files.len());
        for file in &files {
            let hashes = match kept.get(&file.entry.path) {
                Some(h) => h.clone(),
                None => {
                    let mut hasher = FileHasher::new(file.entry.size);
                    let mut stream = self.base_file(&record, file).await?;
                    while let Some(piece) = stream.next().await {
                        hasher.update(&piece?);
                    }
                    let h = hasher.finish(&file.entry.path);
                    computed.push(h.clone());
                    h
                }
            };
            out.push(RepoFile {
                path: file.entry.path.clone(),
                size: file.entry.size,
                sha256: hashes.sha256,
                git_sha1: hashes.git_sha1,
            });
        }
        if !computed.is_empty()
            && let Err(e) = self.catalogue.keep_file_hashes(&record.blob_key, &computed).await
        {
            tracing::warn!(error = %e, "cannot keep a repository's file hashes");
        }
        Ok(out)
    }

    /// The version of repository `name` a revision names: the latest for `None` or `main`, the
    /// version whose commit id it is for 40 hex digits; else [`Error::NotFound`].
    pub async fn repo_version(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        revision: Option<&str>,
    ) -> Result<ObjectRecord> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let latest = self.object_record(&here, name, None).await?;
        let revision = revision.unwrap_or("main");
        if revision == "main" {
            return Ok(latest);
        }
        let wanted = revision.to_ascii_lowercase();
        if wanted.len() == 40 && wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
            if commit_id(&latest) == wanted {
                return Ok(latest);
            }
            let stored = self.stored_name(&here, name).await?;
            for record in self.catalogue.versions(&here.id, &stored).await? {
                if commit_id(&record) == wanted {
                    return Ok(record);
                }
            }
        }
        Err(Error::NotFound(format!("{name:?} has no revision {revision:?}: use main or a commit id it lists")))
    }
}

/// Feeds a file's bytes to the composer (and its hashes, when asked).
async fn feed_stream(composer: &mut Composer<'_>, mut stream: Body, mut hasher: Option<&mut FileHasher>) -> Result<()> {
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&piece);
        }
        composer.feed(piece).await?;
    }
    Ok(())
}

fn zip_error(e: std::io::Error) -> Error {
    Error::Internal(format!("cannot write a repository's archive: {e}"))
}

/// A file's SHA-256 and Git blob id, computed as its bytes pass.
struct FileHasher {
    sha256: sha2::Sha256,
    git: sha1::Sha1,
}

impl FileHasher {
    fn new(size: u64) -> Self {
        let mut git = <sha1::Sha1 as sha1::Digest>::new();
        sha1::Digest::update(&mut git, format!("blob {size}\0").as_bytes());
        FileHasher { sha256: sha2::Sha256::new(), git }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        sha1::Digest::update(&mut self.git, bytes);
    }

    fn finish(self, path: &str) -> FileHashes {
        FileHashes {
            path: path.to_string(),
            sha256: hex::encode(self.sha256.finalize()),
            git_sha1: hex::encode(sha1::Digest::finalize(self.git)),
        }
    }
}

#[cfg(test)]
#[path = "repos_tests.rs"]
mod tests;
