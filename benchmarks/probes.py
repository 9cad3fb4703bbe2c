"""Binding-analysis bars, one JSON line.

    python benchmarks/probes.py [--paper] [--scratch-steps N]

1. MiniLM encoding speed (captions/s over 5,000 of the paper's text scenes), its reference figure
   ~570/s on 2 cores: the 160,000-scene set then costs ~5 minutes once.
2. `bindclip probe all --encoder minilm --quick` wall time            bar: <= 180 s
   (with --paper also the paper-sized run on a warm cache             bar: <= 720 s)
   (the complexity fits now run to convergence: quick_all_converged says whether every one did)
3. The from-scratch model at coverage 0.8, held-out-object accuracy and wall time: the factored
   encoder (additivity built in)                                      bars: >= 0.9, <= 900 s
   and, no bar, the paper's two unfactored towers (the default) at the same budget
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from bindclip.probes.encoders import MiniLM
from bindclip.probes.scenes import text_scenes
from bindclip.probes.scratch import ScratchConfig, train_scratch
from bindclip.probes.suite import run_all


def encoding_rate(n: int = 5000) -> float:
    enc = MiniLM()
    texts = text_scenes(20).texts[:n]
    enc.encode_texts(texts[:256])  # warm
    t = time.perf_counter()
    enc.encode_texts(texts)
    return n / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="also time the paper-sized suite (cache warmed first)")
    ap.add_argument("--scratch-steps", type=int, default=ScratchConfig.steps)
    args = ap.parse_args(argv)
    out = {"benchmark": "probes", "threads": torch.get_num_threads()}
    out["minilm_captions_per_s"] = round(encoding_rate(), 1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        quick = run_all("minilm", f"{tmp}/quick", "quick")
        out["quick_s"] = round(time.perf_counter() - t, 1)
        out["quick_pass"] = out["quick_s"] <= 180
        out["quick_object_acc"] = quick["probes"]["test"]["object_acc"]
        out["quick_all_converged"] = quick["complexity"]["sizes"]["all_converged"]
        if args.paper:
            run_all("minilm", f"{tmp}/paper", "paper", stages=("probes",))  # fills the cache
            t = time.perf_counter()
            run_all("minilm", f"{tmp}/paper", "paper")
            out["paper_cached_s"] = round(time.perf_counter() - t, 1)
            out["paper_cached_pass"] = out["paper_cached_s"] <= 720
    for name, arch in (("scratch", {"tied": True, "factored": True}), ("scratch_paper_towers", {})):
        _, res = train_scratch(ScratchConfig(coverage=0.8, steps=args.scratch_steps, **arch))
        out[name] = {"coverage": 0.8, "steps": args.scratch_steps, "seconds": res["seconds"], **res["held_out"]}
    out["scratch_pass"] = out["scratch"]["object_acc"] >= 0.9 and out["scratch"]["seconds"] <= 900
    print(json.dumps(out))


if __name__ == "__main__":
    main()
