import random

import pytest

from bindclip.graphs import SceneGraph, SGObject, SGRelation
from bindclip.graphs.noise import CORRUPT, CORRUPTIONS, applicable, corrupt_graphs


def scene(pred="left of"):
    return SceneGraph(
        [SGObject("circle", ("red",)), SGObject("square", ("blue",)), SGObject("star", ("green",))],
        [SGRelation(0, pred, 1), SGRelation(1, "above", 2)],
        "a red circle left of a blue square above a green star",
    )


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_each_corruption_changes_the_scene(kind):
    g = scene()
    for seed in range(10):
        bad = CORRUPT[kind](g, random.Random(seed))
        assert bad.meaning() != g.meaning() and bad.caption == g.caption


def test_corruptions_do_what_they_say():
    g, rng = scene(), random.Random(0)
    assert len(CORRUPT["drop-relation"](g, rng).relations) == 1
    dropped = CORRUPT["drop-object"](g, rng)
    assert len(dropped.objects) == 2 and all(r.subject < 2 and r.object < 2 for r in dropped.relations)
    swapped = CORRUPT["swap-attribute"](g, rng)
    assert sorted(a for o in swapped.objects for a in o.attributes) == ["blue", "green", "red"]
    assert [o.name for o in swapped.objects] == ["circle", "square", "star"]
    assert sum(a != b for a, b in zip(swapped.objects, g.objects)) == 2
    rev = CORRUPT["reverse-relation"](g, rng)
    assert sorted(rev.relations, key=str) != sorted(g.relations, key=str) and len(rev.relations) == 2


def test_drop_object_reindexes_relations():
    g = SceneGraph([SGObject("a"), SGObject("b"), SGObject("c")], [SGRelation(2, "on", 1)])
    assert CORRUPT["drop-object"](g, random.Random(1)).relations in ((SGRelation(1, "on", 0),), ())
    gone_a = [CORRUPT["drop-object"](g, random.Random(s)) for s in range(20)]
    assert any(x.relations == (SGRelation(1, "on", 0),) and x.node_texts() == ["b", "c"] for x in gone_a)


def test_only_corruptions_that_change_something_apply():
    sym = SceneGraph([SGObject("circle"), SGObject("square")], [SGRelation(0, "next to", 1)])
    assert "reverse-relation" not in applicable(sym) and "swap-attribute" not in applicable(sym)
    assert applicable(SceneGraph([SGObject("cat")])) == []


def test_rate_is_the_share_of_corrupted_graphs():
    graphs = [scene()] * 2000
    for rate in (0.0, 0.1, 0.4, 1.0):
        out, counts = corrupt_graphs(graphs, rate, seed=0)
        changed = sum(o.meaning() != g.meaning() for o, g in zip(out, graphs))
        assert changed == sum(counts.values())
        assert abs(changed / len(graphs) - rate) < 0.03
    assert corrupt_graphs(graphs, 0.2, seed=3) == corrupt_graphs(graphs, 0.2, seed=3)
    assert min(corrupt_graphs(graphs, 1.0, seed=0)[1].values()) > 400  # all four kinds drawn
