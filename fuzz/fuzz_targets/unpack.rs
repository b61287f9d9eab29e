//! Unpacking a directory object (crates/client/src/unpack.rs) from arbitrary bytes: no input
//! panics, and nothing is ever created outside the destination. The destination sits alone in a
//! fresh folder; after each run that folder must hold the destination and nothing else, and the
//! destination no links; and no place outside that an entry names (absolute or `..` paths) may
//! have come into being.

#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch folder for the whole process, empty between runs: under `$FEDML_FUZZ_SCRATCH`
/// (scripts/fuzz sets it and removes it afterwards), else the system temporary directory.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = std::env::var_os("FEDML_FUZZ_SCRATCH").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = parent.join(format!("fedml-fuzz-unpack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// Every path under `dir`, not following links.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::fs::FileType)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("file type");
        out.push((entry.path(), kind));
        if kind.is_dir() {
            walk(&entry.path(), out);
        }
    }
}

/// Where an entry name would land if it were joined to `dest` without any check (`..` and
/// absolute names resolved lexically).
fn naive_target(dest: &Path, name: &str) -> PathBuf {
    let mut out = dest.to_path_buf();
    for c in Path::new(name).components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out = PathBuf::from("/"),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            Component::Normal(part) => out.push(part),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let base = scratch();
    let parent = base.join("run");
    let dest = parent.join("dest");
    std::fs::create_dir_all(&dest).expect("destination");
    // Entries that name a place outside the scratch folder (absolute, or climbing out with
    // `..`): none of those places may come into being.
    let outside: Vec<(PathBuf, bool)> = zip::ZipArchive::new(std::io::Cursor::new(data))
        .map(|z| {
            z.file_names()
                .map(|n| naive_target(&dest, n))
                .filter(|p| !p.starts_with(base))
                .map(|p| {
                    let existed = p.symlink_metadata().is_ok();
                    (p, existed)
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = fedml_client::unpack::extract_from(std::io::Cursor::new(data), &dest);
    for (path, existed) in &outside {
        assert!(*existed || path.symlink_metadata().is_err(), "created outside the scratch folder: {}", path.display());
    }

    let mut found = Vec::new();
    walk(base, &mut found);
    for (path, kind) in &found {
        assert!(path == &parent || path.starts_with(&dest), "created outside the destination: {}", path.display());
        assert!(!kind.is_symlink(), "a link was unpacked: {}", path.display());
    }
    if let Ok(root) = fedml_client::unpack::content_root(&dest) {
        assert!(root.starts_with(&dest), "content root {} outside the destination", root.display());
    }
    std::fs::remove_dir_all(&parent).expect("clean up");
});
