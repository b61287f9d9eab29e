//! Failures from outside: the server killed in the middle of an upload and of a download, the
//! client's disk full during a download, the server's disk full during an upload, part requests
//! whose Content-Length lies, and directory uploads with an unreadable entry or a file that
//! shrinks or disappears while it is sent. Each ends in a clear message, bounded in time, with
//! nothing committed, nothing half-written and the previous content intact.
//!
//! Full disks are made without privileges: a per-process file size limit (`RLIMIT_FSIZE`, with
//! `SIGXFSZ` ignored, so that writes fail with EFBIG) on a child `fedml` process; where mounting
//! is permitted (root with CAP_SYS_ADMIN), also a real small tmpfs (ENOSPC). Tests that kill or
//! limit a server process run the embedded backend in a child `fedml server`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fedml_client::client::Client;
use fedml_client::{ProgressBar, ResponseCode, Target};
use fedml_proto::{CompleteUpload, CompletedPart, ObjectKind};

use crate::harness::*;
use crate::process::{Scratch, ServerProcess, admin_key};

/// A call against a dead server gives up after a few bounded retries.
const GIVE_UP: Duration = Duration::from_secs(30);

/// Every file under `dir` (names relative to it), sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Runs `action` once `bar` has counted at least `bytes` (or gives up after a minute); returns
/// whether it ran.
fn when_progress(
    bar: &ProgressBar,
    bytes: u64,
    action: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<bool> {
    let bar = bar.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while bar.position() < bytes {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        action();
        true
    })
}

fn embedded_server(scratch: &Path) -> (Vec<String>, PathBuf) {
    let data = scratch.join("data");
    (Backend::Embedded.server_flags(&data), data)
}

fn assert_says_what_to_do(label: &str, code: ResponseCode, message: &str) {
    assert_ne!(code, ResponseCode::Success, "{label}: succeeded");
    assert!(
        message.contains("try again") || message.contains("start it") || message.contains("upload again"),
        "{label}: the message does not say what to do: {message:?}"
    );
    assert!(!message.contains("sig="), "{label}: a signed URL leaked into the message: {message:?}");
}

#[test]
fn a_server_killed_mid_transfer_gives_a_clear_error_and_leaves_nothing() {
    let scratch = Scratch::new();
    let (flags, data) = embedded_server(scratch.path());
    let log = scratch.path().join("server.log");
    let server = ServerProcess::start(&flags, &log);
    let key = admin_key(&data);
    let big = scratch.path().join("big.bin");
    std::fs::write(&big, bytes(64 << 20, 21)).expect("write");

    // Upload: killed once the first MiB is on its way.
    let bar = ProgressBar::hidden();
    let mut options = upload_opts(server.target(&key), "big");
    options.progress_bar = Some(bar.clone());
    let killer = when_progress(&bar, 1 << 20, move || server.kill());
    let started = Instant::now();
    let r = fedml_client::upload_with(&big, &options);
    let took = started.elapsed();
    assert!(killer.join().expect("killer"), "the upload never started");
    assert_says_what_to_do("upload", r.code, &r.message);
    assert!(took < GIVE_UP, "the upload took {took:?} to give up");
    println!("upload cut off: {:?} after {took:?}: {}", r.code, r.message);

    let server = ServerProcess::start(&flags, &log);
    let listed = fedml_client::list_storage_objects_with(&server.target(&key));
    assert_eq!(listed.data, Some(vec![]), "nothing may be committed: {}", listed.message);
    assert!(fedml_client::upload_with(&big, &upload_opts(server.target(&key), "big")).is_success());

    // Download: the destination already holds an older "big", which must survive.
    let dest = scratch.path().join("dest");
    std::fs::create_dir_all(&dest).expect("mkdir");
    std::fs::write(dest.join("big"), b"the previous content").expect("write");
    let bar = ProgressBar::hidden();
    let mut options = download_opts(server.target(&key), &dest);
    options.progress_bar = Some(bar.clone());
    let killer = when_progress(&bar, 1 << 20, move || server.kill());
    let started = Instant::now();
    let r = fedml_client::download_with("big", &options);
    let took = started.elapsed();
    assert!(killer.join().expect("killer"), "the download never started");
    assert_says_what_to_do("download", r.code, &r.message);
    assert!(took < GIVE_UP, "the download took {took:?} to give up");
    println!("download cut off: {:?} after {took:?}: {}", r.code, r.message);
    // The older copy is untouched; what arrived is kept only under the hidden name the same
    // download takes up when run again, which then leaves just the new file.
    let left = files_in(&dest);
    assert!(left.iter().all(|n| n == "big" || n.starts_with(".fedml-partial-")), "{left:?}");
    assert_eq!(std::fs::read(dest.join("big")).expect("read"), b"the previous content");
    let server = ServerProcess::start(&flags, &log);
    let r = fedml_client::download_with("big", &download_opts(server.target(&key), &dest));
    assert!(r.is_success(), "{}", r.message);
    assert_eq!(files_in(&dest), ["big"], "no partial or temporary file may be left");
    assert!(std::fs::read(dest.join("big")).expect("read") == std::fs::read(&big).expect("read"));
}

