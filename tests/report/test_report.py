import json
import os
import re

import pytest
import torch

from bindclip.eval.attention import png_b64
from bindclip.report import ReportError, render_html, report_run, write_report
from bindclip.report.check import browser_available, check_report


def curves(**terms):
    return {"step": [10, 20, 30], "loss": [5.0, 3.0, 1.0], **{k: list(v) for k, v in terms.items()}}


def accuracy(a):
    return {"accuracy": a, "n": 10, "skipped": 0}


def demo_doc() -> dict:
    image = (torch.rand(3, 32, 32) * 255).to(torch.uint8)
    grid = torch.zeros(4, 4)
    grid[1:3, 0:2] = 0.25
    complexity = {
        "curves": {
            "linear": [{"fraction": 0.5, "object_acc": 0.2}, {"fraction": 0.9, "object_acc": 0.3}],
            "product": [{"fraction": 0.5, "object_acc": 0.6}, {"fraction": 0.9, "object_acc": 0.8}],
        }
    }
    probe = {
        "probes": {"test": {"concept_acc": 0.9, "object_acc": 0.5}},
        "additivity": {"fits": {"objects": {"r2_held_out": 0.93}}},
        "complexity": complexity,
    }
    return {
        "kind": "bindclip-demo",
        "preset": "world-small",
        "overrides": [],
        "runs": {
            "clip": {
                "method": "clip",
                "overrides": [],
                "steps": 30,
                "seconds": 1.0,
                "curves": curves(contrastive_loss=[4, 3, 2]),
            },
            "oc-clip": {
                "method": "oc-clip",
                "overrides": [],
                "steps": 30,
                "seconds": 2.0,
                "curves": curves(contrastive_loss=[4, 2, 1], local_graph_loss=[0.69, 0.3, 0.1]),
            },
        },
        "results": {
            "clip": {"world/swap-attribute": accuracy(0.5), "world/swap-concept": accuracy(0.52)},
            "oc-clip": {"world/swap-attribute": accuracy(0.99), "world/swap-concept": accuracy(0.8)},
        },
        "attention": {
            "images": [
                {
                    "caption": "a red circle to the left of a blue square",
                    "image": png_b64(image),
                    "nodes": ["red circle", "blue square"],
                    "maps": [grid.tolist(), grid.flip(1).tolist()],
                    "mass_in_box": [1.0, 1.0],
                }
            ],
            "n_images": 1,
            "n_nodes": 2,
            "mean_mass_in_box": 1.0,
            "share_of_nodes_mostly_in_box": 1.0,
            "mean_mass_on_other_objects": 0.0,
            "share_of_nodes_on_right_object": 1.0,
        },
        "probes": {"clip": probe, "oc-clip": probe},
        "from_scratch": {
            "points": [
                {"coverage": 0.2, "mean": 0.5, "per_seed": [0.5]},
                {"coverage": 0.8, "mean": 0.9, "per_seed": [0.9]},
            ],
            "config": {"steps": 50},
            "seeds": 1,
        },
        "bars": [
            {
                "bar": "OC-CLIP minus CLIP, held-out swap-attribute",
                "measured": "49 pts",
                "target": ">= 30 pts",
                "passed": True,
            },
            {
                "bar": "no-local-loss ablation: relations collapse",
                "measured": "90.0",
                "target": "< 65",
                "passed": False,
            },
        ],
        "config": {"model": {"method": "clip"}},
        "versions": {"bindclip": "0"},
        "seconds": {"total": 3.0},
    }


def test_report_holds_the_table_every_figure_inline_and_says_what_was_missed():
    html = render_html(demo_doc())
    assert '<table id="comparison-table">' in html and "paper: OC-CLIP (PUG)" in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == 5  # training curves, attention maps, two complexity plots, coverage
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # opens offline: nothing to fetch
    assert 'id="missed"' in html and "Missed: no-local-loss ablation: relations collapse" in html
    assert "MISSED" in html and "met" in html


def test_no_missed_banner_when_every_bar_is_met():
    doc = demo_doc()
    doc["bars"] = doc["bars"][:1]
    assert 'id="missed"' not in render_html(doc)


def test_report_run_rebuilds_the_demo_report_from_its_json(tmp_path):
    doc = demo_doc()
    (tmp_path / "demo.json").write_text(json.dumps(doc))
    write_report(doc, tmp_path / "direct.html")
    path = report_run(tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text() == (tmp_path / "direct.html").read_text()


def test_report_of_one_training_run_with_its_eval_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": {"method": "oc-clip"}, "run": {"steps": 20}}))
    (tmp_path / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "loss": 1.0 / s, "contrastive_loss": 1.0 / s, "lr": 0.001}) + "\n" for s in (10, 20)
        )
    )
    (tmp_path / "eval.json").write_text(json.dumps({"models": {"oc": {"world/swap-relation": accuracy(0.9)}}}))
    html = report_run(tmp_path).read_text()
    assert "world/swap-relation" in html and "90.0" in html and "training curves" in html.lower()


def test_report_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(ReportError, match=str(tmp_path)):
        report_run(tmp_path)
    (tmp_path / "demo.json").write_text("{not json")
    with pytest.raises(ReportError, match="demo.json: not valid JSON"):
        report_run(tmp_path)


needs_browser = pytest.mark.skipif(
    not browser_available() and not os.environ.get("BINDCLIP_REQUIRE_BROWSER"),
    reason="no /usr/bin/chromium + chromedriver (CI installs them)",
)


@needs_browser
def test_report_renders_in_headless_chromium(tmp_path):
    path = write_report(demo_doc(), tmp_path / "report.html")
    facts = check_report(path, tmp_path / "shot.png", require=("comparison-table", "bars-table", "probes-table"))
    assert facts["tables"]["comparison-table"] == 2  # two benchmark rows
    assert len(facts["figures"]) == 5 and all(f["width"] > 100 for f in facts["figures"])
    assert facts["screenshot"]["size"][1] > 1000 and (tmp_path / "shot.png").stat().st_size > 10_000


@needs_browser
def test_browser_check_catches_a_figure_that_does_not_decode(tmp_path):
    html = render_html(demo_doc())
    broken = re.sub(r'(id="fig-coverage" alt="coverage curve" src="data:image/png;base64,)[^"]+', r"\1AAAA", html)
    assert broken != html
    (tmp_path / "broken.html").write_text(broken)
    with pytest.raises(AssertionError, match="coverage curve"):
        check_report(tmp_path / "broken.html")
