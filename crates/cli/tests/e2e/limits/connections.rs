//! What one client can hold of the connections: a client that asks for a download and reads
//! nothing is closed after the idle timeout, its connection slot free again (a server of one
//! slot serves the next request), while a client that reads slowly but steadily gets every byte;
//! connections from one address beyond `--max-connections-per-client` are answered HTTP 429 at
//! once and closed, without holding a slot, while other addresses are served, and one address
//! is admitted again once one of its connections closes. The real `fedml server` process and raw
//! TCP clients; every wait is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use fedml_client::client::{Client, ObjectRef};

use super::{authority, server, until_closed};
use crate::harness::*;
use crate::process::{Scratch, ServerProcess};

/// The size of the download: far beyond what the server's send buffer, hyper's and the
/// client's receive buffer hold together.
const BIG: usize = 48 << 20;

/// A server with `flags` whose admin stored `BIG` bytes as "big" (uploaded through a server of
/// its own, started on the same data directory without those flags, so that small connection
/// caps do not slow the upload); the bytes, and the path and query of their download URL.
fn with_big_download(scratch: &Scratch, flags: &[&str]) -> (ServerProcess, String, Vec<u8>, String) {
    let data = bytes(BIG, 25);
    let (mut first, key) = server(scratch, &[], |_| {});
    let file = scratch.path().join("big.bin");
    std::fs::write(&file, &data).expect("write");
    let up = fedml_client::upload_with(&file, &upload_opts(first.target(&key), "big"));
    assert!(up.is_success(), "upload: {}", up.message);
    assert!(first.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()), "the first server stops");
    let (server, key) = server(scratch, flags, |_| {});
    // The client (and its pooled connection) is gone before the test's own connections.
    let url = {
        let client = Client::new(&server.url, &key).expect("client");
        fedml_client::block_on(client.download_ticket(ObjectRef::latest("big"))).expect("ticket").url
    };
    let at = url.find("/blob/").expect("a blob URL");
    (server, key, data, url[at..].to_string())
}

fn get(authority: &str, path_and_query: &str) -> String {
    format!("GET {path_and_query} HTTP/1.1\r\nHost: {authority}\r\n\r\n")
}

/// Waits, without reading a byte, until the server closes or resets `stream`; false if it is
/// still open at `deadline`.
fn closed_without_reading(stream: &TcpStream, deadline: Instant) -> bool {
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
        let mut fd = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX).max(1);
        // SAFETY: one pollfd, ours, for the length given.
        let ready = unsafe { libc::poll(&mut fd, 1, ms) };
        if ready > 0 && fd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
            return true;
        }
    }
}

/// Reads one HTTP response of a keep-alive connection: its head, and its body (by its
/// Content-Length).
fn response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).expect("a response");
        assert!(n > 0, "closed before a whole head: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    let mut body = got.split_off(head_end);
    while body.len() < length {
        let n = stream.read(&mut buf).expect("the body");
        assert!(n > 0, "closed after {} of {length} bytes", body.len());
        body.extend_from_slice(&buf[..n]);
    }
    (head, body)
}

/// A connection to `authority` from the local address `from` (any 127.x.y.z is this host).
fn connect_from(from: &str, authority: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
    runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(format!("{from}:0").parse().expect("address"))?;
            let stream = socket.connect(authority.parse().expect("address")).await?;
            let stream = stream.into_std()?;
            stream.set_nonblocking(false)?;
            Ok::<_, std::io::Error>(stream)
        })
        .expect("connect")
}

/// `GET path` on a fresh connection from `from`: the status line and the body.
fn request_from(from: &str, authority: &str, path: &str) -> (String, Vec<u8>) {
    let mut stream = connect_from(from, authority);
    stream.write_all(get(authority, path).as_bytes()).expect("request");
    let (head, body) = response(&mut stream);
    (head.lines().next().unwrap_or_default().to_string(), body)
}

