//! A repository's files as the Hub describes them: each file with its size, its git object id
//! and, for a file the Hub would keep in LFS, its LFS pointer (`lfs: {oid, size, pointerSize}`);
//! folders derived from the paths. One rule decides which files are LFS files, used by the
//! listings, `resolve`'s ETag and `preupload`: a file of at least [`LFS_THRESHOLD`] bytes.
//!
//! Object ids, as the Hub's: a regular file's `oid` is its git blob SHA-1 (the ETag `resolve`
//! answers); an LFS file's is the git blob SHA-1 of its pointer file, its `lfs.oid` the SHA-256
//! of its bytes (the ETag `resolve` answers, as `X-Linked-Etag`). A folder's `oid` is a SHA-1 of
//! the commit and its path: stable for a commit, never mistaken for a file's.

use std::collections::BTreeSet;

use fedml_platform::operations::repos::RepoFile;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// Files of at least this many bytes are LFS files; smaller ones are regular files (sent inside
/// the commit, base64).
pub const LFS_THRESHOLD: u64 = 1 << 20;

pub fn is_lfs(size: u64) -> bool {
    size >= LFS_THRESHOLD
}

/// The git LFS pointer file of content with this SHA-256 and size.
pub fn pointer(sha256: &str, size: u64) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n")
}

/// The git blob id of `data`: SHA-1 of `blob <len>\0` and the data.
pub fn git_blob_sha1(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finalize())
}

/// The ETag of a file, as `resolve` and the clients' caches name it (unquoted).
pub fn etag(file: &RepoFile) -> &str {
    if is_lfs(file.size) { &file.sha256 } else { &file.git_sha1 }
}

/// What `preupload` answers as a file's `oid` (what the client compares with its own to skip an
/// unchanged file): the SHA-256 for an LFS upload, the git blob id for a regular one.
pub fn upload_oid(file: &RepoFile, lfs: bool) -> &str {
    if lfs { &file.sha256 } else { &file.git_sha1 }
}

/// A file as `tree` and `paths-info` list it.
pub fn file_entry(file: &RepoFile) -> Value {
    if is_lfs(file.size) {
        let p = pointer(&file.sha256, file.size);
        json!({"type": "file", "path": file.path, "size": file.size, "oid": git_blob_sha1(p.as_bytes()),
               "lfs": {"oid": file.sha256, "size": file.size, "pointerSize": p.len()}})
    } else {
        json!({"type": "file", "path": file.path, "size": file.size, "oid": file.git_sha1})
    }
}

/// A folder as `tree` and `paths-info` list it.
pub fn folder_entry(commit: &str, path: &str) -> Value {
    let mut h = Sha1::new();
    h.update(format!("tree {commit} {path}").as_bytes());
    json!({"type": "directory", "path": path, "size": 0, "oid": hex::encode(h.finalize())})
}

