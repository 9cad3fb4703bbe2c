import json

import pytest
import torch

from bindclip.methods import get_method
from bindclip.train import ConfigError, load_config, train
from bindclip.world import World, WorldConfig
from bindclip.world.data import export_shards, png_bytes
from conftest import write_img2dataset_shards

TINY = [
    "data.batch_size=8",
    "data.workers=0",
    "run.log_every=1",
    "run.save_every=100",
    "model.binding.dim=32",
    "model.binding.heads=2",
    "model.obj_dim=16",
    "model.rel_dim=16",
    "model.rel_hidden=16",
]


def write_shards(tmp_path):
    """Two good world shards, and one with a corrupt image, a record without caption, a text-only
    record (parsed on the fly) and a malformed graph."""
    import webdataset as wds

    world = World(WorldConfig(image_size=32, min_objects=2, max_objects=2))
    export_shards(world, tmp_path, 32, "train", per_shard=16, progress=False)
    images, samples = world.batch(3, seed=5)
    with wds.TarWriter(str(tmp_path / "train-000002.tar")) as sink:
        sink.write({"__key__": "bad0", "png": b"\x89PNG not really", "json": json.dumps(samples[0].labels()).encode()})
        sink.write({"__key__": "bad1", "png": png_bytes(images[1]), "json": b'{"objects": []}'})
        sink.write({"__key__": "txt0", "png": png_bytes(images[2]), "txt": samples[2].caption.encode()})
        broken = {
            **samples[0].labels(),
            "graph": {"objects": [{"name": "dog"}], "relations": [{"subject": 0, "predicate": "on", "object": 4}]},
        }
        sink.write({"__key__": "bad2", "png": png_bytes(images[0]), "json": json.dumps(broken).encode()})
    return str(tmp_path / "train-{000000..000002}.tar")


@pytest.mark.parametrize("method", ["clip", "oc-clip", "clip-hn"])
def test_training_from_shards_counts_what_it_skips(tmp_path, method):
    pattern = write_shards(tmp_path / "shards")
    cfg = load_config(
        None, TINY + ["data.source=wds", f"data.shards={pattern}", "run.steps=5"], method=method, preset="world-small"
    )
    last = train(cfg, tmp_path / "run", progress=False)
    assert last["step"] == 5 and torch.isfinite(torch.tensor(last["loss"]))
    skipped = json.loads((tmp_path / "run" / "skipped.json").read_text())
    # 35 records, 3 unusable (2 for CLIP, which reads no graph): batches of 8; 5 steps use 40 -> epoch 0
    # whole (each bad record met once), epoch 1 in part (shuffled: each met once more or not yet)
    reasons = {"corrupt image", "no caption"} | ({"malformed graph"} if get_method(method).needs_graphs else set())
    assert set(skipped) == reasons and set(skipped.values()) <= {1, 2}
    assert last["skipped"] == skipped and last["epoch"] == 1


def test_wds_needs_shards():
    with pytest.raises(ConfigError, match="data.shards: needed"):
        load_config(None, ["data.source=wds"])


def test_shards_without_usable_records_stop_with_their_names(tmp_path):
    from test_errors import garbage_shard

    cfg = load_config(
        None,
        TINY + ["data.source=wds", f"data.shards={tmp_path}/none-{{0..1}}.tar", "run.steps=2"],
        method="clip",
        preset="world-small",
    )
    with pytest.raises(ValueError, match=r"none of the 2 shard\(s\) exists \(first: .*none-0.tar\)"):
        train(cfg, tmp_path / "run", progress=False)  # before any loader worker starts
    garbage_shard(tmp_path / "none-1.tar")  # one unreadable, one without a usable record: read, then stopped
    with pytest.raises(ValueError, match=r"no usable record.*unreadable tar member.*malformed json"):
        train(cfg, tmp_path / "run", progress=False)


