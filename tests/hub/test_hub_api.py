"""huggingface_hub's Python API against the server: repositories, commits (upload_file,
upload_folder, create_commit with its operations, parent_commit), downloads (hf_hub_download,
snapshot_download, by `main` and by commit id, an interrupted download resumed), listings
(list_repo_files, list_repo_tree, get_paths_info, repo_info, list_repo_commits), HfFileSystem's
ranged reads, whoami, the errors clients branch on and an organisation's roles."""

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from conftest import MiB, HubServer, free_port, is_commit_id, make_tree, sha256, status_of, tree_digests, unique
from proxy import Proxy


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download(hub, repo_id, filename, cache, **kw):
    return Path(hf_hub_download(repo_id, filename, cache_dir=cache, endpoint=kw.pop("endpoint", hub.url), **kw))


def snapshot(hub, repo_id, cache, **kw):
    return Path(snapshot_download(repo_id, cache_dir=cache, endpoint=kw.pop("endpoint", hub.url), **kw))


# --- repositories -------------------------------------------------------------------------------

def test_create_repo_model_and_dataset_distinct_409_and_exist_ok(hub, tmp_path):
    api = hub.api()
    rid = f"alice/{unique('both')}"
    url = api.create_repo(rid)
    assert url.repo_id == rid and url.repo_type == "model", url
    durl = api.create_repo(rid, repo_type="dataset")
    assert durl.repo_id == rid and durl.repo_type == "dataset", durl
    assert api.repo_exists(rid) and api.repo_exists(rid, repo_type="dataset")
    assert not api.repo_exists(f"alice/{unique('never')}")

    # The model and the dataset of one id are two repositories.
    api.upload_file(path_or_fileobj=b"the model\n", path_in_repo="which.txt", repo_id=rid)
    api.upload_file(path_or_fileobj=b"the dataset\n", path_in_repo="which.txt", repo_id=rid, repo_type="dataset")
    assert download(hub, rid, "which.txt", tmp_path / "c").read_bytes() == b"the model\n"
    assert download(hub, rid, "which.txt", tmp_path / "c", repo_type="dataset").read_bytes() == b"the dataset\n"
    assert api.model_info(rid).sha != api.dataset_info(rid).sha

    # Again: 409, which exist_ok takes as success.
    for repo_type in ("model", "dataset"):
        with pytest.raises(HfHubHTTPError) as e:
            api.create_repo(rid, repo_type=repo_type)
        assert status_of(e) == 409, f"create_repo of an existing {repo_type}: {status_of(e)} {e.value}"
        again = api.create_repo(rid, repo_type=repo_type, exist_ok=True)
        assert again.repo_id == rid
    # The repositories were left as they were.
    assert download(hub, rid, "which.txt", tmp_path / "c2").read_bytes() == b"the model\n"

    # Nobody creates in another user's namespace.
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(hub.bob).create_repo(f"alice/{unique('intruder')}")
    assert status_of(e) in (403, 404), f"bob creating in alice's namespace: {status_of(e)}"


# --- commits ------------------------------------------------------------------------------------

def test_upload_file(hub, tmp_path):
    api = hub.api()
    rid = f"alice/{unique('upload-file')}"
    api.create_repo(rid)
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(3 * MiB + 17))
    small = api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="docs/hello.txt", repo_id=rid,
                            commit_message="add hello")
    assert is_commit_id(small.oid), small
    info = api.upload_file(path_or_fileobj=str(big), path_in_repo="weights.bin", repo_id=rid)
    assert is_commit_id(info.oid) and info.oid != small.oid, info
    assert api.repo_info(rid).sha == info.oid
    assert sorted(api.list_repo_files(rid)) == ["docs/hello.txt", "weights.bin"]
    assert download(hub, rid, "docs/hello.txt", tmp_path / "c").read_bytes() == b"hello\n"
    assert sha256(download(hub, rid, "weights.bin", tmp_path / "c")) == sha256(big)


README = b"""---
license: mit
tags:
- test
---
# A test repository
"""


