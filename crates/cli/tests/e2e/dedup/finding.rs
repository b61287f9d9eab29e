//! Earlier data found again by its sample chunks, however they fall: a directory under another
//! name whose first bytes hold none by id, a file with bytes put before it whose first one lies
//! far in.

use super::*;

/// A directory of files a little larger than a chunk, uploaded again under another name, whose
/// first 12 MiB hold no sample chunk by id (about one such tree in four): found all the same by
/// the first chunks of its first files, so that only the archive's own bytes travel again.
#[test]
fn a_tree_whose_first_bytes_hold_no_sample_is_found_under_another_name() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    const FILES: u64 = 200;
    let size = |i: u64| (64 << 10) + (((i * 7919) % 64) << 10) as usize;
    let file = |seed: u64, i: u64| bytes(size(i), seed * 1000 + i);
    let sampled = |data: &[u8]| {
        let mut at = 0;
        fedml_proto::content::Chunker.lengths(data).into_iter().any(|len| {
            at += len;
            fedml_proto::content::is_sample(&fedml_proto::content::chunk_id(&data[at - len..at]))
        })
    };
    // The first seed whose files up to 13 MiB (more than the uploader's first look) hold no sample.
    let seed = (1..200u64)
        .find(|&seed| {
            let mut read = 0;
            (0..FILES)
                .take_while(|&i| {
                    let before = read;
                    read += size(i);
                    before < 13 << 20
                })
                .all(|i| !sampled(&file(seed, i)))
        })
        .expect("a tree without samples up front");
    let tree = work.path().join("shards");
    std::fs::create_dir_all(&tree).expect("mkdir");
    for i in 0..FILES {
        std::fs::write(tree.join(format!("shard-{i:04}.bin")), file(seed, i)).expect("write");
    }
    upload(&target, &tree, "shards", false);
    let copy = upload(&target, &tree, "shards-copy", false);
    let share = sent_share(&format!("tree of seed {seed} under a second name"), &copy);
    assert!(share < 0.01, "the second name re-sent {:.1}%: {copy:?}", share * 100.0);
    let dest = work.path().join("dest");
    let got = fedml_client::download_with("shards-copy", &download_opts(target.clone(), &dest));
    assert!(got.is_success(), "{}", got.message);
    assert!(tree_listing(&dest.join("shards-copy")) == tree_listing(&tree), "the copy downloads as the tree");
}

/// A file whose first 24 MiB hold no sample chunk of the one-in-128 kind (about one in 20),
/// uploaded again with 1 MiB put before it: found in the first look by the denser samples of its
/// first 16 MiB, so that only the new MiB travels.
#[test]
fn data_whose_first_sample_lies_far_in_is_found_with_bytes_put_before_it() {
    let server = TestServer::start_with(no_grace());
    let work = tempfile::tempdir().expect("tmp");
    let target = server.admin();
    let far = |data: &[u8]| {
        let mut at = 0;
        for len in fedml_proto::content::Chunker.lengths(&data[..24 << 20]) {
            at += len;
            if fedml_proto::content::is_sample(&fedml_proto::content::chunk_id(&data[at - len..at])) {
                return false;
            }
        }
        true
    };
    let data = (1..400u64).map(|seed| bytes(32 << 20, 7000 + seed)).find(|d| far(d)).expect("such data");
    let original = work.path().join("original.bin");
    std::fs::write(&original, &data).expect("write");
    upload(&target, &original, "original.bin", false);
    let mut prefixed = bytes(1 << 20, 1);
    prefixed.extend_from_slice(&data);
    let path = work.path().join("prefixed.bin");
    std::fs::write(&path, &prefixed).expect("write");
    let moved = upload(&target, &path, "prefixed.bin", false);
    let share = sent_share("32 MiB with 1 MiB put before it, under another name", &moved);
    assert!(moved.sent_bytes < (1 << 20) + (1 << 20), "sent more than the new MiB and a pack's worth: {moved:?}");
    assert!(share < 0.07, "{moved:?}");
    downloads_as(&target, "prefixed.bin", &prefixed);
}
