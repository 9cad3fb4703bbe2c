import json

import pytest

from bindclip.cli import main
from bindclip.diagnose import judge, unique_name
from bindclip.eval.scorer import load_scorer
from bindclip.eval.world import world_for
from bindclip.train import load_config, train
from bindclip.world import training_world
from conftest import TINY_TRAINING as TINY

PROBES = ["probe_epochs=5", "complexity_epochs=5", "fractions=0.5", "families=linear", "intervention_scenes=100"]


def choice(accuracy: float, n: int = 200) -> dict:
    return {"accuracy": accuracy, "n": n}


def test_the_verdict_follows_the_interval_over_items():
    oc = judge({"world/swap-attribute": choice(0.99), "world/swap-relation": choice(0.995)})
    assert oc["summary"] == "binds attributes and relations"
    assert oc["kinds"]["attributes"]["lo"] >= 0.9 and oc["kinds"]["attributes"]["state"] == "binds"
    clip = judge({"world/swap-attribute": choice(0.65), "world/swap-relation": choice(0.475)})
    assert clip["summary"] == "binds neither attributes nor relations"
    # 91 % of 200 items: the interval [86.2, 94.2] crosses 90, so no verdict either way
    mixed = judge({"world/swap-attribute": choice(0.995), "world/swap-relation": choice(0.91)})
    assert mixed["kinds"]["relations"]["state"] == "inconclusive"
    assert mixed["summary"] == "binds attributes (relations inconclusive)"
    one = judge({"world/swap-attribute": choice(0.5), "world/swap-relation": choice(1.0)})
    assert one["summary"] == "binds relations, not attributes"
    unsure = judge({"world/swap-attribute": choice(0.5), "world/swap-relation": choice(0.91)})
    assert unsure["summary"] == "does not bind attributes (relations inconclusive)"
    both = judge({"world/swap-attribute": choice(0.9), "world/swap-relation": choice(0.91)})
    assert both["summary"] == "inconclusive on attributes and relations"
    assert judge({"sugarcrepe/swap_att": choice(0.9)})["summary"].startswith("no verdict")
    assert unique_name("oc-clip", {"oc-clip": 1, "oc-clip#2": 1}) == "oc-clip#3"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnose-runs")
    for method in ("clip", "oc-clip"):
        train(load_config(None, TINY, method=method, preset="world-small"), root / method, progress=False)
    return root


def test_diagnose_puts_two_models_side_by_side(two_runs, tmp_path, capsys):
    out = tmp_path / "diag"
    argv = ["diagnose", "--model", str(two_runs / "clip"), "--model", str(two_runs / "oc-clip"), "--bench", "world"]
    argv += ["--out", str(out), "--world-n", "6", *[a for s in PROBES for a in ("--set", s)]]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    doc = json.loads((out / "diagnose.json").read_text())
    assert list(doc["models"]) == ["clip", "oc-clip"] and doc["models"]["oc-clip"]["parser"] == "spacy"
    for name in ("clip", "oc-clip"):
        assert doc["results"][name]["world/swap-attribute"]["n"] == 6
        assert set(doc["models"][name]["verdict"]["kinds"]) == {"attributes", "relations"}
        assert doc["probes"][name]["sizes"]["families"] == ["linear"]  # the demo size with --set applied
        assert (out / "probes" / name / "results.json").is_file()
        assert doc["models"][name]["verdict"]["summary"] in printed
    html = (out / "report.html").read_text()
    assert 'id="verdicts-table"' in html and 'id="probes-table"' in html and 'id="comparison-table"' in html
    assert html.count("<td>oc-clip</td>") >= 2  # a verdict row and a probe row
    assert main(["report", str(out), "--output", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text() == html


def test_an_outside_model_is_tested_at_its_own_input_size(tmp_path):
    """An open_clip name (random weights here: no file) on the world of a default run, at its 64 px."""
    out = tmp_path / "diag"
    argv = ["diagnose", "--model", "bindclip-vit-tiny-64", "--out", str(out), "--world-n", "4", "--no-probes"]
    assert main(argv) == 0
    doc = json.loads((out / "diagnose.json").read_text())
    assert doc["results"]["bindclip-vit-tiny-64"]["world/swap-attribute"]["n"] == 4 and not doc["probes"]
    for name, size in (("bindclip-vit-tiny-64", 64), ("bindclip-vit-tiny-32", 32)):
        world = world_for(load_scorer(name))
        assert world.cfg.image_size == size and world.split == training_world().split  # same held-out pairs


def test_diagnose_refuses_a_bad_benchmark_before_loading_a_model(tmp_path, capsys):
    assert main(["diagnose", "--model", str(tmp_path / "nothing"), "--bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
