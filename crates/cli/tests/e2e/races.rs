//! Races on one upload session: completions, aborts and part uploads of one session at the same
//! moment (threads released by a barrier, each request on its own connection, alternating
//! between two servers over one catalogue and store), each race repeated many times. Whatever
//! the interleaving, exactly one outcome happens, every answer tells the truth about it, and
//! committed bytes never change afterwards.

use std::io::{Read, Write};
use std::time::Duration;

use fedml_client::ResponseCode;
use fedml_client::client::Client;
use fedml_client::error::ClientError;
use fedml_proto::{CompleteUpload, CompletedPart, CompletedUpload, ObjectKind};

use crate::harness::*;

fn no_grace() -> fedml_platform::operations::Lifetimes {
    fedml_platform::operations::Lifetimes { reclaim_grace_secs: 0, ..Default::default() }
}

/// Two servers over one catalogue and store, and a client of each (its own connections).
struct Pair {
    a: TestServer,
    b: TestServer,
}

impl Pair {
    fn start() -> Pair {
        let a = TestServer::start_with(no_grace());
        let b = TestServer::start_sharing(&a);
        Pair { a, b }
    }

    /// A fresh client (its own connection pool) of server `i % 2`, with `key`.
    fn client(&self, i: usize, key: &str) -> Client {
        let server = if i.is_multiple_of(2) { &self.a } else { &self.b };
        Client::new(&server.url, key).expect("client")
    }

    fn collect(&self) {
        for server in [&self.a, &self.b] {
            let platform = server.platform.clone();
            server.block_on(async move { platform.collect_all_garbage().await.expect("collect") });
        }
    }
}

/// An open session of one part whose first part has been sent.
struct Session {
    id: String,
    part_url: String,
    /// A signed URL for part 2, which the completion does not list.
    other_part_url: String,
    data: Vec<u8>,
    etag: String,
}

impl Session {
    fn open(client: &Client, name: &str, data: Vec<u8>) -> Session {
        let (session, urls) =
            fedml_client::block_on(open_raw_upload(client, name, ObjectKind::File, data.len() as u64))
                .expect("session");
        let part_url = urls[0].url.clone();
        let other_part_url =
            fedml_client::block_on(client.part_urls(&session.upload_id, 2, 1)).expect("part 2 URL")[0].url.clone();
        let (status, etag) = put(client, &part_url, &data);
        assert!(status == 200 || status == 201, "the first part is accepted (201: Azure's Put Block): {status}");
        Session { id: session.upload_id, part_url, other_part_url, etag: etag.expect("an ETag"), data }
    }

    fn completion(&self) -> CompleteUpload {
        CompleteUpload {
            parts: vec![CompletedPart { part_number: 1, etag: self.etag.clone() }],
            size: self.data.len() as u64,
            checksum: fedml_proto::checksum::of_bytes(&self.data),
            content: None,
        }
    }
}

/// PUTs a part body; answers the status and the ETag.
fn put(client: &Client, url: &str, data: &[u8]) -> (u16, Option<String>) {
    let body = data.to_vec();
    let sent = fedml_client::block_on(async {
        let response = client
            .http()
            .put(url)
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Error(format!("part PUT failed: {e}")))?;
        let etag = part_tag(response.headers());
        Ok((response.status().as_u16(), etag))
    });
    sent.expect("the part PUT gets an answer")
}

/// A refusal must be a FAILURE that says why, never a breakage of the server.
fn assert_refusal(label: &str, e: &ClientError) {
    assert_eq!(e.code(), ResponseCode::Failure, "{label}: a race must be refused, not break the server: {e:?}");
    assert!(e.message().len() > 20, "{label}: the refusal says why: {e:?}");
}

/// The object downloads, passes its checksum, and holds `expected`.
fn assert_holds(server: &TestServer, name: &str, expected: &[u8], label: &str) {
    let dest = tempfile::tempdir().expect("tmp");
    let r = fedml_client::download_with(name, &download_opts(server.admin(), dest.path()));
    assert!(r.is_success(), "{label}: the committed object must download and verify: {}", r.message);
    assert!(std::fs::read(dest.path().join(name)).expect("read") == expected, "{label}: the committed bytes changed");
}

fn listed(server: &TestServer) -> Vec<String> {
    let list = fedml_client::list_storage_objects_with(&server.admin());
    list.data.expect("list").into_iter().map(|o| o.data_name).collect()
}

