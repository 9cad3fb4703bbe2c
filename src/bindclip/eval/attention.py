"""Which patches each scene-graph node claims: OC-CLIP's binding weights as maps over the image.

A node's map is its binding weights over the patch grid (they sum to 1), so "mass in its box" is the
share of its slot drawn from patches that touch its object. On the world's images the node -> object
assignment comes from the gold graph, so the check needs no detector.
"""
from __future__ import annotations

import math

import torch

from ..graphs import SceneGraph
from ..world.benchmarks import assignment
from ..world.scenes import Scene


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
    return [weights[b, 0, :len(g.objects)].float().cpu().view(-1, side, side) for b, g in enumerate(graphs)]


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
