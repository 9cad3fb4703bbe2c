"""Model and loss core: vectorised pieces against their loop peers, and training-step cost per method.

    python benchmarks/models.py [--quick] [--device cpu|cuda]

1. OC-CLIP's B x B structured score (B = 128, 8 nodes, 7 relations, 64 patches) against the same
   code called once per (caption, image) pair.            bar: >= 20x
2. C2LIP's L_xac scores (512 phrases, 128 images, 64 tokens, D = 768), forward + backward, against
   the official per-phrase loop; peak memory of both.      bar: >= 10x
3. One training step (forward, loss, backward, AdamW) of each method on the same tiny ViT and the same
   world batch of 128, as a multiple of plain CLIP's.      bars: OC-CLIP <= 1.5x, C2LIP <= 1.3x
4. Bad input: clear errors, finite scores for empty graphs.
Prints one JSON line; every ratio is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bindclip.graphs import GraphFormatError, SceneGraph, SGObject, SGRelation, collate_concepts
from bindclip.losses import C2LipLoss, ClipLoss, OCClipLoss, SigLipLoss
from bindclip.models import C2LIP, CLIP, OCCLIP, BackboneConfig, ClipConfig, OCClipConfig
from bindclip.models.backbone import CheckpointError, load_weights
from bindclip.models.c2lip import cross_attention_pool_scores
from bindclip.models.oc_clip import GraphState
from bindclip.models.reference import cross_attention_pool_loop, score_matrix_pairwise
from bindclip.world import World, WorldConfig, make_split


def best_time(fn, repeat: int, device: str) -> float:
    """Minimum wall time of `repeat` calls after one warm-up (the least-disturbed run on a noisy box)."""
    fn()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


# ---- 1. structured score --------------------------------------------------------------------------
def bench_structured_score(device: str, quick: bool) -> dict:
    torch.manual_seed(0)
    model = OCCLIP(OCClipConfig()).to(device).eval()
    B, N, R, T = 128, 8, 7, 64
    D = model.score_head.node_proj.in_features
    g = GraphState(
        torch.randn(B, N, D),
        torch.ones(B, N, dtype=torch.bool),
        torch.randn(B, R, D),
        torch.randint(0, N, (B, R)),
        torch.randint(0, N, (B, R)),
        torch.ones(B, R, dtype=torch.bool),
    )
    g = GraphState(*(t.to(device) for t in vars(g).values()))
    with torch.no_grad():
        patches = model.binding.encode_patches(torch.randn(B, T, model._patch_width(), device=device))
        vec = best_time(lambda: model.score_matrix(patches, g), 3, device)
        # the loop peer on a k x k corner (its cost is linear in pairs), scaled to B x B
        k = 32 if quick else B
        corner = GraphState(*(t[:k] for t in vars(g).values()))
        t = time.perf_counter()
        loop_scores = score_matrix_pairwise(model, patches[:k], corner)
        loop = (time.perf_counter() - t) * (B * B) / (k * k)
        err = (loop_scores - model.score_matrix(patches[:k], corner)).abs().max().item()
    return {
        "B": B,
        "nodes": N,
        "relations": R,
        "patches": T,
        "vectorised_s": round(vec, 4),
        "per_pair_loop_s": round(loop, 2),
        "loop_pairs_timed": k * k,
        "speedup": round(loop / vec, 1),
        "max_abs_diff": err,
        "bar": 20,
        "pass": loop / vec >= 20,
    }


# ---- 2. XAC ------------------------------------------------------------------------------------
XAC_SHAPE = dict(N=512, M=128, T=64, D=768)


def xac_step(kind: str, device: str):
    g = torch.Generator(device="cpu").manual_seed(0)
    s = XAC_SHAPE
    patches = F.normalize(torch.randn(s["M"], s["T"], s["D"], generator=g), dim=-1).to(device).requires_grad_()
    phrases = F.normalize(torch.randn(s["N"], s["D"], generator=g), dim=-1).to(device).requires_grad_()
    fn = cross_attention_pool_scores if kind == "vectorised" else cross_attention_pool_loop

    def step():
        scores = fn(patches, phrases)
        scores.sum().backward()

    return step


def _status_kib(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_mib(step) -> float:
    """Peak resident memory of one call above the memory in use before it (Linux: the peak counter is
    reset through /proc/self/clear_refs first, so earlier peaks such as imports do not hide it)."""
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    step()
    return (_status_kib("VmHWM") - before) / 1024


def xac_peak_memory(kind: str, device: str) -> float:
    """MiB of one forward + backward above its inputs, in a fresh process (allocator caches of other
    runs would hide it); on CUDA the allocator's own peak."""
    measure = (
        "b.peak_rss_mib(step)"
        if device == "cpu"
        else "(torch.cuda.reset_peak_memory_stats(), step(), torch.cuda.max_memory_allocated() / 2**20)[-1]"
    )
    code = (
        f"import sys, torch; sys.path.insert(0, {str(Path(__file__).parent)!r}); import models as b; "
        f"step = b.xac_step({kind!r}, {device!r}); print({measure})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def bench_xac(device: str, quick: bool) -> dict:
    vec = best_time(xac_step("vectorised", device), 3, device)
    loop = best_time(xac_step("loop", device), 1, device)
    s = XAC_SHAPE
    g = torch.Generator().manual_seed(1)
    p = F.normalize(torch.randn(8, s["T"], 32, generator=g), dim=-1)
    c = F.normalize(torch.randn(16, 32, generator=g), dim=-1)
    err = (cross_attention_pool_scores(p, c) - cross_attention_pool_loop(p, c)).abs().max().item()
    out = {
        **s,
        "vectorised_s": round(vec, 4),
        "per_phrase_loop_s": round(loop, 3),
        "speedup": round(loop / vec, 1),
        "max_abs_diff": err,
        "bar": 10,
        "pass": loop / vec >= 10,
    }
    if not quick:
        out["peak_mib"] = {
            "vectorised": xac_peak_memory("vectorised", device),
            "per_phrase_loop": xac_peak_memory("loop", device),
        }
    return out


# ---- 3. training steps -----------------------------------------------------------------------------
def world_batch(n: int, size: int):
    cfg = WorldConfig(image_size=size, min_objects=2, max_objects=2)
    world = World(cfg, make_split(cfg, ["attr-holdout:0.25"], seed=0))
    images, samples = world.batch(n, seed=0)
    return images.float() / 255.0, samples


def method_step(method: str, backbone: BackboneConfig, images, samples, device: str):
    """A closure running one optimiser step of `method` on the batch (inputs prepared outside, as a
    data loader would)."""
    torch.manual_seed(0)
    captions = [s.caption for s in samples]
    graphs = [s.graph for s in samples]
    images = images.to(device)
    if method == "oc-clip":
        model = OCCLIP(OCClipConfig(backbone=backbone)).to(device)
        batch = model.collate(graphs)
        loss_fn = OCClipLoss()

        def loss():
            return loss_fn(**model(images, batch))
    elif method == "c2lip":
        model = C2LIP(ClipConfig(backbone)).to(device)
        concepts = collate_concepts(graphs)
        tokens = model.tokenize(captions)
        loss_fn = C2LipLoss(sigmoid=backbone.name.startswith("bindclip-siglip"))

        def loss():
            return loss_fn(**model(images, tokens, concepts.phrases, concepts.owner, concepts.ids))
    else:
        model = CLIP(ClipConfig(backbone)).to(device)
        tokens = model.tokenize(captions)
        loss_fn = SigLipLoss() if method == "siglip" else ClipLoss()

        def loss():
            return loss_fn(**model(images, tokens))

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        total = sum(loss().values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    return step


def bench_steps(device: str, quick: bool, size: int, batch: int) -> dict:
    images, samples = world_batch(batch, size)
    name = f"bindclip-vit-tiny-{size}"
    out = {"backbone": name, "batch": batch, "image_size": size}
    steps = {
        method: method_step(method, BackboneConfig(bb), images, samples, device)
        for method, bb in [
            ("clip", name),
            ("siglip", name.replace("vit", "siglip")),
            ("oc-clip", name),
            ("c2lip", name),
        ]
    }
    times = {m: [] for m in steps}
    for _ in range(1 + (3 if quick else 8)):  # round-robin, so a slow spell hits every method alike
        for m, step in steps.items():
            t = time.perf_counter()
            step()
            if device == "cuda":
                torch.cuda.synchronize()
            times[m].append(time.perf_counter() - t)
    times = {m: min(ts[1:]) for m, ts in times.items()}  # first round is warm-up
    out["step_s"] = {k: round(v, 4) for k, v in times.items()}
    out["ratio_to_clip"] = {k: round(v / times["clip"], 2) for k, v in times.items() if k != "clip"}
    out["bars"] = {"oc-clip": 1.5, "c2lip": 1.3}
    out["pass"] = out["ratio_to_clip"]["oc-clip"] <= 1.5 and out["ratio_to_clip"]["c2lip"] <= 1.3
    return out


# ---- 4. bad input -----------------------------------------------------------------------------------
def bench_bad_input(tmp: str) -> dict:
    model = OCCLIP(OCClipConfig(backbone=BackboneConfig("bindclip-vit-tiny-32"))).eval()
    checks = {}
    try:
        SceneGraph.from_dict(
            {
                "objects": [{"name": "dog"}],
                "caption": "a dog on a mat",
                "relations": [{"subject": 0, "predicate": "on", "object": 3}],
            },
            where="graphs.jsonl:7",
        )
        checks["relation_out_of_range"] = "no error"
    except GraphFormatError as e:
        checks["relation_out_of_range"] = str(e)
    batch = model.collate([SceneGraph([SGObject("dog")], [SGRelation(0, "on", 0)], "a dog")])
    batch.rel_object[0, 0] = 4
    try:
        model.encode_graphs(batch)
        checks["batch_relation_out_of_range"] = "no error"
    except GraphFormatError as e:
        checks["batch_relation_out_of_range"] = str(e)
    path = Path(tmp) / "other.pt"
    torch.save(CLIP(ClipConfig(BackboneConfig("bindclip-vit-tiny-64"))).backbone.state_dict(), path)
    try:
        load_weights(model.backbone, path)
        checks["checkpoint_shapes"] = "no error"
    except CheckpointError as e:
        checks["checkpoint_shapes"] = str(e).replace(tmp, "TMP")
    scores = model.score(torch.rand(2, 3, 32, 32), [SceneGraph(caption=""), SceneGraph(caption="a blur")])
    checks["empty_graph_scores_finite"] = bool(torch.isfinite(scores).all())
    return checks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, loop peers on a corner")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=32, help="world image size for the step benchmark")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "benchmark": "models",
            "device": args.device,
            "threads": torch.get_num_threads(),
            "structured_score": bench_structured_score(args.device, args.quick),
            "xac": bench_xac(args.device, args.quick),
            "train_step": bench_steps(args.device, args.quick, args.size, args.batch),
            "bad_input": bench_bad_input(tmp),
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
