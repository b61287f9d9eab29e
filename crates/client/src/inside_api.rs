//! Inside an object without downloading it whole: the SDK's calls that list a directory object's
//! files, download some of them, and read ranges of one (`transfer::inside` does the work).

use std::path::PathBuf;

use crate::client::ObjectRef;
use crate::error::ClientError;
pub use fedml_proto::FilePage;

pub use crate::transfer::inside::ObjectEntry;
use crate::{DownloadOptions, FedMLResponse, Target, block_on, progress, transfer};

/// Lists the entries of directory object `data_name` under its folder `path` (`""`: its top):
/// those directly in it, or with `recursive` everything below it, in path order. Only the
/// object's list of files is read (a few ranged reads), never its data; of version `version`
/// (the latest with `None`). Answers FAILURE for a file object or a folder the object does not
/// hold.
pub fn list_object_files_with(
    data_name: &str,
    path: &str,
    recursive: bool,
    service: Option<&str>,
    version: Option<u64>,
    target: &Target,
) -> FedMLResponse<Vec<ObjectEntry>> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        let at = ObjectRef { name: data_name, service, version };
        block_on(transfer::inside::list(&client, at, path, recursive))
    })();
    FedMLResponse::from_result(result, |entries| format!("{} entries", entries.len()))
}

/// Which page of a directory object's entries [`list_object_files_page_with`] reads.
#[derive(Debug, Clone, Default)]
pub struct FilesQuery {
    /// The folder inside the object (`""`: its top).
    pub path: String,
    /// Everything below the folder, not only what is directly in it.
    pub recursive: bool,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Entries per page (the server's default: 1,000; at most 10,000).
    pub limit: Option<u32>,
    pub service: Option<String>,
    /// The latest with `None`.
    pub version: Option<u64>,
}

/// One page of [`list_object_files_with`]: `data.entries` in path order, and `data.next`, when
/// the page is full, to pass as `after` for the next one.
pub fn list_object_files_page_with(data_name: &str, query: &FilesQuery, target: &Target) -> FedMLResponse<FilePage> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        let at = ObjectRef { name: data_name, service: query.service.as_deref(), version: query.version };
        block_on(client.files(at, &query.path, query.recursive, query.after.as_deref(), query.limit))
    })();
    FedMLResponse::from_result(result, |page| format!("{} entries", page.entries.len()))
}

/// Downloads only the files of directory object `data_name` that `wanted` selects — paths
/// inside the object (a folder's path selects everything under it) or globs (`*`, `**`, `?`) —
/// into `dest_path/<data_name>/…`, where a whole download would place them; each is checked
/// against the CRC-32 the object's archive records before it is renamed into place. Answers the
/// paths written; FAILURE when nothing matches.
pub fn download_files_with(
    data_name: &str,
    wanted: &[String],
    options: &DownloadOptions,
) -> FedMLResponse<Vec<PathBuf>> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        if wanted.is_empty() {
            return Err(ClientError::Failure("name at least one path or pattern to download".into()));
        }
        let client = options.target.client()?;
        let dest = options.dest_path.clone().unwrap_or_else(|| PathBuf::from("."));
        let progress = options.progress();
        let bar = progress::bar(&progress, 0);
        let cancel = options.target.cancel_token();
        let fetched = block_on(async {
            // The cancellation first: a fetch cancelled before it began places nothing.
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(ClientError::Failure("cancelled; the files already in place stay".into())),
                r = transfer::inside::fetch(&client, options.object(data_name), &dest, wanted, &bar) => r,
            }
        });
        bar.finish_and_clear();
        fetched.map(|paths| paths.into_iter().map(|p| std::path::absolute(&p).unwrap_or(p)).collect())
    })();
    FedMLResponse::from_result(result, |paths| format!("downloaded {} files of {data_name:?}", paths.len()))
}

/// An object opened to read in part, by ranges (what the Python package's `fedml://` filesystem
/// reads through): a directory's list of files is read once, at [`DirectoryReader::open`]; a
/// file object reads as the path `""`.
pub struct DirectoryReader {
    inner: transfer::inside::Directory,
}

impl DirectoryReader {
    /// Opens version `version` of object `data_name` (the latest with `None`); an error for one
    /// that does not exist.
    pub fn open(
        data_name: &str,
        service: Option<&str>,
        version: Option<u64>,
        target: &Target,
    ) -> std::result::Result<Self, ClientError> {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        let client = target.client()?;
        let inner =
            block_on(transfer::inside::Directory::open(&client, ObjectRef { name: data_name, service, version }))?;
        Ok(DirectoryReader { inner })
    }

    /// Every file and folder of the object, in path order.
    pub fn entries(&self) -> std::result::Result<Vec<ObjectEntry>, ClientError> {
        block_on(async { Ok(self.inner.entries().await) })
    }

    /// Whether the object is a directory; a file object reads as the path `""`.
    pub fn kind(&self) -> std::result::Result<fedml_proto::ObjectKind, ClientError> {
        block_on(async { Ok(self.inner.kind().await) })
    }

    /// When the object was last written (RFC 3339).
    pub fn updated_at(&self) -> std::result::Result<String, ClientError> {
        block_on(async { Ok(self.inner.updated_at().await) })
    }

    /// The object's size (a directory's: its archive's).
    pub fn size(&self) -> std::result::Result<u64, ClientError> {
        block_on(async { Ok(self.inner.size().await) })
    }

    /// The object's checksum (BLAKE3 of its archive) as it was opened.
    pub fn checksum(&self) -> std::result::Result<String, ClientError> {
        block_on(async { Ok(self.inner.checksum().await) })
    }

    /// Bytes `start .. start + len` of the file at `path` inside the object (fewer at its end).
    pub fn read(&self, path: &str, start: u64, len: u64) -> std::result::Result<Vec<u8>, ClientError> {
        block_on(self.inner.read(path, start, len))
    }
}
