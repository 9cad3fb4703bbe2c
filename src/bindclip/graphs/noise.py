"""Parser errors on purpose: scene graphs corrupted the ways a caption parser gets them wrong.

OC-CLIP trains on parsed graphs, so a parser's mistakes become training signal. Corrupting the
world's gold graphs at a known rate measures what those mistakes cost downstream (the OC-CLIP paper's
open question on parser errors), with the images and captions left exactly as they were.
"""

from __future__ import annotations

import random

from .scene_graph import SYMMETRIC_PREDICATES, SceneGraph, SGObject, SGRelation

CORRUPTIONS = ("drop-relation", "swap-attribute", "drop-object", "reverse-relation")


def corrupt_graphs(graphs: list[SceneGraph], rate: float, seed: int) -> tuple[list[SceneGraph], dict[str, int]]:
    """Each graph, with probability `rate`, gets one corruption drawn among those that change it;
    returns the graphs and how many got each kind (a graph with none applicable stays as it is)."""
    rng = random.Random(seed)
    counts = dict.fromkeys(CORRUPTIONS, 0)
    out = []
    for g in graphs:
        kinds = applicable(g) if rng.random() < rate else []
        if kinds:
            kind = rng.choice(kinds)
            g = CORRUPT[kind](g, rng)
            counts[kind] += 1
        out.append(g)
    return out, counts


def applicable(g: SceneGraph) -> list[str]:
    kinds = []
    if g.relations:
        kinds.append("drop-relation")
    if _attribute_pairs(g):
        kinds.append("swap-attribute")
    if len(g.objects) >= 2:
        kinds.append("drop-object")
    if _reversible(g):
        kinds.append("reverse-relation")
    return kinds


def drop_relation(g: SceneGraph, rng: random.Random) -> SceneGraph:
    k = rng.randrange(len(g.relations))
    return SceneGraph(g.objects, g.relations[:k] + g.relations[k + 1 :], g.caption)


def swap_attribute(g: SceneGraph, rng: random.Random) -> SceneGraph:
    """One attribute of one object exchanged with a different one of another ("red circle, blue
    square" -> "blue circle, red square"): the binding error a parser makes attaching adjectives."""
    i, a, j, b = rng.choice(_attribute_pairs(g))
    objects = list(g.objects)
    for k, old, new in ((i, a, b), (j, b, a)):
        attrs = list(objects[k].attributes)
        attrs[attrs.index(old)] = new
        objects[k] = SGObject(objects[k].name, tuple(attrs))
    return SceneGraph(objects, g.relations, g.caption)


def drop_object(g: SceneGraph, rng: random.Random) -> SceneGraph:
    """One object left out, with its relations (the others keep their order and indices shift)."""
    gone = rng.randrange(len(g.objects))
    new_index = {i: i - (i > gone) for i in range(len(g.objects)) if i != gone}
    rels = [
        SGRelation(new_index[r.subject], r.predicate, new_index[r.object])
        for r in g.relations
        if gone not in (r.subject, r.object)
    ]
    return SceneGraph(g.objects[:gone] + g.objects[gone + 1 :], rels, g.caption)


def reverse_relation(g: SceneGraph, rng: random.Random) -> SceneGraph:
    return g.swapped(rng.choice(_reversible(g)))


CORRUPT = {
    "drop-relation": drop_relation,
    "swap-attribute": swap_attribute,
    "drop-object": drop_object,
    "reverse-relation": reverse_relation,
}


def _attribute_pairs(g: SceneGraph) -> list[tuple[int, str, int, str]]:
    """(object i, its attribute a, object j, its attribute b) with a != b and neither already on the
    other object, so the exchange changes both objects."""
    objs = g.objects
    return [
        (i, a, j, b)
        for i in range(len(objs))
        for j in range(i + 1, len(objs))
        for a in objs[i].attributes
        for b in objs[j].attributes
        if a != b and a not in objs[j].attributes and b not in objs[i].attributes
    ]


def _reversible(g: SceneGraph) -> list[int]:
    """Relations whose reversal changes the scene: not symmetric, between nodes of different text."""
    return [
        k
        for k, r in enumerate(g.relations)
        if r.predicate not in SYMMETRIC_PREDICATES and g.objects[r.subject].text != g.objects[r.object].text
    ]