#[test]
fn concurrent_completions_of_one_session_commit_once_and_lose_nothing() {
    let pair = Pair::start();
    let key = pair.a.admin_key.clone();
    for round in 0..20 {
        let name = format!("twice-{round}");
        let session = Session::open(&pair.client(round, &key), &name, bytes(1000 + round, round as u64));
        let completion = session.completion();
        let racers = if round % 2 == 0 { 2 } else { 4 };
        let jobs: Vec<Job<Result<CompletedUpload, ClientError>>> = (0..racers)
            .map(|i| {
                let client = pair.client(i, &key);
                let (id, completion) = (session.id.clone(), completion.clone());
                Box::new(move || fedml_client::block_on(client.complete_upload(&id, &completion)))
                    as Box<dyn FnOnce() -> _ + Send>
            })
            .collect();
        let results = at_once(jobs);
        let stored = results.iter().filter(|r| r.is_ok()).count();
        assert!(stored >= 1, "round {round}: one completion must win: {results:?}");
        for r in &results {
            match r {
                Ok(done) => assert_eq!(done.object.checksum, completion.checksum, "round {round}"),
                Err(e) => assert_refusal(&format!("round {round}"), e),
            }
        }
        // The losers' answers removed nothing: after a collection the object still verifies.
        pair.collect();
        assert_holds(&pair.a, &name, &session.data, &format!("round {round}"));
    }
    assert_eq!(listed(&pair.a).len(), 20);
}

#[test]
fn abort_and_complete_racing_have_exactly_one_outcome() {
    let pair = Pair::start();
    let key = pair.a.admin_key.clone();
    let (mut committed, mut aborted) = (0, 0);
    for round in 0..24 {
        let name = format!("abort-or-commit-{round}");
        let session = Session::open(&pair.client(round, &key), &name, bytes(2000 + round, 50 + round as u64));
        let (completer, aborter) = (pair.client(round, &key), pair.client(round + 1, &key));
        let (id, id2, completion) = (session.id.clone(), session.id.clone(), session.completion());
        let jobs: Vec<Job<Result<Option<bool>, ClientError>>> = vec![
            Box::new(move || fedml_client::block_on(completer.complete_upload(&id, &completion)).map(|_| None)),
            Box::new(move || fedml_client::block_on(aborter.abort_upload(&id2)).map(Some)),
        ];
        let mut results = at_once(jobs).into_iter();
        let (completed, abort) = (results.next().expect("complete"), results.next().expect("abort"));
        let abort_ended_it = matches!(abort, Ok(Some(true)));
        assert!(
            completed.is_ok() != abort_ended_it,
            "round {round}: exactly one of the two may happen: complete {completed:?}, abort {abort:?}"
        );
        for e in [completed.as_ref().err(), abort.as_ref().err()].into_iter().flatten() {
            assert_refusal(&format!("round {round}"), e);
        }
        pair.collect();
        if completed.is_ok() {
            committed += 1;
            assert!(listed(&pair.b).contains(&name), "round {round}: a stored object is listed");
            assert_holds(&pair.b, &name, &session.data, &format!("round {round}"));
        } else {
            aborted += 1;
            assert!(!listed(&pair.b).contains(&name), "round {round}: an aborted upload is not listed");
            assert!(pair.a.session_files(&session.id).is_empty(), "round {round}: an aborted upload leaves nothing");
        }
    }
    println!("{committed} rounds committed, {aborted} aborted");
}

