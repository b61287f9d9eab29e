//! `Platform::list_keys` against a model: every key of the namespace sorted as bytes, filtered,
//! grouped and paged the way S3's ListObjectsV2 describes it, on SQLite and (with
//! `FEDML_TEST_POSTGRES_URL`) PostgreSQL. The objects are catalogue rows with no bytes behind
//! them; a directory object's files are indexed by the test, as the first listing would.

use fedml_proto::ObjectKind;
use fedml_proto::archive::ArchiveEntry;

use super::{KeyPage, KeyQuery};
use crate::catalogue::Catalogue;
use crate::operations::{Caller, Platform, test_support};

/// A namespace of file objects and directory objects (with their files' paths).
struct Namespace {
    files: Vec<String>,
    directories: Vec<(String, Vec<String>)>,
}

impl Namespace {
    /// Every key, in byte order: the files' names and each directory's `name/path`s.
    fn keys(&self) -> Vec<String> {
        let mut keys = self.files.clone();
        for (name, paths) in &self.directories {
            keys.extend(paths.iter().map(|p| format!("{name}/{p}")));
        }
        keys.sort();
        keys
    }

    /// The keys a listing by `q` rolls up: every key, and for each directory object whose name
    /// holds the delimiter after the prefix, `name/` (it is then its common prefix even with no
    /// file in it, without its files being read).
    fn keys_under(&self, q: &KeyQuery<'_>) -> Vec<String> {
        let mut keys = self.keys();
        if let Some(delimiter) = q.delimiter.filter(|d| !d.is_empty()) {
            for (name, _) in &self.directories {
                let start = format!("{name}/");
                if start.strip_prefix(q.prefix).is_some_and(|rest| rest.contains(delimiter)) {
                    keys.push(start);
                }
            }
        }
        keys.sort();
        keys
    }

    async fn store(&self, catalogue: &Catalogue, owner_id: &str) {
        for name in &self.files {
            catalogue.insert_bare_object(owner_id, name, "file", &format!("blob-{name}"), name.len() as i64).await;
        }
        for (name, paths) in &self.directories {
            let blob = format!("dir-{name}");
            catalogue.insert_bare_object(owner_id, name, "directory", &blob, 1).await;
            let mut entries: Vec<ArchiveEntry> = Vec::new();
            for path in paths {
                // The folders an archive holds are in the index too; they are never keys.
                let mut folder = String::new();
                for part in path.split('/').take(path.split('/').count() - 1) {
                    folder = if folder.is_empty() { part.to_string() } else { format!("{folder}/{part}") };
                    if !entries.iter().any(|e| e.path == folder) {
                        entries.push(entry(&folder, ObjectKind::Directory, 0));
                    }
                }
                entries.push(entry(path, ObjectKind::File, path.len() as u64 * 10));
            }
            catalogue.index_files(&blob, entries).await.expect("index");
        }
    }
}

fn entry(path: &str, kind: ObjectKind, size: u64) -> ArchiveEntry {
    ArchiveEntry { path: path.into(), kind, size, crc: 0xC0FFEE, method: 0, compressed: size, header: 0 }
}

/// What ListObjectsV2 answers, from every key: those after `after` that start with the prefix,
/// each rolled up into its common prefix when it has one (a prefix counted once, and only when
/// it comes after `after`), the first `max` of them.
fn model(keys: &[String], q: &KeyQuery<'_>) -> (Vec<String>, Vec<String>, bool) {
    let mut items: Vec<(bool, String)> = Vec::new();
    for key in keys.iter().filter(|k| k.starts_with(q.prefix)) {
        let rolled = q
            .delimiter
            .filter(|d| !d.is_empty())
            .and_then(|d| key[q.prefix.len()..].find(d).map(|at| key[..q.prefix.len() + at + d.len()].to_string()));
        let item = match rolled {
            Some(prefix) => (true, prefix),
            None => (false, key.clone()),
        };
        if q.after.is_some_and(|after| key.as_str() <= after || item.1.as_str() <= after) {
            continue;
        }
        if items.last() != Some(&item) {
            items.push(item);
        }
    }
    let max = q.max.clamp(1, super::MAX_KEYS);
    let truncated = items.len() > max;
    items.truncate(max);
    let keys = items.iter().filter(|(p, _)| !p).map(|(_, k)| k.clone()).collect();
    let prefixes = items.iter().filter(|(p, _)| *p).map(|(_, k)| k.clone()).collect();
    (keys, prefixes, truncated)
}

