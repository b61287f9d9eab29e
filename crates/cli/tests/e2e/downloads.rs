//! Where a download lands, through the real `fedml` binary: what it may replace there without
//! being asked (a file over a file, a directory over an earlier download of the same directory
//! object), what it refuses and leaves untouched (everything else), `--replace`, names at the
//! 255-byte limit, and a folder that downloads went into uploaded without what they left there.

use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;

/// `fedml storage ARGS… -k KEY --server URL` with no inherited FedML settings.
fn storage(server: &TestServer, config_dir: &Path, args: &[OsString]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedml"))
        .env("FEDML_CONFIG_DIR", config_dir)
        .env_remove("FEDML_API_KEY")
        .env_remove("FEDML_SERVER_URL")
        .arg("storage")
        .args(args)
        .args(["-k", &server.admin_key, "--server", &server.url])
        .output()
        .expect("run fedml")
}

struct Cli<'a> {
    server: &'a TestServer,
    config: std::path::PathBuf,
}

impl Cli<'_> {
    fn upload(&self, path: &Path, name: Option<&str>) {
        let mut args: Vec<OsString> = vec!["upload".into(), path.into(), "--no-progress".into()];
        if let Some(name) = name {
            args.extend(["-n".into(), name.into()]);
        }
        let out = storage(self.server, &self.config, &args);
        assert!(out.status.success(), "upload {}: {}", path.display(), said(&out));
    }

    fn download(&self, name: &str, dest: &Path, extra: &[&str]) -> Output {
        let mut args: Vec<OsString> =
            vec!["download".into(), name.into(), "-d".into(), dest.into(), "--no-progress".into()];
        args.extend(extra.iter().map(OsString::from));
        storage(self.server, &self.config, &args)
    }
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The download was refused: exit 1, a FAILURE naming the path and what is there, saying how
/// to go ahead.
fn assert_in_the_way(out: &Output, path: &Path, what: &str) {
    let text = said(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILURE"), "{text}");
    assert!(text.contains(&format!("{} is in the way: it is {what}", path.display())), "{text}");
    assert!(text.contains("--replace") && text.contains("another destination"), "does not say what to do: {text}");
}

/// The names in `dir`, our own marker files left out.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".fedml-download-"))
        .collect();
    names.sort();
    names
}

fn setup(server: &TestServer) -> (tempfile::TempDir, Cli<'_>) {
    let work = tempfile::tempdir().expect("tmp");
    let cli = Cli { server, config: work.path().join("cfg") };
    (work, cli)
}

