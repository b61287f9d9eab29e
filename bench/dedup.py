#!/usr/bin/env python3
"""The content store against the blob upload it replaces, measured in the same run on the same
server (local store, loopback, release build):

- first upload of a random file: packed (content-defined chunks) vs one blob (`--no-dedup`, the
  blob path beside the content store), or, when FEDML_BIN_BEFORE names a build of the release
  before the content store, vs that release end to end: its client uploading to its own server
  (a second one, on its own data directory);
- re-upload after 100 scattered 64 KiB edits and 1 MiB inserted at the start: bytes sent and time,
  against the first upload;
- the same file under a second name: bytes sent;
- download after several versions: packed vs the anchor's blob download;
- an upload killed (SIGKILL) at half its bytes, then run again: bytes sent in all;
- client peak RSS of each, server peak RSS;
- what the engine adds per GiB stored (catalogue rows, bytes of pack indexes and segment lists),
  projected to 100 TB.

    python3 bench/dedup.py [--size-mib 1024] [--runs 3]
"""
import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
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
from transfer import settle, start_server, timed, vm_hwm  # noqa: E402

FEDML = str(fedml_binary("release"))
BEFORE = os.environ.get("FEDML_BIN_BEFORE")


def received(url):
    """Bytes the local store's URLs received so far (the server's own counter)."""
    text = urllib.request.urlopen(f"{url}/metrics").read().decode()
    m = re.search(r"^fedml_local_bytes_received_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def upload(env, path, name, *flags, binary=FEDML):
    """One upload through the CLI: (seconds, peak RSS KiB, what it says it moved)."""
    out = os.path.join(os.path.dirname(path), f".answer-{name}.json")
    cmd = ["sh", "-c", f"'{binary}' storage upload '{path}' -n '{name}' --overwrite --no-progress "
           f"--output json {' '.join(flags)} > '{out}'"]
    t, rss = timed(cmd, env)
    with open(out) as f:
        answer = json.load(f)
    os.remove(out)
    return t, rss, (answer.get("data") or {}).get("transfer")


def edit(src, dst):
    """100 scattered 64 KiB overwrites and 1 MiB inserted at the start."""
    size = os.path.getsize(src)
    with open(src, "rb") as f:
        data = bytearray(f.read())
    step = size // 100
    for i in range(100):
        at = i * step + (i * 7919) % max(1, step - (64 << 10))
        data[at:at + (64 << 10)] = os.urandom(64 << 10)
    with open(dst, "wb") as f:
        f.write(os.urandom(1 << 20))
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fedml-dedup-")
    server = old_server = None
    try:
        size = args.size_mib << 20
        src = os.path.join(work, "model.bin")
        with open(src, "wb") as f:
            for _ in range(size // (16 << 20)):
                f.write(os.urandom(16 << 20))
        v2 = os.path.join(work, "model-v2.bin")
        edit(src, v2)

        port = 19000 + os.getpid() % 1000
        server, data_dir, url, _, env = start_server(work, port)
        blobs = os.path.join(data_dir, "blobs", "objects")
        # The anchor: this build's blob path on the same server, or the release before, whole.
        if BEFORE:
            old_server, old_dir, _, _, old_env = start_server(work, port + 500, binary=BEFORE, name="server-before")
            old_blobs = os.path.join(old_dir, "blobs", "objects")
            anchor_bin, anchor_flags = BEFORE, ()
        else:
            old_server, old_env, old_blobs = None, env, blobs
            anchor_bin, anchor_flags = FEDML, ("--no-dedup",)
        mib = size / (1 << 20)
        med = statistics.median

        blob_up, packed_up, rss = [], [], {}
        anchor = "blob upload (--no-dedup)" if not BEFORE else f"FEDML_BIN_BEFORE ({BEFORE})"
        for i in range(args.runs):
            settle(src)
            t, r, _ = upload(old_env, src, f"blob-{i}", *anchor_flags, binary=anchor_bin)
            blob_up.append(t)
            rss["blob upload"] = max(rss.get("blob upload", 0), r)
            settle(src)
            # A fresh name each run and nothing of it stored: a first upload.
            t, r, moved = upload(env, src, f"first-{i}")
            packed_up.append(t)
            rss["packed first upload"] = max(rss.get("packed first upload", 0), r)
            first_sent = moved["sent_bytes"]
            if i + 1 < args.runs:
                subprocess.run([FEDML, "storage", "delete", f"first-{i}"], env=env, capture_output=True, check=True)
                subprocess.run([anchor_bin, "storage", "delete", f"blob-{i}"], env=old_env, capture_output=True,
                               check=True)
        settle(v2)
        t_edit, r, moved_edit = upload(env, v2, f"first-{args.runs - 1}")
        rss["re-upload after edits"] = r
        settle(v2)
        t_copy, r, moved_copy = upload(env, v2, "second-name")

        # Downloads: the packed file after two versions vs the blob.
        down_packed, down_blob = [], []
        for i in range(args.runs):
            for name, into in ((f"first-{args.runs - 1}", down_packed), (f"blob-{args.runs - 1}", down_blob)):
                out = os.path.join(work, f"down-{i}")
                packed = into is down_packed
                settle(blobs if packed else old_blobs)
                t, r = timed([FEDML if packed else anchor_bin, "storage", "download", name, "-d", out,
                              "--no-progress"], env if packed else old_env)
                into.append(t)
                rss[f"download ({'packed' if packed else 'anchor'})"] = r
                shutil.rmtree(out)

        # Resume: killed at half its bytes, then run again.
        resumed_src = os.path.join(work, "fresh.bin")
        with open(resumed_src, "wb") as f:
            for _ in range(size // (16 << 20)):
                f.write(os.urandom(16 << 20))
        before = received(url)
        child = subprocess.Popen([FEDML, "storage", "upload", resumed_src, "-n", "resumed", "--no-progress"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while received(url) - before < size // 2 and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed_at = received(url) - before
        _, _, moved_resume = upload(env, resumed_src, "resumed")
        resume_total = received(url) - before

        server_rss = vm_hwm(server.pid)
        server.terminate()
        server.wait(timeout=30)
        if old_server:
            old_server.terminate()
            old_server.wait(timeout=30)

        # What the engine keeps per GiB of packed data.
        db = sqlite3.connect(os.path.join(data_dir, "catalogue.db"))
        q = lambda sql: db.execute(sql).fetchone()[0] or 0
        packed_objects = q("SELECT COUNT(*) FROM objects WHERE content IS NOT NULL")
        logical = q("SELECT SUM(size) FROM objects WHERE content IS NOT NULL")
        stored = q("SELECT SUM(size) FROM packs")
        rows = {t: q(f"SELECT COUNT(*) FROM {t}") for t in ("packs", "object_packs", "pack_samples", "pack_pins")}
        content_bytes = q("SELECT SUM(LENGTH(content)) FROM objects WHERE content IS NOT NULL")
        db.close()
        # Each pack ends with its index: 36 bytes per chunk and a 12-byte trailer (count, magic).
        chunks = index_bytes = 0
        for dirpath, _, files in os.walk(blobs):
            for name in files:
                if name.startswith("pk"):
                    with open(os.path.join(dirpath, name), "rb") as f:
                        f.seek(-12, os.SEEK_END)
                        n = int.from_bytes(f.read(4), "little")
                    chunks += n
                    index_bytes += n * 36 + 12
        data_in_packs = stored - index_bytes
        gib_stored = stored / (1 << 30)
        per_gib_rows = {k: v / gib_stored for k, v in rows.items()} if gib_stored else {}
        index_per_gib = index_bytes / gib_stored if gib_stored else 0
        mean_chunk = data_in_packs / chunks if chunks else 0

        print(f"\n{args.size_mib} MiB random file, local store, loopback, median of {args.runs} runs")
        print(f"first upload, {anchor} (anchor): {mib / med(blob_up):.0f} MiB/s")
        print(f"first upload, packed:  {mib / med(packed_up):.0f} MiB/s = {med(blob_up) / med(packed_up):.2f}x "
              f"the anchor   [target >= 0.9x]; sent {first_sent / size:.2%} of its bytes")
        print(f"re-upload after 100 x 64 KiB edits + 1 MiB insert: sent {moved_edit['sent_bytes'] / (1 << 20):.1f} MiB "
              f"= {moved_edit['sent_bytes'] / os.path.getsize(v2):.2%} of the bytes [target <= 3%], "
              f"{t_edit:.2f} s = {t_edit / med(packed_up):.0%} of the first upload's time [target <= 15%]")
        print(f"same file under a second name: sent {moved_copy['sent_bytes']} bytes "
              f"= {moved_copy['sent_bytes'] / os.path.getsize(v2):.3%} [target <= 0.5%], {t_copy:.2f} s")
        print(f"download after two versions, packed: {mib / med(down_packed):.0f} MiB/s; {anchor} (anchor): "
              f"{mib / med(down_blob):.0f} MiB/s = {med(down_blob) / med(down_packed):.2f}x   [target >= 0.9x]")
        print(f"upload killed at {killed_at / size:.0%} of its bytes, run again: the second run sent "
              f"{moved_resume['sent_bytes'] / size:.0%} of the bytes [target <= 55%], both together "
              f"{resume_total / size:.0%}; the second run says resumed={moved_resume['resumed']}")
        print("client peak RSS: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in rss.items()))
        print(f"server peak RSS: {server_rss / 1024:.1f} MiB")
        print(f"catalogue per GiB stored in packs ({packed_objects} packed objects, {logical / (1 << 30):.2f} GiB "
              f"logical, {gib_stored:.2f} GiB in packs): " +
              ", ".join(f"{k} {v:.0f} rows" for k, v in per_gib_rows.items()) +
              f", objects.content {content_bytes / max(gib_stored, 1e-9) / 1024:.1f} KiB")
        print(f"pack indexes: {index_per_gib / (1 << 20):.2f} MiB per GiB (mean chunk {mean_chunk / 1024:.1f} KiB) "
              f"({index_per_gib / (1 << 30):.3%}); projected to 100 TB: "
              + ", ".join(f"{k} {v * 100 * 1024 / 1e6:.1f}M rows" for k, v in per_gib_rows.items())
              + f", {index_per_gib * 100 * 1024 / 1e12:.2f} TB of pack indexes")
        print(json.dumps({
            "size_mib": args.size_mib, "anchor": anchor,
            "anchor_upload_mib_s": mib / med(blob_up), "packed_upload_mib_s": mib / med(packed_up),
            "edit_sent_share": moved_edit["sent_bytes"] / os.path.getsize(v2), "edit_time_share": t_edit / med(packed_up),
            "copy_sent_share": moved_copy["sent_bytes"] / os.path.getsize(v2),
            "packed_download_mib_s": mib / med(down_packed), "blob_download_mib_s": mib / med(down_blob),
            "resume_total_share": resume_total / size, "resume_second_share": moved_resume["sent_bytes"] / size, "killed_at_share": killed_at / size,
            "client_rss_mib": {k: v / 1024 for k, v in rss.items()}, "server_rss_mib": server_rss / 1024,
            "rows_per_gib": per_gib_rows, "data_in_packs_bytes": data_in_packs, "index_bytes": index_bytes,
        }))
    finally:
        for s in (server, old_server):
            if s and s.poll() is None:
                s.terminate()
                s.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
