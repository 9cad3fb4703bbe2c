import random

import pytest
import torch

from bindclip.eval.attention import box_cells, box_masses, node_maps
from bindclip.eval.scorer import Scorer
from bindclip.graphs import SceneGraph, SGObject, SGRelation
from bindclip.world import WorldConfig
from bindclip.world.scenes import Scene, WorldObject
from conftest import small_oc_clip

CFG = WorldConfig.clevr2d(image_size=32)
LEFT = WorldObject("circle", "red", "large", 0.28, 0.5, 0.12)
RIGHT = WorldObject("square", "blue", "large", 0.72, 0.5, 0.12)
SCENE = Scene((LEFT, RIGHT))


def test_box_cells_cover_the_patches_the_box_touches():
    cells = box_cells(LEFT, 4)  # x 0.16..0.40 -> columns 0, 1; y 0.38..0.62 -> rows 1, 2
    assert cells.tolist() == [[False] * 4, [True, True, False, False], [True, True, False, False], [False] * 4]


def test_box_masses_follow_the_graph_not_the_node_order():
    # the caption names the right object first: node 0 is the blue square
    graph = SceneGraph(
        (SGObject("square", ("blue",)), SGObject("circle", ("red",))),
        (SGRelation(0, "to the right of", 1),),
        "a blue square to the right of a red circle",
    )
    maps = torch.zeros(2, 4, 4)
    maps[0, 1:3, 2:4] = 0.25  # all of node 0 on the right object's cells
    maps[1, 0, :] = 0.125  # node 1: half on the top row (no object), half on the square, none on its circle
    maps[1, 1:3, 2:4] = 0.125
    assert box_masses(maps, SCENE, graph, CFG) == ([1.0, 0.0], [0.0, 0.5])


def test_a_one_object_scene_has_no_wrong_object_mass():
    maps = torch.full((1, 4, 4), 1 / 16)  # spread over the whole image
    own, other = box_masses(maps, Scene((LEFT,)), SceneGraph((SGObject("circle", ("red",)),), (), "a red circle"), CFG)
    assert own == [0.25] and other == [0.0]


def test_box_masses_reject_a_graph_that_is_false_of_the_scene():
    graph = SceneGraph((SGObject("square", ("red",)),), (), "a red square")
    with pytest.raises(ValueError, match="not true of the scene"):
        box_masses(torch.full((1, 4, 4), 1 / 16), SCENE, graph, CFG)


def test_node_maps_are_distributions_over_the_patch_grid():
    scorer = Scorer(small_oc_clip(), "m")
    graphs = [
        SceneGraph((SGObject("circle", ("red",)), SGObject("square", ("blue",))), (), "x"),
        SceneGraph((SGObject("square", ("blue",)),), (), "y"),
    ]
    maps = node_maps(scorer, torch.rand(2, 3, 32, 32), graphs)
    assert [m.shape for m in maps] == [(2, 4, 4), (1, 4, 4)]
    for m in maps:
        assert torch.allclose(m.sum((1, 2)), torch.ones(len(m)), atol=1e-5)


def test_node_maps_need_a_structured_model():
    from bindclip.models import CLIP, BackboneConfig, ClipConfig

    with pytest.raises(TypeError, match="OC-CLIP"):
        node_maps(
            Scorer(CLIP(ClipConfig(BackboneConfig("bindclip-vit-tiny-32"))), "clip"), torch.rand(1, 3, 32, 32), []
        )


@pytest.mark.slow
def test_a_trained_oc_clip_puts_each_node_on_its_own_object(trained_oc_clip):
    """The bar behind the report's attention maps: on held-out images of two different objects, a node's
    binding mass lies mostly inside the box of the object it names (the rest is mostly background), and
    nearly every node puts more of it on its own object than on the other."""
    from bindclip.eval.scorer import load_scorer
    from bindclip.world.render import render

    scorer = load_scorer(str(trained_oc_clip))
    world = scorer.world
    rng = random.Random(7)
    samples = [
        s
        for s in (world.sample(rng, "test", n_objects=2) for _ in range(120))
        if s.scene.objects[0].pair != s.scene.objects[1].pair
    ][:100]
    assert all(world.split.pair_held(*o.pair) for s in samples for o in s.scene.objects)
    maps = node_maps(scorer, render([s.scene for s in samples], world.cfg, seed=7), [s.graph for s in samples])
    own, other = (
        torch.tensor(x) for x in zip(*(box_masses(m, s.scene, s.graph, world.cfg) for m, s in zip(maps, samples)))
    )
    assert own.mean() > 0.5 and other.mean() < 0.2
    assert (own > other).float().mean() >= 0.9
