"""Sharing a trained model: a folder with safetensors weights and the config that rebuilds it.

    bindclip export RUN_DIR -o MODEL_DIR
    model = bindclip.load(MODEL_DIR); model.score(images, ["a red circle left of a blue square"])

A model folder is self-contained (no pickle: safetensors plus JSON), so it loads anywhere without
trusting the file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .. import __version__
from .checkpoint import load_checkpoint
from .config import ConfigError, TrainConfig, from_dict
from .loop import build_model

WEIGHTS, CONFIG = "model.safetensors", "bindclip_config.json"


def export_run(run_dir: str | Path, out: str | Path, checkpoint: str = "last.pt") -> Path:
    from safetensors.torch import save_file

    run_dir, out = Path(run_dir), Path(out)
    cfg = read_run_config(run_dir / "config.json")
    state = load_checkpoint(run_dir / "checkpoints" / checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in state["model"].items()}
    tmp = out / f".{WEIGHTS}.tmp{os.getpid()}"
    save_file(tensors, str(tmp), metadata={"bindclip": __version__, "step": str(state["step"])})
    os.replace(tmp, out / WEIGHTS)
    meta = {"bindclip_version": __version__, "step": int(state["step"]), "train_config": cfg.to_dict()}
    (out / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    return out


def read_run_config(path: Path) -> TrainConfig:
    try:
        d = json.loads(path.read_text())
    except OSError:
        raise FileNotFoundError(f"{path}: no run config (is this a bindclip run directory?)") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    return from_dict(TrainConfig, d.get("train_config", d), str(path)).validate()


def load(model_dir: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """A ready model (eval mode) from an exported folder or a run directory; `model.score(images,
    captions)` works for every method (OC-CLIP parses the captions itself)."""
    return load_with_config(model_dir, device)[0]


def load_with_config(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, TrainConfig]:
    """(model, its training config) from an exported folder, a run directory (its last.pt) or a checkpoint
    file inside a run (RUN/checkpoints/step-*.pt)."""
    from safetensors.torch import load_file

    from ..models.backbone import load_state

    model_dir = Path(model_dir)
    if model_dir.is_file() and model_dir.parent.name == "checkpoints":
        cfg = read_run_config(model_dir.parent.parent / "config.json")
        state = load_checkpoint(model_dir)["model"]
    elif (model_dir / CONFIG).is_file():
        cfg = read_run_config(model_dir / CONFIG)
        state = load_file(str(model_dir / WEIGHTS))
    elif (model_dir / "config.json").is_file():  # a run directory
        cfg = read_run_config(model_dir / "config.json")
        state = load_checkpoint(model_dir / "checkpoints" / "last.pt")["model"]
    else:
        raise FileNotFoundError(f"{model_dir}: neither an exported model ({CONFIG}) nor a run directory")
    model = build_model(cfg)
    load_state(model, state, str(model_dir))
    model.image_size = cfg.data.world.image_size
    return model.to(device).eval(), cfg
