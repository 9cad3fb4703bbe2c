"""Peak memory of OC-CLIP zero-shot: bounded by the caption chunk, not by the class count.

    python benchmarks/zeroshot_memory.py [--classes 100,1000] [--chunks 64,256] [--batch 32]

OC-CLIP binds every class prompt's graph to every image, so one image batch against ImageNet's
1,000 classes x 80 templates would need [80,000, batch, nodes, patches] attention logits at once.
`bindclip.eval.zeroshot` encodes the distinct prompt graphs in chunks and binds one chunk at a time.
Each (classes, chunk) runs in its own process: the ImageNet class names and 80 templates of
CLIP_benchmark (../shared/data, else numbered names), parsed with spaCy, then the classifier built and
one image batch scored while a thread samples the process's resident memory; reported is the peak
above the resident memory before the classifier. The world-small OC-CLIP (bindclip-vit-tiny-32, 16
patches, 8 nodes) is the model; `unchunked_logits_mb` is the arithmetic for all graphs at once, at this
model's size and at ViT-B/16's (196 patches). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

NAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "bench_formats" / "clip_benchmark"


def rss_mb() -> float:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prompts(n_classes: int) -> list[list[str]]:
    if (NAMES / "en_classnames.json").is_file():
        names = json.loads((NAMES / "en_classnames.json").read_text())["imagenet1k"]
        templates = json.loads((NAMES / "en_zeroshot_classification_templates.json").read_text())["imagenet1k"]
    else:
        names = [f"object {k}" for k in range(1000)]
        templates = json.loads(
            (
                Path(__file__).resolve().parents[1] / "src" / "bindclip" / "eval" / "data" / "imagenet_templates.json"
            ).read_text()
        )["templates"]
    return [[t.format(c=c) for t in templates] for c in names[:n_classes]]


def child(n_classes: int, chunk: int, batch: int) -> dict:
    import torch

    from bindclip.eval.scorer import Scorer
    from bindclip.eval.zeroshot import class_scores, classifier
    from bindclip.graphs.parse import SpacyParser
    from bindclip.train import build_model, load_config

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = load_config(None, [], method="oc-clip", preset="world-small")
    scorer = Scorer(build_model(cfg), "oc-clip", batch_size=batch)
    scorer.model.parser = SpacyParser()
    ps = prompts(n_classes)
    t = time.perf_counter()
    scorer.parse_ahead([p for c in ps for p in c])
    parse_s = time.perf_counter() - t
    images, _ = cfg.data.training_world().batch(batch, seed=0)
    base, peak, running = rss_mb(), [0.0], [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    t = time.perf_counter()
    classes = classifier(scorer, ps, chunk=chunk)
    logits = class_scores(scorer, images, ps, classes)
    seconds = time.perf_counter() - t
    running[0] = False
    thread.join()
    assert logits.shape == (batch, n_classes)
    return {
        "classes": n_classes,
        "prompts": sum(map(len, ps)),
        "distinct_graphs": len(classes.owner),
        "chunk": chunk,
        "peak_above_base_mb": round(peak[0] - base, 1),
        "base_mb": round(base, 1),
        "classify_s": round(seconds, 1),
        "parse_s": round(parse_s, 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", default="100,1000")
    ap.add_argument("--chunks", default="64,256")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.batch)))
        return
    runs = []
    for n in map(int, args.classes.split(",")):
        for chunk in map(int, args.chunks.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), str(chunk), "--batch", str(args.batch)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
    all_prompts = max(r["prompts"] for r in runs)
    nodes, floats = 8, 4
    print(
        json.dumps(
            {
                "benchmark": "zeroshot_memory",
                "batch": args.batch,
                "runs": runs,
                "unchunked_logits_mb": {
                    "bindclip-vit-tiny-32": round(all_prompts * args.batch * nodes * 16 * floats / 2**20),
                    "ViT-B-16": round(all_prompts * args.batch * nodes * 196 * floats / 2**20),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
