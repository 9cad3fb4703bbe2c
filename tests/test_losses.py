"""Losses against plain loop references, and 2 gloo ranks against one process."""

import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from bindclip.losses import C2LipLoss, ClipLoss, OCClipLoss, SigLipLoss, concept_positives
from bindclip.methods.clip_hn import HardNegativeClipLoss
from bindclip.models.reference import cross_attention_pool_loop


def features(n=8, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    txt = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    return img, txt


def clip_loop(img, txt, scale):
    n = len(img)
    total = 0.0
    for i in range(n):
        row = [scale * float(img[i] @ txt[j]) for j in range(n)]
        col = [scale * float(txt[i] @ img[j]) for j in range(n)]
        total += -row[i] + math.log(sum(math.exp(v) for v in row))
        total += -col[i] + math.log(sum(math.exp(v) for v in col))
    return total / (2 * n)


def siglip_loop(img, txt, scale, bias):
    n = len(img)
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = scale * float(img[i] @ txt[j]) + bias
            y = 1.0 if i == j else -1.0
            total += math.log1p(math.exp(-y * z))
    return total / n


def test_clip_and_siglip_match_loops():
    img, txt = features()
    assert ClipLoss()(img, txt, 10.0)["contrastive_loss"].item() == pytest.approx(clip_loop(img, txt, 10.0), abs=1e-5)
    assert SigLipLoss()(img, txt, 10.0, -5.0)["contrastive_loss"].item() == pytest.approx(
        siglip_loop(img, txt, 10.0, -5.0), abs=1e-5
    )


def test_loss_decreases_on_a_toy_batch():
    img0, txt0 = features(16, 8, seed=1)
    img = img0.clone().requires_grad_()
    opt = torch.optim.SGD([img], lr=0.5)
    losses = []
    for _ in range(20):
        loss = ClipLoss()(F.normalize(img, dim=-1), txt0, 10.0)["contrastive_loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world_size, port, img, txt, out):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    _clip_rank(rank, world_size, img, txt, out)
    _concept_rank(rank, world_size, concept_inputs(), [(0, 2), (2, 4)], out)
    _oc_clip_rank(rank, world_size, out)
    _hard_negative_rank(rank, world_size, img, txt, out)
    dist.destroy_process_group()


def _hard_negative_rank(rank, world_size, img, txt, out):
    """clip-hn's loss with a different number of negatives on each rank (3 and 2)."""
    negatives = features(5, 16, seed=7)[1]
    n = len(img) // world_size
    mine = slice(rank * n, (rank + 1) * n)
    loss = HardNegativeClipLoss(rank=rank, world_size=world_size)
    out[f"hn{rank}"] = loss(img[mine], txt[mine], 10.0, negatives[[slice(0, 3), slice(3, 5)][rank]])["contrastive_loss"]


def _clip_rank(rank, world_size, img, txt, out):
    n = len(img) // world_size
    sl = slice(rank * n, (rank + 1) * n)
    li, lt = img[sl], txt[sl]
    res = [
        ClipLoss(local_loss=local, gather_with_grad=gwg, rank=rank, world_size=world_size)(li, lt, 10.0)[
            "contrastive_loss"
        ]
        for local in (False, True)
        for gwg in (False, True)
    ]
    res.append(SigLipLoss(rank=rank, world_size=world_size)(li, lt, 10.0, -5.0)["contrastive_loss"])
    out[rank] = torch.stack(res)


def test_two_gloo_ranks_equal_one_process():
    """One spawn of 2 gloo ranks checks CLIP/SigLIP, C2LIP, OC-CLIP and clip-hn against one process."""
    img, txt = features(8, 16, seed=2)
    single = [ClipLoss()(img, txt, 10.0)["contrastive_loss"]] * 4 + [
        SigLipLoss()(img, txt, 10.0, -5.0)["contrastive_loss"]
    ]
    manager = mp.get_context("spawn").Manager()
    out = manager.dict()
    mp.start_processes(_rank_main, args=(2, _free_port(), img, txt, out), nprocs=2, start_method="spawn")
    mean = (out[0] + out[1]) / 2
    assert torch.allclose(mean, torch.stack(single), atol=1e-5), (mean, single)
    check_c2lip_ranks(concept_inputs(), out)
    check_oc_clip_ranks(out)
    single_hn = HardNegativeClipLoss()(img, txt, 10.0, features(5, 16, seed=7)[1])["contrastive_loss"]
    assert torch.allclose((out["hn0"] + out["hn1"]) / 2, single_hn, atol=1e-5)


# ---- OC-CLIP ------------------------------------------------------------------------------------
def test_oc_clip_loss_matches_loops():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 4, generator=g) * 3
    cf = torch.randn(4, 3, generator=g) * 3
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 0, 1]]).bool()
    out = OCClipLoss()(logits, None, cf, mask)
    ref_global = (
        sum(
            -logits[i, i] + torch.logsumexp(logits[i], 0) - logits[i, i] + torch.logsumexp(logits[:, i], 0)
            for i in range(4)
        )
        / 8
    )
    rows = [0, 1, 3]  # row 2 has no counterfactual and is skipped
    ref_local = sum(-cf[i, 0] + torch.logsumexp(cf[i][mask[i]], 0) for i in rows) / len(rows)
    assert out["contrastive_loss"].item() == pytest.approx(ref_global.item(), abs=1e-5)
    assert out["local_graph_loss"].item() == pytest.approx(ref_local.item(), abs=1e-5)
    none = OCClipLoss()(logits, None, cf, torch.tensor([[1, 0, 0]] * 4).bool())
    assert none["local_graph_loss"].item() == 0.0
    assert set(OCClipLoss(local_weight=0)(logits, None, cf, mask)) == {"contrastive_loss"}


