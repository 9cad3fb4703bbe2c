"""One image preprocessing per model, resolved from open_clip's own configs and built with open_clip's
own transform functions, so a pretrained tower sees pixels exactly as it saw them in pretraining.

Resolution, later winning (open_clip's merge order, plus the tag open_clip would take from `pretrained`):
    open_clip's PreprocessCfg defaults (OpenAI mean/std, bicubic, shortest side + centre crop)
    < a JSON config file's "preprocess_cfg" (bindclip's tiny configs: RAW_PIXELS, see below)
    < the pretrained tag the weights came from (`NAME@TAG:WEIGHTS`; with no tag, the one
      preprocessing every tag of NAME agrees on)
    < fields set explicitly in `model.backbone.preprocess`.
The image size is always the model's input size (vision_cfg.image_size).

bindclip's tiny from-scratch configs (`bindclip-*`) train on the built-in world's renders as they are:
mean 0, std 1 (pixels in [0, 1]), bicubic, shortest side + centre crop for photos. It is kept here, not
in their JSON files, so those stay plain open_clip model configs (open_clip.create_model builds them).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from torchvision import transforms as T

from ..errors import PreprocessError

TAG_KEYS = ("mean", "std", "interpolation", "resize_mode")  # what a pretrained tag says about pixels
RAW_PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "interpolation": "bicubic", "resize_mode": "shortest"}


@dataclass
class PreprocessConfig:
    """Empty fields are filled from the model config and pretrained tag; a run's config.json stores
    them filled, so the run keeps its preprocessing whatever open_clip version reads it later."""

    size: int | None = None  # input side in pixels: always the model's vision_cfg.image_size
    mean: tuple[float, float, float] | None = None  # per channel, on [0, 1] pixels
    std: tuple[float, float, float] | None = None
    interpolation: str | None = None  # bicubic | bilinear
    resize_mode: str | None = None  # shortest (resize + centre crop) | longest (pad) | squash
    fill_color: int | None = None  # padding value for resize_mode longest

    def open_clip_cfg(self) -> PreprocessCfg:
        if None in (self.size, self.mean, self.std, self.interpolation, self.resize_mode):
            raise PreprocessError(f"preprocessing not resolved: {self}")
        return PreprocessCfg(
            size=self.size,
            mean=tuple(self.mean),
            std=tuple(self.std),
            interpolation=self.interpolation,
            resize_mode=self.resize_mode,
            fill_color=self.fill_color or 0,
        )


def tag_preprocess(name: str, tag: str | None) -> dict:
    """The preprocessing fields of open_clip's pretrained config for (name, tag); with no tag, those
    every tag of `name` agrees on (none when the name has no tags)."""
    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag:
        if tag not in tags:
            raise PreprocessError(
                f"{name}@{tag}: open_clip knows no pretrained tag {tag!r} for {name}; "
                f"its tags: {', '.join(tags) or 'none'}"
            )
        found = open_clip.get_pretrained_cfg(name, tag)
        return {k: found[k] for k in TAG_KEYS if k in found}
    choices = {t: tuple(open_clip.get_pretrained_cfg(name, t).get(k) for k in TAG_KEYS) for t in tags}
    if len(set(choices.values())) > 1:
        groups: dict[tuple, list[str]] = {}
        for t, v in choices.items():
            groups.setdefault(v, []).append(t)
        listed = "; ".join(f"{', '.join(ts)}: mean {v[0]}, std {v[1]}, {v[2]}, {v[3]}" for v, ts in groups.items())
        raise PreprocessError(
            f"{name}: its pretrained tags preprocess differently ({listed}); name the tag the "
            f"weights came from as {name}@TAG:WEIGHTS (or model.backbone.tag=TAG)"
        )
    return {k: v for k, v in zip(TAG_KEYS, next(iter(choices.values()), ())) if v is not None}


def warn_quick_gelu(name: str, tag: str | None, model_cfg: dict) -> None:
    """open_clip's QuickGELU check: weights trained with QuickGELU give wrong features in a GELU model
    (same shapes, so loading cannot tell). With a tag the answer is known; without, warn when any tag of
    the name needs the other activation."""
    quick = bool(model_cfg.get("quick_gelu", False))
    tags = open_clip.list_pretrained_tags_by_model(name)
    needs = {t: bool(open_clip.get_pretrained_cfg(name, t).get("quick_gelu", False)) for t in tags}
    if tag and tag in needs and needs[tag] != quick:
        fix = f"{name}-quickgelu" if needs[tag] else name.removesuffix("-quickgelu")
        warnings.warn(
            f"{name}@{tag}: these weights were trained with {'QuickGELU' if needs[tag] else 'GELU'} but "
            f"{name} uses {'QuickGELU' if quick else 'GELU'}; use {fix}@{tag} for the right features",
            UserWarning,
            stacklevel=3,
        )
    elif not tag and any(v != quick for v in needs.values()):
        other = [t for t, v in needs.items() if v != quick]
        warnings.warn(
            f"{name}: weights of tags {', '.join(other)} need {'GELU' if quick else 'QuickGELU'}, which "
            f"{name} does not use; if yours are one of them use "
            f"{name.removesuffix('-quickgelu') if quick else name + '-quickgelu'}, else name the tag "
            f"({name}@TAG:WEIGHTS) to silence this",
            UserWarning,
            stacklevel=3,
        )


def resolve_preprocess(
    name: str, tag: str | None, model_cfg: dict, explicit: PreprocessConfig | None = None
) -> PreprocessConfig:
    """Every field filled, in the order the module docstring gives."""
    merged = merge_preprocess_dict(PreprocessCfg(), model_cfg.get("preprocess_cfg", {}))
    merged = merge_preprocess_dict(merged, tag_preprocess(name, tag))
    size = model_cfg.get("vision_cfg", {}).get("image_size", 224)
    merged["size"] = size[0] if isinstance(size, (list, tuple)) else size
    given = {k: v for k, v in asdict(explicit or PreprocessConfig()).items() if v is not None}
    if "size" in given and given["size"] != merged["size"]:
        raise PreprocessError(
            f"model.backbone.preprocess.size: {given['size']} px, but {name} takes {merged['size']} px images"
        )
    merged.update(given)
    merged.pop("mode", None)
    merged["mean"], merged["std"] = tuple(merged["mean"]), tuple(merged["std"])
    return PreprocessConfig(**merged)


def eval_transform(cfg: PreprocessConfig):
    """PIL image -> normalised float [3, S, S]: open_clip's preprocess_val for this preprocessing."""
    return image_transform_v2(cfg.open_clip_cfg(), is_train=False)


def pixel_transform(cfg: PreprocessConfig, train: bool = False):
    """PIL image -> uint8 [3, S, S]: open_clip's preprocess_val (or preprocess_train, RandomResizedCrop
    included) up to its tensor steps. `normalize` then does the same arithmetic as the dropped
    ToTensor + Normalize, so images travel at one byte a channel (loader queues, a 5k-image retrieval
    set) and still reach the model exactly as open_clip's own transform would give them."""
    full = image_transform_v2(cfg.open_clip_cfg(), is_train=train)
    steps = [t for t in full.transforms if type(t).__name__ not in ("MaybeToTensor", "ToTensor", "Normalize")]
    if len(steps) != len(full.transforms) - 2:
        raise PreprocessError(f"unexpected open_clip transform {full}: expected one ToTensor and one Normalize")
    return T.Compose([*steps, T.PILToTensor()])


def normalize(images: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """uint8 or [0, 1] float [B, 3, S, S] (world renders, already at the model's size) -> normalised
    float, the same arithmetic as the Normalize step of open_clip's transforms."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    mean = torch.tensor(cfg.mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std
