#!/usr/bin/env python3
"""The dashboard's listing over 100,000 objects, release build, embedded default: the time of one
page of 50 (median of 25 requests) first and deep in the listing (keyset position ~99,950), for
each order the dashboard offers and for a search, beside two anchors measured in the same run:
an authenticated request that lists nothing (`whoami`: HTTP, key check, envelope), and straight on
the SQLite file a deep page's SQL and the count of the user's objects that the first page adds
(the database's own floor).

Objects are catalogue rows written straight into SQLite before the server starts (listing reads
rows and signs a URL for each, never blobs).

    python3 bench/dashboard.py [--objects 100000]
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transfer import FEDML, ROOT  # noqa: E402
from platform import start_server, api_get  # noqa: E402


def median_ms(fn, n=25):
    fn()  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=100_000)
    args = ap.parse_args()
    if not os.path.exists(FEDML):
        subprocess.run(["cargo", "build", "--release", "-p", "fedml-cli"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="fedml-dashbench-")
    proc, url, key, data_dir = start_server(work, "d")
    owner = api_get(f"{url}/api/v1/whoami", key)["data"]
    proc.terminate()
    proc.wait()
    path = os.path.join(data_dir, "catalogue.db")
    db = sqlite3.connect(path)
    (owner_id,) = db.execute("SELECT user_id FROM api_keys WHERE id = ?", (owner["key_id"],)).fetchone()
    now = int(time.time() * 1000)
    db.executemany(
        "INSERT INTO objects (id, owner_id, name, kind, service, size, checksum, description, tags, metadata, "
        "blob_key, created_at, updated_at) VALUES (?, ?, ?, 'file', 'R2', ?, ?, '', ?, '{}', ?, ?, ?)",
        ((f"{i:032x}", owner_id, f"object-{i:07d}", (i * 7919) % 100_003, "blake3:" + "0" * 64,
          '["gold"]' if i % 3 == 0 else '["plain"]', f"{owner_id}/{i:032x}", now, now + (i * 104729) % 86_400_000)
         for i in range(args.objects)))
    db.commit()
    proc, url, key, data_dir = start_server(work, "d")
    try:
        def page(params):
            q = urllib.parse.urlencode({"limit": 50, **params})
            return api_get(f"{url}/api/v1/objects?{q}", key)["data"]

        def deep_cursor(sort, order, query=None):
            # The `next` of the page ending about 50 objects before the end.
            params = {"sort": sort, "order": order, **({"q": query} if query else {})}
            total = page(params)["total"]
            q = urllib.parse.urlencode({"limit": max(1, total - 100), **params})
            return api_get(f"{url}/api/v1/objects?{q}", key)["data"]["next"]

        anchor_http = median_ms(lambda: api_get(f"{url}/api/v1/whoami", key))
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        anchor_sql = median_ms(lambda: raw.execute(
            "SELECT * FROM objects WHERE owner_id = ? AND (size, name) > (?, ?) "
            "ORDER BY size, name LIMIT 50", (owner_id, 50_000, "object-0050000")).fetchall())
        anchor_count = median_ms(lambda: raw.execute(
            "SELECT COUNT(*) FROM objects WHERE owner_id = ?", (owner_id,)).fetchall())
        rows = []
        for sort, order, query in [("name", "asc", None), ("name", "desc", None), ("size", "asc", None),
                                   ("size", "desc", None), ("updated", "desc", None), ("name", "asc", "gold"),
                                   ("size", "desc", "object-00999")]:
            params = {"sort": sort, "order": order, **({"q": query} if query else {})}
            first = median_ms(lambda: page(params))
            after = deep_cursor(sort, order, query)
            deep = median_ms(lambda: page({**params, "after": after})) if after else float("nan")
            rows.append((sort, order, query or "", page(params)["total"], first, deep))
    finally:
        proc.terminate()
        proc.wait()
    print(f"dashboard listing, {args.objects:,} objects, pages of 50 (median of 25), release build")
    print(f"  anchors: whoami (authenticated, lists nothing) {anchor_http:.2f} ms; straight on SQLite: "
          f"a deep page's SQL {anchor_sql:.2f} ms, the count of the user's objects {anchor_count:.2f} ms")
    for sort, order, query, total, first, deep in rows:
        label = f"sort={sort} order={order}" + (f" q={query!r}" if query else "")
        print(f"  {label:<40} matches {total:>7,}: first page {first:6.2f} ms, deep page {deep:6.2f} ms")


if __name__ == "__main__":
    main()
