"""One scorer for every model: images and captions in, similarities out.

CLIP, SigLIP and C2LIP score by the cosine of the pooled embeddings (C2LIP adds nothing at
inference). OC-CLIP scores by its structured similarity on the captions' scene graphs, parsed once
per distinct caption and cached; benchmarks that carry gold graphs (the world's) pass them instead.

    scorer = load_scorer("runs/oc-clip")            # a bindclip run or exported model folder
    scorer = load_scorer("ViT-B-32:/ckpt/openai.pt")  # an open_clip architecture + local weights
    scorer.option_scores(images, [["a red cube", "a blue cube"], ...])  # [B, J]
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch
import torch.nn.functional as F

from ..graphs import SceneGraph
from ..models.oc_clip import OCCLIP, GraphState

IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # bindclip trains on raw [0, 1] pixels


class Scorer:
    def __init__(self, model: torch.nn.Module, name: str, image_size: int, normalize=IDENTITY,
                 batch_size: int = 32, world=None):
        self.model, self.name, self.image_size = model.eval(), name, image_size
        self.mean = torch.tensor(normalize[0]).view(1, 3, 1, 1)
        self.std = torch.tensor(normalize[1]).view(1, 3, 1, 1)
        self.batch_size = batch_size
        self.world = world  # the World (with its held-out split) the model was trained on
        self.structured = isinstance(model, OCCLIP)
        self.graph_cache: dict[str, SceneGraph] = {}

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def empty_graphs(self) -> int:
        """Distinct captions parsed so far to a graph with no node."""
        return sum(not g.objects for g in self.graph_cache.values())

    # ---- inputs ------------------------------------------------------------------------------
    def prepare(self, images) -> torch.Tensor:
        """float [B, 3, S, S], normalised as the model expects, from PIL images (shorter side resized,
        centre-cropped, as open_clip evaluates) or uint8 / [0, 1] tensors (resized if needed)."""
        if isinstance(images, (list, tuple)):
            images = torch.stack([pil_to_tensor(im, self.image_size) for im in images])
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bicubic",
                                   antialias=True, align_corners=False).clamp(0, 1)
        return ((images - self.mean) / self.std).to(self.device)

    def graphs(self, captions: list[str]) -> list[SceneGraph]:
        """Parsed graphs, each distinct caption parsed once for the life of the scorer."""
        todo = list(dict.fromkeys(c for c in captions if c not in self.graph_cache))
        if todo:
            self.graph_cache.update(zip(todo, self.model.parse(todo)))
        return [self.graph_cache[c] for c in captions]

    def parse_ahead(self, captions) -> None:
        """Parse a benchmark's captions in one batch (spaCy's pipe is much faster than one by one)."""
        if self.structured:
            self.graphs(list(captions))

    # ---- scores ------------------------------------------------------------------------------
    @torch.no_grad()
    def option_scores(self, images, options: list[list[str]], graphs: list[list[SceneGraph]] | None = None
                      ) -> torch.Tensor:
        """[B, J]: image b against its own J caption options (the same J for every image)."""
        J = len(options[0])
        if any(len(o) != J for o in options):
            raise ValueError("option_scores needs the same number of options per image; group items by it")
        flat = [c for o in options for c in o]
        if not self.structured:
            txt = self.text_features(flat).view(len(options), J, -1)
            return torch.einsum("bd,bjd->bj", self.image_features(images), txt)
        x = self.prepare(images)
        g = self._graph_state([x for o in graphs for x in o] if graphs else self.graphs(flat))
        patches = self.model.encode_patches(x)
        B = len(options)
        g = GraphState(*(getattr(g, f.name).view(B, J, *getattr(g, f.name).shape[1:]) for f in fields(g)))
        weights, _ = self.model.binding(patches, g.nodes, g.node_mask, aligned=True)
        return self.model.score_head(weights, patches, g, aligned=True).float().cpu()

    def score(self, images, captions: list[str], graphs: list[SceneGraph] | None = None) -> torch.Tensor:
        """[C, I]: every caption against every image (retrieval, zero-shot)."""
        return self.score_encoded(images, [self.encode_captions(captions, graphs)])

    @torch.no_grad()
    def encode_captions(self, captions: list[str], graphs: list[SceneGraph] | None = None):
        """The text side, encoded once to score against many image batches: normalised features [C, D],
        or OC-CLIP's GraphState."""
        if not self.structured:
            return self.text_features(captions)
        return self._graph_state(graphs or self.graphs(captions))

    @torch.no_grad()
    def score_encoded(self, images, texts: list) -> torch.Tensor:
        """[C, I]: images against chunks of encode_captions output, stacked in order; the image side is
        computed once for all chunks."""
        if not self.structured:
            img = self.image_features(images)
            return torch.cat([t @ img.T for t in texts])
        patches = self.model.encode_patches(self.prepare(images))
        return torch.cat([self.model.score_matrix(patches, t) for t in texts]).float().cpu()

    @torch.no_grad()
    def image_features(self, images) -> torch.Tensor:
        """Normalised pooled image embeddings (CLIP, SigLIP, C2LIP score with these)."""
        return self.model.encode_image(self.prepare(images)).float().cpu()

    @torch.no_grad()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        """Normalised pooled text embeddings (every model has a CLIP text tower): text-only tests."""
        return self.model.encode_text(list(texts)).float().cpu()

    def _graph_state(self, graphs: list[SceneGraph]) -> GraphState:
        return self.model.encode_graphs(self.model.collate(graphs, counterfactuals=False))


