import json

import pytest
import torch

import bindclip
from bindclip.cli import main
from bindclip.models import CheckpointError
from bindclip.train import ConfigError, load_config, train

TINY = [
    "data.batch_size=8",
    "data.workers=0",
    "run.steps=2",
    "model.binding.dim=32",
    "model.binding.heads=2",
    "model.obj_dim=16",
    "model.rel_dim=16",
    "model.rel_hidden=16",
]


@pytest.mark.parametrize("method", ["oc-clip", "siglip"])
def test_export_then_load_scores_captions(tmp_path, method, spacy_parser):
    run, out = tmp_path / "run", tmp_path / "model"
    train(load_config(None, TINY, method=method, preset="world-small"), run, progress=False)
    assert main(["export", str(run), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bindclip_config.json", "model.safetensors"]
    model = bindclip.load(out)
    if method == "oc-clip":
        model.parser = spacy_parser
    images = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    scores = model.score(images, ["a red circle to the left of a blue square", "a green star"])
    assert scores.shape == (2, 2) and torch.isfinite(scores).all()
    # the exported folder and the run directory give the same model
    again = bindclip.load(run)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_load_names_a_mismatch(tmp_path):
    run, out = tmp_path / "run", tmp_path / "model"
    train(load_config(None, TINY, method="clip", preset="world-small"), run, progress=False)
    assert main(["export", str(run), "-o", str(out)]) == 0
    meta = json.loads((out / "bindclip_config.json").read_text())
    meta["train_config"]["model"]["backbone"]["name"] = "bindclip-vit-tiny-64"
    (out / "bindclip_config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="preprocess.size: 32 px, but bindclip-vit-tiny-64 takes 64 px"):
        bindclip.load(out)
    meta["train_config"]["model"]["backbone"]["preprocess"] = {}
    meta["train_config"]["data"]["world"]["image_size"] = 64
    (out / "bindclip_config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="parameter '.*' has shape"):
        bindclip.load(out)
    with pytest.raises(FileNotFoundError, match="neither an exported model"):
        bindclip.load(tmp_path)
    assert main(["export", str(tmp_path / "nowhere"), "-o", str(out)]) == 2


def test_towers_export_is_an_open_clip_checkpoint(tmp_path):
    """`bindclip export --towers` writes what open_clip itself loads: same weights, same features."""
    import open_clip

    run, towers = tmp_path / "run", tmp_path / "towers.safetensors"
    train(load_config(None, TINY, method="oc-clip", preset="world-small"), run, progress=False)
    assert main(["export", str(run), "--towers", "-o", str(towers)]) == 0
    ours = bindclip.load(run)
    reference = open_clip.create_model("bindclip-vit-tiny-32", pretrained=str(towers)).eval()
    images = torch.rand(3, 3, 32, 32)
    tokens = open_clip.get_tokenizer("bindclip-vit-tiny-32")(
        ["a red circle left of a blue square", "a green star", "a cube"]
    )
    with torch.no_grad():
        assert torch.allclose(ours.backbone.encode_image(images), reference.encode_image(images), atol=1e-6)
        assert torch.allclose(ours.backbone.encode_text(tokens), reference.encode_text(tokens), atol=1e-6)
    assert reference.logit_scale.item() == ours.backbone.logit_scale.item()  # the scale comes along