def test_upload_folder(hub, tmp_path):
    api = hub.api()
    rid = f"alice/{unique('upload-folder')}"
    api.create_repo(rid)
    src = tmp_path / "src"
    files = {
        "README.md": README,  # makes the client call /api/validate-yaml
        "config.json": b'{"a": 1}\n',
        "empty.txt": b"",
        "sub/b.json": b'{"b": [1, 2, 3]}\n',
        "sub/deeper/c.bin": os.urandom(12 * MiB + 5),  # over the Hub's 10 MB: an LFS upload
        "dir with space/file name.txt": b"spaces\n",
        "unicode/données.txt": "é\n".encode(),
    }
    digests = make_tree(src, files)
    info = api.upload_folder(folder_path=src, repo_id=rid, commit_message="the folder")
    assert is_commit_id(info.oid), info
    assert sorted(api.list_repo_files(rid)) == sorted(files)
    got = tree_digests(snapshot(hub, rid, tmp_path / "c"))
    assert got == digests

    # A second upload_folder: into a folder, with delete_patterns.
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "x.txt").write_bytes(b"x\n")
    info2 = api.upload_folder(folder_path=tmp_path / "more", path_in_repo="sub", repo_id=rid,
                              delete_patterns=["*.json"])
    assert info2.oid != info.oid
    expected = sorted([f for f in files if not (f.startswith("sub/") and f.endswith(".json"))] + ["sub/x.txt"])
    assert sorted(api.list_repo_files(rid)) == expected


def test_create_commit_add_replace_delete_file_and_folder(hub, tmp_path):
    api = hub.api()
    rid = f"alice/{unique('commit-ops')}"
    api.create_repo(rid)
    first = {
        "keep.txt": b"keep\n",
        "replace.txt": b"old\n",
        "gone.txt": b"gone\n",
        "folder/x.txt": b"x\n",
        "folder/y/z.bin": os.urandom(2 * MiB),
        "other/w.txt": b"w\n",
    }
    c1 = api.create_commit(rid, [CommitOperationAdd(p, d) for p, d in first.items()], commit_message="first")
    assert is_commit_id(c1.oid)
    new_big = os.urandom(11 * MiB)
    c2 = api.create_commit(rid, [
        CommitOperationAdd("new.txt", b"new\n"),
        CommitOperationAdd("replace.txt", b"new content\n"),
        CommitOperationAdd("big/new.bin", new_big),
        CommitOperationDelete("gone.txt"),
        CommitOperationDelete("folder/", is_folder=True),
    ], commit_message="second", parent_commit=c1.oid)
    assert is_commit_id(c2.oid) and c2.oid != c1.oid
    assert sorted(api.list_repo_files(rid)) == ["big/new.bin", "keep.txt", "new.txt", "other/w.txt", "replace.txt"]
    cache = tmp_path / "c"
    assert download(hub, rid, "replace.txt", cache).read_bytes() == b"new content\n"
    assert sha256(download(hub, rid, "big/new.bin", cache)) == sha256(new_big)
    # The first commit is still there as it was.
    assert sorted(api.list_repo_files(rid, revision=c1.oid)) == sorted(first)
    assert download(hub, rid, "replace.txt", cache, revision=c1.oid).read_bytes() == b"old\n"
    assert sha256(download(hub, rid, "folder/y/z.bin", cache, revision=c1.oid)) == sha256(first["folder/y/z.bin"])
    # A delete of what is not there is refused, and nothing is committed.
    with pytest.raises(HfHubHTTPError):
        api.create_commit(rid, [CommitOperationDelete("never-was.txt")], commit_message="bad delete")
    assert api.repo_info(rid).sha == c2.oid


def test_stale_parent_commit_refused(hub):
    api = hub.api()
    rid = f"alice/{unique('parent')}"
    api.create_repo(rid)
    c1 = api.upload_file(path_or_fileobj=b"1\n", path_in_repo="f.txt", repo_id=rid)
    c2 = api.create_commit(rid, [CommitOperationAdd("f.txt", b"2\n")], commit_message="two", parent_commit=c1.oid)
    commits = [c.commit_id for c in api.list_repo_commits(rid)]
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(rid, [CommitOperationAdd("f.txt", b"stale\n")], commit_message="stale",
                          parent_commit=c1.oid)
    assert status_of(e) == 412, f"a commit on a stale parent: {status_of(e)} {e.value}"
    assert api.repo_info(rid).sha == c2.oid
    assert [c.commit_id for c in api.list_repo_commits(rid)] == commits
    # On the current head it goes through.
    c3 = api.create_commit(rid, [CommitOperationAdd("f.txt", b"3\n")], commit_message="three", parent_commit=c2.oid)
    assert api.repo_info(rid).sha == c3.oid


