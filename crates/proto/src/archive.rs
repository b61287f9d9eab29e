//! The list of files of a directory object: its ZIP archive's central directory, parsed from
//! bytes the caller reads (the client by ranged GETs, the server from its store). No I/O here:
//! [`locate`] says where the central directory lies from the archive's tail, [`entries`] reads it.
//!
//! Our archives hold stored entries; the FedML SDK's hold deflated ones and list only files. Both
//! are read the same way: folders an archive leaves implied are listed too, and the object's own
//! top folder (every entry under one folder) is not part of the paths.
//!
//! One rule says which archives can be used as a directory at all, for every reader: the
//! server's index of a version's files (and so `ls` and reading one file), the client's own
//! reading of the central directory (`DirectoryReader`, `--include`) and unpacking a whole
//! download. An archive is refused, naming the entry, when it holds a path twice (readers that
//! keep the first and those that keep the last would disagree), a path both as a file and as a
//! folder, or a name that could land outside the folder it is unpacked into or means another
//! place on another system ([`check_entry_name`]). The client's packer refuses such names
//! before anything is sent ([`check_segment`]).

use crate::ObjectKind;

/// What is read of the end first: the end record, and the ZIP64 locator and record before it.
pub const SHORT_TAIL: u64 = 22 + 20 + 56 + 1024;
/// The end of an archive that always holds its end record: the record, the longest comment,
/// and the ZIP64 locator before it.
pub const TAIL: u64 = 22 + 0xFFFF + 20;
/// The largest central directory read (about ten million files).
pub const MAX_DIRECTORY: u64 = 1 << 30;

/// One file or folder of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// `/`-separated, without the object's top folder nor a trailing `/`.
    pub path: String,
    pub kind: ObjectKind,
    /// The file's size (0 for a folder).
    pub size: u64,
    pub crc: u32,
    /// 0: stored, 8: deflated.
    pub method: u16,
    /// Its data's size in the archive.
    pub compressed: u64,
    /// Where its local header starts (0 for an implied folder).
    pub header: u64,
}

/// Where the central directory lies, from the archive's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located {
    /// At `offset`, `size` bytes, `count` entries.
    Directory { offset: u64, size: u64, count: u64 },
    /// A ZIP64 archive: its 56-byte end record at this offset says where.
    Zip64Record(u64),
    /// No end record in this much of the tail; read [`TAIL`] bytes (or the whole archive).
    NotInTail,
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

/// Why bytes are not a readable archive.
pub fn not_an_archive(why: &str) -> String {
    format!("the object's data is not a readable archive: {why}")
}

/// Why an archive's list of files cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveError {
    /// The bytes are not a readable archive (the message says why).
    Unreadable(String),
    /// A readable archive that cannot be used as a directory: the message names the entry and
    /// says what is wrong with it (see the module's description).
    Refused(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Unreadable(m) | ArchiveError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ArchiveError {}

/// What every reader says of directory object `name` whose archive is refused for `why`.
pub fn cannot_use_as_directory(name: &str, why: &str) -> String {
    format!(
        "{name:?} cannot be used as a directory: {why}; its files cannot be listed, read or unpacked — upload \
         the directory again to replace it"
    )
}

/// Checks one component of a path inside a directory object (the name of a file or folder):
/// answers what is wrong with it, as words that follow the name it is part of. Refused: an
/// empty component, `.` and `..`, a backslash (Windows reads it as a folder separator), a NUL
/// character, and a drive letter (`C:…`, which Windows reads as another disk).
pub fn check_segment(segment: &str) -> Result<(), &'static str> {
    let mut chars = segment.chars();
    let drive = matches!((chars.next(), chars.next()), (Some(letter), Some(':')) if letter.is_ascii_alphabetic());
    if segment.is_empty() {
        Err("has an empty path component (two slashes in a row)")
    } else if segment == "." {
        Err("has a \".\" path component")
    } else if segment == ".." {
        Err("has a \"..\" path component, which could land it outside the destination")
    } else if segment.contains('\\') {
        Err("holds a backslash, which Windows reads as a folder separator")
    } else if segment.contains('\0') {
        Err("holds a NUL character")
    } else if drive {
        Err("starts with a drive letter, which Windows reads as another disk, outside the destination")
    } else {
        Ok(())
    }
}

/// Checks the name of an archive entry as its central directory (or local header) gives it: a
/// `/`-separated relative path, a folder's with one trailing `/`, each component passing
/// [`check_segment`]. Answers what is wrong, naming the entry.
pub fn check_entry_name(raw: &str) -> Result<(), String> {
    let path = raw.strip_suffix('/').unwrap_or(raw);
    if path.is_empty() {
        return Err(format!("the archive holds an entry named {raw:?}, which names no file or folder"));
    }
    if raw.starts_with('/') {
        return Err(format!("the archive entry {raw:?} is an absolute path, which would land outside the destination"));
    }
    for segment in path.split('/') {
        check_segment(segment).map_err(|why| format!("the archive entry {raw:?} {why}"))?;
    }
    Ok(())
}