async fn setup(catalogue: Catalogue, namespace: &Namespace) -> (Platform, Caller) {
    let user = crate::admin::create_user(&catalogue, "alice").await.expect("user");
    let key = crate::admin::create_key(&catalogue, "alice", true, "reader").await.expect("key").1;
    namespace.store(&catalogue, &user.id).await;
    let platform = test_support::platform(catalogue);
    let caller = platform.authenticate(Some(&key)).await.expect("caller");
    (platform, caller)
}

/// Lists with `q` page after page and checks each page against the model.
async fn pages(platform: &Platform, caller: &Caller, ns: &Namespace, q: KeyQuery<'_>, what: &str) -> Vec<KeyPage> {
    let keys = ns.keys_under(&q);
    let mut out = Vec::new();
    let mut after = q.after.map(str::to_string);
    loop {
        let asked = KeyQuery { after: after.as_deref(), ..q };
        let page = platform.list_keys(caller, None, &asked).await.expect("list");
        let got: Vec<String> = page.entries.iter().map(|e| e.key.clone()).collect();
        let (want_keys, want_prefixes, truncated) = model(&keys, &asked);
        assert_eq!(got, want_keys, "{what}: keys after {after:?}");
        assert_eq!(page.prefixes, want_prefixes, "{what}: prefixes after {after:?}");
        assert_eq!(page.truncated, truncated, "{what}: truncated after {after:?}");
        let last = got.iter().chain(&page.prefixes).max().cloned();
        assert_eq!(page.next_after, if truncated { last } else { None }, "{what}: next after {after:?}");
        assert!(got.len() + page.prefixes.len() <= q.max.clamp(1, super::MAX_KEYS), "{what}");
        after = page.next_after.clone();
        out.push(page);
        if after.is_none() {
            return out;
        }
        assert!(out.len() < 10_000, "{what}: the listing does not end");
    }
}

fn sample() -> Namespace {
    let names = [
        "a",
        "a-b",
        "a.txt",
        "team/data/x.bin",
        "team/data/y.bin",
        "team/notes",
        "team-2",
        "team0",
        "z/é",
        "z/e",
        "z/ê/1",
        "ds-x",
        "ds.bin",
        "ds0",
        "photos/2024/1.jpg",
        "photos/2024/2.jpg",
        "photos/2025/1.jpg",
        "photos-old",
        "x y/z",
    ];
    Namespace {
        files: names.iter().map(|s| s.to_string()).collect(),
        directories: vec![
            (
                "ds".into(),
                vec!["train/a.parquet".into(), "train/b.parquet".into(), "test/a-1.parquet".into(), "README".into()],
            ),
            ("team/models/bert".into(), vec!["config.json".into(), "weights/part-1.bin".into()]),
            ("empty".into(), vec![]),
        ],
    }
}

