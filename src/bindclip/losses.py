"""Contrastive objectives, one class per loss, correct across ranks.

Each loss takes the rank's local features; under torch.distributed the features are all-gathered
and the rank's own slice is put back so its gradient survives (or gathered with gradient through
`torch.distributed.nn`). Losses return dicts keyed `*_loss`, as open_clip's do.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def gather_features(features: torch.Tensor, rank: int, world_size: int,
                    gather_with_grad: bool = False) -> torch.Tensor:
    """[n, ...] on each rank -> [world_size * n, ...], rank-major. Without `gather_with_grad` only
    the local slice carries gradient (enough when every rank computes the full logits)."""
    if world_size == 1:
        return features
    if gather_with_grad:
        from torch.distributed.nn import all_gather as all_gather_with_grad

        return torch.cat(all_gather_with_grad(features), dim=0)
    parts = [torch.zeros_like(features) for _ in range(world_size)]
    dist.all_gather(parts, features.detach())
    parts[rank] = features
    return torch.cat(parts, dim=0)


class ClipLoss(nn.Module):
    """Symmetric InfoNCE over image-text pairs.

    local_loss: each rank scores only its own images (and texts) against everything gathered,
    which costs n x B instead of B x B; the mean over ranks equals the full-batch loss.
    """

    def __init__(self, local_loss: bool = False, gather_with_grad: bool = False, rank: int = 0,
                 world_size: int = 1):
        super().__init__()
        self.local_loss, self.gather_with_grad = local_loss, gather_with_grad
        self.rank, self.world_size = rank, world_size

    def get_logits(self, image_features, text_features, logit_scale):
        all_img = gather_features(image_features, self.rank, self.world_size, self.gather_with_grad)
        all_txt = gather_features(text_features, self.rank, self.world_size, self.gather_with_grad)
        if self.local_loss:
            return logit_scale * image_features @ all_txt.T, logit_scale * text_features @ all_img.T
        logits = logit_scale * all_img @ all_txt.T  # [B, B]
        return logits, logits.T

    def forward(self, image_features, text_features, logit_scale, output_dict: bool = True):
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        n = logits_per_image.shape[0]
        offset = n * self.rank if self.local_loss and self.world_size > 1 else 0
        labels = torch.arange(n, device=logits_per_image.device) + offset
        loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
        return {"contrastive_loss": loss} if output_dict else loss


class SigLipLoss(nn.Module):
    """Pairwise sigmoid loss: every image-text pair is a binary match / no-match decision.

    Each rank scores its local images against all gathered texts and divides by its local batch
    size, so the mean over ranks equals the single-process loss on the whole batch.
    """

    def __init__(self, gather_with_grad: bool = True, rank: int = 0, world_size: int = 1):
        super().__init__()
        self.gather_with_grad, self.rank, self.world_size = gather_with_grad, rank, world_size

    def forward(self, image_features, text_features, logit_scale, logit_bias, output_dict: bool = True):
        n = image_features.shape[0]
        all_txt = gather_features(text_features, self.rank, self.world_size, self.gather_with_grad)
        logits = logit_scale * image_features @ all_txt.T + logit_bias  # [n, B]
        labels = -torch.ones_like(logits)
        labels[torch.arange(n), torch.arange(n) + n * self.rank] = 1.0
        loss = -F.logsigmoid(labels * logits).sum() / n
        return {"contrastive_loss": loss} if output_dict else loss
