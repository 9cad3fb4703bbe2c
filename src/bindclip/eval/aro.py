"""ARO (Yuksekgonul et al. 2023): VG-Relation, VG-Attribution, COCO-Order and Flickr30k-Order.

Layout under the root (as the official code downloads it):
  visual_genome_relation.json, visual_genome_attribution.json, images/   (VG-R, VG-A)
  coco_karpathy_test.json (+ val2014/ images), flickr30k_test.json (+ flickr30k-images/)   (Order)
Splits whose files are absent are not run.

VG: options [false, true] with argmax, so a tie is wrong. VG-Relation's accuracy is the unweighted
mean over relations minus the official notebook's 157 excluded ones; VG-Attribution's over attribute
pairs with at least 25 items. Items left out by those protocols are counted in "skipped" with the
reason. Order: [caption, 4 shuffles] with argmax, so a tie is right. The shuffles depend on the
tokenizer and tagger versions, so they are generated once (seed 1) and stored beside the annotation
file as `<name>.bindclip-order.json`, with the versions that made them.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from ..atomic import write_json
from ..errors import MissingFileError, StaleCacheError
from ..graphs.nlp import load_pipeline
from .items import (
    BenchmarkFormatError,
    ChoiceItem,
    SplitResult,
    choice_result,
    find_dir,
    item_scores,
    read_json,
    require,
)

DATA = Path(__file__).parent / "data"
VG = {"vg-relation": "visual_genome_relation.json", "vg-attribution": "visual_genome_attribution.json"}
ORDER = {"coco-order": "coco_karpathy_test.json", "flickr-order": "flickr30k_test.json"}
MIN_GROUP = 25  # VG-Attribution drops attribute pairs with fewer items (official evaluate_scores)


def excluded_relations() -> set[str]:
    return set(json.loads((DATA / "vgr_excluded_relations.json").read_text())["relations"])


def read_vg(path: Path, split: str, image_dir: Path) -> list[ChoiceItem]:
    key = {"relation_name": str} if split == "vg-relation" else {"attributes": list}
    number = (int, float)
    items = []
    for k, rec in enumerate(read_json(path, list)):
        require(
            rec,
            {
                "image_path": str,
                "true_caption": str,
                "false_caption": str,
                "bbox_x": number,
                "bbox_y": number,
                "bbox_w": number,
                "bbox_h": number,
                **key,
            },
            f"{path}: entry {k}",
        )
        if split == "vg-relation":
            group = rec["relation_name"]
        else:
            if len(rec["attributes"]) != 2:
                raise BenchmarkFormatError(f"{path}: entry {k}: 'attributes' must hold two names")
            group = "_".join(rec["attributes"])
        box = (rec["bbox_x"], rec["bbox_y"], rec["bbox_w"], rec["bbox_h"])
        items.append(
            ChoiceItem(
                str(k), (image_dir / rec["image_path"], box), [rec["false_caption"], rec["true_caption"]], (1,), group
            )
        )
    return items


def macro(items: list[ChoiceItem], verdicts: dict[str, bool]) -> tuple[float | None, int]:
    groups = defaultdict(list)
    for it in items:
        if it.id in verdicts:
            groups[it.group].append(verdicts[it.id])
    accs = [sum(v) / len(v) for v in groups.values()]
    return (round(sum(accs) / len(accs), 6) if accs else None), len(accs)


def evaluate_vg(scorer, path: Path, split: str, image_dir: Path) -> SplitResult:
    items = read_vg(path, split, image_dir)
    dropped: Counter = Counter()
    if split == "vg-relation":
        excluded = excluded_relations()
        kept = [it for it in items if it.group not in excluded]
        dropped["relation excluded by the ARO protocol"] = len(items) - len(kept)
    else:
        sizes = Counter(it.group for it in items)
        kept = [it for it in items if sizes[it.group] >= MIN_GROUP]
        dropped[f"attribute pair with < {MIN_GROUP} items (ARO protocol)"] = len(items) - len(kept)
    scores, skipped, fallbacks = item_scores(scorer, kept, desc=f"{scorer.name} aro/{split}")
    res, verdicts = choice_result(kept, scores, skipped, "argmax", +dropped, fallbacks)
    item_acc = res.accuracy
    res.accuracy, res.extra["groups"] = macro(kept, verdicts)
    res.extra["item_accuracy"] = item_acc
    return res


# ---- Order ------------------------------------------------------------------------------------
def pre_caption(text: str, max_words: int = 30) -> str:
    """BLIP's caption normalisation, applied to all five options."""
    text = re.sub(r"[.!\"()*#:;~]", " ", text.lower())
    return " ".join(text.split()[:max_words])


