"""Data tools over S3: s3fs with pandas (CSV, Parquet), DuckDB's httpfs (installed from the pip
package that ships it: nothing is downloaded at run time) reading Parquet by glob and writing it,
polars reading Parquet through its own object-store client."""

import io
import os
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs


def frame(n, seed, pad=0):
    """n rows; with `pad`, a column of that many random hex digits a row (files larger than the
    footer a reader fetches first)."""
    df = pd.DataFrame({"id": range(seed * 1000, seed * 1000 + n), "name": [f"row-{i}-é" for i in range(n)],
                       "value": [i * 0.5 for i in range(n)]})
    if pad:
        df["pad"] = [os.urandom(pad // 2).hex() for _ in range(n)]
    return df


@pytest.fixture
def fs(target):
    return s3fs.S3FileSystem(key=target.main.access_key, secret=target.main.secret_key, endpoint_url=target.endpoint,
                             client_kwargs={"region_name": target.region},
                             config_kwargs={"s3": {"addressing_style": "path"}}, skip_instance_cache=True)


def storage_options(target):
    return {"key": target.main.access_key, "secret": target.main.secret_key, "endpoint_url": target.endpoint,
            "client_kwargs": {"region_name": target.region}}


def test_pandas_csv_and_parquet_through_s3fs(target, fs, prefix):
    df = frame(500, 1)
    base = f"s3://{target.bucket}/{prefix}"
    df.to_csv(base + "table.csv", index=False, storage_options=storage_options(target))
    back = pd.read_csv(base + "table.csv", storage_options=storage_options(target))
    pd.testing.assert_frame_equal(back, df)
    df.to_parquet(base + "table.parquet", storage_options=storage_options(target))
    back = pd.read_parquet(base + "table.parquet", storage_options=storage_options(target))
    pd.testing.assert_frame_equal(back, df)
    # s3fs's own calls: ls, info, glob, ranged reads (what a Parquet reader asks), rm.
    assert sorted(fs.ls(f"{target.bucket}/{prefix}")) == [f"{target.bucket}/{prefix}table.csv",
                                                           f"{target.bucket}/{prefix}table.parquet"]
    assert fs.info(f"{target.bucket}/{prefix}table.csv")["size"] == len(df.to_csv(index=False).encode())
    assert fs.glob(f"{target.bucket}/{prefix}*.parquet") == [f"{target.bucket}/{prefix}table.parquet"]
    with fs.open(f"{target.bucket}/{prefix}table.csv", "rb", block_size=64) as f:
        f.seek(3)
        assert f.read(5) == df.to_csv(index=False).encode()[3:8]
    meta = pq.ParquetFile(fs.open(f"{target.bucket}/{prefix}table.parquet", "rb")).metadata
    assert meta.num_rows == 500
    fs.rm(f"{target.bucket}/{prefix}table.csv")
    assert not fs.exists(f"{target.bucket}/{prefix}table.csv")


def test_s3fs_large_write_is_multipart(target, fs, prefix):
    data = os.urandom(12 << 20)
    with fs.open(f"{target.bucket}/{prefix}big.bin", "wb", block_size=5 << 20) as f:
        for i in range(0, len(data), 1 << 20):
            f.write(data[i:i + (1 << 20)])
    assert fs.cat(f"{target.bucket}/{prefix}big.bin") == data
    assert fs.info(f"{target.bucket}/{prefix}big.bin")["ETag"].endswith('-3"')


@pytest.fixture(scope="module")
def parquet_parts(target):
    """Three Parquet files under data/, written with pyarrow through s3fs."""
    fs = s3fs.S3FileSystem(key=target.main.access_key, secret=target.main.secret_key, endpoint_url=target.endpoint,
                           client_kwargs={"region_name": target.region}, skip_instance_cache=True)
    base = f"pq-{os.urandom(3).hex()}/"
    for part in range(3):
        pq.write_table(pa.Table.from_pandas(frame(1000, part, pad=1000), preserve_index=False),
                       f"{target.bucket}/{base}data/part-{part}.parquet", filesystem=fs)
    fs.pipe(f"{target.bucket}/{base}data/README.txt", b"not parquet")
    return base


def duckdb_connection(target, tmp_path: Path):
    """DuckDB with httpfs from the duckdb-extension-httpfs wheel (matching duckdb's version);
    autoinstall off, so that nothing is fetched from the network."""
    import duckdb_extension_httpfs

    ext = next((Path(duckdb_extension_httpfs.__file__).parent / "extensions").rglob("httpfs.duckdb_extension"))
    con = duckdb.connect(config={"extension_directory": str(tmp_path / "duckdb-ext"),
                                 "autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.install_extension(str(ext))
    con.load_extension("httpfs")
    host = target.endpoint.removeprefix("http://")
    con.execute(f"""CREATE SECRET s3target (TYPE s3, KEY_ID '{target.main.access_key}',
                    SECRET '{target.main.secret_key}', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false,
                    REGION '{target.region}')""")
    return con


def test_duckdb_reads_parquet_by_glob_and_writes(target, parquet_parts, tmp_path):
    con = duckdb_connection(target, tmp_path)
    url = f"s3://{target.bucket}/{parquet_parts}data/*.parquet"
    count, total = con.execute(f"SELECT count(*), sum(id) FROM read_parquet('{url}')").fetchone()
    assert count == 3000 and total == sum(range(0, 1000)) + sum(range(1000, 2000)) + sum(range(2000, 3000))
    files = con.execute(f"SELECT DISTINCT filename FROM read_parquet('{url}', filename=true) ORDER BY 1").fetchall()
    assert [f[0].rsplit("/", 1)[1] for f in files] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    # A column and a filter: ranged reads of the footer and of one column chunk.
    assert con.execute(f"SELECT name FROM read_parquet('{url}') WHERE id = 2500").fetchone() == ("row-500-é",)
    # Writes (DuckDB writes with a multipart upload) and reads back what it wrote.
    out = f"s3://{target.bucket}/{parquet_parts}written/out.parquet"
    con.execute(f"COPY (SELECT range AS id, 'x' || range AS s FROM range(200000)) TO '{out}' (FORMAT parquet)")
    assert con.execute(f"SELECT count(*), max(id) FROM '{out}'").fetchone() == (200000, 199999)
    csv = f"s3://{target.bucket}/{parquet_parts}written/out.csv"
    con.execute(f"COPY (SELECT * FROM read_parquet('{url}') ORDER BY id LIMIT 10) TO '{csv}' (HEADER)")
    assert con.execute(f"SELECT count(*) FROM read_csv('{csv}')").fetchone() == (10,)
    con.close()


def test_polars_reads_and_writes_parquet(target, parquet_parts):
    opts = {"aws_access_key_id": target.main.access_key, "aws_secret_access_key": target.main.secret_key,
            "aws_endpoint_url": target.endpoint, "aws_region": target.region, "aws_allow_http": "true",
            "aws_virtual_hosted_style_request": "false"}
    one = pl.read_parquet(f"s3://{target.bucket}/{parquet_parts}data/part-1.parquet", storage_options=opts)
    assert one.height == 1000 and one["id"].min() == 1000
    every = pl.scan_parquet(f"s3://{target.bucket}/{parquet_parts}data/*.parquet", storage_options=opts).collect()
    assert every.height == 3000 and every["id"].sum() == sum(range(3000))
    out = f"s3://{target.bucket}/{parquet_parts}polars/out.parquet"
    pl.DataFrame({"k": list(range(50_000)), "v": [os.urandom(8).hex() + "é" for _ in range(50_000)]}).write_parquet(
        out, storage_options=opts)
    back = pl.read_parquet(out, storage_options=opts)
    assert back.height == 50_000 and back["k"].sum() == sum(range(50_000))
    buf = io.BytesIO()
    one.write_parquet(buf)
    assert buf.tell() > 0
