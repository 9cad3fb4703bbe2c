"""One self-contained HTML report (images inlined, no scripts) from a run's JSON.

    write_report(json.load(open("runs/demo/demo.json")), "runs/demo/report.html")
    report_run("runs/demo")        # a demo folder (demo.json) or one training run (config.json + metrics.jsonl)

Everything is redrawn from the JSON, so a report can be rebuilt, restyled or diffed without the models.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from ..atomic import write_text
from ..errors import ReportError
from . import figures
from .paper import SOURCES
from .tables import comparison_rows, comparison_table, study_sections, verdict_rows


def _table(results: dict) -> dict:
    header, rows = comparison_rows(results)
    return {"header": header, "rows": rows}


def _probe_table(probes: dict) -> tuple[list[str], list[list[str]]]:
    families = list(dict.fromkeys(f for r in probes.values() for f in r.get("complexity", {}).get("curves", {})))
    header = ["encoder", "concept acc", "object acc", "object-additive R²", *[f"{f} @0.9" for f in families]]
    rows = []
    for name, r in probes.items():
        curves = r.get("complexity", {}).get("curves", {})
        rows.append(
            [
                name,
                f"{r['probes']['test']['concept_acc']:.3f}",
                f"{r['probes']['test']['object_acc']:.3f}",
                f"{r['additivity']['fits']['objects']['r2_held_out']:.3f}" if "additivity" in r else "",
                *[f"{curves[f][-1]['object_acc']:.3f}" if curves.get(f) else "" for f in families],
            ]
        )
    return header, rows


def study_view(doc: dict) -> dict:
    """A study document as the template's study section: question, a table per budget, the figure."""
    tables = [{"title": t, "header": h, "rows": r} for t, h, r in study_sections(doc)]
    return {"name": doc["study"], "question": doc["question"], "tables": tables, "figure": figures.study(doc)}


def study_context(doc: dict) -> dict:
    variants = {n: {"method": v["method"], "overrides": v["overrides"]} for n, v in doc["variants"].items()}
    return {
        "title": f"bindclip study: {doc['study']}",
        "subtitle": f"{doc['question']} Preset {doc['preset']}, every run evaluated on the world's held-out tests.",
        "sources": dict(SOURCES),
        "studies": [study_view(doc)],
        "config": json.dumps(
            {
                "variants": variants,
                "budgets": doc["budgets"],
                "overrides": doc["overrides"],
                **({"pretrain": doc["pretrain_overrides"]} if "pretrain_overrides" in doc else {}),
            },
            indent=1,
        ),
        "config_note": "Each variant's method and overrides on the preset; each budget's overrides"
        + ("; the pretrained CLIP's overrides (method clip)." if "pretrain_overrides" in doc else "."),
        "versions": json.dumps({"machine": doc.get("machine", {}), "seconds": doc.get("seconds")}, indent=1),
    }


def diagnose_context(doc: dict) -> dict:
    header, rows = verdict_rows(doc["models"])
    return {
        "title": "bindclip diagnose: does each model bind?",
        "subtitle": f"Models {', '.join(doc['models'])} on {', '.join(doc['benches'])}"
        f" ({doc['world_n']} items per world test); probes through each image tower.",
        "verdict": {"header": header, "rows": rows},
        "config": json.dumps({n: m["spec"] for n, m in doc["models"].items()}, indent=1),
        "config_note": "Each model's spec, as given to --model.",
    }


