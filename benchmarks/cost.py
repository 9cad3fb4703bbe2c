"""What one training step costs per GPU at the papers' scale, counted, not timed: forward + backward FLOPs
(torch's FlopCounterMode) and the bytes autograd saves for the backward pass (saved_tensors_hooks), per
method, model and global batch; the forward FLOPs and the saved bytes split into image tower, text tower,
binding, heads, losses and the model's own products outside its modules.

    python benchmarks/cost.py [--local 256] [--worlds 1,8,32] [--models ViT-B-16,ViT-L-14] [--markdown]

The step is the training step itself (`Method.text_side`, `Method.forward`, then backward) on meta
tensors: open_clip's configs at 224 px with no weights, so a ViT-L step is counted in a second on 2 cores.
Captions are real: SugarCrepe's positives (COCO captions), parsed by bindclip, so graph sizes, texts and
phrases are those of real captions. A world of W GPUs is emulated on this rank: the collectives return
this rank's tensors and W - 1 copies that require grad as the gathered parts do (other ranks' captions
are copies of this rank's; their padded sizes are equal). FLOPs count matrix products, convolutions and
attention (FlopCounterMode's ops); elementwise work is not counted. Saved bytes are fp32 and what the
forward pass leaves for backward; a chunk recomputed in backward (model.binding.chunk) holds at most
model.binding.chunk_budget_gib more while it runs.
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.module_tracker import ModuleTracker

from bindclip.errors import BindclipError
from bindclip.graphs.parse import SpacyParser
from bindclip.methods import get_method
from bindclip.train import load_config

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sugarcrepe"
METHODS = ("clip", "clip-hn", "c2lip", "oc-clip", "oc-clip+c2lip")
# a tag fixes the preprocessing where a name's tags differ (224 px either way; no weights are loaded)
TAGS = {"ViT-L-14": "laion2b_s32b_b82k"}
PAPER = {"ViT-B-16": 2.2, "ViT-L-14": 1.3}  # OC-CLIP's GFLOPs over CLIP's, as the OC-CLIP paper reports them
# where a module's work goes: the first prefix (after the model's class name) that matches
PARTS = (
    ("backbone.visual", "image_tower"),
    ("backbone", "text_tower"),
    ("binding", "binding"),
    ("score_head", "heads"),
)


def real_captions(n: int, data: Path = DATA) -> list[str]:
    """The first n distinct positive captions of SugarCrepe's files (COCO val2017 captions)."""
    captions: list[str] = []
    for path in sorted(data.glob("*.json")):
        entries = json.loads(path.read_text())
        captions += [e["caption"] for e in (entries.values() if isinstance(entries, dict) else entries)]
    captions = list(dict.fromkeys(captions))
    if len(captions) < n:
        raise SystemExit(f"{data}: {len(captions)} distinct captions, need {n} (--data)")
    return captions[:n]


@contextmanager
def emulated_world(world: int, distinct_phrases: int | None = None):
    """This process as rank 0 of `world`: every gather returns this rank's tensor and world - 1 copies
    that require grad when it does (the gathered parts' gradients are computed and sent back)."""

    def copies(x, with_grad):
        return [x] + [x.detach().clone().requires_grad_(with_grad and x.requires_grad) for _ in range(world - 1)]

    def gather_features(features, rank, world_size, gather_with_grad=False):
        return torch.cat(copies(features, gather_with_grad))

    def gather_ragged(x, with_grad=True):
        return copies(x, with_grad)

    def gather_rows(x, with_grad=True):
        return torch.cat(copies(x, with_grad))

    targets = {
        "gather_features": gather_features,
        "gather_ragged": gather_ragged,
        "gather_rows": gather_rows,
        "world_rank": lambda: (0, world),
    }
    modules = ["bindclip.distributed", "bindclip.losses", "bindclip.models.oc_clip", "bindclip.methods.clip_hn"]
    with ExitStack() as stack:
        for module in modules:
            for name, fn in targets.items():
                if hasattr(__import__(module, fromlist=[name]), name):
                    stack.enter_context(mock.patch(f"{module}.{name}", fn))
        if distinct_phrases is not None:
            stack.enter_context(mock.patch("bindclip.losses.distinct_rows", distinct_on_meta(distinct_phrases * world)))
        yield


def distinct_on_meta(n_distinct: int):
    """C2LIP scores each distinct phrase once (torch.unique of the phrase ids: their values, which meta
    tensors do not have). The same shapes from the count: this rank's distinct phrases, counted on the
    host, and as many new ones from each other rank (an upper bound: ranks share no phrase)."""

    def distinct_rows(features, ids):
        first = torch.arange(n_distinct, device=features.device)
        return features[first], torch.zeros(len(ids), dtype=torch.long, device=features.device)

    return distinct_rows


def under(counts: dict[str, int], prefix: str) -> int:
    """FLOPs inside the modules under `prefix`. FlopCounterMode books an op on every module it runs in,
    and a tower's parts may run without the tower's own forward (image_tokens calls the blocks), so sum
    the outermost modules recorded under the prefix."""
    keys = [k for k in counts if k == prefix or k.startswith(prefix + ".")]
    return sum(counts[k] for k in keys if not any(k.startswith(o + ".") for o in keys))


def part_of(module_path: str) -> str:
    inner = module_path.split(".", 1)[1] if "." in module_path else ""
    return next((part for prefix, part in PARTS if inner.startswith(prefix)), "other")


