import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from bindclip.methods import method_names
from bindclip.train import load_config, train
from bindclip.train.loop import build_model, build_optimizer
from bindclip.train.optim import no_weight_decay

TINY = [
    "data.batch_size=8",
    "data.workers=0",
    "run.log_every=5",
    "run.save_every=5",
    "run.keep=1",
    "model.binding.dim=32",
    "model.binding.heads=2",
    "model.obj_dim=16",
    "model.rel_dim=16",
    "model.rel_hidden=16",
]


@pytest.mark.parametrize("method", method_names())
def test_each_method_trains_and_writes_the_run(tmp_path, method):
    cfg = load_config(None, TINY + ["run.steps=6"], method=method, preset="world-small")
    last = train(cfg, tmp_path, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["method"] == method
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 6] and rows[-1] == last
    assert all(r["samples_per_s"] > 0 and torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    if method == "oc-clip+c2lip":
        assert {"contrastive_loss", "local_graph_loss", "npc_loss", "xac_loss"} <= set(last)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 6
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt", "step-000006.pt"]


def test_weight_decay_groups_and_lower_backbone_lr():
    cfg = load_config(
        None, TINY + ["optim.backbone_lr=1e-5", "optim.freeze_text=true"], method="oc-clip", preset="world-small"
    )
    model = build_model(cfg)
    from bindclip.train.loop import freeze_towers

    freeze_towers(model, cfg)
    assert not model.backbone.token_embedding.weight.requires_grad and model.backbone.visual.conv1.weight.requires_grad
    opt = build_optimizer(model, cfg)
    by_id = {id(p): g for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert by_id[id(named["backbone.visual.conv1.weight"])]["lr"] == 1e-5
    assert by_id[id(named["binding.to_k.weight"])]["lr"] == 1e-3
    assert by_id[id(named["backbone.logit_scale"])]["weight_decay"] == 0.0
    assert by_id[id(named["binding.default_queries"])]["weight_decay"] == 0.0
    assert by_id[id(named["score_head.node_proj.weight"])]["weight_decay"] == 0.1
    assert no_weight_decay("x.bias", named["score_head.node_proj.bias"])
    assert id(named["backbone.token_embedding.weight"]) not in by_id  # frozen: not optimised


def _train_cli(out, *extra):
    return [
        sys.executable,
        "-m",
        "bindclip",
        "train",
        "--method",
        "oc-clip",
        "--preset",
        "world-small",
        "--out",
        str(out),
        *TINY,
        "run.steps=20",
        "data.workers=1",
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["world", "wds"])
def test_kill_and_resume_is_bit_exact(tmp_path, source):
    """20 steps straight == 5+ steps, SIGKILL, resume to 20: every weight equal, on CPU. Shards: two loader
    workers, a 10-record shuffle buffer, epochs crossed, resumed from the saved stream positions (at an odd
    batch count, so the workers swap streams)."""
    extra = ["run.threads=1"]
    if source == "wds":
        from conftest import write_img2dataset_shards

        pattern, _ = write_img2dataset_shards(tmp_path / "shards")
        extra += [
            "data.source=wds",
            f"data.shards={pattern}",
            "data.workers=2",
            "data.shuffle_buffer=10",
            "data.batch_size=4",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_train_cli(straight, *extra), check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cli(killed, *extra), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "checkpoints" / "last.pt").exists():  # written right after step-000005.pt
        assert proc.poll() is None and time.time() < deadline, "training ended before step 5"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed_from = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert resumed_from < 20, "the kill came after the run had finished; nothing was resumed"
    subprocess.run(_train_cli(killed, *extra) + ["--resume"], check=True, env=env, capture_output=True)
    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 20
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]  # the killed run's rows after its checkpoint were dropped


@pytest.mark.slow
@pytest.mark.parametrize("method", ["oc-clip", "c2lip"])
def test_two_torchrun_cpu_ranks_equal_one_process_on_the_global_batch(tmp_path, method):
    """torchrun, 2 gloo ranks x 4 samples, 3 steps == one process stepping on the 8-sample
    concatenation of both ranks' batches: the same weights (up to float reduction order)."""
    from bindclip.train.data import WorldBatches, make_batch
    from bindclip.train.loop import build_loss, build_scheduler, train_step

    overrides = [o for o in TINY if not o.startswith("data.batch_size")] + [
        "data.batch_size=4",
        "run.steps=3",
        "run.threads=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_torchrun_train(method, tmp_path, *overrides), check=True, env=env, capture_output=True)
    cfg = load_config(None, overrides, method=method, preset="world-small")
    torch.manual_seed(cfg.run.seed)
    model = build_model(cfg)
    opt, loss_fn = build_optimizer(model, cfg), build_loss(cfg, model)
    sched = build_scheduler(opt, cfg)
    ranks = [WorldBatches(cfg, model.tokenizer, rank=r) for r in (0, 1)]
    for index in range(3):
        parts = [r.scenes(index) for r in ranks]
        images = torch.cat([p[0] for p in parts])
        batch = make_batch(cfg, model.tokenizer, images, parts[0][1] + parts[1][1])
        losses = train_step(model, opt, sched, loss_fn, [batch], cfg, torch.device("cpu"))
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    # the terms rank 0 computes on the full batch (CLIP's contrastive term is rank 0's local share)
    for term in {"oc-clip": ["contrastive_loss", "local_graph_loss"], "c2lip": ["npc_loss"]}[method]:
        assert logged["step"] == 3 and abs(logged[term] - losses[term]) < 1e-5, (term, logged, losses)
    ddp = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["model"]
    worst = max((ddp[k] - v).abs().max().item() for k, v in model.state_dict().items())
    # Adam divides by sqrt(v): on near-zero gradients (embedding rows) reduction-order rounding becomes
    # an update difference of ~1e-5 after 3 steps; a wrong gradient would differ by ~lr = 1e-3
    assert worst < 5e-5, worst


def _torchrun_train(method, out, *extra) -> list[str]:
    """`torchrun` with 2 processes on a free port running `bindclip train` on the world-small preset."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port"]
    return [
        *torchrun,
        str(_free_port()),
        "-m",
        "bindclip",
        "train",
        "--method",
        method,
        "--preset",
        "world-small",
        "--out",
        str(out),
        *extra,
    ]


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_torchrun_ranks_read_shards_and_resume(tmp_path):
    """2 gloo ranks x 2 workers on img2dataset shards: no nodesplitter error, every rank's stream positions
    in the checkpoint, and a resume (longer run) continues from them."""
    from conftest import write_img2dataset_shards

    pattern, _ = write_img2dataset_shards(tmp_path / "shards")
    run = tmp_path / "run"
    settings = [
        "data.source=wds",
        f"data.shards={pattern}",
        "data.workers=2",
        "data.batch_size=4",
        "run.save_every=3",
        "run.log_every=3",
        "run.threads=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_torchrun_train("clip", run, *settings, "run.steps=3"), check=True, env=env, capture_output=True)
    data = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["data"]
    assert data["streams"] == 4 and len(data["positions"]) == 2 and all(len(p) == 2 for p in data["positions"])
    resume = _torchrun_train("clip", run, *settings, "run.steps=5", "--resume")  # a fresh port
    subprocess.run(resume, check=True, env=env, capture_output=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 5] and rows[-1]["epoch"] == 0