def pil_to_tensor(img, size: int) -> torch.Tensor:
    """uint8 [3, size, size]: RGB, shorter side to `size` (bicubic), centre crop."""
    import numpy as np
    from PIL import Image

    img = img.convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    if (w, h) != (size, size):
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


def load_scorer(spec: str, device: str | torch.device = "cpu", batch_size: int = 32) -> Scorer:
    """A scorer from a bindclip run directory, an exported model folder, a checkpoint file inside a run
    (`RUN/checkpoints/step-000120.pt`), or `OPENCLIP_NAME[:LOCAL_WEIGHTS]` (random weights without a file:
    only useful for testing)."""
    from ..train.data import training_world
    from ..train.export import load_with_config

    path = Path(spec)
    in_run = path.is_file() and path.parent.name == "checkpoints"
    if path.is_dir() or in_run:
        model, cfg = load_with_config(path, device)
        name = f"{path.parent.parent.name}/{path.stem}" if in_run else path.name
        return Scorer(model, name, cfg.data.world.image_size, batch_size=batch_size, world=training_world(cfg.data))
    return _open_clip_scorer(spec, device, batch_size)


def _open_clip_scorer(spec: str, device, batch_size: int) -> Scorer:
    import open_clip

    from ..models.backbone import BackboneConfig, model_config
    from ..models.clip import CLIP, ClipConfig

    name, _, weights = spec.partition(":")
    if weights and not Path(weights).is_file():
        raise FileNotFoundError(f"--model {spec}: no weights file {weights!r} (weights load only from local files)")
    if not weights and (Path(spec).suffix or "/" in spec):
        raise FileNotFoundError(f"--model {spec}: not a bindclip run, model folder or checkpoint, nor an open_clip "
                                f"name (NAME or NAME:WEIGHTS)")
    cfg = BackboneConfig(name=name, pretrained=weights or None)
    mc = model_config(cfg)
    pre = mc.get("preprocess_cfg", {})
    bindclip_arch = name.startswith("bindclip-")
    norm = IDENTITY if bindclip_arch else (tuple(pre.get("mean", open_clip.OPENAI_DATASET_MEAN)),
                                           tuple(pre.get("std", open_clip.OPENAI_DATASET_STD)))
    size = mc["vision_cfg"].get("image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    model = CLIP(ClipConfig(cfg)).to(device)
    return Scorer(model, spec, int(size), norm, batch_size)
