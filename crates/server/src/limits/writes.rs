//! The write side of a connection: a client that receives nothing of a response for the idle
//! timeout loses its connection, and with it the response's buffers, its open blob file and its
//! connection slot.
//!
//! hyper stops polling a response body while the socket does not drain, so a client that never
//! reads would otherwise hold all of that for as long as it keeps the socket open. The connection's
//! IO is wrapped ([`TimedWrites`]): while a write waits for room, the wrapper asks the kernel how
//! many bytes the client has still to acknowledge ([`SendQueue::unacked`]) every quarter of the
//! idle timeout, and any decrease is progress. So a slow client that keeps reading, however
//! slowly, is never cut: the kernel wakes a waiting writer only once a third of its send buffer
//! (up to megabytes) is free, which a client reading a few KiB/s takes longer than the idle
//! timeout to free, but every byte it reads lets the kernel send more, and what it acknowledges
//! counts. Only a client whose side accepts nothing at all for the idle timeout is cut. Its socket
//! is then reset, not closed gracefully, so the kernel drops the bytes it still held for it
//! instead of retrying them for minutes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the kernel can say about a connection's sent bytes.
pub trait SendQueue {
    /// Bytes written to the connection that the peer has not acknowledged yet (sent or not);
    /// `None` where the platform cannot tell (then a stalled write counts as no progress).
    fn unacked(&self) -> Option<u64>;

    /// Makes the close that follows reset the connection, so that the kernel frees what it still
    /// holds for the peer at once.
    fn reset_on_close(&self);
}

impl SendQueue for tokio::net::TcpStream {
    fn unacked(&self) -> Option<u64> {
        unacked(std::os::fd::AsRawFd::as_raw_fd(self))
    }

    fn reset_on_close(&self) {
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: setsockopt reads `linger` (of the size given) and the descriptor is open.
        let _ = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(self),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unacked(fd: std::os::fd::RawFd) -> Option<u64> {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ on a TCP socket) writes one int: the bytes in the send queue not
    // yet acknowledged by the peer.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
    (rc == 0).then(|| u64::try_from(queued).ok()).flatten()
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
fn unacked(fd: std::os::fd::RawFd) -> Option<u64> {
    let mut queued: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_NWRITE writes one int (the bytes not yet acknowledged) into `queued`.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_NWRITE, (&mut queued as *mut libc::c_int).cast(), &mut len)
    };
    (rc == 0).then(|| u64::try_from(queued).ok()).flatten()
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios")))]
fn unacked(_fd: std::os::fd::RawFd) -> Option<u64> {
    None
}

/// A write that waits for room.
#[derive(Debug)]
struct Stall {
    /// When the client last accepted a byte (or the wait began).
    progress_at: Instant,
    /// What the kernel said then.
    unacked: Option<u64>,
}

/// A connection's IO whose writes may wait for the client at most the idle timeout without any
/// progress (see the module's text). Reads pass through.
pub struct TimedWrites<T> {
    inner: T,
    idle: Duration,
    peer: Option<SocketAddr>,
    stalled: Counter,
    stall: Option<Stall>,
    /// Armed while a write waits: the next look at the kernel's send queue.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedWrites<T> {
    /// Wraps `inner`, a connection from `peer`, counting the connections it ends in `stalled`.
    pub fn new(inner: T, idle: Duration, peer: Option<SocketAddr>, stalled: Counter) -> Self {
        TimedWrites { inner, idle, peer, stalled, stall: None, timer: None }
    }