#[tokio::test]
async fn keys_list_as_s3_lists_them_on_both_databases() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut namespace = sample();
    // Names a language's collation orders otherwise than bytes do (capitals, '_', accents).
    namespace.files.extend(["B.txt", "Team/x", "_x", "a_b", "ä", "Z/1", "a/A", "a0"].map(String::from));
    let keys = namespace.keys();
    for (db, catalogue) in test_support::catalogues(dir.path()).await {
        let (platform, caller) = setup(catalogue, &namespace).await;
        let everything = platform
            .list_keys(&caller, None, &KeyQuery { prefix: "", delimiter: None, after: None, max: 1000 })
            .await
            .expect("list");
        let got: Vec<&str> = everything.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(got, keys.iter().map(String::as_str).collect::<Vec<_>>(), "{db}: every key in byte order");
        // A directory object is not a key; its files are, its folders are not.
        assert!(!got.contains(&"ds") && !got.contains(&"ds/train") && got.contains(&"ds/train/a.parquet"), "{db}");
        let inside = everything.entries.iter().find(|e| e.key == "ds/README").expect("ds/README");
        assert_eq!(inside.inside, Some(("ds".into(), "README".into())), "{db}");
        assert!(
            inside.record.is_none() && inside.checksum == "00c0ffee" && inside.size == 60 && inside.modified_ms == 7
        );
        let file = everything.entries.iter().find(|e| e.key == "team/notes").expect("team/notes");
        assert_eq!(file.record.as_ref().map(|r| r.meta.data_name.as_str()), Some("team/notes"), "{db}");
        assert_eq!((file.checksum.as_str(), file.size, file.inside.is_none()), ("sum-team/notes", 10, true), "{db}");

        let prefixes =
            ["", "a", "team/", "team", "ds/", "ds/train/", "ds/t", "ds", "photos/20", "z/", "nothing", "x y/"];
        for prefix in prefixes {
            for delimiter in [None, Some("/"), Some("-"), Some("a"), Some("/2")] {
                for max in [1, 2, 3, 1000] {
                    let q = KeyQuery { prefix, delimiter, after: None, max };
                    pages(&platform, &caller, &namespace, q, &format!("{db} {prefix:?} {delimiter:?} {max}")).await;
                }
                // Starting after any key, after any prefix, and between keys.
                for after in [
                    "a",
                    "ds",
                    "ds/",
                    "ds/train/",
                    "ds/train/a.parquet",
                    "ds-",
                    "photos/",
                    "photos/2024/1.jpg",
                    "team/d",
                    "zz",
                ] {
                    let q = KeyQuery { prefix, delimiter, after: Some(after), max: 2 };
                    pages(&platform, &caller, &namespace, q, &format!("{db} {prefix:?} {delimiter:?} after {after:?}"))
                        .await;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_directory_object_is_its_prefix_and_pages_go_on_after_a_common_prefix() {
    let dir = tempfile::tempdir().expect("tmp");
    let namespace = sample();
    let (platform, caller) = setup(test_support::catalogue(dir.path()).await, &namespace).await;
    let q = KeyQuery { prefix: "", delimiter: Some("/"), after: None, max: 1000 };
    let top = platform.list_keys(&caller, None, &q).await.expect("list");
    assert_eq!(top.prefixes, ["ds/", "empty/", "photos/", "team/", "x y/", "z/"]);
    let names: Vec<&str> = top.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(names, ["a", "a-b", "a.txt", "ds-x", "ds.bin", "ds0", "photos-old", "team-2", "team0"]);
    // Pages of one: a page that ends on a prefix goes on after all of it.
    let one = KeyQuery { max: 1, ..q };
    let all = pages(&platform, &caller, &namespace, one, "pages of one").await;
    assert_eq!(all.len(), 15);
    assert_eq!(all[5].prefixes, ["ds/"]);
    assert_eq!(all[5].next_after.as_deref(), Some("ds/"));
    assert_eq!(all[6].entries[0].key, "ds0");
    // Inside a directory object, by its folders.
    let q = KeyQuery { prefix: "ds/", delimiter: Some("/"), after: None, max: 10 };
    let inside = platform.list_keys(&caller, None, &q).await.expect("list");
    assert_eq!(inside.prefixes, ["ds/test/", "ds/train/"]);
    assert_eq!(inside.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["ds/README"]);
}

/// Pages of 1,000 over 2,500 objects, a prefix of 1,200 keys skipped whole, and a directory
/// object of 1,500 files read page by page.
#[tokio::test]
async fn pages_of_a_thousand() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut files: Vec<String> = (0..2500).map(|i| format!("obj-{i:05}")).collect();
    files.extend((0..1200).map(|i| format!("logs/{i:05}.txt")));
    let namespace =
        Namespace { files, directories: vec![("big".into(), (0..1500).map(|i| format!("part/{i:05}.bin")).collect())] };
    for (db, catalogue) in test_support::catalogues(dir.path()).await {
        let (platform, caller) = setup(catalogue, &namespace).await;
        // Asked for more than a page holds: pages of 1,000.
        let q = KeyQuery { prefix: "", delimiter: None, after: None, max: 5000 };
        let all = pages(&platform, &caller, &namespace, q, db).await;
        assert_eq!(
            all.iter().map(|p| p.entries.len()).collect::<Vec<_>>(),
            [1000, 1000, 1000, 1000, 1000, 200],
            "{db}"
        );
        let q = KeyQuery { prefix: "", delimiter: Some("/"), after: None, max: 1000 };
        let all = pages(&platform, &caller, &namespace, q, db).await;
        assert_eq!(all.len(), 3, "{db}");
        assert_eq!(all[0].prefixes, ["big/", "logs/"], "{db}");
        assert_eq!(all.iter().map(|p| p.entries.len()).collect::<Vec<_>>(), [998, 1000, 502], "{db}");
        let q = KeyQuery { prefix: "big/part/", delimiter: Some("/"), after: None, max: 1000 };
        let inside = pages(&platform, &caller, &namespace, q, db).await;
        assert_eq!(inside.iter().map(|p| p.entries.len()).collect::<Vec<_>>(), [1000, 500], "{db}");
    }
}

/// Names drawn at random (keeping to the rules: no name is a folder of another), listed with
/// every delimiter and page size against the model.
/// Rounds of the random test (more find more; each takes about 0.1 s).
const ROUNDS: usize = 6;

#[tokio::test]
async fn random_namespaces_list_as_the_model_says() {
    let alphabet = ["a", "b", "/", "-", ".", "0", "é", " ", "A", "_"];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for round in 0..ROUNDS {
        let mut namespace = Namespace { files: Vec::new(), directories: Vec::new() };
        let mut taken: Vec<String> = Vec::new();
        for _ in 0..60 {
            let name: String = (0..1 + next(6)).map(|_| alphabet[next(alphabet.len())]).collect();
            let clash = taken
                .iter()
                .any(|t| t == &name || t.starts_with(&format!("{name}/")) || name.starts_with(&format!("{t}/")));
            if fedml_proto::rules::check_name(&name).is_err() || clash {
                continue;
            }
            taken.push(name.clone());
            if next(3) == 0 {
                let paths = (0..next(5)).map(|i| format!("{}{i}", ["", "f/", "f-g/", "é/"][next(4)])).collect();
                namespace.directories.push((name, paths));
            } else {
                namespace.files.push(name);
            }
        }
        let dir = tempfile::tempdir().expect("tmp");
        let (platform, caller) = setup(test_support::catalogue(dir.path()).await, &namespace).await;
        for prefix in ["", "a", "a/", "b-", "é"] {
            for delimiter in [None, Some("/"), Some("-"), Some("a/")] {
                for max in [1, 3, 1000] {
                    let q = KeyQuery { prefix, delimiter, after: None, max };
                    pages(&platform, &caller, &namespace, q, &format!("round {round} {prefix:?} {delimiter:?} {max}"))
                        .await;
                }
                for after in ["a", "a/", "a-", "a/b", "b/", "é/", "a0"] {
                    let q = KeyQuery { prefix, delimiter, after: Some(after), max: 2 };
                    let what = format!("round {round} {prefix:?} {delimiter:?} after {after:?}");
                    pages(&platform, &caller, &namespace, q, &what).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn only_readers_of_the_namespace_list_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let catalogue = test_support::catalogue(dir.path()).await;
    crate::admin::create_user(&catalogue, "bob").await.expect("user");
    let (platform, _alice) = setup(catalogue, &sample()).await;
    let key = crate::admin::create_key(&platform.catalogue, "bob", false, "b").await.expect("key").1;
    let bob = platform.authenticate(Some(&key)).await.expect("bob");
    let q = KeyQuery { prefix: "", delimiter: None, after: None, max: 10 };
    assert!(platform.list_keys(&bob, Some("alice"), &q).await.is_err(), "another's namespace");
    let own = platform.list_keys(&bob, None, &q).await.expect("own");
    assert!(own.entries.is_empty() && own.prefixes.is_empty() && !own.truncated);
}
