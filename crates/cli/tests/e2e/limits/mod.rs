//! What a client can hold of the server: the real `fedml server` process against raw TCP
//! clients that send headers and part of a body, then nothing. Without a key they are refused
//! before their body is read; with one their bodies end after the idle timeout (made small here
//! with `--idle-timeout`) and their connections are closed; the server's memory stays bounded; a
//! server at its open-files limit keeps serving (connections beyond its cap wait in the kernel's
//! backlog); SIGTERM ends the process within the shutdown grace even while a body is stalled.
//! Every loop is bounded in count and in time. [`connections`]: downloads nobody reads, slow
//! readers, and the per-client connection cap.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use fedml_client::client::Client;
use fedml_proto::ObjectKind;

use crate::harness::*;
use crate::process::{Scratch, ServerProcess, admin_key};

mod connections;

/// A child `fedml server` on the embedded backend with `extra` flags; its admin key.
fn server(scratch: &Scratch, extra: &[&str], adjust: impl FnOnce(&mut Command)) -> (ServerProcess, String) {
    let data = scratch.path().join("data");
    let mut flags = Backend::Embedded.server_flags(&data);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let server = ServerProcess::start_with(&flags, &scratch.path().join("server.log"), adjust);
    let key = admin_key(&data);
    (server, key)
}

fn authority(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Opens a connection and sends `head` then `partial` of a longer body, then nothing. A server
/// that refuses at once may close before all of it is written: that is not an error here.
fn stall(authority: &str, head: &str, partial: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream.set_write_timeout(Some(Duration::from_secs(5))).expect("write timeout");
    if stream.write_all(head.as_bytes()).is_ok() {
        let _ = stream.write_all(partial);
    }
    stream
}

fn json_post(authority: &str, key: Option<&str>, length: usize) -> String {
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: {authority}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// `PUT` of a part to `path_and_query` (a signed URL's, or one without its signature).
fn part_put(authority: &str, path_and_query: &str, length: u64) -> String {
    format!("PUT {path_and_query} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {length}\r\n\r\n")
}

/// Reads what the server answers until it closes the connection; `None` if it is still open at
/// `deadline`.
fn until_closed(stream: &mut TcpStream, deadline: Instant) -> Option<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return None;
                }
            }
            // Reset: closed with the rest of the body unread.
            Err(_) => return Some(String::from_utf8_lossy(&answer).into_owned()),
        }
    }
}

/// The signed URL (path and query) of part 1 of `count` fresh sessions, and their part size.
fn signed_parts(url: &str, key: &str, name: &str, count: u32) -> (Vec<String>, u64) {
    let client = Client::new(url, key).expect("client");
    fedml_client::block_on(async {
        let (mut paths, mut part_size) = (Vec::new(), 0);
        for i in 0..count {
            let (session, mut urls) =
                open_raw_upload(&client, &format!("{name}-{i}"), ObjectKind::File, 8 << 20).await?;
            let url = urls.remove(0).url;
            let at = url.find("/blob/").expect("a blob URL");
            paths.push(url[at..].to_string());
            part_size = session.part_size;
        }
        Ok((paths, part_size))
    })
    .expect("signed part URLs")
}

/// An upload and a download through the SDK, compared byte for byte.
fn round_trip(server: &ServerProcess, key: &str, work: &std::path::Path, name: &str) {
    let file = work.join(format!("{name}.bin"));
    let data = bytes(3 << 20, 11);
    std::fs::write(&file, &data).expect("write");
    let up = fedml_client::upload_with(&file, &upload_opts(server.target(key), name));
    assert!(up.is_success(), "upload while clients stall: {}", up.message);
    let dest = work.join(format!("{name}-dest"));
    std::fs::create_dir_all(&dest).expect("mkdir");
    let down = fedml_client::download_with(name, &download_opts(server.target(key), &dest));
    assert!(down.is_success(), "download while clients stall: {}", down.message);
    assert!(std::fs::read(dest.join(name)).expect("read") == data, "the downloaded bytes differ");
}

