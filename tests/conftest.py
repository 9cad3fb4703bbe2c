import importlib.util
import json
import os
from pathlib import Path

import pytest

# Ray's own switch for a one-machine cluster: every node address is 127.0.0.1 (else Ray uses this machine's
# network address), so the tests' clusters talk over loopback only
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

SHARED = Path(__file__).resolve().parents[2] / "shared"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package), for tests that check the same
    thing on the same inputs."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_img2dataset_shards(root, n_shards: int = 8, per_shard: int = 6) -> tuple[str, list[str]]:
    """img2dataset's layout (key.jpg, key.txt, key.json), one distinct caption per sample."""
    import io

    import webdataset as wds
    from PIL import Image

    captions = []
    root.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        with wds.TarWriter(str(root / f"{s:05d}.tar")) as sink:
            for i in range(per_shard):
                key, caption = f"{s:05d}{i:04d}", f"a red car number {s * per_shard + i}"
                buf = io.BytesIO()
                Image.new("RGB", (24 + i, 20), (40 * s % 255, 30 * i, 90)).save(buf, "JPEG")
                meta = {"key": key, "status": "success", "caption": caption}
                sink.write(
                    {"__key__": key, "jpg": buf.getvalue(), "txt": caption.encode(), "json": json.dumps(meta).encode()}
                )
                captions.append(caption)
    return str(root / f"{{00000..{n_shards - 1:05d}}}.tar"), captions


@pytest.fixture(scope="session")
def spacy_parser():
    from bindclip.graphs.parse import SpacyParser

    return SpacyParser()


@pytest.fixture(scope="session")
def lemmatizer(spacy_parser):
    from bindclip.graphs.nlp import PhraseLemmatizer

    return PhraseLemmatizer(spacy_parser.nlp)


# overrides that make any method's world-small training run take seconds: 3 steps of 8 at tiny widths
TINY_TRAINING = [
    "data.batch_size=8",
    "run.steps=3",
    "run.log_every=1",
    "run.keep=0",
    "model.binding.dim=32",
    "model.binding.heads=2",
    "model.obj_dim=16",
    "model.rel_dim=16",
    "model.rel_hidden=16",
]


def small_oc_clip(**binding):
    """A tiny OC-CLIP (32 px, patch 8, binding width 32) that builds in under a second."""
    import torch

    from bindclip.models import OCCLIP, BackboneConfig, BindingConfig, OCClipConfig

    torch.manual_seed(0)
    cfg = OCClipConfig(
        backbone=BackboneConfig("bindclip-vit-tiny-32"),
        binding=BindingConfig(dim=32, heads=2, **binding),
        obj_dim=16,
        rel_dim=16,
        rel_hidden=24,
    )
    return OCCLIP(cfg).eval()


@pytest.fixture(scope="session")
def make_oc_clip():
    return small_oc_clip


@pytest.fixture(scope="session")
def oc_clip():
    return small_oc_clip()


@pytest.fixture(scope="session")
def trained_oc_clip(tmp_path_factory):
    """The demo's OC-CLIP run: the world-small preset as is (360 steps, about 2 minutes on 2 cores), for the
    tests that check what training produces."""
    from bindclip.train import load_config, train

    out = tmp_path_factory.mktemp("trained-oc-clip")
    cfg = load_config(None, ["run.keep=0"], method="oc-clip", preset="world-small")
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="session")
def ray_cluster():
    """The test run's one in-process Ray cluster (starting one takes seconds), stopped at the end. Tests that
    use it run last (pytest_collection_modifyitems), so no other test forks a process that holds Ray's
    threads."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: "ray_cluster" in getattr(item, "fixturenames", ()))  # stable: order kept otherwise
