//! What one client can hold of the server: how large a JSON body may be, how long a request body
//! may keep the server waiting, how long a response may wait for a client that receives nothing
//! ([`writes`]), how many connections are open at once (from the process's file-descriptor
//! limit) and from one client address ([`peers`]), and how long a shutdown waits for requests in
//! flight.
//!
//! Request bodies are wrapped once, by [`apply`], for every route: a body that sends nothing for
//! [`Limits::idle_timeout`] is ended with an error, and every body must keep up an average of
//! [`Limits::min_body_rate`] (after a first `idle_timeout` of grace), so that a trickle of bytes
//! cannot hold a connection, a staging file and a part-upload slot either. Only the time the
//! server spends waiting for the client counts: a body the server is slow to read (a busy disk)
//! is never blamed for it. The handler that reads the body answers the error; its connection is
//! then closed, since the rest of the body is never read.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request};
use fedml_api_common::bodies::JSON_BODY_LIMIT;
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub mod peers;
pub mod writes;

pub use peers::PerClient;
pub use writes::TimedWrites;

/// File descriptors one connection may use: its socket and a blob or staging file.
const FDS_PER_CONNECTION: u64 = 2;

/// File descriptors kept free, beyond those open at start, for the catalogue's connections
/// (SQLite: database, WAL and shared-memory file each), the collector and the log; and for the
/// refused connections that linger to deliver their answer ([`peers::REFUSING`]).
const FD_HEADROOM: u64 = 64 + peers::REFUSING as u64;

/// Connections served at once at most, whatever the limits allow.
const MOST_CONNECTIONS: usize = 1 << 20;

/// How far the soft limit on open files is raised towards the hard one at start.
const RAISE_FILES_TO: libc::rlim_t = 65_536;

#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a request's headers may take to arrive, how long its body may send nothing, and
    /// how long a response may wait for a client that acknowledges nothing (also how long an
    /// idle kept-alive connection stays open).
    pub idle_timeout: Duration,
    /// Bytes per second every request body must average (after a first `idle_timeout` of grace);
    /// 0 turns the check off.
    pub min_body_rate: u64,
    /// Connections served at once; more wait in the kernel's backlog until one ends. `None`:
    /// derived from the limit on open files.
    pub max_connections: Option<usize>,
    /// Connections served at once from one client address (an IPv6 client's /64); more are
    /// refused at once with HTTP 429. `None`: half of the connection cap; `Some(0)`: no limit.
    pub max_connections_per_client: Option<usize>,
    /// On shutdown, how long requests in flight may take to finish before their connections are
    /// closed.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(30),
            min_body_rate: 16 << 10,
            max_connections: None,
            max_connections_per_client: None,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// Connections served at once: the configured number, else what the limit on open files
    /// leaves room for after the files open now and some headroom.
    pub fn connection_cap(&self) -> usize {
        let files = open_files_limit();
        let reserved = open_files_now().unwrap_or(32) + FD_HEADROOM;
        let derived = (files.saturating_sub(reserved) / FDS_PER_CONNECTION).max(1);
        match self.max_connections {
            Some(n) => {
                if n as u64 > derived {
                    tracing::warn!(
                        max_connections = n,
                        open_files_limit = files,
                        "max_connections is more than the open-files limit leaves room for; raise `ulimit -n`"
                    );
                }
                n.max(1)
            }
            None => usize::try_from(derived).unwrap_or(usize::MAX),
        }
        .min(MOST_CONNECTIONS)
    }

    /// Connections served at once from one client, given the connection cap `cap`: the configured
    /// number, else half the cap (so that one address, however busy, leaves the other half to
    /// everyone else); 0: no limit.
    pub fn per_client_cap(&self, cap: usize) -> usize {
        match self.max_connections_per_client {
            Some(n) => n,
            None => (cap / 2).max(1),
        }
    }
}

/// Raises the soft limit on open files towards the hard one (up to [`RAISE_FILES_TO`]) and
/// answers the soft limit then in force.
fn open_files_limit() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 1024;
    }
    let target = rl.rlim_max.min(RAISE_FILES_TO);
    if rl.rlim_cur < target {
        let raised = libc::rlimit { rlim_cur: target, rlim_max: rl.rlim_max };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return target;
        }
    }
    rl.rlim_cur
}

