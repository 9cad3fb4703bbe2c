"""Multiple-choice items (an image, caption options, which are right) and how every benchmark scores them.

Each benchmark keeps its options in the official order and names its official tie rule:
  argmax  the first maximum wins (numpy/torch argmax), so a tie is right iff a correct option is listed first;
  strict  every correct option must score strictly above every wrong one, so a tie is wrong.
Ties are counted either way: a structured scorer ties whenever two captions parse to the same graph.
An item whose image is missing or unreadable is skipped, and counted with its reason. For OC-CLIP an item
with a caption that parses to an empty graph is still scored (that caption binds as one node) and counted
as `empty_graph_fallbacks`, so every model is measured on the same items.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..errors import BenchmarkFormatError

RULES = ("argmax", "strict")


@dataclass
class ChoiceItem:
    id: str
    image: object  # a path, (path, (x, y, w, h)) for a crop, a PIL image or a uint8 [3, H, W] tensor
    options: list[str]
    correct: tuple[int, ...] = (0,)
    group: str | None = None  # per-group (macro) accuracies: ARO's relations, What'sUp's object pairs
    graphs: list | None = None  # gold scene graphs of the options, when the benchmark has them


def read_json(path: str | Path, kind: type):
    """A benchmark's JSON file, which must hold a `kind` (dict or list) at the top."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FileNotFoundError(f"{path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise BenchmarkFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, kind):
        raise BenchmarkFormatError(f"{path}: expected {_json_kind(kind)} at the top, found {type(data).__name__}")
    return data


def _json_kind(kind) -> str:
    names = {dict: "an object", list: "an array"}
    return " or ".join(names[k] for k in (kind if isinstance(kind, tuple) else (kind,)))


def require(rec, fields: dict[str, type | tuple], where: str) -> None:
    """Each field present with its type, else an error naming the file and the item."""
    if not isinstance(rec, dict):
        raise BenchmarkFormatError(f"{where} is not an object")
    for name, kind in fields.items():
        if not isinstance(rec.get(name), kind) or isinstance(rec.get(name), bool):
            raise BenchmarkFormatError(f"{where} has no {getattr(kind, '__name__', 'valid')} {name!r}")


def find_dir(root: Path, explicit: str | None, *candidates: str) -> Path:
    """The image folder: the one given, else the first candidate under root that exists (else root)."""
    if explicit:
        return Path(explicit)
    return next((root / c for c in candidates if (root / c).is_dir()), root)


class SkipItem(Exception):
    """An item that cannot be scored; the message is the reason counted in "skipped"."""


def open_image(src):
    """A PIL image (or the tensor as is) from an item's image field; SkipItem when it cannot be read."""
    if isinstance(src, torch.Tensor) or hasattr(src, "convert"):
        return src
    box = None
    if isinstance(src, tuple):
        src, box = src
    path = Path(src)
    if not path.is_file():
        raise SkipItem("missing image")
    try:
        img = Image.open(path).convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise SkipItem("unreadable image") from None
    if box is not None:
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise SkipItem("empty crop box")
        img = img.crop((x, y, x + w, y + h))  # unclamped, as ARO's official code: outside is black
    return img


def _image_file(src) -> Path | None:
    if isinstance(src, tuple):
        src = src[0]
    return Path(src) if isinstance(src, (str, Path)) else None


