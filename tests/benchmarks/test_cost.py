"""benchmarks/cost.py counts a training step on meta tensors with W ranks emulated: the count equals the one
on real tensors, and the emulated ranks add only what a global batch adds."""

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bindclip.graphs.parse import SpacyParser
from bindclip.methods import get_method
from bindclip.train import load_config
from conftest import load_benchmark

cost = load_benchmark("cost")
CAPTIONS = [
    "a red car parked next to a tall tree",
    "two dogs playing with a ball on the grass",
    "a man riding a horse on the beach",
    "a plate of food with a fork and a knife",
]
TINY = ["model.backbone.name=bindclip-vit-tiny-32", "model.binding.dim=32", "model.binding.heads=2"]


def real_flops(method_name: str) -> int:
    cfg = load_config(None, TINY, method=method_name)
    method = get_method(method_name)
    torch.manual_seed(0)
    model = method.build_model(cfg).train()
    loss_fn = method.build_loss(cfg, model, 0, 1)
    text = method.text_side(cfg, model.tokenizer, CAPTIONS, SpacyParser().parse(CAPTIONS), 0)
    # attention through its matrix products, as on meta: the CPU's fused kernel reports no FLOPs
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as flops:
        sum(method.forward(model, loss_fn, torch.rand(4, 3, 32, 32), text, torch.device("cpu")).values()).backward()
    return sum(flops.get_flop_counts()["Global"].values())


def test_the_meta_count_equals_the_count_on_real_tensors(spacy_parser):
    graphs = spacy_parser.parse(CAPTIONS)
    for method in ("clip", "c2lip", "oc-clip"):
        counted = cost.count_step(method, TINY, CAPTIONS, graphs, world=1)
        assert counted["flops"] == real_flops(method), method
        assert sum(counted["forward_flops_by_part"].values()) == counted["forward_flops"]
        assert counted["saved_bytes"] > 0


def test_emulated_ranks_add_only_the_global_terms(spacy_parser):
    graphs = spacy_parser.parse(CAPTIONS)
    one, four = (cost.count_step("oc-clip", TINY, CAPTIONS, graphs, world=w) for w in (1, 4))
    parts1, parts4 = one["forward_flops_by_part"], four["forward_flops_by_part"]
    assert parts4["image_tower"] == parts1["image_tower"] and parts4["text_tower"] == parts1["text_tower"]
    assert parts4["binding"] > parts1["binding"] and parts4["heads"] > 2 * parts1["heads"]  # 4x the pairs
    clip1, clip4 = (cost.count_step("clip", TINY, CAPTIONS, graphs, world=w) for w in (1, 4))
    assert clip4["flops"] > clip1["flops"]  # the logits against every rank's captions