def count_step(method_name: str, overrides: list[str], captions: list[str], graphs, world: int) -> dict:
    """FLOPs and saved bytes of one training step of `method_name` on the meta device."""
    cfg = load_config(None, overrides, method=method_name)
    method = get_method(method_name)
    with torch.device("meta"):
        model = method.build_model(cfg)
    model.train()
    root = type(model).__name__
    loss_fn = method.build_loss(cfg, model, 0, world)
    text = method.text_side(cfg, model.tokenizer, captions, graphs, 0)
    size = cfg.model.backbone.resolved_preprocess().size
    images = torch.empty(len(captions), 3, size, size, device="meta")
    saved: dict[str, int] = {}
    tracker = ModuleTracker()
    # memory, not references: a storage is counted once however many views of it are saved, and the
    # weights (which exist anyway) not at all
    seen = {p.untyped_storage()._cdata for p in model.parameters()}

    def pack(t):
        storage = t.untyped_storage()
        if storage._cdata not in seen:
            seen.add(storage._cdata)
            inside = [p for p in tracker.parents if p.startswith(root + ".")]
            outside = "losses" if tracker.parents - {"Global", root} else "other"
            part = part_of(max(inside, key=len)) if inside else outside
            saved[part] = saved.get(part, 0) + storage.nbytes()
        return t

    concepts = text.get("concepts")
    distinct = len(set(concepts.ids.tolist())) if concepts is not None and concepts.ids is not None else None
    with emulated_world(world, distinct), FlopCounterMode(display=False) as flops:
        with tracker, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            losses = method.forward(model, loss_fn, images, text, torch.device("meta"))
        # by module in the forward pass only: FlopCounterMode books backward ops by when module hooks
        # fire, which puts much of them on the token embedding and the loss
        counts = {path: sum(ops.values()) for path, ops in flops.get_flop_counts().items()}
        sum(losses.values()).backward()
    total_forward, in_model = counts["Global"], counts.get(root, 0)
    tower, visual = under(counts, f"{root}.backbone"), under(counts, f"{root}.backbone.visual")
    binding, heads = under(counts, f"{root}.binding"), under(counts, f"{root}.score_head")
    by_part = {
        "image_tower": visual,
        "text_tower": tower - visual,
        "binding": binding,
        "heads": heads,
        "other": in_model - tower - binding - heads,  # the model's own products outside its modules
        "losses": total_forward - in_model,
    }
    return {
        "flops": sum(flops.get_flop_counts()["Global"].values()),  # forward + backward
        "forward_flops": total_forward,
        "forward_flops_by_part": by_part,
        "saved_bytes": sum(saved.values()),
        "saved_by_part": saved,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local", type=int, default=256, help="images per GPU")
    ap.add_argument("--worlds", default="1,8,32", help="GPUs: the global batch is local x each")
    ap.add_argument("--models", default="ViT-B-16,ViT-L-14")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--widths", default="128,256,512", help="OC-CLIP binding widths (model.binding.dim) to add")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--markdown", action="store_true", help="also print the README's table")
    args = ap.parse_args(argv)
    captions = real_captions(args.local, Path(args.data))
    graphs = SpacyParser().parse(captions)
    worlds = [int(w) for w in args.worlds.split(",")]
    rows = []
    for name in args.models.split(","):
        base = [f"model.backbone.name={name}", f"data.batch_size={args.local}"]
        base += [f"model.backbone.tag={TAGS[name]}"] if name in TAGS else []
        for method in args.methods.split(","):
            dims = [int(d) for d in args.widths.split(",")] if method == "oc-clip" else [None]
            for dim in dims:
                extra = [f"model.binding.dim={dim}"] if dim else []
                for world in worlds:
                    try:
                        c = count_step(method, base + extra, captions, graphs, world)
                    except BindclipError as e:
                        raise SystemExit(f"{name} {method}: {e}") from None
                    rows.append(
                        {
                            "model": name,
                            "method": method,
                            "binding_dim": dim,
                            "world": world,
                            "global_batch": args.local * world,
                            **c,
                        }
                    )
    clip = {(r["model"], r["world"]): r for r in rows if r["method"] == "clip"}
    for r in rows:
        ref = clip.get((r["model"], r["world"]))
        if ref:
            r["flops_over_clip"] = round(r["flops"] / ref["flops"], 3)
            r["saved_over_clip"] = round(r["saved_bytes"] / ref["saved_bytes"], 3)
    headline = {
        f"{r['model']}/{r['method']}/dim{r['binding_dim']}/global{r['global_batch']}": {
            "flops": r.get("flops_over_clip"),
            "saved": r.get("saved_over_clip"),
        }
        for r in rows
        if r["method"] == "oc-clip" and r["binding_dim"] == 128  # the width the README recommends
    }
    print(
        json.dumps(
            {
                "benchmark": "cost",
                "local_batch": args.local,
                "paper_flops_over_clip": PAPER,
                "oc_clip_over_clip": headline,
                "rows": rows,
            }
        )
    )
    if args.markdown:
        print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | method | binding width | global batch | TFLOP / step | x CLIP | saved for backward (GB) | x CLIP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['method']} | {r['binding_dim'] or ''} | {r['global_batch']:,} | "
            f"{r['flops'] / 1e12:.1f} | {r.get('flops_over_clip', '')} | {r['saved_bytes'] / 1e9:.1f} | "
            f"{r.get('saved_over_clip', '')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