def test_unchanged_files_are_not_committed_again(hub, tmp_path):
    """upload_folder compares each file with the oid the preupload answers (git's SHA-1 of a
    regular file, the SHA-256 of an LFS one): a folder uploaded again unchanged makes no commit,
    and one changed file makes a commit of that file only."""
    api = hub.api()
    rid = f"alice/{unique('unchanged')}"
    api.create_repo(rid)
    src = tmp_path / "src"
    make_tree(src, {"small.txt": b"small\n", "big.bin": os.urandom(11 * MiB), "sub/c.json": b"{}\n"})
    c1 = api.upload_folder(folder_path=src, repo_id=rid).oid
    commits = [c.commit_id for c in api.list_repo_commits(rid)]
    again = api.upload_folder(folder_path=src, repo_id=rid)
    assert again.oid == c1, "an unchanged folder made a new commit"
    assert [c.commit_id for c in api.list_repo_commits(rid)] == commits
    (src / "small.txt").write_bytes(b"changed\n")
    c2 = api.upload_folder(folder_path=src, repo_id=rid).oid
    assert c2 != c1 and len(list(api.list_repo_commits(rid))) == len(commits) + 1
    assert download(hub, rid, "small.txt", tmp_path / "c").read_bytes() == b"changed\n"


def test_concurrent_commits_all_land(hub, tmp_path):
    """Commits without a parent made at the same moment each land on the one before: no file of
    one is lost to another."""
    api = hub.api()
    rid = f"alice/{unique('concurrent')}"
    api.create_repo(rid)
    base = api.upload_file(path_or_fileobj=b"base\n", path_in_repo="base.txt", repo_id=rid).oid
    errors, oids = [], []

    def commit(i):
        try:
            oids.append(hub.api().create_commit(rid, [CommitOperationAdd(f"f{i}.txt", f"{i}\n".encode())],
                                                commit_message=f"commit {i}").oid)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(api.list_repo_files(rid)) == ["base.txt", "f0.txt", "f1.txt", "f2.txt", "f3.txt"]
    ids = [c.commit_id for c in api.list_repo_commits(rid)]
    assert sorted(ids[:4]) == sorted(oids) and ids[4] == base


def test_many_files_list_in_pages(hub, tmp_path):
    """A tree of more files than one page of the Hub's listing (1,000): the client follows the
    `Link: rel="next"` pages."""
    api = hub.api()
    rid = f"alice/{unique('many')}"
    api.create_repo(rid)
    src = tmp_path / "src"
    files = {f"shard-{i // 100:02d}/f{i:05d}.txt": f"{i}\n".encode() for i in range(1234)}
    make_tree(src, files)
    api.upload_folder(folder_path=src, repo_id=rid)
    assert sorted(api.list_repo_files(rid)) == sorted(files)
    tree = list(api.list_repo_tree(rid, recursive=True))
    assert len([e for e in tree if isinstance(e, RepoFile)]) == len(files)
    assert len(list(api.list_repo_tree(rid, path_in_repo="shard-05"))) == 100
    assert download(hub, rid, "shard-12/f01233.txt", tmp_path / "c").read_bytes() == b"1233\n"


def test_delete_repo(hub, tmp_path):
    api = hub.api()
    rid = f"alice/{unique('deleted')}"
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id=rid)
    api.delete_repo(rid)
    assert not api.repo_exists(rid)
    assert rid.split("/")[1] not in [o["dataName"] for o in hub.fedml_json("storage", "list")]
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(rid)
    api.delete_repo(rid, missing_ok=True)
    api.create_repo(rid)
    assert api.list_repo_files(rid) == []


# --- downloads ----------------------------------------------------------------------------------

