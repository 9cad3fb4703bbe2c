"""Trainer throughput on the world-small preset, each method against plain CLIP in the same run.

    python benchmarks/train.py [--steps 40]

1. Data loading is never the bottleneck: world batches from the loader with 2 workers (alone)
   against the rate at which the CLIP model consumes them (training alone, batches prepared).
                                                          bar: loader >= 3x the model
2. Training throughput (samples/s, loader included) of SigLIP, OC-CLIP and C2LIP relative to CLIP.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from bindclip.train import load_config, train
from bindclip.train.data import WorldBatches, world_loader
from bindclip.train.loop import build_loss, build_model, build_optimizer, forward_loss


def loader_rate(cfg, n: int) -> float:
    model = build_model(cfg)
    loader = iter(world_loader(cfg, model.tokenizer))
    next(loader)  # workers started
    t = time.perf_counter()
    for _ in range(n):
        next(loader)
    return n / (time.perf_counter() - t)


def model_rate(cfg, n: int) -> float:
    """Optimiser steps per second on one prepared batch (no loading at all)."""
    model = build_model(cfg)
    opt = build_optimizer(model, cfg)
    loss_fn = build_loss(cfg, model)
    batch = WorldBatches(cfg, model.tokenizer)[0]

    def step():
        losses = forward_loss(model, loss_fn, batch, cfg.model.method, torch.device("cpu"))
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="training steps per method")
    args = ap.parse_args(argv)
    out: dict = {"benchmark": "train", "preset": "world-small", "threads": torch.get_num_threads()}
    clip = load_config(None, ["data.workers=2"], method="clip", preset="world-small")
    loading = loader_rate(clip, 30)
    consuming = model_rate(clip, 10)
    out["data"] = {
        "loader_batches_per_s": round(loading, 2),
        "model_steps_per_s": round(consuming, 2),
        "ratio": round(loading / consuming, 2),
        "bar": 3,
        "pass": loading / consuming >= 3,
    }
    rates = {}
    log = max(1, args.steps // 4)
    for method in ("clip", "siglip", "oc-clip", "c2lip"):
        cfg = load_config(
            None,
            [f"run.steps={args.steps}", f"run.log_every={log}", f"run.save_every={10**9}"],
            method=method,
            preset="world-small",
        )
        with tempfile.TemporaryDirectory() as tmp:
            train(cfg, tmp, progress=False)
            rows = [json.loads(line) for line in open(f"{tmp}/metrics.jsonl")]
        rates[method] = sum(r["samples_per_s"] for r in rows[1:]) / max(1, len(rows) - 1)  # first window warms up
    out["samples_per_s"] = {k: round(v, 1) for k, v in rates.items()}
    out["relative_to_clip"] = {k: round(v / rates["clip"], 2) for k, v in rates.items() if k != "clip"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
