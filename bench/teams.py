#!/usr/bin/env python3
"""Teams (issue 27): what authorisation through an organisation and share links cost, each beside
its anchor measured in the same run (release build, loopback, embedded default):

- get-metadata (GET /api/v1/objects/{name}) and list (GET /api/v1/objects, one page of every
  object) as a READER of an organisation (`?namespace=ORG`) against the same calls by the same key
  on its own namespace, the same number of objects in each. Several client processes, each with
  one keep-alive connection, send requests back to back for a fixed time; the two ways alternate
  (interleaved rounds). Reported: requests/s both ways, the server's CPU per request, the ratios
  (target: the organisation within 5% of one's own namespace).
- A share link's download of a 1 GiB object (curl of the link to a file, no key) against
  `fedml storage download` of the same object, in rotation with a third way that tells where a gap
  comes from: curl of the object's signed download URL (the same one stream, assembled by the
  server, asked for with a key). Every run starts from the same state (dirty pages flushed, page
  cache dropped where permitted, the store's files read once). Reported: MiB/s each way and the
  ratio (target >= 0.95x). `fedml storage download` fsyncs before it moves the file into place;
  curl does not, so the link is also given with an fsync of its file; and to /dev/null, what the
  server gives one stream when the client writes no file (curl's single-threaded write to the page
  cache, about a second of system CPU per GiB here, bounds the curl-to-file figure).

    python3 bench/teams.py [--objects 1000] [--clients 4] [--seconds 4] [--rounds 5]
                           [--size-mib 1024] [--runs 5] [--only auth,share]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transfer import FEDML, ROOT, settle  # noqa: E402
from s3 import free_port, wait_port  # noqa: E402

ORG = "bench-team"


def cpu_seconds(pid):
    """User + system CPU time the process has used (as bench/platform.py counts it)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(work):
    port = free_port()
    data_dir = os.path.join(work, "data")
    proc = subprocess.Popen([FEDML, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                             "--reclaim-grace", "0"], env=dict(os.environ, FEDML_LOG="warn"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "fedml server")
    return proc, port, data_dir


def fedml(args, env, parse=False):
    out = subprocess.run([FEDML] + args + (["-o", "json"] if parse else []), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"fedml {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout) if parse else out.stdout


def user(work, data_dir, url, name):
    """A user made with `fedml admin` and the environment of its CLI commands."""
    fedml(["admin", "--data-dir", data_dir, "user", "create", name], os.environ)
    made = fedml(["admin", "--data-dir", data_dir, "key", "create", "--user", name], os.environ, parse=True)
    key = made["data"]["api_key"]
    config = os.path.join(work, f"cfg-{name}")
    return key, dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=url, FEDML_CONFIG_DIR=config)


def upload_many(work, env, count, namespace=None):
    """`count` small objects (object-00000, …), uploaded by the CLI, several at once."""
    src = os.path.join(work, f"small-{namespace or 'own'}")
    os.makedirs(src, exist_ok=True)

    def one(i):
        path = os.path.join(src, f"object-{i:05d}")
        with open(path, "wb") as f:
            f.write(os.urandom(200))
        args = ["storage", "upload", path, "--no-progress"] + (["--namespace", namespace] if namespace else [])
        fedml(args, env)
        os.remove(path)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def load_worker(job):
    """One client: one keep-alive connection, requests back to back until `until`; answers
    (requests, non-200 answers)."""
    port, key, paths, start_at, until = job
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    requests = [(f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n").encode()
                for p in paths]
    buf = b""
    done = errors = i = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < until:
        sock.sendall(requests[i % len(requests)])
        i += 1
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 200"):
            errors += 1
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length is None:
            raise RuntimeError(f"no Content-Length: {head!r}")
        while len(buf) < length:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("the server closed the connection mid-body")
            buf += chunk
        buf = buf[length:]
        done += 1
    sock.close()
    return done, errors


def load(pool, server_pid, port, key, paths, clients, seconds):
    """Requests/s over `seconds` from `clients` processes, and the server's CPU per request."""
    start_at = time.time() + 0.3
    until = start_at + seconds
    cpu_before = cpu_seconds(server_pid)
    answers = pool.map(load_worker, [(port, key, paths, start_at, until)] * clients)
    cpu = cpu_seconds(server_pid) - cpu_before
    done = sum(a[0] for a in answers)
    errors = sum(a[1] for a in answers)
    if errors:
        sys.exit(f"{errors} of {done} requests were not answered 200 ({paths[0]})")
    return {"req_s": done / seconds, "cpu_us": cpu * 1e6 / max(done, 1), "requests": done}


def auth_bench(args, work):
    proc, port, data_dir = start_server(work)
    url = f"http://127.0.0.1:{port}"
    try:
        _, owner_env = user(work, data_dir, url, "owner")
        reader_key, reader_env = user(work, data_dir, url, "reader")
        fedml(["org", "create", ORG], owner_env)
        fedml(["org", "add", ORG, "reader", "--role", "reader"], owner_env)
        started = time.perf_counter()
        upload_many(work, owner_env, args.objects, namespace=ORG)
        upload_many(work, reader_env, args.objects)
        print(f"stored {args.objects} objects in {ORG} (by its admin) and {args.objects} in reader's own namespace "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        names = [f"object-{i:05d}" for i in range(args.objects)]
        calls = {
            ("metadata", "own"): [f"/api/v1/objects/{n}" for n in names],
            ("metadata", "org"): [f"/api/v1/objects/{n}?namespace={ORG}" for n in names],
            ("list", "own"): ["/api/v1/objects"],
            ("list", "org"): [f"/api/v1/objects?namespace={ORG}"],
        }
        # Both ways answer the same objects: a listing of each holds every one of them.
        for (call, way), paths in calls.items():
            if call == "list":
                req = subprocess.run(["curl", "-sf", "-H", f"Authorization: Bearer {reader_key}", url + paths[0]],
                                     capture_output=True, check=True)
                count = len(json.loads(req.stdout)["data"]["objects"])
                if count != args.objects:
                    sys.exit(f"the {way} listing holds {count} objects, not {args.objects}")
        results = {key: [] for key in calls}
        with Pool(args.clients) as pool:
            # Warm-up: connections, caches, the server's pools.
            for paths in calls.values():
                load(pool, proc.pid, port, reader_key, paths, args.clients, 1)
            for r in range(args.rounds):
                for call in ("metadata", "list"):
                    ways = ("own", "org") if r % 2 == 0 else ("org", "own")
                    # One unmeasured second of this call first: the first run after the other
                    # call's (1,000-row pages, then small answers) was slower whichever way
                    # ran it, which biased each round's ratio by its order.
                    load(pool, proc.pid, port, reader_key, calls[(call, ways[0])], args.clients, 1)
                    for way in ways:
                        got = load(pool, proc.pid, port, reader_key, calls[(call, way)], args.clients, args.seconds)
                        results[(call, way)].append(got)
                        print(f"  round {r + 1} {call:8} {way}: {got['req_s']:8.0f} req/s, "
                              f"server CPU {got['cpu_us']:7.1f} us/request", file=sys.stderr)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def share_bench(args, work):
    proc, port, data_dir = start_server(work)
    url = f"http://127.0.0.1:{port}"
    try:
        _, env = user(work, data_dir, url, "owner")
        source = os.path.join(work, "big.bin")
        with open(source, "wb") as f:
            for _ in range(args.size_mib // 16):
                f.write(os.urandom(16 << 20))
        size = os.path.getsize(source)
        fedml(["storage", "upload", source, "-n", "big", "--no-progress"], env)
        digest = subprocess.run(["sha256sum", source], capture_output=True, text=True, check=True).stdout.split()[0]
        os.remove(source)
        link = fedml(["storage", "share", "big", "--expires", "1d"], env).strip()
        dest = os.path.join(work, "dl")
        blobs = os.path.join(data_dir, "blobs")
        mib = size / (1 << 20)
        times = {"link": [], "link_sync": [], "signed": [], "download": [], "link_null": []}
        ways = ["link", "download", "signed", "link_null"]
        for r in range(args.runs):
            for way in ways[r % len(ways):] + ways[:r % len(ways)]:
                shutil.rmtree(dest, ignore_errors=True)
                os.makedirs(dest)
                out = os.path.join(dest, "big")
                # The object's signed URL (the same one-stream read, assembled by the server, that
                # the link answers), made before the clock starts.
                url = link
                if way == "signed":
                    url = fedml(["storage", "get-metadata", "big"], env, parse=True)["data"]["downloadUrl"]
                settle(blobs)
                started = time.perf_counter()
                if way == "download":
                    fedml(["storage", "download", "big", "-d", dest, "--no-progress"], env)
                    times[way].append(time.perf_counter() - started)
                elif way == "link_null":
                    # What the server gives one stream when the client writes nothing.
                    subprocess.run(["curl", "-sSf", "-o", "/dev/null", url], check=True)
                    times[way].append(time.perf_counter() - started)
                    print(f"  run {r + 1} {way:8}: {mib / times[way][-1]:7.0f} MiB/s", file=sys.stderr)
                    continue
                else:
                    subprocess.run(["curl", "-sSf", "-o", out, url], check=True)
                    times[way].append(time.perf_counter() - started)
                    if way == "link":
                        fd = os.open(out, os.O_RDONLY)
                        os.fsync(fd)
                        os.close(fd)
                        times["link_sync"].append(time.perf_counter() - started)
                if os.path.getsize(out) != size:
                    sys.exit(f"{way}: {os.path.getsize(out)} bytes, not {size}")
                if r == 0:
                    got = subprocess.run(["sha256sum", out], capture_output=True, text=True, check=True).stdout.split()
                    if got[0] != digest:
                        sys.exit(f"{way}: the bytes differ from what was uploaded")
                print(f"  run {r + 1} {way:8}: {mib / times[way][-1]:7.0f} MiB/s", file=sys.stderr)
        shutil.rmtree(dest, ignore_errors=True)
        return {"mib": mib, "times": times}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1000, help="objects in each namespace")
    ap.add_argument("--clients", type=int, default=4, help="client processes, one keep-alive connection each")
    ap.add_argument("--seconds", type=float, default=4, help="seconds per measured run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each call both ways")
    ap.add_argument("--size-mib", type=int, default=1024, help="size of the shared object (a multiple of 16)")
    ap.add_argument("--runs", type=int, default=5, help="alternating runs of each download")
    ap.add_argument("--only", default="auth,share", help="comma-separated parts: auth, share")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    if "share" in only:
        free = shutil.disk_usage(tempfile.gettempdir()).free
        if free < 4 * args.size_mib << 20:
            sys.exit(f"{free >> 20} MiB free in {tempfile.gettempdir()}: the share benchmark needs "
                     f"{4 * args.size_mib} MiB (the object stored, one download at a time)")
    results = {}
    work = tempfile.mkdtemp(prefix="fedml-teamsbench-")
    try:
        if "auth" in only:
            results["auth"] = auth_bench(args, os.path.join(work, "auth"))
        if "share" in only:
            results["share"] = share_bench(args, os.path.join(work, "share"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nteams figures (loopback, release build, embedded default, {os.cpu_count()} cores)")
    summary = {}
    if "auth" in results:
        r = results["auth"]
        print(f"as a reader, {args.objects} objects in each namespace, {args.clients} client processes with one "
              f"keep-alive connection each, {args.rounds} interleaved rounds of {args.seconds:g} s each way "
              f"(medians):")
        for call, what in (("metadata", "get-metadata GET /api/v1/objects/{name}"),
                           ("list", f"list GET /api/v1/objects ({args.objects} rows a page)")):
            pairs = list(zip(r[(call, "org")], r[(call, "own")]))
            own = statistics.median(x["req_s"] for _, x in pairs)
            org = statistics.median(x["req_s"] for x, _ in pairs)
            own_cpu = statistics.median(x["cpu_us"] for _, x in pairs)
            org_cpu = statistics.median(x["cpu_us"] for x, _ in pairs)
            # Each round's two runs are next to each other: their ratio is the least disturbed by
            # whatever else the machine does between rounds.
            ratios = [a["req_s"] / b["req_s"] for a, b in pairs]
            cpu_ratios = [a["cpu_us"] / b["cpu_us"] for a, b in pairs]
            print(f"  {what}: organisation {org:.0f} req/s vs own namespace {own:.0f} req/s (anchor); "
                  f"rounds' ratios {', '.join(f'{x:.3f}' for x in ratios)}: median {statistics.median(ratios):.3f}x   "
                  f"[target >= 0.95x]")
            print(f"    server CPU {org_cpu:.1f} vs {own_cpu:.1f} us/request; rounds' ratios "
                  f"{', '.join(f'{x:.3f}' for x in cpu_ratios)}: median {statistics.median(cpu_ratios):.3f}x")
            summary[call] = {"org_req_s": org, "own_req_s": own, "ratio": statistics.median(ratios),
                             "org_cpu_us": org_cpu, "own_cpu_us": own_cpu,
                             "cpu_ratio": statistics.median(cpu_ratios)}
    if "share" in results:
        s = results["share"]
        t = s["times"]
        speed = {k: s["mib"] / statistics.median(v) for k, v in t.items()}
        print(f"a {s['mib']:.0f} MiB object (packed), {args.runs} rotating runs each (medians; every run in MiB/s):")
        for key, what in (("download", "fedml storage download (anchor)"), ("link", "curl of the share link"),
                          ("link_sync", "curl of the share link, then fsync"),
                          ("link_null", "curl of the share link to /dev/null (the server's one stream, no file written)"),
                          ("signed", "curl of the object's signed downloadUrl (the same one stream, with a key)")):
            runs = ", ".join(f"{s['mib'] / x:.0f}" for x in t[key])
            print(f"  {what}: {speed[key]:.0f} MiB/s  [{runs}]")
        print(f"  share link / fedml storage download: {speed['link'] / speed['download']:.3f}x "
              f"(with fsync: {speed['link_sync'] / speed['download']:.3f}x)   [target >= 0.95x]; "
              f"share link / signed URL: {speed['link'] / speed['signed']:.3f}x; "
              f"to /dev/null: {speed['link_null'] / speed['download']:.3f}x")
        summary["share"] = {"download_mib_s": speed["download"], "link_mib_s": speed["link"],
                            "link_sync_mib_s": speed["link_sync"], "ratio": speed["link"] / speed["download"],
                            "ratio_sync": speed["link_sync"] / speed["download"], "signed_mib_s": speed["signed"],
                            "link_null_mib_s": speed["link_null"]}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
