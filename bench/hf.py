#!/usr/bin/env python3
"""The Hugging Face Hub API (issue 29): what the Hub's own clients get from the server, each
figure beside its anchor measured in the same run (release build, loopback, embedded default):

- snapshot_download of a 1 GiB model repository (4 x 256 MiB random, safetensors-like files)
  against `fedml storage download` of the same directory object (target >= 0.9x);
- upload_folder of that folder into a new repository against `fedml storage upload` of it
  (target >= 0.9x); every upload is a first upload (each run in a namespace of its own: dedup is
  per namespace);
- a commit that changes one 10 MiB file of the repository (create_commit of the one file, and
  upload_folder of the whole folder with that file changed): the bytes the client sent (counted
  by a recording proxy in front of the server, which is also its public URL) and the bytes the
  store added (`fedml storage usage -o json`, before and after), beside those 10 MiB and beside
  `fedml storage upload --overwrite` of the same change;
- load_dataset of a 100 MiB Parquet dataset repository (4 files) against reading the same files
  from local disk with pyarrow, and against load_dataset of the same local files (the library's
  own work, no server).

The Hub's clients run from target/hub-venv (scripts/hub-clients --install makes it), one process
per call as a user's script would; a call's time is measured inside that process, after its
imports (the process's wall time, imports and start-up included, is printed beside it). Before
every timed command the page cache is put in the same state (bench/transfer.py's settle; the
clients' code in target/hub-venv is warmed with the data). `fedml storage download` fsyncs
before it renames; huggingface_hub does not, so snapshot_download is also given with the `sync`
that makes it as durable.

    python3 bench/hf.py [--files 4] [--file-mib 256] [--change-mib 10] [--dataset-mib 100]
                        [--runs 3] [--only download,upload,commit,dataset]
    python3 bench/hf.py --file-mib 16 --dataset-mib 8 --runs 1        # a quick run
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "hub"))
from transfer import FEDML, settle, timed  # noqa: E402
from s3 import free_port, wait_port  # noqa: E402
from proxy import Proxy  # noqa: E402

VENV_PYTHON = os.path.join(ROOT, "target", "hub-venv", "bin", "python")
# What the clients run: warmed with the data before every timed command (after the page cache is
# dropped, their code would otherwise be read back from disk inside the measured call).
CLIENT_CODE = [os.path.join(ROOT, "target", "hub-venv", "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                            "site-packages", name)
               for name in ("pyarrow", "datasets", "huggingface_hub", "numpy", "pandas", "httpx2", "httpcore2", "h11",
                            "fsspec", "multiprocess", "dill", "xxhash", "yaml", "filelock")]
MiB = 1 << 20

# One call of a Hub client, timed inside its process after the imports; prints {"seconds": …}.
DRIVER = r"""
import json, os, sys, time
op, a = sys.argv[1], json.loads(sys.argv[2])
if op in ("snapshot", "upload_folder", "commit_one"):
    from huggingface_hub import HfApi, CommitOperationAdd, snapshot_download
if op in ("load_dataset", "load_local"):
    import datasets
    datasets.disable_progress_bars()
started = time.perf_counter()
out = {}
if op == "snapshot":
    out["path"] = snapshot_download(a["repo"], cache_dir=a["cache"], token=a["token"], endpoint=a["endpoint"])
elif op == "upload_folder":
    api = HfApi(endpoint=a["endpoint"], token=a["token"])
    api.create_repo(a["repo"], exist_ok=True)
    out["commit"] = api.upload_folder(folder_path=a["folder"], repo_id=a["repo"]).oid
elif op == "commit_one":
    api = HfApi(endpoint=a["endpoint"], token=a["token"])
    out["commit"] = api.create_commit(a["repo"], [CommitOperationAdd(a["path_in_repo"], a["file"])],
                                      commit_message="one file changed").oid
elif op == "load_dataset":
    ds = datasets.load_dataset(a["repo"], split="train", cache_dir=a["cache"], token=a["token"])
    out["rows"] = ds.num_rows
elif op == "load_local":
    ds = datasets.load_dataset("parquet", data_files=a["files"], split="train", cache_dir=a["cache"])
    out["rows"] = ds.num_rows