/// Lifts a process's file size limit to `limit` bytes and ignores SIGXFSZ, so that writing past
/// it fails with EFBIG, as a full disk fails a write.
fn limit_file_size(command: &mut Command, limit: u64) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// A small tmpfs, unmounted on drop; `None` where mounting is not permitted.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        use std::ffi::CString;
        std::fs::create_dir_all(at).expect("mkdir");
        let target = CString::new(at.as_os_str().as_encoded_bytes()).expect("path");
        let options = CString::new(format!("size={size}")).expect("options");
        // SAFETY: valid NUL-terminated strings for the duration of the call.
        let done =
            unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()) };
        (done == 0).then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        use std::ffi::CString;
        if let Ok(target) = CString::new(self.0.as_os_str().as_encoded_bytes()) {
            // SAFETY: a valid NUL-terminated path.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

#[test]
fn a_full_client_disk_fails_the_download_and_keeps_the_old_copy() {
    let server = TestServer::start();
    let scratch = Scratch::new();
    let file = scratch.path().join("big.bin");
    std::fs::write(&file, bytes(12 << 20, 22)).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "big")).is_success());

    // 1. `fedml storage download` in a process that may write files of 1 MiB at most.
    let dest = scratch.path().join("limited");
    std::fs::create_dir_all(&dest).expect("mkdir");
    std::fs::write(dest.join("big"), b"the previous content").expect("write");
    let mut command = Command::new(env!("CARGO_BIN_EXE_fedml"));
    command
        .args(["storage", "download", "big", "-d"])
        .arg(&dest)
        .env("FEDML_CONFIG_DIR", scratch.path().join("cfg"))
        .env("FEDML_API_KEY", &server.admin_key)
        .env("FEDML_SERVER_URL", &server.url);
    limit_file_size(&mut command, 1 << 20);
    let started = Instant::now();
    let out = command.output().expect("run fedml");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the download succeeded past the file size limit: {said}");
    assert!(started.elapsed() < GIVE_UP);
    assert!(said.contains("not enough room") && said.contains("try again"), "no clear message: {said:?}");
    assert_eq!(files_in(&dest), ["big"], "no partial or temporary file may be left: {said}");
    assert_eq!(std::fs::read(dest.join("big")).expect("read"), b"the previous content");
    println!("file size limit: {}", said.trim());

    // 2. A real full disk (ENOSPC in the middle of the writes), where mounting is permitted.
    let mount_point = scratch.path().join("small");
    match SmallDisk::mount(&mount_point, "4m") {
        None => println!("tmpfs: mounting is not permitted here; the file size limit above stands for a full disk"),
        Some(_disk) => {
            std::fs::write(mount_point.join("big"), b"the previous content").expect("write");
            let r = fedml_client::download_with("big", &download_opts(server.admin(), &mount_point));
            assert_eq!(r.code, ResponseCode::Error, "{}", r.message);
            assert!(r.message.contains("not enough room") && r.message.contains("No space left"), "{}", r.message);
            assert_eq!(files_in(&mount_point), ["big"], "no partial or temporary file may be left");
            assert_eq!(std::fs::read(mount_point.join("big")).expect("read"), b"the previous content");
            println!("tmpfs of 4 MiB: {}", r.message);
        }
    }
}

