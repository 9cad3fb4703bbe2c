"""Plain CLIP / SigLIP on an open_clip backbone: the baseline every method is measured against.

Follows open_clip's conventions: encode_image / encode_text return normalised features, forward
returns a dict with the exp'd logit scale (and bias for SigLIP) for the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import BackboneConfig, create_backbone, encode_text, get_tokenizer
from .preprocess import eval_transform, normalize, pixel_transform


@dataclass
class ClipConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)


class CLIP(nn.Module):
    """The base of every bindclip model: an open_clip backbone, its tokenizer, scale and bias. `cfg` is
    any config with a `backbone` (ClipConfig, OCClipConfig)."""

    scores_by_graphs = False  # evaluation scores captions by the pooled embeddings' cosine

    def __init__(self, cfg: ClipConfig | None = None):
        super().__init__()
        self.cfg = cfg or ClipConfig()
        self.backbone = create_backbone(self.cfg.backbone)
        self._tokenizer = None  # built on first use: an image-only caller never needs a HF tokenizer's files
        self.preprocess_cfg = self.cfg.backbone.resolved_preprocess()
        self.preprocess = eval_transform(self.preprocess_cfg)  # PIL -> float tensor, open_clip's preprocess_val
        self.pixels = pixel_transform(self.preprocess_cfg)  # PIL -> uint8 tensor, the same steps before ToTensor

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = get_tokenizer(self.cfg.backbone)
        return self._tokenizer

    @property
    def image_size(self) -> int:
        return self.preprocess_cfg.size

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
        """Token ids on the host: the text encoders cut the padding there and move what is left."""
        return self.tokenizer(list(texts))

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
        return {
            "image_features": self.encode_image(images),
            "text_features": self.encode_text(texts),
            **self.scale_and_bias(),
        }

    def prepare_images(self, images) -> torch.Tensor:
        """Model-ready float [B, 3, S, S] on the model's device from PIL images (open_clip's eval
        transform), uint8 pixels [B, 3, H, W] (world renders: resized if not at S, then normalised) or
        float tensors already preprocessed (what `preprocess` returns, stacked)."""
        if isinstance(images, (list, tuple)):
            images = torch.stack([self.pixels(im) for im in images])
        if images.dtype == torch.uint8:
            if images.shape[-2:] != (self.image_size, self.image_size):
                images = (
                    F.interpolate(
                        images.float(),
                        size=(self.image_size, self.image_size),
                        mode="bicubic",
                        antialias=True,
                        align_corners=False,
                    )
                    .round()
                    .clamp(0, 255)
                    .to(torch.uint8)
                )
            images = normalize(images, self.preprocess_cfg)
        elif images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"preprocessed images are {tuple(images.shape[-2:])} px but the model takes "
                f"{self.image_size} px; pass PIL images or uint8 pixels to have them resized"
            )
        return images.to(self.device)

    @torch.no_grad()
    def score(self, images, captions: list[str]) -> torch.Tensor:
        """[n_captions, n_images] cosine similarities (no scale), for evaluation. Images as
        `prepare_images` takes them: PIL, uint8 pixels or preprocessed float tensors."""
        return self.encode_text(captions) @ self.encode_image(self.prepare_images(images)).T
