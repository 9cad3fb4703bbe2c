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
from pathlib import Path

import torch

from .items import BenchmarkFormatError, SkipItem, SplitResult, open_image, read_json
from .metrics import class_embeddings, mean_per_class_recall, top_k_accuracy

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
            raise BenchmarkFormatError(f"{root / 'classnames.txt'}: {len(names)} names for {len(folders)} class "
                                       f"folders (one name per line, in sorted folder order)")
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
    samples = [(p, label) for label, f in enumerate(folders) for p in sorted((root / f).iterdir())
               if p.suffix.lower() in IMAGE_SUFFIXES]
    return folders, samples


def classifier(scorer, prompts: list[list[str]]) -> list:
    """The class side, encoded once: CLIP's class embeddings [K, D], or OC-CLIP's graphs of every prompt."""
    if not scorer.structured:
        return [class_embeddings(scorer.text_features, prompts)]
    return [scorer.encode_captions([p for ps in prompts for p in ps])]


def class_scores(scorer, images, prompts: list[list[str]], classes: list) -> torch.Tensor:
    """[I, K] logits of each image against each class (OC-CLIP: the mean score over a class's prompts)."""
    s = scorer.score_encoded(images, classes)  # [K, I], or [K * M, I] for OC-CLIP
    if scorer.structured:
        s = torch.stack([part.mean(0) for part in s.split([len(ps) for ps in prompts])])
    return s.T


def evaluate_zeroshot(scorer, root: str | Path, images: str | None = None) -> dict[str, SplitResult]:
    root = Path(root)
    folders, samples = image_folder(root)
    prompts = class_prompts(root, class_names(root, folders))
    from tqdm import tqdm

    classes = classifier(scorer, prompts)
    logits, labels, skipped = [], [], {}
    for start in tqdm(range(0, len(samples), scorer.batch_size), desc=f"{scorer.name} zeroshot/{root.name}",
                      unit="batch", disable=None, leave=False):
        batch, ys = [], []
        for path, y in samples[start:start + scorer.batch_size]:
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
    extra = {"acc5": top_k_accuracy(logits, labels, 5), "mean_per_class_recall": mean_per_class_recall(logits, labels),
             "classes": len(folders)}
    res = SplitResult(top_k_accuracy(logits, labels, 1), len(labels), sum(skipped.values()), tie_rule="argmax",
                      skip_reasons=skipped, extra=extra)
    return {root.name: res}
