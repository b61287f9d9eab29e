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

fn data(len: usize, seed: u64) -> Vec<u8> {
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

async fn setup(dir: &std::path::Path) -> (Platform, Caller) {
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
