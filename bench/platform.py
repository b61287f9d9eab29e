#!/usr/bin/env python3
"""Server-side figures on loopback, release build, embedded default:

- get-metadata throughput and p99 latency under wrk (64 connections, 2 threads, 10 s);
- listing 100,000 objects page by page (the objects are catalogue rows written straight into
  SQLite before the server starts: listing reads rows and signs a URL for each, never blobs);
- client peak RSS while uploading a 10 GiB file: packed (the default; random bytes, so that every
  chunk is new and travels) and as one blob (`--no-dedup`);
- server peak RSS while 32 clients upload 64 MiB of random bytes each at once (packed).

    python3 bench/platform.py [--objects 100000] [--skip-big] [--only metadata,list,client-rss,server-rss]
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transfer import FEDML, ROOT, timed, vm_hwm  # noqa: E402
from s3 import free_port, wait_port  # noqa: E402


def start_server(work, name):
    port = free_port()
    data_dir = os.path.join(work, name)
    proc = subprocess.Popen([FEDML, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                             "--reclaim-grace", "0"], env=dict(os.environ, FEDML_LOG="warn"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "fedml server")
    key = open(os.path.join(data_dir, "admin-api-key")).read().strip()
    return proc, f"http://127.0.0.1:{port}", key, data_dir


def cpu_seconds(pid):
    """User + system CPU time the process has used (a figure other load on the machine barely moves)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_get(url, key):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--skip-big", action="store_true", help="skip the 10 GiB and 32 x 64 MiB uploads")
    ap.add_argument("--only", default="metadata,list,client-rss,server-rss",
                    help="comma-separated parts to run: metadata, list, client-rss, server-rss")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if args.skip_big:
        only -= {"client-rss", "server-rss"}
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    if "metadata" in only and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk); --only list,client-rss,server-rss leaves it out")
    work = tempfile.mkdtemp(prefix="fedml-platformbench-")
    procs = []
    results = {}
    try:
        if "metadata" in only:
            proc, url, key, data_dir = start_server(work, "meta")
            procs.append(proc)
            env = dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=url, FEDML_CONFIG_DIR=os.path.join(work, "cfg"))
            small = os.path.join(work, "small.bin")
            with open(small, "wb") as f:
                f.write(os.urandom(1000))
            subprocess.run([FEDML, "storage", "upload", small, "-n", "m", "-d", "bench"], env=env, check=True,
                           capture_output=True)
            cpu_before = cpu_seconds(proc.pid)
            out = subprocess.run(["wrk", "-t2", "-c64", "-d10s", "--latency", "-H", f"Authorization: Bearer {key}",
                                  f"{url}/api/v1/objects/m"], capture_output=True, text=True, check=True).stdout
            cpu = cpu_seconds(proc.pid) - cpu_before
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
            p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            results["metadata"] = {"req_s": rps, "p99_ms": p99_ms, "errors": int(non2xx.group(1)) if non2xx else 0,
                                   "server_cpu_us_per_req": cpu * 1e6 / max(requests, 1)}
            proc.terminate()
            proc.wait()

        if "list" in only:
            # Listing: rows written straight into the catalogue of a stopped server, then served.
            proc, url, key, data_dir = start_server(work, "list")
            owner = api_get(f"{url}/api/v1/whoami", key)["data"]
            proc.terminate()
            proc.wait()
            db = sqlite3.connect(os.path.join(data_dir, "catalogue.db"))
            (owner_id,) = db.execute("SELECT k.user_id FROM api_keys k WHERE k.id = ?", (owner["key_id"],)).fetchone()
            now = int(time.time() * 1000)
            db.executemany(
                "INSERT INTO objects (id, owner_id, name, kind, service, size, checksum, description, tags, metadata, "
                "blob_key, created_at, updated_at) VALUES (?, ?, ?, 'file', 'R2', 1, ?, '', '[]', '{}', ?, ?, ?)",
                ((f"{i:032x}", owner_id, f"object-{i:07d}", "blake3:" + "0" * 64, f"{owner_id}/{i:032x}", now, now)
                 for i in range(args.objects)))
            db.commit()
            db.close()
            proc, url, key, data_dir = start_server(work, "list")
            procs.append(proc)
            cpu_before = cpu_seconds(proc.pid)
            started = time.perf_counter()
            count, after = 0, None
            while True:
                q = f"{url}/api/v1/objects?limit=1000" + (f"&after={after}" if after else "")
                page = api_get(q, key)["data"]
                count += len(page["objects"])
                after = page["next"]
                if not after:
                    break
            elapsed = time.perf_counter() - started
            if count != args.objects:
                sys.exit(f"listed {count} of {args.objects}")
            results["list"] = {"objects": count, "seconds": elapsed, "objects_s": count / elapsed,
                               "server_cpu_us_per_object": (cpu_seconds(proc.pid) - cpu_before) * 1e6 / count}
            proc.terminate()
            proc.wait()

        if only & {"client-rss", "server-rss"}:
            proc, url, key, data_dir = start_server(work, "big")
            procs.append(proc)
            env = dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=url, FEDML_CONFIG_DIR=os.path.join(work, "cfg"))
        if "client-rss" in only:
            big = os.path.join(work, "ten.bin")
            with open(big, "wb") as f:
                f.truncate(10 << 30)  # sparse: reads as zeros, costs no disk
            # Zeros would dedup to one chunk in a packed upload: the sparse file is the one-blob
            # path's; the packed path's is random, so that all of it is cut, named and sent.
            t, rss = timed([FEDML, "storage", "upload", big, "--no-dedup", "--no-progress"], env)
            results["client_rss_10gib"] = {"rss_mib": rss / 1024, "seconds": t}
            subprocess.run([FEDML, "storage", "delete", "ten.bin"], env=env, check=True, capture_output=True)
            os.remove(big)
            with open(big, "wb") as f:
                for _ in range(640):
                    f.write(os.urandom(16 << 20))
            t, rss = timed([FEDML, "storage", "upload", big, "--no-progress"], env)
            results["client_rss_10gib_packed"] = {"rss_mib": rss / 1024, "seconds": t}
            subprocess.run([FEDML, "storage", "delete", "ten.bin"], env=env, check=True, capture_output=True)
            os.remove(big)
        if "server-rss" in only:
            # 32 different random files, uploaded packed (the default) at once: every pack is new.
            files = []
            for i in range(32):
                p = os.path.join(work, f"c{i}.bin")
                with open(p, "wb") as f:
                    for _ in range(4):
                        f.write(os.urandom(16 << 20))
                files.append(p)
            baseline = vm_hwm(proc.pid)
            started = time.perf_counter()
            clients = [subprocess.Popen([FEDML, "storage", "upload", p, "--no-progress"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in files]
            failed = sum(1 for c in clients if c.wait() != 0)
            results["server_rss_32x64mib"] = {"rss_mib": vm_hwm(proc.pid) / 1024, "before_mib": baseline / 1024,
                                               "seconds": time.perf_counter() - started, "failed": failed}

        print("\nplatform figures (loopback, release build, embedded default)")
        if "metadata" in results:
            m = results["metadata"]
            print(f"get-metadata (wrk, 64 conns, 10 s): {m['req_s']:.0f} req/s, p99 {m['p99_ms']:.2f} ms, "
                  f"non-2xx {m['errors']}, server CPU {m['server_cpu_us_per_req']:.0f} us/request   "
                  f"[target >= 20k req/s, p99 < 10 ms]")
        if "list" in results:
            lst = results["list"]
            print(f"list {lst['objects']} objects (pages of 1000): {lst['objects_s']:.0f} objects/s "
                  f"({lst['seconds']:.2f} s, server CPU {lst['server_cpu_us_per_object']:.1f} us/object)   "
                  f"[target >= 50k objects/s]")
        if "client_rss_10gib" in results:
            c = results["client_rss_10gib"]
            print(f"client peak RSS, 10 GiB upload as one blob: {c['rss_mib']:.1f} MiB ({c['seconds']:.1f} s)   "
                  f"[target <= 64 MiB]")
        if "client_rss_10gib_packed" in results:
            c = results["client_rss_10gib_packed"]
            print(f"client peak RSS, 10 GiB upload packed: {c['rss_mib']:.1f} MiB ({c['seconds']:.1f} s)   "
                  f"[target <= 64 MiB]")
        if "server_rss_32x64mib" in results:
            s = results["server_rss_32x64mib"]
            print(f"server peak RSS, 32 concurrent 64 MiB packed uploads: {s['rss_mib']:.1f} MiB "
                  f"({s['seconds']:.1f} s, {s['failed']} failed)   [target <= 128 MiB]")
        print(json.dumps(results))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
