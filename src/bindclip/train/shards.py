"""Real image-text pairs from WebDataset shards, as open_clip reads them (local tars or pipe: URLs).

A record needs an image (jpg, jpeg, png or webp) and a caption (txt, or json with "caption"). The
scene graph comes from the record's json "graph" (world exports carry one), else from the graph
cache, else the caption is parsed in the loader worker. A record that cannot be used (corrupt
image, no caption, malformed graph, unreadable tar member) is skipped and counted by reason; the
counts travel with the batches so the trainer logs and saves them. Nothing is dropped silently.
"""
from __future__ import annotations

import io
import json
from collections import Counter
from types import SimpleNamespace

import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..graphs import GraphFormatError, SceneGraph
from ..models.preprocess import pixel_transform
from .config import TrainConfig
from .data import _as_is, _one_thread, make_batch

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")


def expand_urls(pattern: str) -> list[str]:
    import braceexpand

    return [u for part in pattern.split("::") for u in braceexpand.braceexpand(part)]


class ShardBatches(IterableDataset):
    def __init__(self, cfg: TrainConfig, tokenizer, rank: int = 0, world_size: int = 1):
        self.cfg, self.tokenizer = cfg, tokenizer
        # open_clip's preprocess_train (RandomResizedCrop, the tag's resize and interpolation) up to uint8
        self.transform = pixel_transform(cfg.model.backbone.resolved_preprocess(), train=True)
        self.rank, self.world_size = rank, world_size
        self.urls = expand_urls(cfg.data.shards)
        self._graphs = None  # the graph cache or a parser, built in the worker on first need

    def _my_urls(self) -> list[str]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        streams = self.world_size * nw
        if len(self.urls) < streams:
            raise ValueError(f"data.shards: {len(self.urls)} shard(s) for {streams} readers (ranks x workers); "
                             f"use fewer data.workers or more shards")
        return self.urls[self.rank * nw + wid::streams]

    def __iter__(self):
        import webdataset as wds

        skipped: Counter = Counter()

        def tar_error(exn):  # a broken shard member: count it and read on
            skipped[f"unreadable tar member ({type(exn).__name__})"] += 1
            return True
        epoch = 0
        images, samples = [], []  # a batch may span the end of one pass and the start of the next
        while True:  # pass over the shards again until the trainer has its steps
            source = wds.WebDataset(self._my_urls(), shardshuffle=False, handler=tar_error, empty_check=False)
            usable = 0
            for record in source:
                sample = self._sample(record, skipped)
                if sample is None:
                    continue
                usable += 1
                images.append(sample[0])
                samples.append(sample[1])
                if len(samples) == self.cfg.data.batch_size:
                    batch = make_batch(self.cfg, self.tokenizer, torch.stack(images), samples, seed=epoch)
                    batch.skipped = dict(skipped)
                    skipped.clear()
                    yield batch
                    images, samples = [], []
            if not usable:
                raise ValueError(f"data.shards: no usable record in {self._my_urls()} "
                                 f"(skipped: {dict(skipped) or 'nothing read'})")
            epoch += 1

    def _sample(self, record: dict, skipped: Counter):
        key = next((k for k in IMAGE_KEYS if k in record), None)
        if key is None:
            skipped["no image"] += 1
            return None
        meta = {}
        if "json" in record:
            try:
                meta = json.loads(record["json"])
            except (json.JSONDecodeError, UnicodeDecodeError):
                skipped["malformed json"] += 1
                return None
        caption = record["txt"].decode("utf-8", "replace").strip() if "txt" in record else meta.get("caption")
        if not caption:
            skipped["no caption"] += 1
            return None
        try:
            image = self.transform(Image.open(io.BytesIO(record[key])))
        except Exception:  # PIL raises many types on corrupt data
            skipped["corrupt image"] += 1
            return None
        try:
            graph = SceneGraph.from_dict({**meta["graph"], "caption": caption}, where=record.get("__key__", "?")) \
                if "graph" in meta else self._parse(caption)
        except GraphFormatError:
            skipped["malformed graph"] += 1
            return None
        return image, SimpleNamespace(caption=caption, graph=graph)

    def _parse(self, caption: str) -> SceneGraph:
        """Through the graph cache when one is configured, else the spaCy parser (loaded only when a
        record carries no graph of its own)."""
        if self._graphs is None:
            from ..graphs.parse import GraphCache, SpacyParser

            cache = self.cfg.data.graph_cache
            self._graphs = GraphCache(SpacyParser(), cache) if cache else SpacyParser()
        return self._graphs.parse([caption])[0]


def shard_loader(cfg: TrainConfig, tokenizer, rank: int = 0, world_size: int = 1) -> DataLoader:
    ds = ShardBatches(cfg, tokenizer, rank, world_size)
    workers = cfg.data.workers
    return DataLoader(ds, batch_size=None, num_workers=workers, prefetch_factor=2 if workers else None,
                      collate_fn=_as_is, worker_init_fn=_one_thread)
