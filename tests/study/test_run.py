import json

import pytest

from bindclip.cli import main, parse_seeds
from bindclip.errors import ConfigError, StaleCacheError
from bindclip.report import report_run
from bindclip.report.tables import study_table
from bindclip.study import Study, Variant, run_study

TINY = ["run.steps=2", "data.batch_size=8", "run.log_every=1"]
STUDY = Study(
    "tiny",
    "Does a two-step run bind?",
    (Variant("oc-clip", "oc-clip"), Variant("no-local", "oc-clip", ("loss.local_weight=0",))),
    budgets={"a": (), "b": ("data.batch_size=4",)},
    metrics=("swap-relation", "swap-attribute"),
    learned_at=90.0,
    seeds=2,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return out, run_study(STUDY, out, world_n=8, overrides=TINY[:1] + TINY[2:], budgets=["b"])


def test_a_study_trains_the_grid_and_summarises_over_seeds(study):
    out, doc = study
    assert [(r["variant"], r["seed"]) for r in doc["runs"]] == [
        ("oc-clip", 0),
        ("no-local", 0),
        ("oc-clip", 1),
        ("no-local", 1),
    ]
    assert all(r["batch_size"] == 4 and r["steps"] == 2 for r in doc["runs"])
    row = doc["summary"]["b"]["no-local"]
    values = [r["accuracy"]["swap-relation"] for r in doc["runs"] if r["variant"] == "no-local"]
    assert row["metrics"]["swap-relation"]["per_seed"] == values
    assert row["learned"]["n"] == 2 and "difference" in row and "difference" not in doc["summary"]["b"]["oc-clip"]
    saved = json.loads((out / "study.json").read_text())
    assert saved["summary"] == doc["summary"] and (out / "study.png").stat().st_size > 1000
    md = (out / "study.md").read_text()
    assert "| variant | swap-relation (95% CI) | per seed | minus oc-clip (paired) | learned (>= 90) |" in md
    html = (out / "report.html").read_text()
    assert 'id="study-tiny"' in html and "Does a two-step run bind?" in html


def test_finished_runs_are_reused_and_other_configs_refused(study, capsys):
    out, doc = study
    again = run_study(STUDY, out, world_n=8, overrides=TINY[:1] + TINY[2:], budgets=["b"])
    assert all(r["train_s"] == 0.0 for r in again["runs"]) and again["summary"] == doc["summary"]
    assert capsys.readouterr().err.count("reusing") == 4
    with pytest.raises(StaleCacheError, match="differs in run.steps"):
        run_study(STUDY, out, world_n=8, overrides=["run.steps=3", *TINY[2:]], budgets=["b"])


def test_each_budget_may_take_its_own_seed_count(study):
    out, doc = study
    both = run_study(STUDY, out, seeds={"a": 1}, world_n=8, overrides=TINY[:1] + TINY[2:])
    assert [(r["budget"], r["seed"]) for r in both["runs"]] == [("a", 0)] * 2 + [("b", 0)] * 2 + [("b", 1)] * 2
    assert both["seeds"] == {"a": 1, "b": 2} and both["summary"]["b"] == doc["summary"]["b"]
    assert "budget a (2 steps x batch 128, 1 seeds," in study_table(both)
    assert "budget b (2 steps x batch 4, 2 seeds," in study_table(both)


def test_a_demo_report_shows_the_studies_beside_it(study, tmp_path):
    out, doc = study
    demo = tmp_path / "demo"
    (demo / "studies" / "tiny").mkdir(parents=True)
    (demo / "demo.json").write_text(json.dumps({"kind": "bindclip-demo", "runs": {}, "results": {}}))
    (demo / "studies" / "tiny" / "study.json").write_text((out / "study.json").read_text())
    assert 'id="study-tiny"' in report_run(demo).read_text()


def test_study_command(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["study", "local-loss", "--seeds", "1", "--budgets", "small", "--out", str(out), "--world-n", "4"]
    assert main(argv + ["run.steps=1", "data.batch_size=4"]) == 0
    printed = capsys.readouterr().out
    assert "local-loss, budget small (1 steps x batch 4, 1 seeds, 4 items per test)" in printed
    assert "no-local-no-shared" in printed and (out / "report.html").is_file()
    assert main(["study", "local-loss", "--budgets", "huge", "--out", str(out)]) == 2
    assert "--budgets: unknown ['huge']" in capsys.readouterr().err


def test_seeds_are_one_count_or_one_per_budget():
    assert parse_seeds("3", STUDY) == {"a": 3, "b": 3}
    assert parse_seeds("b=4", STUDY) == {"b": 4}
    assert parse_seeds("a=1,b=4", STUDY) == {"a": 1, "b": 4}
    for bad in ("0", "x", "c=2", "a=0", "a=", "a=1,b"):
        with pytest.raises(ConfigError, match="--seeds: expected N or BUDGET=N"):
            parse_seeds(bad, STUDY)
