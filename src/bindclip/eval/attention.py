"""Which patches each scene-graph node claims: OC-CLIP's binding weights as maps over the image.

A node's map is its binding weights over the patch grid (they sum to 1), so "mass in its box" is the
share of its slot drawn from patches that touch its object. On the world's images the node -> object
assignment comes from the gold graph, so the check needs no detector.
"""

from __future__ import annotations

import base64
import io
import math
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..graphs import SceneGraph
from ..world.benchmarks import assignment
from ..world.render import render
from ..world.scenes import Scene
from .scorer import load_scorer


@torch.no_grad()
def node_maps(scorer, images, graphs: list[SceneGraph]) -> list[torch.Tensor]:
    """Per image b, its graph's binding weights [N_b, H, W] over the patch grid (OC-CLIP scorers only)."""
    if not scorer.structured:
        raise TypeError(f"{scorer.name}: attention maps need an OC-CLIP model (it binds nodes to patches)")
    model = scorer.model
    patches = model.encode_patches(scorer.prepare(images))  # [B, T, d]
    state = model.encode_graphs(model.collate(graphs, counterfactuals=False))
    diag = torch.arange(len(graphs))
    rows = [getattr(state, f)[diag, None] for f in ("nodes", "node_mask")]  # one graph per image: aligned
    weights, _ = model.binding(patches, *rows, aligned=True)  # [B, 1, N, T]
    side = math.isqrt(patches.shape[1])
    if side * side != patches.shape[1]:
        raise ValueError(f"{patches.shape[1]} patch tokens do not form a square grid")
    return [weights[b, 0, : len(g.objects)].float().cpu().view(-1, side, side) for b, g in enumerate(graphs)]


def box_cells(obj, grid: int) -> torch.Tensor:
    """[grid, grid] bool: the patch cells that the object's bounding box touches."""
    lo_x, hi_x = obj.x - obj.r, obj.x + obj.r
    lo_y, hi_y = obj.y - obj.r, obj.y + obj.r
    edges = torch.arange(grid + 1) / grid
    cols = (edges[1:] > lo_x) & (edges[:-1] < hi_x)
    rows = (edges[1:] > lo_y) & (edges[:-1] < hi_y)
    return rows[:, None] & cols[None, :]


def box_masses(maps: torch.Tensor, scene: Scene, graph: SceneGraph, cfg) -> tuple[list[float], list[float]]:
    """For each node, (the share of its binding weights on the cells of the object it names, the share
    on the other objects' cells that are not also its own: the wrong-object share)."""
    match = assignment(scene, graph, cfg)
    if match is None:
        raise ValueError(f"graph {graph.caption!r} is not true of the scene, so its nodes name no objects")
    boxes = [box_cells(o, maps.shape[-1]) for o in scene.objects]
    own, other = [], []
    for i, k in enumerate(match):
        others = torch.stack([b for j, b in enumerate(boxes) if j != k] or [torch.zeros_like(boxes[k])]).any(0)
        own.append(round(float((maps[i] * boxes[k]).sum()), 6))
        other.append(round(float((maps[i] * (others & ~boxes[k])).sum()), 6))
    return own, other


def png_b64(image) -> str:
    """uint8 [3, H, W] tensor -> base64 PNG, so the JSON carries the picture the map is drawn on."""
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def attention_study(run_dir: Path, n_show: int, n_check: int, seed: int = 0) -> dict:
    """OC-CLIP's node maps on held-out two-object images of two different objects: a few to show, and
    over n_check images the share of each node's binding mass inside the box of the object it names."""
    scorer = load_scorer(str(run_dir))
    world = scorer.world
    rng = random.Random(f"{seed}/attention")
    samples = []
    while len(samples) < max(n_show, n_check):  # two identical objects would make "its object" ambiguous
        s = world.sample(rng, "test", n_objects=2)
        if s.scene.objects[0].pair != s.scene.objects[1].pair:
            samples.append(s)
    images = render([s.scene for s in samples], world.cfg, seed=seed)
    maps = node_maps(scorer, images, [s.graph for s in samples])
    mass, wrong = zip(*(box_masses(m, s.scene, s.graph, world.cfg) for m, s in zip(maps, samples)))
    flat = np.array([v for row in mass for v in row])
    flat_wrong = np.array([v for row in wrong for v in row])
    shown = [
        {
            "caption": s.caption,
            "image": png_b64(images[k]),
            "nodes": [" ".join((*o.attributes, o.name)) for o in s.graph.objects],
            "maps": maps[k].tolist(),
            "mass_in_box": mass[k],
        }
        for k, s in enumerate(samples[:n_show])
    ]
    return {
        "run": run_dir.name,
        "images": shown,
        "n_images": n_check,
        "n_nodes": int(flat.size),
        "mean_mass_in_box": round(float(flat.mean()), 4),
        "share_of_nodes_mostly_in_box": round(float((flat > 0.5).mean()), 4),
        "mean_mass_on_other_objects": round(float(flat_wrong.mean()), 4),
        "share_of_nodes_on_right_object": round(float((flat > flat_wrong).mean()), 4),
    }
