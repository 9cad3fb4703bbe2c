"""World generation speed on one core: 64x64 scenes with captions and gold graphs per second,
beside the cost of encoding the same images to PNG (what shard export cannot avoid).

    python benchmarks/world.py [--n 4096]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bindclip.world import World, WorldConfig, make_split
from bindclip.world.data import png_bytes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = WorldConfig(image_size=args.size)
    world = World(cfg, make_split(cfg, ["attr-holdout:0.25", "rel-holdout:0.2"], seed=0))
    world.batch(args.batch, seed=-1)  # warm-up: shape textures, allocator
    t = time.perf_counter()
    batches = [world.batch(args.batch, seed=k) for k in range(args.n // args.batch)]
    gen = time.perf_counter() - t
    n = sum(len(s) for _, s in batches)
    t = time.perf_counter()
    for images, _ in batches:
        for img in images:
            png_bytes(img)
    png = time.perf_counter() - t
    rate = n / gen
    print(
        json.dumps(
            {
                "benchmark": "world",
                "n": n,
                "image_size": args.size,
                "threads": 1,
                "scenes_per_s": round(rate, 1),
                "png_encode_per_s": round(n / png, 1),
                "generation_vs_png_time": round(gen / png, 3),
                "bars": {"scenes_per_s>=2000": rate >= 2000},
            }
        )
    )


if __name__ == "__main__":
    main()
