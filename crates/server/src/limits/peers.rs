//! How many connections one client may hold at once: at most [`Limits::per_client_cap`] from
//! one address (an IPv6 client by its /64, the block one host or network is given, so that it
//! cannot take a fresh address per connection). A connection beyond that is answered at once
//! with HTTP 429, `Retry-After: 1` and a FedML envelope that says why, then closed: the SDKs take
//! the answer as a refusal to retry later or to report, where a bare close would read as a broken
//! network. The request is not parsed: the answer is written once its head has arrived (an HTTP
//! client takes an answer before its request for a broken connection), then the connection is
//! closed after what has arrived is read (a socket closed with unread bytes is reset, and the
//! reset may destroy the answer on its way). A refused connection waits for its request's head
//! at most [`REFUSAL_LINGER`], at most [`REFUSING`] of them at once; beyond that they are closed
//! at once (the client sees a broken connection, which the SDKs retry). A refused connection
//! never holds a slot of the connection cap.
//!
//! [`Limits::per_client_cap`]: super::Limits::per_client_cap

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Refused connections kept open at once to wait for their request and answer it.
pub const REFUSING: usize = 16;

/// How long a refused connection may take to send its request's head.
pub const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// Whom a connection is counted against: an IPv4 address, or an IPv6 address's /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey(IpAddr);

impl ClientKey {
    fn of(peer: IpAddr) -> ClientKey {
        match peer.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => ClientKey(v4),
        }
    }
}

/// The connections open from each client address.
#[derive(Debug)]
pub struct PerClient {
    /// 0: no limit.
    cap: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
    /// Permits to keep a refused connection open for its answer.
    refusing: Arc<Semaphore>,
    answer: Arc<[u8]>,
}

/// One admitted connection, counted against its client until dropped.
#[derive(Debug)]
pub struct Admitted {
    counted: Option<(Arc<PerClient>, ClientKey)>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((table, key)) = self.counted.take() {
            let mut open = table.open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = open.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

impl PerClient {
    /// At most `cap` connections from one client at once; 0: no limit.
    pub fn new(cap: usize) -> Arc<PerClient> {
        Arc::new(PerClient {
            cap,
            open: Mutex::new(HashMap::new()),
            refusing: Arc::new(Semaphore::new(REFUSING)),
            answer: refusal(cap).into(),
        })
    }

    /// Counts a connection from `peer` (unknown: not counted), or `None` when its client holds
    /// as many as it may already.
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Option<Admitted> {
        let Some(peer) = peer.filter(|_| self.cap > 0) else { return Some(Admitted { counted: None }) };
        let key = ClientKey::of(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Admitted { counted: Some((self.clone(), key)) })
    }

    /// Answers a refused connection (see the module's text) without waiting for it.
    pub fn refuse(&self, stream: TcpStream) {
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            // Closed at once: the client sees a broken connection, which it retries.
            return;
        };
        let answer = self.answer.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_LINGER, answer_refused(stream, &answer)).await;
            drop(permit);
        });
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Most bytes of a refused request's head read before it is answered anyway.
const MOST_HEAD: usize = 64 << 10;

/// Waits for the end of the request's head (an HTTP client takes an answer that comes before its
/// request for a broken connection), answers, and reads what else has come before it closes.
async fn answer_refused(mut stream: TcpStream, answer: &[u8]) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let (mut read, mut matched) = (0, 0);
    while matched < 4 && read < MOST_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        read += n;
        matched = head_end(matched, &buf[..n]);
    }
    stream.write_all(answer).await?;
    stream.shutdown().await?;
    while matches!(stream.try_read(&mut buf), Ok(n) if n > 0) {}
    Ok(())
}

