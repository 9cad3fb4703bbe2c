"""The LLM parser's client keeps N requests in flight: captions/s against a server that takes 100 ms to answer.

    python benchmarks/parser_llm.py [--latency 0.1] [--captions 2000]

The server is tests/llm_server.py, a test double of the OpenAI chat completions protocol on 127.0.0.1 (no
model: it answers the graph it was given after `latency` seconds), in its own process. With N requests in
flight the ceiling is N / latency captions/s; the bar is >= 0.8 of it at N = 8 and N = 32, on 2 cores (the
client's threads, its JSON and schema checks, and the server share them). Captions are SugarCrepe's
positives (real COCO captions), each answered with the rules parser's graph; every answer is checked to
come back as the server sent it. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from annotate import captions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from llm_server import serve  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--captions", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    args = ap.parse_args(argv)
    from bindclip.graphs.parse import SpacyParser, make_parser

    caps = captions(args.captions)
    graphs = {g.caption: {k: v for k, v in g.to_dict().items() if k != "caption"} for g in SpacyParser().parse(caps)}
    points = {}
    with serve(graphs, latency=args.latency) as server:
        for n in args.concurrency:
            parser = make_parser(f"llm:{server.model}@{server.url}", concurrency=n)
            parser.parse(caps[:n])  # connections opened, threads started
            asked = caps[: max(20 * n, 200)]  # ~20 rounds of n requests
            t = time.perf_counter()
            out = parser.parse(asked)
            rate = len(asked) / (time.perf_counter() - t)
            right = all(g.to_dict()["objects"] == graphs[c]["objects"] for c, g in zip(asked, out))
            ceiling = n / args.latency
            points[str(n)] = {
                "captions": len(asked),
                "captions_per_s": round(rate, 1),
                "ceiling": round(ceiling, 1),
                "share": round(rate / ceiling, 3),
                "answers_right": right,
                "fallbacks": sum(parser.fallbacks.values()),
            }
    met = all(p["share"] >= 0.8 and p["answers_right"] and not p["fallbacks"] for p in points.values())
    print(json.dumps({"benchmark": "parser_llm", "latency_s": args.latency, "concurrency": points, "met": met}))


if __name__ == "__main__":
    main()
