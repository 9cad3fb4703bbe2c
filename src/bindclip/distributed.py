"""Collectives for losses and models that see only their rank's part of the batch.

All are the identity in a single process, so the same code runs on a laptop and under torchrun.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.nn import all_gather as all_gather_with_grad


def gather_features(features: torch.Tensor, rank: int, world_size: int, gather_with_grad: bool = False) -> torch.Tensor:
    """[n, ...] on each rank -> [world_size * n, ...], rank-major. Without `gather_with_grad` only
    the local slice carries gradient (enough when every rank computes the full logits)."""
    if world_size == 1:
        return features
    if gather_with_grad:
        return torch.cat(all_gather_with_grad(features), dim=0)
    parts = [torch.zeros_like(features) for _ in range(world_size)]
    dist.all_gather(parts, features.detach())
    parts[rank] = features
    return torch.cat(parts, dim=0)


def gather_ragged(x: torch.Tensor, with_grad: bool = True) -> list[torch.Tensor]:
    """All ranks' tensors when their shapes differ (phrase counts, node counts, last batches).

    Each is zero-padded to the elementwise-largest shape, gathered, then cut back to its own length
    along dim 0; dims >= 1 stay padded to the common size so the parts concatenate. With
    `with_grad` the gradient flows back to the rank that owns each part.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [x]
    world = dist.get_world_size()
    shape = torch.tensor(x.shape, device=x.device)
    shapes = [torch.zeros_like(shape) for _ in range(world)]
    dist.all_gather(shapes, shape)
    big = torch.stack(shapes).amax(0).tolist()
    pad = []
    for have, want in zip(reversed(x.shape), reversed(big)):
        pad += [0, want - have]
    padded = F.pad(x, pad) if any(pad) else x
    if with_grad:
        from torch.distributed.nn import all_gather as all_gather_with_grad

        parts = list(all_gather_with_grad(padded))
    else:
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.detach().contiguous())
    return [p[: int(s[0])] for p, s in zip(parts, shapes)]


def world_rank() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_rows(x: torch.Tensor, with_grad: bool = True) -> torch.Tensor:
    """Concatenate every rank's rows (row counts may differ); identity in one process."""
    return torch.cat(gather_ragged(x, with_grad=with_grad))
