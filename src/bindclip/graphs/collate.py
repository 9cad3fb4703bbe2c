"""Batch a list of scene graphs into padded index tensors for the models.

Every distinct node or relation text in the batch is encoded once by the text tower; the padded
[B, N] / [B, R] tables point into that list. Padded slots carry index 0 and mask False, so a model
gathers freely and then masks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields

import torch

from .scene_graph import SceneGraph, SGObject


@dataclass
class GraphBatch:
    texts: list[str]  # distinct node and relation texts, encoded once per batch
    node_text: torch.Tensor  # [B, N] long, index into texts
    node_mask: torch.Tensor  # [B, N] bool, True for a real node
    rel_text: torch.Tensor  # [B, R] long, index into texts
    rel_subject: torch.Tensor  # [B, R] long, index into the caption's own nodes (0..N-1)
    rel_object: torch.Tensor  # [B, R] long
    rel_mask: torch.Tensor  # [B, R] bool
    # OC-CLIP's local-loss negatives: the same nodes and predicates with other endpoints
    cf_subject: torch.Tensor | None = None  # [B, J, R] long
    cf_object: torch.Tensor | None = None  # [B, J, R] long
    cf_mask: torch.Tensor | None = None  # [B, J] bool, True where caption b has a j-th counterfactual
    captions: list[str] = field(default_factory=list)  # for error messages

    @property
    def batch_size(self) -> int:
        return self.node_text.shape[0]

    def shared_object_mask(self) -> torch.Tensor:
        """[B, B] True where caption j (j != i) has a node with the same text as one of caption i's."""
        ids = self.node_text.masked_fill(~self.node_mask, -1)  # [B, N]
        same = (ids[:, None, :, None] == ids[None, :, None, :]) & (ids[:, None, :, None] >= 0)
        return same.flatten(2).any(-1).fill_diagonal_(False)

    def to(self, device) -> GraphBatch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.to(device, non_blocking=True)
        return GraphBatch(**moved)


def cap_graph(
    g: SceneGraph, max_nodes: int | None, max_relations: int | None, empty_as_caption: bool = True
) -> SceneGraph:
    """Keep the first `max_nodes` objects and the relations among them (at most `max_relations`).

    The caps exist so one pathological 5,000-character caption cannot blow up a batch's memory. A
    graph with no object becomes one node holding the whole caption (the parser found nothing to
    bind, so the caption is the only concept), so every caption still gets a score.
    """
    objects = g.objects[:max_nodes] if max_nodes else g.objects
    rels = [r for r in g.relations if r.subject < len(objects) and r.object < len(objects)]
    rels = rels[:max_relations] if max_relations else rels
    if not objects and empty_as_caption:
        objects = (SGObject(g.caption.strip()),)
    return SceneGraph(objects, rels, g.caption)


def collate_graphs(
    graphs: list[SceneGraph],
    max_nodes: int | None = None,
    max_relations: int | None = None,
    counterfactuals: int = 0,
    n_shuffled: int = 1,
    seed: int = 0,
    empty_as_caption: bool = True,
) -> GraphBatch:
    """Pad graphs to the largest node/relation count in the batch (or the given caps).

    `counterfactuals` > 0 also fills cf_* with up to that many negatives per caption
    (SceneGraph.counterfactuals of the capped graph: subject/object swaps and re-drawn endpoints).
    """
    index: dict[str, int] = {}

    def text_id(t: str) -> int:
        return index.setdefault(t, len(index))

    B = len(graphs)
    kept = [cap_graph(g, max_nodes, max_relations, empty_as_caption) for g in graphs]
    N = max([len(g.objects) for g in kept] + [1])
    R = max([len(g.relations) for g in kept] + [1])
    node_text = torch.zeros(B, N, dtype=torch.long)
    node_mask = torch.zeros(B, N, dtype=torch.bool)
    rel_text = torch.zeros(B, R, dtype=torch.long)
    rel_subject = torch.zeros(B, R, dtype=torch.long)
    rel_object = torch.zeros(B, R, dtype=torch.long)
    rel_mask = torch.zeros(B, R, dtype=torch.bool)
    for b, g in enumerate(kept):
        for i, o in enumerate(g.objects):
            node_text[b, i] = text_id(o.text)
            node_mask[b, i] = True
        for k, r in enumerate(g.relations):
            rel_text[b, k] = text_id(r.predicate)
            rel_subject[b, k] = r.subject
            rel_object[b, k] = r.object
            rel_mask[b, k] = True
    texts = list(index) or [""]  # never an empty list: models encode at least one text
    batch = GraphBatch(
        texts, node_text, node_mask, rel_text, rel_subject, rel_object, rel_mask, captions=[g.caption for g in graphs]
    )
    if counterfactuals:
        _fill_counterfactuals(batch, kept, counterfactuals, n_shuffled, seed)
    return batch


def _fill_counterfactuals(batch: GraphBatch, kept: list[SceneGraph], J: int, n_shuffled: int, seed: int) -> None:
    B, R = batch.rel_subject.shape
    batch.cf_subject = batch.rel_subject[:, None, :].repeat(1, J, 1)
    batch.cf_object = batch.rel_object[:, None, :].repeat(1, J, 1)
    batch.cf_mask = torch.zeros(B, J, dtype=torch.bool)
    for b, g in enumerate(kept):
        for j, cf in enumerate(g.counterfactuals(J, n_shuffled, seed=seed + b)):
            for k, r in enumerate(cf.relations):  # same relations, same order, new endpoints
                batch.cf_subject[b, j, k] = r.subject
                batch.cf_object[b, j, k] = r.object
            batch.cf_mask[b, j] = True


@dataclass
class ConceptBatch:
    """C2LIP's concept phrases of a batch, flattened: phrase n belongs to caption owner[n]."""

    phrases: list[str]
    owner: torch.Tensor  # [P] long, caption index within the batch
    ids: torch.Tensor  # [P] long, a stable hash of the phrase text (equal text -> equal id)


def phrase_id(text: str) -> int:
    """Stable across processes and runs (unlike hash()), so ranks agree on which phrases are equal."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def collate_concepts(graphs: list[SceneGraph], max_phrases: int | None = None) -> ConceptBatch:
    """Every caption's concept phrases; a caption without any contributes its whole text (C2LIP's
    fallback), so every image has at least one positive phrase."""
    phrases, owner = [], []
    for b, g in enumerate(graphs):
        mine = g.concept_phrases()[:max_phrases] or [g.caption.strip()]
        phrases += mine
        owner += [b] * len(mine)
    return ConceptBatch(
        phrases, torch.tensor(owner, dtype=torch.long), torch.tensor([phrase_id(p) for p in phrases], dtype=torch.long)
    )
