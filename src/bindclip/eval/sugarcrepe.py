"""SugarCrepe (Hsieh et al. 2023) and SugarCrepe++ (Dumpala et al. 2024) in their published formats,
and the text-only graph diagnostic.

SugarCrepe: a file maps a string id to {"filename", "caption", "negative_caption"}; ids are not
contiguous (swap_obj has no "108"), so items are read by key. An item is right iff
score(positive) > score(negative), strictly: a tie is wrong (the official main_eval.py).

SugarCrepe++: a file is an array of {"id", "filename", "caption", "caption2", "negative_caption"}, with
no add_* splits. ITT is right iff both positives beat the negative on the image; TOT (text only) iff
sim(P1, P2) beats both sim(P1, N) and sim(P2, N). Both strict. Two swap_obj items have caption ==
negative_caption (the release's gender neutralisation); they count as wrong, as in the paper, and are
flagged as "degenerate".

Images are COCO val2017 files by name: `<root>/val2017/` or `<root>/images/` unless given.

The diagnostic needs no images: a model that scores scene graphs can only separate a pair whose
parsed graphs differ, so the share of pairs with identical graphs is a ceiling on what the parser
lets OC-CLIP reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .items import (
    BenchmarkFormatError,
    ChoiceItem,
    SplitResult,
    evaluate_choices,
    find_dir,
    read_json,
    require,
)

SPLITS = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
PP_SPLITS = ("replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
__all__ = [
    "BenchmarkFormatError",
    "PairItem",
    "read_split",
    "read_sugarcrepe",
    "evaluate_sugarcrepe",
    "read_pp_split",
    "evaluate_sugarcrepe_pp",
    "graph_diagnostic",
]


@dataclass(frozen=True)
class PairItem:
    id: str
    filename: str  # a COCO val2017 image name
    caption: str
    negative: str
    caption2: str | None = None  # SugarCrepe++'s second positive


def read_split(path: str | Path) -> list[PairItem]:
    path = Path(path)
    items = []
    for key, rec in read_json(path, dict).items():
        require(rec, {"filename": str, "caption": str, "negative_caption": str}, f"{path}: item {key!r}")
        items.append(PairItem(key, rec["filename"], rec["caption"], rec["negative_caption"]))
    return items


def read_sugarcrepe(directory: str | Path, splits=SPLITS) -> dict[str, list[PairItem]]:
    directory = Path(directory)
    missing = [s for s in splits if not (directory / f"{s}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: missing SugarCrepe file(s) {', '.join(m + '.json' for m in missing)}")
    return {s: read_split(directory / f"{s}.json") for s in splits}


def read_pp_split(path: str | Path) -> list[PairItem]:
    path = Path(path)
    items = []
    for k, rec in enumerate(read_json(path, list)):
        require(
            rec,
            {"id": int, "filename": str, "caption": str, "caption2": str, "negative_caption": str},
            f"{path}: entry {k}",
        )
        items.append(
            PairItem(str(rec["id"]), rec["filename"], rec["caption"], rec["negative_caption"], rec["caption2"])
        )
    return items


def _annotations(root: Path, splits) -> Path:
    """The folder holding the split files: root itself or root/data (a clone of the official repo)."""
    return next((d for d in (root, root / "data") if all((d / f"{s}.json").is_file() for s in splits)), root)


def evaluate_sugarcrepe(scorer, root: str | Path, images: str | None = None, splits=SPLITS) -> dict[str, SplitResult]:
    root = Path(root)
    image_dir = find_dir(root, images, "val2017", "images")
    out = {}
    for split, pairs in read_sugarcrepe(_annotations(root, splits), splits).items():
        items = [ChoiceItem(p.id, image_dir / p.filename, [p.caption, p.negative]) for p in pairs]
        out[split] = evaluate_choices(scorer, items, "strict", desc=f"{scorer.name} sugarcrepe/{split}")
    return out


def evaluate_sugarcrepe_pp(
    scorer, root: str | Path, images: str | None = None, splits=PP_SPLITS
) -> dict[str, SplitResult]:
    """Per split "<split>-itt" (image to text) and "<split>-tot" (text only)."""
    root = Path(root)
    directory = _annotations(root, splits)
    image_dir = find_dir(root, images, "val2017", "images")
    out = {}
    for split in splits:
        path = directory / f"{split}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: missing SugarCrepe++ file {split}.json")
        triples = read_pp_split(path)
        degenerate = {"degenerate": sum(p.caption == p.negative or p.caption2 == p.negative for p in triples)}
        items = [ChoiceItem(p.id, image_dir / p.filename, [p.caption, p.caption2, p.negative], (0, 1)) for p in triples]
        itt = evaluate_choices(scorer, items, "strict", desc=f"{scorer.name} sugarcrepe++/{split}")
        itt.extra.update(degenerate)
        out[f"{split}-itt"] = itt
        out[f"{split}-tot"] = text_only(scorer, triples)
        out[f"{split}-tot"].extra.update(degenerate)
    return out


def text_only(scorer, triples: list[PairItem]) -> SplitResult:
    """TOT: the two positives closer to each other than either is to the negative (text tower only)."""
    right = ties = 0
    for start in range(0, len(triples), 256):
        chunk = triples[start : start + 256]
        p1, p2, neg = (
            scorer.text_features([getattr(t, f) for t in chunk]) for f in ("caption", "caption2", "negative")
        )
        pp, p1n, p2n = (p1 * p2).sum(1), (p1 * neg).sum(1), (p2 * neg).sum(1)
        right += int(((pp > p1n) & (pp > p2n)).sum())
        ties += int(((pp == p1n) | (pp == p2n)).sum())
    n = len(triples)
    return SplitResult(round(right / n, 6) if n else None, n, 0, ties, "strict")


def canonical(g) -> tuple:
    """A graph up to the order of its nodes: "a red cat and a white dog" == "a white dog and a red cat"."""
    nodes = g.node_texts()
    rels = [(nodes[r.subject], r.predicate, nodes[r.object]) for r in g.relations]
    return tuple(sorted(nodes)), tuple(sorted(rels))


def graph_diagnostic(splits: dict[str, list[PairItem]], parser) -> dict[str, dict]:
    """Per split: items, how many positive/negative pairs parse to different graphs, and the share."""
    out = {}
    for name, items in splits.items():
        pos = parser.parse([it.caption for it in items])
        neg = parser.parse([it.negative for it in items])
        differ = sum(canonical(p) != canonical(n) for p, n in zip(pos, neg))
        out[name] = {"n": len(items), "graphs_differ": differ, "share": round(differ / max(1, len(items)), 4)}
    return out
