"""Does OC-CLIP need its local graph loss to learn relation direction? Three trainings, same run.

    python benchmarks/local_loss_ablation.py [--steps 120] [--batch 32] [--every 30] [--seeds 3]

The paper drops the local graph loss and reports that relations collapse, reasoning that in-batch
negatives almost never differ only in relation direction. On the world-small preset the demo's
ablation does not collapse. This benchmark tells two readings apart, on world-small at a small batch:
  full        OC-CLIP as in the paper (global + local graph loss)                       the peer
  no-local    the global loss only                                                      the ablation
  no-shared   the global loss only, with every in-batch negative caption that names one of the
              objects of the image's own caption (same node text) masked out of it
It prints held-out swap-relation accuracy (200 items, ties wrong) at step 0 and every --every steps,
per seed, and for each variant the share of seeds that learned direction (final >= 90) or collapsed
(final < 65): the outcome is bimodal, so a rate over seeds, never one run, answers the question.
If no-shared learns direction as often as no-local, negatives that share an object are not what
teaches it. The remaining reading: in a two-object image any caption's two nodes bind the image's two
objects, so every negative's relation can be checked against the positions of the bound slots.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bindclip.eval.items import evaluate_choices
from bindclip.eval.scorer import Scorer
from bindclip.eval.world import choice_items
from bindclip.train import load_config
from bindclip.train.data import world_loader
from bindclip.train.loop import build_loss, build_model, build_optimizer, build_scheduler, train_step

VARIANTS = {  # name -> config overrides
    "full": [],
    "no-local": ["loss.local_weight=0"],
    "no-shared": ["loss.local_weight=0", "loss.mask_shared_objects=true"],
}


def swap_relation(model, cfg, items) -> float:
    scorer = Scorer(model, "ablation")  # items come built: no world needed
    model.eval()
    with torch.no_grad():
        return round(100 * evaluate_choices(scorer, items, "strict").accuracy, 1)


def run_variant(variant: str, seed: int, args, items) -> dict:
    over = [f"data.batch_size={args.batch}", f"run.steps={args.steps}", f"run.seed={seed}", *VARIANTS[variant]]
    cfg = load_config(None, over, method="oc-clip", preset="world-small")
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg)
    opt = build_optimizer(model, cfg)
    sched, loss_fn = build_scheduler(opt, cfg), build_loss(cfg, model)
    curve, t, share = {0: swap_relation(model, cfg, items)}, time.perf_counter(), None
    for step, batch in enumerate(world_loader(cfg, model.tokenizer), 1):
        if share is None:  # the share of a batch's negatives that no-shared masks, on the first batch
            share = round(batch.graphs.shared_object_mask().sum().item() / (args.batch * (args.batch - 1)), 3)
        train_step(model, opt, sched, loss_fn, [batch], cfg, torch.device("cpu"))
        if step % args.every == 0 or step == args.steps:
            curve[step] = swap_relation(model, cfg, items)
    return {"swap_relation": curve, "train_s": round(time.perf_counter() - t, 1), "masked_share": share}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--every", type=int, default=30, help="evaluate every this many steps")
    ap.add_argument("--n", type=int, default=200, help="held-out swap-relation items")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per variant (0, 1, ...)")
    args = ap.parse_args(argv)
    world = load_config(None, [], method="oc-clip", preset="world-small").data.training_world()
    items = choice_items(world, "swap-relation", args.n)
    out = {"benchmark": "local_loss_ablation", "preset": "world-small", "batch": args.batch, "steps": args.steps}
    for v in VARIANTS:
        runs = [run_variant(v, seed, args, items) for seed in range(args.seeds)]
        final = [r["swap_relation"][args.steps] for r in runs]
        out[v] = {
            "runs": runs,
            "final": final,
            "learned_rate": sum(f >= 90 for f in final) / len(final),
            "collapsed_rate": sum(f < 65 for f in final) / len(final),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
