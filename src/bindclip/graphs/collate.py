"""Batch a list of scene graphs into padded index tensors for the models.

Every distinct node or relation text in the batch is encoded once by the text tower; the padded
[B, N] / [B, R] tables point into that list. Padded slots carry index 0 and mask False, so a model
gathers freely and then masks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .scene_graph import SceneGraph


@dataclass
class GraphBatch:
    texts: list[str]  # distinct node and relation texts, encoded once per batch
    node_text: torch.Tensor  # [B, N] long, index into texts
    node_mask: torch.Tensor  # [B, N] bool, True for a real node
    rel_text: torch.Tensor  # [B, R] long, index into texts
    rel_subject: torch.Tensor  # [B, R] long, index into the caption's own nodes (0..N-1)
    rel_object: torch.Tensor  # [B, R] long
    rel_mask: torch.Tensor  # [B, R] bool

    @property
    def batch_size(self) -> int:
        return self.node_text.shape[0]

    def to(self, device) -> "GraphBatch":
        return GraphBatch(self.texts, *(t.to(device) for t in (
            self.node_text, self.node_mask, self.rel_text, self.rel_subject, self.rel_object,
            self.rel_mask)))


def collate_graphs(graphs: list[SceneGraph], max_nodes: int | None = None,
                   max_relations: int | None = None) -> GraphBatch:
    """Pad graphs to the largest node/relation count in the batch (or the given caps).

    Capping keeps the first `max_nodes` objects and drops relations that point past them; the
    caps exist so one pathological 5,000-character caption cannot blow up a batch's memory.
    """
    index: dict[str, int] = {}

    def text_id(t: str) -> int:
        return index.setdefault(t, len(index))

    B = len(graphs)
    kept_nodes = [g.objects[:max_nodes] if max_nodes else g.objects for g in graphs]
    kept_rels = []
    for g, nodes in zip(graphs, kept_nodes):
        rels = [r for r in g.relations if r.subject < len(nodes) and r.object < len(nodes)]
        kept_rels.append(rels[:max_relations] if max_relations else rels)
    N = max([len(n) for n in kept_nodes] + [1])
    R = max([len(r) for r in kept_rels] + [1])
    node_text = torch.zeros(B, N, dtype=torch.long)
    node_mask = torch.zeros(B, N, dtype=torch.bool)
    rel_text = torch.zeros(B, R, dtype=torch.long)
    rel_subject = torch.zeros(B, R, dtype=torch.long)
    rel_object = torch.zeros(B, R, dtype=torch.long)
    rel_mask = torch.zeros(B, R, dtype=torch.bool)
    for b, (nodes, rels) in enumerate(zip(kept_nodes, kept_rels)):
        for i, o in enumerate(nodes):
            node_text[b, i] = text_id(o.text)
            node_mask[b, i] = True
        for k, r in enumerate(rels):
            rel_text[b, k] = text_id(r.predicate)
            rel_subject[b, k] = r.subject
            rel_object[b, k] = r.object
            rel_mask[b, k] = True
    texts = list(index) or [""]  # never an empty list: models encode at least one text
    return GraphBatch(texts, node_text, node_mask, rel_text, rel_subject, rel_object, rel_mask)
