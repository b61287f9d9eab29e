#!/usr/bin/env python3
"""What versions cost: 10 versions of a random file (1 GiB by default), 1% of it changed before
each overwrite, kept by the server's default retention (10). Two kinds of change: 1% as 160
scattered 64 KiB edits (each touches a chunk or two of the 64 KiB-average chunks around it), and
1% as 10 edits of about 1 MiB (a layer of a model, a block of rows).

Measured in the same run, on the same machine (release build, local store, loopback):
- stored: the bytes the server's blob folder holds after the 10 versions (and what
  `fedml storage usage` says), against the anchor: the same 10 versions stored whole, as a
  bucket with object versioning keeps them (`--no-dedup`, a second server);
- the time of each overwrite, against the first upload;
- version 1 downloaded after the 10th, checked byte for byte against what was stored then.

    python3 bench/versions.py [--size-mib 1024] [--versions 10]
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from cargo_target import fedml_binary  # noqa: E402
from transfer import start_server  # noqa: E402

FEDML = str(fedml_binary("release"))
GIB = 1 << 30


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {out.stderr or out.stdout}")
    return out.stdout


def upload(env, path, name, *flags):
    start = time.perf_counter()
    run([FEDML, "storage", "upload", path, "-n", name, "--overwrite", "--no-progress", "-o", "json", *flags], env)
    return time.perf_counter() - start


def edit(path, share, seed, block):
    """Overwrites `share` of the file in place with random blocks of `block` bytes, spread evenly."""
    size = os.path.getsize(path)
    edits = max(1, int(size * share) // block)
    step = size // edits
    with open(path, "r+b") as f:
        for i in range(edits):
            f.seek(i * step + (seed * 7919 + i * 104729) % max(1, step - block))
            f.write(os.urandom(block))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(16 << 20), b""):
            h.update(block)
    return h.hexdigest()


def measure(work, port, size, versions, flags, block=64 << 10):
    """Uploads `versions` versions; answers (upload seconds, blob bytes, usage, first digest,
    the server's data directory, env) with the server still running."""
    server, data_dir, url, key, env = start_server(work, port)
    src = os.path.join(work, "model.bin")
    with open(src, "wb") as f:
        for _ in range(size // (16 << 20)):
            f.write(os.urandom(16 << 20))
        f.write(os.urandom(size % (16 << 20)))
    first = sha256(src)
    times = []
    for v in range(versions):
        if v:
            edit(src, 0.01, v, block)
        times.append(upload(env, src, "model.bin", *flags))
    os.remove(src)
    usage = json.loads(run([FEDML, "storage", "usage", "-o", "json"], env))["data"]
    return server, times, du(os.path.join(data_dir, "blobs")), usage, first, env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--versions", type=int, default=10)
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    size = args.size_mib << 20
    base = tempfile.mkdtemp(prefix="fedml-bench-versions-")
    servers = []
    try:
        port = 19000 + os.getpid() % 500
        work = os.path.join(base, "chunks")
        os.makedirs(work)
        server, times, stored, usage, first, env = measure(work, port, size, args.versions, [])
        servers.append(server)
        listed = json.loads(run([FEDML, "storage", "versions", "model.bin", "-o", "json"], env))["data"]
        dest = os.path.join(base, "v1")
        start = time.perf_counter()
        run([FEDML, "storage", "download", "model.bin", "--version", "1", "-d", dest, "--no-progress"], env)
        fetch = time.perf_counter() - start
        intact = sha256(os.path.join(dest, "model.bin")) == first
        shutil.rmtree(dest)

        server.terminate()
        server.wait()
        servers.remove(server)
        shutil.rmtree(work)
        clustered_work = os.path.join(base, "clustered")
        os.makedirs(clustered_work)
        clustered, c_times, c_stored, _, _, _ = measure(clustered_work, port + 2, size, args.versions, [],
                                                        block=(size // 100) // 10)
        servers.append(clustered)
        clustered.terminate()
        clustered.wait()
        servers.remove(clustered)
        shutil.rmtree(clustered_work)

        anchor_work = os.path.join(base, "blobs")
        os.makedirs(anchor_work)
        anchor, anchor_times, anchor_stored, _, _, _ = measure(anchor_work, port + 1, size, args.versions,
                                                               ["--no-dedup"])
        servers.append(anchor)

        n = args.versions
        print(f"{n} versions of a {args.size_mib} MiB random file, 1% changed before each overwrite "
              f"(keep-versions 10):")
        print(f"  versions kept: {[v['version'] for v in listed]}")
        print(f"  1% as 160 scattered 64 KiB edits: stored (blob folder) {stored / GIB:.3f} GiB = "
              f"{stored / size:.3f}x one version; fedml storage usage: {usage['stored_bytes'] / GIB:.3f} GiB  "
              f"[target <= 1.15 GiB for 1 GiB]")
        print(f"  1% as 10 edits of {(size // 100) // 10 / (1 << 20):.2f} MiB: stored {c_stored / GIB:.3f} GiB = "
              f"{c_stored / size:.3f}x; overwrites median {sorted(c_times[1:])[len(c_times[1:]) // 2]:.2f} s")
        print(f"  anchor, the same versions whole (--no-dedup, as a versioned bucket keeps them): "
              f"{anchor_stored / GIB:.3f} GiB = {anchor_stored / size:.2f}x")
        added = [v.get("added_bytes") or 0 for v in listed]
        print(f"  bytes each overwrite added: median {sorted(added[:-1])[len(added[:-1]) // 2] / (1 << 20):.1f} MiB")
        print(f"  upload: first {times[0]:.2f} s, overwrites median {sorted(times[1:])[len(times[1:]) // 2]:.2f} s; "
              f"anchor first {anchor_times[0]:.2f} s, overwrites median "
              f"{sorted(anchor_times[1:])[len(anchor_times[1:]) // 2]:.2f} s")
        print(f"  version 1 downloaded after version {n}: {fetch:.2f} s, "
              f"{'byte for byte as stored' if intact else 'DIFFERENT BYTES'}")
        if not intact:
            sys.exit(1)
    finally:
        for s in servers:
            s.terminate()
            s.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
