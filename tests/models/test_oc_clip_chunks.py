"""OC-CLIP's binding in chunks of captions, recomputed in the backward pass: the same loss and gradients
as binding every pair at once, with memory that follows the chunk (2 gloo ranks: tests/test_losses.py)."""

import torch

from bindclip.losses import OCClipLoss
from bindclip.models.oc_clip import GraphState
from bindclip.world import WorldConfig, training_world


def world_batch(n=8, seed=0):
    images, samples = training_world(WorldConfig(image_size=32)).batch(n, seed=seed)
    return images.float() / 255, [s.graph for s in samples]


def loss_and_grads(model, images, graphs):
    out = OCClipLoss()(**model(images, model.collate(graphs, seed=0)))
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(sum(out.values()), params, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])
    return torch.stack([out[k].detach() for k in sorted(out)]), flat


def saved_bytes(fn) -> int:
    """Bytes autograd keeps for the backward pass while fn runs."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def test_chunked_binding_gives_the_same_loss_and_gradients(make_oc_clip):
    images, graphs = world_batch(8)
    model = make_oc_clip()
    model.cfg.binding.chunk = -1
    loss, grads = loss_and_grads(model, images, graphs)
    for chunk in (1, 3):  # 3: uneven chunks of 3, 3 and 2 captions
        model.cfg.binding.chunk = chunk
        loss_c, grads_c = loss_and_grads(model, images, graphs)
        assert torch.allclose(loss_c, loss, rtol=1e-5, atol=1e-7), chunk
        assert (grads_c - grads).norm() <= 1e-5 * grads.norm(), chunk


def random_state(model, C, N, R, seed=0):
    gen = torch.Generator().manual_seed(seed)
    width = model.score_head.node_proj.in_features
    return GraphState(
        torch.randn(C, N, width, generator=gen, requires_grad=True),
        torch.ones(C, N, dtype=torch.bool),
        torch.randn(C, R, width, generator=gen, requires_grad=True),
        torch.randint(0, N, (C, R), generator=gen),
        torch.randint(0, N, (C, R), generator=gen),
        torch.ones(C, R, dtype=torch.bool),
    )


def kept_by_scores(model, patches, g) -> int:
    return saved_bytes(lambda: model.training_scores(patches, g, torch.arange(len(patches))))


def test_the_memory_estimate_bounds_what_autograd_keeps_per_pair(make_oc_clip):
    """What more captions add to the bytes kept for backward, against the estimate for their pairs (the
    per-image tensors, such as the patches' Gram matrix, do not grow with the captions)."""
    model = make_oc_clip()
    model.cfg.binding.chunk = -1
    for captions, images, nodes, relations, tokens in [
        (32, 16, 8, 8, 16),
        (32, 16, 8, 8, 49),
        (16, 16, 4, 2, 196),
        (16, 8, 2, 8, 64),
    ]:
        patches = torch.randn(images, tokens, model.cfg.binding.dim, requires_grad=True)
        one, two = (
            kept_by_scores(model, patches, random_state(model, c, nodes, relations)) for c in (captions, 2 * captions)
        )
        g = random_state(model, captions, nodes, relations)
        estimate = captions * images * model.saved_bytes_per_pair(g, tokens, patches.dtype)
        assert two - one <= estimate <= 1.3 * (two - one), (captions, images, nodes, relations, tokens, one, two)


def test_memory_follows_the_chunk_and_the_budget_decides(make_oc_clip):
    model = make_oc_clip()
    captions, images, tokens = 64, 16, 16
    g = random_state(model, captions, 8, 8)
    patches = torch.randn(images, tokens, model.cfg.binding.dim, requires_grad=True)
    kept = {}
    for chunk in (-1, 4):
        model.cfg.binding.chunk = chunk
        kept[chunk] = kept_by_scores(model, patches, g)
    assert kept[4] < 0.15 * kept[-1]  # chunk outputs, inputs and the own pairs' binding remain
    model.cfg.binding.chunk = 0  # auto: the default budget holds this small batch whole ...
    assert model.pair_chunk(g, patches) == captions
    per_caption = images * model.saved_bytes_per_pair(g, tokens, patches.dtype)
    model.cfg.binding.chunk_budget_gib = 10 * per_caption / 2**30  # ... a budget of ten captions chunks it
    assert model.pair_chunk(g, patches) == 10
