"""`bindclip diagnose`: does a model bind? One command for the question most users bring.

For each model (a run, an exported folder, a checkpoint in a run, or `NAME[@TAG]:WEIGHTS`): the world's
held-out binding tests rendered at the model's input size, any benchmark files given, and the binding
probes (object decoding, additivity, complexity at the demo's sizes) on the world's scenes through the
image tower. It composes `bindclip eval` and `bindclip probe all`; what it adds is the models side by
side in one JSON and one report page, and a verdict per model read off the held-out swap tests.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_json
from .eval.run import evaluate, parse_bench
from .eval.scorer import load_scorer
from .probes import suite
from .probes.encoders import slug
from .report import comparison_table, write_report
from .report.tables import text_table, verdict_rows
from .study.stats import rate_interval
from .version import __version__

# a model binds a kind of concept when its held-out swap test is at or above the studies' "learned" mark
# with the whole 95 % interval over items; wholly below it, it does not; an interval across it is inconclusive
BINDS_AT = 0.9
VERDICT_TESTS = {"attributes": "world/swap-attribute", "relations": "world/swap-relation"}


@dataclass
class DiagnoseConfig:
    models: list[str]
    benches: list[str] = field(default_factory=lambda: ["world"])
    out: Path = Path("runs/diagnose")
    world_n: int = 200  # items per world test
    probes: bool = True
    probe_set: list[str] = field(default_factory=list)  # probe Sizes overrides on the "demo" size
    device: str = "cpu"
    batch_size: int = 32


def judge(results: dict) -> dict:
    """The verdict on one model's results: per kind, the test, its accuracy with the Wilson interval over
    items and binds / does not bind / inconclusive; and a one-line summary."""
    kinds = {}
    for kind, key in VERDICT_TESTS.items():
        r = results.get(key)
        if r is None:
            continue
        ci = rate_interval(round(r["accuracy"] * r["n"]), r["n"])
        state = "binds" if ci["lo"] >= BINDS_AT else "does not bind" if ci["hi"] < BINDS_AT else "inconclusive"
        kinds[kind] = {
            "test": key,
            "accuracy": ci["rate"],
            "lo": ci["lo"],
            "hi": ci["hi"],
            "n": ci["n"],
            "state": state,
        }
    return {"kinds": kinds, "summary": summary(kinds)}


def summary(kinds: dict) -> str:
    """One line: what the model binds, what it does not, what the intervals leave open."""
    if not kinds:
        return "no verdict: the world's swap tests were not run (add --bench world)"
    by_state = {s: [k for k, v in kinds.items() if v["state"] == s] for s in ("binds", "does not bind", "inconclusive")}
    bound, unbound, open_ = by_state["binds"], by_state["does not bind"], by_state["inconclusive"]
    if len(unbound) == len(kinds) == 2:
        text = f"binds neither {unbound[0]} nor {unbound[1]}"
    elif bound:
        text = f"binds {' and '.join(bound)}" + (f", not {' or '.join(unbound)}" if unbound else "")
    elif unbound:
        text = f"does not bind {' or '.join(unbound)}"
    else:
        return f"inconclusive on {' and '.join(open_)}"
    return text + (f" ({', '.join(open_)} inconclusive)" if open_ else "")


def unique_name(name: str, taken) -> str:
    """Two models may share a folder name (runs/a/oc-clip, runs/b/oc-clip): the second becomes oc-clip#2."""
    k, out = 1, name
    while out in taken:
        k += 1
        out = f"{name}#{k}"
    return out


def run_diagnose(cfg: DiagnoseConfig) -> dict:
    for spec in cfg.benches:
        parse_bench(spec)  # a bad benchmark stops before any model is loaded
    sizes = suite.sizes_with("demo", cfg.probe_set)
    cfg.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    models, results, probes = {}, {}, {}
    for spec in cfg.models:
        scorer = load_scorer(spec, device=cfg.device, batch_size=cfg.batch_size)
        name = scorer.name = unique_name(scorer.name, models)
        log(f"{name}: held-out tests ({', '.join(cfg.benches)})", t0)
        results[name] = evaluate(scorer, cfg.benches, world_n=cfg.world_n)
        models[name] = {"spec": spec, "parser": scorer.parser if scorer.structured else None}
        models[name]["verdict"] = judge(results[name])
        if cfg.probes:
            log(f"{name}: binding probes on the image tower", t0)
            probes[name] = suite.run_all(spec, cfg.out / "probes" / slug(name), sizes)
    doc = {
        "kind": "bindclip-diagnose",
        "models": models,
        "results": results,
        "probes": probes,
        "benches": cfg.benches,
        "world_n": cfg.world_n,
        "versions": {"bindclip": __version__, "python": platform.python_version()},
        "seconds": {"total": round(time.time() - t0, 1)},
    }
    write_json(cfg.out / "diagnose.json", doc)
    write_report(doc, cfg.out / "report.html")
    return doc


def log(msg: str, t0: float) -> None:
    print(f"[diagnose {time.time() - t0:6.0f}s] {msg}", file=sys.stderr, flush=True)


def print_summary(doc: dict) -> None:
    """The comparison table and the verdicts, for the terminal."""
    print(comparison_table(doc["results"]))
    print(text_table(*verdict_rows(doc["models"])))