/// How much of the blank line that ends a request's head (`\r\n\r\n`) has been seen after
/// `bytes`, given `matched` of it before them; 4: the head has ended.
fn head_end(mut matched: usize, bytes: &[u8]) -> usize {
    for &b in bytes {
        matched = match (matched, b) {
            (4, _) => return 4,
            (0 | 2, b'\r') | (1 | 3, b'\n') => matched + 1,
            (_, b'\r') => 1,
            _ => 0,
        };
    }
    matched
}

/// The whole answer to a refused connection.
fn refusal(cap: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "code": "FAILURE",
        "message": format!(
            "too many connections from your address: this server takes at most {cap} at once from one client \
             (--max-connections-per-client); let some finish or use fewer in parallel, then try again"
        ),
        "data": null,
    })
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("an address"))
    }

    #[test]
    fn a_client_holds_at_most_the_cap_and_gets_a_slot_back_when_one_closes() {
        let table = PerClient::new(2);
        let a = table.admit(ip("10.0.0.1")).expect("first");
        let b = table.admit(ip("10.0.0.1")).expect("second");
        assert!(table.admit(ip("10.0.0.1")).is_none(), "the third is refused");
        let other = table.admit(ip("10.0.0.2")).expect("another client is not affected");
        drop(a);
        let c = table.admit(ip("10.0.0.1")).expect("admitted again once one closed");
        assert!(table.admit(ip("10.0.0.1")).is_none());
        drop((b, c, other));
        assert_eq!(table.clients(), 0, "no entry outlives its connections");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let table = PerClient::new(1);
        let _one = table.admit(ip("2001:db8:1:2::1")).expect("first");
        assert!(table.admit(ip("2001:db8:1:2:ffff::9")).is_none(), "the same /64");
        let _next = table.admit(ip("2001:db8:1:3::1")).expect("another /64");
        let _v4 = table.admit(ip("192.0.2.7")).expect("v4");
        assert!(table.admit(ip("::ffff:192.0.2.7")).is_none(), "the same address, mapped");
    }

    #[test]
    fn no_cap_and_unknown_peers_are_never_refused() {
        let table = PerClient::new(0);
        let held: Vec<_> = (0..1000).map(|_| table.admit(ip("10.0.0.1")).expect("no limit")).collect();
        assert_eq!(table.clients(), 0, "nothing is counted without a cap");
        drop(held);
        let table = PerClient::new(1);
        let _a = table.admit(None).expect("unknown");
        let _b = table.admit(None).expect("unknown too");
    }

    #[test]
    fn the_refusal_is_an_http_429_with_a_fedml_envelope() {
        let answer = String::from_utf8(refusal(8)).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{head}");
        assert!(head.contains("\r\nretry-after: 1") && head.contains("\r\nconnection: close"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let envelope: fedml_proto::Envelope<()> = serde_json::from_str(body).expect("an envelope");
        assert_eq!(envelope.code, fedml_proto::ResponseCode::Failure);
        assert!(envelope.message.contains("at most 8 at once from one client"), "{}", envelope.message);
    }

    #[test]
    fn the_end_of_a_request_head_is_found_however_it_is_cut() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").expect("end") + 4;
        for cut in 0..=head.len() {
            let (a, b) = head.split_at(cut);
            let after_a = head_end(0, a);
            assert_eq!(after_a == 4, cut >= end, "cut at {cut}");
            assert_eq!(head_end(after_a, b), 4, "cut at {cut}");
        }
        assert!(head_end(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r") < 4);
        assert!(head_end(0, b"GET / HTTP/1.1\n\r\r\n") < 4);
        assert_eq!(head_end(0, b"x\r\r\n\r\n"), 4);
    }

    #[tokio::test]
    async fn a_refused_connection_is_answered_after_its_request_head_and_then_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let refusing = tokio::spawn(async move { answer_refused(server, b"ANSWER").await });
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        client.write_all(b"Accept: */*\r\n\r\n").await.expect("write");
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("answered and closed, not reset");
        assert_eq!(answer, b"ANSWER");
        refusing.await.expect("task").expect("answered");
    }
}
