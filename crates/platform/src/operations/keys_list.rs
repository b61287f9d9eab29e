//! A namespace listed as S3 lists a bucket (ListObjectsV2): every key in byte order, filtered by
//! a prefix, grouped into common prefixes at a delimiter, paged after a key.
//!
//! The keys of a namespace are the names of its file objects and, for each directory object
//! `ds`, the paths of its files as `ds/<path>` (files only, never folders; the directory object
//! itself is no key). Since a name is either data or a folder of names (`Catalogue::name_clash`),
//! no other object's name starts with `ds/`: a directory's keys are one run of the order,
//! starting at `ds/`, read from its file index (built first when it is not yet).
//!
//! A page costs one indexed range read of the objects in the common case; a common prefix is
//! skipped whole with the next read starting after it (so a prefix holding 100,000 keys costs
//! what one key costs), and with the delimiter `/` a directory object is its prefix `ds/`
//! without its files being read at all.

use std::collections::BTreeMap;

use fedml_proto::ObjectKind;

use super::{Caller, Need, Platform};
use crate::catalogue::{ObjectRecord, RangeStart, after_all_starting_with};
use crate::error::{Error, Result};

/// The most keys and prefixes a page holds (S3's own limit).
pub const MAX_KEYS: usize = 1000;

/// What a listing asks for, as ListObjectsV2 takes it.
#[derive(Debug, Clone, Copy)]
pub struct KeyQuery<'a> {
    /// Only keys that start with this (`""`: all).
    pub prefix: &'a str,
    /// Keys with this after the prefix are rolled up into one common prefix: the key up to and
    /// including its first occurrence. `None` or `""`: no grouping.
    pub delimiter: Option<&'a str>,
    /// Only what comes strictly after this (S3's `start-after`, or the `next_after` of the page
    /// before). When it lies inside a common prefix, that whole prefix is behind it (so a page
    /// that ended on a prefix goes on after it).
    pub after: Option<&'a str>,
    /// The most keys and prefixes together: 1 to [`MAX_KEYS`] (clamped).
    pub max: usize,
}

/// One key of a listing.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub key: String,
    pub size: u64,
    /// When its object was last written (Unix milliseconds; a directory object's files share it).
    pub modified_ms: i64,
    /// The file object the key names (a listing record: its content is not read); `None` for a
    /// file inside a directory object.
    pub record: Option<ObjectRecord>,
    /// For a file inside a directory object: that object's name and the file's path in it.
    pub inside: Option<(String, String)>,
    /// An object's checksum as stored (BLAKE3); a file inside a directory object's CRC-32 (8
    /// hex digits, from its archive).
    pub checksum: String,
}

/// A page of a listing.
#[derive(Debug, Clone, Default)]
pub struct KeyPage {
    /// The keys, in byte order.
    pub entries: Vec<KeyEntry>,
    /// The common prefixes, in byte order, each once.
    pub prefixes: Vec<String>,
    /// Whether more keys or prefixes come after this page.
    pub truncated: bool,
    /// The last key or prefix of the page when it is truncated: pass it as `after` to go on.
    pub next_after: Option<String>,
}

impl Platform {
    /// A page of the keys of `namespace` (the caller's own with `None`) as S3's ListObjectsV2
    /// answers it: see [`KeyQuery`] and the module's documentation.
    pub async fn list_keys(&self, caller: &Caller, namespace: Option<&str>, q: &KeyQuery<'_>) -> Result<KeyPage> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        Walk::new(self, &here.id, q).await?.run().await
    }
}

/// Something the walk holds before its turn: a file object (its key is its name) or a directory
/// object (its keys start at its name and `/`).
enum Held {
    File(ObjectRecord),
    Directory(ObjectRecord),
}

/// Rows read per range read once a common prefix was skipped (then doubled while none is).
const FIRST_RUN: usize = 16;

/// One listing under way: keys come out in order from the objects read so far (`held`, by where
/// their keys start), up to the frontier of the objects read.
struct Walk<'a> {
    platform: &'a Platform,
    owner_id: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    max: usize,
    /// No key comes before this (the start, moved on past each key and skipped prefix).
    low: RangeStart,
    /// Where the prefix's keys end (`None`: the end of the namespace).
    end: Option<String>,
    /// Objects are read up to here: any object not read yet has a name from here on.
    frontier: RangeStart,
    /// No object is left to read.
    exhausted: bool,
    /// No key is left at all (a prefix that ends the order was skipped).
    done: bool,
    held: BTreeMap<String, Held>,
    /// Rows per read: the page's need, or fewer after a skip (see [`FIRST_RUN`]).
    run: usize,
    page: KeyPage,
    /// Keys and prefixes found (one more than `max` says the page is truncated).
    found: usize,
    last: Option<String>,
}

