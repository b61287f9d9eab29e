#!/usr/bin/env python3
"""Using stored data without downloading it whole, through a local server (release build):

1. one 1 MiB file out of a stored directory of --size-gib GiB (default 10): bytes the server
   served and seconds, for `fedml storage download NAME --path …` and for a read of the same
   file through Python's `fedml://` — beside the anchor of a ranged GET of 1 MiB straight from
   the store's signed URL (what the least any reader must do), in the same run;
2. one column of a --parquet-mib MiB Parquet file (default 1024) with pandas over `fedml://`:
   bytes fetched against the column's own bytes, and seconds against pandas reading the same
   column from the same file on local disk and through s3fs from an S3 server on this machine
   (moto's server, else s3s-fs; s3fs in target/s3fs-venv, made when missing), the anchors, in
   the same run.

    python3 bench/inside.py [--size-gib 10] [--parquet-mib 1024] [--runs 3]

Python's side runs in the test venv (target/pyenv, with the package built into it by scripts/test)
when it has pandas; else part 2 and the `fedml://` read are left out, saying so.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transfer import FEDML, ROOT, settle, start_server, timed, vm_hwm  # noqa: E402
from s3 import free_port  # noqa: E402

from cargo_target import target_directory  # noqa: E402  (transfer put tests/ on the path)

PYENV = str(target_directory() / "pyenv" / "bin" / "python")

READ_ONE = r"""
import sys, time, fsspec
fs = fsspec.filesystem("fedml", api_key=sys.argv[1])
t = time.perf_counter()
data = fs.cat_file(sys.argv[2])
print(time.perf_counter() - t, len(data))
"""

COLUMN = r"""
import sys, time, pandas as pd
key, url, local, column = sys.argv[1:]
t = time.perf_counter()
remote = pd.read_parquet(url, columns=[column], storage_options={"api_key": key})
t_remote = time.perf_counter() - t
t = time.perf_counter()
mine = pd.read_parquet(local, columns=[column])
t_local = time.perf_counter() - t
assert remote.equals(mine)
print(t_remote, t_local)
"""

COLUMN_S3 = r"""
import sys, time, pandas as pd
endpoint, access, secret, url, column = sys.argv[1:]
options = {"key": access, "secret": secret, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
t = time.perf_counter()
frame = pd.read_parquet(url, columns=[column], storage_options=options)
print(time.perf_counter() - t, len(frame))
"""

MAKE_PARQUET = r"""
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
path, mib = sys.argv[1], int(sys.argv[2])
rows = mib * (1 << 20) // 32   # four 8-byte columns
rng = np.random.default_rng(7)
writer = None
step = 1 << 22
for start in range(0, rows, step):
    n = min(step, rows - start)
    table = pa.table({c: rng.integers(0, 1 << 62, n) for c in "abcd"})
    writer = writer or pq.ParquetWriter(path, table.schema, compression="none")
    writer.write_table(table, row_group_size=1 << 20)
writer.close()
meta = pq.ParquetFile(path).metadata
print(sum(meta.row_group(g).column(0).total_compressed_size for g in range(meta.num_row_groups)))
"""


def served(url):
    text = urllib.request.urlopen(f"{url}/metrics").read().decode()
    m = re.search(r"^fedml_local_bytes_served_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def has_pandas():
    if not os.path.exists(PYENV):
        return False
    return subprocess.run([PYENV, "-c", "import pandas, pyarrow, fsspec, fedml.fs"], capture_output=True).returncode == 0


PUT_S3 = r"""
import sys, s3fs
endpoint, access, secret, local = sys.argv[1:]
fs = s3fs.S3FileSystem(key=access, secret=secret, client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"})
fs.call_s3("create_bucket", Bucket="tables")
fs.put_file(local, "tables/big.parquet")
"""


def s3fs_column(work, local, runs):
    """Times pandas reading the column through s3fs from an S3 server on this machine: moto's
    server when `moto_server` is on PATH (pip install 'moto[server]'), else s3s-fs (which hashes
    the whole object on every GET, about 3 s a request for 1 GiB: a slow anchor, said so). s3fs
    runs in the venv target/s3fs-venv (pandas, pyarrow, s3fs; made when missing). None when
    neither server is there or the venv cannot be made."""
    server = "moto" if shutil.which("moto_server") else "s3s-fs" if shutil.which("s3s-fs") else None
    if server is None:
        print("s3fs anchor left out: neither moto_server nor s3s-fs is on PATH", file=sys.stderr)
        return None, None
    venv = target_directory() / "s3fs-venv"
    python = str(venv / "bin" / "python")
    if subprocess.run([python, "-c", "import s3fs, pandas, pyarrow"], capture_output=True).returncode != 0:
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode == 0 and subprocess.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pandas", "pyarrow", "s3fs"]
        ).returncode == 0
        if not made:
            print("s3fs anchor left out: cannot install s3fs into target/s3fs-venv", file=sys.stderr)
            return None, None
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    root = os.path.join(work, "s3")
    if server == "moto":
        cmd = ["moto_server", "-H", "127.0.0.1", "-p", str(port)]
    else:
        os.makedirs(os.path.join(root, "tables"))
        shutil.copy(local, os.path.join(root, "tables", "big.parquet"))
        cmd = ["s3s-fs", "--host", "127.0.0.1", "--port", str(port), "--access-key", "bench",
               "--secret-key", "bench-secret", root]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as c:
                if c.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        if server == "moto":
            subprocess.run([python, "-c", PUT_S3, endpoint, "bench", "bench-secret", local], check=True)
        times = []
        for _ in range(runs):
            settle(local)
            out = subprocess.run([python, "-c", COLUMN_S3, endpoint, "bench", "bench-secret",
                                  "s3://tables/big.parquet", "a"], capture_output=True, text=True, check=True)
            times.append(float(out.stdout.split()[0]))
        return times, server
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gib", type=float, default=10)
    ap.add_argument("--parquet-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fedml-insidebench-", dir=args.workdir)
    server = None
    python = has_pandas()
    try:
        server, data_dir, url, key, env = start_server(work, free_port())
        # A directory of 64 MiB files (random: nothing dedups) and the one 1 MiB file wanted.
        tree = os.path.join(work, "dataset")
        os.makedirs(os.path.join(tree, "shards"))
        os.makedirs(os.path.join(tree, "wanted"))
        count = int(args.size_gib * 16)
        for i in range(count):
            with open(os.path.join(tree, "shards", f"shard-{i:05d}.bin"), "wb") as f:
                f.write(os.urandom(64 << 20))
        with open(os.path.join(tree, "wanted", "one.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        t_up, rss_up = timed([FEDML, "storage", "upload", tree, "--no-progress"], env)
        shutil.rmtree(os.path.join(tree, "shards"))  # room on the disk; the copy is in the store

        meta = json.loads(subprocess.run([FEDML, "storage", "get-metadata", "dataset", "-o", "json"], env=env,
                                         capture_output=True, text=True, check=True).stdout)["data"]
        cli_t, cli_b, py_t, py_b, anchor_t = [], [], [], [], []
        for i in range(args.runs):
            dest = os.path.join(work, f"one-{i}")
            before = served(url)
            t, _ = timed([FEDML, "storage", "download", "dataset", "--path", "wanted/one.bin", "-d", dest,
                          "--no-progress"], env)
            cli_t.append(t)
            cli_b.append(served(url) - before)
            with open(os.path.join(dest, "dataset", "wanted", "one.bin"), "rb") as f:
                if f.read() != open(os.path.join(tree, "wanted", "one.bin"), "rb").read():
                    sys.exit("the file read back differs")
            shutil.rmtree(dest)
            # The anchor: 1 MiB by one ranged GET of the object's own URL (no lookup at all).
            request = urllib.request.Request(meta["downloadUrl"], headers={"Range": "bytes=0-1048575"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(request) as r:
                r.read()
            anchor_t.append(time.perf_counter() - t0)
            if python:
                before = served(url)
                out = subprocess.run([PYENV, "-c", READ_ONE, key, "fedml://dataset/wanted/one.bin"],
                                     env=env, capture_output=True, text=True, check=True).stdout.split()
                py_t.append(float(out[0]))
                py_b.append(served(url) - before)
        med = statistics.median
        size = meta["size"]
        print(f"\nthe {size / 2**30:.2f} GiB directory's packed upload: {t_up:.1f} s, client peak RSS "
              f"{rss_up / 1024:.1f} MiB   [target <= 64 MiB]")
        print(f"one 1 MiB file of it, median of {args.runs}")
        print(f"{'reader':<40}{'seconds':>9}{'fetched':>14}   [target <= 0.2 s, <= 2 MiB]")
        print(f"{'fedml storage download --path':<40}{med(cli_t):>9.3f}{med(cli_b) / 2**20:>10.2f} MiB"
              "   (whole command: process start, login, ticket, list, file)")
        if py_t:
            print(f"{'fedml:// cat_file (open + read)':<40}{med(py_t):>9.3f}{med(py_b) / 2**20:>10.2f} MiB")
        print(f"{'anchor: one ranged GET of 1 MiB':<40}{med(anchor_t):>9.3f}{1:>10.2f} MiB")

        result = {"dir_gib": size / 2**30, "cli_s": med(cli_t), "cli_fetched": med(cli_b),
                  "py_s": med(py_t) if py_t else None, "py_fetched": med(py_b) if py_b else None,
                  "anchor_s": med(anchor_t), "upload_s": t_up, "upload_rss_kib": rss_up}
        if python and args.parquet_mib > 0:
            pq_dir = os.path.join(work, "tables")
            os.makedirs(pq_dir)
            local = os.path.join(pq_dir, "big.parquet")
            column = int(subprocess.run([PYENV, "-c", MAKE_PARQUET, local, str(args.parquet_mib)],
                                        capture_output=True, text=True, check=True).stdout)
            timed([FEDML, "storage", "upload", pq_dir, "--no-progress"], env)
            remote_t, local_t, fetched = [], [], []
            for _ in range(args.runs):
                settle(local)
                before = served(url)
                out = subprocess.run([PYENV, "-c", COLUMN, key, "fedml://tables/big.parquet", local, "a"],
                                     env=env, capture_output=True, text=True, check=True).stdout.split()
                fetched.append(served(url) - before)
                remote_t.append(float(out[0]))
                local_t.append(float(out[1]))
            print(f"\none column of a {os.path.getsize(local) / 2**20:.0f} MiB Parquet file "
                  f"({column / 2**20:.1f} MiB of column data), pandas.read_parquet, median of {args.runs}")
            print(f"  over fedml://: {med(remote_t):.3f} s, fetched {med(fetched) / 2**20:.1f} MiB = "
                  f"{med(fetched) / column:.3f}x the column   [target <= 1.2x]")
            print(f"  anchor, the same file on local disk: {med(local_t):.3f} s "
                  f"(fedml:// takes {med(remote_t) / med(local_t):.2f}x)")
            s3_t, s3_server = s3fs_column(work, local, args.runs)
            if s3_t:
                print(f"  anchor, the same file through s3fs from {s3_server} on this machine: {med(s3_t):.3f} s "
                      f"(fedml:// at {med(s3_t) / med(remote_t):.2f}x its speed)   [target >= 0.8x]")
                result["column_s3fs_s"] = med(s3_t)
            result.update({"column_bytes": column, "column_fetched": med(fetched),
                           "column_remote_s": med(remote_t), "column_local_s": med(local_t)})
        elif not python:
            print("fedml:// and the Parquet column left out: target/pyenv lacks pandas or the package "
                  "(run scripts/test once)", file=sys.stderr)
        result["server_rss_kib"] = vm_hwm(server.pid)
        print(f"server peak RSS {result['server_rss_kib'] / 1024:.1f} MiB")
        print(json.dumps(result))
    finally:
        if server:
            server.terminate()
            server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
