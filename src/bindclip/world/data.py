"""The world as training data: an on-the-fly IterableDataset and an export to WebDataset shards
(png + json), so one trainer reads the world and real image-text shards alike."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info
from tqdm import tqdm

from ..errors import WorldConfigError
from .world import World

CHUNK = 64  # scenes rendered together


class WorldDataset(IterableDataset):
    """Endless (or `length`-long) stream of world samples.

    Each (rank, worker) draws its own stream: the seed is combined with both, so two workers never
    repeat each other and a rerun with the same seed, ranks and workers is identical.
    """

    def __init__(
        self,
        world: World,
        part: str = "train",
        seed: int = 0,
        length: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        self.world, self.part, self.seed, self.length = world, part, seed, length
        self.rank = int(os.environ.get("RANK", 0)) if rank is None else rank
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size

    def _stream_id(self) -> tuple[int, int]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        return self.rank * nw + wid, self.world_size * nw

    def __iter__(self):
        stream, n_streams = self._stream_id()
        todo = None if self.length is None else len(range(stream, self.length, n_streams))
        chunk = 0
        while todo is None or todo > 0:
            n = CHUNK if todo is None else min(CHUNK, todo)
            images, samples = self.world.batch(n, seed=hash_seed(self.seed, stream, chunk), part=self.part)
            for img, s in zip(images, samples):
                yield {"image": img, **s.labels()}
            chunk += 1
            if todo is not None:
                todo -= n


def hash_seed(*parts: int) -> int:
    """A 63-bit seed from integers, stable across processes (unlike hash())."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def png_bytes(img: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def export_shards(
    world: World, out: str | Path, n: int, part: str, seed: int = 0, per_shard: int = 10_000, progress: bool = True
) -> list[Path]:
    """Write n samples of `part` as OUT/{part}-000000.tar ...; returns the shard paths."""
    if n < 0 or per_shard < 1:
        raise WorldConfigError(f"export_shards: n {n} (0 or more) and per_shard {per_shard} (1 or more)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pattern = str(out / f"{part}-%06d.tar")
    bar = tqdm(total=n, desc=f"export {part}", unit="scene", disable=None if progress else True)
    written = 0
    with wds.ShardWriter(pattern, maxcount=per_shard, verbose=0) as sink:
        chunk = 0
        while written < n:
            k = min(CHUNK, n - written)
            images, samples = world.batch(k, seed=hash_seed(seed, part, chunk), part=part)
            for img, s in zip(images, samples):
                sink.write(
                    {"__key__": f"{part}{written:09d}", "png": png_bytes(img), "json": json.dumps(s.labels()).encode()}
                )
                written += 1
            bar.update(k)
            chunk += 1
    bar.close()
    return sorted(out.glob(f"{part}-*.tar"))
