"""Training batches: the world generated on the fly, one batch per (rank, micro-step) index.

A batch is a pure function of (seed, rank, index), so a resumed run continues with exactly the
batches it would have seen, and loader workers can prefetch in any order. Workers also collate the
text side (tokens, scene-graph tensors, concept phrases), so the training process only computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from ..graphs import ConceptBatch, GraphBatch
from ..graphs.noise import corrupt_graphs
from ..methods import get_method
from ..models.preprocess import normalize
from ..world.data import hash_seed
from .config import TrainConfig


@dataclass
class Batch:
    images: torch.Tensor  # float [B, 3, S, S], normalised with the backbone's preprocessing
    captions: list[str]
    text: dict = field(default_factory=dict)  # the method's text side: tokens, graphs, concepts, negatives ...
    skipped: dict = field(default_factory=dict)  # records skipped while reading this batch, by reason
    epoch: int | None = None  # shards: the epoch of the stream that made the batch
    position: tuple | None = None  # shards: (stream role, its position after this batch), for checkpoints

    @property
    def tokens(self) -> torch.Tensor | None:
        """Caption tokens (CLIP, SigLIP, C2LIP, CLIP + hard negatives)."""
        return self.text.get("tokens")

    @property
    def graphs(self) -> GraphBatch | None:
        """Scene-graph tensors (OC-CLIP)."""
        return self.text.get("graphs")

    @property
    def concepts(self) -> ConceptBatch | None:
        """Concept phrases (C2LIP)."""
        return self.text.get("concepts")


class WorldBatches(Dataset):
    def __init__(self, cfg: TrainConfig, tokenizer, rank: int = 0, length: int | None = None):
        self.cfg, self.tokenizer, self.rank = cfg, tokenizer, rank
        d = cfg.data
        self.world = d.training_world()
        self.length = length if length is not None else cfg.run.steps * cfg.optim.accum_steps

    def __len__(self) -> int:
        return self.length

    def seed(self, index: int) -> int:
        return hash_seed(self.cfg.run.seed, self.rank, index)

    def scenes(self, index: int):
        """(uint8 images, samples) of this rank's micro-batch `index`."""
        return self.world.batch(self.cfg.data.batch_size, seed=self.seed(index))

    def __getitem__(self, index: int) -> Batch:
        return make_batch(self.cfg, self.tokenizer, *self.scenes(index), seed=self.seed(index))


def make_batch(cfg: TrainConfig, tokenizer, images: torch.Tensor, samples: list, seed: int = 0) -> Batch:
    """What the method needs from samples: uint8 pixels [B, 3, S, S] normalised as the backbone expects
    (the same arithmetic as open_clip's ToTensor + Normalize) and the method's text side."""
    method = get_method(cfg.model.method)
    captions, graphs = [s.caption for s in samples], [s.graph for s in samples]
    if cfg.data.graph_noise and method.needs_graphs:  # parser noise: the graphs lie, images and captions do not
        graphs, _ = corrupt_graphs(graphs, cfg.data.graph_noise, seed)
    text = method.text_side(cfg, tokenizer, captions, graphs, seed)
    return Batch(normalize(images, cfg.model.backbone.resolved_preprocess()), captions, text)


def world_loader(cfg: TrainConfig, tokenizer, rank: int = 0, start: int = 0) -> DataLoader:
    """Micro-batches start, start + 1, ... of this rank, prefetched by `data.workers` processes."""
    ds = WorldBatches(cfg, tokenizer, rank)
    workers = cfg.data.workers
    return DataLoader(
        ds,
        batch_size=None,
        sampler=range(start, len(ds)),
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        persistent_workers=False,
        collate_fn=_as_is,
        worker_init_fn=_one_thread,
    )


def _as_is(batch: Batch) -> Batch:  # batches come ready from the dataset (a named function pickles)
    return batch


def _one_thread(_worker_id: int) -> None:
    """Loader workers render with one thread each, leaving the cores to the training process."""
    torch.set_num_threads(1)