#[test]
fn stalled_bodies_hold_no_memory_and_are_closed_after_the_idle_timeout() {
    const IDLE: u64 = 3;
    const EACH: usize = 50;
    let scratch = Scratch::new();
    let (server, key) = server(&scratch, &["--idle-timeout", &IDLE.to_string()], |_| {});
    let at = authority(&server.url);
    let (signed, part_size) = signed_parts(&server.url, &key, "stalled", EACH as u32);
    let unsigned = signed[0].split('?').next().expect("path").to_string();
    let before = rss_kib(server.pid());

    // Without a key (or a signature): 1.5 MiB of a 2 MiB JSON body, and of a part.
    let partial = vec![b' '; 3 << 19];
    let started = Instant::now();
    let mut refused: Vec<TcpStream> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..EACH)
            .flat_map(|_| {
                [
                    s.spawn(|| stall(&at, &json_post(&at, None, 2 << 20), &partial)),
                    s.spawn(|| stall(&at, &part_put(&at, &unsigned, part_size), &partial)),
                ]
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("stall")).collect()
    });
    // With a key (and signed URLs): a little of each body, then nothing.
    let mut held: Vec<TcpStream> = (0..EACH)
        .flat_map(|i| {
            [
                stall(&at, &json_post(&at, Some(&key), 1000), b"{\"name\": \"x"),
                stall(&at, &part_put(&at, &signed[i], part_size), &[7u8; 64 << 10]),
            ]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let during = rss_kib(server.pid());
    println!("server RSS: {before} KiB before, {during} KiB with {} stalled connections", refused.len() + held.len());
    assert!(
        during < before + (48 << 10),
        "the stalled bodies hold {} KiB of server memory",
        during.saturating_sub(before)
    );

    // Meanwhile a normal client uploads and downloads.
    round_trip(&server, &key, scratch.path(), "meanwhile");

    // The unauthenticated ones were refused without their bodies being read, and closed.
    let deadline = Instant::now() + Duration::from_secs(IDLE * 4 + 10);
    for stream in &mut refused {
        let answer = until_closed(stream, deadline).expect("an unauthenticated stalled request is closed");
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    // The authenticated ones are ended after the idle timeout, with a clear error, and closed.
    for stream in &mut held {
        let answer = until_closed(stream, deadline).expect("a stalled body is closed after the idle timeout");
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        assert!(
            answer.contains("arrived for 3 s") || answer.contains("arrived slower than"),
            "the answer does not say why: {answer}"
        );
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(IDLE), "closed after {took:?}, before the idle timeout");
    println!("every stalled connection closed after {took:?}");

    // None of those sessions received a byte: the collector has nothing half-written to keep.
    let after = rss_kib(server.pid());
    println!("server RSS after: {after} KiB");
    round_trip(&server, &key, scratch.path(), "afterwards");
}

/// Limits the server process's open files to `n` (soft and hard).
fn limit_open_files(command: &mut Command, n: u64) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let rl = libc::rlimit { rlim_cur: n as libc::rlim_t, rlim_max: n as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_server_at_its_open_files_limit_keeps_serving() {
    const IDLE: u64 = 2;
    const STALLED: usize = 140;
    let scratch = Scratch::new();
    let (server, key) = server(&scratch, &["--idle-timeout", &IDLE.to_string()], |c| limit_open_files(c, 128));
    let at = authority(&server.url);

    // More stalled connections than the process has file descriptors: headers that never end,
    // and authenticated bodies that stop.
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..STALLED)
        .map(|i| match i % 2 {
            0 => stall(&at, &format!("POST /api/v1/uploads HTTP/1.1\r\nHost: {at}\r\n"), b""),
            _ => stall(&at, &json_post(&at, Some(&key), 1000), b"{\"name\": \"x"),
        })
        .collect();

    // A normal client is served (it may wait for the stalled ones ahead of it to time out).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let listed = fedml_client::list_storage_objects_with(&server.target(&key));
        if listed.is_success() {
            break;
        }
        assert!(Instant::now() < deadline, "the server is wedged: {}", listed.message);
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("a normal client was served after {:?} ({attempts} attempts)", started.elapsed());

    // Every stalled connection is closed once it times out, and then everything works.
    let deadline = Instant::now() + Duration::from_secs(60);
    for stream in &mut stalled {
        assert!(until_closed(stream, deadline).is_some(), "a stalled connection is still open");
    }
    println!("all {STALLED} stalled connections closed after {:?}", started.elapsed());
    round_trip(&server, &key, scratch.path(), "after-the-storm");
    let log = std::fs::read_to_string(scratch.path().join("server.log")).expect("log");
    assert!(!log.contains("Too many open files"), "the server ran out of file descriptors:\n{log}");
}

#[test]
fn sigterm_ends_the_server_within_the_grace_while_a_body_is_stalled() {
    const GRACE: u64 = 2;
    let scratch = Scratch::new();
    let (mut server, key) =
        server(&scratch, &["--idle-timeout", "120", "--shutdown-grace", &GRACE.to_string()], |_| {});
    let at = authority(&server.url);
    let (signed, part_size) = signed_parts(&server.url, &key, "stalled", 1);
    let mut part = stall(&at, &part_put(&at, &signed[0], part_size), &[1u8; 64 << 10]);
    let mut json = stall(&at, &json_post(&at, Some(&key), 1000), b"{\"name\": \"x");
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let status = server.terminate(Duration::from_secs(GRACE + 8));
    let took = started.elapsed();
    let status = status.unwrap_or_else(|| panic!("the server still runs {took:?} after SIGTERM"));
    assert!(status.success(), "the server exited with {status:?}");
    assert!(took < Duration::from_secs(GRACE + 5), "the server took {took:?} to exit");
    println!("exited {status:?} {took:?} after SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    assert!(until_closed(&mut part, deadline).is_some(), "the stalled part upload is still connected");
    assert!(until_closed(&mut json, deadline).is_some(), "the stalled JSON body is still connected");
}