fn open_files_now() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64)
}

/// Bounds every request body of `router`: JSON bodies to [`JSON_BODY_LIMIT`] (routes may set a
/// smaller limit), every body to the pace of `limits`.
pub fn apply(router: Router, limits: &Limits) -> Router {
    let pace = Pace { idle: limits.idle_timeout, min_rate: limits.min_body_rate };
    router.layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)).layer(axum::middleware::map_request(
        move |request: Request| async move { request.map(|body| Body::new(PacedBody::new(body, pace))) },
    ))
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    idle: Duration,
    min_rate: u64,
}

/// Why a body was ended.
#[derive(Debug, thiserror::Error)]
pub enum BodyTimeout {
    #[error("no byte of the request body arrived for {} s", .0.as_secs_f64())]
    Silent(Duration),
    #[error("the request body arrived slower than {rate} bytes/s ({received} bytes in {:.1} s)", .waited.as_secs_f64())]
    Slow { rate: u64, received: u64, waited: Duration },
}

/// A request body that may not keep the server waiting too long (see the module's text).
struct PacedBody {
    inner: Body,
    pace: Pace,
    /// Armed while the server waits for the client.
    timer: Option<Pin<Box<Sleep>>>,
    waiting_since: Option<Instant>,
    /// Time spent waiting for the client in earlier waits.
    waited: Duration,
    received: u64,
}

impl PacedBody {
    fn new(inner: Body, pace: Pace) -> Self {
        PacedBody { inner, pace, timer: None, waiting_since: None, waited: Duration::ZERO, received: 0 }
    }

    /// When the wait that began at `since` ends the body, and why.
    fn deadline(&self, since: Instant) -> (Instant, BodyTimeout) {
        let silent = (since + self.pace.idle, BodyTimeout::Silent(self.pace.idle));
        if self.pace.min_rate == 0 {
            return silent;
        }
        // The client may keep the server waiting one idle period, plus the time its bytes so far
        // take at the minimum rate.
        let earned = self.pace.idle + Duration::from_secs_f64(self.received as f64 / self.pace.min_rate as f64);
        let left = earned.saturating_sub(self.waited);
        if left >= self.pace.idle {
            return silent;
        }
        let slow = BodyTimeout::Slow { rate: self.pace.min_rate, received: self.received, waited: self.waited + left };
        (since + left, slow)
    }
}