impl<'a> Walk<'a> {
    async fn new(platform: &'a Platform, owner_id: &'a str, q: &'a KeyQuery<'_>) -> Result<Walk<'a>> {
        let delimiter = q.delimiter.filter(|d| !d.is_empty());
        let mut done = false;
        let mut low = RangeStart::at(q.prefix);
        if let Some(after) = q.after {
            low = low.max(RangeStart::after(after));
            // After a key inside a common prefix: the whole prefix is behind.
            if let Some(prefix) = common_prefix(q.prefix, delimiter, after) {
                match after_all_starting_with(prefix) {
                    Some(past) => low = low.max(RangeStart::at(past)),
                    None => done = true,
                }
            }
        }
        let end = after_all_starting_with(q.prefix);
        if end.as_deref().is_some_and(|end| low.key.as_bytes() >= end.as_bytes()) {
            done = true;
        }
        let mut walk = Walk {
            platform,
            owner_id,
            prefix: q.prefix,
            delimiter,
            max: q.max.clamp(1, MAX_KEYS),
            frontier: low.clone(),
            low,
            end,
            exhausted: done,
            done,
            held: BTreeMap::new(),
            run: q.max.clamp(1, MAX_KEYS) + 1,
            page: KeyPage::default(),
            found: 0,
            last: None,
        };
        if !done {
            walk.hold_straddling().await?;
        }
        Ok(walk)
    }

    /// The directory objects whose keys reach past the start though their names lie before it:
    /// the one the prefix lies in (`ds` for the prefix `ds/train/`: then it is all there is), and
    /// those whose name the start begins with, followed by a character up to `/` (`ds` for a start
    /// `ds-x` or `ds/m`, since `ds/…` comes after both).
    async fn hold_straddling(&mut self) -> Result<()> {
        let catalogue = &self.platform.catalogue;
        let folders: Vec<&str> = fedml_proto::rules::folders_of(self.prefix).filter(|f| short(f)).collect();
        if let Some(directory) = catalogue.directories_named(self.owner_id, &folders).await?.into_iter().next() {
            self.exhausted = true;
            self.held.insert(format!("{}/", directory.meta.data_name), Held::Directory(directory));
            return Ok(());
        }
        let start = self.low.key.as_str();
        let mut names: Vec<&str> = start
            .char_indices()
            .filter(|(at, c)| *at >= self.prefix.len() && *at > 0 && (' '..='/').contains(c))
            .map(|(at, _)| &start[..at])
            .filter(|name| short(name) && name.starts_with(self.prefix))
            .collect();
        if short(start) && start.starts_with(self.prefix) && !start.is_empty() {
            names.push(start);
        }
        for directory in catalogue.directories_named(self.owner_id, &names).await? {
            self.held.insert(format!("{}/", directory.meta.data_name), Held::Directory(directory));
        }
        Ok(())
    }

    async fn run(mut self) -> Result<KeyPage> {
        while self.found <= self.max && !self.done {
            let first = self.held.first_key_value().map(|(at, _)| at.as_str());
            let ready = match first {
                Some(at) => self.exhausted || self.frontier_passed(at),
                None => false,
            };
            if !ready {
                if self.exhausted {
                    break;
                }
                self.read_objects().await?;
                continue;
            }
            let Some((at, held)) = self.held.pop_first() else { break };
            match held {
                Held::File(record) => {
                    let key = record.meta.data_name.clone();
                    if self.low.admits(&key) {
                        let entry = KeyEntry {
                            size: record.meta.size,
                            modified_ms: record.updated_ms,
                            checksum: record.meta.checksum.clone(),
                            inside: None,
                            key: key.clone(),
                            record: Some(record),
                        };
                        self.found_key(key, || entry);
                    }
                }
                Held::Directory(record) => self.walk_directory(at, record).await?,
            }
        }
        let mut page = self.page;
        page.truncated = self.found > self.max;
        if page.truncated {
            page.next_after = self.last;
        }
        Ok(page)
    }

    /// Whether every object not read yet comes after `at` (so what is held there is next).
    fn frontier_passed(&self, at: &str) -> bool {
        match at.as_bytes().cmp(self.frontier.key.as_bytes()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => !self.frontier.inclusive,
            std::cmp::Ordering::Greater => false,
        }
    }

    /// Reads the next objects after the frontier and holds them where their keys start.
    async fn read_objects(&mut self) -> Result<()> {
        let want = self.run.max(1);
        let rows =
            self.platform.catalogue.objects_in_range(self.owner_id, &self.frontier, self.end.as_deref(), want).await?;
        if rows.len() < want {
            self.exhausted = true;
        }
        if let Some(last) = rows.last() {
            self.frontier = RangeStart::after(last.meta.data_name.clone());
        }
        for record in rows {
            match record.meta.kind {
                ObjectKind::File => {
                    self.held.insert(record.meta.data_name.clone(), Held::File(record));
                }
                ObjectKind::Directory => {
                    self.held.insert(format!("{}/", record.meta.data_name), Held::Directory(record));
                }
            }
        }
        self.run = (self.run * 2).min(self.max + 1);
        Ok(())
    }

    /// The keys of the directory object `record`, which start at `at` (its name and `/`).
    async fn walk_directory(&mut self, at: String, record: ObjectRecord) -> Result<()> {
        // With a delimiter in its name's part after the prefix, every key of it rolls up into
        // one common prefix: its files need not be read.
        if let Some(prefix) = common_prefix(self.prefix, self.delimiter, &at) {
            self.found_prefix(prefix.to_string());
            return Ok(());
        }
        let Some(record) = self.indexed(record).await? else { return Ok(()) };
        let name = record.meta.data_name.clone();
        let block_end = after_all_starting_with(&at);
        let end = match (&self.end, &block_end) {
            (Some(a), Some(b)) => Some(if a.as_bytes() < b.as_bytes() { a.clone() } else { b.clone() }),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let relative_end = end.as_deref().and_then(|e| e.strip_prefix(at.as_str()));
        let mut run = (self.max + 1 - self.found.min(self.max)).max(1);
        while self.found <= self.max && !self.done {
            let start = self.low.clone().max(RangeStart::at(at.clone()));
            if end.as_deref().is_some_and(|e| start.key.as_bytes() >= e.as_bytes()) {
                break;
            }
            let Some(inner) = start.key.strip_prefix(at.as_str()) else { break };
            let inner = RangeStart { key: inner.to_string(), inclusive: start.inclusive };
            let files = self.platform.catalogue.files_in_range(&record.blob_key, &inner, relative_end, run).await?;
            let skips_before = self.page.prefixes.len();
            for file in &files {
                let key = format!("{at}{}", file.entry.path);
                if !self.low.admits(&key) {
                    continue;
                }
                let entry = || KeyEntry {
                    key: key.clone(),
                    size: file.entry.size,
                    modified_ms: record.updated_ms,
                    record: None,
                    inside: Some((name.clone(), file.entry.path.clone())),
                    checksum: file.entry.crc32.clone(),
                };
                self.found_key(key.clone(), entry);
                if self.found > self.max {
                    break;
                }
            }
            if files.len() < run {
                break;
            }
            run = if self.page.prefixes.len() > skips_before {
                FIRST_RUN
            } else {
                (run * 2).min(self.max + 1 - self.found.min(self.max)).max(1)
            };
        }
        Ok(())
    }

    /// The directory object `record` with its file index built; `None` when its archive cannot
    /// be used as a directory (then it has no keys: the listing goes on without it).
    async fn indexed(&self, record: ObjectRecord) -> Result<Option<ObjectRecord>> {
        let catalogue = &self.platform.catalogue;
        if catalogue.indexed_files(&record.blob_key).await?.is_some() {
            return Ok(Some(record));
        }
        // A listing record has no content: the one indexed is read whole (and is the latest).
        let full = match catalogue.object(&record.owner_id, &record.meta.data_name).await {
            Ok(full) if full.meta.kind == ObjectKind::Directory => full,
            Ok(_) | Err(crate::catalogue::CatalogueError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match self.platform.index(&full).await {
            Ok(()) => Ok(Some(full)),
            Err(Error::Invalid(why)) => {
                tracing::warn!(object = %full.meta.data_name, %why, "a directory object's files are left out of a listing");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Counts the key `key` in, or its common prefix when it has one.
    fn found_key(&mut self, key: String, entry: impl FnOnce() -> KeyEntry) {
        match common_prefix(self.prefix, self.delimiter, &key) {
            Some(prefix) => {
                let prefix = prefix.to_string();
                self.found_prefix(prefix);
            }
            None => {
                self.found += 1;
                if self.found <= self.max {
                    self.page.entries.push(entry());
                    self.last = Some(key.clone());
                }
                self.low = RangeStart::after(key);
            }
        }
    }

    /// Counts the common prefix `prefix` in (unless the start is past it) and moves past every
    /// key that starts with it.
    fn found_prefix(&mut self, prefix: String) {
        let counted = self.low.admits(&prefix);
        let past = after_all_starting_with(&prefix);
        // What is held inside the prefix goes with it.
        let inside: Vec<String> = self.held.keys().filter(|at| at.starts_with(&prefix)).cloned().collect();
        for at in inside {
            self.held.remove(&at);
        }
        match past {
            Some(past) => {
                self.low = RangeStart::at(past.clone());
                self.frontier = self.frontier.clone().max(RangeStart::at(past));
            }
            None => {
                self.exhausted = true;
                self.done = true;
                self.held.clear();
            }
        }
        if !counted {
            return;
        }
        self.found += 1;
        if self.found <= self.max {
            self.last = Some(prefix.clone());
            self.page.prefixes.push(prefix);
        }
        self.run = FIRST_RUN.min(self.max + 1);
    }
}

/// The common prefix of `key` under `prefix` and `delimiter`: the key up to and including the
/// first occurrence of the delimiter after the prefix; `None` without one (or a key outside the
/// prefix).
fn common_prefix<'k>(prefix: &str, delimiter: Option<&str>, key: &'k str) -> Option<&'k str> {
    let delimiter = delimiter?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(delimiter).map(|at| &key[..prefix.len() + at + delimiter.len()])
}

/// Whether `name` is short enough to be an object's name (longer ones are not looked up).
fn short(name: &str) -> bool {
    !name.is_empty() && name.len() <= fedml_proto::rules::MAX_NAME_BYTES
}

#[cfg(test)]
#[path = "keys_list_tests.rs"]
mod tests;
