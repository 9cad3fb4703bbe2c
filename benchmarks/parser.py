"""bindclip's caption parser against the peer `sng_parser` (PyPI scenegraphparser) on FACTUAL-SG dev.

Both use the same spaCy pipeline, one process. Prints one JSON line: the F1s of each parser, their
captions/s (best of --repeats timed passes after a warm-up) and the ratios.

    python benchmarks/parser.py [--gold ../shared/data/factual_sg/dev.csv]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bindclip.graphs import SceneGraph, SGObject, SGRelation
from bindclip.graphs.nlp import PIPELINE_PACKAGES, PhraseLemmatizer
from bindclip.graphs.parse import SpacyParser
from bindclip.graphs.score import read_factual_csv, score_graphs

DEFAULT_GOLD = Path(__file__).resolve().parents[2] / "shared/data/factual_sg/dev.csv"


def sng_graph(out: dict, caption: str) -> SceneGraph:
    """sng_parser's dict -> SceneGraph: head lemma as the name, non-determiner modifiers as
    attributes, its relations as they are (the peer's own reading, scored like ours)."""
    objects = [
        SGObject(
            e["lemma_head"].lower(), tuple(m["span"].lower() for m in e["modifiers"] if m["dep"] not in ("det", "poss"))
        )
        for e in out["entities"]
    ]
    rels = [
        SGRelation(r["subject"], r.get("lemma_relation", r["relation"]).lower(), r["object"])
        for r in out["relations"]
        if r["subject"] != r["object"]
    ]
    return SceneGraph(objects, rels, caption)


class SngParser:
    """The peer behind bindclip's Parser protocol (the same spaCy pipeline), for benchmarks that take parsers."""

    name = "sng_parser"

    def __init__(self):
        import sng_parser

        self.model = next(p for p in PIPELINE_PACKAGES if _importable(p))
        self.peer = sng_parser.Parser("spacy", model=self.model)

    def parse(self, captions):
        return [sng_graph(self.peer.parse(c), c) for c in captions]


def best_rate(fn, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", default=str(DEFAULT_GOLD))
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    gold = read_factual_csv(args.gold)
    captions = [g.caption for g in gold]
    lemma = PhraseLemmatizer()

    ours = SpacyParser()
    ours.parse(captions[:100])  # warm-up
    our_graphs = ours.parse(captions)
    our_rate = best_rate(lambda: ours.parse(captions), len(captions), args.repeats)

    peer = SngParser()
    peer_graphs = peer.parse(captions)
    peer_rate = best_rate(lambda: [peer.peer.parse(c) for c in captions], len(captions), args.repeats)

    def figures(graphs):
        s = score_graphs(graphs, gold, lemma)
        return {
            "spice_f1": round(100 * s.spice_f1, 1),
            "micro_f1": round(100 * s.micro.f1, 1),
            **{f"{k}_f1": round(100 * s.per_kind[k].f1, 1) for k in s.per_kind},
        }

    ours_f, peer_f = figures(our_graphs), figures(peer_graphs)
    print(
        json.dumps(
            {
                "benchmark": "parser",
                "gold": str(args.gold),
                "n": len(captions),
                "spacy_model": peer.model,
                "bindclip": {**ours_f, "captions_per_s": round(our_rate, 1)},
                "sng_parser": {**peer_f, "captions_per_s": round(peer_rate, 1)},
                "speed_ratio": round(our_rate / peer_rate, 2),
                "spice_f1_gain": round(ours_f["spice_f1"] - peer_f["spice_f1"], 1),
                "bars": {
                    "spice_f1>=80": ours_f["spice_f1"] >= 80,
                    "relation_f1>=60": ours_f["relation_f1"] >= 60,
                    "speed_ratio>=4": our_rate / peer_rate >= 4,
                },
            }
        )
    )


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    main()
