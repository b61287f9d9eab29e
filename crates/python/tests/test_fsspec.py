"""fsspec's ``fedml://`` (fedml/fs.py, registered by the package's entry point) with the real
libraries: pandas, pyarrow's datasets and DuckDB read stored Parquet in place, fetching only the
bytes they ask for."""

import os
import re
import urllib.request

import duckdb
import fsspec
import pandas as pd
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import fedml
from fedml.api.fedml_response import ResponseCode


def served(server) -> int:
    text = urllib.request.urlopen(f"{server.url}/metrics").read().decode()
    m = re.search(r"^fedml_local_bytes_served_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = __import__("numpy").random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.integers(0, 1 << 40, rows),
        "b": rng.random(rows),
        "c": [f"row-{seed}-{i}" for i in range(rows)],
    })


@pytest.fixture
def dataset(server, tmp_path):
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    frames = {}
    for i in range(3):
        frames[f"train/part-{i}.parquet"] = frame(2000, i)
        frames[f"train/part-{i}.parquet"].to_parquet(root / "train" / f"part-{i}.parquet")
    frames["test/part-0.parquet"] = frame(500, 9)
    frames["test/part-0.parquet"].to_parquet(root / "test" / "part-0.parquet")
    # One large file whose columns are far apart: reading one must not read the others.
    big = frame(400_000, 42)
    big.to_parquet(root / "big.parquet", row_group_size=100_000, compression=None)
    frames["big.parquet"] = big
    (root / "readme.txt").write_text("a small parquet dataset\n")
    r = fedml.api.upload(root, api_key=server.admin_key)
    assert r.code == ResponseCode.SUCCESS, r.message
    return root, frames


def test_the_protocol_is_registered_and_lists_like_a_file_system(server, dataset):
    root, _ = dataset
    fs = fsspec.filesystem("fedml", api_key=server.admin_key)
    assert type(fs).__module__ == "fedml.fs"
    assert fs.ls("fedml://ds", detail=False) == ["ds/big.parquet", "ds/readme.txt", "ds/test", "ds/train"]
    info = fs.info("fedml://ds/readme.txt")
    assert (info["type"], info["size"]) == ("file", len("a small parquet dataset\n"))
    assert fs.info("fedml://ds/train")["type"] == "directory"
    assert fs.glob("fedml://ds/train/*.parquet") == [f"ds/train/part-{i}.parquet" for i in range(3)]
    assert fs.find("fedml://ds/test") == ["ds/test/part-0.parquet"]
    assert "ds" in fs.ls("", detail=False)
    with pytest.raises(FileNotFoundError):
        fs.info("fedml://ds/nothing.csv")
    with pytest.raises(FileNotFoundError):
        fs.ls("fedml://no-such-object")
    with pytest.raises(FileNotFoundError, match="has no version 3"):
        fs.info("fedml://ds@3/readme.txt")
    with pytest.raises(NotImplementedError):
        fs.open("fedml://ds/new.txt", "wb")


def test_random_access_and_ranges(server, dataset):
    root, _ = dataset
    fs = fsspec.filesystem("fedml", api_key=server.admin_key)
    local = (root / "big.parquet").read_bytes()
    with fs.open("fedml://ds/big.parquet", "rb") as f:
        f.seek(len(local) - 100)
        assert f.read(100) == local[-100:]
        f.seek(12345)
        assert f.read(1000) == local[12345:13345]
    assert fs.cat_file("fedml://ds/big.parquet", start=10, end=20) == local[10:20]
    assert fs.cat_file("fedml://ds/big.parquet", start=-8) == local[-8:]
    assert fs.cat_file("fedml://ds/readme.txt") == (root / "readme.txt").read_bytes()
    # A file object reads as a file too.
    model = root.parent / "model.bin"
    model.write_bytes(os.urandom(100_000))
    assert fedml.api.upload(model, api_key=server.admin_key).code == ResponseCode.SUCCESS
    assert fs.info("fedml://model.bin")["size"] == 100_000
    assert fs.cat_file("fedml://model.bin", start=500, end=600) == model.read_bytes()[500:600]


