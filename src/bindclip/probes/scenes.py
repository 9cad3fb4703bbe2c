"""The binding analysis's scene sets: every ordered pair of two objects, with its concept labels.

An object is one value per concept (attribute, noun) and a scene an ordered pair of objects: slot 0 is
the first object of the caption, or the left one in the image. labels[s, i, k] is the value of concept
k of object i in scene s; object ids are attribute * n_nouns + noun, fixed by the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..world import WorldConfig
from ..world.world import ordered_pair_scenes

# the paper's text world: 20 attributes x 20 nouns, "a red square and a blue circle"
ATTRIBUTES = (
    "red blue green yellow purple orange pink brown gray black small large tiny round sharp rough "
    "bumpy smooth matte glossy"
).split()
NOUNS = (
    "circle square triangle star heart spiral sphere cylinder cone pyramid car cat dog man woman tree flower "
    "rock bird fish".split()
)


@dataclass
class SceneSet:
    name: str
    concepts: tuple[str, str]  # (attribute concept, object concept), e.g. ("colour", "shape")
    values: tuple[tuple[str, ...], tuple[str, ...]]
    labels: np.ndarray  # int [S, 2, 2]
    texts: list[str] | None = None  # captions (text scenes)
    scenes: list | None = field(default=None, repr=False)  # world Scenes to render (image scenes)
    world: object = field(default=None, repr=False)  # the WorldConfig that renders them

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.values[0]), len(self.values[1])

    @property
    def n_objects(self) -> int:
        return self.sizes[0] * self.sizes[1]

    def object_ids(self) -> np.ndarray:
        """[S, 2] object id of each slot."""
        return self.labels[..., 0] * self.sizes[1] + self.labels[..., 1]

    def pair_index(self, o1, o2):
        """Row of the scene (o1, o2) in a full ordered-pair set (object-major, as all_pairs builds it)."""
        return o1 * self.n_objects + o2

    def is_full_grid(self) -> bool:
        ids = self.object_ids()
        return len(ids) == self.n_objects**2 and bool(
            (self.pair_index(ids[:, 0], ids[:, 1]) == np.arange(len(ids))).all()
        )

    def object_name(self, oid: int) -> str:
        a, n = divmod(int(oid), self.sizes[1])
        return f"{self.values[0][a]} {self.values[1][n]}"

    def label_dict(self) -> dict:
        return {
            "name": self.name,
            "concepts": list(self.concepts),
            "values": [list(v) for v in self.values],
            "labels": self.labels.tolist(),
        }


def all_pairs(sizes: tuple[int, int]) -> np.ndarray:
    """[U*U, 2, 2] labels of every ordered pair of the U = sizes[0] * sizes[1] objects (object-major order)."""
    objects = np.array([(a, n) for a in range(sizes[0]) for n in range(sizes[1])])
    first, second = np.meshgrid(np.arange(len(objects)), np.arange(len(objects)), indexing="ij")
    return np.stack([objects[first.ravel()], objects[second.ravel()]], axis=1)


def text_scenes(n_values: int = 20) -> SceneSet:
    """The paper's text scenes: n attributes x n nouns, every ordered pair (160,000 at n = 20)."""
    if not 2 <= n_values <= 20:
        raise ConfigError(f"text_values: must be in 2..20 (the paper's vocabulary has 20 of each), got {n_values}")
    values = (tuple(ATTRIBUTES[:n_values]), tuple(NOUNS[:n_values]))
    labels = all_pairs((n_values, n_values))
    texts = [
        f"a {values[0][a1]} {values[1][n1]} and a {values[0][a2]} {values[1][n2]}" for (a1, n1), (a2, n2) in labels
    ]
    return SceneSet(f"text{n_values}x{n_values}", ("attribute", "noun"), values, labels, texts=texts)


def world_scenes(cfg=None) -> SceneSet:
    """Images of the world: two objects at fixed left/right positions, every ordered (colour, shape) pair.
    Default: the paper's CLEVR-2D (8 colours x 3 shapes, 576 scenes)."""
    cfg = cfg or WorldConfig.clevr2d()
    scenes = ordered_pair_scenes(cfg)
    ci, si = {c: i for i, c in enumerate(cfg.colours)}, {s: i for i, s in enumerate(cfg.shapes)}
    labels = np.array([[[ci[o.colour], si[o.shape]] for o in sc.objects] for sc in scenes])
    name = f"world{len(cfg.colours)}x{len(cfg.shapes)}@{cfg.image_size}"
    return SceneSet(name, ("colour", "shape"), (cfg.colours, cfg.shapes), labels, scenes=scenes, world=cfg)