#[test]
fn a_full_server_disk_fails_the_upload_commits_nothing_and_keeps_serving() {
    let scratch = Scratch::new();
    let (flags, data) = embedded_server(scratch.path());
    let log = scratch.path().join("server.log");
    // Files of 6 MiB at most: an 8 MiB part cannot be written, the catalogue still can.
    let server = ServerProcess::start_with(&flags, &log, |c| limit_file_size(c, 6 << 20));
    let key = admin_key(&data);
    let big = scratch.path().join("big.bin");
    std::fs::write(&big, bytes(20 << 20, 23)).expect("write");
    let started = Instant::now();
    let r = fedml_client::upload_with(&big, &upload_opts(server.target(&key), "big"));
    assert_eq!(r.code, ResponseCode::Error, "{}", r.message);
    assert!(started.elapsed() < GIVE_UP);
    assert!(r.message.contains("storage is full"), "the message does not say why: {:?}", r.message);
    println!("server file size limit: {}", r.message);
    let listed = fedml_client::list_storage_objects_with(&server.target(&key));
    assert_eq!(listed.data, Some(vec![]), "nothing may be committed");
    assert_eq!(Backend::Embedded.blob_files(&data), Vec::<PathBuf>::new(), "the staging file must be removed");

    // It keeps serving.
    let small = scratch.path().join("small.bin");
    std::fs::write(&small, bytes(1 << 20, 24)).expect("write");
    let r = fedml_client::upload_with(&small, &upload_opts(server.target(&key), "small"));
    assert!(r.is_success(), "{}", r.message);
    let dest = scratch.path().join("out");
    let r = fedml_client::download_with("small", &download_opts(server.target(&key), &dest));
    assert!(r.is_success(), "{}", r.message);
    assert_eq!(std::fs::read(dest.join("small")).expect("read"), std::fs::read(&small).expect("read"));
    server.kill();

    // A real full disk under the data directory, where mounting is permitted.
    let mount_point = scratch.path().join("small-disk");
    if let Some(_disk) = SmallDisk::mount(&mount_point, "12m") {
        let (mut flags, data) = embedded_server(&mount_point);
        // On a full disk even the record of an abandoned upload may not fit at first; then the
        // session's expiry hands its staging file to the collector (here after 8 s).
        flags.extend(["--upload-ttl", "8", "--gc-interval", "1"].map(str::to_string));
        let server = ServerProcess::start(&flags, &log);
        let key = admin_key(&data);
        let r = fedml_client::upload_with(&big, &upload_opts(server.target(&key), "big"));
        assert_eq!(r.code, ResponseCode::Error, "{}", r.message);
        assert!(r.message.contains("storage is full"), "the message does not say why: {:?}", r.message);
        println!("server on a 12 MiB tmpfs: {}", r.message);
        let listed = fedml_client::list_storage_objects_with(&server.target(&key));
        assert_eq!(listed.data, Some(vec![]), "nothing may be committed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Backend::Embedded.blob_files(&data).is_empty() {
            assert!(Instant::now() < deadline, "the staging file stays: {:?}", Backend::Embedded.blob_files(&data));
            std::thread::sleep(Duration::from_millis(200));
        }
        let r = fedml_client::upload_with(&small, &upload_opts(server.target(&key), "small"));
        assert!(r.is_success(), "the server keeps serving once room is back: {}", r.message);
        server.kill();
    } else {
        println!("tmpfs: mounting is not permitted here; the file size limit above stands for a full disk");
    }
}

/// Sends `PUT <url>` with the given Content-Length and body over a raw socket, then closes the
/// sending side; answers the status line (empty if the server closed without answering).
fn raw_put(url: &str, content_length: usize, body: &[u8]) -> String {
    let url = reqwest::Url::parse(url).expect("url");
    let addr = format!("{}:{}", url.host_str().expect("host"), url.port_or_known_default().expect("port"));
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head");
    let _ = stream.write_all(body);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

#[test]
fn part_requests_with_a_lying_content_length_commit_nothing() {
    let server = TestServer::start();
    let client = Client::new(&server.url, &server.admin_key).expect("client");
    let data = bytes(1000, 25);
    for (label, content_length, body) in
        [("longer than the body", 1000, &data[..600]), ("shorter than the body", 600, &data[..])]
    {
        let name = format!("lying-{content_length}");
        let (session, urls) =
            fedml_client::block_on(open_raw_upload(&client, &name, ObjectKind::File, 1000)).expect("session");
        let status = raw_put(&urls[0].url, content_length, body);
        if content_length > body.len() && !server.backend.lacks("check of a body against its Content-Length") {
            assert!(!status.contains(" 200 "), "{label}: a truncated part was accepted: {status:?}");
        }
        // Completing with what the client meant to send is refused either way.
        let done = fedml_client::block_on(client.complete_upload(
            &session.upload_id,
            &CompleteUpload {
                parts: vec![CompletedPart { part_number: 1, etag: format!("\"{:08x}\"", crc32c(&data)) }],
                size: 1000,
                checksum: fedml_proto::checksum::of_bytes(&data),
                content: None,
            },
        ));
        let e = done.expect_err("a lying part must not complete");
        assert!(e.message().len() > 20, "{label}: {e:?}");
        assert!(!e.message().contains("http"), "{label}: the store's internals leak into the message: {e:?}");
        println!("{label}: part answered {status:?}; completion refused: {}", e.message());
        let listed = fedml_client::list_storage_objects_with(&server.admin());
        assert_eq!(listed.data, Some(vec![]), "{label}: nothing may be committed");
    }
    // The server still takes a well-formed upload.
    let scratch = Scratch::new();
    let file = scratch.path().join("ok.bin");
    std::fs::write(&file, &data).expect("write");
    assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), "ok")).is_success());
}

