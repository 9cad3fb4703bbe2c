"""Held-out splits: which (colour, shape) pairs and which (shape, relation, shape) triplets a
model never sees in training. Seeded, and saved as JSON so every later run uses the same split."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from .concepts import WorldConfig, WorldConfigError

SPLIT_KINDS = ("attr-holdout", "rel-holdout", "coverage")
CANONICAL = ("left of", "above")  # "right of" / "below" name the same configurations reversed


@dataclass
class Split:
    held_out_pairs: list[tuple[str, str]] = field(default_factory=list)  # (colour, shape)
    held_out_triplets: list[tuple[str, str, str]] = field(default_factory=list)  # (shape, canonical, shape)
    specs: list[str] = field(default_factory=list)  # how it was made: "attr-holdout:0.25"
    seed: int = 0

    def __post_init__(self):
        self.held_out_pairs = [tuple(p) for p in self.held_out_pairs]
        self.held_out_triplets = [tuple(t) for t in self.held_out_triplets]
        self._pairs, self._triplets = set(self.held_out_pairs), set(self.held_out_triplets)

    def pair_held(self, colour: str, shape: str) -> bool:
        return (colour, shape) in self._pairs

    def triplet_held(self, triplet: tuple[str, str, str]) -> bool:
        return triplet in self._triplets

    def to_dict(self) -> dict:
        return {
            "specs": self.specs,
            "seed": self.seed,
            "held_out_pairs": [list(p) for p in self.held_out_pairs],
            "held_out_triplets": [list(t) for t in self.held_out_triplets],
        }

    def save(self, path: str | Path):
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Split:
        d = json.loads(Path(path).read_text())
        return cls(d.get("held_out_pairs", []), d.get("held_out_triplets", []), d.get("specs", []), d.get("seed", 0))


def hold_out_pairs(cfg: WorldConfig, fraction: float, rng: random.Random, name: str = "attr-holdout"):
    """Balanced: each colour and each shape loses as few pairs as possible, and keeps at least one
    pair in training, so every colour and every shape alone is still seen."""
    C, S = len(cfg.colours), len(cfg.shapes)
    k = round(fraction * C * S)
    most = C * S - max(C, S)
    if not 0 <= fraction < 1 or k > most:
        raise WorldConfigError(
            f"split {name}:{fraction}: holds out {k} of {C * S} (colour, shape) pairs, but at most {most} can "
            f"go while every colour and every shape keeps a pair in training"
        )
    # walk shuffled "diagonals" (colour i with shape i + d): each one holds out one pair per
    # colour, and one per shape when there are as many shapes as colours
    colours, shapes = list(cfg.colours), list(cfg.shapes)
    rng.shuffle(colours)
    rng.shuffle(shapes)
    offsets = list(range(S))
    rng.shuffle(offsets)
    held: list[tuple[str, str]] = []
    per_colour = dict.fromkeys(colours, 0)
    per_shape = dict.fromkeys(shapes, 0)
    for d in offsets:
        for i in range(C):
            c, sh = colours[i], shapes[(i + d) % S]
            if len(held) < k and (c, sh) not in held and per_colour[c] < S - 1 and per_shape[sh] < C - 1:
                held.append((c, sh))
                per_colour[c] += 1
                per_shape[sh] += 1
    if len(held) < k:
        raise WorldConfigError(
            f"split {name}:{fraction}: could only hold out {len(held)} of {k} pairs "
            f"while keeping every colour and shape in training"
        )
    return sorted(held)


def hold_out_triplets(cfg: WorldConfig, fraction: float, rng: random.Random):
    triplets = [(a, r, b) for a in cfg.shapes for r in CANONICAL for b in cfg.shapes]
    k = round(fraction * len(triplets))
    if not 0 <= fraction < 1 or k >= len(triplets):
        raise WorldConfigError(f"split rel-holdout:{fraction}: fraction must be in [0, 1) ({len(triplets)} triplets)")
    return sorted(rng.sample(triplets, k))


def make_split(cfg: WorldConfig, specs: list[str], seed: int = 0) -> Split:
    """`specs` like ["attr-holdout:0.25", "rel-holdout:0.2"]; coverage:F keeps a fraction F of
    the (colour, shape) objects for training (the binding analysis's coverage sweep)."""
    rng = random.Random(seed)
    pairs, triplets = [], []
    for spec in specs:
        kind, _, value = spec.partition(":")
        if kind not in SPLIT_KINDS:
            raise WorldConfigError(f"split: unknown kind {kind!r} in {spec!r}; use {', '.join(SPLIT_KINDS)}")
        try:
            f = float(value)
        except ValueError:
            raise WorldConfigError(f"split {spec!r}: expected NAME:FRACTION, e.g. attr-holdout:0.25") from None
        if kind == "attr-holdout":
            pairs = hold_out_pairs(cfg, f, rng)
        elif kind == "coverage":
            if not 0 < f <= 1:
                raise WorldConfigError(f"split {spec!r}: coverage must be in (0, 1]")
            pairs = hold_out_pairs(cfg, 1 - f, rng, name="coverage")
        else:
            triplets = hold_out_triplets(cfg, f, rng)
    return Split(pairs, triplets, list(specs), seed)
