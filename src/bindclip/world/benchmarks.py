"""SugarCrepe-style tests built from the world: an image, its true caption and false ones.

Every negative is checked twice: it is false of the image (no way to map its objects onto the
scene's makes it true), and it describes some other possible scene (known concepts, relations
between distinct objects). Items whose negative cannot be made so are redrawn, not kept.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace

from ..graphs import SceneGraph, SGObject
from .captions import Statement, caption_text, count_caption, gold_graph, mention_text
from .concepts import INVERSE, RELATIONS, WorldConfig
from .scenes import Scene, WorldObject, place, relation
from .world import Sample, World

TASKS = (
    "swap-attribute",
    "swap-relation",
    "replace-attribute",
    "replace-relation",
    "add-object",
    "count",
    "swap-concept",
)
PHRASE_TO_CANON = {p: c for c, ps in RELATIONS.items() for p in ps}


@dataclass
class Item:
    task: str
    scene: Scene
    positive: str
    negatives: list[str]
    positive_graph: SceneGraph
    negative_graphs: list[SceneGraph] = field(default_factory=list)


def assignment(scene: Scene, graph: SceneGraph, cfg: WorldConfig) -> tuple[int, ...] | None:
    """The scene object each node names, for the first mapping that makes the graph true: distinct
    objects matching each node's shape and colour (and size when stated), with every relation holding.
    None if no mapping does. Counting graphs name no single object: their answer is ()."""
    objs = scene.objects
    for node in graph.objects:
        counts = [a for a in node.attributes if a.isdigit()]
        if counts and node.name == "shape":
            return () if int(counts[0]) == len(objs) else None
    if len(graph.objects) > len(objs):
        return None
    for assign in itertools.permutations(range(len(objs)), len(graph.objects)):
        if all(_matches(objs[k], n) for k, n in zip(assign, graph.objects)) and all(
            PHRASE_TO_CANON.get(r.predicate)
            in relation(objs[assign[r.subject]], objs[assign[r.object]], cfg.relation_margin)
            for r in graph.relations
        ):
            return assign
    return None


def satisfies(scene: Scene, graph: SceneGraph, cfg: WorldConfig) -> bool:
    """Is the graph true of the scene (with counts: does the scene hold that many objects)?"""
    return assignment(scene, graph, cfg) is not None


def _matches(o: WorldObject, node: SGObject) -> bool:
    return node.name == o.shape and all(a in (o.colour, o.size) for a in node.attributes)


def plausible(graph: SceneGraph, cfg: WorldConfig) -> bool:
    """Some scene could make it true: known concepts, relations between two different objects."""
    known = set(cfg.colours) | set(cfg.sizes)
    return all(n.name in cfg.shapes and all(a in known for a in n.attributes) for n in graph.objects) and all(
        r.subject != r.object and r.predicate in PHRASE_TO_CANON for r in graph.relations
    )


def _with_mentions(scene: Scene, st: Statement, objects) -> tuple[str, SceneGraph]:
    """Re-caption a statement after changing the scene's objects it mentions."""
    fake = Scene(tuple(objects))
    text = caption_text(fake, st)
    return text, gold_graph(fake, st, text)


def _negative(task: str, sample: Sample, world: World, rng: random.Random):
    scene, st, cfg = sample.scene, sample.statement, world.cfg
    objs = list(scene.objects)
    if task == "swap-attribute":
        a, b = st.mentions[0].obj, st.mentions[1].obj
        if objs[a].colour == objs[b].colour:
            return None
        objs[a], objs[b] = replace(objs[a], colour=objs[b].colour), replace(objs[b], colour=objs[a].colour)
        return _with_mentions(scene, st, objs)
    if task == "swap-relation":
        m = list(st.mentions)
        m[0], m[1] = m[1], m[0]
        return _with_mentions(scene, Statement(st.template, tuple(m), st.relations), objs)
    if task == "replace-attribute":
        k = st.mentions[rng.randrange(len(st.mentions))].obj
        others = [c for c in cfg.colours if c != objs[k].colour]
        objs[k] = replace(objs[k], colour=rng.choice(others))
        return _with_mentions(scene, st, objs)
    if task == "replace-relation":
        s, canon, phrase, o = st.relations[0]
        inv = INVERSE[canon]
        if inv == canon:
            return None  # "next to" has no opposite
        new_phrase = RELATIONS[inv][RELATIONS[canon].index(phrase)]
        rels = ((s, inv, new_phrase, o),) + st.relations[1:]
        return _with_mentions(scene, Statement(st.template, st.mentions, rels), objs)
    if task == "add-object":
        shape, colour = rng.choice(cfg.shapes), rng.choice(cfg.colours)
        extra = WorldObject(shape, colour, rng.choice(cfg.sizes), 0.5, 0.5, 0.0)
        text = f"{sample.caption}; there is also {mention_text(extra, False)}"
        g = sample.graph
        return text, SceneGraph(g.objects + (SGObject(shape, (colour,)),), g.relations, text)
    raise ValueError(f"unknown task {task!r}; tasks: {TASKS}")