def test_downloads_by_main_and_by_commit_id(hub, tmp_path):
    api = hub.api()
    rid = f"alice/{unique('downloads')}"
    api.create_repo(rid)
    v1 = {"a.txt": b"a1\n", "data/big.bin": os.urandom(5 * MiB + 3), "nested/deep/c.txt": b"c\n",
          "with space.txt": b"s\n", "odd/a#b%c&d=e+f;g@h.txt": b"odd\n", "unicode/日本語.txt": b"u\n"}
    src1 = tmp_path / "v1"
    d1 = make_tree(src1, v1)
    c1 = api.upload_folder(folder_path=src1, repo_id=rid).oid
    v2 = dict(v1, **{"a.txt": b"a2\n", "b.txt": b"b2\n"})
    src2 = tmp_path / "v2"
    d2 = make_tree(src2, v2)
    c2 = api.upload_folder(folder_path=src2, repo_id=rid).oid
    assert c1 != c2 and is_commit_id(c1) and is_commit_id(c2)

    cache = tmp_path / "cache"
    main = download(hub, rid, "a.txt", cache)
    assert main.read_bytes() == b"a2\n"
    assert main.parent.name == c2, f"cached under snapshots/{main.parent.name}, not the commit id {c2}"
    storage = cache / f"models--alice--{rid.split('/')[1]}"
    assert (storage / "refs" / "main").read_text() == c2
    old = download(hub, rid, "a.txt", cache, revision=c1)
    assert old.read_bytes() == b"a1\n" and old.parent.name == c1
    for rel in ("data/big.bin", "nested/deep/c.txt", "with space.txt", "odd/a#b%c&d=e+f;g@h.txt", "unicode/日本語.txt"):
        assert sha256(download(hub, rid, rel, cache, revision=c1)) == d1[rel]
        assert sha256(download(hub, rid, rel, cache)) == d2[rel]

    snap_main = snapshot(hub, rid, tmp_path / "cache2")
    assert snap_main.name == c2 and tree_digests(snap_main) == d2
    snap_c1 = snapshot(hub, rid, tmp_path / "cache2", revision=c1)
    assert snap_c1.name == c1 and tree_digests(snap_c1) == d1
    # Into a local folder, with patterns.
    local = snapshot(hub, rid, tmp_path / "cache3", local_dir=tmp_path / "local", allow_patterns=["*.txt"])
    assert tree_digests(local) == {k: v for k, v in d2.items() if k.endswith(".txt")}


def test_interrupted_download_resumes_with_a_range(hub, tmp_path):
    """huggingface_hub 2.x resumes inside hf_hub_download: when the connection drops mid-body it
    asks again with `Range: bytes=<what it wrote>-` and appends (1.x also resumed a left-over
    `<etag>.incomplete` across processes; 2.x downloads to a process-unique temporary file and
    drops it on failure, so a second process starts again from 0). It writes what it receives in
    blocks of DOWNLOAD_CHUNK_SIZE (10 MiB): a proxy between client and server cuts the first body
    after 15 MiB of a 24 MiB file, and records what the client asks next."""
    from huggingface_hub import constants

    block = constants.DOWNLOAD_CHUNK_SIZE
    # The server's public URL is the proxy's, so that a redirect to a signed URL stays on it.
    port = free_port()
    server = HubServer(tmp_path / "resume-server", args=["--public-url", f"http://127.0.0.1:{port}"])
    proxy = Proxy(server.port, port)
    try:
        key = server.new_user("alice")
        api = HfApi(endpoint=proxy.url, token=key)
        rid = f"alice/{unique('resume')}"
        api.create_repo(rid)
        data = os.urandom(2 * block + 4 * MiB + 123)
        api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id=rid)
        cut_at = block + 5 * MiB
        proxy.reset()
        proxy.cut_once(lambda ex: ex.method == "GET" and ex.status == 200
                       and ex.response_headers.get("content-length") == str(len(data)), cut_at)
        got = Path(hf_hub_download(rid, "big.bin", cache_dir=tmp_path / "c", endpoint=proxy.url, token=key))
        assert sha256(got) == sha256(data)
        gets = [ex for ex in proxy.exchanges if ex.method == "GET"]
        cut = [ex for ex in gets if ex.cut]
        assert cut, f"no download was cut: {[(e.method, e.path, e.status) for e in proxy.exchanges]}"
        assert cut[0].response_body == cut_at
        after = gets[gets.index(cut[0]) + 1:]
        resumed = [ex for ex in after if "range" in ex.headers]
        assert resumed, f"the client asked again without a Range: {[(e.path, e.headers.get('range'), e.status) for e in after]}"
        r = resumed[0]
        assert r.headers["range"] == f"bytes={block}-", r.headers["range"]
        assert r.status == 206, f"GET {r.path} with Range {r.headers['range']}: {r.status}, expected 206"
        assert r.response_headers.get("content-range") == f"bytes {block}-{len(data) - 1}/{len(data)}"
        assert r.response_body == len(data) - block
        assert len(after) == 1, "one request after the cut: the rest of the file"
    finally:
        proxy.close()
        server.stop()


