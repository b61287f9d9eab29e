#!/usr/bin/env python3
"""What checking packs costs, measured against the release before the server checked them
(FEDML_BIN_BEFORE: `bench/release-before f8a85b5`), in the same run, runs alternating:

- the local store: a first packed upload of a random file (the server checks each pack as it
  receives it): time, and the server's CPU seconds per GiB received;
- S3 (s3s-fs): a first packed upload (the completion reads back and checks every pack it sent):
  time and server CPU per GiB; the native download (straight from the bucket, unchanged: the
  client verifies the whole file); the one-URL download (`download_url`, assembled by the
  server, every chunk checked before it leaves): time and server CPU per GiB.

Each binary serves its own data directory (and its own bucket); each run uploads new random bytes.

    FEDML_BIN_BEFORE="$(bench/release-before f8a85b5)" python3 bench/verify.py [--size-mib 1024] [--runs 3]
"""
import argparse
import json
import os
import secrets
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
from cargo_target import fedml_binary  # noqa: E402
from s3 import free_port, start_s3s  # noqa: E402
from transfer import settle, start_server, timed  # noqa: E402

FEDML = str(fedml_binary("release"))
BEFORE = os.environ.get("FEDML_BIN_BEFORE")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds the process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start(binary, work, name, service=None, env=None):
    """`binary`'s server on a fresh data directory; answers (process, URL, CLI environment)."""
    proc, _, url, _, cli = start_server(work, free_port(), binary=binary, name=name, service=service, env=env)
    return proc, url, cli


def fresh(path, size):
    with open(path, "wb") as f:
        for _ in range(size // (16 << 20)):
            f.write(os.urandom(16 << 20))
        f.write(os.urandom(size % (16 << 20)))


def timed_upload(binary, env, path, name, server):
    """A first upload: (seconds, the server's CPU seconds)."""
    settle(path)
    cpu = cpu_seconds(server.pid)
    t, _ = timed([binary, "storage", "upload", path, "-n", name, "--no-progress"], env)
    return t, cpu_seconds(server.pid) - cpu


def timed_download(binary, env, name, dest, server):
    """The native download, straight from the store: (seconds, the server's CPU seconds)."""
    settle()
    cpu = cpu_seconds(server.pid)
    t, _ = timed([binary, "storage", "download", name, "-d", dest, "--no-progress"], env)
    spent = cpu_seconds(server.pid) - cpu
    shutil.rmtree(dest)
    return t, spent


def assembled_download(binary, env, name, size, server):
    """GET of the object's download_url, read to the end: (seconds, server CPU seconds)."""
    out = subprocess.run([binary, "storage", "get-metadata", name, "--output", "json"], env=env,
                         capture_output=True, text=True, check=True)
    url = json.loads(out.stdout)["data"]["downloadUrl"]
    settle()
    cpu = cpu_seconds(server.pid)
    start_at = time.perf_counter()
    got = 0
    with urllib.request.urlopen(url) as answer:
        while True:
            piece = answer.read(1 << 20)
            if not piece:
                break
            got += len(piece)
    elapsed = time.perf_counter() - start_at
    if got != size:
        sys.exit(f"the one-URL download read {got} of {size} bytes")
    return elapsed, cpu_seconds(server.pid) - cpu


def stop(procs):
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--no-s3", action="store_true", help="the local store only")
    args = ap.parse_args()
    if not BEFORE or not os.path.exists(BEFORE):
        sys.exit('FEDML_BIN_BEFORE must name the release before (FEDML_BIN_BEFORE="$(bench/release-before f8a85b5)")')
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    s3 = not args.no_s3 and shutil.which("s3s-fs")
    work = tempfile.mkdtemp(prefix="fedml-verifybench-", dir=args.workdir)
    procs = []
    size = args.size_mib << 20
    gib = size / (1 << 30)
    try:
        servers = {}
        for label, binary in (("ours", FEDML), ("before", BEFORE)):
            proc, url, cli = start(binary, work, f"local-{label}")
            procs.append(proc)
            servers[("local", label)] = (binary, proc, cli)
        if s3:
            access, secret = "GK" + secrets.token_hex(12), secrets.token_hex(32)
            s3proc, endpoint, region = start_s3s(work, access, secret, "ours")
            procs.append(s3proc)
            os.makedirs(os.path.join(work, "s3s", "before"))
            s3env = dict(os.environ, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION=region)
            for label, binary in (("ours", FEDML), ("before", BEFORE)):
                service = f"R2=s3://{label}?endpoint={endpoint}&region={region}"
                proc, url, cli = start(binary, work, f"s3-{label}", service, s3env)
                procs.append(proc)
                servers[("s3", label)] = (binary, proc, cli)

        results = {}
        src = os.path.join(work, "data.bin")
        for run in range(args.runs):
            order = ("ours", "before") if run % 2 == 0 else ("before", "ours")
            for store in ("local", "s3") if s3 else ("local",):
                for label in order:
                    binary, proc, cli = servers[(store, label)]
                    fresh(src, size)
                    name = f"d{run}"
                    t, cpu = timed_upload(binary, cli, src, name, proc)
                    results.setdefault((store, label, "upload"), []).append((t, cpu))
                    if store == "s3":
                        t, cpu = timed_download(binary, cli, name, os.path.join(work, "down"), proc)
                        results.setdefault((store, label, "download"), []).append((t, cpu))
                    t, cpu = assembled_download(binary, cli, name, size, proc)
                    results.setdefault((store, label, "one-URL download"), []).append((t, cpu))

        med = statistics.median
        print(f"\n{args.size_mib} MiB, median of {args.runs} alternating runs; server CPU per GiB")
        print(f"{'store':<7}{'work':<19}{'ours s':>9}{'before s':>10}{'ratio':>8}{'ours CPU/GiB':>14}{'before':>9}")
        for (store, label, work_name) in sorted({(k[0], "ours", k[2]) for k in results}):
            ours = results[(store, "ours", work_name)]
            before = results[(store, "before", work_name)]
            t_ours, t_before = med(x[0] for x in ours), med(x[0] for x in before)
            c_ours, c_before = med(x[1] for x in ours) / gib, med(x[1] for x in before) / gib
            print(f"{store:<7}{work_name:<19}{t_ours:>9.3f}{t_before:>10.3f}{t_ours / t_before:>7.2f}x"
                  f"{c_ours:>13.2f}s{c_before:>8.2f}s")
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
