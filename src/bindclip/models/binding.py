"""OC-CLIP's binding module: scene-graph nodes compete for image patches and form visual slots.

Inverted cross-attention: for every patch the softmax runs over the queries (the caption's nodes
plus K learned default queries that soak up what the caption does not mention), so nodes compete
for patches; each query's weights are then renormalised over patches and the slot is the weighted
mean. Slot i belongs to node i by construction; default slots are dropped. `attention="standard"` is
the ordinary cross-attention the paper compares against (softmax over patches: every node pools the
image on its own, nothing competes), kept for that ablation.

Pair layouts. Slots depend on the text, so every (caption, image) pair needs its own binding.
  cross:   queries [C, Nq, d] x keys [I, T, d] -> [C, I, Nq, T]  (all captions against all images)
  aligned: queries [B, J, Nq, d] x keys [B, T, d] -> [B, J, Nq, T]  (J graphs of image b, e.g. the
           local loss's counterfactuals)
Both are single einsums; downstream code sees [X, Y, ...] pair tensors either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError


@dataclass
class BindingConfig:
    dim: int = 128  # width of keys, queries and slots
    heads: int = 4  # heads of the self-attention layers over patches
    patch_layers: int = 1  # self-attention layers over patch tokens before binding
    iterations: int = 1  # rounds of inverted attention; >1 refines queries from their slots
    n_default: int = 4  # learned default queries (the paper does not publish its count; 4 trained stably here)
    attention: str = "inverted"  # softmax over queries (nodes compete for patches), or "standard": over patches
    eps: float = 1e-8
    # training binds every local image with every caption of the global batch, so the tensors kept for
    # backward grow with B_local x B_global. Past chunk_budget_gib of them the captions are bound in chunks,
    # each recomputed in the backward pass (torch.utils.checkpoint), and memory follows the chunk, not the
    # batch. chunk > 0 fixes the captions per chunk, -1 never chunks
    chunk: int = 0
    chunk_budget_gib: float = 2.0


def pair_einsum(lhs: str, rhs: str, out: str, aligned: bool) -> str:
    """einsum spec over pair axes x (captions / images) and y (images / graphs per image); `rhs` names
    the image-side tensor, whose pair axis is y in the cross layout and x in the aligned one."""
    return f"{lhs},{rhs.replace('*', 'x' if aligned else 'y')}->{out}"


class BindingModule(nn.Module):
    def __init__(self, cfg: BindingConfig, patch_width: int, text_width: int):
        super().__init__()
        if cfg.attention not in ("inverted", "standard"):
            raise ConfigError(f"model.binding.attention: {cfg.attention!r}; use 'inverted' or 'standard'")
        if cfg.n_default < 0:
            raise ConfigError(f"model.binding.n_default: must be >= 0, got {cfg.n_default}")
        self.cfg = cfg
        d = cfg.dim
        self.patch_in = nn.Sequential(nn.LayerNorm(patch_width), nn.Linear(patch_width, d))
        self.patch_blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d, cfg.heads, 4 * d, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(cfg.patch_layers)
        )
        self.patch_norm = nn.LayerNorm(d)
        self.query_in = nn.Sequential(nn.LayerNorm(text_width), nn.Linear(text_width, d))
        self.default_queries = nn.Parameter(torch.randn(cfg.n_default, d) * d**-0.5)
        self.to_k = nn.Linear(d, d, bias=False)
        if cfg.iterations > 1:
            self.to_v = nn.Linear(d, d, bias=False)
            self.update = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def encode_patches(self, tokens: torch.Tensor) -> torch.Tensor:
        """[I, T, W] backbone tokens -> [I, T, d] patch features; computed once per image."""
        x = self.patch_in(tokens)
        for blk in self.patch_blocks:
            x = blk(x)
        return self.patch_norm(x)

    def queries(self, nodes: torch.Tensor, node_mask: torch.Tensor):
        """[..., N, Dt] node embeddings -> ([..., N+K, d] queries, [..., N+K] mask); defaults last."""
        q = self.query_in(nodes)
        lead = q.shape[:-2]
        defaults = self.default_queries.expand(*lead, -1, -1)
        mask = torch.cat([node_mask, node_mask.new_ones(*lead, self.cfg.n_default)], dim=-1)
        return torch.cat([q, defaults], dim=-2), mask

    def forward(self, patches: torch.Tensor, nodes: torch.Tensor, node_mask: torch.Tensor, aligned: bool = False):
        """Binding weights of the nodes over the patches, and the raw inverted attention.

        patches [I, T, d] (from encode_patches); nodes [C, N, Dt], node_mask [C, N] (cross) or
        [B, J, N, Dt], [B, J, N] (aligned). Returns
          weights [X, Y, N, T]: each node's slot is weights @ patch values (rows sum to 1 over T,
                                or to 0 for a padded node);
          attention [X, Y, N+K, T]: softmax over the query axis (sums to 1 over queries per patch).
        """
        q, qmask = self.queries(nodes, node_mask)
        keys = self.to_k(patches) * self.cfg.dim**-0.5  # scaled once per image, not per pair
        n = nodes.shape[-2]
        per_pair = aligned  # cross-layout queries are per caption until a refinement round
        for it in range(self.cfg.iterations):
            if per_pair:
                logits = torch.einsum(pair_einsum("xynd", "*td", "xynt", aligned), q, keys)
            else:  # [C, Nq, d] x [I, T, d]
                logits = torch.einsum("xnd,ytd->xynt", q, keys)
            mask = qmask[..., None] if per_pair else qmask[:, None, :, None]
            if qmask.is_meta or not qmask.all():  # finite fill: a row with every query masked stays finite, not NaN
                logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
            last = it + 1 == self.cfg.iterations
            if self.cfg.attention == "standard":  # each node pools the patches on its own: no competition
                attention = logits.softmax(dim=-1) * mask
                weights = attention[:, :, :n] if last else attention
            else:
                attention = logits.softmax(dim=2)  # over queries: nodes compete for each patch
                rows = attention[:, :, :n] if last else attention  # default slots are only dropped
                weights = rows / (rows.sum(dim=-1, keepdim=True) + self.cfg.eps)
            if not last:
                slots = torch.einsum(pair_einsum("xynt", "*td", "xynd", aligned), weights, self.to_v(patches))
                q = (q if per_pair else q[:, None]) + self.update(slots)
                qmask = qmask if per_pair else qmask[:, None].expand(-1, q.shape[1], -1)
                per_pair = True
        return weights, attention
