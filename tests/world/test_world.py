import random
from collections import Counter

import pytest
import torch

from bindclip.world import World, WorldConfig, WorldConfigError, make_split
from bindclip.world.captions import TEMPLATES
from bindclip.world.concepts import COLOURS
from bindclip.world.render import render
from bindclip.world.scenes import Scene, WorldObject, canonical_triplet, relation, true_relations
from bindclip.world.world import ordered_pair_scenes


def obj(shape="circle", colour="red", x=0.5, y=0.5, r=0.1, size="small"):
    return WorldObject(shape, colour, size, x, y, r)


@pytest.mark.parametrize(
    "kw, param",
    [
        ({"image_size": 16}, "image_size"),
        ({"image_size": 300}, "image_size"),
        ({"shapes": ("circle", "blob")}, "shapes"),
        ({"colours": ("red", "mauve")}, "colours"),
        ({"max_objects": 5}, "max_objects"),
        ({"positions": ((0.3, 0.5),), "max_objects": 2, "min_objects": 2}, "positions"),
    ],
)
def test_bad_config_names_the_parameter(kw, param):
    with pytest.raises(WorldConfigError, match=param):
        WorldConfig(**kw)


def test_impossible_splits_name_the_split():
    cfg = WorldConfig()
    with pytest.raises(WorldConfigError, match="attr-holdout:0.95"):
        make_split(cfg, ["attr-holdout:0.95"])
    with pytest.raises(WorldConfigError, match="rel-holdout"):
        make_split(cfg, ["rel-holdout:1.0"])
    with pytest.raises(WorldConfigError, match="unknown kind"):
        make_split(cfg, ["shape-holdout:0.1"])


def test_pair_split_is_balanced_seeded_and_keeps_every_concept():
    cfg = WorldConfig()
    split = make_split(cfg, ["attr-holdout:0.25"], seed=3)
    assert len(split.held_out_pairs) == 16
    assert Counter(c for c, _ in split.held_out_pairs) == {c: 2 for c in cfg.colours}
    assert Counter(s for _, s in split.held_out_pairs) == {s: 2 for s in cfg.shapes}
    assert make_split(cfg, ["attr-holdout:0.25"], seed=3).held_out_pairs == split.held_out_pairs
    assert make_split(cfg, ["attr-holdout:0.25"], seed=4).held_out_pairs != split.held_out_pairs
    cov = make_split(cfg, ["coverage:0.8"])
    assert len(cov.held_out_pairs) == round(0.2 * 64)


def test_relations_from_geometry_with_margin():
    a, b = obj(x=0.2, y=0.5), obj(x=0.8, y=0.5)
    assert relation(a, b, 0.5) == ["left of"] and relation(b, a, 0.5) == ["right of"]
    assert relation(obj(x=0.5, y=0.2), obj(x=0.5, y=0.8), 0.5) == ["above"]
    assert relation(obj(x=0.5), obj(x=0.53, y=0.51), 0.5) == ["next to"]  # no direction to say
    assert relation(obj(x=0.3), obj(x=0.55), 0.5) == ["left of", "next to"]
    assert relation(obj(x=0.3, y=0.3), obj(x=0.55, y=0.55), 0.5) == ["left of", "above"]
    assert canonical_triplet("star", "right of", "heart") == ("heart", "left of", "star")
    assert canonical_triplet("star", "next to", "heart") == ("heart", "next to", "star")


def test_parser_reads_back_every_template(spacy_parser):
    world = World(WorldConfig())
    rng = random.Random(0)
    samples = [world.sample(rng) for _ in range(1500)]
    graphs = spacy_parser.parse([s.caption for s in samples])
    seen = Counter()
    for s, g in zip(samples, graphs):
        seen[s.statement.template] += 1
        assert g.same_structure(s.graph), (s.caption, g.to_dict(), s.graph.to_dict())
    assert set(seen) == {t for ts in TEMPLATES.values() for t in ts}


def test_no_held_out_pair_or_triplet_in_100k_training_draws():
    cfg = WorldConfig()
    world = World(cfg, make_split(cfg, ["attr-holdout:0.25", "rel-holdout:0.25"], seed=1))
    held_p, held_t = set(world.split.held_out_pairs), set(world.split.held_out_triplets)
    rng = random.Random(0)
    for _ in range(100_000):
        sc = world.sample(rng, "train").scene
        assert not any(o.pair in held_p for o in sc.objects)
        for i, r, j in true_relations(sc, cfg.relation_margin):
            assert canonical_triplet(sc.objects[i].shape, r, sc.objects[j].shape) not in held_t
    test = [world.sample(rng, "test") for _ in range(200)]
    assert all(o.pair in held_p for s in test for o in s.scene.objects)


def test_render_deterministic_and_correct_colours():
    cfg = WorldConfig(texture=0.0, hue_jitter=0.0)
    scene = Scene((obj("square", "red", 0.25, 0.5, 0.12), obj("circle", "blue", 0.75, 0.5, 0.12)))
    img = render([scene], cfg, seed=0)[0]
    assert img.shape == (3, 64, 64) and img.dtype == torch.uint8
    assert img[:, 32, 16].tolist() == list(COLOURS["red"])
    assert img[:, 32, 48].tolist() == list(COLOURS["blue"])
    assert img[:, 4, 4].tolist() == list(cfg.background)
    # the circle does not fill its bounding box's corner, the square does
    assert img[:, 32 - 6, 48 - 6].tolist() != list(COLOURS["blue"])
    assert img[:, 32 - 5, 16 - 5].tolist() == list(COLOURS["red"])
    noisy = WorldConfig()
    assert torch.equal(render([scene], noisy, seed=5), render([scene], noisy, seed=5))
    for size in (32, 224):
        assert render([scene], WorldConfig(image_size=size), seed=0).shape == (1, 3, size, size)


def test_clevr2d_ordered_pairs():
    cfg = WorldConfig.clevr2d()
    scenes = ordered_pair_scenes(cfg)
    assert len(scenes) == 576
    assert len({tuple(o.pair for o in s.objects) for s in scenes}) == 576
    world = World(cfg)
    s = world.sample(random.Random(0))
    assert len(s.scene.objects) == 2 and s.statement.relations
