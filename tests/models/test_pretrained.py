"""Pretrained towers see images exactly as open_clip shows them: same weights, same JPEGs, same features.

Stand-in "pretrained" weights are open_clip models at a fixed seed saved to a file here; nothing is
downloaded. The reference is `open_clip.create_model_and_transforms(NAME, pretrained=FILE, ...)` with the
preprocessing of the tag the weights stand in for (open_clip itself, given a bare file, would use its
OpenAI defaults: right for ViT-B-32, wrong for SigLIP).
"""

import warnings

import open_clip
import pytest
import torch
import torch.nn.functional as F

import bindclip
from bindclip.eval.scorer import load_scorer
from bindclip.models.preprocess import normalize, pixel_transform
from conftest import load_benchmark

MODELS = {"ViT-B-32": "laion2b_s34b_b79k", "ViT-B-16-SigLIP": "webli"}
# real-size JPEGs of three aspect ratios with structure everywhere (crops and squashes differ): the parity
# benchmark's images, so the test and the bar look at the same inputs
photos = load_benchmark("open_clip_parity").photos


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """{name: weights file}: open_clip's random init at seed 0, saved as a state dict."""
    root = tmp_path_factory.mktemp("weights")
    files = {}
    for name in MODELS:
        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None)
        files[name] = root / f"{name}.pt"
        torch.save(model.state_dict(), files[name])
        del model
    return files


def reference(name: str, weights, tag: str | None):
    """open_clip's model and eval transform for the weights, with `tag`'s preprocessing (None: open_clip's
    defaults for a bare file)."""
    pre = open_clip.get_pretrained_cfg(name, tag) if tag else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _, val = open_clip.create_model_and_transforms(
            name,
            pretrained=str(weights),
            image_mean=pre.get("mean"),
            image_std=pre.get("std"),
            image_interpolation=pre.get("interpolation"),
            image_resize_mode=pre.get("resize_mode"),
        )
    return model.eval(), val


def cosines(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    return F.cosine_similarity(a.float(), b.float(), dim=-1).tolist()


@pytest.mark.filterwarnings("ignore:ViT-B-32. weights of tags")  # no tag named on purpose: what users type
@pytest.mark.parametrize("name", list(MODELS))
def test_load_preprocess_and_scorer_match_open_clip(name, stand_in):
    ref, ref_val = reference(name, stand_in[name], MODELS[name])
    images = photos()
    with torch.no_grad():
        want = ref.encode_image(torch.stack([ref_val(im) for im in images]))
        ours = bindclip.load(f"{name}:{stand_in[name]}")
        assert torch.equal(
            torch.stack([ours.preprocess(im) for im in images]), torch.stack([ref_val(im) for im in images])
        )
        assert torch.equal(ours.prepare_images(images), torch.stack([ref_val(im) for im in images]))
        via_preprocess = ours.encode_image(torch.stack([ours.preprocess(im) for im in images]))
        via_scorer = load_scorer(f"{name}@{MODELS[name]}:{stand_in[name]}").image_features(images)
    assert min(cosines(via_preprocess, want)) >= 0.9999
    assert min(cosines(via_scorer, want)) >= 0.9999


def test_wrong_preprocessing_is_caught(stand_in):
    """The comparison above can fail: SigLIP weights read with open_clip's bare-file defaults (OpenAI
    mean/std, shortest side) give other features."""
    name = "ViT-B-16-SigLIP"
    ref, ref_val = reference(name, stand_in[name], MODELS[name])
    _, default_val = reference(name, stand_in[name], None)
    images = photos()
    with torch.no_grad():
        right = ref.encode_image(torch.stack([ref_val(im) for im in images]))
        wrong = ref.encode_image(torch.stack([default_val(im) for im in images]))
    assert min(cosines(right, wrong)) < 0.9999


@pytest.mark.filterwarnings("ignore:ViT-B-32. weights of tags")
@pytest.mark.parametrize("name", list(MODELS))
def test_training_transform_is_open_clip_preprocess_train(name, stand_in):
    """Shards go through open_clip's preprocess_train (RandomResizedCrop included) as uint8, then the
    batch's normalisation: the same tensor as open_clip's transform under the same random draws."""
    model = bindclip.load(f"{name}:{stand_in[name]}")
    pre = open_clip.get_pretrained_cfg(name, MODELS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ref_train, _ = open_clip.create_model_and_transforms(
            name,
            pretrained=None,
            image_mean=pre["mean"],
            image_std=pre["std"],
            image_interpolation=pre["interpolation"],
            image_resize_mode=pre["resize_mode"],
        )
    ours = pixel_transform(model.preprocess_cfg, train=True)
    for im in photos():
        torch.manual_seed(3)
        want = ref_train(im)
        torch.manual_seed(3)
        got = normalize(ours(im)[None], model.preprocess_cfg)[0]
        assert torch.equal(got, want)


def test_tags_pick_the_preprocessing_and_quick_gelu_is_warned(stand_in):
    with pytest.warns(UserWarning, match="ViT-B-32-quickgelu@openai"):
        model = bindclip.load(f"ViT-B-32@openai:{stand_in['ViT-B-32']}")
    assert model.preprocess_cfg.mean == open_clip.OPENAI_DATASET_MEAN
    with pytest.warns(UserWarning, match="need QuickGELU"):
        bindclip.load(f"ViT-B-32:{stand_in['ViT-B-32']}")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        bindclip.load("ViT-B-32:/nowhere/w.pt")


def test_torchscript_checkpoints_are_refused_with_the_conversion(tmp_path):
    from bindclip.models.backbone import CheckpointError, read_state_dict

    path = tmp_path / "ViT-B-32.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(CheckpointError, match=r"TorchScript archive.*torch\.jit\.load"):
        read_state_dict(path)


def test_zero_rate_fine_tune_and_export_keep_the_features(tmp_path, stand_in):
    """ViT-B-32 fine-tuned at learning rate 0 on the world (rendered at 224 px, the model's size): the run
    and its export, loaded after the pretrained file is deleted, give open_clip's features."""
    import shutil

    from bindclip.cli import main

    weights = tmp_path / "w.pt"
    shutil.copy(stand_in["ViT-B-32"], weights)
    run, out = tmp_path / "run", tmp_path / "model"
    assert (
        main(
            [
                "train",
                "--method",
                "clip",
                "--out",
                str(run),
                "model.backbone.name=ViT-B-32",
                "model.backbone.tag=laion2b_s34b_b79k",
                f"model.backbone.pretrained={weights}",
                "optim.lr=0",
                "optim.backbone_lr=0",
                "run.steps=1",
                "data.batch_size=2",
                "data.workers=0",
            ]
        )
        == 0
    )
    assert main(["export", str(run), "-o", str(out)]) == 0
    weights.unlink()
    ref, ref_val = reference("ViT-B-32", stand_in["ViT-B-32"], MODELS["ViT-B-32"])
    images = photos()
    with torch.no_grad():
        want = ref.encode_image(torch.stack([ref_val(im) for im in images]))
        for spec in (run, out):
            model = bindclip.load(spec)
            assert model.image_size == 224
            assert min(cosines(model.encode_image(model.prepare_images(images)), want)) >= 0.9999