/// Uploads `path` as `name`, running `meddle` once the first part is through; answers the result.
fn upload_meddled(
    target: &Target,
    path: &Path,
    name: &str,
    meddle: impl FnOnce() + Send + 'static,
) -> (ResponseCode, String) {
    let bar = ProgressBar::hidden();
    // One part at a time: the upload cannot run far ahead of the watcher.
    let mut options = upload_opts(Target { parallel: Some(1), ..target.clone() }, name);
    options.progress_bar = Some(bar.clone());
    let watcher = when_progress(&bar, 1, meddle);
    let r = fedml_client::upload_with(path, &options);
    assert!(watcher.join().expect("watcher"), "{name}: the upload never started");
    (r.code, r.message)
}

#[test]
fn unreadable_shrinking_or_vanishing_entries_fail_the_upload_and_store_nothing() {
    let server =
        TestServer::start_with(fedml_platform::operations::Lifetimes { reclaim_grace_secs: 0, ..Default::default() });
    let scratch = Scratch::new();
    let admin = server.admin();

    // A FIFO (as root, a mode of 000 would not stop reading; a pipe cannot be read as a file).
    let tree = scratch.path().join("with-fifo");
    std::fs::create_dir_all(&tree).expect("mkdir");
    std::fs::write(tree.join("a.txt"), b"a").expect("write");
    let fifo = tree.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    for (label, path) in [("a directory holding a FIFO", &tree), ("a FIFO", &fifo)] {
        let r = fedml_client::upload_with(path, &upload_opts(admin.clone(), "fifo"));
        assert_eq!(r.code, ResponseCode::Failure, "{label}: {}", r.message);
        assert!(r.message.contains("neither a file nor a directory"), "{label}: {}", r.message);
    }

    // Files that shrink or vanish after the scan, while the first parts are sent. Each file is
    // larger (sparse) than what the packer can be ahead of the first acknowledged part, so
    // whichever it packs first is still being read, and the others are still to come.
    for (label, meddle) in [("shrinks", true), ("vanishes", false)] {
        let tree = scratch.path().join(format!("tree-{label}"));
        std::fs::create_dir_all(&tree).expect("mkdir");
        let files: Vec<PathBuf> = ["a.bin", "m.bin", "z.bin"].iter().map(|n| tree.join(n)).collect();
        for f in &files {
            std::fs::File::create(f).expect("create").set_len(64 << 20).expect("sparse");
        }
        let (code, message) = upload_meddled(&admin, &tree, label, move || {
            for f in &files {
                if meddle {
                    std::fs::OpenOptions::new().write(true).open(f).expect("open").set_len(1000).expect("truncate");
                } else {
                    std::fs::remove_file(f).expect("remove");
                }
            }
        });
        assert_ne!(code, ResponseCode::Success, "a tree whose files {label} was stored");
        let says = if meddle { "changed while it was being uploaded" } else { "No such file" };
        assert!(message.contains(says) && message.contains("upload again"), "a file that {label}: {message:?}");
        assert_eq!(code, ResponseCode::Failure, "a file that {label}: {message:?}");
        println!("a file that {label} during a directory upload: {code:?}: {message}");
    }

    // A single file that shrinks while its parts are sent.
    let file = scratch.path().join("shrinking.bin");
    std::fs::File::create(&file).expect("create").set_len(128 << 20).expect("sparse");
    let f = file.clone();
    let (code, message) = upload_meddled(&admin, &file, "shrinking", move || {
        std::fs::OpenOptions::new().write(true).open(&f).expect("open").set_len(10 << 20).expect("truncate");
    });
    assert_eq!(code, ResponseCode::Failure, "{message}");
    assert!(message.contains("changed while it was being uploaded"), "{message:?}");
    println!("a file that shrinks during its upload: {message}");

    let listed = fedml_client::list_storage_objects_with(&admin);
    assert_eq!(listed.data, Some(vec![]), "nothing may be committed");
    assert!(server.blob_files().is_empty(), "left behind: {:?}", server.blob_files());
}

