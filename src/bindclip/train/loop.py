"""The training loop shared by every method, on one CPU or many GPUs (torchrun).

AdamW with open_clip's weight-decay exclusions (gains, biases, norms, logit scale/bias, embeddings
of positions and learned queries), warmup then cosine, gradient clipping, logit-scale clamp at
ln 100, bf16 autocast on GPU with fp32 master weights, gradient accumulation, frozen towers and a
lower backbone learning rate. Metrics go to RUN_DIR/metrics.jsonl, checkpoints to
RUN_DIR/checkpoints/.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm import tqdm

from ..distributed import world_rank
from ..graphs.annotate import annotated_parser
from ..methods import get_method
from .checkpoint import (
    alias_checkpoint,
    load_checkpoint,
    prune,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import ConfigError, TrainConfig
from .data import Batch, world_loader
from .optim import adamw, is_backbone, warmup_cosine
from .shards import expand_urls, shard_loader


# ---- model, loss, optimiser --------------------------------------------------------------------
def build_model(cfg: TrainConfig, load_pretrained: bool = True) -> nn.Module:
    """The method's model on its backbone; `load_pretrained=False` skips reading the backbone's pretrained
    file, for callers that load every weight from a checkpoint or export right after."""
    if not load_pretrained:
        backbone = dataclasses.replace(cfg.model.backbone, pretrained=None)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone=backbone))
    return get_method(cfg.model.method).build_model(cfg)


def build_loss(cfg: TrainConfig, model: nn.Module) -> nn.Module:
    return get_method(cfg.model.method).build_loss(cfg, model, *world_rank())


def freeze_towers(model: nn.Module, cfg: TrainConfig) -> None:
    for name, p in model.named_parameters():
        image = name.startswith("backbone.visual.")
        text = is_backbone(name) and not image and "logit" not in name
        if (cfg.optim.freeze_image and image) or (cfg.optim.freeze_text and text):
            p.requires_grad_(False)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    o = cfg.resolved().optim  # unset rates take their defaults (lower on pretrained towers)
    return adamw(model.named_parameters(), o.lr, o.weight_decay, o.betas, o.eps, backbone_lr=o.backbone_lr)


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    steps, warmup = cfg.run.steps, cfg.optim.warmup
    return warmup_cosine(opt, steps, int(warmup * steps) if warmup < 1 else int(warmup))


# ---- one step ----------------------------------------------------------------------------------
def forward_loss(model: nn.Module, loss_fn, batch: Batch, method: str, device) -> dict:
    images = batch.images.to(device, non_blocking=True)
    return get_method(method).forward(model, loss_fn, images, batch.text, device)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside torch.compile's and DDP's wrappers."""
    model = getattr(model, "_orig_mod", model)
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def resolve_device(cfg: TrainConfig) -> torch.device:
    """run.device, with "auto" meaning CUDA when there is one; under torchrun each rank takes the GPU
    of its LOCAL_RANK (the same rule setup_distributed uses to choose NCCL or gloo)."""
    name = cfg.run.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and int(os.environ.get("WORLD_SIZE", 1)) > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def train_step(
    model: nn.Module, opt, sched, loss_fn, batches: list[Batch], cfg: TrainConfig, device, autocast: bool = False
) -> dict[str, float]:
    """One optimiser step over `batches` (the micro-batches of gradient accumulation); returns the
    mean of each loss term."""
    model.train()
    totals: dict[str, float] = {}
    for batch in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            losses = forward_loss(model, loss_fn, batch, cfg.model.method, device)
        (sum(losses.values()) / len(batches)).backward()
        for name, v in losses.items():
            totals[name] = totals.get(name, 0.0) + v.item() / len(batches)
    if cfg.optim.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    sched.step()
    with torch.no_grad():
        unwrap(model).logit_scale.clamp_(0, math.log(100))
    return totals