def epoch_captions(cfg, rank: int, world: int, epoch: int) -> list[str]:
    """Captions of one rank's batches from `epoch`, through the real DataLoader and its workers."""
    from itertools import islice

    from bindclip.models.backbone import get_tokenizer
    from bindclip.train.shards import shard_loader

    out = []
    for b in islice(shard_loader(cfg, get_tokenizer(cfg.model.backbone), rank, world), 150):
        if b.epoch == epoch:
            out += b.captions
    return out


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 4 workers on a 2-core machine, on purpose
@pytest.mark.parametrize("workers", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("ranks", [1, 2])
def test_every_sample_once_per_epoch_for_any_workers_and_ranks(tmp_path, workers, ranks):
    pattern, captions = write_img2dataset_shards(tmp_path)
    cfg = load_config(
        None,
        [
            f"data.shards={pattern}",
            "data.source=wds",
            f"data.workers={workers}",
            "data.batch_size=1",
            "data.shuffle_buffer=5",
        ],
        method="clip",
        preset="world-small",
    )
    seen = [c for rank in range(ranks) for c in epoch_captions(cfg, rank, ranks, 0)]
    assert sorted(seen) == sorted(captions)  # each of the 48 exactly once


def test_epochs_are_shuffled_differently_and_seeds_repeat(tmp_path):
    pattern, captions = write_img2dataset_shards(tmp_path)
    base = [f"data.shards={pattern}", "data.source=wds", "data.workers=2", "data.batch_size=1"]
    cfg = load_config(None, base, method="clip", preset="world-small")
    first, second = epoch_captions(cfg, 0, 1, 0), epoch_captions(cfg, 0, 1, 1)
    assert sorted(first) == sorted(second) == sorted(captions) and first != second
    assert epoch_captions(cfg, 0, 1, 0) == first
    other = load_config(None, base + ["run.seed=1"], method="clip", preset="world-small")
    assert epoch_captions(other, 0, 1, 0) != first


def test_resampled_streams_draw_shards_with_replacement(tmp_path):
    from bindclip.train.shards import expand_urls, stream_shards

    pattern, _ = write_img2dataset_shards(tmp_path)
    urls = expand_urls(pattern)
    drawn = [u for e in range(5) for s in range(4) for u in stream_shards(urls, 0, e, s, 4, resampled=True)]
    assert len(drawn) == 5 * 8 and len(set(drawn)) < len(drawn) and set(drawn) <= set(urls)


@pytest.mark.parametrize("rule", ["caption", "skip"])
def test_empty_graph_captions_are_counted_kept_or_skipped(tmp_path, rule):
    import webdataset as wds

    world = World(WorldConfig(image_size=32, min_objects=2, max_objects=2))
    export_shards(world, tmp_path, 16, "train", per_shard=16, progress=False)
    images, samples = world.batch(2, seed=5)
    with wds.TarWriter(str(tmp_path / "train-000001.tar")) as sink:
        for k in range(2):  # what a web caption like "click to enlarge" parses to
            meta = {**samples[k].labels(), "caption": "click to enlarge", "graph": {"objects": [], "relations": []}}
            sink.write({"__key__": f"empty{k}", "png": png_bytes(images[k]), "json": json.dumps(meta).encode()})
    cfg = load_config(
        None,
        TINY
        + [
            "data.source=wds",
            f"data.shards={tmp_path}/train-{{000000..000001}}.tar",
            "run.steps=2",
            f"data.empty_graphs={rule}",
        ],
        method="oc-clip",
        preset="world-small",
    )
    train(cfg, tmp_path / "run", progress=False)
    skipped = json.loads((tmp_path / "run" / "skipped.json").read_text())
    key = "empty graph" if rule == "skip" else "empty graph (kept: the caption as one node)"
    assert list(skipped) == [key] and skipped[key] in (1, 2)  # 2 steps of 8 draw 16 or more of epoch 0's 18


def test_resampled_epochs_hold_train_num_samples(tmp_path):
    pattern, captions = write_img2dataset_shards(tmp_path)
    base = [f"data.shards={pattern}", "data.source=wds", "data.workers=2", "data.batch_size=1", "data.resampled=true"]
    cfg = load_config(None, base + ["data.train_num_samples=20"], method="clip", preset="world-small")
    first = epoch_captions(cfg, 0, 1, 0)
    assert len(first) == 20 and set(first) <= set(captions)  # 10 per stream, drawn with replacement
    with pytest.raises(ConfigError, match="data.train_num_samples: sets the epoch of resampled shards"):
        load_config(None, base[:-1] + ["data.train_num_samples=20"], method="clip", preset="world-small")