/// A store that refuses every PUT as soon as it has read the request's head: it answers 503 and
/// closes the connection while the client is still sending the body (S3 and its kin answer an
/// early error so). Runs until the test ends; answers its URL.
fn refusing_store() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                    head.push(byte[0]);
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                // Closed with the body unread: the client's next writes meet a reset connection.
            });
        }
    });
    url
}

/// A store that closes the connection while an upload is still sending its body: the CLI says
/// what failed and ends with an error, never killed by SIGPIPE half-way (with no message and
/// nothing cleaned up), on the packed and on the one-blob path.
#[test]
fn a_store_that_hangs_up_mid_body_is_an_error_the_cli_reports() {
    use std::os::unix::process::ExitStatusExt;
    let scratch = Scratch::new();
    let (mut flags, data) = embedded_server(scratch.path());
    // The server's own address, known in advance; the signed URLs it hands out name the store.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    flags.extend(["--listen".to_string(), format!("127.0.0.1:{port}"), "--public-url".to_string(), refusing_store()]);
    let log = scratch.path().join("server.log");
    let _server = ServerProcess::start(&flags, &log);
    let key = admin_key(&data);
    let file = scratch.path().join("big.bin");
    std::fs::write(&file, bytes(48 << 20, 31)).expect("write");
    // Parts go several at once: any of them may be the one refused first.
    for (layout, piece) in [(&[][..], "a pack ("), (&["--no-dedup"][..], "part ")] {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_fedml"))
            .args(["storage", "upload"])
            .arg(&file)
            .args(["-n", "refused", "--no-progress"])
            .args(layout)
            .env("FEDML_CONFIG_DIR", scratch.path().join("cfg"))
            .env("FEDML_API_KEY", &key)
            .env("FEDML_SERVER_URL", format!("http://127.0.0.1:{port}"))
            .output()
            .expect("run fedml");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.signal(), None, "{layout:?}: killed by a signal ({:?}): {said:?}", out.status);
        assert!(!out.status.success(), "{layout:?}: the upload succeeded: {said:?}");
        // Which the client meets first is a race: the store's answer, or the reset connection
        // its next write runs into. Either is said, naming what failed.
        let refused = said.contains(&format!("the store refused {piece}"))
            && said.contains("(HTTP 503 Service Unavailable); try again");
        let reset = said.contains("failed") && (said.contains("reset by peer") || said.contains("Broken pipe"));
        assert!(refused || reset, "{layout:?}: no clear message: {said:?}");
        assert!(started.elapsed() < GIVE_UP, "{layout:?}: took {:?}", started.elapsed());
        println!("{layout:?}: {}", said.trim());
    }
}

/// A reader of the CLI's output that stops early (`fedml storage list | head -0`) ends the
/// command quietly, as it ends other tools: by SIGPIPE, with nothing said on stderr.
#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let server = TestServer::start();
    let scratch = Scratch::new();
    for i in 0..40u64 {
        let file = scratch.path().join(format!("f{i}"));
        std::fs::write(&file, bytes(10, i)).expect("write");
        assert!(fedml_client::upload_with(&file, &upload_opts(server.admin(), &format!("object-{i}"))).is_success());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_fedml"))
        .args(["storage", "list"])
        .env("FEDML_CONFIG_DIR", scratch.path().join("cfg"))
        .env("FEDML_API_KEY", &server.admin_key)
        .env("FEDML_SERVER_URL", &server.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fedml");
    // The reader goes away before a line is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}: {stderr}", out.status);
    assert!(stderr.trim().is_empty(), "said on stderr: {stderr}");
}