# ---- the run ----------------------------------------------------------------------------------
def train(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train `cfg` into `out`; with `resume`, continue from out/checkpoints/last.pt. Returns the last
    logged metrics."""
    out = Path(out)
    cfg = cfg.resolved()  # preprocessing and learning rates filled in, as config.json keeps them
    if cfg.data.source == "wds" and cfg.data.shards and not resume:
        # the graphs came from whatever annotated the shards: recorded, so eval parses benchmarks the same way
        parser = annotated_parser(expand_urls(cfg.data.shards))
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, parser=parser or cfg.data.parser))
    rank, world = setup_distributed(cfg)
    device = resolve_device(cfg)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg)
    freeze_towers(model, cfg)
    model.to(device)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg)
    loss_fn = build_loss(cfg, model)
    step, data_state = 0, None
    ckpt_dir = out / "checkpoints"
    if resume:
        state = load_checkpoint(ckpt_dir / "last.pt")
        data_state = state.get("data")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = int(state["step"])
        set_rng_state(state["rng"])
        if rank == 0:
            drop_metrics_after(out / "metrics.jsonl", step)
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    ddp = (
        nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=get_method(cfg.model.method).find_unused_parameters,
        )
        if world > 1
        else model
    )
    if cfg.run.compile:  # graph breaks where the model branches on data (graph checks); state dicts unchanged
        ddp = torch.compile(ddp, backend=cfg.run.compile_backend)
    accum = cfg.optim.accum_steps
    loader = make_loader(cfg, unwrap(model), rank, world, start=step * accum, data_state=data_state)
    positions: dict = dict(data_state["positions"][rank]) if data_state else {}  # shards: stream -> position
    epoch = None
    skipped: dict[str, int] = (
        json.loads((out / "skipped.json").read_text()) if resume and (out / "skipped.json").exists() else {}
    )
    autocast = cfg.run.precision == "bf16" or (cfg.run.precision == "auto" and device.type == "cuda")
    last: dict = {}
    t0, seen = time.perf_counter(), 0
    micro = iter(loader)
    # a context: the bar closes on an error too, so the CLI's error line starts on a line of its own
    with tqdm(
        total=cfg.run.steps,
        initial=step,
        desc=f"train {cfg.model.method}",
        unit="step",
        disable=not progress or rank != 0,
    ) as bar:
        while step < cfg.run.steps:
            batches = [next(micro) for _ in range(accum)]
            epoch = note_batches(batches, skipped, positions, epoch)
            totals = train_step(ddp, opt, sched, loss_fn, batches, cfg, device, autocast)
            seen += sum(len(b.captions) for b in batches) * world
            step += 1
            if rank == 0 and (step % cfg.run.log_every == 0 or step == cfg.run.steps):
                last = metrics_row(
                    step, totals, sched, unwrap(model), seen / (time.perf_counter() - t0), epoch, skipped
                )
                append_metrics(out, last)
                bar.set_postfix(loss=f"{last['loss']:.3f}", sps=f"{last['samples_per_s']:.0f}")
                t0, seen = time.perf_counter(), 0
            bar.update(1)
            if step % cfg.run.save_every == 0 or step == cfg.run.steps:
                # gathering shard positions is a collective: every rank calls it at a save step
                data = shard_positions(cfg, positions, step * accum, world) if cfg.data.source == "wds" else None
                if rank == 0:
                    save_step(ckpt_dir, step, unwrap(model), opt, sched, cfg, data)
    if world > 1:
        dist.barrier()
    return last


def note_batches(batches: list[Batch], skipped: dict[str, int], positions: dict, epoch: int | None) -> int | None:
    """Adds the batches' skip counts and shard stream positions to the run's; returns the newest epoch."""
    for b in batches:
        for reason, n in b.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        if b.position is not None:
            positions[b.position[0]] = b.position[1]
            epoch = b.epoch if epoch is None else max(epoch, b.epoch)
    return epoch


def metrics_row(
    step: int, totals: dict, sched, model: nn.Module, samples_per_s: float, epoch: int | None, skipped: dict
) -> dict:
    """One metrics.jsonl line: the loss terms, learning rate, scale, speed, and (shards) epoch and skips."""
    row = {
        "step": step,
        "loss": round(sum(totals.values()), 6),
        **{k: round(v, 6) for k, v in totals.items()},
        "lr": sched.get_last_lr()[0],
        "logit_scale": model.logit_scale.exp().item(),
        "samples_per_s": round(samples_per_s, 1),
    }
    if epoch is not None:
        row["epoch"] = epoch
    if skipped:
        row["skipped"] = dict(skipped)
    return row


def append_metrics(out: Path, row: dict) -> None:
    if "skipped" in row:
        (out / "skipped.json").write_text(json.dumps(row["skipped"], indent=2) + "\n")
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def save_step(ckpt_dir: Path, step: int, model: nn.Module, opt, sched, cfg: TrainConfig, data: dict | None) -> None:
    """step-NNNNNN.pt (atomic), last.pt pointing at it, older steps pruned to run.keep."""
    state = dict(
        model=model.state_dict(),
        optimizer=opt.state_dict(),
        scheduler=sched.state_dict(),
        step=step,
        rng=rng_state(),
        config=json.dumps(asdict(cfg)),
    )
    if data is not None:
        state["data"] = data
    alias_checkpoint(save_checkpoint(ckpt_dir / f"step-{step:06d}.pt", **state), ckpt_dir / "last.pt")
    prune(ckpt_dir, cfg.run.keep)


def make_loader(cfg: TrainConfig, model: nn.Module, rank: int, world: int, start: int, data_state: dict | None = None):
    """World batches from micro-step `start`; or shard batches, resumed from the checkpoint's stream
    positions (`data_state`) without reading what came before them."""
    if cfg.data.source == "world":
        return world_loader(cfg, model.tokenizer, rank=rank, start=start)
    if not start:
        return shard_loader(cfg, model.tokenizer, rank, world)
    streams = world * max(1, cfg.data.workers)
    if data_state is None or data_state.get("streams") != streams:
        raise ConfigError(
            f"data: the checkpoint has no shard positions for {world} rank(s) x "
            f"{max(1, cfg.data.workers)} worker(s) (it has {data_state and data_state.get('streams')}); "
            f"resume shard runs with the ranks and data.workers they were saved with"
        )
    return shard_loader(cfg, model.tokenizer, rank, world, consumed=start, start=data_state["positions"][rank])


def shard_positions(cfg: TrainConfig, positions: dict, consumed: int, world: int) -> dict:
    """What a checkpoint needs to resume shard streams: every rank's stream positions at its last consumed
    batch (gathered to all ranks: a collective, so every rank calls it at a save step)."""
    ranks = [positions]
    if world > 1:
        ranks = [None] * world
        dist.all_gather_object(ranks, positions)
    return {"consumed": consumed, "streams": world * max(1, cfg.data.workers), "positions": ranks}


def drop_metrics_after(path: Path, step: int) -> None:
    """A resumed run logs the steps after its checkpoint again; drop the killed run's copies."""
    if path.exists():
        rows = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        path.write_text("".join(r + "\n" for r in rows))


def setup_distributed(cfg: TrainConfig) -> tuple[int, int]:
    """Join the torchrun group when WORLD_SIZE > 1 (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and cfg.run.device != "cpu" else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return world_rank()
