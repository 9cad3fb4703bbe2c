"""Plain CLIP / SigLIP on an open_clip backbone: the baseline every method is measured against.

Follows open_clip's conventions: encode_image / encode_text return normalised features, forward
returns a dict with the exp'd logit scale (and bias for SigLIP) for the loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .backbone import BackboneConfig, as_image_tensor, create_backbone, encode_text, get_tokenizer


@dataclass
class ClipConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)


class CLIP(nn.Module):
    """The base of every bindclip model: an open_clip backbone, its tokenizer, scale and bias. `cfg` is
    any config with a `backbone` (ClipConfig, OCClipConfig)."""

    def __init__(self, cfg: ClipConfig | None = None):
        super().__init__()
        self.cfg = cfg or ClipConfig()
        self.backbone = create_backbone(self.cfg.backbone)
        self.tokenizer = get_tokenizer(self.cfg.backbone)

    @property
    def visual(self) -> nn.Module:
        return self.backbone.visual

    @property
    def logit_scale(self) -> nn.Parameter:
        return self.backbone.logit_scale

    @property
    def logit_bias(self) -> nn.Parameter | None:
        return self.backbone.logit_bias

    @property
    def device(self) -> torch.device:
        return self.backbone.logit_scale.device

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self.device)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.backbone.encode_image(images, normalize=normalize)

    def encode_text(self, texts: list[str] | torch.Tensor, normalize: bool = True) -> torch.Tensor:
        tokens = texts if isinstance(texts, torch.Tensor) else self.tokenize(texts)
        return encode_text(self.backbone, tokens, normalize=normalize)

    def scale_and_bias(self) -> dict:
        out = {"logit_scale": self.logit_scale.exp()}
        if self.logit_bias is not None:
            out["logit_bias"] = self.logit_bias
        return out

    def forward(self, images: torch.Tensor, texts: list[str] | torch.Tensor) -> dict:
        return {"image_features": self.encode_image(images), "text_features": self.encode_text(texts),
                **self.scale_and_bias()}

    @torch.no_grad()
    def score(self, images, captions: list[str]) -> torch.Tensor:
        """[n_captions, n_images] cosine similarities (no scale), for evaluation. Images: tensors
        (uint8 or float in [0, 1]) or PIL images."""
        images = as_image_tensor(images, getattr(self, "image_size", None), self.device)
        return self.encode_text(captions) @ self.encode_image(images).T