def build_items(world: World, task: str, n: int, seed: int = 0, part: str = "test") -> list[Item]:
    """n items of one task on `part` scenes (two objects; count uses 1-4)."""
    rng = random.Random(f"{seed}/{task}")
    items: list[Item] = []
    cfg = world.cfg
    for _ in range(n * 50):
        if len(items) == n:
            break
        if task == "count":
            s = world.sample(rng, part)
            k = len(s.scene.objects)
            pos, pos_g = count_caption(k)
            wrong = rng.choice([m for m in range(1, 5) if m != k])
            neg, neg_g = count_caption(wrong)
            items.append(Item(task, s.scene, pos, [neg], pos_g, [neg_g]))
            continue
        s = world.sample(rng, part, n_objects=2)
        if task == "swap-concept":
            made = concept_item(s.scene, rng)
            if made is not None:
                items.append(made)
            continue
        if not s.statement.relations:
            continue
        made = _negative(task, s, world, rng)
        if made is None:
            continue
        text, g = made
        if (
            text == s.caption
            or satisfies(s.scene, g, cfg)
            or not plausible(g, cfg)
            or not satisfies(s.scene, s.graph, cfg)
        ):
            continue
        items.append(Item(task, s.scene, s.caption, [text], s.graph, [g]))
    if len(items) < n:
        raise RuntimeError(f"{task}: only {len(items)} of {n} valid items could be drawn")
    return items


def concept_item(scene: Scene, rng: random.Random) -> Item | None:
    """The concept-level test (C2LIP's unit of alignment): one object's phrase, "a red square", against
    the same shape with the other object's colour, "a blue square". Both colours and both shapes are in
    the image, so only a model that binds colour to shape beats chance. None when the two objects share
    a colour or a shape (then the negative could be true)."""
    a, b = scene.objects[:2]
    if a.colour == b.colour or a.shape == b.shape:
        return None
    obj, other = (a, b) if rng.random() < 0.5 else (b, a)
    wrong = replace(obj, colour=other.colour)

    def phrase(o: WorldObject) -> tuple[str, SceneGraph]:
        text = mention_text(o, False)
        return text, SceneGraph((SGObject(o.shape, (o.colour,)),), (), text)

    (pos, pos_g), (neg, neg_g) = phrase(obj), phrase(wrong)
    return Item("swap-concept", scene, pos, [neg], pos_g, [neg_g])


def retrieval_set(world: World, n: int, seed: int = 0, part: str = "test") -> list[Sample]:
    """n test scenes with their captions, for image->text and text->image retrieval. A hit is
    any caption true of the image (`satisfies`), since two scenes can share a description."""
    rng = random.Random(f"{seed}/retrieval")
    return [world.sample(rng, part) for _ in range(n)]


def zero_shot_classes(cfg: WorldConfig) -> list[tuple[str, str]]:
    """Every (colour, shape) class, held-out pairs included."""
    return [(c, s) for c in cfg.colours for s in cfg.shapes]


def zero_shot_items(world: World, n_per_class: int = 2, seed: int = 0) -> list[tuple[Scene, int]]:
    """Single-object scenes, each labelled with its (colour, shape) class index."""
    rng = random.Random(f"{seed}/zero-shot")
    out = []
    for label, (colour, shape) in enumerate(zero_shot_classes(world.cfg)):
        for _ in range(n_per_class):
            scene = place(world.cfg, [(shape, colour, rng.choice(world.cfg.sizes))], rng)
            out.append((scene, label))
    return out
