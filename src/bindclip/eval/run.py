"""`bindclip eval`: every model on every benchmark, one JSON and one comparison table.

A benchmark is named `NAME[:PATH[:IMAGES]]`: PATH is the folder (or, for retrieval, the annotation
file) laid out as the benchmark publishes it, IMAGES an image folder when it is not where the
benchmark's layout puts it. `world` needs no path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..atomic import write_json, write_text
from ..errors import BenchSpecError, MissingFileError
from ..report.paper import PAPER, SOURCES, add_families
from ..report.tables import comparison_table
from .aro import evaluate_aro
from .retrieval import evaluate_retrieval
from .sugarcrepe import evaluate_sugarcrepe, evaluate_sugarcrepe_pp
from .whatsup import evaluate_whatsup
from .world import evaluate_world
from .zeroshot import evaluate_zeroshot

BENCHMARKS = {
    "world": lambda scorer, path, images, n: evaluate_world(scorer, n=n),
    "sugarcrepe": lambda scorer, path, images, n: evaluate_sugarcrepe(scorer, path, images),
    "sugarcrepe++": lambda scorer, path, images, n: evaluate_sugarcrepe_pp(scorer, path, images),
    "aro": lambda scorer, path, images, n: evaluate_aro(scorer, path, images),
    "whatsup": lambda scorer, path, images, n: evaluate_whatsup(scorer, path, images),
    "zeroshot": lambda scorer, path, images, n: evaluate_zeroshot(scorer, path, images),
    "retrieval": lambda scorer, path, images, n: evaluate_retrieval(scorer, path, images),
}


def parse_bench(spec: str) -> tuple[str, str | None, str | None]:
    name, _, rest = spec.partition(":")
    path, _, images = rest.partition(":")
    if name not in BENCHMARKS:
        raise BenchSpecError(f"--bench {spec}: unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    if name != "world" and not path:
        raise BenchSpecError(f"--bench {spec}: {name} needs a local copy, as {name}:PATH[:IMAGES]")
    if path and not Path(path).exists():
        raise MissingFileError(f"--bench {spec}: {path} does not exist")
    return name, path or None, images or None


def evaluate(scorer, benches: list[str], world_n: int = 200) -> dict[str, dict]:
    """{"<benchmark>/<split>": result dict} for one scorer, family means included."""
    out = {}
    for spec in benches:
        name, path, images = parse_bench(spec)
        for split, res in BENCHMARKS[name](scorer, path, images, world_n).items():
            out[f"{name}/{split}"] = res.to_dict()
    if scorer.structured and scorer.empty_graphs:
        print(
            f"{scorer.name}: {scorer.empty_graphs} distinct caption(s) parsed to an empty graph; each is scored "
            f"as one node holding the whole caption (choice items count them as empty_graph_fallbacks)",
            file=sys.stderr,
        )
    return add_families(out)


def write_results(results: dict[str, dict[str, dict]], path: str | Path, meta: dict) -> Path:
    """OUT.json ({"models": {model: {key: result}}, "paper": ..., "meta": ...}) and OUT.md beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {k for r in results.values() for k in r}
    doc = {"models": results, "paper": {k: v for k, v in PAPER.items() if k in keys}, "meta": meta}
    write_json(path, doc)
    note = (
        "Accuracy in %; retrieval: R@1 text->image / image->text. Ties follow each benchmark's official "
        "rule (see `tie_rule` and `ties` in the JSON). Paper columns are the seed papers' published "
        "numbers on the same benchmark (other backbones and data): "
        + "; ".join(f"{k}: {v}" for k, v in SOURCES.items())
        + ".\n\n"
    )
    write_text(path.with_suffix(".md"), note + comparison_table(results, markdown=True))
    return path
