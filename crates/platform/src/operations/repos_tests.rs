//! Repositories against a real local folder and SQLite: commits make versions from the latest,
//! unchanged files are stored once, staged files are checked, a stale parent is refused.

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::Digest;

use super::{RepoChange, RepoCommit, RepoSource, commit_id};
use crate::error::Error;
use crate::operations::intake::Body;
use crate::operations::intake::tests_support::{data, setup};
use crate::operations::{Caller, Platform};

fn body(bytes: &[u8]) -> Body {
    let frames: Vec<crate::error::Result<Bytes>> =
        bytes.chunks(70_001).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(frames).boxed()
}

fn put(path: &str, bytes: &[u8]) -> RepoChange {
    RepoChange::Put { path: path.into(), source: RepoSource::Bytes(Bytes::copy_from_slice(bytes)) }
}

async fn read_file(platform: &Platform, caller: &Caller, name: &str, version: Option<u64>, path: &str) -> Vec<u8> {
    let readable = platform.readable_file(caller, None, name, version, path).await.expect("readable");
    let mut stream = platform.read(&readable, (0, readable.size())).await.expect("read");
    let mut out = Vec::new();
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.expect("piece"));
    }
    out
}

#[tokio::test]
async fn commits_make_versions_from_the_latest_and_store_only_what_changed() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    let created = platform.create_repo(&caller, None, "tiny").await.expect("create");
    assert_eq!(created.meta.version, 1);
    assert!(matches!(platform.create_repo(&caller, None, "tiny").await, Err(Error::Conflict(_))));

    // An LFS object staged, then committed with a regular file.
    let weights = data(6 << 20, 11);
    let sha = hex::encode(sha2::Sha256::digest(&weights));
    let wrong = platform.stage_file(&caller, None, &"0".repeat(64), weights.len() as u64, body(&weights)).await;
    assert!(matches!(wrong, Err(Error::BadBytes(_))), "{wrong:?}");
    assert_eq!(platform.have_files(&caller, None, std::slice::from_ref(&sha)).await.expect("have"), vec![false]);
    platform.stage_file(&caller, None, &sha, weights.len() as u64, body(&weights)).await.expect("stage");
    assert_eq!(platform.have_files(&caller, None, std::slice::from_ref(&sha)).await.expect("have"), vec![true]);
    let config = br#"{"model_type": "bert"}"#;
    let commit = RepoCommit {
        parent: Some(1),
        changes: vec![
            put("config.json", config),
            RepoChange::Put { path: "model.safetensors".into(), source: RepoSource::Staged { sha256: sha.clone() } },
            put("docs/a.md", b"a"),
            put("docs/b.md", b"b"),
        ],
        message: "first".into(),
    };
    let v2 = platform.commit_repo(&caller, None, "tiny", commit).await.expect("commit");
    assert_eq!(v2.meta.version, 2);
    assert_eq!(read_file(&platform, &caller, "tiny", None, "config.json").await, config);
    assert_eq!(read_file(&platform, &caller, "tiny", None, "model.safetensors").await, weights);
    let files = platform.repo_files(&caller, None, "tiny", None).await.expect("files");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["config.json", "docs/a.md", "docs/b.md", "model.safetensors"]);
    let model = files.iter().find(|f| f.path == "model.safetensors").expect("model");
    assert_eq!(model.sha256, sha);
    assert_eq!(model.size, weights.len() as u64);
    let mut git = <sha1::Sha1 as sha1::Digest>::new();
    sha1::Digest::update(&mut git, format!("blob {}\0", config.len()).as_bytes());
    sha1::Digest::update(&mut git, config);
    let config_file = files.iter().find(|f| f.path == "config.json").expect("config");
    assert_eq!(config_file.git_sha1, hex::encode(sha1::Digest::finalize(git)));

    // A commit that changes one small file: the big one is not stored again.
    let v3 = platform
        .commit_repo(
            &caller,
            None,
            "tiny",
            RepoCommit { changes: vec![put("config.json", b"{}")], ..Default::default() },
        )
        .await
        .expect("commit");
    let added = v3.added_bytes.unwrap_or(u64::MAX);
    assert!(added < 64 << 10, "a one-file commit added {added} bytes");
    assert_eq!(read_file(&platform, &caller, "tiny", None, "model.safetensors").await, weights);
    assert_eq!(read_file(&platform, &caller, "tiny", Some(2), "config.json").await, config);

    // Deletes; a stale parent; a missing file; revisions by commit id.
    let v4 = platform
        .commit_repo(
            &caller,
            None,
            "tiny",
            RepoCommit {
                parent: Some(3),
                changes: vec![RepoChange::DeleteFolder { path: "docs".into() }],
                ..Default::default()
            },
        )
        .await
        .expect("delete folder");
    let files = platform.repo_files(&caller, None, "tiny", None).await.expect("files");
    assert_eq!(files.len(), 2);
    let stale = platform
        .commit_repo(
            &caller,
            None,
            "tiny",
            RepoCommit { parent: Some(3), changes: vec![put("x", b"x")], ..Default::default() },
        )
        .await;
    assert!(matches!(stale, Err(Error::Precondition(_))), "{stale:?}");
    let missing = platform
        .commit_repo(
            &caller,
            None,
            "tiny",
            RepoCommit { changes: vec![RepoChange::Delete { path: "nope".into() }], ..Default::default() },
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    let bad = platform
        .commit_repo(&caller, None, "tiny", RepoCommit { changes: vec![put("../x", b"x")], ..Default::default() })
        .await;
    assert!(matches!(bad, Err(Error::Invalid(_))), "{bad:?}");
    let id2 = commit_id(&v2);
    assert_eq!(id2.len(), 40);
    assert_ne!(id2, commit_id(&v4));
    let found = platform.repo_version(&caller, None, "tiny", Some(&id2)).await.expect("by id");
    assert_eq!(found.meta.version, 2);
    assert_eq!(platform.repo_version(&caller, None, "tiny", Some("main")).await.expect("main").meta.version, 4);
    assert!(matches!(platform.repo_version(&caller, None, "tiny", Some("dev")).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn racing_commits_make_one_chain_and_lose_no_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    platform.create_repo(&caller, None, "r").await.expect("create");
    let platform = std::sync::Arc::new(platform);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (platform, caller) = (platform.clone(), caller.clone());
        tasks.push(tokio::spawn(async move {
            let commit = RepoCommit { changes: vec![put(&format!("f{i}"), &[i as u8; 10])], ..Default::default() };
            platform.commit_repo(&caller, None, "r", commit).await
        }));
    }
    let mut committed = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => committed += 1,
            Err(Error::Precondition(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let files = platform.repo_files(&caller, None, "r", None).await.expect("files");
    let latest = platform.repo_version(&caller, None, "r", None).await.expect("latest");
    assert_eq!(latest.meta.version, 1 + committed, "one version per commit");
    assert_eq!(files.len() as u64, committed, "every committed file is in the latest version");
}

#[tokio::test]
async fn a_commit_of_many_small_files_packs_them_in_readable_packs() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, caller) = setup(dir.path()).await;
    platform.create_repo(&caller, None, "many").await.expect("create");
    let changes: Vec<RepoChange> =
        (0..2500).map(|i| put(&format!("d{}/f{i}.txt", i % 7), format!("file {i}").as_bytes())).collect();
    let commit = RepoCommit { changes, message: "many files".into(), ..Default::default() };
    let v2 = platform.commit_repo(&caller, None, "many", commit).await.expect("commit");
    assert_eq!(v2.meta.description, "many files");
    assert_eq!(read_file(&platform, &caller, "many", None, "d6/f1000.txt").await, b"file 1000");
    assert_eq!(platform.repo_files(&caller, None, "many", None).await.expect("files").len(), 2500);
}
