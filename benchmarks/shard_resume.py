"""Resuming a shard run costs the same at step 1,000 as at step 10: time to the first batch after resume.

    python benchmarks/shard_resume.py [--shards 100] [--per-shard 200] [--batch 256] [--buffer 1000]

img2dataset-style shards (jpg + txt + json) of small JPEGs, CLIP on the world-small backbone, one
loader process, batch 256 (the issue's setting). The stream position at step N is what the trainer
would checkpoint there (every record is usable, so batch N ends at record 256 N of the stream); the
resumed loader then re-reads only the records its buffer held (at most the last 3 x buffer records)
and the current shard. Measured: seconds from building the resumed loader to its first batch, best of
3, at steps 10 and 1,000; for reference the old way, replaying (reading and decoding) every batch
before the step, once at steps 10 and 100. Prints one JSON line; the bar is ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from itertools import islice
from pathlib import Path


def write_shards(root: Path, n_shards: int, per_shard: int) -> str:
    import torch
    import webdataset as wds
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for s in range(n_shards):
        with wds.TarWriter(str(root / f"{s:05d}.tar")) as sink:
            for i in range(per_shard):
                buf = io.BytesIO()
                pixels = (torch.rand(48, 64, 3, generator=g) * 255).byte().numpy()
                Image.fromarray(pixels).save(buf, "JPEG", quality=85)
                caption = f"a photo of object {s * per_shard + i}"
                sink.write(
                    {
                        "__key__": f"{s:05d}{i:04d}",
                        "jpg": buf.getvalue(),
                        "txt": caption.encode(),
                        "json": json.dumps({"caption": caption, "status": "success"}).encode(),
                    }
                )
    return str(root / f"{{00000..{n_shards - 1:05d}}}.tar")


def position_at(cfg, step: int) -> dict:
    """The stream's checkpointed position after `step` batches (all records usable: batch = records)."""
    from bindclip.train.shards import ShardStream, expand_urls

    d = cfg.data
    stream = ShardStream(expand_urls(d.shards), cfg.run.seed, 0, 1, d.shuffle_buffer)
    for _ in islice(stream.records(), step * d.batch_size):
        pass
    return {0: {"stream": stream.state(), "batches": step}}


def first_batch_s(make, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        next(iter(make()))
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--per-shard", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--buffer", type=int, default=1000)
    args = ap.parse_args(argv)
    import torch

    from bindclip.models.backbone import get_tokenizer
    from bindclip.train import load_config
    from bindclip.train.shards import shard_loader

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        pattern = write_shards(Path(tmp), args.shards, args.per_shard)
        cfg = load_config(
            None,
            [
                "data.source=wds",
                f"data.shards={pattern}",
                "data.workers=0",
                f"data.batch_size={args.batch}",
                f"data.shuffle_buffer={args.buffer}",
            ],
            method="clip",
            preset="world-small",
        )
        tok = get_tokenizer(cfg.model.backbone)
        resume, replay = {}, {}
        for step in (10, 1000):
            start = position_at(cfg, step)
            resume[step] = first_batch_s(
                lambda step=step, start=start: shard_loader(cfg, tok, consumed=step, start=start)
            )
        for step in (10, 100):
            replay[step] = first_batch_s(lambda step=step: islice(shard_loader(cfg, tok), step, None), rounds=1)
    print(
        json.dumps(
            {
                "benchmark": "shard_resume",
                "records": args.shards * args.per_shard,
                "batch": args.batch,
                "shuffle_buffer": args.buffer,
                "resume_s": {str(k): round(v, 3) for k, v in resume.items()},
                "replay_s": {str(k): round(v, 3) for k, v in replay.items()},
                "resume_ratio_1000_vs_10": round(resume[1000] / resume[10], 2),
                "met": resume[1000] / resume[10] <= 1.5,
            }
        )
    )


if __name__ == "__main__":
    main()
