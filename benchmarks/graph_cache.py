"""Graph cache at corpus scale: memory per loader worker and lookups per second with 1,000,000 captions.

    python benchmarks/graph_cache.py [--captions 1000000] [--lookups 20000]

The cache (bindclip.graphs.parse.GraphCache, an indexed sqlite file) is filled with one graph per
caption ("a red car number i", two nodes and a relation, as `bindclip parse --cache` writes them). A
fresh process then opens it as a loader worker does and looks up random captions, one at a time (what
the shard loader does per sample) and in batches of 256; reported: resident memory added by opening the
cache and doing the lookups, and lookups/s. Reference, in the same run: the JSONL dict every worker
loaded before (all captions in memory), its load time and memory. Bars: <= 100 MB per worker,
>= 20,000 lookups/s. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAPH = {
    "objects": [{"name": "car", "attributes": ["red"]}, {"name": "road", "attributes": []}],
    "relations": [{"subject": 0, "predicate": "on", "object": 1}],
}


def rss_mb() -> float:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(path: Path, n: int, jsonl: Path) -> None:
    from bindclip.graphs.parse import caption_key

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE graphs (key TEXT PRIMARY KEY, graph TEXT NOT NULL)")
    text = json.dumps(GRAPH)
    with open(jsonl, "w") as f:
        for start in range(0, n, 100_000):
            part = range(start, min(n, start + 100_000))
            rows = [(caption_key(f"a red car number {i}", "spacy"), text) for i in part]
            db.executemany("INSERT INTO graphs VALUES (?, ?)", rows)
            f.writelines(json.dumps({"key": k, "graph": GRAPH}) + "\n" for k, _ in rows)
    db.commit()
    db.close()


def child_sqlite(path: str, n: int, lookups: int) -> dict:
    from bindclip.graphs.parse import GraphCache

    base = rss_mb()
    cache = GraphCache(lambda: (_ for _ in ()).throw(AssertionError("parser built")), path, name="spacy")
    rng = random.Random(0)
    captions = [f"a red car number {rng.randrange(n)}" for _ in range(lookups)]
    t = time.perf_counter()
    for c in captions:
        assert cache.parse([c])[0].objects
    single = lookups / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, lookups, 256):
        cache.parse(captions[i : i + 256])
    batched = lookups / (time.perf_counter() - t)
    return {
        "extra_mb": round(rss_mb() - base, 1),
        "lookups_per_s": round(single),
        "batched_lookups_per_s": round(batched),
    }


def child_jsonl(path: str) -> dict:
    from bindclip.graphs import SceneGraph

    base, t = rss_mb(), time.perf_counter()
    graphs = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            graphs[r["key"]] = SceneGraph.from_dict(r["graph"])
    return {"extra_mb": round(rss_mb() - base, 1), "load_s": round(time.perf_counter() - t, 1)}


def run_child(*args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        out = child_sqlite(rest[0], int(rest[1]), int(rest[2])) if kind == "sqlite" else child_jsonl(rest[0])
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db, jsonl = Path(tmp) / "cache.sqlite", Path(tmp) / "cache.jsonl"
        t = time.perf_counter()
        build(db, args.captions, jsonl)
        build_s = time.perf_counter() - t
        ours = run_child("sqlite", db, args.captions, args.lookups)
        ref = run_child("jsonl", jsonl)
        size_mb = db.stat().st_size / 2**20
    print(
        json.dumps(
            {
                "benchmark": "graph_cache",
                "captions": args.captions,
                "cache_mb": round(size_mb),
                "build_s": round(build_s, 1),
                "sqlite": ours,
                "jsonl_dict_before": ref,
                "met": ours["extra_mb"] <= 100 and ours["lookups_per_s"] >= 20_000,
            }
        )
    )


if __name__ == "__main__":
    main()