/// One sample of `GET /metrics`, read from 127.0.0.2.
fn metric(authority: &str, name: &str) -> f64 {
    let (status, body) = request_from("127.0.0.2", authority, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

#[test]
fn a_download_nobody_reads_is_closed_after_the_idle_timeout_and_frees_its_slot() {
    const IDLE: u64 = 2;
    let scratch = Scratch::new();
    // One connection slot: while the stalled download holds it, nothing else is served.
    let flags = ["--idle-timeout", "2", "--max-connections", "1", "--max-connections-per-client", "0"];
    let (server, key, _, path) = with_big_download(&scratch, &flags);
    let at = authority(&server.url);

    let started = Instant::now();
    let mut stalled = TcpStream::connect(&at).expect("connect");
    stalled.write_all(get(&at, &path).as_bytes()).expect("request");
    assert!(
        closed_without_reading(&stalled, Instant::now() + Duration::from_secs(IDLE * 10 + 30)),
        "the server still holds a download nobody reads"
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(IDLE), "closed after {took:?}, before the idle timeout");
    // What the client's kernel had taken in before the server gave up: far from all of it.
    let received = until_closed(&mut stalled, Instant::now() + Duration::from_secs(30)).map_or(0, |a| a.len());
    println!("closed {took:?} after the request, {received} bytes received of {BIG}");
    assert!(received < BIG, "the whole download arrived: nothing stalled");

    // The only slot is free: the next request is served.
    let listed = fedml_client::list_storage_objects_with(&server.target(&key));
    assert!(listed.is_success(), "after the stalled download: {}", listed.message);
    assert_eq!(metric(&at, "fedml_connections_stalled_total"), 1.0);
    let log = std::fs::read_to_string(scratch.path().join("server.log")).expect("log");
    assert!(log.contains("closing a connection whose client received nothing for the idle timeout"), "{log}");
}

#[test]
fn a_slow_reader_is_not_cut_and_receives_every_byte() {
    const IDLE: u64 = 2;
    let scratch = Scratch::new();
    let flags = ["--idle-timeout", "2", "--max-connections-per-client", "0"];
    let (server, _key, data, path) = with_big_download(&scratch, &flags);
    let at = authority(&server.url);

    let mut stream = TcpStream::connect(&at).expect("connect");
    stream.write_all(get(&at, &path).as_bytes()).expect("request");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    // 16 KiB every 100 ms (160 KiB/s) for five idle timeouts: the kernel wakes the server's
    // waiting writer only once a third of its send buffer is free, which takes this reader longer
    // than the idle timeout; only its acknowledgements show that it reads.
    let slow_until = Instant::now() + Duration::from_secs(IDLE * 5);
    let mut got = Vec::with_capacity(BIG + 4096);
    let mut buf = vec![0u8; 16 << 10];
    while Instant::now() < slow_until {
        let n = stream.read(&mut buf).expect("the server does not cut a slow reader");
        assert!(n > 0, "the server closed a slow reader after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let slow = got.len();
    // Then the rest at full speed.
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = got.split_off(head_end);
    let mut buf = vec![0u8; 1 << 20];
    while body.len() < BIG {
        let n = stream.read(&mut buf).expect("the rest");
        assert!(n > 0, "closed after {} of {BIG} bytes", body.len());
        body.extend_from_slice(&buf[..n]);
    }
    println!("{slow} bytes read slowly over {} s, then the rest", IDLE * 5);
    assert!(body == data, "the downloaded bytes differ");
    assert_eq!(metric(&at, "fedml_connections_stalled_total"), 0.0);
}

#[test]
fn one_address_holds_at_most_its_cap_and_refused_connections_hold_no_slot() {
    const REFUSED: usize = 20;
    let scratch = Scratch::new();
    // Three slots in all, two for any one address.
    let flags = ["--idle-timeout", "60", "--max-connections", "3", "--max-connections-per-client", "2"];
    let (server, key) = server(&scratch, &flags, |_| {});
    let at = authority(&server.url);

    // Two kept-alive connections from 127.0.0.1, each served once.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect_from("127.0.0.1", &at);
            stream.write_all(get(&at, "/healthz").as_bytes()).expect("request");
            let (head, _) = response(&mut stream);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            stream
        })
        .collect();

    // Every further one from that address is answered 429 at once and closed; they are kept
    // open on this side, so a slot they held would stay taken.
    let mut refused = Vec::new();
    for _ in 0..REFUSED {
        let mut stream = connect_from("127.0.0.1", &at);
        stream.write_all(get(&at, "/healthz").as_bytes()).expect("request");
        let answer = until_closed(&mut stream, Instant::now() + Duration::from_secs(30)).expect("closed at once");
        assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{answer}");
        assert!(answer.contains("at most 2 at once from one client"), "{answer}");
        refused.push(stream);
    }
    // The SDK tries again after a wait (a 429 is refused before anything is done), then says why.
    let listed = fedml_client::list_storage_objects_with(&server.target(&key));
    assert!(!listed.is_success(), "a third connection from one address was served");
    assert!(listed.message.contains("too many connections from your address"), "{}", listed.message);

    // Another address is served meanwhile, on the one slot left.
    for _ in 0..3 {
        let (status, body) = request_from("127.0.0.2", &at, "/healthz");
        assert!(status.contains(" 200 "), "{status}: {}", String::from_utf8_lossy(&body));
    }
    let sdk_tries = fedml_client::retry::ATTEMPTS as usize;
    assert_eq!(metric(&at, "fedml_connections_refused_total"), (REFUSED + sdk_tries) as f64);

    // One of the two closes: once the server has seen it go, that address is admitted again,
    // and only once.
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut again = loop {
        let mut stream = connect_from("127.0.0.1", &at);
        stream.write_all(get(&at, "/healthz").as_bytes()).expect("request");
        let (head, _) = response(&mut stream);
        if head.starts_with("HTTP/1.1 200") {
            break stream;
        }
        assert!(head.starts_with("HTTP/1.1 429"), "{head}");
        assert!(Instant::now() < deadline, "the closed connection still counts against its address");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut third = connect_from("127.0.0.1", &at);
    third.write_all(get(&at, "/healthz").as_bytes()).expect("request");
    let (head, _) = response(&mut third);
    assert!(head.starts_with("HTTP/1.1 429"), "the cap holds again: {head}");
    // The admitted one is served as any other.
    again.write_all(get(&at, "/healthz").as_bytes()).expect("request");
    assert!(response(&mut again).0.starts_with("HTTP/1.1 200"));
}