/// Opens `PUT url` with a Content-Length of `total` and sends the first `sent` bytes of `body`;
/// the rest follows with [`finish_put`].
fn start_put(url: &str, body: &[u8], sent: usize) -> std::net::TcpStream {
    let url = reqwest::Url::parse(url).expect("url");
    let addr = format!("{}:{}", url.host_str().expect("host"), url.port_or_known_default().expect("port"));
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let head =
        format!("PUT {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&body[..sent]).expect("body start");
    stream
}

/// Sends the rest of the body; answers the status code (0 when the server closed unanswered).
fn finish_put(mut stream: std::net::TcpStream, body: &[u8], sent: usize) -> u16 {
    let _ = stream.write_all(&body[sent..]);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

#[test]
fn a_part_arriving_during_completion_never_changes_committed_bytes() {
    let pair = Pair::start();
    let key = pair.a.admin_key.clone();
    let local = matches!(pair.a.backend, Backend::Embedded);
    for round in 0..10 {
        let name = format!("late-part-{round}");
        let len = 256 << 10;
        let session = Session::open(&pair.client(round, &key), &name, bytes(len, 900 + round as u64));
        let other = bytes(len, 1900 + round as u64);
        // A second PUT of part 1 is under way (headers only, or some of its body) when the
        // completion of the first comes.
        let sent = if round % 2 == 0 { 0 } else { len / 3 };
        let late = start_put(&session.part_url, &other, sent);
        std::thread::sleep(Duration::from_millis(100));
        let completed =
            fedml_client::block_on(pair.client(round + 1, &key).complete_upload(&session.id, &session.completion()));
        let late_status = finish_put(late, &other, sent);
        let label = format!("round {round} (completion {:?}, late part HTTP {late_status})", completed.as_ref().err());
        match &completed {
            Ok(_) => {
                if local {
                    assert_ne!(late_status, 200, "{label}: a part after the commit must be refused");
                }
                pair.collect();
                assert_holds(&pair.a, &name, &session.data, &label);
            }
            Err(e) => {
                // Refused because a part was still being received: nothing was committed, and the
                // session takes a completion of what its part now holds.
                assert_refusal(&label, e);
                assert!(!listed(&pair.a).contains(&name), "{label}: nothing committed");
                assert_eq!(late_status, 200, "{label}: the part that held the completion off lands");
                let again = fedml_client::block_on(
                    pair.client(round, &key).complete_upload(&session.id, &session.completion()),
                );
                assert_refusal(&label, &again.expect_err("the first part's ETag no longer matches"));
                let crc = format!("\"{:08x}\"", crc32c(&other));
                let now = CompleteUpload {
                    parts: vec![CompletedPart { part_number: 1, etag: crc }],
                    size: len as u64,
                    checksum: fedml_proto::checksum::of_bytes(&other),
                    content: None,
                };
                fedml_client::block_on(pair.client(round, &key).complete_upload(&session.id, &now))
                    .expect("completing what the store holds");
                pair.collect();
                assert_holds(&pair.a, &name, &other, &label);
            }
        }
        // Once committed, no PUT of the session's URL is taken, and the bytes stay. (On GCS and
        // Azure a signed URL cannot be revoked: the PUT lands in a part nobody reads.)
        let (status, _) = put(&pair.client(round, &key), &session.part_url, &bytes(len, 7));
        if !matches!(pair.a.backend, Backend::Cloud(_)) {
            assert_ne!(status, 200, "{label}: a part after the commit must be refused");
        }
        pair.collect();
        let holds = if completed.is_ok() { &session.data } else { &other };
        assert_holds(&pair.b, &name, holds, &label);
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Complete,
    Abort,
    /// The first part again, the same bytes (a client's retry).
    RetryPart,
    /// A part the completion does not list.
    OtherPart,
}

#[derive(Debug)]
enum Answer {
    Completed(Result<Box<CompletedUpload>, ClientError>),
    Aborted(Result<bool, ClientError>),
    Part(u16),
}

#[test]
fn any_interleaving_on_one_session_has_one_truthful_outcome() {
    let pair = Pair::start();
    let key = pair.a.admin_key.clone();
    let seed = std::env::var("FEDML_RACE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("FEDML_RACE_SEED={seed}");
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let all = [Op::Complete, Op::Abort, Op::RetryPart, Op::OtherPart];
    let local = matches!(pair.a.backend, Backend::Embedded);
    for round in 0..30 {
        let name = format!("mix-{round}");
        let session = Session::open(&pair.client(round, &key), &name, bytes(3000 + round, 300 + round as u64));
        let count = 2 + (next() % 4) as usize;
        let mut ops: Vec<Op> = (0..count).map(|_| all[(next() % 4) as usize]).collect();
        ops.push(Op::Complete);
        let label = format!("round {round} {ops:?}");
        let jobs: Vec<Job<Answer>> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let client = pair.client(i + round, &key);
                let (id, completion, url, data) =
                    (session.id.clone(), session.completion(), session.part_url.clone(), session.data.clone());
                let other_url = session.other_part_url.clone();
                let op = *op;
                Box::new(move || match op {
                    Op::Complete => Answer::Completed(
                        fedml_client::block_on(client.complete_upload(&id, &completion)).map(Box::new),
                    ),
                    Op::Abort => Answer::Aborted(fedml_client::block_on(client.abort_upload(&id))),
                    Op::RetryPart => Answer::Part(put(&client, &url, &data).0),
                    Op::OtherPart => Answer::Part(put(&client, &other_url, &data[..100]).0),
                }) as Box<dyn FnOnce() -> Answer + Send>
            })
            .collect();
        let answers = at_once(jobs);
        let completed = answers.iter().filter(|a| matches!(a, Answer::Completed(Ok(_)))).count();
        let aborted = answers.iter().filter(|a| matches!(a, Answer::Aborted(Ok(true)))).count();
        assert!(completed == 0 || aborted == 0, "{label}: both committed and aborted: {answers:?}");
        assert!(aborted <= 1, "{label}: aborted twice: {answers:?}");
        for a in &answers {
            match a {
                Answer::Completed(Err(e)) | Answer::Aborted(Err(e)) => assert_refusal(&label, e),
                Answer::Part(status) => {
                    // Accepted, or refused because the session moved on (409 from our local
                    // store). On S3 the part goes to the bucket, not to this server: the bucket
                    // answers a part of an upload it is completing or has completed as it sees
                    // fit (s3s-fs: 403, 404, or 500 when the completion moves the part files
                    // under it), and only the outcome below is ours to hold.
                    let ok =
                        part_taken(&pair.a.backend, *status) || if local { *status == 409 } else { *status >= 400 };
                    assert!(ok, "{label}: a part answered HTTP {status}: {answers:?}")
                }
                _ => {}
            }
        }
        pair.collect();
        let is_listed = listed(&pair.a).contains(&name);
        assert_eq!(is_listed, completed > 0, "{label}: listed iff a completion said so: {answers:?}");
        if is_listed {
            assert_holds(&pair.b, &name, &session.data, &label);
        }
    }
}

#[test]
fn revoking_a_key_ends_the_upload_sessions_it_opened() {
    let server = TestServer::start_with(no_grace());
    let first = server.new_user("rita");
    let second = server.new_key("rita", false);
    let (c1, c2) = (Client::new(&server.url, &first).expect("client"), Client::new(&server.url, &second).expect("c"));
    let mine = Session::open(&c1, "revoked-upload", bytes(5000, 1));
    let theirs = Session::open(&c2, "kept-upload", bytes(5000, 2));
    // Another key of the same user cannot continue a session it did not open.
    let e = fedml_client::block_on(c2.complete_upload(&mine.id, &mine.completion())).expect_err("another key");
    assert_refusal("another key completing", &e);
    assert!(e.message().contains("no upload session"), "the same answer as for an unknown session: {e:?}");
    // A download URL handed out before the revocation.
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), b"readable").expect("write");
    let up = fedml_client::upload_with(file.path(), &upload_opts(server.target(&first), "before"));
    assert!(up.is_success(), "{}", up.message);
    let url = fedml_client::block_on(c1.download_ticket(fedml_client::client::ObjectRef::latest("before")))
        .expect("ticket")
        .url;

    server.revoke(&first);
    // The revoked key's part URLs stop working at once on the local folder; on S3 once the
    // collector has aborted the multipart upload.
    server.block_on({
        let platform = server.platform.clone();
        async move { platform.collect_all_garbage().await.expect("collect") }
    });
    let (status, _) = put(&c2, &mine.part_url, &mine.data);
    // On GCS and Azure a signed URL lives until it expires: the part lands where nothing reads
    // it (the lifecycle rule removes it); the completion below is refused all the same.
    if !matches!(server.backend, Backend::Cloud(_)) {
        assert_ne!(status, 200, "a revoked key's part URL must be refused");
        assert!(server.session_files(&mine.id).is_empty(), "the revoked key's session leaves nothing");
    }
    let e = fedml_client::block_on(c1.complete_upload(&mine.id, &mine.completion())).expect_err("revoked");
    assert_refusal("revoked key completing", &e);
    // The user's other key goes on as before.
    fedml_client::block_on(c2.complete_upload(&theirs.id, &theirs.completion())).expect("the other key's session");
    // Download URLs live out their short life, as the README says.
    let got = fedml_client::block_on(async {
        let r = c2.http().get(&url).send().await.map_err(|e| ClientError::Error(e.to_string()))?;
        Ok(r.status().as_u16())
    });
    assert_eq!(got.expect("download"), 200);
    let names: Vec<String> = fedml_client::list_storage_objects_with(&server.target(&second))
        .data
        .expect("list")
        .into_iter()
        .map(|o| o.data_name)
        .collect();
    assert_eq!(names, vec!["before".to_string(), "kept-upload".to_string()]);
}