/// Where the central directory of an archive of `archive_size` bytes lies, from its last
/// `tail.len()` bytes.
pub fn locate(tail: &[u8], archive_size: u64) -> Result<Located, String> {
    // The end record: its signature, with a comment that runs exactly to the end.
    let end = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(tail, i) == 0x0605_4b50 && i + 22 + usize::from(u16_at(tail, i + 20)) == tail.len());
    let Some(end) = end else { return Ok(Located::NotInTail) };
    let count = u64::from(u16_at(tail, end + 10));
    let size = u64::from(u32_at(tail, end + 12));
    let offset = u64::from(u32_at(tail, end + 16));
    if (count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF) && end >= 20 {
        let locator = end - 20;
        if u32_at(tail, locator) == 0x0706_4b50 {
            return Ok(Located::Zip64Record(u64_at(tail, locator + 8)));
        }
    }
    directory(offset, size, count, archive_size)
}

/// Where the central directory lies, from a ZIP64 end record (56 bytes).
pub fn locate_zip64(record: &[u8], archive_size: u64) -> Result<Located, String> {
    if record.len() < 56 || u32_at(record, 0) != 0x0606_4b50 {
        return Err(not_an_archive("a ZIP64 locator that points at no ZIP64 record"));
    }
    directory(u64_at(record, 48), u64_at(record, 40), u64_at(record, 32), archive_size)
}

fn directory(offset: u64, size: u64, count: u64, archive_size: u64) -> Result<Located, String> {
    if size > MAX_DIRECTORY || offset.checked_add(size).is_none_or(|e| e > archive_size) {
        return Err(not_an_archive("a central directory outside the archive"));
    }
    Ok(Located::Directory { offset, size, count })
}

/// Every entry of a central directory (the bytes [`locate`] pointed at), implied folders
/// included, the top folder taken off the paths; in the archive's order, implied folders last.
/// Refuses an archive that cannot be used as a directory (see the module's description).
pub fn entries(cd: &[u8], count: u64) -> Result<Vec<ArchiveEntry>, ArchiveError> {
    let unreadable = |why: &str| ArchiveError::Unreadable(not_an_archive(why));
    let mut out = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut at = 0usize;
    while at + 46 <= cd.len() && u32_at(cd, at) == 0x0201_4b50 {
        let method = u16_at(cd, at + 10);
        let crc = u32_at(cd, at + 16);
        let mut compressed = u64::from(u32_at(cd, at + 20));
        let mut plain = u64::from(u32_at(cd, at + 24));
        let (name_len, extra_len, comment_len) =
            (usize::from(u16_at(cd, at + 28)), usize::from(u16_at(cd, at + 30)), usize::from(u16_at(cd, at + 32)));
        let mut header = u64::from(u32_at(cd, at + 42));
        let name_at = at + 46;
        let next = name_at + name_len + extra_len + comment_len;
        if next > cd.len() {
            return Err(unreadable("a central directory entry runs past its end"));
        }
        let name = std::str::from_utf8(&cd[name_at..name_at + name_len])
            .map_err(|_| unreadable("a file name that is not UTF-8"))?;
        check_entry_name(name).map_err(ArchiveError::Refused)?;
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
        let folder = name.ends_with('/');
        out.push(ArchiveEntry {
            path: name.strip_suffix('/').unwrap_or(name).to_string(),
            kind: if folder { ObjectKind::Directory } else { ObjectKind::File },
            size: if folder { 0 } else { plain },
            crc,
            method,
            compressed,
            header,
        });
        at = next;
    }
    // Each path once: readers that keep the first of two entries and those that keep the last
    // (unpacking does) would read different bytes under one name.
    let mut listed: std::collections::HashMap<&str, ObjectKind> = std::collections::HashMap::with_capacity(out.len());
    for e in &out {
        match listed.insert(e.path.as_str(), e.kind) {
            None => {}
            Some(kind) if kind == e.kind => {
                return Err(ArchiveError::Refused(format!("the archive holds {:?} twice", e.path)));
            }
            Some(_) => {
                return Err(ArchiveError::Refused(format!(
                    "the archive holds {:?} both as a file and as a folder",
                    e.path
                )));
            }
        }
    }
    // Folders an archive leaves implied (the FedML SDK's lists only files) are listed too.
    let mut implied = std::collections::BTreeSet::new();
    for e in &out {
        let mut parent = e.path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            match listed.get(up) {
                Some(ObjectKind::File) => {
                    return Err(ArchiveError::Refused(format!(
                        "the archive holds {up:?} both as a file and as a folder"
                    )));
                }
                Some(ObjectKind::Directory) => {}
                None => {
                    implied.insert(up.to_string());
                }
            }
            parent = up;
        }
    }
    for path in implied {
        out.push(ArchiveEntry {
            path,
            kind: ObjectKind::Directory,
            size: 0,
            crc: 0,
            method: 0,
            compressed: 0,
            header: 0,
        });
    }
    // The object's own top folder (every entry under one folder) is not part of the paths.
    let top = out.first().and_then(|e| e.path.split('/').next()).unwrap_or("").to_string();
    let under = |p: &str| p == top || p.starts_with(&format!("{top}/"));
    if !top.is_empty() && out.iter().all(|e| under(&e.path)) {
        out.retain(|e| e.path != top);
        for e in &mut out {
            e.path = e.path[top.len() + 1..].to_string();
        }
    }
    Ok(out)
}

