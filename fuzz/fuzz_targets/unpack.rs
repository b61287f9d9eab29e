//! Unpacking a directory object (crates/client/src/unpack.rs) from arbitrary bytes: no input
//! panics, and nothing is ever created outside the destination. The destination sits alone in a
//! fresh folder; after each run that folder must hold the destination and nothing else, and the
//! destination no links.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch folder for the whole process, removed at exit by nobody: it lives in the system
/// temporary directory and holds nothing between runs.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fedml-fuzz-unpack-{}", std::process::id()));
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

fuzz_target!(|data: &[u8]| {
    let base = scratch();
    let parent = base.join("run");
    let dest = parent.join("dest");
    std::fs::create_dir_all(&dest).expect("destination");
    let _ = fedml_client::unpack::extract_from(std::io::Cursor::new(data), &dest);

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
