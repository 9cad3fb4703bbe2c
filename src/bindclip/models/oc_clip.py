"""OC-CLIP: a caption's scene graph binds to image slots and is scored structurally.

    S(x, G) = [alpha * sum_i cos(P_n n_i, P_s s_i) + beta * sum_k cos(P_r r_k, f_s([r_k; s_sub]) +
              f_o([r_k; s_obj]))] / (alpha * M + beta * P)

n_i node embeddings and r_k relation embeddings (short texts through the text tower), s_i the
slot that node i wins in the binding module, f_s != f_o two MLPs so that swapping subject and object
changes the score. alpha, beta are learned (softplus, start at 1).

The slot is the binding weights' mean of the patch features, and every first layer that reads a
slot (P_s and the slot halves of f_s, f_o) is linear, so those layers run on the patches once per
image and the weights average their outputs (exact by linearity). The object cosine never forms
the slot at all: <n, sum_t w_t v_t> = sum_t w_t <n, v_t> and |sum_t w_t v_t|^2 = w^T (V V^T) w, so
per pair it costs tensors of the patch count T, not of the slot width.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import gather_ragged, world_rank
from ..graphs import (
    ConceptBatch,
    GraphBatch,
    GraphFormatError,
    SceneGraph,
    collate_graphs,
)
from ..graphs.parse import SpacyParser
from .backbone import (
    BackboneConfig,
    encode_text,
    image_tokens,
    joint_space_tokens,
    model_config,
)
from .binding import BindingConfig, BindingModule
from .chunks import chunk_size, recomputed_in_chunks
from .clip import CLIP


@dataclass
class OCClipConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    binding: BindingConfig = field(default_factory=BindingConfig)
    obj_dim: int = 128  # d_obj: bottleneck of the object cosine
    rel_dim: int = 128  # d_rel: bottleneck of the relation cosine
    rel_hidden: int = 128  # hidden width of f_s and f_o
    max_nodes: int = 8
    max_relations: int = 8
    counterfactuals: int = 3  # negatives per caption for the local graph loss
    n_shuffled: int = 2  # of which re-drawn endpoints (after one swap per relation)


@dataclass
class GraphState:
    """A batch of graphs with their texts embedded: what the score needs from the text side."""

    nodes: torch.Tensor  # [C, N, D]
    node_mask: torch.Tensor  # [C, N] bool
    relations: torch.Tensor  # [C, R, D]
    rel_subject: torch.Tensor  # [C, R] long
    rel_object: torch.Tensor  # [C, R] long
    rel_mask: torch.Tensor  # [C, R] bool

    def rows(self, index) -> GraphState:
        """The graphs at `index` (a slice or index tensor over captions)."""
        return GraphState(*(getattr(self, f.name)[index] for f in fields(self)))


def cosine(small: torch.Tensor, big: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """cos along the last dim, `small` broadcasting against the per-pair `big`: dividing the dot
    product by the norms keeps the division off the big tensor."""
    small = F.normalize(small, dim=-1, eps=eps)
    return (small * big).sum(-1) / big.norm(dim=-1).clamp_min(eps)


class StructuredScore(nn.Module):
    def __init__(self, text_width: int, slot_width: int, obj_dim: int, rel_dim: int, rel_hidden: int):
        super().__init__()
        self.split = [obj_dim, rel_hidden, rel_hidden]
        self.node_proj = nn.Linear(text_width, obj_dim)  # P_n
        self.slot_proj = nn.Linear(slot_width, sum(self.split), bias=False)  # P_s | f_s, f_o slot halves
        self.rel_in_subject = nn.Linear(text_width, rel_hidden)  # relation half of f_s's first layer
        self.rel_in_object = nn.Linear(text_width, rel_hidden)
        self.rel_out_subject = nn.Linear(rel_hidden, rel_dim)
        self.rel_out_object = nn.Linear(rel_hidden, rel_dim)
        self.rel_proj = nn.Linear(text_width, rel_dim)  # P_r
        init = torch.log(torch.expm1(torch.tensor(1.0)))  # softplus(init) == 1
        self.alpha = nn.Parameter(init.clone())
        self.beta = nn.Parameter(init.clone())

    def forward(
        self, weights: torch.Tensor, patches: torch.Tensor, g: GraphState, aligned: bool = False
    ) -> torch.Tensor:
        """Binding weights [X, Y, N, T], patch features [*, T, d] and graph tensors -> S [X, Y].

        Graph tensors are [X, 1, ...] (one graph per caption row, broadcast over images: the cross
        layout) or [X, Y, ...] (a graph per pair); see binding.py for the two pair layouts."""
        img = "x" if aligned else "y"  # the pair axis that indexes images
        v_obj, v_sub, v_objrole = self.slot_proj(patches).split(self.split, dim=-1)  # [*, T, .]
        # object term: cos(P_n n, P_s slot) from node-patch dot products and the patches' Gram matrix
        node = F.normalize(self.node_proj(g.nodes), dim=-1)
        dots = torch.einsum(f"xynh,{img}th->xynt", node, v_obj)
        gram = v_obj @ v_obj.transpose(1, 2)
        sq_norm = (torch.einsum(f"xynt,{img}ts->xyns", weights, gram) * weights).sum(-1)
        obj = (weights * dots).sum(-1) / sq_norm.clamp_min(1e-16).sqrt()  # [X, Y, N]

        # relation term: only the endpoints' slots are needed, so pick their weights and then average
        X, Y, _, T = weights.shape

        def endpoint(idx, values):  # idx [X, 1|Y, R] -> first-layer slot half [X, Y, R, h]
            w = weights.gather(2, idx[..., None].expand(X, Y, -1, T))
            return torch.einsum(f"xyrt,{img}th->xyrh", w, values)

        r = g.relations
        pred = self.rel_out_subject(
            F.gelu(self.rel_in_subject(r) + endpoint(g.rel_subject, v_sub))
        ) + self.rel_out_object(F.gelu(self.rel_in_object(r) + endpoint(g.rel_object, v_objrole)))
        rel = cosine(self.rel_proj(r), pred)  # [X, Y, R]
        a, b = F.softplus(self.alpha), F.softplus(self.beta)
        num = a * (obj * g.node_mask).sum(-1) + b * (rel * g.rel_mask).sum(-1)
        den = a * g.node_mask.sum(-1) + b * g.rel_mask.sum(-1)
        return num / den.clamp_min(1e-6)


class OCCLIP(CLIP):
    """A CLIP whose captions are scored structurally; encode_image / encode_text stay CLIP's."""

    scores_by_graphs = True  # evaluation parses captions and scores the graphs bound to the image

    def __init__(self, cfg: OCClipConfig | None = None):
        super().__init__(cfg or OCClipConfig())
        cfg = self.cfg
        self.parser = None  # set to any bindclip Parser; spaCy is loaded on first use
        text_width = model_config(cfg.backbone)["embed_dim"]
        self.binding = BindingModule(cfg.binding, self._patch_width(), text_width)
        self.score_head = StructuredScore(text_width, cfg.binding.dim, cfg.obj_dim, cfg.rel_dim, cfg.rel_hidden)

    def _patch_width(self) -> int:
        v = self.backbone.visual
        return v.transformer.width if hasattr(v, "transformer") else v.trunk.num_features

    # ---- inputs -------------------------------------------------------------------------------
    def collate(self, graphs: list[SceneGraph], counterfactuals: bool = True, seed: int = 0) -> GraphBatch:
        c = self.cfg
        return collate_graphs(
            graphs,
            c.max_nodes,
            c.max_relations,
            counterfactuals=c.counterfactuals if counterfactuals else 0,
            n_shuffled=c.n_shuffled,
            seed=seed,
        )

    def encode_graphs(self, batch: GraphBatch, extra: list[str] | tuple = ()):
        """GraphState of the batch; with `extra` texts (C2LIP phrases beyond the node caps) also
        (all text embeddings, text -> row) so callers reuse the encodings."""
        check_graph_batch(batch)
        batch = batch.to(self.device)
        texts = list(batch.texts) + [t for t in dict.fromkeys(extra) if t not in set(batch.texts)]
        emb = encode_text(self.backbone, self.tokenizer(texts), normalize=True)
        state = GraphState(
            emb[batch.node_text],
            batch.node_mask,
            emb[batch.rel_text],
            batch.rel_subject,
            batch.rel_object,
            batch.rel_mask,
        )
        if not extra:
            return state
        return state, emb, {t: i for i, t in enumerate(texts)}

    def encode_patches(self, images: torch.Tensor) -> torch.Tensor:
        """[I, T, d] binding-ready patch features from the configured ViT block."""
        _, (tokens,) = image_tokens(self.backbone.visual, images, [self.cfg.backbone.token_layer])
        return self.binding.encode_patches(tokens)

    # ---- scores -------------------------------------------------------------------------------
    def score_matrix(self, patches: torch.Tensor, g: GraphState) -> torch.Tensor:
        """S [C, I]: every caption's graph bound to every image."""
        weights, _ = self.binding(patches, g.nodes, g.node_mask)
        return self.score_head(weights, patches, _rows(g))

    def saved_bytes_per_pair(self, g: GraphState, n_patches: int, dtype: torch.dtype) -> int:
        """What binding and score keep for backward per (caption, image) pair: the [N+K, T] attention, ten
        [N, T] tensors (weights, their products and sums), six [R, T] (the endpoints' weights) and eight
        [R, h] (the relation MLPs). The counts are fitted to saved_tensors_hooks' bytes over several
        shapes; the estimate is 0-30 % above them (tested)."""
        n, r, t = g.nodes.shape[1], g.relations.shape[1], n_patches
        elements = (n + self.cfg.binding.n_default) * t + 10 * n * t + 6 * r * t + 8 * r * self.cfg.rel_hidden
        return elements * dtype.itemsize

    def pair_chunk(self, g: GraphState, patches: torch.Tensor) -> int:
        """Captions bound per chunk in training: all of them while what the pairs keep for backward fits
        model.binding.chunk_budget_gib, else as many as fit (model.binding.chunk fixes the count)."""
        b, n_captions = self.cfg.binding, len(g.nodes)
        if b.chunk:
            return n_captions if b.chunk < 0 else b.chunk
        per_caption = len(patches) * self.saved_bytes_per_pair(g, patches.shape[1], patches.dtype)
        return chunk_size(n_captions, per_caption, b.chunk_budget_gib)

    def _pair_scores(self, patches: torch.Tensor, *graph: torch.Tensor) -> torch.Tensor:
        """S [C, I] of a chunk of captions, its graph as loose tensors (what checkpoint recomputes from)."""
        return self.score_matrix(patches, GraphState(*graph))

    def training_scores(self, patches: torch.Tensor, g: GraphState, own_rows: torch.Tensor):
        """S [C, I] of every caption (all ranks') against every local image, and the binding weights
        [B, N, T] of local image b with its own caption (row own_rows[b]) for the local loss. Chunked
        past the memory budget: each chunk's binding is recomputed in the backward pass, and the own
        pairs are bound once more on their own (B pairs, not C x I)."""
        C, chunk = len(g.nodes), self.pair_chunk(g, patches)
        diag = torch.arange(len(own_rows), device=patches.device)
        if chunk >= C:
            weights, _ = self.binding(patches, g.nodes, g.node_mask)
            return self.score_head(weights, patches, _rows(g)), weights[own_rows, diag]
        scores = recomputed_in_chunks(self._pair_scores, patches, [getattr(g, f.name) for f in fields(g)], chunk)
        mine = g.rows(own_rows)
        own, _ = self.binding(patches, mine.nodes[:, None], mine.node_mask[:, None], aligned=True)
        return scores, own[:, 0]

    def counterfactual_scores(self, own_weights, patches, g: GraphState, batch: GraphBatch, offset: int = 0):
        """S of image b against its own graph (column 0) and its counterfactuals (columns 1..J), reusing
        the binding of the pair (caption offset + b, image b), own_weights [B, N, T]: counterfactuals keep
        the nodes, so the binding is the same and only the relation endpoints differ.
        -> ([B, 1+J], mask [B, 1+J])."""
        B = batch.batch_size
        rows = offset + torch.arange(B, device=self.device)
        pad = (0, g.relations.shape[1] - batch.rel_subject.shape[1])  # other ranks may have more
        subject = F.pad(torch.cat([batch.rel_subject[:, None], batch.cf_subject], 1), pad).to(self.device)
        obj = F.pad(torch.cat([batch.rel_object[:, None], batch.cf_object], 1), pad).to(self.device)
        own = own_weights[:, None].expand(-1, subject.shape[1], -1, -1)  # [B, 1+J, N, T]
        mine = GraphState(
            g.nodes[rows, None], g.node_mask[rows, None], g.relations[rows, None], subject, obj, g.rel_mask[rows, None]
        )
        mask = torch.cat([torch.ones_like(batch.cf_mask[:, :1]), batch.cf_mask], 1).to(self.device)
        return self.score_head(own, patches, mine, aligned=True), mask

    def forward(self, images: torch.Tensor, graphs: GraphBatch, concepts: ConceptBatch | None = None) -> dict:
        """Logits of this rank's images against every caption of every rank, and the local loss's
        counterfactual logits. Under torch.distributed the graph states are all-gathered (small:
        embeddings of a few short texts per caption) so the slot binding of all pairs stays local.

        With `concepts` (OC-CLIP + C2LIP) it also returns C2LIP's features: the pooled image embedding,
        joint-space patch tokens and the phrase embeddings, which are node texts already encoded."""
        layers = [self.cfg.backbone.token_layer] + ([-1] if concepts is not None else [])
        pooled, tokens = image_tokens(self.backbone.visual, images, layers)
        patches = self.binding.encode_patches(tokens[0])
        if concepts is None:
            local = self.encode_graphs(graphs)
        else:  # the phrases are the node texts (plus any the node cap dropped): encoded once
            local, emb, index = self.encode_graphs(graphs, extra=concepts.phrases)
        everyone, offset = gather_graph_states(local)
        scores, own = self.training_scores(patches, everyone, offset + torch.arange(len(patches), device=self.device))
        scale = self.logit_scale.exp()
        out = {"logits_per_image": scale * scores.T, "logit_scale": scale}
        if graphs.cf_mask is not None:
            cf, mask = self.counterfactual_scores(own, patches, everyone, graphs, offset)
            out["counterfactual_logits"], out["counterfactual_mask"] = scale * cf, mask
        if concepts is not None:
            rows = torch.tensor([index[p] for p in concepts.phrases], device=self.device)
            out.update(
                image_features=F.normalize(pooled, dim=-1),
                patch_features=F.normalize(joint_space_tokens(self.backbone.visual, tokens[1]), dim=-1),
                phrase_features=emb[rows],
                phrase_owner=concepts.owner.to(self.device),
                phrase_ids=concepts.ids.to(self.device),
            )
        return out

    @torch.no_grad()
    def score(self, images, graphs: list[str] | list[SceneGraph] | GraphBatch) -> torch.Tensor:
        """[n_captions, n_images] structured similarities (no scale), for evaluation. Captions given as
        text are parsed with `self.parser` (spaCy unless set); images as in CLIP.score."""
        if graphs and isinstance(graphs, list) and isinstance(graphs[0], str):
            graphs = self.parse(graphs)
        batch = graphs if isinstance(graphs, GraphBatch) else self.collate(graphs, counterfactuals=False)
        return self.score_matrix(self.encode_patches(self.prepare_images(images)), self.encode_graphs(batch))

    def parse(self, captions: list[str]) -> list[SceneGraph]:
        if self.parser is None:
            self.parser = SpacyParser()
        return self.parser.parse(list(captions))