def context(doc: dict) -> dict:
    """The template's variables from a demo, run, study or diagnose document."""
    if doc.get("kind") == "bindclip-study":
        return study_context(doc)
    demo = doc.get("kind") == "bindclip-demo"
    ctx = {
        "title": "bindclip demo report" if demo else f"bindclip run report: {', '.join(doc.get('runs', {}))}",
        "subtitle": (
            f"Preset {doc.get('preset')}: the same backbone, world, steps and seed for every method"
            + (f"; overrides {' '.join(doc['overrides'])}" if doc.get("overrides") else "")
            + "."
        )
        if demo
        else doc.get("subtitle", ""),
        "sources": dict(SOURCES),
        "config": json.dumps(doc.get("config", {}), indent=1),
        "config_note": (
            "The first run's effective config; the others differ only in model.method and the changes "
            "listed under the training curves."
        )
        if demo
        else "The run's effective config.json.",
        "versions": json.dumps({"versions": doc.get("versions", {}), "seconds": doc.get("seconds", {})}, indent=1),
    }
    if doc.get("kind") == "bindclip-diagnose":
        ctx |= diagnose_context(doc)
    bars = doc.get("bars") or []
    ctx["bars"] = bars
    ctx["missed"] = [b["bar"] for b in bars if b["passed"] is False]
    if doc.get("results"):
        ctx["table"] = _table(doc["results"])
    if doc.get("runs"):
        ctx["curves"] = figures.training_curves(doc["runs"])
        ctx["run_rows"] = [
            [
                n,
                r.get("method", ""),
                " ".join(r.get("overrides") or []) or "-",
                r.get("steps", ""),
                r.get("seconds", ""),
            ]
            for n, r in doc["runs"].items()
        ]
    att = doc.get("attention")
    if att:
        ctx["attention"] = figures.attention_maps(att)
        ctx["attention_note"] = (
            f"Each node's binding weights over the patch grid (they sum to 1 per node). Over "
            f"{att['n_images']} held-out images ({att['n_nodes']} nodes) a node puts on average "
            f"{att['mean_mass_in_box']:.2f} of its mass on the patches of its own object's box; "
            f"{100 * att['share_of_nodes_mostly_in_box']:.0f}% of nodes put more than half there, "
            f"{att['mean_mass_on_other_objects']:.2f} goes to the other object and the rest to "
            f"background; {100 * att['share_of_nodes_on_right_object']:.1f}% of nodes put more on "
            "their own object than on the other."
        )
    if doc.get("probes"):
        ctx["probe_header"], ctx["probe_rows"] = _probe_table(doc["probes"])
        ctx["complexity"] = [
            (n, figures.complexity(r["complexity"], f"binding complexity: {n}"))
            for n, r in doc["probes"].items()
            if "complexity" in r
        ]
    ctx["studies"] = [study_view(s) for s in doc.get("studies", [])]
    sweep = doc.get("from_scratch")
    if sweep:
        ctx["coverage"] = figures.coverage(sweep)
        cfg = sweep.get("config", {})
        ctx["coverage_note"] = (
            f"The from-scratch two-tower model on symbolic scenes, {cfg.get('steps')} steps, "
            f"{sweep.get('seeds')} seed(s) per coverage, final step reported. "
            "`bindclip probe from-scratch` runs the full sweep (3 seeds, 2,000 steps)."
        )
    return ctx


def render_html(doc: dict) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("bindclip", "report"), autoescape=True)
    return env.get_template("template.html").render(**context(doc))


def write_report(doc: dict, path: str | Path) -> Path:
    """The HTML page, and beside it (when there are results) the comparison table as Markdown."""
    path = Path(path)
    write_text(path, render_html(doc))
    if doc.get("results"):
        write_text(path.with_suffix(".md"), comparison_table(doc["results"], markdown=True))
    return path


def read_curves(run_dir: Path) -> dict[str, list]:
    """A run's metrics.jsonl as columns: step and every loss term."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    keys = [k for k in rows[0] if k == "step" or k == "loss" or k.endswith("_loss")]
    return {k: [r.get(k) for r in rows] for k in keys}


def run_document(run_dir: Path) -> dict:
    """A single training run as a report document: its curves and config, and any `bindclip eval` JSON
    (a file with a "models" section) found in the folder."""
    config = json.loads((run_dir / "config.json").read_text())
    runs = {
        run_dir.name: {
            "method": config["model"]["method"],
            "steps": config["run"]["steps"],
            "curves": read_curves(run_dir),
        }
    }
    results = {}
    for path in sorted(run_dir.glob("*.json")):
        doc = _read_json(path)
        if isinstance(doc, dict) and isinstance(doc.get("models"), dict):
            results.update(doc["models"])
    return {
        "kind": "bindclip-run",
        "runs": runs,
        "results": results,
        "config": config,
        "subtitle": f"Run folder {run_dir}",
    }


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not valid JSON ({e})") from None


def report_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Rebuild RUN_DIR/report.html from RUN_DIR/demo.json (with every study in RUN_DIR/studies/*/),
    a study's study.json, a diagnose.json, or a training run's config.json and metrics.jsonl."""
    run_dir = Path(run_dir)
    if (run_dir / "demo.json").is_file():
        doc = _read_json(run_dir / "demo.json")
        doc["studies"] = [_read_json(p) for p in sorted(run_dir.glob("studies/*/study.json"))]
    elif (run_dir / "study.json").is_file():
        doc = _read_json(run_dir / "study.json")
    elif (run_dir / "diagnose.json").is_file():
        doc = _read_json(run_dir / "diagnose.json")
    elif (run_dir / "config.json").is_file() and (run_dir / "metrics.jsonl").is_file():
        doc = run_document(run_dir)
    else:
        raise ReportError(
            f"{run_dir}: no demo.json, study.json, diagnose.json or training run (config.json + metrics.jsonl)"
        )
    return write_report(doc, out or run_dir / "report.html")
