import json

import pytest
import torch

from bindclip.cli import main
from bindclip.eval.scorer import Scorer, load_scorer
from bindclip.eval.world import evaluate_world
from bindclip.models import BackboneConfig
from bindclip.models.clip import CLIP, ClipConfig
from bindclip.models.preprocess import PreprocessConfig
from bindclip.world import World
from conftest import small_oc_clip


def tiny_clip():
    torch.manual_seed(0)
    return CLIP(ClipConfig(BackboneConfig("bindclip-vit-tiny-32"))).eval()


@pytest.mark.parametrize("make", [tiny_clip, small_oc_clip], ids=["clip", "oc-clip"])
def test_option_scores_agree_with_the_full_matrix(make):
    """OC-CLIP scores an image's own options in the aligned layout; it must equal the cross layout's."""
    scorer = Scorer(make(), "m")
    images, samples = World().batch(3, seed=1)
    options = [
        ["a red circle left of a blue square", "a blue circle"],
        ["a green cube", "two shapes"],
        [samples[2].caption, "a red square above a red circle"],
    ]
    pairs = scorer.option_scores(images, options)
    full = scorer.score(images, [c for o in options for c in o])  # [6, 3]
    expected = torch.stack([full[2 * b : 2 * b + 2, b] for b in range(3)])
    torch.testing.assert_close(pairs, expected, atol=1e-5, rtol=1e-5)


def test_structured_scorer_parses_each_caption_once():
    scorer = Scorer(small_oc_clip(), "m")
    calls = []
    parse = scorer.model.parse
    scorer.model.parse = lambda caps: calls.append(list(caps)) or parse(caps)
    scorer.parse_ahead(["a red cube", "a red cube", "a blue ball"])
    scorer.graphs(["a blue ball", "a red cube"])
    assert calls == [["a red cube", "a blue ball"]]


def test_prepare_resizes_crops_and_normalises():
    from PIL import Image

    model = CLIP(
        ClipConfig(
            BackboneConfig(
                "bindclip-vit-tiny-32", preprocess=PreprocessConfig(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
            )
        )
    )
    scorer = Scorer(model, "m")
    t = scorer.pixels(Image.new("RGB", (40, 20), (255, 0, 0)))
    assert t.shape == (3, 32, 32) and t.dtype == torch.uint8 and int(t[0].min()) == 255
    x = scorer.prepare(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    assert x.shape == (1, 3, 32, 32) and torch.allclose(x, torch.full_like(x, -1.0))
    with pytest.raises(ValueError, match="preprocessed images are"):
        scorer.prepare(torch.zeros(1, 3, 64, 64))


def test_world_benchmarks_use_gold_graphs_and_report_every_split():
    scorer = Scorer(small_oc_clip(), "m")
    scorer.model.parse = None  # gold graphs only: parsing would fail
    out = {k: v.to_dict() for k, v in evaluate_world(scorer, n=6).items()}
    assert list(out) == [
        "swap-attribute",
        "swap-relation",
        "replace-attribute",
        "replace-relation",
        "add-object",
        "count",
        "swap-concept",
        "retrieval",
        "zero-shot",
    ]
    assert all(out[k]["n"] == 6 and 0 <= out[k]["accuracy"] <= 1 for k in list(out)[:7])
    assert set(out["retrieval"]["text_to_image"]) == {"r@1", "r@5", "r@10"}
    assert out["zero-shot"]["held_out_accuracy"] is not None  # the default world holds pairs out


def test_load_scorer_errors():
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_scorer("ViT-B-32:/nowhere/openai.pt")
    with pytest.raises(FileNotFoundError, match="not a bindclip run"):
        load_scorer("runs/missing-run")


def test_eval_cli_compares_a_run_with_an_open_clip_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--preset",
                "world-small",
                "--method",
                "oc-clip",
                "run.steps=1",
                "run.save_every=1",
                "data.batch_size=8",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "--model",
                str(run),
                "--model",
                "bindclip-vit-tiny-32",
                "--bench",
                "world",
                "--world-n",
                "4",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    assert set(doc["models"]) == {"run", "bindclip-vit-tiny-32"}
    for model in doc["models"].values():
        assert {"accuracy", "n", "skipped"} <= set(model["world/swap-attribute"])
    table = capsys.readouterr().out
    assert "world/swap-relation" in table and "bindclip-vit-tiny-32" in table
    assert out.with_suffix(".md").read_text().count("| world/") == 9
    assert main(["eval", "--model", str(run), "--bench", "nope"]) == 2
    assert main(["eval", "--model", str(run), "--bench", "sugarcrepe"]) == 2  # needs a path


def test_oc_clip_zero_shot_chunks_and_dedupes_the_class_side_exactly(spacy_parser):
    """Graphs bound a chunk at a time, prompts that parse alike bound once and weighted: the same class
    scores as the plain mean of every prompt's structured score."""
    from bindclip.eval.zeroshot import class_scores, classifier

    scorer = Scorer(small_oc_clip(), "m")
    scorer.model.parser = spacy_parser
    templates = ["a photo of a {c}.", "a good photo of a {c}.", "a {c}.", "itap of a {c}.", "a {c} on a table."]
    prompts = [[t.format(c=c) for t in templates] for c in ["dog", "red cat", "car", "blue square"]]
    images, _ = World().batch(3, seed=2)
    classes = classifier(scorer, prompts, chunk=3)
    assert len(classes.owner) < sum(map(len, prompts)) and len(classes.chunks) > 1
    full = scorer.score(images, [p for ps in prompts for p in ps])  # [K * M, I]
    expected = torch.stack([part.mean(0) for part in full.split([len(ps) for ps in prompts])]).T
    torch.testing.assert_close(class_scores(scorer, images, prompts, classes), expected, atol=1e-5, rtol=1e-5)
