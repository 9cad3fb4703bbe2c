import pytest

from bindclip.graphs import SceneGraph, SGObject, SGRelation
from bindclip.world import World, WorldConfig, make_split
from bindclip.world.benchmarks import (
    TASKS,
    build_items,
    plausible,
    retrieval_set,
    satisfies,
    zero_shot_classes,
    zero_shot_items,
)
from bindclip.world.scenes import Scene, WorldObject


def test_satisfies_by_hand():
    cfg = WorldConfig()
    scene = Scene(
        (WorldObject("circle", "red", "small", 0.2, 0.5, 0.1), WorldObject("square", "blue", "large", 0.8, 0.5, 0.14))
    )
    red_circle, blue_square = SGObject("circle", ("red",)), SGObject("square", ("large", "blue"))
    assert satisfies(scene, SceneGraph([red_circle, blue_square], [SGRelation(0, "to the left of", 1)]), cfg)
    assert not satisfies(scene, SceneGraph([red_circle, blue_square], [SGRelation(1, "to the left of", 0)]), cfg)
    assert not satisfies(scene, SceneGraph([SGObject("circle", ("blue",))]), cfg)
    assert not satisfies(scene, SceneGraph([SGObject("square", ("small",))]), cfg)
    assert satisfies(scene, SceneGraph([SGObject("shape", ("2",))]), cfg)
    assert not satisfies(scene, SceneGraph([red_circle, red_circle]), cfg)  # needs two red circles


@pytest.fixture(scope="module")
def world():
    cfg = WorldConfig()
    return World(cfg, make_split(cfg, ["attr-holdout:0.25"], seed=0))


@pytest.mark.parametrize("task", TASKS)
def test_every_negative_is_false_here_and_possible_elsewhere(world, task):
    items = build_items(world, task, 150, seed=1)
    assert len(items) == 150
    held = set(world.split.held_out_pairs)
    for it in items:
        assert all(o.pair in held for o in it.scene.objects)  # the held-out split
        assert satisfies(it.scene, it.positive_graph, world.cfg)
        for neg, g in zip(it.negatives, it.negative_graphs):
            assert neg != it.positive
            assert not satisfies(it.scene, g, world.cfg)
            assert plausible(g, world.cfg) or task == "count"


def test_items_deterministic(world):
    a = build_items(world, "swap-attribute", 20, seed=3)
    b = build_items(world, "swap-attribute", 20, seed=3)
    assert [i.negatives for i in a] == [i.negatives for i in b]


def test_zero_shot_covers_every_class(world):
    classes = zero_shot_classes(world.cfg)
    assert len(classes) == 64
    items = zero_shot_items(world, n_per_class=2)
    assert sorted({label for _, label in items}) == list(range(64))
    assert all(len(s.objects) == 1 for s, _ in items)


def test_retrieval_set_is_held_out_and_true(world):
    samples = retrieval_set(world, 50)
    held = set(world.split.held_out_pairs)
    assert len(samples) == 50
    assert all(o.pair in held for s in samples for o in s.scene.objects)
    assert all(satisfies(s.scene, s.graph, world.cfg) for s in samples)
