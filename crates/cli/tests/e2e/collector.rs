//! The collector against a backlog: one pass is bounded, the periodic collector keeps passing
//! until nothing is due, and garbage of a service this server does not serve stays out of its way.

use crate::harness::*;

/// One collection pass takes a bounded batch; the periodic collector must not stop there, or a
/// server that replaces more than a batch of blobs per interval would never catch up; and
/// garbage it cannot reach (a retired service's) must not fill its batches.
#[test]
fn the_collector_drains_a_backlog_larger_than_one_pass() {
    // Overwrites that replace: each makes one blob of garbage.
    let server = TestServer::start_with_retention(TestServer::replacing());
    let work = tempfile::tempdir().expect("tmp");
    let file = work.path().join("f");
    for round in 0..3 {
        std::fs::write(&file, bytes(1000 + round, round as u64)).expect("write");
        // One blob per version: what this test counts (packs are collected in `dedup`).
        let mut o = upload_opts(server.admin(), "kept");
        o.overwrite = true;
        o.dedup = false;
        assert!(fedml_client::upload_with(&file, &o).is_success());
    }
    assert_eq!(server.blob_files().len(), 3, "two replaced versions wait out their grace period");
    // A backlog: 2,500 blobs already gone from the store but still owed a visit (as after a
    // crash between removing a blob and forgetting it), all due; and, older still, 1,500 of a
    // service this server no longer serves, which must not stand in the way.
    let rows: Vec<String> = (0..2500).map(|i| format!("('R2', 'backlog/{i}', 0)")).collect();
    catalogue_sql(&server, format!("INSERT INTO garbage (service, blob_key, reclaim_after) VALUES {}", rows.join(",")));
    end_grace_period(&server);
    let rows: Vec<String> = (0..1500).map(|i| format!("('retired', 'backlog/{i}', -1)")).collect();
    catalogue_sql(&server, format!("INSERT INTO garbage (service, blob_key, reclaim_after) VALUES {}", rows.join(",")));

    let platform = server.platform.clone();
    let pass = server.block_on(async move { platform.collect_garbage().await.expect("collect") });
    assert!(pass.more && pass.blobs_reclaimed < 2502, "one pass is bounded: {pass:?}");
    let platform = server.platform.clone();
    let all = server.block_on(async move { platform.collect_all_garbage().await.expect("collect") });
    assert_eq!(pass.blobs_reclaimed + all.blobs_reclaimed, 2502, "{pass:?} then {all:?}");
    assert_eq!(garbage_count(&server), 1500, "only the retired service's garbage is left");
    assert_eq!(server.blob_files().len(), 1, "only the live version is left");
    let dest = work.path().join("out");
    assert!(fedml_client::download_with("kept", &download_opts(server.admin(), &dest)).is_success());
    assert!(std::fs::read(dest.join("kept")).expect("read") == bytes(1002, 2));
}