def _rows(g: GraphState) -> GraphState:
    """Cross layout: caption tensors [C, ...] -> [C, 1, ...], broadcasting over images."""
    return GraphState(
        *(t[:, None] for t in (g.nodes, g.node_mask, g.relations, g.rel_subject, g.rel_object, g.rel_mask))
    )


def check_graph_batch(batch: GraphBatch) -> None:
    """Every caption needs a node, and relations must point at real nodes of their own caption; name
    the caption when not."""
    n_real = batch.node_mask.sum(1, keepdim=True)
    if (n_real == 0).any():
        b = int((n_real[:, 0] == 0).nonzero()[0])
        caption = batch.captions[b] if b < len(batch.captions) else f"#{b}"
        raise GraphFormatError(
            f"graph of caption {caption!r} has no node to bind; collate with "
            f"empty_as_caption=True (the default) to score it by its whole caption"
        )
    bad = batch.rel_mask & (
        (batch.rel_subject >= n_real) | (batch.rel_object >= n_real) | (batch.rel_subject < 0) | (batch.rel_object < 0)
    )
    if bad.any():
        b, k = (int(i) for i in bad.nonzero()[0])
        caption = batch.captions[b] if b < len(batch.captions) else f"#{b}"
        raise GraphFormatError(
            f"graph of caption {caption!r}: relation {k} points at node {int(batch.rel_subject[b, k])} -> "
            f"{int(batch.rel_object[b, k])}, but the caption has {int(n_real[b])} node(s)"
        )


def gather_graph_states(g: GraphState) -> tuple[GraphState, int]:
    """All ranks' graph states (padded to common N, R) and this rank's first caption row."""
    rank, world = world_rank()
    if world == 1:
        return g, 0
    parts = [gather_ragged(t, with_grad=True) for t in (g.nodes, g.relations)]
    ints = [gather_ragged(t.long(), with_grad=False) for t in (g.node_mask, g.rel_subject, g.rel_object, g.rel_mask)]
    offset = sum(p.shape[0] for p in parts[0][:rank])
    nodes, rels = (torch.cat(p) for p in parts)
    node_mask, subject, obj, rel_mask = (torch.cat(p) for p in ints)
    return GraphState(nodes, node_mask.bool(), rels, subject, obj, rel_mask.bool()), offset
