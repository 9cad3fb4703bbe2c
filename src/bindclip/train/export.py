"""Sharing a trained model: a folder with safetensors weights and the config that rebuilds it.

    bindclip export RUN_DIR -o MODEL_DIR
    model = bindclip.load(MODEL_DIR); model.score(images, ["a red circle left of a blue square"])

A model folder is self-contained (no pickle: safetensors plus JSON), so it loads anywhere without
trusting the file, and without the pretrained checkpoint the run started from: every weight is in
model.safetensors, and the config keeps the preprocessing those weights expect.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import MissingFileError
from ..models.backbone import load_state, parse_model_spec
from ..models.clip import CLIP, ClipConfig
from ..version import __version__
from .checkpoint import load_checkpoint
from .config import TrainConfig, read_run_config
from .loop import build_model
from .optim import is_backbone

WEIGHTS, CONFIG = "model.safetensors", "bindclip_config.json"


def export_run(run_dir: str | Path, out: str | Path, checkpoint: str = "last.pt") -> Path:
    run_dir, out = Path(run_dir), Path(out)
    cfg = read_run_config(run_dir / "config.json")
    state = load_checkpoint(run_dir / "checkpoints" / checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(out / WEIGHTS, state["model"], {"step": str(state["step"])})
    started_from = cfg.model.backbone.pretrained
    cfg.model.backbone.pretrained = None  # the weights are all in model.safetensors
    meta = {
        "bindclip_version": __version__,
        "step": int(state["step"]),
        "pretrained_from": started_from,
        "train_config": cfg.to_dict(),
    }
    (out / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def export_towers(run_dir: str | Path, out: str | Path, checkpoint: str = "last.pt") -> Path:
    """A run's open_clip towers as an open_clip checkpoint (safetensors, open_clip's own keys, logit
    scale included): what `model.backbone.pretrained` or `open_clip.create_model(NAME, pretrained=FILE)`
    takes, so a bindclip run can be fine-tuned the way real pretrained weights are. A method's own
    modules (binding, heads) are left out; they are new in whatever fine-tunes these towers."""
    run_dir, out = Path(run_dir), Path(out)
    state = load_checkpoint(run_dir / "checkpoints" / checkpoint)
    towers = {k.removeprefix("backbone."): v for k, v in state["model"].items() if is_backbone(k)}
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_weights(out, towers, {"step": str(state["step"]), "run": str(run_dir)})


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """safetensors written atomically (a temporary name, then os.replace), with bindclip's version."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"bindclip": __version__, **metadata})
    os.replace(tmp, path)
    return path


def load(spec: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """A ready model (eval mode) with open_clip's surface (`preprocess`, `encode_image`, `encode_text`,
    `logit_scale`) and `score(images, captions)`, from any spec `bindclip eval --model` takes: an exported
    folder, a run directory, a checkpoint inside a run, or `OPENCLIP_NAME[@TAG][:WEIGHTS]`."""
    return load_with_config(spec, device)[0]


def load_with_config(
    spec: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, TrainConfig | None]:
    """(model, its training config) from an exported folder, a run directory (its last.pt) or a checkpoint
    file inside a run (RUN/checkpoints/step-*.pt); (model, None) for `OPENCLIP_NAME[@TAG][:WEIGHTS]`.
    A run's or export's weights come from its own files only, never from the pretrained file it started
    from."""
    path = Path(spec)
    if path.is_file() and path.parent.name == "checkpoints":
        cfg = read_run_config(path.parent.parent / "config.json")
        state = load_checkpoint(path)["model"]
    elif (path / CONFIG).is_file():
        cfg = read_run_config(path / CONFIG)
        state = load_file(str(path / WEIGHTS))
    elif (path / "config.json").is_file():  # a run directory
        cfg = read_run_config(path / "config.json")
        state = load_checkpoint(path / "checkpoints" / "last.pt")["model"]
    elif path.is_dir():
        raise MissingFileError(f"{path}: neither an exported model ({CONFIG}) nor a run directory")
    else:
        return open_clip_model(str(spec)).to(device).eval(), None
    model = build_model(cfg, load_pretrained=False)
    load_state(model, state, str(spec))
    return model.to(device).eval(), cfg


def open_clip_model(spec: str) -> torch.nn.Module:
    """`NAME[@TAG][:WEIGHTS]` as a bindclip CLIP: open_clip's architecture, the local weights and the
    preprocessing of the tag they came from (random weights without a file: only useful for testing)."""
    backbone = parse_model_spec(spec)
    if backbone.pretrained and not Path(backbone.pretrained).is_file():
        raise MissingFileError(f"{spec}: no weights file {backbone.pretrained!r} (weights load only from local files)")
    if not backbone.pretrained and (Path(spec).suffix or "/" in spec):
        raise MissingFileError(
            f"{spec}: not a bindclip run, model folder or checkpoint, nor an open_clip name "
            f"(NAME, NAME:WEIGHTS or NAME@TAG:WEIGHTS)"
        )
    return CLIP(ClipConfig(backbone))
