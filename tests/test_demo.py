import json

import pytest

from bindclip.cli import main
from bindclip.demo import RUNS, DemoConfig, check_bars, run_demo

TINY = [
    "data.batch_size=8",
    "run.log_every=1",
    "run.save_every=3",
    "run.keep=1",
    "model.binding.dim=32",
    "model.binding.heads=2",
    "model.obj_dim=16",
    "model.rel_dim=16",
    "model.rel_hidden=16",
    "run.steps=3",
]
PROBES = [
    "probe_epochs=5",
    "complexity_epochs=5",
    "fractions=0.5",
    "families=linear",
    "intervention_scenes=100",
    "complexity_max_train=64",
    "complexity_max_test=64",
]


@pytest.mark.slow
def test_demo_trains_evaluates_probes_and_reports_then_reuses_its_runs(tmp_path, capsys):
    runs = ("clip", "clip-hn", "oc-clip")
    cfg = DemoConfig(
        out=tmp_path,
        runs=runs,
        overrides=TINY,
        world_n=6,
        attention_images=2,
        attention_check=4,
        probe_set=PROBES,
        scratch_steps=5,
        scratch_coverages=(0.5, 0.9),
    )
    doc = run_demo(cfg)
    assert set(doc["runs"]) == set(runs) and all(doc["runs"][r]["steps"] == 3 for r in runs)
    assert all(doc["runs"][r]["curves"]["step"] == [1, 2, 3] for r in runs)
    assert "local_graph_loss" in doc["runs"]["oc-clip"]["curves"]
    for r in runs:  # every run on every held-out world test, the concept-level one included
        assert {"world/swap-attribute", "world/swap-relation", "world/swap-concept", "world/retrieval"} <= set(
            doc["results"][r]
        )
    assert len(doc["attention"]["images"]) == 2 and doc["attention"]["n_nodes"] == 8
    assert (tmp_path / doc["example"]["image"]).stat().st_size > 100  # the README's scoring example
    assert set(doc["probes"]) == {"clip", "oc-clip"} and [p["coverage"] for p in doc["from_scratch"]["points"]] == [
        0.5,
        0.9,
    ]
    names = [b["bar"] for b in doc["bars"]]
    assert any("swap-attribute" in n for n in names) and any("attend" in n for n in names)
    assert all(isinstance(b["passed"], bool) for b in doc["bars"])  # 3 steps: measured, and mostly missed
    err = capsys.readouterr().err  # one line per stage: what the one before took, and the time left
    stages = [line for line in err.splitlines() if line.startswith("[demo")]
    assert len(stages) == len(doc["stages"]) == 3 + 3 + 1 + 2 + 1 + 1
    assert "min left" in stages[0] and all("the stage before took" in line for line in stages[1:])
    assert all(s["seconds"] >= 0 for s in doc["stages"]) and doc["overrides"][0] == "run.steps=240"
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["bars"] == doc["bars"] and (tmp_path / "report.html").stat().st_size > 10_000

    stamp = (tmp_path / "runs" / "clip" / "metrics.jsonl").stat().st_mtime_ns
    capsys.readouterr()
    again = run_demo(cfg)  # a second demo reuses the finished runs and the sweep
    assert (tmp_path / "runs" / "clip" / "metrics.jsonl").stat().st_mtime_ns == stamp
    assert "reusing" in capsys.readouterr().err
    wall = next(b for b in again["bars"] if b["bar"].startswith("demo wall time"))
    assert wall["passed"] is None and "reusing clip" in wall["measured"]  # reused stages time nothing
    assert again["from_scratch"]["reused"] and "from-scratch sweep" in wall["measured"]

    assert main(["report", str(tmp_path), "--output", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text() == (tmp_path / "report.html").read_text()


def test_bars_report_a_miss_plainly():
    res = {
        "oc-clip": {"world/swap-attribute": {"accuracy": 0.7}, "world/swap-relation": {"accuracy": 0.99}},
        "clip": {"world/swap-attribute": {"accuracy": 0.5}, "world/swap-relation": {"accuracy": 0.5}},
    }
    bars = {b["bar"]: b for b in check_bars({"results": res, "seconds": {"total": 901}})}
    assert bars["OC-CLIP minus CLIP, held-out swap-attribute"]["passed"] is False  # 20 pts
    assert bars["OC-CLIP minus CLIP, held-out swap-relation"]["passed"] is True
    assert bars["demo wall time (after the venv is built)"]["passed"] is False


def test_demo_cli_rejects_an_unknown_run(capsys):
    assert main(["demo", "--runs", "clip,nope"]) == 2
    assert "nope" in capsys.readouterr().err and all(r in RUNS for r in ("clip", "oc-clip"))