def test_oc_clip_loss_decreases_on_a_toy_batch():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(6, 6, generator=g).requires_grad_()
    cf = torch.randn(6, 3, generator=g).requires_grad_()
    mask = torch.ones(6, 3, dtype=torch.bool)
    opt = torch.optim.SGD([logits, cf], lr=1.0)
    history = []
    for _ in range(20):
        out = OCClipLoss()(logits, None, cf, mask)
        opt.zero_grad()
        sum(out.values()).backward()
        opt.step()
        history.append({k: v.item() for k, v in out.items()})
    assert all(history[-1][k] < 0.5 * history[0][k] for k in history[0]), history


# ---- C2LIP --------------------------------------------------------------------------------------
def concept_inputs(M=4, N=7, T=5, D=8, seed=4):
    g = torch.Generator().manual_seed(seed)
    unit = lambda *s: F.normalize(torch.randn(*s, generator=g), dim=-1)  # noqa: E731
    owner = torch.tensor([0, 0, 1, 2, 2, 3, 3])[:N]
    ids = torch.tensor([10, 11, 10, 12, 13, 14, 11])[:N]  # phrase 2 repeats phrase 0's text, 6 repeats 1
    phrases = unit(N, D)
    phrases[2], phrases[6] = phrases[0], phrases[1]  # equal text, equal features
    return dict(
        image_features=unit(M, D),
        text_features=unit(M, D),
        patch_features=unit(M, T, D),
        phrase_features=phrases,
        phrase_owner=owner,
        phrase_ids=ids,
    )


def test_concept_positives_by_owner_and_by_text():
    owner, ids = torch.tensor([0, 0, 1]), torch.tensor([5, 6, 5])
    assert concept_positives(owner, 2).tolist() == [[True, True, False], [False, False, True]]
    assert concept_positives(owner, 2, ids).tolist() == [[True, True, True], [True, False, True]]


def sigmoid_loop(scores, pos, scale, bias):
    total = 0.0
    for m in range(scores.shape[0]):
        for n in range(scores.shape[1]):
            y = 1.0 if pos[m, n] else -1.0
            total += math.log1p(math.exp(-y * (scale * float(scores[m, n]) + bias)))
    return total / scores.shape[1]


def test_c2lip_sigmoid_losses_match_loops():
    x = concept_inputs()
    out = C2LipLoss(npc_weight=1.0, xac_weight=0.5)(**x, logit_scale=10.0, logit_bias=-3.0)
    pos = torch.zeros(4, 7, dtype=torch.bool)
    for n, i in enumerate(x["phrase_ids"].tolist()):
        for o2, i2 in zip(x["phrase_owner"].tolist(), x["phrase_ids"].tolist()):
            if i2 == i:
                pos[o2, n] = True
    npc = x["image_features"] @ x["phrase_features"].T
    xac = cross_attention_pool_loop(x["patch_features"], x["phrase_features"])
    assert out["npc_loss"].item() == pytest.approx(sigmoid_loop(npc, pos, 10.0, -3.0), abs=1e-4)
    assert out["xac_loss"].item() == pytest.approx(0.5 * sigmoid_loop(xac, pos, 10.0, -3.0), abs=1e-4)
    assert out["contrastive_loss"].item() == pytest.approx(
        siglip_loop(x["image_features"], x["text_features"], 10.0, -3.0), abs=1e-4
    )
    owner_only = C2LipLoss(match_phrase_text=False)(**x, logit_scale=10.0, logit_bias=-3.0)
    assert owner_only["npc_loss"].item() == pytest.approx(
        sigmoid_loop(npc, concept_positives(x["phrase_owner"], 4), 10.0, -3.0), abs=1e-4
    )