NOUN_TAGS, ADJ_TAGS = ("NN", "NNS", "NNP", "NNPS"), ("JJ", "JJR", "JJS")
ORDER_RULE = "aro-official-2"  # stored with the shuffles; a cache made under another rule is redrawn


def perturbations(caption: str, nlp, rng: random.Random) -> list[str]:
    """ARO's four shuffles, as the official perturbations.py makes them: nouns among nouns and adjectives
    among adjectives, every other word among the others, words within each trigram, the trigrams' order."""
    doc = nlp(caption)
    words = [t.text for t in doc]
    nouns = [i for i, t in enumerate(doc) if t.tag_ in NOUN_TAGS]
    adjectives = [i for i, t in enumerate(doc) if t.tag_ in ADJ_TAGS]
    rest = [i for i in range(len(words)) if i not in set(nouns + adjectives)]

    def shuffled(*groups: list[int]) -> str:
        out = list(words)
        for idx in groups:
            picked = [words[i] for i in idx]
            rng.shuffle(picked)
            for i, w in zip(idx, picked):
                out[i] = w
        return " ".join(out)

    trigrams = [words[i : i + 3] for i in range(0, len(words), 3)]
    within = []
    for tri in trigrams:
        tri = list(tri)
        rng.shuffle(tri)
        within += tri
    order = list(trigrams)
    rng.shuffle(order)
    return [shuffled(nouns, adjectives), shuffled(rest), " ".join(within), " ".join(w for t in order for w in t)]


def order_cases(path: Path) -> list[dict]:
    """[{image, options}], one per caption, from the stored shuffles (made on first use)."""
    cache = path.with_name(path.stem + ".bindclip-order.json")
    records = read_json(path, list)
    for k, rec in enumerate(records):
        require(rec, {"image": str, "caption": (list, str)}, f"{path}: entry {k}")
    captions = [
        (rec["image"], c)
        for rec in records
        for c in (rec["caption"] if isinstance(rec["caption"], list) else [rec["caption"]])
    ]
    stored = read_json(cache, dict) if cache.is_file() else {}
    if stored.get("rule") == ORDER_RULE:
        if stored.get("n_captions") != len(captions):
            raise StaleCacheError(
                f"{cache}: holds shuffles of {stored.get('n_captions')} captions but {path} has "
                f"{len(captions)}; delete it to regenerate"
            )
        return stored["cases"]
    import spacy  # heavy: loaded only when ARO Order's shuffles are drawn, not when read from the cache

    nlp = load_pipeline(("ner", "parser", "lemmatizer"))
    rng = random.Random(1)
    cases = [
        {"image": image, "options": [pre_caption(c)] + [pre_caption(p) for p in perturbations(c, nlp, rng)]}
        for image, c in captions
    ]
    meta = {
        "rule": ORDER_RULE,
        "n_captions": len(captions),
        "seed": 1,
        "spacy": spacy.__version__,
        "pipeline": nlp.meta.get("name"),
        "cases": cases,
    }
    write_json(cache, meta, indent=None)
    return cases


def evaluate_order(scorer, path: Path, image_dir: Path, split: str) -> SplitResult:
    cases = order_cases(path)
    items = [ChoiceItem(str(k), image_dir / c["image"], c["options"]) for k, c in enumerate(cases)]
    scores, skipped, fallbacks = item_scores(scorer, items, desc=f"{scorer.name} aro/{split}")
    return choice_result(items, scores, skipped, "argmax", fallbacks=fallbacks)[0]


def evaluate_aro(scorer, root: str | Path, images: str | None = None) -> dict[str, SplitResult]:
    root = Path(root)
    out = {}
    for split, name in VG.items():
        if (root / name).is_file():
            out[split] = evaluate_vg(scorer, root / name, split, find_dir(root, images, "images"))
    for split, name in ORDER.items():
        if (root / name).is_file():
            out[split] = evaluate_order(scorer, root / name, find_dir(root, images, "."), split)
    if not out:
        raise MissingFileError(f"{root}: no ARO file ({', '.join(list(VG.values()) + list(ORDER.values()))})")
    return out
