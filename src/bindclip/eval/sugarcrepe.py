"""SugarCrepe (Hsieh et al. 2023) in its published format, and the text-only graph diagnostic.

A file maps a string id to {"filename", "caption", "negative_caption"}; ids are not contiguous
(swap_obj has no "108"), so items are read by key. The official metric counts an item correct iff
score(positive) > score(negative), strictly: a tie is wrong.

The diagnostic needs no images: a model that scores scene graphs can only separate a pair whose
parsed graphs differ, so the share of pairs with identical graphs is a ceiling on what the parser
lets OC-CLIP reach.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")


class BenchmarkFormatError(ValueError):
    """A benchmark file that does not follow its published format; the message names file and item."""


@dataclass(frozen=True)
class PairItem:
    id: str
    filename: str  # a COCO val2017 image name
    caption: str
    negative: str


def read_split(path: str | Path) -> list[PairItem]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FileNotFoundError(f"{path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise BenchmarkFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise BenchmarkFormatError(f"{path}: expected an object of id -> item, found {type(data).__name__}")
    items = []
    for key, rec in data.items():
        if not isinstance(rec, dict):
            raise BenchmarkFormatError(f"{path}: item {key!r} is not an object")
        for field in ("filename", "caption", "negative_caption"):
            if not isinstance(rec.get(field), str):
                raise BenchmarkFormatError(f"{path}: item {key!r} has no string {field!r}")
        items.append(PairItem(key, rec["filename"], rec["caption"], rec["negative_caption"]))
    return items


def read_sugarcrepe(directory: str | Path, splits=SPLITS) -> dict[str, list[PairItem]]:
    directory = Path(directory)
    missing = [s for s in splits if not (directory / f"{s}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: missing SugarCrepe file(s) {', '.join(m + '.json' for m in missing)}")
    return {s: read_split(directory / f"{s}.json") for s in splits}


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
