//! The intake against a real local folder and SQLite: what is stored reads back whole and
//! checked, what the namespace holds is not stored again, and a failed body keeps nothing.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::StreamExt;

use super::{Body, PutRequest};
use crate::blobs::{BlobStore, LocalStore};
use crate::error::Error;
use crate::operations::{Caller, Lifetimes, Platform, test_support};
use crate::signing::UrlSigner;

pub(crate) fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A body in frames of odd sizes, as a network delivers it.
fn body(bytes: &[u8]) -> Body {
    let frames: Vec<crate::error::Result<Bytes>> =
        bytes.chunks(50_001).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(frames).boxed()
}

pub(crate) async fn setup(dir: &std::path::Path) -> (Platform, Caller) {
    let catalogue = test_support::catalogue(dir).await;
    crate::admin::create_user(&catalogue, "alice").await.expect("user");
    let key = crate::admin::create_key(&catalogue, "alice", false, "test").await.expect("key").1;
    let store = LocalStore::new(dir.join("blobs"), "http://127.0.0.1:1", UrlSigner::new(b"k")).expect("store");
    let services = BTreeMap::from([("R2".to_string(), BlobStore::Local(store))]);
    let platform = Platform::new(catalogue, services, "R2".into(), "http://127.0.0.1:1".into(), Lifetimes::default());
    let caller = platform.authenticate(Some(&key)).await.expect("caller");
    (platform, caller)
}

fn put(name: &str, bytes: &[u8]) -> PutRequest {
    PutRequest { name: name.into(), size: Some(bytes.len() as u64), ..Default::default() }
}

async fn read_back(platform: &Platform, record: &crate::catalogue::ObjectRecord) -> Vec<u8> {
    let content = record.content.clone().expect("packed");
    let mut stream = platform.read_assembled(&record.meta.service, content, (0, record.meta.size)).expect("read");
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.expect("piece"));
    }
    out
}

#[tokio::test]
async fn a_put_reads_back_whole_and_only_new_chunks_are_stored_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    let original = data(20 << 20, 1);

    let first = platform.put_object(&caller, None, put("a.bin", &original), body(&original)).await.expect("put");
    let record = first.record;
    assert_eq!(record.meta.size, original.len() as u64);
    assert_eq!(record.meta.checksum, fedml_proto::checksum::of_bytes(&original));
    assert_eq!(record.attributes.md5.as_deref(), Some(hex::encode(md5_of(&original)).as_str()));
    assert_eq!(read_back(&platform, &record).await, original);
    assert!(record.added_bytes.unwrap_or(0) >= original.len() as u64, "the first copy is stored");

    // The same bytes under another name: found through its samples, nothing stored again.
    let again = platform.put_object(&caller, None, put("b.bin", &original), body(&original)).await.expect("put");
    assert_eq!(again.record.added_bytes, Some(0), "a second copy adds nothing");
    assert_eq!(read_back(&platform, &again.record).await, original);

    // A 1% change in the middle of an overwrite: about that much (and the chunks around it) is new.
    let mut changed = original.clone();
    let (middle, run) = (changed.len() / 2, changed.len() / 100);
    for b in &mut changed[middle..middle + run] {
        *b ^= 0x5a;
    }
    let third = platform.put_object(&caller, None, put("a.bin", &changed), body(&changed)).await.expect("put");
    let added = third.record.added_bytes.unwrap_or(u64::MAX);
    assert!(added < (changed.len() / 100 + (1 << 20)) as u64, "a 1% change added {added} bytes");
    assert_eq!(third.record.meta.version, 2);
    assert_eq!(read_back(&platform, &third.record).await, changed);

    // Empty and tiny bodies.
    for bytes in [Vec::new(), vec![7u8; 3]] {
        let stored = platform.put_object(&caller, None, put("tiny", &bytes), body(&bytes)).await.expect("put");
        assert_eq!(stored.record.meta.size, bytes.len() as u64);
        assert_eq!(stored.record.meta.checksum, fedml_proto::checksum::of_bytes(&bytes));
        if !bytes.is_empty() {
            assert_eq!(read_back(&platform, &stored.record).await, bytes);
        }
    }
}

#[tokio::test]
async fn a_bad_body_keeps_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    let bytes = data(3 << 20, 2);

    let mut wrong = put("x", &bytes);
    wrong.content_md5 = Some([0; 16]);
    let refused = platform.put_object(&caller, None, wrong, body(&bytes)).await;
    assert!(matches!(refused, Err(Error::BadBytes(_))), "{refused:?}");

    let mut short = put("x", &bytes);
    short.size = Some(bytes.len() as u64 + 1);
    let refused = platform.put_object(&caller, None, short, body(&bytes)).await;
    assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");

    let failing: Body = futures_util::stream::iter(vec![
        Ok(Bytes::from(bytes[..1 << 20].to_vec())),
        Err(Error::BadBytes("the checksum trailer does not match".into())),
    ])
    .boxed();
    let refused = platform.put_object(&caller, None, put("x", &bytes), failing).await;
    assert!(matches!(refused, Err(Error::BadBytes(ref m)) if m.contains("trailer")), "{refused:?}");
    assert!(!platform.catalogue.object_exists(&caller.user_id, "x").await.expect("exists"), "nothing was stored");

    // Create-only: the second is refused as a failed precondition.
    let mut create = put("y", &bytes);
    create.create_only = true;
    platform.put_object(&caller, None, create.clone(), body(&bytes)).await.expect("first create");
    let refused = platform.put_object(&caller, None, create, body(&bytes)).await;
    assert!(matches!(refused, Err(Error::Precondition(_))), "{refused:?}");
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(bytes).into()
}

