"""Terms that grow with the global batch (every local image against every caption or phrase of every
rank), computed in chunks that are recomputed in the backward pass, so that what autograd keeps follows
the chunk instead of the batch. OC-CLIP's binding and C2LIP's cross-attention pooling use it."""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint


def chunk_size(n: int, bytes_per_item: int, budget_gib: float) -> int:
    """Items per chunk so that what one chunk keeps for backward fits the budget; all n when they fit."""
    return max(1, min(n, int(budget_gib * 2**30 // bytes_per_item)))


def recomputed_in_chunks(fn, fixed: torch.Tensor, sliced: list[torch.Tensor], chunk: int, dim: int = 0):
    """fn(fixed, *sliced) over chunks of `chunk` rows of the sliced tensors, each chunk recomputed in the
    backward pass (torch.utils.checkpoint, non-reentrant), the outputs concatenated along `dim`."""
    starts = range(0, len(sliced[0]), chunk)
    parts = [checkpoint(fn, fixed, *(t[s : s + chunk] for t in sliced), use_reentrant=False) for s in starts]
    return torch.cat(parts, dim=dim)