def test_pandas_reads_one_column_fetching_little_more_than_it(server, dataset):
    root, frames = dataset
    options = {"api_key": server.admin_key}
    small = pd.read_parquet("fedml://ds/train/part-1.parquet", storage_options=options)
    pd.testing.assert_frame_equal(small, frames["train/part-1.parquet"])

    meta = pq.ParquetFile(root / "big.parquet").metadata
    column = sum(meta.row_group(g).column(0).total_compressed_size for g in range(meta.num_row_groups))
    before = served(server)
    got = pd.read_parquet("fedml://ds/big.parquet", columns=["a"], storage_options=options)
    fetched = served(server) - before
    assert got["a"].tolist() == frames["big.parquet"]["a"].tolist()
    print(f"one column of {column} bytes: {fetched} bytes fetched "
          f"(file {os.path.getsize(root / 'big.parquet')} bytes)")
    # The column, the file's footer, the object's list of files; never the other columns.
    assert fetched <= column * 1.2 + (512 << 10), (fetched, column)


def test_pyarrow_datasets_and_duckdb_read_a_folder(server, dataset):
    _, frames = dataset
    fs = fsspec.filesystem("fedml", api_key=server.admin_key)
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    table = pads.dataset("ds/train", filesystem=arrow_fs, format="parquet").to_table()
    assert table.num_rows == 6000
    assert sorted(table.column("c").to_pylist()) == sorted(
        sum((frames[f"train/part-{i}.parquet"]["c"].tolist() for i in range(3)), []))

    con = duckdb.connect()
    con.register_filesystem(fs)
    count, total = con.execute("SELECT count(*), sum(a) FROM read_parquet('fedml://ds/train/*.parquet')").fetchone()
    assert count == 6000
    assert total == sum(int(frames[f"train/part-{i}.parquet"]["a"].sum()) for i in range(3))


def test_hugging_face_datasets_loads_parquet_files_by_their_urls(server, dataset, tmp_path, monkeypatch):
    _, frames = dataset
    # Not offline mode: that refuses every remote URL, ours too. Nothing here needs the Hub
    # (the parquet builder ships with the library).
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    loaded = datasets.load_dataset(
        "parquet",
        data_files={"train": "fedml://ds/train/*.parquet", "test": "fedml://ds/test/part-0.parquet"},
        storage_options={"api_key": server.admin_key},
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded["train"].num_rows == 6000
    assert loaded["test"]["c"] == frames["test/part-0.parquet"]["c"].tolist()


def test_a_version_is_read_through_name_at_number(server, dataset, tmp_path):
    root, frames = dataset
    first = frames["train/part-1.parquet"]
    changed = frame(2000, 77)
    changed.to_parquet(root / "train" / "part-1.parquet")
    (root / "readme.txt").write_text("the second version\n")
    r = fedml.api.upload(root, api_key=server.admin_key, overwrite=True)
    assert r.code == ResponseCode.SUCCESS, r.message
    fs = fsspec.filesystem("fedml", api_key=server.admin_key)
    opts = {"api_key": server.admin_key}
    pd.testing.assert_frame_equal(pd.read_parquet("fedml://ds@1/train/part-1.parquet", storage_options=opts), first)
    pd.testing.assert_frame_equal(pd.read_parquet("fedml://ds/train/part-1.parquet", storage_options=opts), changed)
    pd.testing.assert_frame_equal(pd.read_parquet("fedml://ds@2/train/part-1.parquet", storage_options=opts), changed)
    assert fs.cat_file("fedml://ds@1/readme.txt") == b"a small parquet dataset\n"
    assert fs.cat_file("fedml://ds/readme.txt") == b"the second version\n"
    assert fs.ls("fedml://ds@1", detail=False) == ["ds@1/big.parquet", "ds@1/readme.txt", "ds@1/test", "ds@1/train"]
    with pytest.raises(ValueError, match="numbered from 1"):
        fs.info("fedml://ds@0/readme.txt")
