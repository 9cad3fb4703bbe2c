"""What'sUp (Kamath et al. 2023): Controlled-A/B, COCO-spatial and GQA-spatial (one and two objects).

Layout under the root, as the official repo's data/ folder:
  controlled_images_dataset.json + controlled_images/      (Controlled-A)
  controlled_clevr_dataset.json + controlled_clevr/        (Controlled-B)
  coco_qa_{one,two}_obj.json + val2017/                    (COCO-spatial)
  vg_qa_{one,two}_obj.json + vg_images/                    (GQA-spatial)
Subsets whose file is absent are not run. The correct option is always listed first and scored by
argmax, so a tie is right (a constant scorer gets 100%): ties are counted. Controlled subsets also
report pair and set accuracy over the 4 relations of each object pair.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..errors import MissingFileError
from .items import (
    BenchmarkFormatError,
    ChoiceItem,
    SplitResult,
    choice_result,
    item_scores,
    read_json,
    require,
)

CONTROLLED = {
    "controlled-a": ("controlled_images_dataset.json", "controlled_images", ("on", "under")),
    "controlled-b": ("controlled_clevr_dataset.json", "controlled_clevr", ("in-front", "behind")),
}
QA = {
    "coco-one": ("coco_qa_one_obj.json", "val2017"),
    "coco-two": ("coco_qa_two_obj.json", "val2017"),
    "gqa-one": ("vg_qa_one_obj.json", "vg_images"),
    "gqa-two": ("vg_qa_two_obj.json", "vg_images"),
}


def controlled_key(image_path: str) -> tuple[tuple[str, str], str]:
    """`<objA>_<prep>_<objB>.jpeg` -> ((objA, objB), relation slot: on/under/left/right/in-front/behind)."""
    stem = Path(image_path).name.rsplit(".", 1)[0]
    parts = stem.split("_")
    if len(parts) < 3:
        raise ValueError(image_path)
    return (parts[0], parts[-1]), parts[1]


def read_controlled(path: Path, folder: Path) -> list[ChoiceItem]:
    items = []
    for k, rec in enumerate(read_json(path, list)):
        require(rec, {"image_path": str, "caption_options": list}, f"{path}: entry {k}")
        if len(rec["caption_options"]) != 4 or not all(isinstance(c, str) for c in rec["caption_options"]):
            raise BenchmarkFormatError(f"{path}: entry {k}: 'caption_options' must hold 4 captions")
        try:
            pair, slot = controlled_key(rec["image_path"])
        except ValueError:
            raise BenchmarkFormatError(
                f"{path}: entry {k}: image_path {rec['image_path']!r} is not <objA>_<prep>_<objB>.jpeg"
            ) from None
        image = folder / Path(rec["image_path"]).name  # stored paths carry the repo's data/ prefix
        items.append(ChoiceItem(str(k), image, list(rec["caption_options"]), (0,), f"{'_'.join(pair)}/{slot}"))
    return items


def pair_and_set(items: list[ChoiceItem], verdicts: dict[str, bool], vertical: tuple[str, str]) -> dict:
    """The official pair accuracy (left & right both right, and the two other relations both right, per
    object pair; over N/2) and set accuracy (all 4 right; over N/4), over the object pairs scored in full."""
    groups: dict[str, dict[str, bool]] = defaultdict(dict)
    for it in items:
        if it.id in verdicts:
            pair, slot = it.group.split("/")
            groups[pair][slot] = verdicts[it.id]
    full = {p: g for p, g in groups.items() if len(g) == 4}
    if not full:
        return {"pair_accuracy": None, "set_accuracy": None, "object_pairs": 0}
    pairs = sum(g.get("left", False) and g.get("right", False) for g in full.values()) + sum(
        g.get(vertical[0], False) and g.get(vertical[1], False) for g in full.values()
    )
    sets = sum(all(g.values()) for g in full.values())
    return {
        "pair_accuracy": round(pairs / (2 * len(full)), 6),
        "set_accuracy": round(sets / len(full), 6),
        "object_pairs": len(full),
    }


def read_qa(path: Path, folder: Path, coco: bool) -> list[ChoiceItem]:
    items = []
    for k, rec in enumerate(read_json(path, list)):
        if not (
            isinstance(rec, list)
            and len(rec) == 3
            and isinstance(rec[0], (int, str))
            and all(isinstance(c, str) for c in rec[1:])
        ):
            raise BenchmarkFormatError(f"{path}: entry {k} is not [image_id, correct caption, wrong caption]")
        image_id = str(rec[0])
        name = f"{int(image_id):012d}.jpg" if coco and image_id.isdigit() else f"{image_id}.jpg"
        items.append(ChoiceItem(str(k), folder / name, [rec[1], rec[2]]))
    return items


def evaluate_whatsup(scorer, root: str | Path, images: str | None = None) -> dict[str, SplitResult]:
    root = Path(root)
    out = {}
    for split, (name, folder, vertical) in CONTROLLED.items():
        if (root / name).is_file():
            items = read_controlled(root / name, Path(images) if images else root / folder)
            scores, skipped, fallbacks = item_scores(scorer, items, desc=f"{scorer.name} whatsup/{split}")
            res, verdicts = choice_result(items, scores, skipped, "argmax", fallbacks=fallbacks)
            res.extra.update(pair_and_set(items, verdicts, vertical))
            out[split] = res
    for split, (name, folder) in QA.items():
        if (root / name).is_file():
            items = read_qa(root / name, Path(images) if images else root / folder, split.startswith("coco"))
            scores, skipped, fallbacks = item_scores(scorer, items, desc=f"{scorer.name} whatsup/{split}")
            out[split] = choice_result(items, scores, skipped, "argmax", fallbacks=fallbacks)[0]
    if not out:
        raise MissingFileError(
            f"{root}: no What'sUp file ({', '.join([v[0] for v in CONTROLLED.values()] + [v[0] for v in QA.values()])})"
        )
    return out
