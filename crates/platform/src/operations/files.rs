//! Inside directory objects, on the server: the list of a version's files, indexed once from
//! its archive's central directory (read from the store, never from the client), paged by
//! folder; and how to read one file in place (a signed URL and the byte range of its data).
//!
//! An archive that cannot be used as a directory (a path held twice, a name that could land
//! outside the folder it is unpacked into: `fedml_proto::archive`'s rule, the one unpacking
//! follows) is not indexed: every listing and read of it is refused, naming the entry. The
//! refusal is remembered per version ([`RefusedArchives`]), so its central directory is read
//! once per server instance, not at every call.

use std::collections::HashMap;

use fedml_proto::archive::{self, ArchiveError, Located};
use fedml_proto::{FilePage, FileRead, ObjectKind};
use futures_util::TryStreamExt;

use super::{Caller, Need, Platform};
use crate::catalogue::{IndexedFile, ObjectRecord};
use crate::error::{Error, Result};
use crate::time::now_secs;

/// Entries per page unless asked otherwise, and the most a page holds.
const PAGE: u32 = 1000;
const MAX_PAGE: u32 = 10_000;

/// What a listing asks for.
pub struct FilesRequest<'a> {
    /// The folder inside the object (`""`: its top).
    pub path: &'a str,
    /// Everything below the folder, not only what is directly in it.
    pub recursive: bool,
    /// The last path of the previous page.
    pub after: Option<&'a str>,
    pub limit: Option<u32>,
}

/// Versions whose archive was refused, by blob key (a version's bytes never change under its
/// key), with what is wrong; at most [`RefusedArchives::MAX`] are kept (then it starts again).
#[derive(Debug, Default)]
pub(crate) struct RefusedArchives(std::sync::Mutex<HashMap<String, String>>);

impl RefusedArchives {
    const MAX: usize = 10_000;

    fn get(&self, blob_key: &str) -> Option<String> {
        self.0.lock().ok()?.get(blob_key).cloned()
    }

    fn remember(&self, blob_key: &str, why: &str) {
        if let Ok(mut refused) = self.0.lock() {
            if refused.len() >= Self::MAX {
                refused.clear();
            }
            refused.insert(blob_key.to_string(), why.to_string());
        }
    }
}

