"""Ray's overhead on the annotation pass: `bindclip parse --shards --ray local` with 2 actors against
`--n-process 2` on the same shards.

    python benchmarks/annotate_ray.py [--captions 48000] [--per-shard 500] [--repeats 2]

Captions: SugarCrepe's positives and negatives (../shared/data/sugarcrepe: real COCO captions and their
edits, 11,844 distinct), repeated to --captions and written as img2dataset shards by benchmarks/annotate.py
(no graph cache: every copy is parsed again). Each pass starts its
workers and loads spaCy inside the timing (Ray actors, or spawned processes); the in-process Ray cluster is
started once, before the Ray passes, and its start is reported apart (a cluster outlives a pass). The
process passes run first, with no Ray on the machine. Best of --repeats passes each. One JSON line; the bar
is ray/processes captions-per-second >= 0.85, and the two passes' json members byte-identical.

What Ray adds is mostly fixed per pass: its actors start ~1.7 s later than spawned processes (a Ray worker,
and Ray Data's own imports, pyarrow among them) and parse ~9 % slower beside Ray's own threads (measured
2026-12-07 on 2 cores, 24 shards: first shard at 2.8 s against 1.1 s, 9.4 s of shard work per actor
against 8.6 s). The default size, four copies of the captions, is where a pass is long enough for the
fixed part to be what it is on a real corpus: a small share.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from annotate import DATA, write_shards


def captions(n: int) -> list[str]:
    distinct = [f"a red car number {i} next to a house" for i in range(n)]
    if DATA.is_dir():
        records = [r for f in sorted(DATA.glob("*.json")) for r in json.loads(f.read_text()).values()]
        distinct = list(dict.fromkeys(c for r in records for c in (r["caption"], r["negative_caption"])))
    return [distinct[i % len(distinct)] for i in range(n)]


def members(folder: Path) -> list[bytes]:
    import webdataset as wds

    return [r["json"] for t in sorted(folder.glob("*.tar")) for r in wds.tarfile_to_samples()([{"url": str(t)}])]


def best_pass(urls: list[str], out: Path, repeats: int, **kw) -> tuple[float, dict]:
    from bindclip.graphs.annotate import annotate_shards

    best, res = float("inf"), None
    for k in range(repeats):
        t = time.perf_counter()
        res = annotate_shards(urls, out / str(k), n_process=2, progress=False, **kw)
        best = min(best, time.perf_counter() - t)
    return best, res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=48000)
    ap.add_argument("--per-shard", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    caps = captions(args.captions)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        urls = write_shards(tmp, caps, args.per_shard)
        pool_s, pool_res = best_pass(urls, tmp / "processes", args.repeats)
        import ray

        t = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        init_s = time.perf_counter() - t
        ray_s, ray_res = best_pass(urls, tmp / "ray", args.repeats, ray_address="local")
        ray.shutdown()
        identical = members(tmp / "processes" / "0") == members(tmp / "ray" / "0")
    same_counts = pool_res == ray_res
    ratio = pool_s / ray_s
    print(
        json.dumps(
            {
                "benchmark": "annotate_ray",
                "captions": len(caps),
                "shards": len(urls),
                "workers": 2,
                "processes_captions_per_s": round(len(caps) / pool_s),
                "ray_captions_per_s": round(len(caps) / ray_s),
                "ray_cluster_start_s": round(init_s, 1),
                "ratio": round(ratio, 2),
                "identical_json_members": identical,
                "same_counts": same_counts,
                "met": ratio >= 0.85 and identical and same_counts,
            }
        )
    )


if __name__ == "__main__":
    main()
