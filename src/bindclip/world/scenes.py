"""Scenes: non-overlapping objects on a canvas, and the spatial relations their geometry makes true."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from .concepts import INVERSE, SIZES, WorldConfig


@dataclass(frozen=True)
class WorldObject:
    shape: str
    colour: str
    size: str
    x: float  # centre, fraction of the canvas, left to right
    y: float  # centre, fraction of the canvas, top to bottom
    r: float = 0.0  # radius after jitter, fraction of the canvas

    @property
    def pair(self) -> tuple[str, str]:
        return (self.colour, self.shape)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["x"], d["y"], d["r"] = round(self.x, 4), round(self.y, 4), round(self.r, 4)
        return d


@dataclass(frozen=True)
class Scene:
    objects: tuple[WorldObject, ...]


def relation(a: WorldObject, b: WorldObject, margin: float) -> list[str]:
    """Canonical relations of a to b that are visibly true: centres apart by more than
    `margin` x the larger radius along that axis, and that axis the dominant one."""
    dx, dy = b.x - a.x, b.y - a.y
    m = margin * max(a.r, b.r)
    out = []
    if abs(dx) > m and abs(dx) >= 0.5 * abs(dy):
        out.append("left of" if dx > 0 else "right of")
    if abs(dy) > m and abs(dy) >= 0.5 * abs(dx):
        out.append("above" if dy > 0 else "below")
    if abs(dy) < 0.5 * max(a.r, b.r) and abs(dx) < 1.5 * (a.r + b.r):
        out.append("next to")
    return out


def true_relations(scene: Scene, margin: float) -> list[tuple[int, str, int]]:
    rels = []
    objs = scene.objects
    for i, a in enumerate(objs):
        for j, b in enumerate(objs):
            if i != j:
                rels += [(i, r, j) for r in relation(a, b, margin)]
    return rels


def canonical_triplet(s_shape: str, rel: str, o_shape: str) -> tuple[str, str, str]:
    """(circle, right of, square) and (square, left of, circle) are one configuration; name it by
    its left-of / above form."""
    if rel in ("right of", "below"):
        return (o_shape, INVERSE[rel], s_shape)
    if rel == "next to":
        return (min(s_shape, o_shape), rel, max(s_shape, o_shape))
    return (s_shape, rel, o_shape)


def place(
    cfg: WorldConfig, concepts: list[tuple[str, str, str]], rng: random.Random, attempts: int = 200
) -> Scene | None:
    """Put (shape, colour, size) objects on the canvas without overlap; None if no layout found."""
    objs: list[WorldObject] = []
    slots = list(range(len(cfg.positions)))
    rng.shuffle(slots)
    for k, (shape, colour, size) in enumerate(concepts):
        r = SIZES[size] * (1 + rng.uniform(-cfg.size_jitter, cfg.size_jitter))
        for _ in range(attempts):
            if cfg.positions:
                px, py = cfg.positions[slots[k]]
                x = px + rng.uniform(-cfg.position_jitter, cfg.position_jitter)
                y = py + rng.uniform(-cfg.position_jitter, cfg.position_jitter)
            else:
                x, y = rng.uniform(r, 1 - r), rng.uniform(r, 1 - r)
            if all(math.hypot(x - o.x, y - o.y) > r + o.r + cfg.gap for o in objs):
                objs.append(WorldObject(shape, colour, size, x, y, r))
                break
        else:
            return None
    return Scene(tuple(objs))
