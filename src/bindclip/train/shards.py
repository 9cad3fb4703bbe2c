"""Real image-text pairs from WebDataset shards (img2dataset's jpg + txt + json; local tars or pipe: URLs):
every sample once per epoch, shuffled, resumable from a checkpoint in constant time.

Streams. A run reads `ranks x workers` streams. In epoch e the shard list is shuffled by (seed, e) and
stream i takes every n-th shard from position i, so each shard (and each sample) is read exactly once
per epoch across all streams. `data.resampled=true` instead draws each stream's shards with
replacement (open_clip's multi-node mode), as many per epoch as it would get without.

Shuffling. Within a stream, samples pass a shuffle buffer of `data.shuffle_buffer` records seeded by
(seed, epoch, stream), as webdataset's `shuffle` stage does. That stage cannot be checkpointed, so this
one keeps, besides the records, which (shard, record) each buffered record is: the stream's position
is (epoch, shard, next record, the buffer's record ids, the RNG state). A checkpoint stores each stream's
position at the last batch the trainer consumed; resume re-reads only the buffered records' shards and
the current one (raw tar reads, no decoding), whatever the step. Tar reading and pipe: URLs are
webdataset's (`tarfile_to_samples`).

Samples. A record needs an image (jpg, jpeg, png or webp) and a caption (txt, or json "caption"). The
image goes through open_clip's preprocess_train for the backbone (RandomResizedCrop with a per-sample
seed, so resumed and unbroken runs crop alike). The scene graph comes from the record's json "graph"
(world exports carry one), else from the graph cache, else the caption is parsed in the loader worker.
A record that cannot be used (corrupt image, no caption, malformed graph, unreadable tar member) is
skipped and counted by reason; the counts travel with the batches so the trainer logs and saves them.
"""

from __future__ import annotations

import io
import os
import random
from collections import Counter, deque
from types import SimpleNamespace

import braceexpand
import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import ShardError
from ..graphs import GraphFormatError, SceneGraph
from ..graphs.annotate import is_local, record_caption, record_meta
from ..graphs.parse import make_parser
from ..methods import get_method
from ..models.preprocess import pixel_transform
from ..world.data import hash_seed
from .config import TrainConfig
from .data import _as_is, _one_thread, make_batch

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")


def expand_urls(pattern: str) -> list[str]:
    return [u for part in pattern.split("::") for u in braceexpand.braceexpand(part)]


