"""One scorer for every model: images and captions in, similarities out.

CLIP, SigLIP and C2LIP score by the cosine of the pooled embeddings (C2LIP adds nothing at
inference). OC-CLIP scores by its structured similarity on the captions' scene graphs, parsed once
per distinct caption and cached; benchmarks that carry gold graphs (the world's) pass them instead.

    scorer = load_scorer("runs/oc-clip")            # a bindclip run or exported model folder
    scorer = load_scorer("ViT-B-32:/ckpt/openai.pt")  # an open_clip architecture + local weights
    scorer = load_scorer("ViT-L-14@openai:/ckpt/vit-l.pt")  # a tag picks open_clip's preprocessing
    scorer.option_scores(images, [["a red cube", "a blue cube"], ...])  # [B, J]
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch

from ..graphs import SceneGraph
from ..graphs.parse import make_parser
from ..models.oc_clip import GraphState
from ..train.export import load_with_config

# captions (OC-CLIP: graphs) bound to one image batch at a time in retrieval and zero-shot: OC-CLIP's binding
# logits are [chunk, batch, nodes, patches], so this, not the caption or class count, bounds peak memory
CAPTION_CHUNK = 256


class Scorer:
    """Images reach the model through its own preprocessing (`model.prepare_images`: open_clip's eval
    transform of the tag the weights came from, or a bindclip config's own)."""

    def __init__(self, model: torch.nn.Module, name: str, batch_size: int = 32, world=None):
        self.model, self.name = model.eval(), name
        self.batch_size = batch_size
        self.world = world  # the World (with its held-out split) the model was trained on
        self.structured = model.scores_by_graphs  # OC-CLIP's structured similarity, else pooled cosine
        self.parser = "spacy" if self.structured else None  # the caption parser's spec (structured models)
        self.graph_cache: dict[str, SceneGraph] = {}

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def empty_graphs(self) -> int:
        """Distinct captions parsed so far to a graph with no node."""
        return sum(not g.objects for g in self.graph_cache.values())

    # ---- inputs ------------------------------------------------------------------------------
    def prepare(self, images) -> torch.Tensor:
        """Model-ready float [B, 3, S, S] from PIL images, uint8 pixels or preprocessed tensors."""
        return self.model.prepare_images(images)

    def pixels(self, image) -> torch.Tensor:
        """uint8 [3, S, S]: a PIL image through the model's eval transform up to its tensor steps, to keep
        many images in memory at one byte a channel; `prepare` finishes them exactly."""
        return self.model.pixels(image)

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
    def option_scores(
        self, images, options: list[list[str]], graphs: list[list[SceneGraph]] | None = None
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


def load_scorer(spec: str, device: str | torch.device = "cpu", batch_size: int = 32) -> Scorer:
    """A scorer for any spec `bindclip.load` takes: a run directory, an exported model folder, a checkpoint
    file inside a run (`RUN/checkpoints/step-000120.pt`), or `OPENCLIP_NAME[@TAG][:LOCAL_WEIGHTS]` (random
    weights without a file: only useful for testing). A bindclip run keeps its training world, for the
    world benchmarks."""
    model, cfg = load_with_config(spec, device)
    path = Path(spec)
    in_run = path.is_file() and path.parent.name == "checkpoints"
    name = f"{path.parent.parent.name}/{path.stem}" if in_run else path.name if path.is_dir() else spec
    scorer = Scorer(model, name, batch_size=batch_size, world=cfg.data.training_world() if cfg else None)
    if scorer.structured:  # benchmark captions parsed as the training graphs were (the OC-CLIP paper's rule)
        scorer.parser = cfg.data.parser if cfg else "spacy"
        if scorer.parser != "spacy":
            model.parser = make_parser(scorer.parser)
    return scorer
