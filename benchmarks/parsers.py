"""Caption parsers side by side on the same work: FACTUAL-SG dev (F1 per kind against gold graphs, captions/s)
and SugarCrepe (how many positive/negative pairs parse to different graphs, per split).

    python benchmarks/parsers.py                                  # spaCy rules and the peer sng_parser
    python benchmarks/parsers.py --parser spacy --parser seq2seq:/models/flan-t5-base-VG-factual-sg \\
        --parser llm:meta-llama/Llama-3.1-8B-Instruct@http://127.0.0.1:8000/v1 --concurrency 32

Any `make_parser` spec; `sng_parser` names the peer (PyPI scenegraphparser). Each parser parses FACTUAL-SG's
1,000 dev captions once, timed after a warm-up on 20 of them (an LLM parser's time is its server's
and the concurrency's), then every SugarCrepe pair. An LLM parser's fallbacks are reported.

With the defaults it also checks the rules parser's speed bar: `bindclip parse` (the command, reading and
writing files; spaCy loaded before the timing) on 5,000 SugarCrepe captions against sng_parser on the same
captions, >= 4x. Prints one JSON line, and with --markdown the table the README shows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bindclip.eval.sugarcrepe import graph_diagnostic, read_sugarcrepe
from bindclip.graphs.score import read_factual_csv, score_graphs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def build(spec: str, concurrency: int):
    if spec == "sng_parser":
        from parser import SngParser  # benchmarks/parser.py: the peer as a Parser

        return SngParser()
    from bindclip.graphs.parse import make_parser

    return make_parser(spec, **({"concurrency": concurrency} if spec.startswith("llm:") else {}))


def measure(spec: str, gold, splits, concurrency: int) -> dict:
    parser = build(spec, concurrency)
    captions = [g.caption for g in gold]
    parser.parse(captions[:20])  # models loaded, connections opened
    t = time.perf_counter()
    pred = parser.parse(captions)
    rate = len(captions) / (time.perf_counter() - t)
    s = score_graphs(pred, gold)
    apart = graph_diagnostic(splits, parser)
    fallbacks = getattr(parser, "fallbacks", None)
    return {
        "spice_f1": round(100 * s.spice_f1, 1),
        **{f"{k}_f1": round(100 * v.f1, 1) for k, v in s.per_kind.items()},
        "captions_per_s": round(rate, 1),
        "pairs_apart": {k: round(100 * v["share"], 1) for k, v in apart.items()},
        **({"llm_fallbacks": dict(fallbacks)} if fallbacks is not None else {}),
    }


def rules_vs_peer(n: int = 5000) -> dict:
    """captions/s of `bindclip parse` (start-up excluded) and of sng_parser on the same n SugarCrepe captions."""
    import tempfile

    from annotate_ray import captions
    from bindclip.cli import main as bindclip

    caps = list(dict.fromkeys(captions(50_000)))[:n]
    with tempfile.TemporaryDirectory() as tmp:
        txt, out = Path(tmp) / "captions.txt", str(Path(tmp) / "graphs.jsonl")
        txt.write_text("\n".join(caps) + "\n")
        bindclip(["parse", str(txt), "-o", out])  # start-up: spaCy loaded once, as a long run loads it once
        t = time.perf_counter()
        bindclip(["parse", str(txt), "-o", out])
        ours = len(caps) / (time.perf_counter() - t)
    peer = build("sng_parser", 0)
    peer.parse(caps[:20])
    t = time.perf_counter()
    peer.parse(caps)
    theirs = len(caps) / (time.perf_counter() - t)
    ratio = ours / theirs
    return {
        "captions": len(caps),
        "bindclip_parse_captions_per_s": round(ours, 1),
        "sng_parser_captions_per_s": round(theirs, 1),
        "ratio": round(ratio, 2),
        "met": ratio >= 4,
    }


def markdown(results: dict) -> str:
    specs = list(results)
    kinds = [k for k in results[specs[0]] if k.endswith("_f1")]
    splits = list(results[specs[0]]["pairs_apart"])
    rows = [
        *[(k.removesuffix("_f1").replace("_", " ") + " F1", [results[p][k] for p in specs]) for k in kinds],
        ("captions/s (FACTUAL dev)", [results[p]["captions_per_s"] for p in specs]),
        *[(f"SugarCrepe {s}: pairs apart %", [results[p]["pairs_apart"][s] for p in specs]) for s in splits],
    ]
    head = "| | " + " | ".join(specs) + " |\n|---|" + "---:|" * len(specs) + "\n"
    return head + "\n".join(f"| {name} | " + " | ".join(str(v) for v in values) + " |" for name, values in rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parser", action="append", help="a make_parser spec, or sng_parser (repeatable)")
    ap.add_argument("--concurrency", type=int, default=16, help="an LLM parser's requests in flight")
    ap.add_argument("--gold", default=str(SHARED / "factual_sg" / "dev.csv"))
    ap.add_argument("--sugarcrepe", default=str(SHARED / "sugarcrepe"))
    ap.add_argument("--markdown", action="store_true", help="also print the side-by-side table")
    args = ap.parse_args(argv)
    gold, splits = read_factual_csv(args.gold), read_sugarcrepe(args.sugarcrepe)
    results = {spec: measure(spec, gold, splits, args.concurrency) for spec in args.parser or ["spacy", "sng_parser"]}
    line = {"benchmark": "parsers", "n_gold": len(gold), "parsers": results}
    if not args.parser:
        line["rules_vs_sng_parser"] = rules_vs_peer()
    print(json.dumps(line))
    if args.markdown:
        print(markdown(results))


if __name__ == "__main__":
    main()
