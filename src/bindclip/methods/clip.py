"""CLIP and SigLIP: the plain contrastive baselines on an open_clip backbone."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..losses import ClipLoss, SigLipLoss
from ..models import CLIP, ClipConfig
from .base import Method, register


class Clip(Method):
    """Symmetric InfoNCE on pooled image and caption embeddings."""

    name = "clip"

    def build_model(self, cfg) -> nn.Module:
        return CLIP(ClipConfig(cfg.model.backbone))

    def build_loss(self, cfg, model, rank, world_size):
        return ClipLoss(rank=rank, world_size=world_size)

    def text_side(self, cfg, tokenizer, captions, graphs, seed):
        return {"tokens": tokenizer(captions)}

    def forward(self, model, loss_fn, images, text, device):
        return loss_fn(**model(images, text["tokens"]))


class SigLip(Clip):
    """The pairwise sigmoid loss; a backbone without a logit bias gets SigLIP's initialisation."""

    name = "siglip"

    def build_model(self, cfg) -> nn.Module:
        model = super().build_model(cfg)
        if model.backbone.logit_bias is None:
            # SigLIP's initialisation: scale 10, bias -10 (the sigmoid loss needs the bias to start negative)
            with torch.no_grad():
                model.backbone.logit_scale.fill_(math.log(10))
            model.backbone.logit_bias = nn.Parameter(torch.full_like(model.backbone.logit_scale, -10.0))
        return model

    def build_loss(self, cfg, model, rank, world_size):
        return SigLipLoss(rank=rank, world_size=world_size)


register(Clip())
register(SigLip())
