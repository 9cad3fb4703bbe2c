"""Checkpoints: everything a run needs to continue bit-exactly, written atomically.

Model, optimiser, scheduler, step and the RNG states (torch, numpy, python) go into one file written
to a temporary name and moved into place with os.replace, so a kill mid-write leaves the previous
checkpoint intact. The file holds only tensors and plain containers, so it loads with
weights_only=True.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingFileError
from ..models.backbone import load_weights_only


def rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "python": torch.tensor(py_state, dtype=torch.int64),
        "python_version": version,
        "python_gauss": py_gauss,
    }


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(
        ("MT19937", s["numpy_keys"].numpy().astype(np.uint32), s["numpy_pos"], s["numpy_has_gauss"], s["numpy_gauss"])
    )
    random.setstate((s["python_version"], tuple(int(x) for x in s["python"]), s["python_gauss"]))


def save_checkpoint(path: str | Path, **state) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def alias_checkpoint(path: str | Path, alias: str | Path) -> Path:
    """Make `alias` (last.pt) the same file as `path` without writing the state again: a hard link
    moved into place atomically, or a copy where the file system has no hard links."""
    path, alias = Path(path), Path(alias)
    tmp = alias.with_name(f".{alias.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, alias)
    return alias


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no checkpoint to resume from")
    return load_weights_only(path)


def prune(directory: Path, keep: int) -> None:
    """Keep the newest `keep` step-NNNNNN.pt files (last.pt is separate)."""
    steps = sorted(directory.glob("step-*.pt"))
    for old in steps[:-keep] if keep > 0 else steps:
        old.unlink()


def finished_run(run_dir: str | Path, steps: int) -> bool:
    """A run that reached `steps` (its metrics and last.pt say so): callers reuse it, not retrain it."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not (metrics.is_file() and (run_dir / "checkpoints" / "last.pt").is_file()):
        return False
    lines = metrics.read_text().splitlines()
    return bool(lines) and json.loads(lines[-1])["step"] >= steps
