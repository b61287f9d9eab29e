"""The Hub and the `fedml` CLI see the same data: a repository `ns/name` is the directory object
`name` of namespace `ns` (a dataset: `datasets/name`), a commit is a version. A directory
uploaded with `fedml storage upload` is read with snapshot_download; a repository committed
through the Hub downloads with `fedml storage download` byte for byte; the versions commits made
list in `fedml storage versions` and survive a restart of the server."""

import os
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, snapshot_download

from conftest import MiB, HubServer, is_commit_id, make_tree, sha256, tree_digests, unique


def object_of(repo_id, repo_type="model"):
    """(namespace, object name) of a repository (README, "Hugging Face Hub API")."""
    ns, name = repo_id.split("/")
    return ns, name if repo_type == "model" else f"datasets/{name}"


def test_fedml_upload_reads_with_snapshot_download(hub, tmp_path):
    for repo_type in ("model", "dataset"):
        name = unique(f"uploaded-{repo_type}")
        rid = f"alice/{name}"
        _, obj = object_of(rid, repo_type)
        src = tmp_path / repo_type / name
        digests = make_tree(src, {"a.txt": b"a\n", "nested/b.bin": os.urandom(3 * MiB + 1), "nested/c/d.json": b"{}"})
        hub.fedml("storage", "upload", src, "-n", obj, "--no-progress")
        api = hub.api()
        assert sorted(api.list_repo_files(rid, repo_type=repo_type)) == sorted(digests)
        snap = Path(snapshot_download(rid, repo_type=repo_type, cache_dir=tmp_path / "c", endpoint=hub.url))
        assert tree_digests(snap) == digests
        assert is_commit_id(snap.name)
        # A second version by `fedml storage upload --overwrite` is the next commit.
        (src / "a.txt").write_bytes(b"a, second version\n")
        hub.fedml("storage", "upload", src, "-n", obj, "--overwrite", "--no-progress")
        commits = [c.commit_id for c in api.list_repo_commits(rid, repo_type=repo_type)]
        assert len(commits) == 2 and commits[1] == snap.name, commits
        got = hf_hub_download(rid, "a.txt", repo_type=repo_type, cache_dir=tmp_path / "c", endpoint=hub.url)
        assert Path(got).read_bytes() == b"a, second version\n"
    # In an organisation, uploaded by its writer, read by its reader.
    org_rid = f"{hub.org}/{unique('org-upload')}"
    src = tmp_path / "org" / org_rid.split("/")[1]
    digests = make_tree(src, {"x.txt": b"x\n"})
    hub.fedml("storage", "upload", src, "-n", org_rid.split("/")[1], "--namespace", hub.org, "--no-progress",
              key=hub.dave)
    snap = snapshot_download(org_rid, cache_dir=tmp_path / "c2", endpoint=hub.url, token=hub.carol)
    assert tree_digests(Path(snap)) == digests


def test_hub_commits_download_with_fedml_and_list_as_versions(hub, tmp_path):
    for repo_type in ("model", "dataset"):
        rid = f"alice/{unique(f'committed-{repo_type}')}"
        ns, obj = object_of(rid, repo_type)
        api = hub.api()
        api.create_repo(rid, repo_type=repo_type)
        files = {"README.md": b"# hello\n", "weights/part-1.bin": os.urandom(11 * MiB + 9),
                 "weights/part-2.bin": os.urandom(MiB), "empty.txt": b""}
        src = tmp_path / f"src-{repo_type}"
        digests = make_tree(src, files)
        commits = [api.upload_folder(folder_path=src, repo_id=rid, repo_type=repo_type, commit_message="first").oid]
        commits.append(api.create_commit(rid, [CommitOperationAdd("later.txt", b"later\n")], repo_type=repo_type,
                                         commit_message="second").oid)
        digests["later.txt"] = sha256(b"later\n")

        dest = tmp_path / f"down-{repo_type}"
        hub.fedml("storage", "download", obj, "-d", dest, "--no-progress")
        # A name with folders (datasets/NAME) lands as its last part.
        assert tree_digests(dest / obj.split("/")[-1]) == digests, "fedml storage download of a repository committed through the Hub"
        listing = hub.fedml_json("storage", "ls", obj, "-r")
        assert sorted(e["path"] for e in listing if e["kind"] == "file") == sorted(digests)

        versions = hub.fedml_json("storage", "versions", obj)
        assert len(versions) == len(list(api.list_repo_commits(rid, repo_type=repo_type)))
        assert versions[0]["latest"] and versions[0]["size"] > 0
        # Version 1 as the CLI reads it is the first commit.
        old = tmp_path / f"old-{repo_type}"
        first = [v["version"] for v in versions][-len(commits)]
        hub.fedml("storage", "download", obj, "-d", old, "--version", str(first), "--no-progress")
        assert "later.txt" not in tree_digests(old / obj.split("/")[-1])
        assert ns == "alice"


def test_versions_survive_a_restart(tmp_path):
    server = HubServer(tmp_path / "restart-server")
    try:
        key = server.new_user("erin")
        api = HfApi(endpoint=server.url, token=key)
        rid = f"erin/{unique('durable')}"
        api.create_repo(rid)
        contents = [os.urandom(MiB + i) for i in range(3)]
        commits = [api.upload_file(path_or_fileobj=c, path_in_repo="w.bin", repo_id=rid,
                                   commit_message=f"v{i}").oid for i, c in enumerate(contents)]
        before = [c.commit_id for c in api.list_repo_commits(rid)]
        versions_before = server.fedml_json("storage", "versions", rid.split("/")[1], key=key)
        assert before[:3] == commits[::-1] and len(versions_before) == len(before)

        server.restart()
        api = HfApi(endpoint=server.url, token=key)
        assert [c.commit_id for c in api.list_repo_commits(rid)] == before
        assert server.fedml_json("storage", "versions", rid.split("/")[1], key=key) == versions_before
        assert api.repo_info(rid).sha == commits[-1]
        for commit, data in zip(commits, contents):
            got = hf_hub_download(rid, "w.bin", revision=commit, cache_dir=tmp_path / "c", endpoint=server.url,
                                  token=key)
            assert sha256(got) == sha256(data)
    finally:
        server.stop()
