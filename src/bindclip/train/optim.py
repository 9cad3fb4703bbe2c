"""The optimiser and learning-rate schedule every bindclip training uses (the methods' runs and the
from-scratch binding models): fused AdamW with open_clip's weight-decay rule, warmup then cosine."""

from __future__ import annotations

import math

import torch
from torch import nn


def no_weight_decay(name: str, p: nn.Parameter) -> bool:
    """open_clip's rule: no decay on 1-d parameters (gains, biases, scales) and embeddings of positions,
    class tokens and learned queries."""
    return p.ndim < 2 or any(
        k in name for k in ("logit_scale", "logit_bias", "positional_embedding", "class_embedding", "default_queries")
    )


def is_backbone(name: str) -> bool:
    return name.startswith("backbone.")


def adamw(
    named_parameters,
    lr: float,
    weight_decay: float,
    betas=(0.9, 0.999),
    eps: float = 1e-8,
    backbone_lr: float | None = None,
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, grouped by (no decay, backbone) in that order; parameters
    under `backbone.` take `backbone_lr` when it is given (a lower rate for pretrained towers)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in named_parameters:
        if p.requires_grad:
            groups.setdefault((no_weight_decay(name, p), is_backbone(name)), []).append(p)
    param_groups = [
        {
            "params": params,
            "weight_decay": 0.0 if no_wd else weight_decay,
            "lr": backbone_lr if backbone and backbone_lr is not None else lr,
        }
        for (no_wd, backbone), params in sorted(groups.items())
    ]
    # fused: one kernel over all tensors; on 2 CPU cores it is 6x faster than the per-tensor loop that
    # is torch's CPU default (10 vs 57 ms a step for the tiny models' 8M parameters), same arithmetic
    return torch.optim.AdamW(param_groups, betas=tuple(betas), eps=eps, fused=True)


def warmup_cosine(opt: torch.optim.Optimizer, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over `warmup` steps, then cosine to zero at `steps`."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