# --- listings -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def listed(hub, tmp_path_factory):
    """One repository with three commits, for the listing tests."""
    api = hub.api()
    rid = f"alice/{unique('listed')}"
    api.create_repo(rid)
    src = tmp_path_factory.mktemp("listed")
    files = {"a.txt": b"a\n", "top.bin": os.urandom(MiB), "sub/b.txt": b"b\n", "sub/inner/c.txt": b"c\n",
             "sub/inner/big.bin": os.urandom(11 * MiB)}
    make_tree(src, files)
    commits = [api.upload_folder(folder_path=src, repo_id=rid, commit_message="one").oid]
    commits.append(api.upload_file(path_or_fileobj=b"second\n", path_in_repo="second.txt", repo_id=rid,
                                   commit_message="two").oid)
    files["second.txt"] = b"second\n"
    commits.append(api.create_commit(rid, [CommitOperationAdd("third.txt", b"third\n")],
                                     commit_message="three").oid)
    files["third.txt"] = b"third\n"
    return rid, files, commits


def test_list_repo_files(hub, listed):
    rid, files, commits = listed
    api = hub.api()
    assert api.file_exists(rid, "sub/inner/c.txt") and not api.file_exists(rid, "sub/inner/none.txt")
    assert not api.file_exists(rid, "third.txt", revision=commits[0])
    assert api.revision_exists(rid, commits[0]) and api.revision_exists(rid, "main")
    assert not api.revision_exists(rid, "f" * 40) and not api.revision_exists(rid, "no-such-branch")
    assert sorted(api.list_repo_files(rid)) == sorted(files)
    assert sorted(api.list_repo_files(rid, revision=commits[0])) == sorted(
        f for f in files if f not in ("second.txt", "third.txt"))


def test_list_repo_tree(hub, listed):
    rid, files, _ = listed
    api = hub.api()
    top = list(api.list_repo_tree(rid))
    assert sorted((type(e).__name__, e.path) for e in top) == sorted(
        [("RepoFile", p) for p in files if "/" not in p] + [("RepoFolder", "sub")])
    for e in top:
        if isinstance(e, RepoFile):
            assert e.size == len(files[e.path]), (e.path, e.size)
            assert e.blob_id, e
            if e.lfs is None:
                assert e.blob_id == git_blob_id(files[e.path]), f"{e.path}: blob_id {e.blob_id} is not git's"
            if e.lfs is not None:
                assert e.lfs.sha256 == sha256(files[e.path]) and e.lfs.size == len(files[e.path]), e
    # One folder, not recursive: its direct children.
    sub = list(api.list_repo_tree(rid, path_in_repo="sub"))
    assert sorted((type(e).__name__, e.path) for e in sub) == [("RepoFile", "sub/b.txt"), ("RepoFolder", "sub/inner")]
    # Recursive: every file and folder.
    everything = list(api.list_repo_tree(rid, recursive=True))
    assert sorted(e.path for e in everything if isinstance(e, RepoFile)) == sorted(files)
    assert sorted(e.path for e in everything if isinstance(e, RepoFolder)) == ["sub", "sub/inner"]
    big = next(e for e in everything if e.path == "sub/inner/big.bin")
    assert big.size == 11 * MiB
    assert big.lfs is not None and big.lfs.sha256 == sha256(files["sub/inner/big.bin"]), \
        f"a file uploaded through LFS lists without its LFS pointer: {big}"
    recursive_sub = list(api.list_repo_tree(rid, path_in_repo="sub", recursive=True))
    assert sorted(e.path for e in recursive_sub) == ["sub/b.txt", "sub/inner", "sub/inner/big.bin",
                                                     "sub/inner/c.txt"]
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(rid, path_in_repo="no-such-folder"))