def test_c2lip_softmax_losses_match_loops():
    x = concept_inputs()
    out = C2LipLoss(sigmoid=False, xac_weight=1.0, match_phrase_text=False)(**x, logit_scale=10.0)
    owner = x["phrase_owner"]
    npc = 10.0 * x["image_features"] @ x["phrase_features"].T
    per_phrase = sum(-npc[owner[n], n] + torch.logsumexp(npc[:, n], 0) for n in range(7)) / 7
    per_image = 0.0
    for m in range(4):
        mine = (owner == m).nonzero().flatten()
        per_image += sum(-npc[m, n] + torch.logsumexp(npc[m], 0) for n in mine) / len(mine)
    ref = (per_phrase + per_image / 4) / 2
    assert out["npc_loss"].item() == pytest.approx(ref.item(), abs=1e-5)
    assert out["contrastive_loss"].item() == pytest.approx(
        clip_loop(x["image_features"], x["text_features"], 10.0), abs=1e-5
    )


def test_c2lip_losses_decrease_on_a_toy_batch():
    x = concept_inputs(seed=5)
    leaves = {k: v.clone().requires_grad_() for k, v in x.items() if v.is_floating_point()}
    opt = torch.optim.Adam(leaves.values(), lr=0.05)
    first = last = None
    for _ in range(30):
        feats = {k: F.normalize(v, dim=-1) for k, v in leaves.items()}
        out = C2LipLoss(xac_weight=1.0)(
            **feats, phrase_owner=x["phrase_owner"], phrase_ids=x["phrase_ids"], logit_scale=10.0, logit_bias=-3.0
        )
        loss = sum(out.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else {k: v.item() for k, v in out.items()}
        last = {k: v.item() for k, v in out.items()}
    assert all(last[k] < 0.7 * first[k] for k in first), (first, last)


def _concept_rank(rank, world_size, x, split, out):
    lo, hi = split[rank]
    mine = [n for n, o in enumerate(x["phrase_owner"].tolist()) if lo <= o < hi]
    local = {k: x[k][lo:hi].clone().requires_grad_() for k in ("image_features", "text_features", "patch_features")}
    local["phrase_features"] = x["phrase_features"][mine].clone().requires_grad_()
    res = {}
    for sigmoid in (True, False):
        loss_fn = C2LipLoss(sigmoid=sigmoid, xac_weight=1.0, rank=rank, world_size=world_size)
        got = loss_fn(
            **local,
            phrase_owner=x["phrase_owner"][mine] - lo,
            phrase_ids=x["phrase_ids"][mine],
            logit_scale=10.0,
            logit_bias=-3.0 if sigmoid else None,
        )
        total = sum(got.values())
        grads = torch.autograd.grad(total, list(local.values()))
        res[sigmoid] = ({k: v.detach() for k, v in got.items()}, [g / world_size for g in grads])
    out[f"c2lip{rank}"] = res


def check_c2lip_ranks(x, out):
    """Ranks with 2 images each but 3 and 4 phrases; owners re-offset to global image ids. Loss values
    averaged over ranks and each rank's gradient (after DDP's 1/world averaging) equal one process."""
    for sigmoid in (True, False):
        leaves = {
            k: x[k].clone().requires_grad_()
            for k in ("image_features", "text_features", "patch_features", "phrase_features")
        }
        single = C2LipLoss(sigmoid=sigmoid, xac_weight=1.0)(
            **leaves,
            phrase_owner=x["phrase_owner"],
            phrase_ids=x["phrase_ids"],
            logit_scale=10.0,
            logit_bias=-3.0 if sigmoid else None,
        )
        grads = torch.autograd.grad(sum(single.values()), list(leaves.values()))
        for k, v in single.items():
            mean = (out["c2lip0"][sigmoid][0][k] + out["c2lip1"][sigmoid][0][k]) / 2
            assert mean.item() == pytest.approx(v.item(), abs=1e-5), (sigmoid, k)
        phrase_rows = [[0, 1, 2], [3, 4, 5, 6]]
        for rank, (lo, hi) in enumerate([(0, 2), (2, 4)]):
            got = out[f"c2lip{rank}"][sigmoid][1]
            for g_local, g_full in zip(got[:3], grads[:3]):
                assert torch.allclose(g_local, g_full[lo:hi], atol=1e-5), (sigmoid, rank)
            assert torch.allclose(got[3], grads[3][phrase_rows[rank]], atol=1e-5)


# ---- OC-CLIP across ranks -------------------------------------------------------------------------
def oc_clip_case():
    from bindclip.graphs import SceneGraph, SGObject, SGRelation
    from conftest import small_oc_clip

    model = small_oc_clip()
    o = [SGObject(n, (c,)) for n, c in [("circle", "red"), ("square", "blue"), ("cross", "green")]]
    graphs = [
        SceneGraph(o[:2], [SGRelation(0, "left of", 1)], "g0"),
        SceneGraph(o[1:], [SGRelation(1, "above", 0)], "g1"),
        SceneGraph(o[:1], [], "g2"),  # rank 0: 3 captions, at most 2 nodes and 1 relation
        SceneGraph(o, [SGRelation(0, "left of", 2), SGRelation(1, "below", 0)], "g3"),
        SceneGraph(o[::-1], [SGRelation(2, "right of", 1)], "g4"),
    ]  # rank 1: 2 captions, 3 nodes
    images = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    return model, graphs, images


def oc_clip_loss_and_grads(model, graphs, images, seed):
    out = OCClipLoss()(**model(images, model.collate(graphs, seed=seed)))
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(sum(out.values()), params, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])
    return {k: v.detach() for k, v in out.items()}, flat