#[test]
fn a_file_object_never_destroys_a_directory_in_its_way() {
    let server = TestServer::start();
    let (work, cli) = setup(&server);
    let file = work.path().join("symfile");
    std::fs::write(&file, b"the stored file").expect("write");
    cli.upload(&file, None);

    // The thesis case: d/symfile/important/thesis.txt is in the way of the file object.
    let d = work.path().join("d");
    std::fs::create_dir_all(d.join("symfile/important")).expect("mkdir");
    std::fs::write(d.join("symfile/important/thesis.txt"), b"four years of work").expect("write");
    let out = cli.download("symfile", &d, &[]);
    assert_in_the_way(&out, &d.join("symfile"), "a directory (holding 1 entry), and \"symfile\" is a file object");
    assert_eq!(std::fs::read(d.join("symfile/important/thesis.txt")).expect("thesis"), b"four years of work");
    assert_eq!(entries(&d), vec!["symfile".to_string()], "nothing temporary left beside it");

    // A symbolic link in the way: neither the link nor what it points to is touched.
    let elsewhere = work.path().join("elsewhere.txt");
    std::fs::write(&elsewhere, b"not yours to replace").expect("write");
    let l = work.path().join("l");
    std::fs::create_dir(&l).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, l.join("symfile")).expect("link");
    let out = cli.download("symfile", &l, &[]);
    assert_in_the_way(&out, &l.join("symfile"), &format!("a symbolic link to {}", elsewhere.display()));
    assert_eq!(std::fs::read_link(l.join("symfile")).expect("still a link"), elsewhere);
    assert_eq!(std::fs::read(&elsewhere).expect("read"), b"not yours to replace");

    // A FIFO in the way: refused at once (nothing ever opens it, so nothing blocks).
    let p = work.path().join("p");
    std::fs::create_dir(&p).expect("mkdir");
    assert!(Command::new("mkfifo").arg(p.join("symfile")).status().expect("mkfifo").success());
    let out = cli.download("symfile", &p, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["code"], "FAILURE");
    assert!(v["message"].as_str().expect("message").contains("a named pipe (FIFO)"), "{v}");
    assert!(std::fs::symlink_metadata(p.join("symfile")).expect("fifo").file_type().is_fifo());

    // A regular file in the way is what a file object replaces: allowed, new bytes.
    let f = work.path().join("f");
    std::fs::create_dir(&f).expect("mkdir");
    std::fs::write(f.join("symfile"), b"an older copy").expect("write");
    let out = cli.download("symfile", &f, &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(std::fs::read(f.join("symfile")).expect("read"), b"the stored file");
    assert_eq!(entries(&f), vec!["symfile".to_string()]);

    // Asked for explicitly, the directory and the link are replaced (the link itself, not what
    // it points to).
    let out = cli.download("symfile", &d, &["--replace"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(std::fs::read(d.join("symfile")).expect("read"), b"the stored file");
    assert_eq!(entries(&d), vec!["symfile".to_string()], "the old directory is gone, nothing left aside");
    let out = cli.download("symfile", &l, &["--replace"]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(std::fs::symlink_metadata(l.join("symfile")).expect("file").is_file());
    assert_eq!(std::fs::read(&elsewhere).expect("read"), b"not yours to replace");
}

#[test]
fn a_directory_object_replaces_only_its_own_earlier_download() {
    let server = TestServer::start();
    let (work, cli) = setup(&server);
    let tree = work.path().join("ds");
    sample_tree(&tree);
    cli.upload(&tree, None);
    let d = work.path().join("d");

    // An unrelated directory in the way: refused, untouched.
    std::fs::create_dir_all(d.join("ds")).expect("mkdir");
    std::fs::write(d.join("ds/notes.txt"), b"mine").expect("write");
    let out = cli.download("ds", &d, &[]);
    assert_in_the_way(
        &out,
        &d.join("ds"),
        "a directory (holding 1 entry) that no earlier download of \"ds\" put there",
    );
    assert_eq!(std::fs::read(d.join("ds/notes.txt")).expect("read"), b"mine");
    assert_eq!(entries(&d), vec!["ds".to_string()]);

    // A file where the directory goes: refused, untouched.
    let f = work.path().join("f");
    std::fs::create_dir(&f).expect("mkdir");
    std::fs::write(f.join("ds"), b"a file").expect("write");
    let out = cli.download("ds", &f, &[]);
    assert_in_the_way(&out, &f.join("ds"), "a file, and \"ds\" is a directory object");
    assert_eq!(std::fs::read(f.join("ds")).expect("read"), b"a file");

    // A link to a directory: refused, and what it points to is untouched.
    let l = work.path().join("l");
    std::fs::create_dir(&l).expect("mkdir");
    std::os::unix::fs::symlink(d.join("ds"), l.join("ds")).expect("link");
    let out = cli.download("ds", &l, &[]);
    assert_in_the_way(&out, &l.join("ds"), "a symbolic link");
    assert_eq!(std::fs::read(d.join("ds/notes.txt")).expect("read"), b"mine");

    // A fresh download, then a re-download over it: replaced whole, nothing stale, nothing
    // temporary beside it.
    let fresh = work.path().join("fresh");
    let out = cli.download("ds", &fresh, &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert_same_tree(&tree, &fresh.join("ds"));
    std::fs::write(fresh.join("ds/stale.txt"), b"old").expect("write");
    let out = cli.download("ds", &fresh, &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert_same_tree(&tree, &fresh.join("ds"));
    assert_eq!(entries(&fresh), vec!["ds".to_string()]);

    // The earlier download moved away and another directory made in its place: not ours.
    std::fs::rename(fresh.join("ds"), fresh.join("moved")).expect("mv");
    std::fs::create_dir(fresh.join("ds")).expect("mkdir");
    std::fs::write(fresh.join("ds/new.txt"), b"made by hand").expect("write");
    let out = cli.download("ds", &fresh, &[]);
    assert_in_the_way(&out, &fresh.join("ds"), "a directory (holding 1 entry) that no earlier download");
    assert_eq!(std::fs::read(fresh.join("ds/new.txt")).expect("read"), b"made by hand");

    // A file object of the same name, later, does not replace the directory download either.
    let file = work.path().join("plain");
    std::fs::write(&file, b"now a file").expect("write");
    let other = work.path().join("other");
    let out = cli.download("ds", &other, &[]);
    assert!(out.status.success(), "{}", said(&out));
    let r = fedml_client::upload_with(
        &file,
        &fedml_client::UploadOptions { overwrite: true, ..upload_opts(server.admin(), "ds") },
    );
    assert!(r.is_success(), "{}", r.message);
    let out = cli.download("ds", &other, &[]);
    assert_in_the_way(&out, &other.join("ds"), "the directory an earlier download of \"ds\" left there");
    assert_same_tree(&tree, &other.join("ds"));

    // --replace: whatever is there goes, and the new download is recognised next time.
    let out = cli.download("ds", &other, &["--replace"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(std::fs::read(other.join("ds")).expect("read"), b"now a file");
    assert_eq!(entries(&other), vec!["ds".to_string()]);
    let r = fedml_client::upload_with(
        &tree,
        &fedml_client::UploadOptions { overwrite: true, ..upload_opts(server.admin(), "ds") },
    );
    assert!(r.is_success(), "{}", r.message);
    let out = cli.download("ds", &d, &["--replace"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_same_tree(&tree, &d.join("ds"));
    let out = cli.download("ds", &d, &[]);
    assert!(out.status.success(), "an earlier download with --replace is recognised: {}", said(&out));
}

/// Names of exactly 255 bytes (the limit of a file name on most file systems), ASCII and
/// multi-byte UTF-8: a file object and a directory object upload, download, and download again
/// over the earlier copy, byte for byte.
#[test]
fn names_of_255_bytes_download_and_download_again() {
    let server = TestServer::start();
    let (work, cli) = setup(&server);
    let names = ["n".repeat(255), "数".repeat(85), format!("{}x", "é".repeat(127)), format!("{}abc", "🦀".repeat(63))];
    for (i, name) in names.iter().enumerate() {
        assert_eq!(name.len(), 255, "{name}");
        assert!(fedml_proto::rules::check_name(name).is_ok());
        // The local file and folder carry the long name themselves: the default object name.
        let local = work.path().join(format!("src{i}"));
        std::fs::create_dir(&local).expect("mkdir");
        let file = local.join(name);
        let data = bytes((3 << 20) + i, i as u64);
        std::fs::write(&file, &data).expect("write a 255-byte name");
        cli.upload(&file, None);
        let tree = work.path().join(format!("tree{i}"));
        sample_tree(&tree);
        std::fs::write(tree.join(name), b"a long name inside too").expect("write");
        // Another 255-byte name for the directory object: the same characters, padded.
        let mut dir_name = String::new();
        for c in name.chars() {
            if dir_name.len() + c.len_utf8() > 252 {
                break;
            }
            dir_name.push(c);
        }
        while dir_name.len() < 255 {
            dir_name.push('d');
        }
        cli.upload(&tree, Some(&dir_name));

        let dest = work.path().join(format!("out{i}"));
        for round in ["first", "again"] {
            let out = cli.download(name, &dest, &[]);
            assert!(out.status.success(), "{round} download of the file {name}: {}", said(&out));
            assert!(std::fs::read(dest.join(name)).expect("read") == data, "{round}: bytes differ");
            let out = cli.download(&dir_name, &dest, &[]);
            assert!(out.status.success(), "{round} download of the directory {dir_name}: {}", said(&out));
            assert_same_tree(&tree, &dest.join(&dir_name));
            let mut want = vec![name.clone(), dir_name.clone()];
            want.sort();
            assert_eq!(entries(&dest), want, "{round}: nothing temporary left");
        }
    }
}

/// A folder that directories were downloaded into holds their markers, and may hold what an
/// interrupted download kept: uploaded, the folder leaves those out (at any depth) and nothing
/// else, not even names of the user's that merely start the same way.
#[test]
fn a_folder_of_downloads_uploads_without_what_the_downloads_left() {
    let server = TestServer::start();
    let (work, cli) = setup(&server);
    let tree = work.path().join("tree");
    sample_tree(&tree);
    cli.upload(&tree, Some("ds-a"));
    cli.upload(&tree, Some("ds-b"));
    let dest = work.path().join("collection");
    for name in ["ds-a", "ds-b"] {
        let out = cli.download(name, &dest, &[]);
        assert!(out.status.success(), "{}", said(&out));
    }
    let markers: Vec<String> = std::fs::read_dir(&dest)
        .expect("dest")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".fedml-download-"))
        .collect();
    assert_eq!(markers.len(), 2, "{markers:?}");
    // What an interrupted download keeps and a crashed one may leave, at the top and deeper.
    let left = [
        ".fedml-partial-0123456789abcdef",
        "ds-a/.fedml-old-00000000000000aa",
        "ds-b/.fedml-unpack-fedcba9876543210/x",
    ];
    for path in left {
        let path = dest.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"left by a download").expect("write");
    }
    let mine = [".fedml-notes", "ds-a/.fedml-old-backup", ".fedml-download-0123"];
    for path in mine {
        std::fs::write(dest.join(path), b"the user's").expect("write");
    }
    for (name, dedup) in [("collection", true), ("collection-whole", false)] {
        let o = fedml_client::UploadOptions { dedup, ..upload_opts(server.admin(), name) };
        let done = fedml_client::upload_with(&dest, &o);
        assert!(done.is_success(), "{}", done.message);
        let files = fedml_client::list_object_files_with(name, "", true, None, None, &server.admin());
        let paths: Vec<String> = files.data.expect("files").into_iter().map(|e| e.path).collect();
        // Each left-over name (for the folder a crashed unpack left, the folder itself).
        for gone in markers.iter().map(String::as_str).chain(left) {
            let own = gone.rsplit_once("/x").map_or(gone, |(folder, _)| folder);
            let inside = format!("{own}/");
            assert!(!paths.iter().any(|p| p == own || p.starts_with(&inside)), "{name}: {own} in {paths:?}");
        }
        for kept in mine {
            assert!(paths.iter().any(|p| p == kept), "{name}: {kept} missing from {paths:?}");
        }
        // Downloaded again: the folder as it was, without what the downloads left.
        let out_dir = work.path().join(format!("out-{name}"));
        let out = cli.download(name, &out_dir, &[]);
        assert!(out.status.success(), "{}", said(&out));
        let expected: Vec<_> = tree_listing(&dest)
            .into_iter()
            .filter(|(p, _)| !p.split('/').any(fedml_client::place::is_download_leftover))
            .collect();
        assert_eq!(tree_listing(&out_dir.join(name)), expected, "{name}");
    }
}
