"""The world's training batches (train/data.py)."""

import pytest
import torch

from bindclip.errors import ConfigError
from bindclip.train import load_config
from bindclip.train.data import WorldBatches


def test_graph_noise_corrupts_training_graphs_only():
    cfg = load_config(None, ["data.batch_size=64", "data.graph_noise=0.5"], method="oc-clip", preset="world-small")
    clean = load_config(None, ["data.batch_size=64"], method="oc-clip", preset="world-small")
    noisy, plain = WorldBatches(cfg, None)[3], WorldBatches(clean, None)[3]  # OC-CLIP needs no tokenizer
    assert torch.equal(noisy.images, plain.images) and noisy.captions == plain.captions
    differ = (noisy.graphs.node_mask.sum(1) != plain.graphs.node_mask.sum(1)) | (
        noisy.graphs.rel_mask.sum(1) != plain.graphs.rel_mask.sum(1)
    )
    assert 0 < differ.sum() < 64  # some graphs lost a node or a relation, not all
    with pytest.raises(ConfigError, match="data.graph_noise"):
        load_config(None, ["data.graph_noise=1.5"], method="oc-clip", preset="world-small")