def _oc_clip_rank(rank, world_size, out):
    model, graphs, images = oc_clip_case()
    lo, hi = [(0, 3), (3, 5)][rank]
    losses, grads = oc_clip_loss_and_grads(model, graphs[lo:hi], images[lo:hi], seed=lo)
    out[f"oc{rank}"] = (losses, grads / world_size)
    model.cfg.binding.chunk = 2  # the gathered captions bound two at a time, recomputed in backward
    losses, grads = oc_clip_loss_and_grads(model, graphs[lo:hi], images[lo:hi], seed=lo)
    out[f"oc-chunked{rank}"] = (losses, grads / world_size)


def check_oc_clip_ranks(out):
    """Uneven ranks (3 and 2 captions, different node and relation counts): each rank's loss equals the
    one-process loss, and the DDP average of the gradients equals the one-process gradient, with the
    binding unchunked and in chunks of two captions."""
    model, graphs, images = oc_clip_case()
    losses, grads = oc_clip_loss_and_grads(model, graphs, images, seed=0)
    for name in ("oc", "oc-chunked"):  # chunked binding equals the unchunked one-process loss and gradients
        for rank in (0, 1):
            for k, v in losses.items():
                assert out[f"{name}{rank}"][0][k].item() == pytest.approx(v.item(), abs=1e-5), (name, rank, k)
        assert torch.allclose(out[f"{name}0"][1] + out[f"{name}1"][1], grads, atol=1e-5), name


def test_oc_clip_loss_masks_the_given_negatives():
    torch.manual_seed(0)
    logits = torch.randn(4, 4)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, 2] = mask[3, 1] = True
    got = OCClipLoss(mask_shared_objects=True)(logits, negative_mask=mask)["contrastive_loss"]
    kept = logits.masked_fill(mask, float("-inf"))
    labels = torch.arange(4)
    want = (F.cross_entropy(kept, labels) + F.cross_entropy(kept.T, labels)) / 2
    assert torch.allclose(got, want) and not torch.allclose(got, OCClipLoss()(logits)["contrastive_loss"])


def test_shared_object_masking_is_single_process():
    from bindclip.errors import ConfigError
    from bindclip.methods import get_method
    from bindclip.train import load_config

    cfg = load_config(None, ["loss.mask_shared_objects=true"], method="oc-clip", preset="world-small")
    assert get_method("oc-clip").build_loss(cfg, None, 0, 1).mask_shared_objects
    with pytest.raises(ConfigError, match="loss.mask_shared_objects"):
        get_method("oc-clip").build_loss(cfg, None, 0, 2)


def test_c2lip_pooled_scores_in_chunks_equal_the_whole():
    """Past its budget the cross-attention pooling runs over chunks of phrases, recomputed in backward:
    the loss and its gradients stay those of the whole (here chunks of 2 of the 7 phrases)."""
    x = concept_inputs()
    results = []
    for budget in (2.0, 2 * 4 * 4 * 5 * 4 / 2**30):  # the default; two phrases' worth (M=4, T=5, fp32)
        inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in x.items()}
        loss = C2LipLoss(sigmoid=False, xac_weight=1.0, xac_chunk_budget_gib=budget)(**inputs, logit_scale=10.0)
        grads = torch.autograd.grad(loss["xac_loss"], [inputs["patch_features"], inputs["phrase_features"]])
        results.append((loss["xac_loss"].detach(), grads))
    (whole, g_whole), (chunked, g_chunked) = results
    assert torch.allclose(whole, chunked, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_whole, g_chunked))