def test_get_paths_info(hub, listed):
    rid, files, commits = listed
    api = hub.api()
    infos = api.get_paths_info(rid, ["a.txt", "sub", "sub/inner/big.bin", "missing.txt"])
    by_path = {i.path: i for i in infos}
    assert sorted(by_path) == ["a.txt", "sub", "sub/inner/big.bin"], "missing paths are left out"
    assert isinstance(by_path["a.txt"], RepoFile) and by_path["a.txt"].size == 2
    assert isinstance(by_path["sub"], RepoFolder)
    assert by_path["sub/inner/big.bin"].size == 11 * MiB
    # At an earlier commit, a file added later is not there.
    assert api.get_paths_info(rid, ["third.txt"], revision=commits[0]) == []
    assert len(api.get_paths_info(rid, ["third.txt"], revision=commits[2])) == 1


def test_repo_info_sha_is_the_latest_commit(hub, listed):
    rid, files, commits = listed
    api = hub.api()
    info = api.repo_info(rid)
    assert info.id == rid
    assert info.sha == commits[-1]
    if info.siblings is not None:
        assert sorted(s.rfilename for s in info.siblings) == sorted(files)
    assert api.repo_info(rid, revision=commits[0]).sha == commits[0]
    assert api.repo_info(rid, revision="main").sha == commits[-1]


def test_list_repo_commits_one_per_version(hub, listed):
    rid, _, commits = listed
    api = hub.api()
    listed_commits = list(api.list_repo_commits(rid))
    ids = [c.commit_id for c in listed_commits]
    assert all(is_commit_id(i) for i in ids)
    assert ids[:3] == commits[::-1], "newest first, the ids the commits answered"
    versions = hub.fedml_json("storage", "versions", rid.split("/")[1])
    assert len(ids) == len(versions), f"{len(ids)} commits, {len(versions)} versions"
    titles = [c.title for c in listed_commits[:3]]
    assert titles == ["three", "two", "one"], titles


def test_hf_file_system_ranged_reads(hub, listed, tmp_path):
    rid, files, commits = listed
    fs = HfFileSystem(endpoint=hub.url, token=hub.alice, skip_instance_cache=True)
    names = sorted(p.split("/", 2)[2] for p in fs.ls(rid, detail=False))
    assert names == sorted(["a.txt", "top.bin", "sub", "second.txt", "third.txt"])
    data = files["sub/inner/big.bin"]
    with fs.open(f"{rid}/sub/inner/big.bin", "rb", block_size=256 * 1024) as f:
        f.seek(5 * MiB + 7)
        assert f.read(100_000) == data[5 * MiB + 7: 5 * MiB + 7 + 100_000]
        f.seek(11)
        assert f.read(5) == data[11:16]
        f.seek(-10, os.SEEK_END)
        assert f.read() == data[-10:]
    assert fs.cat_file(f"{rid}/top.bin", start=1000, end=2000) == files["top.bin"][1000:2000]
    assert fs.info(f"{rid}/sub/inner/big.bin")["size"] == len(data)
    assert fs.read_bytes(f"{rid}@{commits[0]}/a.txt") == b"a\n"
    assert not fs.exists(f"{rid}@{commits[0]}/third.txt")
    assert fs.exists(f"{rid}/third.txt")
    assert sorted(fs.glob(f"{rid}/sub/**/*.txt")) == [f"{rid}/sub/b.txt", f"{rid}/sub/inner/c.txt"]


# --- identity, errors, roles --------------------------------------------------------------------