/// A file of `model_info`'s `siblings` (with `blobs`: its size, id and LFS pointer).
pub fn sibling(file: &RepoFile, blobs: bool) -> Value {
    if !blobs {
        return json!({"rfilename": file.path});
    }
    let entry = file_entry(file);
    let mut s = json!({"rfilename": file.path, "size": file.size, "blobId": entry["oid"]});
    if let Some(lfs) = entry.get("lfs") {
        s["lfs"] = json!({"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]});
    }
    s
}

/// One entry of a listing: a file, or a folder (by path).
pub enum Entry<'a> {
    File(&'a RepoFile),
    Folder(String),
}

impl Entry<'_> {
    pub fn path(&self) -> &str {
        match self {
            Entry::File(f) => &f.path,
            Entry::Folder(p) => p,
        }
    }

    pub fn json(&self, commit: &str) -> Value {
        match self {
            Entry::File(f) => file_entry(f),
            Entry::Folder(p) => folder_entry(commit, p),
        }
    }
}

/// The files of one version of a repository, and its folders.
pub struct Listing {
    files: Vec<RepoFile>,
    folders: BTreeSet<String>,
}

impl Listing {
    pub fn new(mut files: Vec<RepoFile>) -> Listing {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut folders = BTreeSet::new();
        for f in &files {
            let mut at = 0;
            while let Some(slash) = f.path[at..].find('/') {
                folders.insert(f.path[..at + slash].to_string());
                at += slash + 1;
            }
        }
        Listing { files, folders }
    }

    pub fn files(&self) -> &[RepoFile] {
        &self.files
    }

    pub fn file(&self, path: &str) -> Option<&RepoFile> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok().map(|i| &self.files[i])
    }

    pub fn is_folder(&self, path: &str) -> bool {
        path.is_empty() || self.folders.contains(path)
    }

    /// The file or folder at `path`.
    pub fn find(&self, path: &str) -> Option<Entry<'_>> {
        let path = path.trim_matches('/');
        if let Some(f) = self.file(path) {
            return Some(Entry::File(f));
        }
        self.folders.contains(path).then(|| Entry::Folder(path.to_string()))
    }

    /// What is under the folder `folder` (`""`: the top): directly in it, or with `recursive`
    /// everything below it; files and folders in path order, after the path `after`.
    pub fn under(&self, folder: &str, recursive: bool, after: Option<&str>) -> Vec<Entry<'_>> {
        let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
        let inside = |p: &str| p.starts_with(&prefix) && (recursive || !p[prefix.len()..].contains('/'));
        let after = |p: &str| after.is_none_or(|a| p > a);
        let mut out: Vec<Entry<'_>> = self
            .folders
            .iter()
            .filter(|p| inside(p) && after(p))
            .map(|p| Entry::Folder(p.clone()))
            .chain(self.files.iter().filter(|f| inside(&f.path) && after(&f.path)).map(Entry::File))
            .collect();
        out.sort_by(|a, b| a.path().cmp(b.path()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> RepoFile {
        RepoFile { path: path.into(), size, sha256: "5".repeat(64), git_sha1: "1".repeat(40) }
    }

    #[test]
    fn the_git_blob_id_is_gits() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(git_blob_sha1(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(git_blob_sha1(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn large_files_are_lfs_files_with_a_pointer() {
        let small = file_entry(&file("a.txt", 10));
        assert_eq!(small["oid"], "1".repeat(40));
        assert!(small.get("lfs").is_none());
        let big = file_entry(&file("w.bin", LFS_THRESHOLD));
        assert_eq!(big["lfs"]["oid"], "5".repeat(64));
        let p = pointer(&"5".repeat(64), LFS_THRESHOLD);
        assert_eq!(big["lfs"]["pointerSize"], p.len());
        assert_eq!(big["oid"], git_blob_sha1(p.as_bytes()));
        assert_eq!(etag(&file("w.bin", LFS_THRESHOLD)), "5".repeat(64));
        assert_eq!(etag(&file("a.txt", 10)), "1".repeat(40));
    }

    #[test]
    fn listings_derive_folders_and_page_in_path_order() {
        let l = Listing::new(vec![file("b/c/d.txt", 1), file("a.txt", 1), file("b/e.txt", 1), file("z", 1)]);
        let paths = |v: Vec<Entry<'_>>| v.iter().map(|e| e.path().to_string()).collect::<Vec<_>>();
        assert_eq!(paths(l.under("", false, None)), ["a.txt", "b", "z"]);
        assert_eq!(paths(l.under("", true, None)), ["a.txt", "b", "b/c", "b/c/d.txt", "b/e.txt", "z"]);
        assert_eq!(paths(l.under("b", false, None)), ["b/c", "b/e.txt"]);
        assert_eq!(paths(l.under("", true, Some("b/c"))), ["b/c/d.txt", "b/e.txt", "z"]);
        assert!(matches!(l.find("b/c"), Some(Entry::Folder(_))));
        assert!(matches!(l.find("b/e.txt"), Some(Entry::File(_))));
        assert!(l.find("b/x").is_none() && l.is_folder("") && !l.is_folder("a.txt"));
    }
}
