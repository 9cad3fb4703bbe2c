"""Image features of every bindclip path against open_clip's own, on the same weights and JPEGs.

    python benchmarks/open_clip_parity.py [--models ViT-B-32@laion2b_s34b_b79k,ViT-B-16-SigLIP@webli]

Stand-in "pretrained" weights: open_clip's random init at seed 0, saved to a temporary file (nothing is
downloaded). Reference: `open_clip.create_model_and_transforms(NAME, pretrained=FILE)` with the tag's
mean, std, interpolation and resize mode, on three JPEGs (640x480, 333x500, 224x224). Paths measured:
`load` (bindclip.load("NAME:FILE").preprocess + encode_image), `scorer` (load_scorer("NAME@TAG:FILE")
on PIL images, as every benchmark reads them), `score` (model.prepare_images, what model.score feeds
the tower), `train` (the shard loader's transform + the batch's normalisation, against open_clip's
preprocess_train under the same random draws). The bar is a minimum cosine of 0.9999. For scale, the
same run also gives the cosine of the reference to open_clip's features with its bare-file defaults
(`open_clip_defaults`: OpenAI mean/std, shortest side) and with unnormalised [0, 1] pixels squashed to
the input size (`raw_pixels`, how bindclip fed pretrained towers before). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image

import bindclip
from bindclip.eval.scorer import load_scorer
from bindclip.models.preprocess import normalize, pixel_transform


def photos() -> list[Image.Image]:
    g = torch.Generator().manual_seed(0)
    out = []
    for w, h in [(640, 480), (333, 500), (224, 224)]:
        y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
        rgb = torch.stack([x, y, (x * 7).sin().abs()]) * 200 + torch.rand(3, h, w, generator=g) * 55
        buf = io.BytesIO()
        Image.fromarray(rgb.permute(1, 2, 0).byte().numpy()).save(buf, "JPEG", quality=90)
        out.append(Image.open(io.BytesIO(buf.getvalue())))
    return out


def open_clip_reference(name: str, weights: str, pre: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_clip.create_model_and_transforms(
            name,
            pretrained=weights,
            image_mean=pre.get("mean"),
            image_std=pre.get("std"),
            image_interpolation=pre.get("interpolation"),
            image_resize_mode=pre.get("resize_mode"),
        )


def min_cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return round(F.cosine_similarity(a.float(), b.float(), dim=-1).min().item(), 6)


@torch.no_grad()
def measure(spec: str, root: Path) -> dict:
    name, tag = spec.split("@")
    torch.manual_seed(0)
    weights = root / f"{name}.pt"
    torch.save(open_clip.create_model(name, pretrained=None).state_dict(), weights)
    pre = open_clip.get_pretrained_cfg(name, tag)
    ref, ref_train, ref_val = open_clip_reference(name, str(weights), pre)
    ref.eval()
    images = photos()
    want = ref.encode_image(torch.stack([ref_val(im) for im in images]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ViT-B-32 without a tag: the QuickGELU reminder
        model = bindclip.load(f"{name}:{weights}")
    out = {
        "load": min_cos(model.encode_image(torch.stack([model.preprocess(im) for im in images])), want),
        "scorer": min_cos(load_scorer(f"{spec}:{weights}").image_features(images), want),
        "score": min_cos(model.encode_image(model.prepare_images(images)), want),
    }
    ours_train, theirs_train = pixel_transform(model.preprocess_cfg, train=True), []
    mine = []
    for k, im in enumerate(images):
        torch.manual_seed(k)
        theirs_train.append(ref_train(im))
        torch.manual_seed(k)
        mine.append(normalize(ours_train(im)[None], model.preprocess_cfg)[0])
    out["train"] = min_cos(model.encode_image(torch.stack(mine)), ref.encode_image(torch.stack(theirs_train)))
    _, _, default_val = open_clip_reference(name, str(weights), {})
    out["open_clip_defaults"] = min_cos(ref.encode_image(torch.stack([default_val(im) for im in images])), want)
    size = model.image_size
    raw = (
        torch.stack(
            [
                torch.from_numpy(np.asarray(im.convert("RGB").resize((size, size))).copy()).permute(2, 0, 1)
                for im in images
            ]
        ).float()
        / 255
    )
    out["raw_pixels"] = min_cos(ref.encode_image(raw), want)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ViT-B-32@laion2b_s34b_b79k,ViT-B-16-SigLIP@webli")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = {spec: measure(spec, Path(tmp)) for spec in args.models.split(",")}
    paths = ("load", "scorer", "score", "train")
    worst = min(r[p] for r in results.values() for p in paths)
    print(
        json.dumps(
            {
                "benchmark": "open_clip_parity",
                "bar": 0.9999,
                "min_cosine": worst,
                "met": worst >= 0.9999,
                "models": results,
            }
        )
    )


if __name__ == "__main__":
    main()
