"""`bindclip study NAME`: train a study's grid (budgets x variants x seeds), evaluate every run on the
world's held-out tests, and summarise over seeds with intervals.

    OUT/runs/<budget>/<variant>/seed-<k>/      a training run, and its world_eval.json
    OUT/study.json                             every run's figures and the summary (rebuilds the rest)
    OUT/study.md, OUT/study.png, OUT/report.html

A run that finished with the same config is reused, its evaluation too, so an interrupted study picks
up where it stopped and `--seeds 12` after `--seeds 8` trains only the four new seeds.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

from ..atomic import write_json, write_text
from ..errors import StaleCacheError
from ..eval.run import evaluate
from ..eval.scorer import load_scorer
from ..report import write_report
from ..report.plots import study_plot
from ..report.tables import study_table
from ..train import load_config, train
from ..train.checkpoint import finished_run
from ..train.config import changed_keys
from ..train.export import export_towers
from ..version import __version__
from .specs import Study, Sweep, Variant
from .stats import claim_verdict, mean_interval, paired_difference, rate_interval

PRESET = "world-small"
# what may differ between a reused run and the study's config: not run.steps, since a run resumed
# to more steps has another learning-rate schedule than one trained to that length
HOW_IT_RUNS = ("run.log_every", "run.save_every", "run.keep", "run.threads", "run.device")


def study_config(
    study: Study,
    budget: str,
    variant: Variant,
    seed: int,
    overrides: list[str] = (),
    pretrained: Path | None = None,
    extra: tuple[str, ...] = (),
):
    """A run's config: the preset, the budget, the variant, `extra` (a sweep's value), the seed, the
    pretrained towers it fine-tunes (if the study pretrains), then the command line's overrides."""
    over = [*study.budgets[budget], *variant.overrides, *extra, f"run.seed={seed}", "run.keep=0"]
    over += [f"model.backbone.pretrained={pretrained}"] if pretrained else []
    return load_config(None, [*over, *overrides], method=variant.method, preset=PRESET)


def train_once(cfg, run_dir: Path, log) -> float:
    """Train unless a finished run of this very config is there; returns the seconds spent."""
    if (run_dir / "config.json").is_file():
        changed = changed_keys(run_dir, cfg, may_differ=HOW_IT_RUNS)
        if changed:
            raise StaleCacheError(
                f"{run_dir}: holds a run of another config (differs in {', '.join(changed[:5])}); "
                "choose another --out or delete that run"
            )
    if finished_run(run_dir, cfg.run.steps):
        log(f"reusing {run_dir}")
        return 0.0
    t = time.time()
    log(f"training {run_dir} ({cfg.model.method}, {cfg.run.steps} steps x batch {cfg.data.batch_size})")
    train(cfg, run_dir, resume=(run_dir / "checkpoints" / "last.pt").is_file(), progress=False)
    return round(time.time() - t, 1)


def evaluate_once(run_dir: Path, world_n: int, step: int) -> dict:
    """The run on every world test (world_eval.json, reused when it was made with the same world_n
    at the run's last step)."""
    path = run_dir / "world_eval.json"
    if path.is_file():
        done = json.loads(path.read_text())
        if done.get("world_n") == world_n and done.get("step") == step:
            return done["results"]
    scorer = load_scorer(str(run_dir))
    results = evaluate(scorer, ["world"], world_n=world_n)
    write_json(path, {"world_n": world_n, "step": step, "results": results})
    return results


def last_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])


def figures(results: dict) -> dict:
    """A run's world figures in %: every test's accuracy (zero-shot included) and retrieval's R@1, the
    mean of its two directions."""
    out = {
        key.split("/", 1)[1]: round(100 * r["accuracy"], 1)
        for key, r in results.items()
        if "accuracy" in r and key.startswith("world/")
    }
    if "world/retrieval" in results:
        r = results["world/retrieval"]
        out["retrieval-r@1"] = round(50 * (r["text_to_image"]["r@1"] + r["image_to_text"]["r@1"]), 1)
    return out


