import json

import pytest
import torch

from bindclip.train import ConfigError, load_config, train
from bindclip.world import World, WorldConfig
from bindclip.world.data import export_shards, png_bytes

TINY = ["data.batch_size=8", "data.workers=0", "run.log_every=1", "run.save_every=100",
        "model.binding.dim=32", "model.binding.heads=2", "model.obj_dim=16", "model.rel_dim=16",
        "model.rel_hidden=16"]


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
        broken = {**samples[0].labels(), "graph": {"objects": [{"name": "dog"}],
                                                   "relations": [{"subject": 0, "predicate": "on", "object": 4}]}}
        sink.write({"__key__": "bad2", "png": png_bytes(images[0]), "json": json.dumps(broken).encode()})
    return str(tmp_path / "train-{000000..000002}.tar")


@pytest.mark.parametrize("method", ["clip", "oc-clip"])
def test_training_from_shards_counts_what_it_skips(tmp_path, method):
    pattern = write_shards(tmp_path / "shards")
    cfg = load_config(None, TINY + ["data.source=wds", f"data.shards={pattern}", "run.steps=5"], method=method,
                      preset="world-small")
    last = train(cfg, tmp_path / "run", progress=False)
    assert last["step"] == 5 and torch.isfinite(torch.tensor(last["loss"]))
    skipped = json.loads((tmp_path / "run" / "skipped.json").read_text())
    # 35 records, 3 unusable: 32 good per pass, batches of 8; 5 steps read 40 records -> one pass done
    assert skipped == {"corrupt image": 1, "no caption": 1, "malformed graph": 1}
    assert last["skipped"] == skipped


def test_wds_needs_shards():
    with pytest.raises(ConfigError, match="data.shards: needed"):
        load_config(None, ["data.source=wds"])


def test_shards_without_usable_records_stop_with_their_names(tmp_path):
    cfg = load_config(None, TINY + ["data.source=wds", f"data.shards={tmp_path}/none-{{0..1}}.tar", "run.steps=2"],
                      method="clip", preset="world-small")
    with pytest.raises(ValueError, match=r"no usable record in .*none-0.tar.*unreadable tar member"):
        train(cfg, tmp_path / "run", progress=False)
