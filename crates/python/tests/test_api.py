"""The Python surface beyond the seed's examples: failures as responses, progress bars, the GIL,
Ctrl-C, and interoperation with the `fedml` command line."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import fedml
from fedml.api import StorageMetadata
from fedml.api.fedml_response import FedMLResponse, ResponseCode
from conftest import FEDML


def test_failures_are_responses_not_exceptions(server, tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x")
    key = server.admin_key
    cases = [
        fedml.api.upload(f, api_key=key, name="a//b"),
        fedml.api.upload(f, api_key=key, metadata={"n": 1}),
        fedml.api.upload(f, api_key=key, metadata=["not", "a", "dict"]),
        fedml.api.upload(tmp_path / "missing", api_key=key),
        fedml.api.upload(f, api_key=key, service="GCS"),
        fedml.api.download("nothing-here", api_key=key, dest_path=tmp_path),
        fedml.api.delete("nothing-here", "R2", api_key=key),
        fedml.api.get_storage_metadata("nothing-here", api_key=key),
        fedml.api.get_storage_user_defined_metadata("nothing-here", api_key=key),
        fedml.api.list_storage_objects(api_key="not-a-key"),
        fedml.api.list_storage_objects(),  # no key anywhere
    ]
    for r in cases:
        assert isinstance(r, FedMLResponse)
        assert r.code == ResponseCode.FAILURE, r
        assert r.message and r.data is None
    assert "have to be strings" in cases[1].message
    assert "GCS" in cases[4].message and "R2" in cases[4].message
    os.environ["FEDML_SERVER_URL"] = "http://127.0.0.1:9"
    r = fedml.api.list_storage_objects(api_key=key)
    assert r.code == ResponseCode.ERROR and "cannot reach" in r.message


def test_metadata_objects_and_tags(server, tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(1000))
    r = fedml.api.upload(f, api_key=server.admin_key, description="d", metadata={"k": "v"}, tag_list=["a", "b"])
    assert r.code == ResponseCode.SUCCESS, r.message
    assert r.data.endswith("/weights.bin")
    meta = fedml.api.get_storage_metadata("weights.bin", api_key=server.admin_key).data
    assert isinstance(meta, StorageMetadata)
    assert (meta.dataName, meta.description, meta.size, meta.tag_list) == ("weights.bin", "d", 1000, ["a", "b"])
    assert meta.checksum.startswith("blake3:") and meta.createdAt and meta.updatedAt
    assert meta.download_url.startswith(server.url)
    import urllib.request
    assert urllib.request.urlopen(meta.download_url).read() == f.read_bytes()
    listed = fedml.api.list_storage_objects(api_key=server.admin_key).data
    assert [m.dataName for m in listed] == ["weights.bin"]
    dup = fedml.api.upload(f, api_key=server.admin_key)
    assert dup.code == ResponseCode.FAILURE and "overwrite" in dup.message
    assert fedml.api.upload(f, api_key=server.admin_key, overwrite=True).code == ResponseCode.SUCCESS


def test_update_storage_metadata_changes_what_is_given_and_never_the_bytes(server, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    key = server.admin_key
    assert fedml.api.upload(f, api_key=key, description="old", tag_list=["a"], metadata={"k": "v"}).code == ResponseCode.SUCCESS
    before = fedml.api.get_storage_metadata("notes.txt", api_key=key).data
    r = fedml.api.update_storage_metadata("notes.txt", description="new", api_key=key)
    assert r.code == ResponseCode.SUCCESS, r.message
    assert isinstance(r.data, StorageMetadata)
    assert (r.data.description, r.data.tag_list, r.data.checksum) == ("new", ["a"], before.checksum)
    r = fedml.api.update_storage_metadata("notes.txt", tag_list="x, y", metadata={}, api_key=key)
    assert r.data.tag_list == ["x", "y"]
    assert fedml.api.get_storage_user_defined_metadata("notes.txt", api_key=key).data == {}
    for bad in [
        fedml.api.update_storage_metadata("notes.txt", api_key=key),
        fedml.api.update_storage_metadata("notes.txt", metadata={"n": 1}, api_key=key),
        fedml.api.update_storage_metadata("missing", description="x", api_key=key),
    ]:
        assert bad.code == ResponseCode.FAILURE and bad.message and bad.data is None, bad


def test_an_overwrite_keeps_what_it_is_not_given_and_empty_clears(server, tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(os.urandom(5000))
    key = server.admin_key

    def upload(**given):
        r = fedml.api.upload(f, api_key=key, overwrite=True, **given)
        assert r.code == ResponseCode.SUCCESS, r.message
        meta = fedml.api.get_storage_metadata("model.bin", api_key=key).data
        user = fedml.api.get_storage_user_defined_metadata("model.bin", api_key=key).data
        return meta.description, meta.tag_list, user

    first = ("weights", ["a", "b"], {"k": "v"})
    assert upload(description="weights", tag_list=["a", "b"], metadata={"k": "v"}) == first
    # None (the default) is not given: the version replaced's are kept.
    assert upload() == first
    assert upload(description=None, tag_list=None, metadata=None) == first
    assert upload(tag_list="c, d") == ("weights", ["c", "d"], {"k": "v"})
    # Given empty: cleared, and kept cleared.
    assert upload(description="", tag_list=[], metadata={}) == ("", [], {})
    assert upload() == ("", [], {})
    versions = fedml.api.list_versions("model.bin", api_key=key).data
    assert [v["description"] for v in versions] == ["", "", "weights", "weights", "weights", "weights"]


def test_either_unicode_form_of_a_name_is_one_name(server, tmp_path):
    composed, decomposed = "r\u00e9sum\u00e9.bin", "re\u0301sume\u0301.bin"
    f = tmp_path / decomposed
    f.write_bytes(b"cv")
    key = server.admin_key
    assert fedml.api.upload(f, api_key=key).code == ResponseCode.SUCCESS
    assert [o.dataName for o in fedml.api.list_storage_objects(api_key=key).data] == [composed]
    for name in (composed, decomposed):
        assert fedml.api.get_storage_metadata(name, api_key=key).data.dataName == composed
        r = fedml.api.download(name, api_key=key, dest_path=tmp_path / "dl", show_progress=False)
        assert r.code == ResponseCode.SUCCESS and Path(r.data).name == composed, r
    assert fedml.api.delete(decomposed, api_key=key).code == ResponseCode.SUCCESS
    assert fedml.api.list_storage_objects(api_key=key).data == []


def test_progress_bar_goes_where_asked(server, tmp_path, capsys):
    f = tmp_path / "p.bin"
    f.write_bytes(os.urandom(12 << 20))
    r = fedml.api.upload(f, api_key=server.admin_key, show_progress=True, out_progress_to_err=False,
                         progress_desc="Sending weights")
    assert r.code == ResponseCode.SUCCESS, r.message
    out, err = capsys.readouterr()
    assert "Sending weights" in out and "Sending weights" not in err
    r = fedml.api.upload(f, api_key=server.admin_key, name="p2", show_progress=True)
    out, err = capsys.readouterr()
    assert "Uploading Package to Remote Storage" in err and "Uploading" not in out
    r = fedml.api.upload(f, api_key=server.admin_key, name="p3")
    out, err = capsys.readouterr()
    assert out == "" and err == "", "show_progress=False draws nothing"


def test_the_gil_is_released_during_transfers(server, tmp_path):
    f = tmp_path / "big.bin"
    with open(f, "wb") as out:
        out.truncate(256 << 20)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    started = time.monotonic()
    r = fedml.api.upload(f, api_key=server.admin_key)
    elapsed = time.monotonic() - started
    stop.set()
    t.join()
    assert r.code == ResponseCode.SUCCESS, r.message
    during = [x for x in ticks if started <= x <= started + elapsed]
    assert len(during) >= 0.3 * elapsed / 0.005, f"{len(during)} ticks in {elapsed:.2f}s: the GIL was held"


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt for the test's duration, whatever disposition the test run
    inherited (a job started with `&` or `nohup`, and some CI runners, start with SIGINT ignored,
    which Python keeps)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class _Watch:
    """Stands in for the progress bar: notes when the first bytes have moved."""

    def __init__(self):
        self.moving = threading.Event()
        self.seen = 0

    def __call__(self, done, total):
        self.seen = done
        if done > 0:
            self.moving.set()

    def close(self):
        pass


def _ctrl_c_once_moving(monkeypatch):
    """Watches the next transfer's progress; once bytes have moved, sends SIGINT to this process
    (as Ctrl-C does). Answers the watch and the thread that sends it (which gives up after a
    minute and sends it anyway, so that a transfer that never moves cannot hang the test)."""
    watch = _Watch()
    monkeypatch.setattr(fedml.api._progress, "make", lambda *_: watch)
    sender = threading.Thread(target=lambda: (watch.moving.wait(60), os.kill(os.getpid(), signal.SIGINT)))
    sender.start()
    return watch, sender


def test_ctrl_c_cancels_cleanly(server, tmp_path, monkeypatch, ctrl_c_raises):
    f = tmp_path / "huge.bin"
    with open(f, "wb") as out:
        out.truncate(8 << 30)  # sparse: takes no disk, reads as zeros
    watch, sender = _ctrl_c_once_moving(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fedml.api.upload(f, api_key=server.admin_key, show_progress=True)
    sender.join()
    assert watch.moving.is_set(), "the upload never moved"
    assert watch.seen < 8 << 30, "interrupted before the end"
    assert fedml.api.list_storage_objects(api_key=server.admin_key).data == []
    assert server.blob_files() == [], server.blob_files()

    small = tmp_path / "small.bin"
    with open(small, "wb") as out:
        out.truncate(1 << 30)
    assert fedml.api.upload(small, api_key=server.admin_key).code == ResponseCode.SUCCESS
    dest = tmp_path / "dest"
    watch, sender = _ctrl_c_once_moving(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fedml.api.download("small.bin", api_key=server.admin_key, dest_path=dest, show_progress=True)
    sender.join()
    assert watch.moving.is_set(), "the download never moved"
    left = [p.name for p in dest.iterdir()]
    # Nothing at the final name; what arrived is kept, hidden, for the same download run again.
    assert all(n.startswith(".fedml-partial-") for n in left) and len(left) <= 1, left
    assert fedml.api.download("small.bin", api_key=server.admin_key, dest_path=dest).code == ResponseCode.SUCCESS
    assert [p.name for p in dest.iterdir()] == ["small.bin"]


def test_an_exception_in_the_progress_callback_cancels_cleanly(server, tmp_path, monkeypatch):
    """The callback is Python code: Ctrl-C, or any exception, can surface inside it. The transfer
    then stops and cleans up before the exception propagates, as on Ctrl-C between callbacks."""
    f = tmp_path / "huge.bin"
    with open(f, "wb") as out:
        out.truncate(4 << 30)

    class Broken(_Watch):
        def __call__(self, done, total):
            super().__call__(done, total)
            if done > 0:
                raise RuntimeError("the bar broke")

    monkeypatch.setattr(fedml.api._progress, "make", lambda *_: Broken())
    with pytest.raises(RuntimeError, match="the bar broke"):
        fedml.api.upload(f, api_key=server.admin_key, show_progress=True)
    # Nothing goes on in the background: nothing is stored, now or later.
    time.sleep(1)
    assert fedml.api.list_storage_objects(api_key=server.admin_key).data == []
    assert server.blob_files() == [], server.blob_files()


def test_download_refuses_what_is_in_the_way(server, tmp_path):
    tree = tmp_path / "ds"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "x.txt").write_text("stored")
    assert fedml.api.upload(tree, api_key=server.admin_key).code == ResponseCode.SUCCESS
    dest = tmp_path / "dest"
    (dest / "ds").mkdir(parents=True)
    (dest / "ds" / "mine.txt").write_text("keep me")
    r = fedml.api.download("ds", api_key=server.admin_key, dest_path=dest, show_progress=False)
    assert r.code == ResponseCode.FAILURE, r
    assert str(dest / "ds") in r.message and "in the way" in r.message and "replace=True" in r.message
    assert (dest / "ds" / "mine.txt").read_text() == "keep me"
    r = fedml.api.download("ds", api_key=server.admin_key, dest_path=dest, show_progress=False, replace=True)
    assert r.code == ResponseCode.SUCCESS, r.message
    assert not (dest / "ds" / "mine.txt").exists()
    assert (dest / "ds" / "sub" / "x.txt").read_text() == "stored"
    # Now an earlier download of this directory object: replaced without being asked.
    r = fedml.api.download("ds", api_key=server.admin_key, dest_path=dest, show_progress=False)
    assert r.code == ResponseCode.SUCCESS, r.message


def test_files_inside_a_directory_object(server, tmp_path):
    tree = tmp_path / "corpus"
    (tree / "train").mkdir(parents=True)
    (tree / "train" / "a.parquet").write_bytes(os.urandom(30000))
    (tree / "train" / "b.csv").write_text("x,y\n1,2\n")
    (tree / "notes.txt").write_text("hello")
    assert fedml.api.upload(tree, api_key=server.admin_key).code == ResponseCode.SUCCESS
    top = fedml.api.list_files("corpus", api_key=server.admin_key)
    assert top.code == ResponseCode.SUCCESS, top.message
    assert [(e["path"], e["kind"]) for e in top.data] == [("notes.txt", "file"), ("train", "directory")]
    deep = fedml.api.list_files("corpus", "train", recursive=True, api_key=server.admin_key)
    assert [(e["path"], e["size"]) for e in deep.data] == [("train/a.parquet", 30000), ("train/b.csv", 8)]
    dest = tmp_path / "part"
    r = fedml.api.download("corpus", api_key=server.admin_key, dest_path=dest, show_progress=False,
                           include="train/*.parquet")
    assert r.code == ResponseCode.SUCCESS, r.message
    assert r.data == [str(dest / "corpus" / "train" / "a.parquet")]
    assert (dest / "corpus" / "train" / "a.parquet").read_bytes() == (tree / "train" / "a.parquet").read_bytes()
    assert sorted(p.name for p in (dest / "corpus").rglob("*")) == ["a.parquet", "train"]
    r = fedml.api.download("corpus", api_key=server.admin_key, dest_path=dest, show_progress=False,
                           path=["nothing/here"])
    assert r.code == ResponseCode.FAILURE and "matches" in r.message, r.message
    r = fedml.api.list_files("corpus", "absent", api_key=server.admin_key)
    assert r.code == ResponseCode.FAILURE and "no folder" in r.message, r.message


def test_versions(server, tmp_path):
    key = server.admin_key
    path = tmp_path / "weights.bin"
    bodies = [os.urandom(50_000) for _ in range(3)]
    for i, body in enumerate(bodies):
        path.write_bytes(body)
        r = fedml.api.upload(path, api_key=key, overwrite=i > 0, metadata={"stage": f"v{i + 1}"})
        assert r.code == ResponseCode.SUCCESS, r.message
    listed = fedml.api.list_versions("weights.bin", api_key=key)
    assert listed.code == ResponseCode.SUCCESS, listed.message
    assert [(v["version"], v["latest"]) for v in listed.data] == [(3, True), (2, False), (1, False)]
    assert fedml.api.get_storage_metadata("weights.bin", api_key=key).data.version == 3
    meta = fedml.api.get_storage_metadata("weights.bin", api_key=key, version=1)
    assert meta.data.version == 1 and meta.data.size == 50_000
    user = fedml.api.get_storage_user_defined_metadata("weights.bin", api_key=key, version=2)
    assert user.data == {"stage": "v2"}
    dest = tmp_path / "old"
    r = fedml.api.download("weights.bin", api_key=key, dest_path=dest, show_progress=False, version=1)
    assert r.code == ResponseCode.SUCCESS, r.message
    assert (dest / "weights.bin").read_bytes() == bodies[0]
    diff = fedml.api.diff_versions("weights.bin", 1, api_key=key)
    assert diff.code == ResponseCode.SUCCESS, diff.message
    assert diff.data["to"]["version"] == 3 and [f["change"] for f in diff.data["files"]] == ["changed"]
    missing = fedml.api.download("weights.bin", api_key=key, dest_path=dest, show_progress=False, version=8)
    assert missing.code == ResponseCode.FAILURE and "has no version 8" in missing.message, missing.message
    r = fedml.api.delete("weights.bin", api_key=key, version=3)
    assert r.code == ResponseCode.SUCCESS and r.data == {"version": 3, "latest": 2, "name_deleted": False}, r
    assert fedml.api.get_storage_metadata("weights.bin", api_key=key).data.version == 2
    r = fedml.api.delete("weights.bin", api_key=key)
    assert r.code == ResponseCode.SUCCESS and r.data is True
    assert fedml.api.list_versions("weights.bin", api_key=key).code == ResponseCode.FAILURE


def test_interop_with_the_command_line(server, tmp_path):
    env = dict(os.environ, FEDML_API_KEY=server.admin_key)
    cli_file = tmp_path / "from-cli.bin"
    cli_file.write_bytes(os.urandom(100_000))
    subprocess.run([str(FEDML), "storage", "upload", str(cli_file), "-um", '{"via": "cli"}'], env=env, check=True,
                   capture_output=True)
    r = fedml.api.download("from-cli.bin", api_key=server.admin_key, dest_path=tmp_path / "py")
    assert r.code == ResponseCode.SUCCESS, r.message
    assert Path(r.data).read_bytes() == cli_file.read_bytes()
    assert fedml.api.get_storage_user_defined_metadata("from-cli.bin", api_key=server.admin_key).data == {"via": "cli"}

    tree = tmp_path / "from-python"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "x.txt").write_text("python")
    assert fedml.api.upload(tree, api_key=server.admin_key).code == ResponseCode.SUCCESS
    subprocess.run([str(FEDML), "storage", "download", "from-python", "-d", str(tmp_path / "cli")], env=env,
                   check=True, capture_output=True)
    assert (tmp_path / "cli" / "from-python" / "sub" / "x.txt").read_text() == "python"