def run_record(cfg, run_dir: Path, world_n: int, log, **labels) -> dict:
    """Train (or reuse) one run, evaluate it on the world, and return its row of study.json."""
    train_s = train_once(cfg, run_dir, log)
    t, last = time.time(), last_metrics(run_dir)
    results = evaluate_once(run_dir, world_n, last["step"])
    return {
        **labels,
        "dir": str(run_dir),
        "steps": cfg.run.steps,
        "batch_size": cfg.data.batch_size,
        "train_s": train_s,
        "eval_s": round(time.time() - t, 1),
        "final_loss": last.get("loss"),
        "accuracy": figures(results),
    }


def pretrain(study: Study, out: Path, world_n: int, overrides: list[str], log, seed: int = 0) -> tuple[dict, Path]:
    """The CLIP every variant fine-tunes (trained once, then reused), its record, and its towers written as
    an open_clip checkpoint: the file a user with real weights would pass."""
    run_dir = out / "pretrain"
    over = [*study.pretrain, f"run.seed={seed}", "run.keep=0", *overrides]
    cfg = load_config(None, over, method="clip", preset=PRESET)
    record = run_record(cfg, run_dir, world_n, log, budget="pretrain", variant="pretrained", seed=seed)
    towers = run_dir / "towers.safetensors"
    if not towers.is_file():
        export_towers(run_dir, towers)
    return record, towers


def run_study(
    study: Study,
    out: str | Path,
    seeds: int | dict[str, int] | None = None,
    budgets: list[str] | None = None,
    world_n: int = 200,
    overrides: list[str] = (),
    pretrain_seed: int = 0,
) -> dict:
    """Train and evaluate the grid (and the pretraining and sweep, where the study has them); write
    study.json, study.md, study.png and report.html. `pretrain_seed` seeds a fine-tune study's pretraining
    (one pretrained model per study folder, as the papers had one)."""
    out = Path(out)
    budgets = budgets or list(study.budgets)
    seeds = seeds_per_budget(study, seeds, budgets)
    cells = grid_cells(study, out, seeds, budgets) + sweep_cells(study, out, seeds, budgets)
    t0, runs = time.time(), []

    def log(text: str) -> None:
        print(
            f"[study {study.name} {time.time() - t0:6.0f}s] {len(runs)}/{len(cells)} {text}",
            file=sys.stderr,
            flush=True,
        )

    pretrained, towers = None, None
    if study.pretrain is not None:
        pretrained, towers = pretrain(study, out, world_n, overrides, log, pretrain_seed)
    for run_dir, variant, budget, extra, labels in cells:
        cfg = study_config(study, budget, variant, labels["seed"], overrides, towers, extra)
        runs.append(run_record(cfg, run_dir, world_n, log, **labels))
    grid = [r for r in runs if "value" not in r]
    doc = {
        "kind": "bindclip-study",
        "study": study.name,
        "question": study.question,
        "preset": PRESET,
        "overrides": list(overrides),
        "seeds": seeds,
        "world_n": world_n,
        "metrics": list(study.metrics),
        "learned_at": study.learned_at,
        "variants": {
            v.name: {"method": v.method, "overrides": list(v.overrides), "note": v.note} for v in study.variants
        },
        "budgets": {b: list(study.budgets[b]) for b in budgets},
        "summary": summarise(study, grid, budgets, pretrained),
        "runs": grid,
        "seconds": round(time.time() - t0, 1),
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(), "bindclip": __version__},
    }
    if pretrained:
        doc["pretrained"] = pretrained
        doc["pretrain_overrides"] = list(study.pretrain)
    if study.claims:
        doc["claims"] = judge_claims(study, doc["summary"])
    if len(runs) > len(grid):
        doc["sweeps"] = [summarise_sweep(study, sw, [r for r in runs if r.get("key") == sw.key]) for sw in study.sweeps]
    write_study(doc, out)
    return doc


def grid_cells(study: Study, out: Path, seeds: dict[str, int], budgets: list[str]) -> list[tuple]:
    """(run dir, variant, budget, extra overrides, labels) of every (budget, seed, variant), seed-major:
    a stopped study has every variant at the seeds it reached."""
    return [
        (
            out / "runs" / budget / v.name / f"seed-{seed}",
            v,
            budget,
            (),
            {"budget": budget, "variant": v.name, "seed": seed},
        )
        for budget in budgets
        for seed in range(seeds[budget])
        for v in study.variants
    ]