out["seconds"] = time.perf_counter() - started
print(json.dumps(out))
"""


def warm(*paths):
    """bench/transfer.py's settle, with the clients' code warmed too."""
    code = [p for p in CLIENT_CODE if os.path.exists(p)]
    exe = os.path.realpath(VENV_PYTHON)
    settle(*paths, *code, exe)


def hub_env(home, endpoint):
    env = dict(os.environ, HF_HOME=home, HF_ENDPOINT=endpoint, HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_XET="1", HF_HUB_ENABLE_HF_TRANSFER="0", HF_HUB_DISABLE_PROGRESS_BARS="1",
               HF_HUB_DISABLE_UPDATE_CHECK="1")
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(name, None)
    return env


def client(op, env, **a):
    """(seconds inside the call, wall seconds of the process, what it answered)."""
    started = time.perf_counter()
    out = subprocess.run([VENV_PYTHON, "-c", DRIVER, op, json.dumps(a)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"{op} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}")
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    return answer["seconds"], wall, answer


def fedml(args, env, parse=False):
    out = subprocess.run([FEDML] + args + (["-o", "json"] if parse else []), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"fedml {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    if parse:
        doc = json.loads(out.stdout)
        return doc.get("data", doc)
    return out.stdout


class Server:
    """The release `fedml server` on a fixed port over one data directory; restartable with
    another public URL (the commit measure puts the recording proxy there)."""

    def __init__(self, work):
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = os.path.join(work, "server")
        self.proc = None
        self.users = 0

    def start(self, public_url=None):
        cmd = [FEDML, "server", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
               "--reclaim-grace", "0", "--gc-interval", "5"]
        if public_url:
            cmd += ["--public-url", public_url]
        self.proc = subprocess.Popen(cmd, env=dict(os.environ, FEDML_LOG="warn", FEDML_S3_LISTEN="off"), stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.work, "server.log"), "a"))
        wait_port(self.port, self.proc, "fedml server")
        for _ in range(200):
            if os.path.exists(os.path.join(self.data_dir, "admin-api-key")):
                break
            time.sleep(0.05)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def user(self, prefix="u"):
        """A new user (its own namespace): (name, key, environment of its CLI commands)."""
        self.users += 1
        name = f"{prefix}{self.users}"
        fedml(["admin", "--data-dir", self.data_dir, "user", "create", name], os.environ)
        key = fedml(["admin", "--data-dir", self.data_dir, "key", "create", "--user", name], os.environ,
                    parse=True)["api_key"]
        env = dict(os.environ, FEDML_API_KEY=key, FEDML_SERVER_URL=self.url,
                   FEDML_CONFIG_DIR=os.path.join(self.work, f"cfg-{name}"))
        return name, key, env

    def stored(self, env):
        return fedml(["storage", "usage"], env, parse=True)["stored_bytes"]


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def make_repo_folder(folder, files, file_mib, change_mib):
    """`files` safetensors-like random files of `file_mib` MiB (a small JSON header, then random
    bytes) and one `change_mib` MiB file, the one the commit measure changes."""
    os.makedirs(folder, exist_ok=True)
    for i in range(files):
        path = os.path.join(folder, f"model-{i + 1:05d}-of-{files:05d}.safetensors")
        header = json.dumps({"w": {"dtype": "U8", "shape": [file_mib * MiB - 8 - 64], "data_offsets":
                                   [0, file_mib * MiB - 8 - 64]}}).encode().ljust(64)
        with open(path, "wb") as f:
            f.write(len(header).to_bytes(8, "little"))
            f.write(header)
        with open(path, "ab") as f:
            left = file_mib * MiB - 8 - 64
            while left:
                n = min(left, 16 * MiB)
                f.write(os.urandom(n))
                left -= n
    random_file(os.path.join(folder, "adapter.bin"), change_mib * MiB)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "bench", "files": files}, f)


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(root) for n in names
               if not d.split(os.sep)[-1].startswith("."))


def tree_same(a, b):
    """Same relative paths and bytes (files compared by size, then content)."""
    def files(root):
        out = {}
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(".")]
            for n in names:
                if not n.startswith("."):
                    p = os.path.join(d, n)
                    out[os.path.relpath(p, root)] = p
        return out
    fa, fb = files(a), files(b)
    if sorted(fa) != sorted(fb):
        return False
    for rel in fa:
        if subprocess.run(["cmp", "-s", fa[rel], fb[rel]]).returncode != 0:
            return False
    return True


def median(xs):
    return statistics.median(xs)


def bench_download(args, server, work, folder, size, results):
    name, key, env = server.user("dl")
    fedml(["storage", "upload", folder, "-n", "repo", "--no-progress"], env)
    rid = f"{name}/repo"
    blobs = os.path.join(server.data_dir, "blobs")
    ours, ours_wall, ours_sync, anchor = [], [], [], []
    for r in range(args.runs):
        for way in (("hub", "fedml") if r % 2 == 0 else ("fedml", "hub")):
            dest = os.path.join(work, "dl")
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(dest)
            warm(blobs)
            if way == "hub":
                home = os.path.join(work, "hf-home-dl")
                shutil.rmtree(home, ignore_errors=True)
                t, wall, out = client("snapshot", hub_env(home, server.url), repo=rid, cache=dest, token=key,
                                      endpoint=server.url)
                t_sync, _ = timed(["sync"])
                ours.append(t)
                ours_wall.append(wall)
                ours_sync.append(t + t_sync)
                if r == 0 and not tree_same(out["path"], folder):
                    sys.exit("snapshot_download: the files differ from the source folder")
            else:
                t, _ = timed([FEDML, "storage", "download", "repo", "-d", dest, "--no-progress"], env)
                anchor.append(t)
                if r == 0 and not tree_same(os.path.join(dest, "repo"), folder):
                    sys.exit("fedml storage download: the files differ from the source folder")
            print(f"  run {r + 1} download {way:5}: {size / MiB / (ours[-1] if way == 'hub' else anchor[-1]):7.0f} MiB/s",
                  file=sys.stderr)
    shutil.rmtree(os.path.join(work, "dl"), ignore_errors=True)
    results["download"] = {"hub_s": ours, "hub_wall_s": ours_wall, "hub_sync_s": ours_sync, "fedml_s": anchor}
    fedml(["storage", "delete", "repo"], env)


def bench_upload(args, server, work, folder, size, results):
    ours, ours_wall, anchor = [], [], []
    for r in range(args.runs):
        for way in (("hub", "fedml") if r % 2 == 0 else ("fedml", "hub")):
            # A namespace of its own: a first upload (dedup is per namespace).
            name, key, env = server.user("up")
            warm(folder)
            if way == "hub":
                home = os.path.join(work, "hf-home-up")
                shutil.rmtree(home, ignore_errors=True)
                t, wall, _ = client("upload_folder", hub_env(home, server.url), repo=f"{name}/repo", folder=folder,
                                    token=key, endpoint=server.url)
                ours.append(t)
                ours_wall.append(wall)
            else:
                t, _ = timed([FEDML, "storage", "upload", folder, "-n", "repo", "--no-progress"], env)
                anchor.append(t)
            stored = server.stored(env)
            if stored < size * 0.99:
                sys.exit(f"{way} upload: the namespace stores {stored} bytes of {size}")
            print(f"  run {r + 1} upload {way:5}: {size / MiB / (ours[-1] if way == 'hub' else anchor[-1]):7.0f} MiB/s",
                  file=sys.stderr)
            fedml(["storage", "delete", "repo"], env)
    results["upload"] = {"hub_s": ours, "hub_wall_s": ours_wall, "fedml_s": anchor}


def bench_commit(args, server, work, folder, results):
    """Bytes sent and stored by a commit that changes one file; the server's public URL is the
    proxy, so the signed URLs a client is handed go through it too."""
    proxy = Proxy(server.port)
    server.stop()
    server.start(public_url=proxy.url)
    try:
        name, key, env = server.user("commit")
        rid = f"{name}/repo"
        home = os.path.join(work, "hf-home-commit")
        henv = hub_env(home, proxy.url)
        client("upload_folder", henv, repo=rid, folder=folder, token=key, endpoint=proxy.url)
        change = args.change_mib * MiB
        figures = {}

        # create_commit of the one changed file.
        new = os.path.join(work, "adapter-new.bin")
        random_file(new, change)
        before = server.stored(env)
        proxy.reset()
        t, _, _ = client("commit_one", henv, repo=rid, file=new, path_in_repo="adapter.bin", token=key,
                         endpoint=proxy.url)
        figures["create_commit"] = {"sent": proxy.bytes_up, "stored": server.stored(env) - before, "s": t,
                                    "requests": len(proxy.exchanges)}

        # upload_folder of the whole folder, the file changed again.
        random_file(os.path.join(folder, "adapter.bin"), change)
        before = server.stored(env)
        proxy.reset()
        t, _, _ = client("upload_folder", henv, repo=rid, folder=folder, token=key, endpoint=proxy.url)
        figures["upload_folder"] = {"sent": proxy.bytes_up, "stored": server.stored(env) - before, "s": t,
                                    "requests": len(proxy.exchanges)}
        check = os.path.join(work, "commit-check")
        fedml(["storage", "download", "repo", "-d", check, "--no-progress"], env)
        if not tree_same(os.path.join(check, "repo"), folder):
            sys.exit("after the commits, the repository differs from the folder")
        shutil.rmtree(check)

        # The anchor: the same change by `fedml storage upload --overwrite` of the folder.
        fname, fkey, fenv = server.user("anchor")
        fedml(["storage", "upload", folder, "-n", "repo", "--no-progress"], fenv)
        random_file(os.path.join(folder, "adapter.bin"), change)
        before = server.stored(fenv)
        proxy.reset()
        out = fedml(["storage", "upload", folder, "-n", "repo", "--overwrite", "--no-progress"],
                    dict(fenv, FEDML_SERVER_URL=proxy.url), parse=True)
        moved = out.get("transfer") or {}
        figures["fedml_overwrite"] = {"sent": proxy.bytes_up, "stored": server.stored(fenv) - before,
                                      "cli_sent": moved.get("sent_bytes")}
        results["commit"] = figures
        for n in (env, fenv):
            fedml(["storage", "delete", "repo"], n)
        os.remove(new)
    finally:
        server.stop()
        proxy.close()
        server.start()


def bench_dataset(args, server, work, results):
    import_check = subprocess.run([VENV_PYTHON, "-c", "import pyarrow"], capture_output=True)
    if import_check.returncode != 0:
        sys.exit("pyarrow is missing from target/hub-venv")
    src = os.path.join(work, "dataset")
    os.makedirs(os.path.join(src, "data"))
    # 4 Parquet files of about dataset_mib / 4 each: random doubles and integers (incompressible)
    # and a short string column; the rows a file needs are measured on a sample first.
    make = r"""