impl Platform {
    /// A page of the entries of version `version` (the latest with `None`) of the directory
    /// object `name` of `namespace` under the folder `req.path`; the one entry when the path is a
    /// file.
    pub async fn files(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        version: Option<u64>,
        req: &FilesRequest<'_>,
    ) -> Result<FilePage> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let record = self.object_record(&here, name, version).await?;
        self.index(&record).await?;
        let blob = &record.blob_key;
        let folder = req.path.trim_matches('/');
        if !folder.is_empty() {
            match self.catalogue.file_at(blob, folder).await? {
                None => {
                    return Err(Error::NotFound(format!(
                        "{name:?} holds no folder {folder:?}; `fedml storage ls {name}` lists its top"
                    )));
                }
                Some(file) if file.entry.kind == ObjectKind::File => {
                    return Ok(FilePage { entries: vec![file.entry], next: None });
                }
                Some(_) => {}
            }
        }
        let limit = req.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
        let after = req.after.unwrap_or("");
        let found = if req.recursive {
            self.catalogue.files_under(blob, folder, after, limit).await?
        } else {
            // `after` is a path in this folder: the page goes on after its name.
            let (in_folder, after_name) = archive::split_path(after);
            let after_name = if in_folder == folder { after_name } else { "" };
            self.catalogue.files_in(blob, folder, after_name, limit).await?
        };
        let next = (found.len() == limit as usize).then(|| found.last().map(|f| f.entry.path.clone())).flatten();
        Ok(FilePage { entries: found.into_iter().map(|f| f.entry).collect(), next })
    }

    /// How to read the file at `path` of version `version` of the directory object `name` of
    /// `namespace` in place: a signed URL of the object's bytes and the range of the file's data.
    pub async fn file(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        version: Option<u64>,
        path: &str,
    ) -> Result<FileRead> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let record = self.object_record(&here, name, version).await?;
        let (file, offset) = self.locate_file(&record, name, path).await?;
        let expires_at = now_secs() + self.lifetimes.download_secs;
        let url = self.read_url(&record, expires_at).await?;
        self.observe.metrics.download_ticket(file.compressed);
        Ok(FileRead { entry: file.entry, url, offset, length: file.compressed, method: file.method, expires_at })
    }

    /// The file at `path` of the directory object version `record` (which the caller may read;
    /// `name` as the caller named it), and where its data begins in the object's bytes.
    pub(super) async fn locate_file(
        &self,
        record: &ObjectRecord,
        name: &str,
        path: &str,
    ) -> Result<(IndexedFile, u64)> {
        self.index(record).await?;
        let path = path.trim_matches('/');
        let file: IndexedFile = self.catalogue.file_at(&record.blob_key, path).await?.ok_or_else(|| {
            Error::NotFound(format!("{name:?} holds no file {path:?}; `fedml storage ls {name} -r` lists its files"))
        })?;
        if file.entry.kind == ObjectKind::Directory {
            return Err(Error::Invalid(format!(
                "{path:?} is a folder of {name:?}, not a file; `fedml storage ls {name} {path}` lists it"
            )));
        }
        let local = self.read_bytes(record, file.header, 30).await?;
        let offset = archive::data_start(file.header, &local).map_err(Error::Internal)?;
        if offset.checked_add(file.compressed).is_none_or(|end| end > record.meta.size) {
            return Err(Error::Internal(archive::not_an_archive("a file whose data runs past the archive's end")));
        }
        Ok((file, offset))
    }

    /// Indexes the files of a directory object's version, unless they are.
    pub(super) async fn index(&self, record: &ObjectRecord) -> Result<()> {
        let name = &record.meta.data_name;
        if record.meta.kind != ObjectKind::Directory {
            return Err(Error::Invalid(format!(
                "{name:?} is a file, not a directory: download it whole, or read a range of its download URL"
            )));
        }
        if self.catalogue.indexed_files(&record.blob_key).await?.is_some() {
            return Ok(());
        }
        let refused = |why: &str| Error::Invalid(archive::cannot_use_as_directory(name, why));
        if let Some(why) = self.refused_archives.get(&record.blob_key) {
            return Err(refused(&why));
        }
        let _one_at_a_time = self.indexing.lock().await;
        if self.catalogue.indexed_files(&record.blob_key).await?.is_some() {
            return Ok(());
        }
        if let Some(why) = self.refused_archives.get(&record.blob_key) {
            return Err(refused(&why));
        }
        let size = record.meta.size;
        let unreadable = |e: String| Error::Invalid(format!("{name:?}: {e}"));
        let mut located = Located::NotInTail;
        for want in [archive::SHORT_TAIL, archive::TAIL] {
            let len = want.min(size);
            let tail = self.read_bytes(record, size - len, len).await?;
            located = archive::locate(&tail, size).map_err(unreadable)?;
            if located != Located::NotInTail || len == size {
                break;
            }
        }
        if let Located::Zip64Record(at) = located {
            let end = self.read_bytes(record, at, 56.min(size.saturating_sub(at))).await?;
            located = archive::locate_zip64(&end, size).map_err(unreadable)?;
        }
        let Located::Directory { offset, size: length, count } = located else {
            return Err(unreadable(archive::not_an_archive("no end of central directory record")));
        };
        let started = std::time::Instant::now();
        let directory = self.read_bytes(record, offset, length).await?;
        let entries = match archive::entries(&directory, count) {
            Ok(entries) => entries,
            Err(ArchiveError::Unreadable(why)) => return Err(unreadable(why)),
            Err(ArchiveError::Refused(why)) => {
                tracing::info!(object = %name, %why, "refused to index the files of a directory object");
                self.refused_archives.remember(&record.blob_key, &why);
                return Err(refused(&why));
            }
        };
        let files = entries.len();
        self.catalogue.index_files(&record.blob_key, entries).await?;
        tracing::info!(object = %name, files, took = ?started.elapsed(), "indexed the files of a directory object");
        Ok(())
    }

    /// Bytes `start .. start + len` of a version's content, from its blob or its packs.
    async fn read_bytes(&self, record: &ObjectRecord, start: u64, len: u64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let stream = self.read_record(record, (start, len)).await?;
        let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
        let mut out = Vec::with_capacity(len as usize);
        for chunk in chunks {
            out.extend_from_slice(&chunk);
        }
        if out.len() as u64 != len {
            return Err(Error::Internal(format!(
                "read {} of the {len} bytes asked of {:?}",
                out.len(),
                record.blob_key
            )));
        }
        Ok(out)
    }
}