def sweep_cells(study: Study, out: Path, seeds: dict[str, int], budgets: list[str]) -> list[tuple]:
    """The study's sweeps whose budget is run, at no more seeds than that budget has; a cell at the
    default value is the main grid's run (the same config), not trained twice."""
    variants, cells = {v.name: v for v in study.variants}, []
    for sw in study.sweeps:
        if sw.budget not in budgets:
            continue
        for name in sw.variants:
            for value in sw.values:
                for seed in range(min(sw.seeds, seeds[sw.budget])):
                    labels = {"key": sw.key, "variant": name, "value": value, "seed": seed}
                    if value == sw.default:
                        run_dir, extra = out / "runs" / sw.budget / name / f"seed-{seed}", ()
                    else:
                        run_dir = out / "runs" / "sweep" / sw.key / f"{name}@{value:g}" / f"seed-{seed}"
                        extra = (f"{sw.key}={value}",)
                    cells.append((run_dir, variants[name], sw.budget, extra, labels))
    return cells


def summarise_sweep(study: Study, sw: Sweep, runs: list[dict]) -> dict:
    """Per swept variant and value, every metric's mean over seeds with its interval."""
    summary = {
        name: {
            f"{value:g}": {
                m: mean_interval([r["accuracy"][m] for r in runs if r["variant"] == name and r["value"] == value])
                for m in study.metrics
            }
            for value in sw.values
        }
        for name in sw.variants
    }
    seeds = len({r["seed"] for r in runs})
    return {
        "key": sw.key,
        "values": list(sw.values),
        "default": sw.default,
        "budget": sw.budget,
        "seeds": seeds,
        "summary": summary,
        "runs": runs,
    }


def judge_claims(study: Study, summary: dict) -> dict:
    """Per budget, each claim's paired difference (variant minus reference, by seed) and its verdict."""
    out = {}
    for budget, rows in summary.items():
        out[budget] = []
        for c in study.claims:
            values = [rows[name]["metrics"][c.metric]["per_seed"] for name in (c.variant, c.reference)]
            diff = paired_difference(*values)
            out[budget].append(
                {
                    "claim": c.text,
                    "variant": c.variant,
                    "reference": c.reference,
                    "metric": c.metric,
                    "direction": c.direction,
                    "margin": c.margin,
                    "difference": diff,
                    "verdict": claim_verdict(diff, c.direction, c.margin),
                }
            )
    return out


def seeds_per_budget(study: Study, seeds: int | dict[str, int] | None, budgets: list[str]) -> dict[str, int]:
    """Seeds at each budget: one count for all, or a count per budget (a long budget may take fewer),
    the study's own count where none is given."""
    if not isinstance(seeds, dict):
        return {b: seeds or study.seeds for b in budgets}
    return {b: seeds.get(b) or study.seeds for b in budgets}


def summarise(study: Study, runs: list[dict], budgets: list[str], pretrained: dict | None = None) -> dict:
    """Per budget and variant: each metric's mean with its bootstrap interval and per-seed values, the
    headline metric's difference from the first variant (paired by seed) and its learned rate; in a
    fine-tune study also every metric's change from the pretrained model."""
    headline, out = study.metrics[0], {}
    for budget in budgets:
        mine = [r for r in runs if r["budget"] == budget]
        per_variant = {
            v.name: sorted((r for r in mine if r["variant"] == v.name), key=lambda r: r["seed"]) for v in study.variants
        }
        reference = [r["accuracy"][headline] for r in per_variant[study.variants[0].name]]
        rows = {}
        for name, rs in per_variant.items():
            row = {"metrics": {}}
            for m in study.metrics:
                values = [r["accuracy"][m] for r in rs]
                row["metrics"][m] = {**mean_interval(values), "per_seed": values}
            values = [r["accuracy"][headline] for r in rs]
            if name != study.variants[0].name and len(values) == len(reference):
                row["difference"] = paired_difference(values, reference)
            if study.learned_at is not None:
                row["learned"] = rate_interval(sum(v >= study.learned_at for v in values), len(values))
            if pretrained:
                row["change"] = {
                    m: paired_difference(row["metrics"][m]["per_seed"], [pretrained["accuracy"][m]] * len(rs))
                    for m in study.metrics
                }
            rows[name] = row
        out[budget] = rows
    return out


def write_study(doc: dict, out: Path) -> None:
    write_json(out / "study.json", doc)
    write_text(out / "study.md", study_table(doc, markdown=True))
    study_plot(doc, out / "study.png")
    write_report(doc, out / "report.html")
