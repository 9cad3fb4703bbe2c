"""Zero-shot classification from an ImageFolder, class names and prompt templates (CLIP_benchmark's rules).

    ROOT/<class folder>/<image>     labels by sorted folder name, as torchvision's ImageFolder
    ROOT/classnames.txt             optional: one name per line, in sorted-folder order
    ROOT/classnames.json            optional: {folder: name} (safer than an ordered list)
    ROOT/templates.txt|json         optional: templates with "{c}" (a list), or CuPL {name: [prompts]};
                                    default: the 80 OpenAI ImageNet templates
Without a names file, a folder's name is the class name with "_" read as a space. The classifier is the
mean of each class's normalised prompt embeddings (OC-CLIP: the mean of its structured scores over the
prompts); reported: top-1 (accuracy), top-5 and the mean per-class recall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .items import BenchmarkFormatError, SkipItem, SplitResult, open_image, read_json
from .metrics import class_embeddings, mean_per_class_recall, top_k_accuracy
from .scorer import CAPTION_CHUNK

DATA = Path(__file__).parent / "data"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}


def class_names(root: Path, folders: list[str]) -> list[str]:
    if (root / "classnames.json").is_file():
        mapping = read_json(root / "classnames.json", dict)
        missing = [f for f in folders if f not in mapping]
        if missing:
            raise BenchmarkFormatError(f"{root / 'classnames.json'}: no name for folder(s) {missing[:5]}")
        return [mapping[f] for f in folders]
    if (root / "classnames.txt").is_file():
        names = [line.strip() for line in (root / "classnames.txt").read_text().splitlines() if line.strip()]
        if len(names) != len(folders):
            raise BenchmarkFormatError(
                f"{root / 'classnames.txt'}: {len(names)} names for {len(folders)} class "
                f"folders (one name per line, in sorted folder order)"
            )
        return names
    return [f.replace("_", " ") for f in folders]


def class_prompts(root: Path, names: list[str]) -> list[list[str]]:
    if (root / "templates.txt").is_file():
        templates = [t.strip() for t in (root / "templates.txt").read_text().splitlines() if t.strip()]
    elif (root / "templates.json").is_file():
        templates = read_json(root / "templates.json", (list, dict))
        if isinstance(templates, dict):  # CuPL: class name -> full prompts
            missing = [n for n in names if n not in templates]
            if missing:
                raise BenchmarkFormatError(f"{root / 'templates.json'}: no prompts for class(es) {missing[:5]}")
            return [list(templates[n]) for n in names]
    else:
        templates = json.loads((DATA / "imagenet_templates.json").read_text())["templates"]
    bad = [t for t in templates if "{c}" not in t]
    if bad:
        raise BenchmarkFormatError(f"{root}: template {bad[0]!r} has no {{c}} placeholder")
    return [[t.format(c=n) for t in templates] for n in names]


def image_folder(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    folders = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not folders:
        raise FileNotFoundError(f"{root}: no class folders (expected ROOT/<class>/<image>)")
    samples = [
        (p, label)
        for label, f in enumerate(folders)
        for p in sorted((root / f).iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return folders, samples


@dataclass
class GraphClassifier:
    """OC-CLIP's class side. A class's prompts that parse to the same graph ("a photo of a dog", "a good
    photo of a dog") are bound once, weighted by how many prompts share it, so the class score is still
    the mean over its prompts. The graphs are encoded in chunks of `chunk`, and each chunk is bound to an
    image batch on its own: the binding's [chunk, batch, nodes, patches] logits bound the peak memory,
    whatever the class count (unchunked, 1,000 classes x 80 templates at ViT-B/16 size is ~10 GB)."""

    chunks: list  # GraphState of up to `chunk` graphs each
    owner: torch.Tensor  # [G] class of each graph
    weight: torch.Tensor  # [G] share of its class's prompts that parse to it


def graph_key(g):
    """Graphs that score alike: same nodes and relations (an empty graph is scored by its caption)."""
    return (g.objects, g.relations) if g.objects else g.caption


def classifier(scorer, prompts: list[list[str]], chunk: int = CAPTION_CHUNK):
    """The class side, encoded once: CLIP's class embeddings [K, D], or OC-CLIP's GraphClassifier."""
    if not scorer.structured:
        return [class_embeddings(scorer.text_features, prompts)]
    scorer.parse_ahead([p for ps in prompts for p in ps])
    graphs, owner, weight = [], [], []
    for k, ps in enumerate(prompts):
        alike: dict = {}
        for g in scorer.graphs(ps):
            alike.setdefault(graph_key(g), []).append(g)
        for group in alike.values():
            graphs.append(group[0])
            owner.append(k)
            weight.append(len(group) / len(ps))
    chunks = [
        scorer.encode_captions([g.caption for g in graphs[i : i + chunk]], graphs[i : i + chunk])
        for i in range(0, len(graphs), chunk)
    ]
    return GraphClassifier(chunks, torch.tensor(owner), torch.tensor(weight))


def class_scores(scorer, images, prompts: list[list[str]], classes) -> torch.Tensor:
    """[I, K] logits of each image against each class (OC-CLIP: the mean score over a class's prompts)."""
    if not scorer.structured:
        return scorer.score_encoded(images, classes).T  # [I, K]
    s = scorer.score_encoded(images, classes.chunks)  # [G, I], one chunk at a time
    out = torch.zeros(len(prompts), s.shape[1], dtype=s.dtype)
    return out.index_add_(0, classes.owner, s * classes.weight[:, None].to(s.dtype)).T


def evaluate_zeroshot(scorer, root: str | Path, images: str | None = None) -> dict[str, SplitResult]:
    root = Path(root)
    folders, samples = image_folder(root)
    prompts = class_prompts(root, class_names(root, folders))
    classes = classifier(scorer, prompts)
    logits, labels, skipped = [], [], {}
    for start in tqdm(
        range(0, len(samples), scorer.batch_size),
        desc=f"{scorer.name} zeroshot/{root.name}",
        unit="batch",
        disable=None,
        leave=False,
    ):
        batch, ys = [], []
        for path, y in samples[start : start + scorer.batch_size]:
            try:
                batch.append(open_image(path))
                ys.append(y)
            except SkipItem as e:
                skipped[str(e)] = skipped.get(str(e), 0) + 1
        if batch:
            logits.append(class_scores(scorer, batch, prompts, classes))
            labels += ys
    if not logits:
        raise FileNotFoundError(f"{root}: no readable image in the class folders")
    logits, labels = torch.cat(logits), torch.tensor(labels)
    extra = {
        "acc5": top_k_accuracy(logits, labels, 5),
        "mean_per_class_recall": mean_per_class_recall(logits, labels),
        "classes": len(folders),
    }
    res = SplitResult(
        top_k_accuracy(logits, labels, 1),
        len(labels),
        sum(skipped.values()),
        tie_rule="argmax",
        skip_reasons=skipped,
        extra=extra,
    )
    return {root.name: res}
