import importlib.util
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (they are scripts, not a package), for tests that check the same
    thing on the same inputs."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def spacy_parser():
    from bindclip.graphs.parse import SpacyParser

    return SpacyParser()


@pytest.fixture(scope="session")
def lemmatizer(spacy_parser):
    from bindclip.graphs.nlp import PhraseLemmatizer

    return PhraseLemmatizer(spacy_parser.nlp)


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
