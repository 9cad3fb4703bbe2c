"""SPICE-style tuple F1 of parsed scene graphs against FACTUAL-SG gold graphs.

A graph is scored as three sets of tuples: objects (name), attributes (name, attribute) and
relations (subject, predicate, object). Both sides are lower-cased, stripped of determiners and
lemmatised by the same context-free lemmatiser, then matched exactly (no WordNet synonyms, unlike
SPICE). We report the mean of per-caption F1 over all three kinds, the micro F1 over all tuples,
and a micro F1 per kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .factual import parse_factual, read_factual_csv  # noqa: F401  (re-exported for callers)
from .nlp import PhraseLemmatizer
from .scene_graph import SceneGraph

KINDS = ("object", "attribute", "relation")


def graph_tuples(g: SceneGraph, lemma: PhraseLemmatizer) -> dict[str, set]:
    names = [lemma(o.name, "NOUN") for o in g.objects]
    out = {k: set() for k in KINDS}
    for name, o in zip(names, g.objects):
        if name:
            out["object"].add((name,))
            out["attribute"].update((name, lemma(a, "ADJ")) for a in o.attributes)
    for r in g.relations:
        out["relation"].add((names[r.subject], lemma(r.predicate, "VERB"), names[r.object]))
    return out


@dataclass
class Counts:
    tp: int = 0
    n_pred: int = 0
    n_gold: int = 0

    def add(self, pred: set, gold: set):
        self.tp += len(pred & gold)
        self.n_pred += len(pred)
        self.n_gold += len(gold)

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gold if self.n_gold else 0.0

    @property
    def f1(self) -> float:
        return _f1(self.tp, self.n_pred, self.n_gold)


def _f1(tp: int, n_pred: int, n_gold: int) -> float:
    if n_pred == 0 and n_gold == 0:
        return 1.0  # nothing to find and nothing claimed
    return 2 * tp / (n_pred + n_gold)


@dataclass
class ParseScore:
    n: int
    spice_f1: float  # mean over captions of the F1 over all tuples
    micro: Counts
    per_kind: dict[str, Counts] = field(default_factory=dict)
    per_caption: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        def c(x: Counts) -> dict:
            return {
                "f1": 100 * x.f1,
                "precision": 100 * x.precision,
                "recall": 100 * x.recall,
                "tp": x.tp,
                "n_pred": x.n_pred,
                "n_gold": x.n_gold,
            }

        return {
            "n": self.n,
            "spice_f1": 100 * self.spice_f1,
            "micro": c(self.micro),
            **{f"{k}": c(v) for k, v in self.per_kind.items()},
        }

    def table(self) -> str:
        rows = [("spice-style F1 (mean)", 100 * self.spice_f1, "", "")]
        rows += [
            (f"{k} F1", 100 * v.f1, 100 * v.precision, 100 * v.recall)
            for k, v in (("micro", self.micro), *self.per_kind.items())
        ]
        lines = [f"{'score':<24}{'F1':>8}{'P':>8}{'R':>8}"]
        for name, *cells in rows:
            lines.append(f"{name:<24}" + "".join(f"{x:8.1f}" if x != "" else " " * 8 for x in cells))
        lines.append(f"captions: {self.n}")
        return "\n".join(lines)


def score_graphs(pred: list[SceneGraph], gold: list[SceneGraph], lemma: PhraseLemmatizer | None = None) -> ParseScore:
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} parsed graphs for {len(gold)} gold graphs; they must pair up")
    lemma = lemma or PhraseLemmatizer()
    micro, per_kind, per_caption = Counts(), {k: Counts() for k in KINDS}, []
    for p, g in zip(pred, gold):
        pt, gt = graph_tuples(p, lemma), graph_tuples(g, lemma)
        cap = Counts()
        for k in KINDS:
            per_kind[k].add(pt[k], gt[k])
            cap.add(pt[k], gt[k])
        micro.tp, micro.n_pred, micro.n_gold = (micro.tp + cap.tp, micro.n_pred + cap.n_pred, micro.n_gold + cap.n_gold)
        per_caption.append(cap.f1)
    spice = sum(per_caption) / len(per_caption) if per_caption else 0.0
    return ParseScore(len(gold), spice, micro, per_kind, per_caption)
