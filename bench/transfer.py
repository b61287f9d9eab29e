#!/usr/bin/env python3
"""Upload then download of one large file over loopback, against `cp` of the same file on the
same disk, measured in the same run. Prints throughput, the ratio to cp, and peak RSS of the
client (each command) and of the server.

    python3 bench/transfer.py [--size-mib 1024] [--runs 3] [--sdk-runs 1] [--workdir DIR]

The FedML SDK 0.9.6 (bench/fedml_sdk.py) moves the same file through the same server as a
second anchor; --sdk-runs 0 leaves it out.

Before every measured command the same state is made: dirty pages flushed (`sync`), the page
cache dropped where allowed (root), and the inputs read once, so every command reads from the
page cache and writes into free memory. Our upload and download both fsync before they commit;
cp does not, so the anchor is also given as cp followed by a `sync` of the copy.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from cargo_target import fedml_binary  # noqa: E402

# The release build, wherever cargo keeps it (CARGO_TARGET_DIR honoured), or FEDML_BIN.
FEDML = str(fedml_binary("release"))


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return elapsed, rss


def programs():
    """The programs the benchmarks run and serve with: ours (and the release it is measured
    against), and the anchors' that are installed."""
    found = [FEDML, os.environ.get("FEDML_BIN_BEFORE")]
    found += [shutil.which(tool) for tool in ("tar", "cp", "s5cmd", "s3s-fs", "garage")]
    return [p for p in found if p and os.path.exists(p)]


