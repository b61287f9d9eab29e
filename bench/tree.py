#!/usr/bin/env python3
"""A directory of many small files (default 20,000 × 10 KiB): upload and download through a
local server, against `tar cf` (packing) and `tar xf` (unpacking) of the same tree on the same
disk, measured in the same run with the page cache in the same state (see transfer.py); the
first upload also against the same tree stored as one archive blob (`--no-dedup`), and a new
version with 1% of the files rewritten (the bytes it sends, and its time).

    python3 bench/tree.py [--files 20000] [--size-kib 10] [--runs 3] [--sdk-runs 1]

The FedML SDK 0.9.6 (bench/fedml_sdk.py) moves the same tree through the same server as a second
anchor; --sdk-runs 0 leaves it out.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transfer import FEDML, ROOT, settle, timed, vm_hwm  # noqa: E402
from s3 import free_port, wait_port  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--size-kib", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sdk-runs", type=int, default=1, help="runs of the FedML SDK anchor (0: none)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fedml-treebench-", dir=args.workdir)
    server = None
    try:
        tree = os.path.join(work, "tree")
        per_dir = 200
        for i in range(args.files):
            d = os.path.join(tree, f"shard-{i // per_dir:04d}")
            if i % per_dir == 0:
                os.makedirs(d)
            with open(os.path.join(d, f"sample-{i:06d}.bin"), "wb") as f:
                f.write(os.urandom(args.size_kib * 1024))

        port = free_port()
        data_dir = os.path.join(work, "server")
        server = subprocess.Popen([FEDML, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                                   "--reclaim-grace", "0"], env=dict(os.environ, FEDML_LOG="warn"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, server, "fedml server")
        key = open(os.path.join(data_dir, "admin-api-key")).read().strip()
        env = dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=f"http://127.0.0.1:{port}",
                   FEDML_CONFIG_DIR=os.path.join(work, "cfg"))

        tar_c, tar_x, up, blob_up, down = [], [], [], [], []
        for i in range(args.runs):
            archive = os.path.join(work, f"tree-{i}.tar")
            settle(tree)
            t, _ = timed(["tar", "cf", archive, "-C", work, "tree"])
            tar_c.append(t)
            out = os.path.join(work, f"untar-{i}")
            os.makedirs(out)
            settle(archive)
            t, _ = timed(["tar", "xf", archive, "-C", out])
            tar_x.append(t)
            shutil.rmtree(out)
            os.remove(archive)

            # A first upload each time: the object and its packs are gone before it.
            subprocess.run([FEDML, "storage", "delete", "tree"], env=env, capture_output=True)
            settle(tree)
            t, _ = timed([FEDML, "storage", "upload", tree, "--overwrite", "--no-progress"], env)
            up.append(t)
            # The same tree as one archive blob (what every upload was before the content store).
            settle(tree)
            t, _ = timed([FEDML, "storage", "upload", tree, "-n", "tree-blob", "--overwrite", "--no-dedup",
                          "--no-progress"], env)
            blob_up.append(t)
            dest = os.path.join(work, f"down-{i}")
            settle(os.path.join(data_dir, "blobs", "objects"))
            t, _ = timed([FEDML, "storage", "download", "tree", "-d", dest, "--no-progress"], env)
            down.append(t)
            got = sum(len(files) for _, _, files in os.walk(os.path.join(dest, "tree")))
            if got != args.files:
                sys.exit(f"downloaded {got} files, expected {args.files}")
            shutil.rmtree(dest)
        # A new version with 1% of the files rewritten: what it sends, and how long it takes.
        changed = 0
        for root, _, files in sorted(os.walk(tree)):
            for name in sorted(files):
                if changed * 100 < args.files and hash(name) % 100 == 0:
                    with open(os.path.join(root, name), "wb") as f:
                        f.write(os.urandom(args.size_kib * 1024))
                    changed += 1
        settle(tree)
        answer_path = os.path.join(work, "answer.json")
        t_re, _ = timed(["sh", "-c", f"'{FEDML}' storage upload '{tree}' --overwrite --no-progress --output json "
                         f"> '{answer_path}'"], env)
        with open(answer_path) as f:
            moved = json.load(f)["data"]["transfer"]
        sdk_up, sdk_down = [], []
        if args.sdk_runs > 0:
            from fedml_sdk import Sdk

            def check(dest):
                got = sum(len(files) for _, _, files in os.walk(dest))
                if got != args.files:
                    sys.exit(f"the FedML SDK downloaded {got} files, expected {args.files}")
            sdk_up, sdk_down = Sdk(port, key, work).runs(args.sdk_runs, tree, "sdk-tree", work, settle,
                                                         os.path.join(data_dir, "blobs", "objects"), check)
        server_rss = vm_hwm(server.pid)
        med = statistics.median
        print(f"\n{args.files} files x {args.size_kib} KiB, loopback, median of {args.runs} runs (seconds)")
        print(f"{'work':<28}{'ours':>8}{'anchor':>8}{'ratio':>8}")
        print(f"{'upload vs tar cf':<28}{med(up):>8.2f}{med(tar_c):>8.2f}{med(up) / med(tar_c):>7.2f}x"
              "   [target <= 1.5x]")
        print(f"{'upload vs one-blob upload':<28}{med(up):>8.2f}{med(blob_up):>8.2f}{med(up) / med(blob_up):>7.2f}x")
        share = moved["sent_bytes"] / moved["read_bytes"]
        print(f"{'re-upload, 1% changed':<28}{t_re:>8.2f}{med(up):>8.2f}{t_re / med(up):>7.2f}x"
              f"   sent {moved['sent_bytes'] / 2**20:.2f} of {moved['read_bytes'] / 2**20:.2f} MiB"
              f" = {share * 100:.2f}% ({changed} files changed)   [target <= 3%]")
        print(f"{'download vs tar xf':<28}{med(down):>8.2f}{med(tar_x):>8.2f}{med(down) / med(tar_x):>7.2f}x")
        total_ours, total_tar = med(up) + med(down), med(tar_c) + med(tar_x)
        print(f"{'upload+download vs tar':<28}{total_ours:>8.2f}{total_tar:>8.2f}{total_ours / total_tar:>7.2f}x")
        if sdk_up:
            print(f"{'FedML SDK 0.9.6 upload':<28}{med(up):>8.2f}{med(sdk_up):>8.2f}{med(sdk_up) / med(up):>7.1f}x faster"
                  "   [target >= 10x]")
            print(f"{'FedML SDK 0.9.6 download':<28}{med(down):>8.2f}{med(sdk_down):>8.2f}"
                  f"{med(sdk_down) / med(down):>7.1f}x faster")
        print(f"server peak RSS {server_rss / 1024:.1f} MiB")
        print(json.dumps({"files": args.files, "upload_s": med(up), "blob_upload_s": med(blob_up),
                          "reupload_s": t_re, "reupload_sent_share": share, "download_s": med(down),
                          "tar_c_s": med(tar_c), "tar_x_s": med(tar_x),
                          "sdk_upload_s": med(sdk_up) if sdk_up else None,
                          "sdk_download_s": med(sdk_down) if sdk_down else None}))
    finally:
        if server:
            server.terminate()
            server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
