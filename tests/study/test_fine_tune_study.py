"""The fine-tune study: a CLIP pretrained once, every variant fine-tuned from its towers through
model.backbone.pretrained, gains and losses against the pretrained model, the claims and the lr sweep."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bindclip.cli import main
from bindclip.study import Study, Variant, run_study
from bindclip.study.run import study_config, sweep_cells
from bindclip.study.specs import Claim, Sweep, get_study
from bindclip.train.export import load
from bindclip.train.loop import build_model

TINY = ["run.steps=2", "data.batch_size=8", "run.log_every=1"]
STUDY = Study(
    "tiny-ft",
    "Does a two-step fine-tune keep what the pretraining learned?",
    (Variant("clip-ft", "clip"), Variant("oc-clip", "oc-clip")),
    budgets={"short": ()},
    metrics=("swap-attribute", "zero-shot", "retrieval-r@1"),
    seeds=2,
    pretrain=(),
    claims=(Claim("OC-CLIP binds better", "oc-clip", "clip-ft", "swap-attribute", "higher"),),
    sweeps=(Sweep("optim.backbone_lr", (0.0, 1e-5), 1e-5, ("clip-ft",), "short", seeds=1),),
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("fine-tune")
    return out, run_study(STUDY, out, world_n=8, overrides=TINY)


def test_every_variant_fine_tunes_the_pretrained_towers(study):
    out, doc = study
    towers = out / "pretrain" / "towers.safetensors"
    assert doc["pretrained"]["variant"] == "pretrained" and towers.is_file()
    for r in doc["runs"] + doc["sweeps"][0]["runs"]:
        saved = json.loads((Path(r["dir"]) / "config.json").read_text())
        assert saved["model"]["backbone"]["pretrained"] == str(towers)
        assert saved["optim"]["lr"] == 1e-3  # the fine-tuning defaults: new modules 1e-3 ...
        assert saved["optim"]["backbone_lr"] == (0.0 if r.get("value") == 0.0 else 1e-5)  # ... towers 1e-5
    # changes from the pretrained model, paired by seed, for every metric
    row = doc["summary"]["short"]["oc-clip"]
    zs = doc["pretrained"]["accuracy"]["zero-shot"]
    assert row["change"]["zero-shot"]["mean"] == pytest.approx(row["metrics"]["zero-shot"]["mean"] - zs, abs=0.02)


def test_a_variants_first_step_sees_the_pretrained_towers(study):
    """The model a fine-tune starts from (before its first step) has the pretrained run's towers."""
    out, _ = study
    pretrained = load(out / "pretrain")
    images = torch.rand(4, 3, 32, 32)
    texts = ["a red circle left of a blue square", "a green star", "a cube", "two yellow triangles"]
    for variant in STUDY.variants:
        cfg = study_config(STUDY, "short", variant, 0, TINY, out / "pretrain" / "towers.safetensors")
        model = build_model(cfg).eval()
        with torch.no_grad():
            for encode in ("encode_image", "encode_text"):
                x = images if encode == "encode_image" else pretrained.tokenize(texts)
                a, b = getattr(model.backbone, encode)(x), getattr(pretrained.backbone, encode)(x)
                assert F.cosine_similarity(a, b).min() >= 0.9999, (variant.name, encode)


def test_towers_at_rate_zero_keep_every_figure_of_the_pretrained_model(study):
    """CLIP-FT with the towers' learning rate 0 changes nothing: its figures are the pretrained model's."""
    _, doc = study
    frozen = [r for r in doc["sweeps"][0]["runs"] if r["value"] == 0.0]
    assert len(frozen) == 1 and frozen[0]["accuracy"] == doc["pretrained"]["accuracy"]


def test_the_sweeps_default_cell_is_the_grids_run(study):
    out, doc = study
    default = [r for r in doc["sweeps"][0]["runs"] if r["value"] == 1e-5]
    assert [r["dir"] for r in default] == [str(out / "runs" / "short" / "clip-ft" / "seed-0")]
    assert set(doc["sweeps"][0]["summary"]["clip-ft"]) == {"0", "1e-05"} and doc["sweeps"][0]["seeds"] == 1


def test_claims_carry_their_difference_and_verdict(study):
    _, doc = study
    (claim,) = doc["claims"]["short"]
    oc, ft = (doc["summary"]["short"][v]["metrics"]["swap-attribute"]["per_seed"] for v in ("oc-clip", "clip-ft"))
    assert claim["difference"]["mean"] == pytest.approx(sum(a - b for a, b in zip(oc, ft)) / 2, abs=0.01)
    assert claim["verdict"] in ("reproduced", "not reproduced", "inconclusive")


def test_the_report_shows_pretrained_claims_and_sweep(study):
    out, _ = study
    md = (out / "study.md").read_text()
    assert "| pretrained |" in md and "OC-CLIP binds better" in md and "optim.backbone_lr" in md
    html = (out / "report.html").read_text()
    assert "OC-CLIP binds better" in html and "&#34;pretrain&#34;: []" in html
    assert all(f'id="study-tiny-ft-{k}"' in html for k in (1, 2, 3, 4))  # grid, changes, claims, sweep


def test_sweep_seeds_follow_the_budget():
    study = get_study("fine-tune")
    cells = sweep_cells(study, Path("o"), {"short": 1}, ["short"])
    assert len(cells) == 3 * 4 + 3  # three variants x four tower rates, OC-CLIP x three module rates; one seed
    assert cells[2][0] == Path("o/runs/sweep/optim.lr/oc-clip@0.01/seed-0") and cells[2][3] == ("optim.lr=0.01",)
    assert sweep_cells(study, Path("o"), {"long": 5}, ["long"]) == []


@pytest.mark.slow
def test_fine_tune_study_end_to_end_reuses_its_pretraining(tmp_path, capsys):
    argv = ["study", "fine-tune", "--seeds", "1", "--budgets", "long", "--out", str(tmp_path), "--world-n", "4"]
    argv += ["run.steps=2", "data.batch_size=8"]
    assert main(argv) == 0
    first = json.loads((tmp_path / "study.json").read_text())
    assert set(first["summary"]["long"]) == {"clip-ft", "clip-hn", "c2lip", "oc-clip", "oc-clip+c2lip"}
    assert first["pretrained"]["train_s"] > 0 and len(first["claims"]["long"]) == 5
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    again = json.loads((tmp_path / "study.json").read_text())
    assert f"reusing {tmp_path / 'pretrain'}" in err and again["pretrained"]["train_s"] == 0.0
    assert again["summary"] == first["summary"]


def test_a_demo_report_shows_the_fine_tune_study(study, tmp_path):
    from bindclip.report import report_run

    out, _ = study
    demo = tmp_path / "demo"
    (demo / "studies" / "fine-tune").mkdir(parents=True)
    (demo / "demo.json").write_text(json.dumps({"kind": "bindclip-demo", "runs": {}, "results": {}}))
    (demo / "studies" / "fine-tune" / "study.json").write_text((out / "study.json").read_text())
    html = report_run(demo).read_text()
    assert (
        'id="study-tiny-ft"' in html and "change from the pretrained model" in html and "OC-CLIP binds better" in html
    )