def settle(*paths):
    """Flushes dirty pages, drops the page cache (when permitted), then warms `paths` and the
    programs measured: a run measures its work, not the disk loading code that a running
    server (or a program run twice) holds in memory."""
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass
    for root in list(paths) + programs():
        walk = os.walk(root) if os.path.isdir(root) else [(os.path.dirname(root), None, [os.path.basename(root)])]
        for dirpath, _, files in walk:
            for name in files:
                try:
                    with open(os.path.join(dirpath, name), "rb") as f:
                        while f.read(16 << 20):
                            pass
                except FileNotFoundError:
                    pass  # a replaced blob the server's collector just removed


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def start_server(work, port, binary=None, name="server", service=None, env=None):
    """The release `fedml server` (or `binary`'s) on `port` over a fresh data directory `name`
    in `work` (no grace period), with `--service SERVICE` when given and the environment `env`
    (else this one); answers (process, data directory, URL, API key, environment for CLI
    commands)."""
    data_dir = os.path.join(work, name)
    url = f"http://127.0.0.1:{port}"
    cmd = [binary or FEDML, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}", "--reclaim-grace", "0"]
    if service:
        cmd += ["--service", service]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=dict(env or os.environ, FEDML_LOG="warn"))
    key_file = os.path.join(data_dir, "admin-api-key")
    for _ in range(200):
        if os.path.exists(key_file):
            break
        time.sleep(0.05)
    key = open(key_file).read().strip()
    env = dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=url, FEDML_CONFIG_DIR=os.path.join(work, f"cfg-{name}"))
    return server, data_dir, url, key, env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sdk-runs", type=int, default=1, help="runs of the FedML SDK anchor (0: none)")
    ap.add_argument("--workdir", default=None, help="a directory on the disk to measure (default: a temp dir)")
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)

    work = tempfile.mkdtemp(prefix="fedml-bench-", dir=args.workdir)
    server = None
    try:
        size = args.size_mib << 20
        src = os.path.join(work, "data.bin")
        with open(src, "wb") as f:
            # Random throughout: a repeated block would dedup into a fraction of the bytes.
            for _ in range(size // (16 << 20)):
                f.write(os.urandom(16 << 20))
            f.write(os.urandom(size % (16 << 20)))

        port = 18000 + os.getpid() % 1000
        server, data_dir, url, key, env = start_server(work, port)

        cp_s, cp_sync_s, up_s, down_s = [], [], [], []
        up_rss = down_rss = 0
        for i in range(args.runs):
            dst = os.path.join(work, f"copy-{i}.bin")
            blobs = os.path.join(data_dir, "blobs", "objects")
            settle(src)
            t, _ = timed(["cp", src, dst])
            cp_s.append(t)
            os.remove(dst)
            settle(src)
            t, _ = timed(["sh", "-c", f"cp '{src}' '{dst}' && sync '{dst}'"])
            cp_sync_s.append(t)
            os.remove(dst)

            # Each run a first upload: the packs of the last run are gone (grace 0), so nothing
            # of it is stored already (bench/dedup.py measures what a new version sends).
            subprocess.run([FEDML, "storage", "delete", "bench"], env=env, capture_output=True)
            settle(src)
            t, rss = timed([FEDML, "storage", "upload", src, "-n", "bench", "--overwrite", "--no-progress"], env)
            up_s.append(t)
            up_rss = max(up_rss, rss)
            out = os.path.join(work, f"down-{i}")
            settle(blobs)
            t, rss = timed([FEDML, "storage", "download", "bench", "-d", out, "--no-progress"], env)
            down_s.append(t)
            down_rss = max(down_rss, rss)
            if os.path.getsize(os.path.join(out, "bench")) != size:
                sys.exit("downloaded size differs")
            shutil.rmtree(out)
        sdk_up, sdk_down = [], []
        if args.sdk_runs > 0:
            from fedml_sdk import Sdk, tree_bytes

            def check(dest):
                if tree_bytes(dest) != size:
                    sys.exit(f"the FedML SDK downloaded {tree_bytes(dest)} bytes, expected {size}")
            sdk_up, sdk_down = Sdk(port, key, work).runs(args.sdk_runs, src, "sdk", work, settle,
                                                         os.path.join(data_dir, "blobs", "objects"), check)
        server_rss = vm_hwm(server.pid)
        server.terminate()
        server.wait(timeout=30)

        mib = size / (1 << 20)
        med = statistics.median
        rate = lambda s: mib / med(s)
        rows = [
            ("cp (anchor)", rate(cp_s), 1.0),
            ("cp + sync (anchor)", rate(cp_sync_s), rate(cp_sync_s) / rate(cp_s)),
            ("fedml upload", rate(up_s), rate(up_s) / rate(cp_s)),
            ("fedml download", rate(down_s), rate(down_s) / rate(cp_s)),
        ]
        print(f"\n{args.size_mib} MiB file, loopback, median of {args.runs} runs")
        print(f"{'work':<22}{'MiB/s':>10}{'vs cp':>10}")
        for name, r, ratio in rows:
            print(f"{name:<22}{r:>10.0f}{ratio:>9.0%}")
        print(f"upload+download together: {2 * mib / (med(up_s) + med(down_s)):.0f} MiB/s "
              f"= {(2 * mib / (med(up_s) + med(down_s))) / rate(cp_s):.0%} of cp")
        if sdk_up:
            print(f"FedML SDK 0.9.6 (anchor, median of {len(sdk_up)}): upload {mib / med(sdk_up):.0f} MiB/s, "
                  f"download {mib / med(sdk_down):.0f} MiB/s; ours is {med(sdk_up) / med(up_s):.1f}x faster up, "
                  f"{med(sdk_down) / med(down_s):.1f}x down   [target >= 10x]")
        print(f"client peak RSS: upload {up_rss / 1024:.1f} MiB, download {down_rss / 1024:.1f} MiB")
        print(f"server peak RSS: {server_rss / 1024:.1f} MiB")
        print(json.dumps({
            "size_mib": args.size_mib, "cp_mib_s": rate(cp_s), "cp_sync_mib_s": rate(cp_sync_s),
            "upload_mib_s": rate(up_s), "download_mib_s": rate(down_s),
            "client_rss_mib": max(up_rss, down_rss) / 1024, "server_rss_mib": server_rss / 1024,
            "sdk_upload_mib_s": mib / med(sdk_up) if sdk_up else None,
            "sdk_download_mib_s": mib / med(sdk_down) if sdk_down else None,
        }))
    finally:
        if server and server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
