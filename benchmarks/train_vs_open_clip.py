"""bindclip's trainer against open_clip's own (`python -m open_clip_train.main`) on the same shards.

    python benchmarks/train_vs_open_clip.py [--steps 40] [--batch 64] [--workers 2] [--device cpu]
        [--model bindclip-vit-tiny-32] [--open-clip-python PATH]

Same img2dataset-style shards (world-small scenes as 32-px JPEG + txt + json with the graph), the same open_clip
architecture (bindclip's JSON config registered with open_clip in its process), the same initial
weights (saved to a file both load), batch, loader workers, precision, optimiser settings (AdamW,
lr 1e-3 with 2 warmup steps and cosine, weight decay 0.1, betas 0.9/0.98, eps 1e-6, grad clip 1.0)
and steps. Reported: samples/s of each (median over the logged windows after the first; both count
data loading in the step time), their ratio, and the loss at each logged step; then bindclip's
OC-CLIP and C2LIP samples/s relative to open_clip's CLIP in the same run. The data order differs (each
trainer shuffles its own way), so the losses agree in trend, not to the digit.

open_clip_train's loader needs its own training requirements: pandas and webdataset <= 0.2.86 (with
webdataset 1.x it stops with KeyError: 'fname'). Without --open-clip-python the script builds that
environment once under ~/.cache/bindclip/open_clip_train: `python3.11 -m venv` + a .pth file that adds
this environment's site-packages (torch, open_clip) + `pip install webdataset==0.2.86 pandas`, which
shadow the newer webdataset for that process only. Bars: CLIP >= 1.0x open_clip's samples/s; OC-CLIP
>= 0.7x and C2LIP >= 0.8x of open_clip's CLIP. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ENV = Path.home() / ".cache" / "bindclip" / "open_clip_train"
RUNNER = """
import sys
import open_clip
open_clip.add_model_config(sys.argv[1])  # bindclip's JSON model configs
from open_clip_train.main import main
main(sys.argv[2:])
"""


def open_clip_python(given: str | None) -> str:
    if given:
        return given
    python = ENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ENV)], check=True)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (Path(site) / "bindclip_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        subprocess.run([str(python), "-m", "pip", "install", "-q", "webdataset==0.2.86", "pandas"], check=True)
    return str(python)


def write_shards(root: Path, n_shards: int, per_shard: int) -> str:
    """img2dataset's layout (jpg + txt + json) over the world-small scenes (two shapes side by side, 32 px, a
    learnable caption each), the json already holding the gold graph as `bindclip parse --shards` leaves
    it, so OC-CLIP and C2LIP parse nothing inside the timed loop."""
    import webdataset as wds
    from PIL import Image

    from bindclip.train import load_config

    world = load_config(None, [], preset="world-small").data.training_world()
    for s in range(n_shards):
        images, samples = world.batch(per_shard, seed=s)
        with wds.TarWriter(str(root / f"{s:05d}.tar")) as sink:
            for i, (image, sample) in enumerate(zip(images, samples)):
                buf = io.BytesIO()
                Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=95)
                graph = sample.graph.to_dict()
                graph.pop("caption", None)
                sink.write(
                    {
                        "__key__": f"{s:05d}{i:04d}",
                        "jpg": buf.getvalue(),
                        "txt": sample.caption.encode(),
                        "json": json.dumps({"caption": sample.caption, "graph": graph}).encode(),
                    }
                )
    return str(root / f"{{00000..{n_shards - 1:05d}}}.tar")


def run_open_clip(python: str, args, pattern: str, init: Path, logs: Path) -> dict:
    argv = [
        "--train-data",
        pattern,
        "--train-num-samples",
        str(args.steps * args.batch),
        "--dataset-type",
        "webdataset",
        "--batch-size",
        str(args.batch),
        "--workers",
        str(args.workers),
        "--epochs",
        "1",
        "--model",
        args.model,
        "--pretrained",
        str(init),
        "--device",
        args.device,
        "--precision",
        "fp32",
        "--lr",
        "1e-3",
        "--warmup",
        "2",
        "--wd",
        "0.1",
        "--beta1",
        "0.9",
        "--beta2",
        "0.98",
        "--eps",
        "1e-6",
        "--grad-clip-norm",
        "1.0",
        "--seed",
        "0",
        "--log-every-n-steps",
        "5",
        "--logs",
        str(logs),
        "--name",
        "open_clip",
        "--save-frequency",
        "0",
        "--report-to",
        "",
    ]
    from bindclip.models.backbone import CONFIG_DIR

    out = subprocess.run([python, "-c", RUNNER, str(CONFIG_DIR), *argv], capture_output=True, text=True)
    text = out.stdout + out.stderr
    if out.returncode:
        raise RuntimeError(f"open_clip_train failed:\n{text[-3000:]}")
    rows = re.findall(r"Train Epoch: \d+ \[\s*(\d+)/.*?Batch \(t\): ([\d.]+),.*?Contrastive_loss: ([\d.]+)", text)
    steps = [int(n) // args.batch for n, _, _ in rows]
    rates = [args.batch / float(t) for _, t, _ in rows]
    return {
        "samples_per_s": round(statistics.median(rates[1:] or rates), 1),
        "loss": dict(zip(map(str, steps), (round(float(loss), 4) for _, _, loss in rows))),
    }


def run_bindclip(method: str, args, pattern: str, init: Path, out: Path) -> dict:
    from bindclip.cli import main

    assert (
        main(
            [
                "train",
                "--method",
                method,
                "--preset",
                "world-small",
                "--out",
                str(out),
                "data.source=wds",
                f"data.shards={pattern}",
                f"data.batch_size={args.batch}",
                f"data.workers={args.workers}",
                f"model.backbone.name={args.model}",
                f"model.backbone.pretrained={init}",
                "optim.lr=1e-3",
                "optim.backbone_lr=1e-3",
                "optim.warmup=2",
                f"run.steps={args.steps}",
                "run.log_every=5",
                f"run.save_every={args.steps}",
                f"run.device={args.device}",
                "run.precision=fp32",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "samples_per_s": round(statistics.median([r["samples_per_s"] for r in rows[1:]] or [0]), 1),
        "loss": {str(r["step"]): round(r["loss"], 4) for r in rows},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="bindclip-vit-tiny-32")
    ap.add_argument("--open-clip-python")
    args = ap.parse_args(argv)
    import open_clip
    import torch

    import bindclip.models.backbone  # noqa: F401  registers bindclip's configs with open_clip

    python = open_clip_python(args.open_clip_python)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "shards").mkdir()
        pattern = write_shards(tmp / "shards", n_shards=8, per_shard=max(64, args.steps * args.batch // 8))
        torch.manual_seed(0)
        init = tmp / "init.pt"
        torch.save(open_clip.create_model(args.model).state_dict(), init)
        theirs = run_open_clip(python, args, pattern, init, tmp / "logs")
        ours = {m: run_bindclip(m, args, pattern, init, tmp / m) for m in ("clip", "oc-clip", "c2lip")}
    base = theirs["samples_per_s"]
    ratios = {m: round(r["samples_per_s"] / base, 2) for m, r in ours.items()}
    print(
        json.dumps(
            {
                "benchmark": "train_vs_open_clip",
                "model": args.model,
                "device": args.device,
                "batch": args.batch,
                "workers": args.workers,
                "steps": args.steps,
                "open_clip_train": theirs,
                "bindclip": ours,
                "vs_open_clip_clip": ratios,
                "met": {
                    "clip>=1.0": ratios["clip"] >= 1.0,
                    "oc-clip>=0.7": ratios["oc-clip"] >= 0.7,
                    "c2lip>=0.8": ratios["c2lip"] >= 0.8,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
