"""Captions of world scenes, each with the gold scene graph it states.

A caption mentions objects as "[size] colour shape" and states at most one relation per pair,
always one the geometry makes true. The gold graph lists objects in the order the caption
mentions them, which is also the order bindclip's parser reads them back (tested per template).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from ..graphs import SceneGraph, SGObject, SGRelation
from .concepts import NUMBER_NAMES, RELATIONS
from .scenes import Scene, WorldObject, relation

# {A}, {B}, ... are object mentions; {r} {r2} relation phrases
TEMPLATES = {
    1: ("{A}", "there is {A}"),
    2: ("{A} {r} {B}", "there is {B}; {A} is {r} it", "two objects: {A} {r} {B}"),
    3: ("{A} {r} {B}; there is also {C}", "three objects: {A} {r} {B}; there is also {C}"),
    4: ("{A} {r} {B}; {C} {r2} {D}", "four objects: {A} {r} {B}. {C} {r2} {D}"),
}


@dataclass(frozen=True)
class Mention:
    obj: int  # index into the scene's objects
    say_size: bool


@dataclass(frozen=True)
class Statement:
    """What a caption says about a scene: the objects in mention order and relations between
    mentioned objects (subject mention, canonical relation, phrase, object mention)."""

    template: str
    mentions: tuple[Mention, ...]
    relations: tuple[tuple[int, str, str, int], ...]  # (subject mention, canonical, phrase, object mention)


def phrasings(canon: str, template: str) -> tuple[str, ...]:
    """Bare "left of" reads as the verb "leave" right after a noun; it is said only after "is"."""
    return (
        RELATIONS[canon]
        if " is {r}" in template
        else tuple(p for p in RELATIONS[canon] if p not in ("left of", "right of"))
    )


def mention_text(o: WorldObject, say_size: bool) -> str:
    words = f"{o.size} {o.colour} {o.shape}" if say_size else f"{o.colour} {o.shape}"
    return ("an " if words[0] in "aeiou" else "a ") + words


def describe(scene: Scene, rng: random.Random, margin: float, size_prob: float = 0.5) -> Statement | None:
    """Pick a template and the true relations it states. None if the scene has no pair with a
    visible relation where the template needs one."""
    n = len(scene.objects)
    template = rng.choice(TEMPLATES[n])
    order = list(range(n))
    rng.shuffle(order)
    rels = []
    # the pairs a template relates: (A, B) and, for four objects, (C, D)
    pairs = [(0, 1)] if n in (2, 3) else [(0, 1), (2, 3)] if n == 4 else []
    for a, b in pairs:
        true = relation(scene.objects[order[a]], scene.objects[order[b]], margin)
        if not true:
            true = relation(scene.objects[order[b]], scene.objects[order[a]], margin)
            if not true:
                return None
            order[a], order[b] = order[b], order[a]
        canon = rng.choice(true)
        rels.append((a, canon, rng.choice(phrasings(canon, template)), b))
    mentions = tuple(Mention(i, rng.random() < size_prob) for i in order)
    return Statement(template, mentions, tuple(rels))


def caption_text(scene: Scene, st: Statement) -> str:
    keys = "ABCD"
    fill = {keys[k]: mention_text(scene.objects[m.obj], m.say_size) for k, m in enumerate(st.mentions)}
    for k, (_, _, phrase, _) in enumerate(st.relations):
        fill["r" if k == 0 else "r2"] = phrase
    return st.template.format(**fill)


def gold_graph(scene: Scene, st: Statement, caption: str) -> SceneGraph:
    """The graph in the order the parser reads the caption: for "there is a {B}; a {A} is ..."
    B comes first."""
    keys = "ABCD"
    slots = [keys.index(k) for k in _placeholders(st.template)]  # mention index per appearance
    objs = []
    for k in slots:
        m = st.mentions[k]
        o = scene.objects[m.obj]
        attrs = (o.size, o.colour) if m.say_size else (o.colour,)
        objs.append(SGObject(o.shape, attrs))
    pos = {k: i for i, k in enumerate(slots)}
    rels = [SGRelation(pos[s], phrase, pos[t]) for s, _, phrase, t in st.relations]
    return SceneGraph(objs, rels, caption)


def _placeholders(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f and f in "ABCD"]


def count_caption(n: int, noun: str = "shapes") -> tuple[str, SceneGraph]:
    text = f"{NUMBER_NAMES[n]} {noun}"
    return text, SceneGraph([SGObject(noun[:-1], (str(n),))], [], text)
