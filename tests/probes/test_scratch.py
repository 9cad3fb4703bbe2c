import numpy as np
import pytest
import torch

from bindclip.errors import ConfigError
from bindclip.probes.scratch import (
    ScratchConfig,
    TwoTower,
    batch_loss,
    held_out_accuracy,
    in_batch_accuracy,
    train_objects,
    train_scratch,
)


class OracleTowers:
    """Stands in for TwoTower: a scene is the multi-hot of its objects (shifted by `shift` attribute
    values, a wrong binding when non-zero), a query the one-hot of its object."""

    V, scene_tower, query_tower = 5, "scene", "query"

    def __init__(self, shift: int = 0):
        self.shift = shift

    def eval(self):
        return self

    def train(self):
        return self

    def scene_tokens(self, scenes):
        return scenes

    def object_tokens(self, objects):
        return objects

    def encode(self, tower, tokens):
        V = self.V
        if tower == "query":
            return torch.nn.functional.one_hot(tokens[:, 0] * V + tokens[:, 1], V * V).float()
        x = torch.zeros(len(tokens), V * V)
        for i, scene in enumerate(tokens):
            for a, n in scene:
                x[i, (a + self.shift) % V * V + n] = 1
        return x


def test_both_held_out_tests_score_a_right_binding_1_and_a_wrong_one_0():
    cfg = ScratchConfig(values=5, coverage=0.6)
    held = np.nonzero(~train_objects(cfg))[0]
    right = held_out_accuracy(OracleTowers(), cfg, held, n_scenes=64)
    wrong = held_out_accuracy(OracleTowers(shift=1), cfg, held, n_scenes=64)
    assert right["object_acc"] == 1.0 and right["in_batch_acc"] == 1.0
    assert wrong["objects_1"] == 0.0 and wrong["in_batch_1"] == 0.0


def test_in_batch_test_queries_only_the_batch_objects_and_their_swaps(monkeypatch):
    cfg = ScratchConfig(values=5, coverage=0.6)
    held = np.nonzero(~train_objects(cfg))[0]
    oracle, scenes, queries = OracleTowers(), [], []
    encode, scene_tokens = oracle.encode, oracle.scene_tokens
    monkeypatch.setattr(oracle, "scene_tokens", lambda s: scenes.append(s) or scene_tokens(s))
    monkeypatch.setattr(oracle, "encode", lambda t, x: (t == "query" and queries.append(x.tolist())) or encode(t, x))
    in_batch_accuracy(oracle, cfg, held, batches=1, batch_size=6, max_positives=2)
    asked = {tuple(q) for q in queries[0]}
    present = {o for s in scenes[0] for o in s}
    swaps = {(s[1][0], s[0][1]) for s in scenes[0] if len(s) == 2}
    assert asked <= present | swaps and len(asked & present - swaps) <= 2
    assert swaps <= asked


def test_swap_negatives_outside_the_allowed_objects_are_left_out(monkeypatch):
    model = TwoTower(ScratchConfig(values=4, width=16, out_dim=8, heads=2, layers=1))
    asked = []
    tokens = model.object_tokens
    monkeypatch.setattr(model, "object_tokens", lambda objects: asked.append(objects.tolist()) or tokens(objects))
    scenes = [[(0, 1), (2, 3)]]
    batch_loss(model, scenes)
    assert sorted(map(tuple, asked[-1])) == [(0, 1), (2, 1), (2, 3)]  # the swap (2, 1) is a query
    batch_loss(model, scenes, allowed_swaps={(0, 1), (2, 3)})
    assert sorted(map(tuple, asked[-1])) == [(0, 1), (2, 3)]


def test_swap_negatives_setting_trains_and_rejects_unknown_values():
    small = dict(values=4, width=16, out_dim=8, heads=2, layers=1, batch_size=8, steps=2, coverage=0.5)
    _, result = train_scratch(ScratchConfig(**small, swap_negatives="train"))
    assert result["config"]["swap_negatives"] == "train" and 0 <= result["held_out"]["in_batch_acc"] <= 1
    with pytest.raises(ConfigError, match="swap_negatives"):
        train_scratch(ScratchConfig(**small, swap_negatives="some"))