def stream_shards(
    urls: list[str],
    seed: int,
    epoch: int,
    stream: int,
    n_streams: int,
    resampled: bool = False,
    quota: int | None = None,
) -> list[str]:
    """The shards stream `stream` of `n_streams` reads in `epoch`. Split here, once, by the trainer's own
    (rank, worker): webdataset's split_by_node/split_by_worker read them from the environment, and the
    checkpoint must name the stream it resumes. Resampled: drawn with replacement, as many as the stream
    would get without, or (with a `quota` of records per epoch) enough never to run out before it."""
    if resampled:
        k = quota or max(1, len(urls) // n_streams)
        return random.Random(hash_seed(seed, epoch, stream)).choices(urls, k=k)
    order = list(urls)
    random.Random(hash_seed(seed, epoch)).shuffle(order)
    return order[stream::n_streams]


class ShardStream:
    """One stream's records, shuffled through a buffer, with a position that can be saved and resumed.

    The buffer picks at random, as webdataset's does, except that a record that has waited `2 x bufsize`
    reads leaves first: a random buffer keeps a few records for many times its size (their survival
    decays geometrically), and the position must name only recent records for a resume to re-read a
    bounded span (at most the last 3 x bufsize records), whatever the step."""

    def __init__(
        self,
        urls: list[str],
        seed: int,
        stream: int,
        n_streams: int,
        bufsize: int,
        resampled: bool = False,
        skipped: Counter | None = None,
        state: dict | None = None,
        quota: int | None = None,
    ):
        self.urls, self.seed, self.stream, self.n_streams = urls, seed, stream, n_streams
        self.bufsize, self.resampled, self.quota = max(1, bufsize), resampled, quota  # quota: records an epoch
        self.skipped = skipped if skipped is not None else Counter()
        state = state or {"epoch": 0, "shard": 0, "record": 0, "reads": 0, "buffer": [], "rng": None}
        self.epoch, self.shard, self.record = state["epoch"], state["shard"], state["record"]
        self.reads = state["reads"]  # records read this epoch (ages in the buffer count in reads)
        self._refill = [tuple(r) for r in state["buffer"]]  # (shard, record, read at), in buffer order
        self.rng = random.Random(hash_seed(seed, self.epoch, stream))
        if state["rng"] is not None:
            self.rng.setstate((state["rng"][0], tuple(state["rng"][1]), state["rng"][2]))
        self.buffer: list[tuple[tuple[int, int, int], dict]] = []  # ((shard, record, read at), record)
        self.oldest: deque = deque()  # buffered ids by read time (ids already picked are skipped lazily)
        self.where: dict[tuple, int] = {}  # buffered id -> index in self.buffer

    def state(self) -> dict:
        """Where the stream stands: plain ints and lists (a weights_only checkpoint holds them)."""
        version, keys, gauss = self.rng.getstate()
        return {
            "epoch": self.epoch,
            "shard": self.shard,
            "record": self.record,
            "reads": self.reads,
            "buffer": [list(ref) for ref, _ in self.buffer],
            "rng": [version, list(keys), gauss],
        }

    def _read(self, url: str):
        def tar_error(exn):  # a broken shard member: count it and read on
            self.skipped[f"unreadable tar member ({type(exn).__name__})"] += 1
            return True

        return wds.tarfile_to_samples(handler=tar_error)([{"url": url}])

    def _push(self, ref: tuple, rec: dict) -> None:
        self.where[ref] = len(self.buffer)
        self.buffer.append((ref, rec))
        self.oldest.append(ref)

    def _pick(self):
        """A random buffered record out (the one waited too long first), the last one into its place."""
        while self.oldest[0] not in self.where:
            self.oldest.popleft()
        if self.reads - self.oldest[0][2] >= 2 * self.bufsize:
            k = self.where[self.oldest[0]]
        else:
            k = self.rng.randrange(len(self.buffer))
        self.buffer[k], self.buffer[-1] = self.buffer[-1], self.buffer[k]
        self.where[self.buffer[k][0]] = k
        ref, rec = self.buffer.pop()
        del self.where[ref]
        return ref, rec

    def _restore(self, shards: list[str]) -> None:
        """Resume: the buffered records read again (raw, each shard up to its last wanted record)."""
        wanted: dict[int, dict[int, tuple]] = {}
        for ref in self._refill:
            wanted.setdefault(ref[0], {})[ref[1]] = ref
        found = {}
        for j in sorted(wanted):
            last = max(wanted[j])
            for k, rec in enumerate(self._read(shards[j])):
                if k in wanted[j]:
                    found[wanted[j][k]] = rec
                if k >= last:
                    break
        for ref in sorted(self._refill, key=lambda r: r[2]):  # read order, for the age queue
            self.oldest.append(ref)
        self.buffer = [(ref, found[ref]) for ref in self._refill if ref in found]
        self.where = {ref: i for i, (ref, _) in enumerate(self.buffer)}
        self._refill = []

    def records(self):
        """Yields ((epoch, shard, record), record dict) forever, epoch after epoch."""
        while True:
            shards = stream_shards(
                self.urls, self.seed, self.epoch, self.stream, self.n_streams, self.resampled, self.quota
            )
            if self._refill:
                self._restore(shards)
            fresh, read = self.shard == 0 and self.record == 0 and not self.buffer, 0
            for j in range(self.shard, len(shards)):
                if self.quota and self.reads >= self.quota:
                    break  # resampled with data.train_num_samples: the epoch has its records
                for k, rec in enumerate(self._read(shards[j])):
                    if j == self.shard and k < self.record:
                        continue  # read before the checkpoint (raw bytes, within one shard)
                    if self.quota and self.reads >= self.quota:
                        break
                    self.shard, self.record = j, k + 1
                    self._push((j, k, self.reads), rec)
                    self.reads += 1
                    read += 1
                    if len(self.buffer) >= self.bufsize:
                        ref, rec = self._pick()
                        yield (self.epoch, ref[0], ref[1]), rec
                else:
                    self.shard, self.record = j + 1, 0
            if fresh and not read:
                raise ShardError(
                    f"data.shards: no usable record in {shards} (skipped: {dict(self.skipped) or 'nothing read'})"
                )
            while self.buffer:
                ref, rec = self._pick()
                yield (self.epoch, ref[0], ref[1]), rec
            self.epoch, self.shard, self.record, self.reads = self.epoch + 1, 0, 0, 0
            self.oldest.clear()
            self.rng = random.Random(hash_seed(self.seed, self.epoch, self.stream))


class ShardBatches(IterableDataset):
    """Batches of this rank's streams, one stream per loader worker. `start` holds the streams' positions
    at the last consumed batch and `consumed` how many batches the trainer took: the DataLoader hands out
    batches round-robin from worker 0, so on resume worker w plays stream (w + consumed) mod workers."""

    def __init__(
        self,
        cfg: TrainConfig,
        tokenizer,
        rank: int = 0,
        world_size: int = 1,
        consumed: int = 0,
        start: dict | None = None,
    ):
        self.cfg, self.tokenizer = cfg, tokenizer
        # open_clip's preprocess_train (RandomResizedCrop, the tag's resize and interpolation) up to uint8
        self.transform = pixel_transform(cfg.model.backbone.resolved_preprocess(), train=True)
        self.rank, self.world_size = rank, world_size
        self.urls = expand_urls(cfg.data.shards)
        self.consumed, self.start = consumed, start or {}
        self._graphs = None  # the graph cache or a parser, built in the worker on first need
        self.needs_graphs = get_method(cfg.model.method).needs_graphs  # else spaCy stays unloaded

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        n_streams = self.world_size * nw
        if len(self.urls) < n_streams and not self.cfg.data.resampled:
            raise ShardError(
                f"data.shards: {len(self.urls)} shard(s) for {n_streams} readers (ranks x workers); "
                f"use fewer data.workers or more shards"
            )
        role = (wid + self.consumed) % nw
        saved = self.start.get(role, {})
        skipped: Counter = Counter()
        d = self.cfg.data
        quota = -(-d.train_num_samples // n_streams) if d.train_num_samples else None
        stream = ShardStream(
            self.urls,
            self.cfg.run.seed,
            self.rank * nw + role,
            n_streams,
            d.shuffle_buffer,
            d.resampled,
            skipped,
            saved.get("stream"),
            quota,
        )
        made, usable, epoch = saved.get("batches", 0), int(bool(saved)), stream.epoch  # resumed: usable before
        images, samples = [], []  # a batch may span the end of one epoch and the start of the next
        for (e, j, k), record in stream.records():
            if e != epoch:
                if not usable:
                    raise ShardError(
                        f"data.shards: no usable record in epoch {epoch} of stream {stream.stream} "
                        f"(skipped: {dict(skipped)})"
                    )
                epoch, usable = e, 0
            sample = self._sample(record, skipped, hash_seed(self.cfg.run.seed, e, stream.stream, j, k))
            if sample is None:
                continue
            usable += 1
            images.append(sample[0])
            samples.append(sample[1])
            if len(samples) == d.batch_size:
                batch = make_batch(
                    self.cfg,
                    self.tokenizer,
                    torch.stack(images),
                    samples,
                    seed=hash_seed(self.cfg.run.seed, stream.stream, made),
                )
                made += 1
                batch.skipped, batch.epoch = dict(skipped), e
                batch.position = (role, {"stream": stream.state(), "batches": made})
                skipped.clear()
                yield batch
                images, samples = [], []

    def _sample(self, record: dict, skipped: Counter, seed: int):
        key = next((k for k in IMAGE_KEYS if k in record), None)
        if key is None:
            skipped["no image"] += 1
            return None
        meta = record_meta(record)
        if meta is None:
            skipped["malformed json"] += 1
            return None
        caption = record_caption(record, meta)
        if not caption:
            skipped["no caption"] += 1
            return None
        try:
            with torch.random.fork_rng(devices=[]):  # a per-sample crop: the same after a resume
                torch.manual_seed(seed)
                image = self.transform(Image.open(io.BytesIO(record[key])))
        except Exception:  # PIL raises many types on corrupt data
            skipped["corrupt image"] += 1
            return None
        if not self.needs_graphs:
            return image, SimpleNamespace(caption=caption, graph=None)
        try:
            graph = (
                SceneGraph.from_dict({**meta["graph"], "caption": caption}, where=record.get("__key__", "?"))
                if "graph" in meta
                else self._parse(caption)
            )
        except GraphFormatError:
            skipped["malformed graph"] += 1
            return None
        if not graph.objects:  # "click to enlarge", "IMG_0042.JPG": nothing to bind
            if self.cfg.data.empty_graphs == "skip":
                skipped["empty graph"] += 1
                return None
            skipped["empty graph (kept: the caption as one node)"] += 1
        return image, SimpleNamespace(caption=caption, graph=graph)

    def _parse(self, caption: str) -> SceneGraph:
        """Through the graph cache when one is configured, else data.parser (loaded only when a record
        carries no graph of its own)."""
        if self._graphs is None:
            self._graphs = make_parser(self.cfg.data.parser, cache=self.cfg.data.graph_cache)
        return self._graphs.parse([caption])[0]


def shard_loader(
    cfg: TrainConfig, tokenizer, rank: int = 0, world_size: int = 1, consumed: int = 0, start: dict | None = None
) -> DataLoader:
    """Batches of this rank's shard streams; `consumed` and `start` (the checkpoint's data positions)
    resume where a run stopped."""
    ds = ShardBatches(cfg, tokenizer, rank, world_size, consumed, start)
    local = [u for u in ds.urls if is_local(u)]
    if local and len(local) == len(ds.urls) and not any(os.path.isfile(u) for u in local):
        # here, before workers start: a worker's error would reach the user wrapped in its traceback
        raise ShardError(f"data.shards: none of the {len(local)} shard(s) exists (first: {local[0]})")
    workers = cfg.data.workers
    return DataLoader(
        ds,
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        collate_fn=_as_is,
        worker_init_fn=_one_thread,
    )
