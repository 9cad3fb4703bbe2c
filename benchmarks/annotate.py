"""Annotating shards costs no more than parsing: `bindclip parse --shards` against `bindclip parse` on the
same captions, one process each.

    python benchmarks/annotate.py [--captions 4000] [--per-shard 500]

Captions: SugarCrepe's positives (../shared/data/sugarcrepe, real COCO captions; else numbered ones),
written as img2dataset shards (small JPEG + txt + json) for the annotation pass, and parsed as a list by
the same spaCy parser for the reference. Both times include loading spaCy. Prints one JSON line; the bar
is annotate/parse captions-per-second >= 0.8.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sugarcrepe"


def captions(n: int) -> list[str]:
    if DATA.is_dir():
        out = [r["caption"] for f in sorted(DATA.glob("*.json")) for r in json.loads(f.read_text()).values()]
        out = list(dict.fromkeys(out))
    else:
        out = [f"a red car number {i} next to a house" for i in range(n)]
    return out[:n]


def write_shards(root: Path, caps: list[str], per_shard: int) -> list[str]:
    import webdataset as wds
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 200)).save(buf, "JPEG")
    jpg, urls = buf.getvalue(), []
    for s in range(0, len(caps), per_shard):
        urls.append(str(root / f"{s // per_shard:05d}.tar"))
        with wds.TarWriter(urls[-1]) as sink:
            for i, c in enumerate(caps[s : s + per_shard]):
                key = f"{s // per_shard:05d}{i:04d}"
                sink.write(
                    {
                        "__key__": key,
                        "jpg": jpg,
                        "txt": c.encode(),
                        "json": json.dumps({"key": key, "caption": c, "status": "success"}).encode(),
                    }
                )
    return urls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=4000)
    ap.add_argument("--per-shard", type=int, default=500)
    args = ap.parse_args(argv)
    import bindclip.graphs.annotate as annotate
    from bindclip.graphs.parse import SpacyParser

    caps = captions(args.captions)
    with tempfile.TemporaryDirectory() as tmp:
        urls = write_shards(Path(tmp), caps, args.per_shard)
        t = time.perf_counter()
        graphs = SpacyParser().parse(caps)
        parse_s = time.perf_counter() - t
        t = time.perf_counter()  # the pass loads spaCy itself, inside the timing, as the reference did
        res = annotate.annotate_shards(urls, Path(tmp) / "out", n_process=1, progress=False)
        annotate_s = time.perf_counter() - t
    assert res["samples"] == len(caps) == len(graphs)
    parse_rate, annotate_rate = len(caps) / parse_s, len(caps) / annotate_s
    print(
        json.dumps(
            {
                "benchmark": "annotate",
                "captions": len(caps),
                "shards": len(urls),
                "parse_captions_per_s": round(parse_rate),
                "annotate_captions_per_s": round(annotate_rate),
                "ratio": round(annotate_rate / parse_rate, 2),
                "met": annotate_rate / parse_rate >= 0.8,
            }
        )
    )


if __name__ == "__main__":
    main()
