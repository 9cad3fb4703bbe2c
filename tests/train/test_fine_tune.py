"""Fine-tuning a pretrained open_clip architecture at 224 px on img2dataset-style shards (jpg + txt + json),
then exporting, loading and evaluating: the README's recipe on stand-ins.

The architecture is a small open_clip config at 224 px (patch 32, width 64); its "pretrained" weights are
open_clip's own init at seed 0, saved to a file that the export must not need.
"""

import io
import json
import shutil
import warnings

import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import bindclip
from bindclip.cli import main
from bindclip.eval.sugarcrepe import SPLITS
from bindclip.methods import method_names

ARCH = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 224, "patch_size": 32, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
CAPTIONS = [
    "a red car next to a blue house",
    "a dog on a green sofa",
    "a white cat under a wooden table",
    "two people riding a bike",
    "a black horse in a field",
    "a yellow bus behind a tree",
    "a man holding a small umbrella",
    "a bowl of fruit on a table",
]


def photo(k: int) -> Image.Image:
    w, h = [(640, 480), (333, 500), (224, 224), (500, 375)][k % 4]
    g = torch.Generator().manual_seed(k)
    return Image.fromarray((torch.rand(h // 8, w // 8, 3, generator=g) * 255).byte().numpy()).resize((w, h))


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(config file, stand-in weights, shard pattern, SugarCrepe-format folder)."""
    import webdataset as wds

    root = tmp_path_factory.mktemp("fine-tune")
    arch = root / "tiny-224.json"
    arch.write_text(json.dumps(ARCH))
    torch.manual_seed(0)
    weights = root / "tiny-224-pretrained.pt"
    torch.save(open_clip.CLIP(**ARCH).state_dict(), weights)
    for s in range(2):  # img2dataset's layout: key.jpg, key.txt, key.json (url, status, size, caption)
        with wds.TarWriter(str(root / f"{s:05d}.tar")) as sink:
            for i in range(8):
                k = 8 * s + i
                img = photo(k)
                meta = {
                    "url": f"http://x/{k}.jpg",
                    "key": f"{s:05d}{i:04d}",
                    "status": "success",
                    "caption": CAPTIONS[i],
                    "width": img.width,
                    "height": img.height,
                }
                sink.write(
                    {
                        "__key__": meta["key"],
                        "jpg": jpeg(img),
                        "txt": CAPTIONS[i].encode(),
                        "json": json.dumps(meta).encode(),
                    }
                )
    crepe = root / "sugarcrepe"
    (crepe / "val2017").mkdir(parents=True)
    items = {}
    for i, (pos, neg) in enumerate(
        [
            ("a red car next to a blue house", "a blue car next to a red house"),
            ("a dog on a green sofa", "a green dog on a sofa"),
            ("a white cat under a wooden table", "a wooden cat under a white table"),
        ]
    ):
        photo(i).save(crepe / "val2017" / f"{i}.jpg")
        items[str(i)] = {"filename": f"{i}.jpg", "caption": pos, "negative_caption": neg}
    for split in SPLITS:  # the published layout: seven files
        (crepe / f"{split}.json").write_text(json.dumps(items))
    return arch, weights, str(root / "{00000..00001}.tar"), crepe


def image_features(model, images) -> torch.Tensor:
    with torch.no_grad():
        return model.encode_image(model.prepare_images(images)).float()


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
def test_fine_tune_export_load_evaluate(tmp_path, setting, method):
    arch, weights, shards, crepe = setting
    run, out = tmp_path / "run", tmp_path / "model"
    assert (
        main(
            [
                "train",
                "--method",
                method,
                "--out",
                str(run),
                "data.source=wds",
                f"data.shards={shards}",
                f"model.backbone.config_file={arch}",
                f"model.backbone.pretrained={weights}",
                "data.batch_size=4",
                "data.workers=0",
                "run.steps=2",
                "run.save_every=2",
                "model.binding.dim=32",
                "model.binding.heads=2",
            ]
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["backbone"]["preprocess"]["size"] == 224
    assert (cfg["optim"]["lr"], cfg["optim"]["backbone_lr"]) == (1e-3, 1e-5)
    assert main(["export", str(run), "-o", str(out)]) == 0
    model = bindclip.load(out)
    assert model.image_size == 224 and model.preprocess(photo(0)).shape == (3, 224, 224)
    result = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "--model",
                str(out),
                "--model",
                f"{arch}:{weights}",
                "--bench",
                f"sugarcrepe:{crepe}",
                "--json",
                str(result),
            ]
        )
        == 0
    )
    for res in json.loads(result.read_text())["models"].values():
        assert (res["sugarcrepe/swap_att"]["n"], res["sugarcrepe/swap_att"]["skipped"]) == (3, 0)  # all scored


def test_zero_rate_run_and_its_export_keep_open_clip_features(tmp_path, setting):
    """Fine-tuned at learning rate 0, the run and its export (the pretrained file deleted) give open_clip's
    features for the same weights and JPEGs."""
    arch, weights, shards, _ = setting
    mine = tmp_path / "w.pt"
    shutil.copy(weights, mine)
    run, out = tmp_path / "run", tmp_path / "model"
    assert (
        main(
            [
                "train",
                "--method",
                "clip",
                "--out",
                str(run),
                "data.source=wds",
                f"data.shards={shards}",
                f"model.backbone.config_file={arch}",
                f"model.backbone.pretrained={mine}",
                "optim.lr=0",
                "optim.backbone_lr=0",
                "data.batch_size=4",
                "data.workers=0",
                "run.steps=1",
            ]
        )
        == 0
    )
    assert main(["export", str(run), "-o", str(out)]) == 0
    mine.unlink()
    open_clip.add_model_config(arch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _, ref_val = open_clip.create_model_and_transforms(arch.stem, pretrained=str(weights))
    images = [photo(k) for k in range(3)]
    with torch.no_grad():
        want = ref.eval().encode_image(torch.stack([ref_val(im) for im in images]))
    for spec in (run, out):
        got = image_features(bindclip.load(spec), images)
        assert F.cosine_similarity(got, want).min() >= 0.9999