def test_whoami(hub):
    me = hub.api().whoami()
    assert me["name"] == "alice", me
    if "orgs" in me:
        assert hub.org in [o.get("name") for o in me["orgs"]], me["orgs"]
    assert hub.api(hub.carol).whoami()["name"] == "carol"


def test_errors(hub, tmp_path, listed):
    rid, _, _ = listed
    api = hub.api()
    cache = tmp_path / "c"
    missing = f"alice/{unique('missing')}"
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info(missing)
    with pytest.raises(RepositoryNotFoundError):
        download(hub, missing, "a.txt", cache)
    # Another user's repository answers what a missing one does.
    with pytest.raises(RepositoryNotFoundError):
        download(hub, rid, "a.txt", cache, token=hub.bob)
    with pytest.raises(RevisionNotFoundError):
        download(hub, rid, "a.txt", cache, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        download(hub, rid, "a.txt", cache, revision="0123456789abcdef0123456789abcdef01234567")
    with pytest.raises(RevisionNotFoundError):
        api.repo_info(rid, revision="no-such-branch")
    with pytest.raises(RemoteEntryNotFoundError):
        download(hub, rid, "no/such/file.txt", cache)
    bad = "fml_0000000000000000_" + "0" * 64
    with pytest.raises(HfHubHTTPError) as e:
        api.whoami(token=bad)
    assert status_of(e) == 401
    with pytest.raises(HfHubHTTPError) as e:
        download(hub, rid, "a.txt", cache, token=bad)
    assert status_of(e) == 401, f"a download with a bad token: {status_of(e)}"
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url, token=bad).list_repo_files(rid)
    assert status_of(e) == 401


def test_organisation_reader_downloads_but_cannot_commit(hub, tmp_path):
    rid = f"{hub.org}/{unique('shared')}"
    hub.api().create_repo(rid)
    c1 = hub.api().upload_file(path_or_fileobj=b"team data\n", path_in_repo="data.txt", repo_id=rid).oid
    # carol, a reader: downloads, lists, but may not commit or create.
    reader = hub.api(hub.carol)
    assert download(hub, rid, "data.txt", tmp_path / "c", token=hub.carol).read_bytes() == b"team data\n"
    assert reader.list_repo_files(rid) == ["data.txt"]
    with pytest.raises(HfHubHTTPError) as e:
        reader.create_commit(rid, [CommitOperationAdd("evil.txt", b"no\n")], commit_message="by a reader")
    assert status_of(e) == 403, f"create_commit by a reader: {status_of(e)} {e.value}"
    with pytest.raises(HfHubHTTPError) as e:
        reader.create_repo(f"{hub.org}/{unique('by-reader')}")
    assert status_of(e) == 403, f"create_repo by a reader: {status_of(e)}"
    assert hub.api().repo_info(rid).sha == c1
    # dave, a writer, commits.
    c2 = hub.api(hub.dave).upload_file(path_or_fileobj=b"more\n", path_in_repo="more.txt", repo_id=rid).oid
    assert hub.api(hub.carol).repo_info(rid).sha == c2
    # bob has no role: the repository does not exist for him.
    with pytest.raises(RepositoryNotFoundError):
        hub.api(hub.bob).repo_info(rid)
    # A training job's key: read-only, limited to the organisation.
    job = json.loads(hub.server.admin("key", "create", "--user", "carol", "--namespace", hub.org, "--read-only",
                                      "-o", "json").stdout)["data"]["api_key"]
    assert download(hub, rid, "more.txt", tmp_path / "c2", token=job).read_bytes() == b"more\n"
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(job).create_repo(f"carol/{unique('by-job')}")
    assert status_of(e) == 403, f"create_repo in carol's own namespace with a key limited to {hub.org}: {status_of(e)}"
    # A read-only key of alice, the organisation's admin: downloads, cannot commit.
    ro = hub.server.new_key("alice", read_only=True)
    assert hub.api(ro).list_repo_files(rid) == ["data.txt", "more.txt"]
    with pytest.raises(HfHubHTTPError) as e:
        hub.api(ro).upload_file(path_or_fileobj=b"no\n", path_in_repo="ro.txt", repo_id=rid)
    assert status_of(e) == 403, f"a commit with a read-only key: {status_of(e)}"