import io, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
src, total, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
def table(start, rows):
    return pa.table({"id": np.arange(start, start + rows, dtype=np.int64), "x": rng.standard_normal(rows),
                     "y": rng.integers(0, 1 << 62, rows), "label": rng.integers(0, 1000, rows).astype(str)})
sample = io.BytesIO()
pq.write_table(table(0, 100_000), sample, compression="snappy")
rows = int(total / files / (sample.tell() / 100_000))
for attempt in range(3):
    written = 0
    for i in range(files):
        path = f"{src}/data/train-{i:05d}-of-{files:05d}.parquet"
        pq.write_table(table(i * rows, rows), path, compression="snappy")
        written += pa.OSFile(path).size()
    if abs(written - total) < total * 0.03:
        break
    rows = int(rows * total / written)  # a large file compresses otherwise than the sample
"""
    subprocess.run([VENV_PYTHON, "-c", make, src, str(args.dataset_mib * MiB), "4"], check=True)
    files = sorted(os.path.join(src, "data", f) for f in os.listdir(os.path.join(src, "data")))
    size = sum(os.path.getsize(f) for f in files)
    name, key, env = server.user("ds")
    rid = f"{name}/bench-parquet"
    home = os.path.join(work, "hf-home-ds")
    henv = hub_env(home, server.url)
    up = r"""
