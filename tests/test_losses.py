"""Losses against plain loop references, and 2 gloo ranks against one process."""
import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from bindclip.losses import ClipLoss, SigLipLoss


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
        siglip_loop(img, txt, 10.0, -5.0), abs=1e-5)


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
    n = len(img) // world_size
    sl = slice(rank * n, (rank + 1) * n)
    li, lt = img[sl], txt[sl]
    res = [ClipLoss(local_loss=local, gather_with_grad=gwg, rank=rank, world_size=world_size)(li, lt, 10.0)[
        "contrastive_loss"] for local in (False, True) for gwg in (False, True)]
    res.append(SigLipLoss(rank=rank, world_size=world_size)(li, lt, 10.0, -5.0)["contrastive_loss"])
    out[rank] = torch.stack(res)
    dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process():
    img, txt = features(8, 16, seed=2)
    single = [ClipLoss()(img, txt, 10.0)["contrastive_loss"]] * 4 + [SigLipLoss()(img, txt, 10.0, -5.0)["contrastive_loss"]]
    manager = mp.get_context("spawn").Manager()
    out = manager.dict()
    mp.start_processes(_rank_main, args=(2, _free_port(), img, txt, out), nprocs=2, start_method="spawn")
    mean = (out[0] + out[1]) / 2
    assert torch.allclose(mean, torch.stack(single), atol=1e-5), (mean, single)
