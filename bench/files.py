#!/usr/bin/env python3
"""One folder of a dataset of 1,000,000 files (1,000 folders of 1,000), listed (release build,
local store, loopback), measured in the same run:

- the upload of the dataset (one directory object), and the first listing, which indexes its
  files on the server (reading the archive's central directory once);
- a listing of one folder from that index: the request's time as the client sees it (an upper
  bound of the server's time), median of 50, against the anchor: listing the same folder on
  the local disk (os.scandir + stat);
- what listing one folder cost without the index: reading the whole central directory (what
  `fedml.fs` still does when it opens an object), time and bytes.

    python3 bench/files.py [--files 1000000] [--per-folder 1000]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from cargo_target import fedml_binary, target_directory  # noqa: E402
from transfer import start_server  # noqa: E402

FEDML = str(fedml_binary("release"))


def get(url, key):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request) as r:
        body = json.loads(r.read())
    return time.perf_counter() - start, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--per-folder", type=int, default=1000)
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fedml-bench-files-")
    server = None
    try:
        tree = os.path.join(work, "dataset")
        folders = max(1, args.files // args.per_folder)
        start = time.perf_counter()
        for f in range(folders):
            d = os.path.join(tree, f"part-{f:05d}")
            os.makedirs(d)
            for i in range(args.per_folder):
                with open(os.path.join(d, f"{i:06d}.json"), "w") as out:
                    out.write(f'{{"f":{f},"i":{i}}}')
        made = time.perf_counter() - start
        total = folders * args.per_folder
        print(f"{total} files in {folders} folders written in {made:.1f} s")

        server, data_dir, url, key, env = start_server(work, 19700 + os.getpid() % 200)
        start = time.perf_counter()
        out = subprocess.run([FEDML, "storage", "upload", tree, "--no-progress", "-o", "json"], env=env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"upload failed: {out.stderr or out.stdout}")
        uploaded = time.perf_counter() - start
        size = json.loads(out.stdout)["data"]["object"]["size"]
        print(f"upload: {uploaded:.1f} s, archive {size / (1 << 20):.1f} MiB")

        middle = f"part-{folders // 2:05d}"
        listing = f"{url}/api/v1/objects/dataset/files?path={middle}&limit=1000"
        first, body = get(listing, key)
        assert len(body["data"]["entries"]) == min(1000, args.per_folder), body["message"]
        print(f"first listing (indexes {total + folders} entries on the server): {first:.2f} s")
        times = []
        for i in range(50):
            folder = f"part-{(i * 7919) % folders:05d}"
            t, body = get(f"{url}/api/v1/objects/dataset/files?path={folder}&limit=1000", key)
            assert len(body["data"]["entries"]) == min(1000, args.per_folder)
            times.append(t)
        local = []
        for i in range(50):
            folder = os.path.join(tree, f"part-{(i * 7919) % folders:05d}")
            t0 = time.perf_counter()
            entries = [(e.name, e.stat().st_size) for e in os.scandir(folder)]
            local.append(time.perf_counter() - t0)
            assert len(entries) == args.per_folder
        print(f"one folder of {args.per_folder} entries from the index: median {statistics.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms (request time on loopback; target <= 50 ms server time)")
        print(f"  anchor, the same folder on local disk (scandir + stat): median "
              f"{statistics.median(local) * 1000:.1f} ms")

        # Without the index: the whole central directory, as `fedml.fs` reads it when it opens.
        probe = ("import sys, time, fedml._native as n; t = time.perf_counter(); "
                 "r = n.DirectoryReader('dataset'); e = __import__('json').loads(r.entries()); "
                 "print(time.perf_counter() - t, len(e))")
        python = str(target_directory() / "pyenv" / "bin" / "python")
        if os.path.exists(python):
            out = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True)
            if out.returncode == 0:
                seconds, count = out.stdout.split()
                print(f"  without the index, the whole central directory read by the client: {float(seconds):.2f} s "
                      f"for {count} entries")
            else:
                print(f"  (the Python package is not usable here: {out.stderr.strip()[-200:]})")
        db = os.path.join(data_dir, "catalogue.db")
        print(f"  catalogue after indexing: {os.path.getsize(db) / (1 << 20):.0f} MiB "
              f"(+ WAL {os.path.getsize(db + '-wal') / (1 << 20) if os.path.exists(db + '-wal') else 0:.0f} MiB)")
    finally:
        if server:
            server.terminate()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