def item_scores(scorer, items: list[ChoiceItem], desc: str = "") -> tuple[dict[str, torch.Tensor], Counter, int | None]:
    """Scores of every scorable item's options (by id), the reasons for the rest, and (OC-CLIP) how many
    items had an option parsed to an empty graph: those are scored too, the caption standing as the one
    node (collate's empty_as_caption), so every model is measured on the same items."""
    skipped: Counter = Counter()
    present = [it for it in items if _image_file(it.image) is None or _image_file(it.image).is_file()]
    skipped["missing image"] = len(items) - len(present)
    scorer.parse_ahead(c for it in present if it.graphs is None for c in it.options)
    fallbacks = None
    if scorer.structured:
        fallbacks = sum(it.graphs is None and not all(g.objects for g in scorer.graphs(it.options)) for it in present)
    out: dict[str, torch.Tensor] = {}
    by_count: dict[int, list[ChoiceItem]] = {}
    for it in present:
        by_count.setdefault(len(it.options), []).append(it)
    bar = tqdm(total=len(present), desc=desc or scorer.name, unit="item", disable=None, leave=False)
    for group in by_count.values():
        for start in range(0, len(group), scorer.batch_size):
            chunk, images = [], []
            for it in group[start : start + scorer.batch_size]:
                try:
                    images.append(open_image(it.image))
                    chunk.append(it)
                except SkipItem as e:
                    skipped[str(e)] += 1
            if chunk:
                images = torch.stack(images) if isinstance(images[0], torch.Tensor) else images
                graphs = [it.graphs for it in chunk] if all(it.graphs for it in chunk) else None
                scores = scorer.option_scores(images, [it.options for it in chunk], graphs)
                out.update((it.id, s) for it, s in zip(chunk, scores))
            bar.update(len(group[start : start + scorer.batch_size]))
    bar.close()
    return out, +skipped, fallbacks


def judge(scores: torch.Tensor, correct: tuple[int, ...], rule: str) -> tuple[bool, bool, float]:
    """(right under the rule, tie between the best right and the best wrong option, margin: the worst
    right option's score minus the best wrong one's)."""
    wrong = [j for j in range(len(scores)) if j not in correct]
    best_right, best_wrong = scores[list(correct)], scores[wrong].max()
    tie, margin = bool(best_right.max() == best_wrong), float(best_right.min() - best_wrong)
    if rule == "strict":
        return bool(best_right.min() > best_wrong), tie, margin
    if rule == "argmax":
        return int(scores.argmax()) in correct, tie, margin
    raise ValueError(f"tie rule must be one of {RULES}, got {rule!r}")


@dataclass
class SplitResult:
    accuracy: float | None  # None where the benchmark reports other figures (retrieval recalls)
    n: int
    skipped: int
    ties: int = 0
    tie_rule: str = "strict"
    skip_reasons: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # macro accuracies, pair/set accuracy, per-group counts

    def to_dict(self) -> dict:
        d = {"accuracy": self.accuracy} if self.accuracy is not None else {}
        d |= {"n": self.n, "skipped": self.skipped, "ties": self.ties, "tie_rule": self.tie_rule}
        if self.skip_reasons:
            d["skip_reasons"] = dict(self.skip_reasons)
        return {**d, **self.extra}


def choice_result(
    items: list[ChoiceItem],
    scores: dict[str, torch.Tensor],
    skipped: Counter,
    rule: str,
    extra_reasons: Counter | None = None,
    fallbacks: int | None = None,
) -> tuple[SplitResult, dict[str, bool]]:
    """Per-item accuracy of the scored items; also each item's verdict for group metrics.

    The mean margin (worst right option's score minus best wrong option's) says how far a model is
    from flipping: two models at the same accuracy can differ in it by a lot."""
    verdicts, ties, margins = {}, 0, []
    for it in items:
        if it.id in scores:
            verdicts[it.id], tie, margin = judge(scores[it.id], it.correct, rule)
            ties += tie
            margins.append(margin)
    reasons = Counter(skipped) + Counter(extra_reasons or {})
    n = len(verdicts)
    acc = round(sum(verdicts.values()) / n, 6) if n else None
    extra = {"mean_margin": round(sum(margins) / n, 6)} if n else {}
    if fallbacks is not None:
        extra["empty_graph_fallbacks"] = fallbacks
    return SplitResult(acc, n, sum(reasons.values()), ties, rule, dict(reasons), extra), verdicts


def evaluate_choices(
    scorer, items: list[ChoiceItem], rule: str, desc: str = "", extra_reasons: Counter | None = None
) -> SplitResult:
    scores, skipped, fallbacks = item_scores(scorer, items, desc)
    return choice_result(items, scores, skipped, rule, extra_reasons, fallbacks)[0]
