//! Reading an object's bytes through this server, whatever its store, as a stream: a range of
//! an object's version, or of one file inside a directory object's version (read in place from
//! the archive's bytes). For protocols that serve bytes themselves (S3's GetObject) rather than
//! hand out signed URLs; a share link's read ([`Platform::read_shared`]) goes the same way.
//!
//! A read is two steps: [`Platform::readable`] (or [`Platform::readable_file`]) decides that the
//! caller may read and answers what would be read (its size and validators, so that ranges and
//! conditions are answered before any byte moves), then [`Platform::read`] streams the bytes
//! asked. Only those two make a [`Readable`], so holding one means the read was allowed.

use bytes::Bytes;
use fedml_proto::{ObjectEntry, ObjectKind};
use futures_util::stream::BoxStream;

use super::{Caller, Need, Platform};
use crate::blobs::BlobError;
use crate::catalogue::ObjectRecord;
use crate::error::{Error, Result};
use crate::time::now_secs;

/// Bytes read through this server.
pub type ReadStream = BoxStream<'static, std::result::Result<Bytes, BlobError>>;

/// How a file's data is kept in its archive.
pub const STORED: u16 = 0;
pub const DEFLATED: u16 = 8;

/// One file of a directory object, as a read finds it.
#[derive(Debug, Clone)]
pub struct InsideFile {
    pub entry: ObjectEntry,
    /// Where its data begins in the object's bytes, and how many bytes it takes there.
    pub offset: u64,
    pub length: u64,
    /// [`STORED`] or [`DEFLATED`] (then `length` is the deflated size and `entry.size` the file's).
    pub method: u16,
}

/// What a read reads, once the caller was found allowed to: an object's version, or one file
/// of a directory object's version.
#[derive(Debug, Clone)]
pub struct Readable {
    record: ObjectRecord,
    file: Option<InsideFile>,
}

impl Readable {
    /// The object version read (for a file inside it, the directory object's).
    pub fn record(&self) -> &ObjectRecord {
        &self.record
    }

    /// The file inside the directory object, when the read is of one.
    pub fn file(&self) -> Option<&InsideFile> {
        self.file.as_ref()
    }

    /// How many bytes a whole read gives.
    pub fn size(&self) -> u64 {
        match &self.file {
            Some(file) => file.entry.size,
            None => self.record.meta.size,
        }
    }
}

impl Platform {
    /// Version `version` (the latest with `None`) of the object `name` of `namespace`, to read,
    /// if the caller may read it.
    pub async fn readable(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        version: Option<u64>,
    ) -> Result<Readable> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let record = self.object_record(&here, name, version).await?;
        Ok(Readable { record, file: None })
    }

    /// The file at `path` inside version `version` (the latest with `None`) of the directory
    /// object `name` of `namespace`, to read, if the caller may read it.
    pub async fn readable_file(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        version: Option<u64>,
        path: &str,
    ) -> Result<Readable> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let record = self.object_record(&here, name, version).await?;
        if record.meta.kind != ObjectKind::Directory {
            return Err(super::not_found(&format!("{name}/{path}")));
        }
        self.inside(record, name, path).await
    }

    /// What the key `key` of `namespace` reads, keys being what [`Platform::list_keys`] lists:
    /// the file object named `key`, else the file `path` of the directory object `name` when
    /// `key` is `name/path` (a directory object itself is no key). `version` is the version of
    /// that object (of the directory object, for a file inside one).
    pub async fn readable_key(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        key: &str,
        version: Option<u64>,
    ) -> Result<Readable> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let no_key = || super::not_found(key);
        match self.object_record(&here, key, version).await {
            Ok(record) if record.meta.kind == ObjectKind::File => return Ok(Readable { record, file: None }),
            Ok(_) => return Err(no_key()),
            Err(Error::NotFound(_) | Error::Invalid(_)) => {}
            Err(e) => return Err(e),
        }
        // A name is data or a folder of names, never both: at most one name before a '/' of the
        // key is an object's.
        for (at, _) in key.match_indices('/') {
            let (name, path) = (&key[..at], &key[at + 1..]);
            if name.is_empty() || path.is_empty() {
                continue;
            }
            match self.object_record(&here, name, version).await {
                Ok(record) if record.meta.kind == ObjectKind::Directory => {
                    return match self.inside(record, name, path).await {
                        Err(Error::Invalid(_) | Error::NotFound(_)) => Err(no_key()),
                        found => found,
                    };
                }
                Ok(_) => return Err(no_key()),
                Err(Error::NotFound(_) | Error::Invalid(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(no_key())
    }

    /// The file at `path` of the directory object version `record`, to read.
    async fn inside(&self, record: ObjectRecord, name: &str, path: &str) -> Result<Readable> {
        let (found, offset) = self.locate_file(&record, name, path).await?;
        if found.method != STORED && found.method != DEFLATED {
            return Err(Error::Invalid(format!(
                "{path:?} of {name:?} is compressed with method {} in its archive, which this server cannot read; \
                 download {name:?} whole",
                found.method
            )));
        }
        let file = InsideFile { entry: found.entry, offset, length: found.compressed, method: found.method };
        Ok(Readable { record, file: Some(file) })
    }

    /// Bytes `first .. first + count` of what `readable` reads (the caller keeps `first + count`
    /// within [`Readable::size`]), streamed and, for packed content, checked as they go (see
    /// [`Platform::read_assembled`]). A deflated file is inflated from its start: a range of one
    /// reads the file's compressed bytes up to the range's end.
    pub async fn read(&self, readable: &Readable, (first, count): (u64, u64)) -> Result<ReadStream> {
        self.observe.metrics.download_ticket(count);
        match &readable.file {
            None => self.read_record(&readable.record, (first, count)).await,
            Some(file) if file.method == STORED => {
                self.read_record(&readable.record, (file.offset.saturating_add(first), count)).await
            }
            Some(file) => {
                let compressed = self.read_record(&readable.record, (file.offset, file.length)).await?;
                Ok(super::inflate::inflated(compressed, (first, count)))
            }
        }
    }

    /// Bytes `first .. first + count` of the object version `record`, from its packs or its blob,
    /// whatever the store: what every read through this server reads.
    pub(crate) async fn read_record(&self, record: &ObjectRecord, (first, count): (u64, u64)) -> Result<ReadStream> {
        let service = &record.meta.service;
        match &record.content {
            Some(content) => self.read_assembled(service, content.clone(), (first, count)),
            None => {
                let store = self.store(service)?;
                let expires = now_secs() + self.lifetimes.download_secs;
                Ok(super::content::read_range(store, &self.http, service, &record.blob_key, first, count, expires)
                    .await?)
            }
        }
    }
}
