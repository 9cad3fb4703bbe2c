"""Evaluation throughput: the OC-CLIP scorer against the CLIP scorer on the same backbone, same run.

    python benchmarks/eval.py [--n 256] [--rounds 5]

1. Multiple choice (SugarCrepe-style: an image and 2 captions; the world's swap-attribute items):
   images/s through Scorer.option_scores. OC-CLIP binds only each image's own options (aligned layout).
2. Retrieval (every caption against every image, n x n): images/s through Scorer.score. OC-CLIP
   binds all n^2 pairs, CLIP takes one matrix product, so this ratio falls with n.
Both models are the world-small preset's (bindclip-vit-tiny-32), untrained: speed does not depend on
the weights. Timings interleave the two scorers round by round and keep each one's best round.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bindclip.eval.items import item_scores
from bindclip.eval.scorer import Scorer
from bindclip.eval.world import choice_items, world_for
from bindclip.train import load_config
from bindclip.train.loop import build_model


def scorers(batch_size: int) -> dict[str, Scorer]:
    out = {}
    for method in ("clip", "oc-clip"):
        cfg = load_config(None, [], method=method, preset="world-small")
        torch.manual_seed(0)
        out[method] = Scorer(build_model(cfg), method, batch_size=batch_size)
    return out


def best_rates(jobs: dict, n_images: int, rounds: int) -> dict[str, float]:
    best = {k: 0.0 for k in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            t = time.perf_counter()
            job()
            best[name] = max(best[name], n_images / (time.perf_counter() - t))
    return {k: round(v, 1) for k, v in best.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="items (choice) and images (retrieval)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    s = scorers(args.batch_size)
    world = world_for(s["clip"])
    items = choice_items(world, "swap-attribute", args.n)
    images = torch.stack([it.image for it in items])
    captions = [it.options[0] for it in items]
    graphs = [it.graphs[0] for it in items]
    with torch.no_grad():
        choice = best_rates({k: (lambda sc=sc: item_scores(sc, items)[0]) for k, sc in s.items()}, args.n, args.rounds)
        retrieval = best_rates(
            {k: (lambda sc=sc: sc.score(images, captions, graphs)) for k, sc in s.items()}, args.n, args.rounds
        )
    out = {
        "benchmark": "eval",
        "backbone": "bindclip-vit-tiny-32",
        "image_size": s["clip"].image_size,
        "n": args.n,
        "threads": torch.get_num_threads(),
        "choice_images_per_s": choice,
        "choice_oc_clip_vs_clip": round(choice["oc-clip"] / choice["clip"], 3),
        "retrieval_images_per_s": retrieval,
        "retrieval_oc_clip_vs_clip": round(retrieval["oc-clip"] / retrieval["clip"], 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
