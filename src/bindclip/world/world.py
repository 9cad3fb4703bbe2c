"""Drawing samples of the world: a scene, its caption and gold graph, for training or testing.

Training samples never contain a held-out (colour, shape) pair, nor any pair of objects whose
geometry realises a held-out (shape, relation, shape) triplet, stated or not. Test samples of
the held-out part are built only from held-out pairs (and state a held-out triplet when the split
holds triplets out).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..graphs import SceneGraph
from .captions import Statement, caption_text, describe, gold_graph
from .concepts import SIZES, WorldConfig, WorldConfigError
from .render import render
from .scenes import Scene, WorldObject, canonical_triplet, place, true_relations
from .splits import Split, make_split

PARTS = ("train", "test", "test-seen")
DEFAULT_SPLIT = ("attr-holdout:0.25",)  # what a run holds out unless data.split says otherwise


@dataclass
class Sample:
    scene: Scene
    statement: Statement
    caption: str
    graph: SceneGraph

    def labels(self) -> dict:
        return {
            "caption": self.caption,
            "graph": self.graph.to_dict(),
            "objects": [o.to_dict() for o in self.scene.objects],
        }


class World:
    def __init__(self, cfg: WorldConfig | None = None, split: Split | None = None):
        self.cfg = cfg or WorldConfig()
        self.split = split or Split()
        unknown = [p for p in self.split.held_out_pairs if p[0] not in self.cfg.colours or p[1] not in self.cfg.shapes]
        if unknown:
            raise WorldConfigError(f"split: held-out pairs {unknown} name colours or shapes not in the world")
        held = set(self.split.held_out_pairs)
        self.train_pairs = [(c, s) for c in self.cfg.colours for s in self.cfg.shapes if (c, s) not in held]
        self.held_pairs = sorted(held) or self.train_pairs

    # ---- the two populations ------------------------------------------------------------------
    def _pairs_for(self, part: str) -> list[tuple[str, str]]:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return self.held_pairs if part == "test" else self.train_pairs

    def allowed(self, scene: Scene, part: str) -> bool:
        rels = true_relations(scene, self.cfg.relation_margin)
        triplets = [canonical_triplet(scene.objects[i].shape, r, scene.objects[j].shape) for i, r, j in rels]
        if part in ("train", "test-seen"):
            return not any(self.split.pair_held(*o.pair) for o in scene.objects) and not any(
                self.split.triplet_held(t) for t in triplets
            )
        return all(self.split.pair_held(*o.pair) for o in scene.objects) or not self.split.held_out_pairs

    def sample(
        self, rng: random.Random, part: str = "train", n_objects: int | None = None, attempts: int = 1000
    ) -> Sample:
        pairs = self._pairs_for(part)
        cfg = self.cfg
        for _ in range(attempts):
            n = n_objects or rng.randint(cfg.min_objects, cfg.max_objects)
            concepts = [(*reversed(rng.choice(pairs)), rng.choice(cfg.sizes)) for _ in range(n)]
            scene = place(cfg, concepts, rng)
            if scene is None or not self.allowed(scene, part):
                continue
            st = describe(scene, rng, cfg.relation_margin)
            if st is None:
                continue
            if part == "test" and self.split.held_out_triplets and st.relations:
                # the held-out relation test states a held-out configuration
                s, canon, _, o = st.relations[0]
                a, b = scene.objects[st.mentions[s].obj], scene.objects[st.mentions[o].obj]
                if not self.split.triplet_held(canonical_triplet(a.shape, canon, b.shape)):
                    continue
            caption = caption_text(scene, st)
            return Sample(scene, st, caption, gold_graph(scene, st, caption))
        raise WorldConfigError(
            f"could not draw a {part} scene with {n_objects or 'any number of'} objects "
            f"in {attempts} attempts; the split or the canvas leaves too little room"
        )

    def batch(
        self, n: int, seed: int, part: str = "train", n_objects: int | None = None
    ) -> tuple[torch.Tensor, list[Sample]]:
        """n samples and their images (uint8 [n, 3, H, W]), deterministic per (seed, part)."""
        rng = random.Random(f"{seed}/{part}")
        samples = [self.sample(rng, part, n_objects) for _ in range(n)]
        return render([s.scene for s in samples], self.cfg, seed=seed), samples


def ordered_pair_scenes(cfg: WorldConfig, size: str | None = None) -> list[Scene]:
    """Every ordered pair of (colour, shape) objects in the first two fixed positions: 576 scenes
    for CLEVR-2D's 8 colours x 3 shapes. The binding probes' full scene set."""
    if len(cfg.positions) < 2:
        raise WorldConfigError("positions: ordered-pair scenes need two fixed positions (see WorldConfig.clevr2d)")
    size = size or cfg.sizes[0]
    r = SIZES[size]
    (x0, y0), (x1, y1) = cfg.positions[:2]
    objs = [(c, s) for c in cfg.colours for s in cfg.shapes]
    return [
        Scene((WorldObject(s1, c1, size, x0, y0, r), WorldObject(s2, c2, size, x1, y1, r)))
        for c1, s1 in objs
        for c2, s2 in objs
    ]


def training_world(world: WorldConfig | None = None, split=DEFAULT_SPLIT, split_seed: int = 0) -> World:
    """The world and held-out split a run trains on (its data.world, data.split and data.split_seed); with
    no arguments, those of a default `bindclip train` run."""
    world = world or WorldConfig()
    return World(world, make_split(world, list(split), seed=split_seed))