/// Where a file's data starts, from the first 30 bytes of its local header (at `header`).
pub fn data_start(header: u64, local: &[u8]) -> Result<u64, String> {
    if local.len() < 30 || u32_at(local, 0) != 0x0403_4b50 {
        return Err(not_an_archive("no local header where the central directory says"));
    }
    Ok(header + 30 + u64::from(u16_at(local, 26)) + u64::from(u16_at(local, 28)))
}

/// The folder a path is in (`""` at the top) and its last component.
pub fn split_path(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A central directory naming `names` (each a stored, empty entry).
    fn directory(names: &[&str]) -> Vec<u8> {
        let mut cd = Vec::new();
        for name in names {
            let mut header = [0u8; 46];
            header[..4].copy_from_slice(&0x0201_4b50u32.to_le_bytes());
            header[28..30].copy_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&header);
            cd.extend_from_slice(name.as_bytes());
        }
        cd
    }

    fn listed(names: &[&str]) -> Result<Vec<String>, ArchiveError> {
        let mut paths: Vec<String> = entries(&directory(names), names.len() as u64)?
            .into_iter()
            .map(|e| if e.kind == ObjectKind::Directory { format!("{}/", e.path) } else { e.path })
            .collect();
        paths.sort();
        Ok(paths)
    }

    fn refused(names: &[&str]) -> String {
        match listed(names) {
            Err(ArchiveError::Refused(why)) => why,
            other => panic!("{names:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_sound_archive_lists_its_files_and_implied_folders_without_its_top() {
        let names = ["top/", "top/a.txt", "top/b/c.bin", "top/d/", "top/12:30.log", "top/é ✓.json"];
        let expected = ["12:30.log", "a.txt", "b/", "b/c.bin", "d/", "é ✓.json"];
        assert_eq!(listed(&names).expect("listed"), expected);
        // The FedML SDK's archives list only files, under no common top.
        assert_eq!(listed(&["a/b.txt", "c.txt"]).expect("listed"), ["a/", "a/b.txt", "c.txt"]);
    }

    #[test]
    fn names_that_leave_the_folder_or_mean_another_place_are_refused_naming_the_entry() {
        for (name, says) in [
            ("../evil.txt", "\"..\" path component"),
            ("top/../../evil.txt", "\"..\" path component"),
            ("top/a/../b.txt", "\"..\" path component"),
            ("/etc/passwd", "absolute path"),
            ("top//b.txt", "empty path component"),
            ("top/b//", "empty path component"),
            ("top/./b.txt", "\".\" path component"),
            ("./b.txt", "\".\" path component"),
            ("top\\..\\..\\evil.txt", "backslash"),
            ("top/a\\b.txt", "backslash"),
            ("C:/evil.txt", "drive letter"),
            ("top/c:evil.txt", "drive letter"),
            ("top/nul\0.txt", "NUL"),
            ("/", "names no file or folder"),
        ] {
            let why = refused(&["top/ok.txt", name]);
            assert!(why.contains(&format!("{name:?}")) && why.contains(says), "{name:?}: {why}");
            assert_eq!(check_entry_name(name), Err(why), "the one rule, on its own");
        }
        for name in ["top/ok.txt", "top/folder/", "a", "top/.hidden", "top/..dots", "top/ab:c", "top/1:2"] {
            assert_eq!(check_entry_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn a_path_held_twice_or_as_a_file_and_a_folder_is_refused_naming_it() {
        assert_eq!(refused(&["top/a.txt", "top/b.txt", "top/a.txt"]), "the archive holds \"top/a.txt\" twice");
        assert_eq!(refused(&["top/d/", "top/d/"]), "the archive holds \"top/d\" twice");
        assert_eq!(refused(&["top/a", "top/a/"]), "the archive holds \"top/a\" both as a file and as a folder");
        assert_eq!(refused(&["top/a", "top/a/b.txt"]), "the archive holds \"top/a\" both as a file and as a folder");
        // A folder listed and also implied by its files is one folder.
        assert_eq!(listed(&["top/d/", "top/d/e.txt"]).expect("listed"), ["d/", "d/e.txt"]);
    }

    #[test]
    fn each_component_is_checked_on_its_own() {
        for segment in ["", ".", "..", "a\\b", "C:", "z:file", "nul\0"] {
            assert!(check_segment(segment).is_err(), "{segment:?}");
        }
        for segment in ["a", "...", ".env", "ab:c", "1:2", "données ✓", "C"] {
            assert_eq!(check_segment(segment), Ok(()), "{segment:?}");
        }
    }
}