import sys
from huggingface_hub import HfApi
api = HfApi(endpoint=sys.argv[1], token=sys.argv[2])
api.create_repo(sys.argv[3], repo_type="dataset")
api.upload_folder(folder_path=sys.argv[4], repo_id=sys.argv[3], repo_type="dataset")
"""
    subprocess.run([VENV_PYTHON, "-c", up, server.url, key, rid, src], env=henv, check=True)
    read_disk = r"""
import json, sys, time, pyarrow.parquet as pq, pyarrow as pa, pyarrow.dataset  # read_table's lazy import, done
started = time.perf_counter()
t = pa.concat_tables([pq.read_table(f) for f in sys.argv[1:]])
print(json.dumps({"seconds": time.perf_counter() - started, "rows": t.num_rows}))
"""
    blobs = os.path.join(server.data_dir, "blobs")
    hub, local, disk = [], [], []
    rows = None
    for r in range(args.runs):
        for way in ("hub", "local", "disk"):
            cache = os.path.join(work, "ds-cache")
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
            warm(blobs, src)
            if way == "hub":
                t, _, out = client("load_dataset", henv, repo=rid, cache=cache, token=key)
                hub.append(t)
            elif way == "local":
                t, _, out = client("load_local", henv, files=files, cache=cache)
                local.append(t)
            else:
                p = subprocess.run([VENV_PYTHON, "-c", read_disk, *files], capture_output=True, text=True, check=True)
                out = json.loads(p.stdout)
                disk.append(out["seconds"])
            if rows is None:
                rows = out["rows"]
            elif out["rows"] != rows:
                sys.exit(f"{way}: {out['rows']} rows, not {rows}")
            print(f"  run {r + 1} dataset {way:5}: {out['seconds']:.2f} s", file=sys.stderr)
    shutil.rmtree(os.path.join(work, "ds-cache"), ignore_errors=True)
    results["dataset"] = {"bytes": size, "rows": rows, "hub_s": hub, "local_s": local, "disk_s": disk}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=4, help="safetensors-like files in the repository")
    ap.add_argument("--file-mib", type=int, default=256, help="size of each")
    ap.add_argument("--change-mib", type=int, default=10, help="the file the commit measure changes")
    ap.add_argument("--dataset-mib", type=int, default=100, help="the Parquet dataset's size")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="download,upload,commit,dataset")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if subprocess.run([VENV_PYTHON, "-c", "import huggingface_hub, datasets"], capture_output=True).returncode != 0:
        subprocess.run([os.path.join(ROOT, "scripts", "hub-clients"), "--install"], check=True)
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    size = args.files * args.file_mib * MiB + args.change_mib * MiB
    repo_parts = only & {"download", "upload", "commit"}
    # The folder, the store (the objects of one run at a time, and what the collector has yet to
    # remove) and one download; the dataset, its repository and the caches.
    need = (4 * size if repo_parts else 0) + (4 * args.dataset_mib * MiB if "dataset" in only else 0)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < need:
        sys.exit(f"{free >> 20} MiB free in {tempfile.gettempdir()}; this run needs about {need >> 20} MiB")

    work = tempfile.mkdtemp(prefix="fedml-hfbench-")
    server = Server(work)
    results = {}
    try:
        server.start()
        folder = os.path.join(work, "repo")
        if repo_parts:
            make_repo_folder(folder, args.files, args.file_mib, args.change_mib)
        if "download" in only:
            bench_download(args, server, work, folder, size, results)
        if "upload" in only:
            bench_upload(args, server, work, folder, size, results)
        if "commit" in only:
            bench_commit(args, server, work, folder, results)
        if "dataset" in only:
            bench_dataset(args, server, work, results)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    mib = size / MiB
    versions = subprocess.run([VENV_PYTHON, "-c", "import importlib.metadata as m; print(m.version('huggingface_hub'), "
                               "m.version('datasets'))"], capture_output=True, text=True).stdout.split()
    build = "release build" if not os.environ.get("FEDML_BIN") else f"FEDML_BIN={FEDML}"
    print(f"\nHub API figures (loopback, {build}, embedded default, {os.cpu_count()} cores; "
          f"huggingface_hub {versions[0]}, datasets {versions[1]}; medians of {args.runs} runs)")
    summary = {}
    if "download" in results:
        d = results["download"]
        hub, anchor = mib / median(d["hub_s"]), mib / median(d["fedml_s"])
        hub_sync, hub_wall = mib / median(d["hub_sync_s"]), mib / median(d["hub_wall_s"])
        print(f"download of a {mib:.0f} MiB repository ({args.files} x {args.file_mib} MiB + {args.change_mib} MiB):")
        print(f"  fedml storage download (anchor)        {anchor:7.0f} MiB/s")
        print(f"  snapshot_download                      {hub:7.0f} MiB/s  {hub / anchor:.2f}x   [target >= 0.9x]")
        print(f"  snapshot_download + sync               {hub_sync:7.0f} MiB/s  {hub_sync / anchor:.2f}x   "
              f"(as durable as ours when it ends)")
        print(f"  snapshot_download, process wall time   {hub_wall:7.0f} MiB/s  {hub_wall / anchor:.2f}x   "
              f"(Python start-up and imports included)")
        summary["download"] = {"fedml_mib_s": anchor, "hub_mib_s": hub, "ratio": hub / anchor,
                               "hub_sync_mib_s": hub_sync, "hub_wall_mib_s": hub_wall}
    if "upload" in results:
        u = results["upload"]
        hub, anchor, hub_wall = mib / median(u["hub_s"]), mib / median(u["fedml_s"]), mib / median(u["hub_wall_s"])
        print(f"first upload of the {mib:.0f} MiB folder:")
        print(f"  fedml storage upload (anchor)          {anchor:7.0f} MiB/s")
        print(f"  upload_folder                          {hub:7.0f} MiB/s  {hub / anchor:.2f}x   [target >= 0.9x]")
        print(f"  upload_folder, process wall time       {hub_wall:7.0f} MiB/s  {hub_wall / anchor:.2f}x")
        summary["upload"] = {"fedml_mib_s": anchor, "hub_mib_s": hub, "ratio": hub / anchor, "hub_wall_mib_s": hub_wall}
    if "commit" in results:
        c = results["commit"]
        change = args.change_mib * MiB
        print(f"a commit that changes one {args.change_mib} MiB file of the repository "
              f"(anchor: the {args.change_mib} MiB changed, {change:,} bytes):")
        for key, what in (("create_commit", "create_commit of the file"),
                          ("upload_folder", "upload_folder of the whole folder"),
                          ("fedml_overwrite", "fedml storage upload --overwrite (anchor)")):
            f = c[key]
            extra = f", {f['s']:.2f} s, {f['requests']} requests" if "s" in f else ""
            print(f"  {what:<42} sent {f['sent'] / MiB:8.2f} MiB = {f['sent'] / change:.3f}x   "
                  f"store added {f['stored'] / MiB:8.2f} MiB = {f['stored'] / change:.3f}x{extra}")
        summary["commit"] = {k: {"sent_bytes": v["sent"], "stored_bytes": v["stored"]} for k, v in c.items()}
    if "dataset" in results:
        d = results["dataset"]
        hub, local, disk = median(d["hub_s"]), median(d["local_s"]), median(d["disk_s"])
        print(f"load_dataset of a {d['bytes'] / MiB:.0f} MiB Parquet dataset repository (4 files, {d['rows']:,} rows):")
        print(f"  pyarrow read_table of the files from disk (anchor)      {disk:6.2f} s")
        print(f"  load_dataset('parquet', data_files=the local files)     {local:6.2f} s  {local / disk:.1f}x the anchor "
              f"(the library's own work: it writes its Arrow cache)")
        print(f"  load_dataset('NS/bench-parquet') through the server     {hub:6.2f} s  {hub / disk:.1f}x the anchor, "
              f"{hub / local:.2f}x the local files")
        summary["dataset"] = {"hub_s": hub, "local_files_s": local, "pyarrow_disk_s": disk}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