    /// How often a waiting write looks at the kernel's send queue.
    fn check_every(&self) -> Duration {
        (self.idle / 4).max(Duration::from_millis(10))
    }
}

impl<T: SendQueue> TimedWrites<T> {
    /// Called while a write waits: pending until the wait has had no progress for the idle
    /// timeout, then the error that ends the connection.
    fn poll_stall<R>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        let now = Instant::now();
        let check = self.check_every();
        if self.stall.is_none() {
            self.stall = Some(Stall { progress_at: now, unacked: self.inner.unacked() });
            let next = now + check.min(self.idle);
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(next),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(next))),
            }
        }
        loop {
            let (Some(stall), Some(timer)) = (self.stall.as_mut(), self.timer.as_mut()) else {
                return Poll::Pending;
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            let unacked = self.inner.unacked();
            if let (Some(before), Some(after)) = (stall.unacked, unacked)
                && after < before
            {
                stall.progress_at = now;
            }
            stall.unacked = unacked;
            let deadline = stall.progress_at + self.idle;
            if now >= deadline {
                self.stall = None;
                self.stalled.inc();
                self.inner.reset_on_close();
                let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
                tracing::info!(%peer, idle_timeout_secs = self.idle.as_secs_f64(), "closing a connection whose client received nothing for the idle timeout");
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the client received nothing for {} s", self.idle.as_secs_f64()),
                )));
            }
            timer.as_mut().reset((now + check).min(deadline));
        }
    }

    /// What a write answered: progress ends the wait, `Pending` starts or continues it.
    fn after_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<std::io::Result<R>>,
        progress: bool,
    ) -> Poll<std::io::Result<R>> {
        match written {
            Poll::Pending => self.poll_stall(cx),
            ready => {
                if progress {
                    self.stall = None;
                }
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedWrites<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + SendQueue + Unpin> AsyncWrite for TimedWrites<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        let progress = matches!(written, Poll::Ready(Ok(n)) if n > 0);
        this.after_write(cx, written, progress)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        let progress = matches!(written, Poll::Ready(Ok(n)) if n > 0);
        this.after_write(cx, written, progress)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        // A flush says nothing of the client: only a write that goes through is progress.
        this.after_write(cx, flushed, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    /// One end of an in-memory pipe of 64 KiB, whose "unacknowledged bytes" the test sets.
    struct Pipe {
        end: DuplexStream,
        unacked: Arc<AtomicU64>,
        reset: Arc<AtomicBool>,
    }

    impl SendQueue for Pipe {
        fn unacked(&self) -> Option<u64> {
            Some(self.unacked.load(Ordering::SeqCst))
        }

        fn reset_on_close(&self) {
            self.reset.store(true, Ordering::SeqCst);
        }
    }

    impl AsyncRead for Pipe {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().end).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.get_mut().end).poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().end).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().end).poll_shutdown(cx)
        }
    }

    struct Setup {
        writes: TimedWrites<Pipe>,
        client: DuplexStream,
        unacked: Arc<AtomicU64>,
        reset: Arc<AtomicBool>,
        stalled: Counter,
    }

    const IDLE: Duration = Duration::from_secs(30);

    fn setup() -> Setup {
        let (end, client) = tokio::io::duplex(64 << 10);
        let (unacked, reset) = (Arc::new(AtomicU64::new(1 << 20)), Arc::new(AtomicBool::new(false)));
        let pipe = Pipe { end, unacked: unacked.clone(), reset: reset.clone() };
        let stalled = Counter::default();
        Setup { writes: TimedWrites::new(pipe, IDLE, None, stalled.clone()), client, unacked, reset, stalled }
    }

    /// Writes until the pipe is full; answers how much was written.
    async fn fill(writes: &mut TimedWrites<Pipe>) -> usize {
        let chunk = vec![7u8; 16 << 10];
        let mut written = 0;
        while let Some(Ok(n)) = futures_util::FutureExt::now_or_never(writes.write(&chunk)) {
            written += n;
        }
        written
    }

    // Time is paused in these tests: tokio moves the clock to the next timer whenever every task
    // waits, so they take no real time and depend on none.

    #[tokio::test(start_paused = true)]
    async fn a_client_that_receives_nothing_loses_its_connection_after_the_idle_timeout() {
        let mut s = setup();
        assert_eq!(fill(&mut s.writes).await, 64 << 10);
        let started = Instant::now();
        let err = s.writes.write_all(b"more").await.expect_err("ended");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("received nothing for 30 s"), "{err}");
        assert_eq!(started.elapsed(), IDLE, "ended exactly one idle timeout after the wait began");
        assert!(s.reset.load(Ordering::SeqCst), "the socket is reset, its buffers dropped");
        assert_eq!(s.stalled.get(), 1);
        drop(s.client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_whose_kernel_keeps_acknowledging_is_never_cut() {
        let mut s = setup();
        let filled = fill(&mut s.writes).await;
        // The kernel says the client acknowledged a little every 20 s (as a slow reader's would,
        // long before the writer is woken, which needs room for a whole write), for 300 s.
        let unacked = s.unacked.clone();
        let acks = tokio::spawn(async move {
            for _ in 0..15 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                unacked.fetch_sub(100, Ordering::SeqCst);
            }
        });
        let mut client = s.client;
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(300)).await;
            let mut all = vec![0u8; filled + 4];
            client.read_exact(&mut all).await.map(|_| client)
        });
        let started = Instant::now();
        s.writes.write_all(b"more").await.expect("not cut while the client acknowledges");
        assert!(started.elapsed() >= Duration::from_secs(300), "{:?}", started.elapsed());
        acks.await.expect("acks");
        let _client = reader.await.expect("reader").expect("read");
        // Acknowledgements stop: the next wait ends one idle timeout after it began.
        fill(&mut s.writes).await;
        let started = Instant::now();
        let err = s.writes.write_all(&[1u8; 64 << 10]).await.expect_err("cut once nothing moves");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), IDLE);
        assert_eq!(s.stalled.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_goes_through_starts_the_wait_afresh() {
        let mut s = setup();
        fill(&mut s.writes).await;
        let mut client = s.client;
        // The client reads 1 KiB every 25 s: never an idle timeout without a write going through.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut read = 0;
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_secs(25)).await;
                read += client.read(&mut buf).await?;
            }
            Ok::<_, std::io::Error>((read, client))
        });
        for _ in 0..8 {
            s.writes.write_all(&[1u8; 1024]).await.expect("each write goes through within the timeout");
        }
        let (read, _client) = reader.await.expect("reader").expect("read");
        assert_eq!(read, 8 << 10);
        assert_eq!(s.stalled.get(), 0);
        assert!(!s.reset.load(Ordering::SeqCst));
    }
}