/// Parts of `size` bytes of `bytes`, sent in the order given (a part number sent twice: the
/// second replaces the first), then completed in order.
async fn multipart(
    platform: &Platform,
    caller: &Caller,
    name: &str,
    bytes: &[u8],
    size: usize,
    order: &[usize],
) -> crate::catalogue::ObjectRecord {
    let id = platform.begin_multipart(caller, None, put(name, &[])).await.expect("begin");
    let parts: Vec<&[u8]> = bytes.chunks(size).collect();
    let mut etags = vec![String::new(); parts.len()];
    for &i in order {
        let part = parts[i];
        let stored = platform
            .put_part(caller, None, &id, i as u32 + 1, Some(part.len() as u64), None, body(part))
            .await
            .expect("part");
        assert_eq!(stored.md5, hex::encode(md5_of(part)));
        etags[i] = format!("\"{}\"", stored.md5);
    }
    let listed = platform.multipart_parts(caller, None, &id).await.expect("parts");
    assert_eq!(listed.parts.len(), parts.len());
    let uploads = platform.multipart_uploads(caller, None, "").await.expect("uploads");
    assert!(uploads.iter().any(|u| u.upload_id == id && u.name == name));
    let named: Vec<(u32, Option<String>)> =
        etags.into_iter().enumerate().map(|(i, e)| (i as u32 + 1, Some(e))).collect();
    let stored = platform.complete_multipart(caller, None, &id, &named).await.expect("complete").record;
    let mut md5s = Vec::new();
    for part in &parts {
        md5s.extend_from_slice(&md5_of(part));
    }
    assert_eq!(stored.attributes.md5.as_deref(), Some(hex::encode(md5_of(&md5s)).as_str()));
    assert_eq!(stored.attributes.parts, Some(parts.len() as u32));
    stored
}

#[tokio::test]
async fn multipart_parts_join_without_moving_a_byte_and_the_checksum_is_the_whole_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    let bytes = data((5 << 20) + 12_345, 3);
    // Power-of-two parts (the digests merge), sent out of order and one twice.
    let record = multipart(&platform, &caller, "m1", &bytes, 1 << 20, &[2, 0, 1, 5, 3, 4, 1]).await;
    assert_eq!(record.meta.size, bytes.len() as u64);
    assert_eq!(record.meta.checksum, fedml_proto::checksum::of_bytes(&bytes));
    assert_eq!(read_back(&platform, &record).await, bytes);
    // The same bytes in the same parts again: nothing new.
    let record = multipart(&platform, &caller, "m1b", &bytes, 1 << 20, &[0, 1, 2, 3, 4, 5]).await;
    assert_eq!(record.added_bytes, Some(0));
    // Parts of another size (read back once for the checksum): the chunks are cut anew at each
    // part's start, so only those around the parts' edges (of both uploads) are new.
    let record = multipart(&platform, &caller, "m2", &bytes, 1_000_000, &[0, 1, 2, 3, 4, 5]).await;
    assert_eq!(record.meta.checksum, fedml_proto::checksum::of_bytes(&bytes));
    let added = record.added_bytes.unwrap_or(u64::MAX);
    assert!(added <= (12 * 128) << 10, "{added} bytes added");
    assert_eq!(read_back(&platform, &record).await, bytes);
    // One part only.
    let small = data(3000, 4);
    let record = multipart(&platform, &caller, "m3", &small, 4096, &[0]).await;
    assert_eq!(record.meta.checksum, fedml_proto::checksum::of_bytes(&small));

    // A wrong ETag, a missing part, a wrong order are refused; abort ends it.
    let id = platform.begin_multipart(&caller, None, put("m4", &[])).await.expect("begin");
    platform.put_part(&caller, None, &id, 1, Some(3000), None, body(&small)).await.expect("part");
    for listed in [vec![(1, Some("\"00\"".to_string()))], vec![(2, None)], vec![(1, None), (1, None)]] {
        let refused = platform.complete_multipart(&caller, None, &id, &listed).await;
        assert!(matches!(refused, Err(Error::Invalid(_))), "{listed:?}: {refused:?}");
    }
    platform.abort_multipart(&caller, None, &id).await.expect("abort");
    let gone = platform.put_part(&caller, None, &id, 2, Some(3000), None, body(&small)).await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
}

#[tokio::test]
async fn a_copy_names_the_same_packs() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    let bytes = data(6 << 20, 5);
    let mut req = put("src", &bytes);
    req.content_type = Some("text/csv".into());
    req.metadata = Some(BTreeMap::from([("k".to_string(), "v".to_string())]));
    let source = platform.put_object(&caller, None, req, body(&bytes)).await.expect("put").record;
    let to = super::super::copy::CopyRequest { name: "dst".into(), ..Default::default() };
    let copy = platform.copy_object(&caller, None, "src", None, None, to).await.expect("copy").record;
    assert_eq!(copy.added_bytes, Some(0));
    assert_eq!(copy.content, source.content);
    assert_eq!(copy.attributes, source.attributes);
    assert_eq!(copy.meta.user_metadata, source.meta.user_metadata);
    assert_eq!(read_back(&platform, &copy).await, bytes);
}
