"""Image-text retrieval on a Karpathy test split: R@1/5/10 in both directions (CLIP_benchmark's rules).

Reads the three formats in circulation, detected from the file:
  Karpathy's dataset_{coco,flickr30k}.json  {"images": [{"filename", "filepath"?, "split", "sentences": [{"raw"}]}]}
                                            (only split == "test"; image = ROOT/filepath/filename)
  BLIP/LAVIS *_test.json                    [{"image": "val2014/...jpg", "caption": [...]}]
  CLIP_benchmark COCO-format test json      {"images": [{"id", "file_name"}], "annotations": [{"image_id", "caption"}]}
  CLIP_benchmark flickr30k_test_karpathy.txt  "image,caption" CSV (quoted captions unquoted, as a CSV reader does)
An image that cannot be read is skipped with its captions, and counted. For OC-CLIP a caption parsed
to an empty graph stays (dropping it would change every recall), scored as one node holding the
whole caption, and is counted as "empty_graphs".
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from tqdm import tqdm

from .items import (
    BenchmarkFormatError,
    SkipItem,
    SplitResult,
    open_image,
    read_json,
    require,
)
from .metrics import recall_at_k
from .scorer import CAPTION_CHUNK


def read_retrieval(path: Path, root: Path) -> list[tuple[Path, list[str]]]:
    """[(image path, its captions)]."""
    if path.suffix in (".txt", ".csv"):
        return _read_csv(path, root)
    data = read_json(path, (dict, list))
    if isinstance(data, list):
        out = []
        for k, rec in enumerate(data):
            require(rec, {"image": str, "caption": (list, str)}, f"{path}: entry {k}")
            caps = rec["caption"] if isinstance(rec["caption"], list) else [rec["caption"]]
            out.append((root / rec["image"], caps))
        return out
    if "annotations" in data:
        by_id = {}
        for k, im in enumerate(data.get("images", [])):
            require(im, {"id": (int, str), "file_name": str}, f"{path}: images[{k}]")
            by_id[im["id"]] = (root / im["file_name"], [])
        for k, ann in enumerate(data["annotations"]):
            require(ann, {"image_id": (int, str), "caption": str}, f"{path}: annotations[{k}]")
            if ann["image_id"] not in by_id:
                raise BenchmarkFormatError(f"{path}: annotations[{k}] names image {ann['image_id']!r}, not in images")
            by_id[ann["image_id"]][1].append(ann["caption"])
        return list(by_id.values())
    if "images" in data:
        out = []
        for k, im in enumerate(data["images"]):
            require(im, {"filename": str, "split": str, "sentences": list}, f"{path}: images[{k}]")
            if im["split"] == "test":
                caps = [s["raw"] for s in im["sentences"]]
                out.append((root / im.get("filepath", "") / im["filename"], caps))
        return out
    raise BenchmarkFormatError(f"{path}: not a Karpathy, BLIP or COCO-format caption file")


def _read_csv(path: Path, root: Path) -> list[tuple[Path, list[str]]]:
    groups: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["image", "caption"]:
            raise BenchmarkFormatError(f"{path}: line 1 must be the header 'image,caption', found {header}")
        for lineno, row in enumerate(reader, 2):
            if len(row) != 2:
                raise BenchmarkFormatError(f"{path}:{lineno}: expected 'image,caption', found {len(row)} fields")
            groups.setdefault(row[0], []).append(row[1])
    return [(root / image, caps) for image, caps in groups.items()]


def retrieval_scores(scorer, images, captions: list[str], chunk: int = CAPTION_CHUNK) -> torch.Tensor:
    """[C, I], built a batch of images at a time against every caption, each caption chunk encoded once
    (OC-CLIP binds every pair, so the full matrix is built piecewise)."""
    texts = [scorer.encode_captions(captions[j : j + chunk]) for j in range(0, len(captions), chunk)]
    starts = range(0, len(images), scorer.batch_size)
    return torch.cat(
        [
            scorer.score_encoded(images[i : i + scorer.batch_size], texts)
            for i in tqdm(starts, desc=f"{scorer.name} retrieval", unit="batch", disable=None, leave=False)
        ],
        dim=1,
    )


def evaluate_retrieval(scorer, path: str | Path, images: str | None = None) -> dict[str, SplitResult]:
    path = Path(path)
    root = Path(images) if images else path.parent
    pairs, pictures, skipped = [], [], {}
    for image, caps in read_retrieval(path, root):
        try:
            img = open_image(image)  # kept at the model's size: a 5k-image split fits in memory
            pictures.append(img if isinstance(img, torch.Tensor) else scorer.pixels(img))
            pairs.append(caps)
        except SkipItem as e:
            skipped[str(e)] = skipped.get(str(e), 0) + 1
    if not pairs:
        raise FileNotFoundError(f"{path}: none of its images could be read under {root}")
    pictures = torch.stack(pictures)
    captions = [c for caps in pairs for c in caps]
    owner = torch.tensor([i for i, caps in enumerate(pairs) for _ in caps])
    truth = owner[:, None] == torch.arange(len(pairs))[None]
    scorer.parse_ahead(captions)
    res = recall_at_k(retrieval_scores(scorer, pictures, captions), truth)
    res["captions"] = len(captions)
    if scorer.structured:  # kept (dropping captions would change the recall), scored by the whole caption
        res["empty_graphs"] = sum(not g.objects for g in scorer.graphs(captions))
    return {
        path.stem: SplitResult(
            None, len(pairs), sum(skipped.values()), tie_rule="topk", skip_reasons=skipped, extra=res
        )
    }
