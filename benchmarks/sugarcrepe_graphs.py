"""Text-only SugarCrepe check: how often the parsed graphs of the positive and the negative caption
differ, per split (a model scoring graphs can only separate pairs whose graphs differ).

    python benchmarks/sugarcrepe_graphs.py [--data ../shared/data/sugarcrepe] [--parser SPEC]

--parser is any make_parser spec (spacy, seq2seq:DIR, llm:MODEL@URL); benchmarks/parsers.py puts several
side by side. Prints one JSON line; the peer is sng_parser (SceneGraphParser) when installed, on the same
pairs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bindclip.eval.sugarcrepe import graph_diagnostic, read_sugarcrepe
from bindclip.graphs.parse import make_parser

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sugarcrepe"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--parser", default="spacy", help="bindclip's parser: any make_parser spec")
    args = ap.parse_args(argv)
    splits = read_sugarcrepe(args.data)
    t = time.perf_counter()
    ours = graph_diagnostic(splits, make_parser(args.parser))
    out = {"benchmark": "sugarcrepe_graphs", "parser": args.parser, "bindclip": ours}
    out["bindclip_s"] = round(time.perf_counter() - t, 1)
    try:
        from parser import SngParser  # benchmarks/parser.py: the peer as a Parser

        peer = SngParser()
        t = time.perf_counter()
        out["sng_parser"] = graph_diagnostic(splits, peer)
        out["sng_parser_s"] = round(time.perf_counter() - t, 1)
    except ImportError as e:
        out["sng_parser"] = f"not run ({e})"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