impl HttpBody for PacedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    this.received += data.map_or(0, |d| d.len() as u64);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let since = match this.waiting_since {
                    Some(since) => since,
                    None => {
                        let now = Instant::now();
                        this.waiting_since = Some(now);
                        let (deadline, _) = this.deadline(now);
                        match &mut this.timer {
                            Some(timer) => timer.as_mut().reset(deadline),
                            None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                        }
                        now
                    }
                };
                let Some(timer) = this.timer.as_mut() else { return Poll::Pending };
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let (_, why) = this.deadline(since);
                tracing::info!(reason = %why, received = this.received, "request body ended");
                this.waiting_since = None;
                Poll::Ready(Some(Err(axum::Error::new(why))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedml_proto::{CompleteUpload, CompletedPart};
    use futures_util::StreamExt;

    #[test]
    fn a_complete_request_with_10000_parts_fits_the_json_limit() {
        let parts = (1..=10_000)
            .map(|n| CompletedPart { part_number: n, etag: format!("\"{}-10000\"", "f".repeat(64)) })
            .collect();
        let body =
            CompleteUpload { parts, size: u64::MAX, checksum: format!("blake3:{}", "0".repeat(64)), content: None };
        let len = serde_json::to_vec(&body).expect("json").len();
        assert!(len < JSON_BODY_LIMIT, "{len} bytes");
        // The FedML SDK's form of the same: {"partNumber": n, "etag": "…"} in partETags.
        let compat: Vec<_> = (1..=10_000)
            .map(|n| serde_json::json!({"partNumber": n, "etag": format!("\"{}\"", "f".repeat(64))}))
            .collect();
        let len = serde_json::to_vec(&serde_json::json!({"partETags": compat, "fileKey": "k".repeat(300),
            "uploadId": "u".repeat(100)}))
        .expect("json")
        .len();
        assert!(len < JSON_BODY_LIMIT, "{len} bytes");
    }

    /// A body fed by hand: `tx` sends chunks, dropping it ends the body.
    fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok::<_, std::io::Error>)));
        (tx, Body::from_stream(stream))
    }

    fn paced(body: Body, idle_ms: u64, min_rate: u64) -> axum::body::BodyDataStream {
        Body::new(PacedBody::new(body, Pace { idle: Duration::from_millis(idle_ms), min_rate })).into_data_stream()
    }

    #[tokio::test]
    async fn a_silent_body_is_ended_after_the_idle_timeout() {
        let (tx, body) = channel_body();
        let mut stream = paced(body, 300, 0);
        tx.send(Bytes::from_static(b"abc")).await.expect("send");
        assert_eq!(stream.next().await.expect("chunk").expect("data"), "abc");
        let started = Instant::now();
        let err = stream.next().await.expect("an item").expect_err("timed out");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5), "{took:?}");
        assert!(err.to_string().contains("no byte of the request body arrived for 0.3 s"), "{err}");
        drop(tx);
    }

    #[tokio::test]
    async fn a_body_that_keeps_sending_is_not_ended() {
        let (tx, body) = channel_body();
        let mut stream = paced(body, 300, 100);
        let feeder = tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(Bytes::from(vec![0u8; 100])).await.expect("send");
            }
        });
        let mut total = 0;
        while let Some(chunk) = stream.next().await {
            total += chunk.expect("no timeout").len();
        }
        assert_eq!(total, 2000);
        feeder.await.expect("feeder");
    }

    #[tokio::test]
    async fn a_trickle_is_ended_once_it_falls_below_the_minimum_rate() {
        let (tx, body) = channel_body();
        // 1 byte every 50 ms never trips the idle timeout, but averages 20 bytes/s, below 100.
        let mut stream = paced(body, 300, 100);
        let feeder = tokio::spawn(async move {
            for _ in 0..200 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if tx.send(Bytes::from_static(b"x")).await.is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        let err = loop {
            match stream.next().await.expect("the body does not end by itself") {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("slower than 100 bytes/s ("), "{err}");
        // Allowed: 300 ms of grace plus 10 ms per byte received (about 0.4 s in all), far less
        // than the 10 s the trickle would last.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        drop(stream);
        feeder.await.expect("feeder");
    }

    #[tokio::test]
    async fn time_the_server_spends_elsewhere_is_not_the_clients() {
        let (tx, body) = channel_body();
        let mut stream = paced(body, 300, 1_000_000);
        tx.send(Bytes::from_static(b"a")).await.expect("send");
        tx.send(Bytes::from_static(b"b")).await.expect("send");
        assert_eq!(stream.next().await.expect("chunk").expect("data"), "a");
        // The server is busy for longer than the idle timeout; the next chunk is waiting.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(stream.next().await.expect("chunk").expect("data"), "b");
        drop(tx);
        assert!(stream.next().await.is_none(), "the body ends normally");
    }

    #[test]
    fn the_connection_cap_follows_the_open_files_limit() {
        let limits = Limits::default();
        assert!(limits.connection_cap() >= 1);
        assert_eq!(Limits { max_connections: Some(7), ..Limits::default() }.connection_cap(), 7);
    }

    #[test]
    fn one_client_may_hold_half_the_connections_unless_configured() {
        let limits = Limits::default();
        assert_eq!(limits.per_client_cap(10_000), 5_000);
        assert_eq!(limits.per_client_cap(1), 1);
        assert_eq!(Limits { max_connections_per_client: Some(3), ..limits.clone() }.per_client_cap(10_000), 3);
        assert_eq!(Limits { max_connections_per_client: Some(0), ..limits }.per_client_cap(10_000), 0, "no limit");
    }
}
