"""The `bindclip` command line: one subcommand per job, each a thin layer over library functions."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .atomic import write_json
from .errors import BindclipError, ConfigError, MissingFileError, WorldConfigError
from .version import __version__

# The command line answers --help without importing torch or open_clip: each command imports what it runs,
# and the names its help lists are kept here (tests/test_cli.py checks them against the registries).
METHOD_NAMES = ("clip", "siglip", "oc-clip", "c2lip", "oc-clip+c2lip", "clip-hn")  # methods.METHOD_NAMES
STUDY_NAMES = ("local-loss", "attention", "parser-noise", "baselines", "fine-tune")  # study.STUDIES
DEMO_RUNS = ("clip", "clip-hn", "c2lip", "oc-clip", "oc-clip+c2lip")  # demo.RUNS


def _progress(iterable, total: int, desc: str):
    return tqdm(iterable, total=total, desc=desc, unit="caption", disable=None, file=sys.stderr)


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _parse_all(parser, captions: list[str], batch: int = 2048) -> list:
    """Parse in chunks so the progress bar moves and the cache is appended as we go."""
    graphs: list = []
    bar = _progress(None, len(captions), "parse")
    for chunk in _batches(captions, batch):
        graphs += parser.parse(chunk)
        bar.update(len(chunk))
    bar.close()
    return graphs


def parser_spec(args) -> tuple[str, dict]:
    """--parser with its options as (spec, make_parser kwargs): `--parser llm --llm-url URL --llm-model
    NAME` is the spec llm:NAME@URL."""
    spec, options = args.parser, {}
    if spec == "llm":
        if not args.llm_url or not args.llm_model:
            raise ConfigError("--parser llm: give the server (--llm-url http://HOST:PORT/v1) and --llm-model NAME")
        spec = f"llm:{args.llm_model}@{','.join(args.llm_url)}"
    elif args.llm_url or args.llm_model:
        raise ConfigError(f"--llm-url and --llm-model are for --parser llm, not {spec!r}")
    if spec.startswith("llm:"):
        options = {"concurrency": args.concurrency, "timeout": args.llm_timeout, "max_retries": args.llm_retries}
    return spec, options


def _report_fallbacks(fallbacks) -> None:
    """An LLM parser's fallbacks by reason (a parser's `fallbacks`, or annotate.json's `llm_fallbacks`)."""
    if fallbacks:
        print(f"LLM answers replaced by the rules parser's graph: {dict(fallbacks)}", file=sys.stderr)


def cmd_parse(args) -> int:
    from .graphs import write_jsonl
    from .graphs.captions import read_captions
    from .graphs.parse import make_parser

    if args.shards:
        return cmd_annotate(args)
    if args.ray is not None:
        raise ConfigError("--ray runs the shard pass: give --shards PATTERN")
    if not args.input:
        raise MissingFileError("parse: give a captions file, or --shards PATTERN")
    captions = read_captions(args.input, column=args.column, encoding_errors=args.encoding_errors)
    spec, kwargs = parser_spec(args)
    if spec == "spacy" and args.n_process:
        kwargs = {"n_process": args.n_process}
    parser = make_parser(spec, cache=args.cache, **kwargs)
    t = time.perf_counter()
    graphs = _parse_all(parser, captions)
    dt = time.perf_counter() - t
    n = write_jsonl(graphs, args.output)
    assert n == len(captions), "one graph per caption"
    rate = n / dt if dt > 0 else float("inf")
    print(
        f"parsed {n} captions from {args.input} -> {args.output} in {dt:.1f} s "
        f"({rate:.0f} captions/s, parser {parser.name})",
        file=sys.stderr,
    )
    _report_fallbacks(getattr(parser, "fallbacks", None))
    return 0


def cmd_annotate(args) -> int:
    from .graphs.annotate import annotate_shards, is_local
    from .train.shards import expand_urls

    urls = expand_urls(args.shards)
    missing = [u for u in urls if is_local(u) and not Path(u).is_file()]
    if missing:
        raise MissingFileError(f"--shards: {len(missing)} shard(s) not found, first {missing[0]}")
    spec, options = parser_spec(args)
    t = time.perf_counter()
    res = annotate_shards(
        urls,
        args.output,
        n_process=args.n_process,
        parser_spec=spec,
        ray_address=args.ray,
        cache=args.cache,
        parser_options=options,
    )
    dt = time.perf_counter() - t
    print(
        f"annotated {len(res['shards'])} of {len(urls)} shards ({res['samples']} samples, {res['empty_graphs']} "
        f"empty graphs, {res['no_caption']} without caption) -> {args.output} in {dt:.1f} s; counts in "
        f"{Path(args.output) / 'annotate.json'}",
        file=sys.stderr,
    )
    _report_fallbacks(res.get("llm_fallbacks"))
    if res["failed"]:  # the rest is written; a second run retries only these
        first = next(iter(res["failed"].items()))
        print(
            f"error: {len(res['failed'])} shard(s) failed ({', '.join(res['failed'])}); first: {first[0]}: "
            f"{first[1]}; run again to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_parse_eval(args) -> int:
    from .graphs import read_jsonl
    from .graphs.parse import make_parser
    from .graphs.score import read_factual_csv, score_graphs

    gold = read_factual_csv(args.gold)
    if args.graphs:
        pred = list(read_jsonl(args.graphs))
        if len(pred) != len(gold):
            raise SystemExit(
                f"error: {args.graphs} has {len(pred)} graphs but {args.gold} has "
                f"{len(gold)} captions; parse the gold file's captions in order"
            )
        for lineno, (p, g) in enumerate(zip(pred, gold), 1):
            if p.caption and p.caption != g.caption:
                raise SystemExit(
                    f"error: {args.graphs}:{lineno}: caption {p.caption!r} does not match gold caption {g.caption!r}"
                )
        source = str(args.graphs)
    else:
        spec, options = parser_spec(args)
        parser = make_parser(spec, cache=args.cache, **options)
        t = time.perf_counter()
        pred = _parse_all(parser, [g.caption for g in gold])
        rate = len(gold) / max(time.perf_counter() - t, 1e-9)
        source = f"parser {spec}"
        fallbacks = getattr(parser, "fallbacks", None)
        _report_fallbacks(fallbacks)
    score = score_graphs(pred, gold)
    print(f"{args.gold} ({source})")
    print(score.table())
    result = {"gold": str(args.gold), "source": source, **score.to_dict()}
    if not args.graphs:
        result |= {"captions_per_s": round(rate, 1)} | ({"llm_fallbacks": dict(fallbacks)} if fallbacks else {})
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"saved {args.json}", file=sys.stderr)
    return 0


def _world_from_args(args):
    from .world import World, WorldConfig, make_split

    kw = {"image_size": args.size}
    if args.shapes:
        kw["shapes"] = tuple(args.shapes.split(","))
    if args.colours:
        kw["colours"] = tuple(args.colours.split(","))
    if args.max_objects:
        kw["max_objects"] = args.max_objects
    cfg = WorldConfig(**kw)
    return World(cfg, make_split(cfg, args.split or [], seed=args.seed))


def cmd_world_export(args) -> int:
    from dataclasses import asdict

    from .world.data import export_shards

    for flag, value, least in (("--n", args.n, 1), ("--n-test", args.n_test, 0), ("--per-shard", args.per_shard, 1)):
        if value is not None and value < least:
            raise WorldConfigError(f"{flag}: {value} scenes; give {'a positive count' if least else '0 or more'}")
    world = _world_from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world.split.save(out / "split.json")
    (out / "world.json").write_text(json.dumps(asdict(world.cfg), indent=1))
    n_test = args.n_test if args.n_test is not None else max(1, args.n // 10)
    t = time.perf_counter()
    train = export_shards(world, out, args.n, "train", seed=args.seed, per_shard=args.per_shard)
    test = export_shards(world, out, n_test, "test", seed=args.seed + 1, per_shard=args.per_shard)
    dt = time.perf_counter() - t
    print(
        f"wrote {args.n} train + {n_test} test scenes in {len(train) + len(test)} shards to {out} "
        f"({(args.n + n_test) / dt:.0f} scenes/s); split: {out / 'split.json'}",
        file=sys.stderr,
    )
    return 0


def cmd_world_preview(args) -> int:
    from .world.preview import preview_grid

    path = preview_grid(_world_from_args(args), args.output, n=args.n, seed=args.seed, part=args.part)
    print(f"saved {path}", file=sys.stderr)
    return 0


def _world_options(p):
    p.add_argument(
        "--split",
        action="append",
        metavar="NAME:FRACTION",
        help="attr-holdout:F, rel-holdout:F or coverage:F (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=64, help="image side in pixels (32..224)")
    p.add_argument("--shapes", help="comma-separated shape names (default: 8 shapes)")
    p.add_argument("--colours", help="comma-separated colour names (default: 8 colours)")
    p.add_argument("--max-objects", type=int, help="objects per scene, at most (1..4)")


def cmd_train(args) -> int:
    from .train import load_config, train
    from .train.config import resume_config

    files = [a for a in args.items if "=" not in a]
    overrides = [a for a in args.items if "=" in a]
    if len(files) > 1:
        raise ConfigError(f"one config file at most, got {files}")
    given = (files[0] if files else None, overrides)
    cfg = (
        resume_config(Path(args.out) / "config.json", *given, method=args.method, preset=args.preset)
        if args.resume
        else load_config(*given, method=args.method, preset=args.preset)
    )
    last = train(cfg, args.out, resume=args.resume)
    print(json.dumps({"out": args.out, **last}))
    return 0


def cmd_export(args) -> int:
    from .train.export import export_run, export_towers

    if args.towers:
        out = export_towers(args.run_dir, args.output, checkpoint=args.checkpoint)
        print(f"exported {args.run_dir}'s open_clip towers -> {out} (fine-tune: model.backbone.pretrained={out})")
        return 0
    out = export_run(args.run_dir, args.output, checkpoint=args.checkpoint)
    print(f"exported {args.run_dir} -> {out}")
    return 0


def cmd_eval(args) -> int:
    import platform

    import torch

    from .eval.run import evaluate, parse_bench, write_results
    from .eval.scorer import load_scorer
    from .graphs.parse import make_parser
    from .report import comparison_table

    for spec in args.bench:
        parse_bench(spec)  # fail on a bad spec before loading any model
    results, parsers = {}, {}
    for spec in args.model:
        scorer = load_scorer(spec, device=args.device, batch_size=args.batch_size)
        if scorer.structured:  # the run's own parser unless --parser names another
            pspec, options = parser_spec(args) if args.parser else (scorer.parser, {})
            scorer.parser = pspec
            if args.parser or args.graph_cache:
                scorer.model.parser = make_parser(pspec, cache=args.graph_cache, **options)
            parsers[scorer.name] = pspec
        t = time.time()
        results[scorer.name] = evaluate(scorer, args.bench, world_n=args.world_n)
        print(f"{scorer.name}: {len(results[scorer.name])} results in {time.time() - t:.0f}s", file=sys.stderr)
    print(comparison_table(results))
    if args.json:
        meta = {
            "bindclip": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "models": args.model,
            "benches": args.bench,
            "world_n": args.world_n,
            "parsers": parsers,  # OC-CLIP models: which parser made the benchmark captions' graphs
        }
        path = write_results(results, args.json, meta)
        print(f"saved {path} and {path.with_suffix('.md')}", file=sys.stderr)
    return 0


def cmd_eval_graphs(args) -> int:
    from .eval.sugarcrepe import graph_diagnostic, read_sugarcrepe
    from .graphs.parse import make_parser

    spec, options = parser_spec(args)
    parser = make_parser(spec, cache=args.graph_cache, **options)
    out = graph_diagnostic(read_sugarcrepe(args.sugarcrepe), parser)
    _report_fallbacks(getattr(parser, "fallbacks", None))
    for split, r in out.items():
        print(f"{split:12s} {r['n']:5d} pairs, graphs differ in {100 * r['share']:.1f}%")
    if args.json:
        write_json(args.json, out)
        print(f"saved {args.json}", file=sys.stderr)
    return 0


def _encoder_spec(args) -> str:
    return f"{args.encoder}:{args.pretrained}" if args.pretrained else args.encoder


def cmd_probe(args) -> int:
    from dataclasses import asdict, replace

    from .overrides import from_dict, merge, parse_overrides
    from .probes import suite
    from .probes.scratch import ScratchConfig, coverage_sweep

    out = Path(args.out)
    if args.probe_command == "from-scratch":
        # The from-scratch scenes are the paper's 20 x 20 values (~160k ordered pairs), so the paper's fit
        # sizes apply (16,384 training scenes per fraction, minibatch 1024); the quick sizes fit every scene.
        sizes = suite.sizes_with("paper", args.set or []) if args.complexity else None
        base = from_dict(ScratchConfig, merge(asdict(ScratchConfig()), parse_overrides(args.arch)), where="--arch")
        if args.factored:
            base = replace(base, tied=True, factored=True)
        res = coverage_sweep(
            out,
            [float(c) for c in args.coverage.split(",")],
            args.seeds,
            args.steps,
            base,
            complexity_sizes=sizes,
            log_every=args.log_every,
        )
        print(json.dumps({"coverage": [(p["coverage"], p["mean"]) for p in res["points"]]}))
        return 0
    size = suite.sizes_with("quick" if args.quick else "paper", args.set or [])
    cache = args.cache or out / "embeddings"
    if args.probe_command == "all":
        res = suite.run_all(_encoder_spec(args), out, size, args.modality, cache, scratch_dir=args.scratch)
        print(json.dumps(suite.summary(res)))
        return 0
    encoder, sset, x = suite.prepare(_encoder_spec(args), size, args.modality, cache)
    if args.probe_command == "embed":
        print(json.dumps({"scenes": sset.name, "shape": list(x.shape), "cache": str(cache)}))
        return 0
    stage = {"linear": "probes"}.get(args.probe_command, args.probe_command)
    res = suite.run_stages(encoder, sset, x, size, (stage,))
    suite.write_views(res, x, sset, out)
    write_json(out / f"{args.probe_command}.json", res)
    print(json.dumps(suite.summary(res)))
    print(f"saved {out / (args.probe_command + '.json')}", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    from .demo import RUNS, DemoConfig, run_demo

    unknown = [r for r in args.runs.split(",") if r not in RUNS]
    if unknown:
        raise ConfigError(f"--runs: unknown {unknown}; choose from {', '.join(RUNS)}")
    cfg = DemoConfig(
        out=Path(args.out),
        runs=tuple(args.runs.split(",")),
        overrides=args.overrides,
        world_n=args.world_n,
        probes=not args.no_probes,
        probe_set=args.set or [],
        scratch_steps=args.scratch_steps,
    )
    doc = run_demo(cfg)
    for b in doc["bars"]:
        mark = {True: "met", False: "MISSED", None: "not measured"}[b["passed"]]
        print(f"{mark:>12}  {b['bar']}: {b['measured']} (target {b['target']})")
        if b.get("note"):
            print(f"{'':>12}  {b['note']}")
    print(f"report: {cfg.out / 'report.html'}  (JSON: {cfg.out / 'demo.json'})")
    return 0


def cmd_diagnose(args) -> int:
    from .diagnose import DiagnoseConfig, print_summary, run_diagnose

    cfg = DiagnoseConfig(
        models=args.model,
        benches=args.bench or ["world"],
        out=Path(args.out),
        world_n=args.world_n,
        probes=not args.no_probes,
        probe_set=args.set or [],
        device=args.device,
        batch_size=args.batch_size,
    )
    doc = run_diagnose(cfg)
    print_summary(doc)
    print(f"report: {cfg.out / 'report.html'}  (JSON: {cfg.out / 'diagnose.json'})")
    return 0


def parse_seeds(text: str, study) -> dict[str, int]:
    """`--seeds 8` (every budget) or `--seeds demo=4,small=8` (per budget; the others take the study's 8)."""
    bad = ConfigError(f"--seeds: expected N or BUDGET=N,... (budgets {', '.join(study.budgets)}, N >= 1), got {text!r}")
    pairs = [p.split("=", 1) for p in text.split(",")] if "=" in text else [(b, text) for b in study.budgets]
    try:
        seeds = {budget: int(n) for budget, n in pairs}
    except ValueError:
        raise bad from None
    if min(seeds.values()) < 1 or not set(seeds) <= set(study.budgets):
        raise bad
    return seeds


def cmd_study(args) -> int:
    from .report.tables import study_table
    from .study import get_study, run_study

    study = get_study(args.name)
    budgets = args.budgets.split(",") if args.budgets else None
    unknown = [b for b in budgets or [] if b not in study.budgets]
    if unknown:
        raise ConfigError(f"--budgets: unknown {unknown}; {study.name} has {', '.join(study.budgets)}")
    seeds = parse_seeds(args.seeds, study) if args.seeds else None
    out = Path(args.out or f"runs/studies/{study.name}")
    if args.pretrain_seed and study.pretrain is None:
        raise ConfigError(f"--pretrain-seed: study {study.name} trains from scratch; only fine-tune pretrains")
    doc = run_study(study, out, seeds, budgets, args.world_n, args.overrides, args.pretrain_seed)
    print(study_table(doc))
    print(f"report: {out / 'report.html'}  (JSON: {out / 'study.json'}, table: {out / 'study.md'})")
    return 0


def cmd_report(args) -> int:
    from .report import report_run

    path = report_run(args.run_dir, args.output)
    print(f"wrote {path}")
    return 0


def add_parser_options(p, default: str | None, what: str = "caption parser") -> None:
    p.add_argument(
        "--parser",
        default=default,
        help=f"{what}: 'spacy' (rules), 'seq2seq:MODEL_DIR' (a local T5), or 'llm' with --llm-url and "
        "--llm-model (any OpenAI-compatible server: vLLM, llama.cpp, Ollama; also written llm:MODEL@URL)",
    )
    p.add_argument(
        "--llm-url",
        action="append",
        metavar="URL",
        help="the LLM server's OpenAI base URL, http://HOST:PORT/v1 (repeatable: the requests are shared)",
    )
    p.add_argument("--llm-model", metavar="NAME", help="the model as the server names it")
    p.add_argument(
        "--concurrency", type=int, default=8, help="LLM requests in flight at once (with --ray: in all, over actors)"
    )
    p.add_argument("--llm-timeout", type=float, default=60.0, help="seconds before an LLM request is given up")
    p.add_argument(
        "--llm-retries", type=int, default=3, help="retries of a failed request or an invalid answer, then the rules"
    )


def add_model_option(p) -> None:
    """--model as eval and diagnose take it: every spec `bindclip.load` resolves."""
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="RUN_OR_MODEL",
        help="a bindclip run / exported folder / RUN/checkpoints/FILE.pt, or OPENCLIP_NAME[@TAG]:WEIGHTS "
        "(repeatable: one column each)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bindclip", description=("Vision-language models that bind concepts: OC-CLIP, C2LIP and binding probes.")
    )
    ap.add_argument("--version", action="version", version=f"bindclip {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("parse", help="parse captions into scene graphs (JSONL, one line per caption)")
    p.add_argument("input", nargs="?", help="captions: .txt (one per line), .csv (column 'caption') or .jsonl")
    p.add_argument("-o", "--output", required=True, help="output JSONL of scene graphs (with --shards: a folder)")
    p.add_argument(
        "--shards",
        help="img2dataset shards to annotate instead ('/data/{00000..00099}.tar'): each "
        "sample's json gains its graph, written to OUTPUT/<shard name>",
    )
    add_parser_options(p, "spacy")
    p.add_argument("--cache", help="graph cache (sqlite): captions parsed before are read, not re-parsed")
    p.add_argument("--column", default="caption", help="CSV column / JSONL field holding the caption")
    p.add_argument(
        "--n-process",
        type=int,
        help="worker processes (spaCy's; with --shards, shard workers; with --ray, actors: default 1 on "
        "'local', every CPU of a running cluster)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="with --shards: run the pass as a Ray Data job on 'local' (an in-process cluster of --n-process "
        "CPUs, the default), 'auto' (RAY_ADDRESS, or the cluster `ray start` runs here) or HOST:PORT",
    )
    p.add_argument(
        "--encoding-errors",
        choices=("strict", "replace"),
        default="strict",
        help="non-UTF-8 bytes: stop with the file and line (strict) or replace them",
    )
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("parse-eval", help="score a parser against FACTUAL-SG gold scene graphs")
    p.add_argument("gold", help="CSV with columns caption and scene_graph")
    p.add_argument("--graphs", help="parsed graphs (JSONL, in the gold file's order); default: parse now")
    add_parser_options(p, "spacy", "parser to run when --graphs is not given")
    p.add_argument("--cache", help="graph cache (sqlite) for the parser")
    p.add_argument("--json", default="parse-eval.json", help="where to save the scores (JSON)")
    p.set_defaults(func=cmd_parse_eval)

    p = sub.add_parser("world", help="the synthetic compositional world: export shards, preview")
    wsub = p.add_subparsers(dest="world_command", metavar="ACTION", required=True)
    e = wsub.add_parser("export", help="write WebDataset shards (png + json) and split.json")
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--n", type=int, required=True, help="training scenes")
    e.add_argument("--n-test", type=int, help="held-out test scenes (default: n / 10)")
    e.add_argument("--per-shard", type=int, default=10_000, help="samples per tar shard")
    _world_options(e)
    e.set_defaults(func=cmd_world_export)
    v = wsub.add_parser("preview", help="a PNG grid of images with their captions")
    v.add_argument("-o", "--output", default="world-preview.png")
    v.add_argument("--n", type=int, default=16)
    v.add_argument("--part", default="train", choices=("train", "test"))
    _world_options(v)
    v.set_defaults(func=cmd_world_preview)

    p = sub.add_parser("train", help=f"train a method: {', '.join(METHOD_NAMES)} (torchrun for several GPUs)")
    p.add_argument(
        "items",
        nargs="*",
        metavar="[CFG] key=value",
        help="a YAML/JSON config, then overrides such as optim.lr=1e-4 run.steps=200",
    )
    p.add_argument("--method", choices=METHOD_NAMES)
    p.add_argument("--preset", choices=("world-small",), help="a starting config (overridden by CFG and keys)")
    p.add_argument("--out", required=True, help="run directory: config.json, metrics.jsonl, checkpoints/")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoints/last.pt with OUT/config.json (only run.* keys may change)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="a run's weights as a shareable model folder (safetensors + config)")
    p.add_argument("run_dir", help="a bindclip train --out directory")
    p.add_argument("-o", "--output", required=True, help="model folder to write (with --towers: a .safetensors file)")
    p.add_argument("--checkpoint", default="last.pt", help="which file of RUN_DIR/checkpoints/")
    p.add_argument(
        "--towers",
        action="store_true",
        help="write only the open_clip towers, as an open_clip checkpoint (for model.backbone.pretrained)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("eval", help="compositionality benchmarks for bindclip or open_clip models")
    add_model_option(p)
    p.add_argument(
        "--bench",
        action="append",
        required=True,
        metavar="NAME[:PATH[:IMAGES]]",
        help="world | sugarcrepe | sugarcrepe++ | aro | whatsup | zeroshot | retrieval (repeatable)",
    )
    p.add_argument("--json", help="save results here (plus a Markdown table beside it)")
    p.add_argument("--world-n", type=int, default=200, help="items per world test")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--device", default="cpu")
    add_parser_options(p, None, "OC-CLIP's caption parser (default: the one its training graphs came from, else spacy)")
    p.add_argument("--graph-cache", help="graph cache (sqlite), so captions are parsed once across runs")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("eval-graphs", help="text-only SugarCrepe check: how often the parser tells the pair apart")
    p.add_argument("sugarcrepe", help="folder with the 7 SugarCrepe JSON files")
    add_parser_options(p, "spacy")
    p.add_argument("--graph-cache", help="graph cache (sqlite)")
    p.add_argument("--json")
    p.set_defaults(func=cmd_eval_graphs)

    p = sub.add_parser("probe", help="binding analysis: probes, additivity, complexity, interventions, from scratch")
    psub = p.add_subparsers(dest="probe_command", metavar="ACTION", required=True)
    for name, text in (
        ("embed", "embed the scene set and cache it (.npy + labels JSON)"),
        ("linear", "linear concept and object probes (set-separation accuracy)"),
        ("additivity", "object- and concept-additive fits, probes on the residuals"),
        ("complexity", "binding-function families on object-level splits"),
        ("interventions", "attribute swaps by vector arithmetic"),
        ("all", "the whole suite: results.json and PNGs in --out"),
    ):
        e = psub.add_parser(name, help=text)
        e.add_argument(
            "--encoder",
            required=True,
            help="minilm, a bindclip run/model folder, or an open_clip name (with --pretrained)",
        )
        e.add_argument("--pretrained", help="local weights for an open_clip --encoder")
        e.add_argument("--modality", choices=("image", "text"), help="tower of a CLIP-style encoder (default image)")
        e.add_argument("--out", required=True, help="output directory")
        e.add_argument("--quick", action="store_true", help="10 x 10 text scenes and a short sweep (minutes)")
        e.add_argument("--cache", help="embedding cache folder (default OUT/embeddings)")
        e.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a size: probe_epochs=100, fractions=0.2,0.5,0.8, families=linear,mlp-1024 …",
        )
        if name == "all":
            e.add_argument(
                "--scratch",
                metavar="DIR",
                help="include a `probe from-scratch --out DIR` sweep (coverage curve) in results.json",
            )
        e.set_defaults(func=cmd_probe)
    e = psub.add_parser("from-scratch", help="two-tower model on symbolic scenes at several coverages")
    e.add_argument("--out", required=True)
    e.add_argument("--coverage", default="0.2,0.4,0.6,0.8,0.9", help="comma-separated object coverages")
    e.add_argument("--seeds", type=int, default=3)
    e.add_argument("--steps", type=int, default=2000)
    e.add_argument(
        "--log-every", type=int, default=0, help="held-out accuracy every N steps, in each run's result.json (curve)"
    )
    e.add_argument(
        "--complexity",
        action="store_true",
        help="also run the complexity analysis on the embeddings of the coverage-0.8 model",
    )
    e.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="complexity sizes (the paper's), as for probe all"
    )
    e.add_argument(
        "--factored",
        action="store_true",
        help="one shared tower, a scene the mean of its objects' codes (builds additivity in; not the paper's)",
    )
    e.add_argument(
        "--arch",
        action="append",
        metavar="KEY=VALUE",
        help="model and training settings (ScratchConfig): width=256, layers=6, batch_size=512, lr=3e-5 ...",
    )
    e.set_defaults(func=cmd_probe)

    p = sub.add_parser("demo", help="the main job: train every method on the world, evaluate, probe, report")
    p.add_argument("--out", default="runs/demo", help="demo folder: runs/, probes/, demo.json, report.html")
    p.add_argument(
        "--runs", default=",".join(DEMO_RUNS), help=f"comma-separated subset of the runs: {', '.join(DEMO_RUNS)}"
    )
    p.add_argument("--world-n", type=int, default=200, help="items per world test")
    p.add_argument("--no-probes", action="store_true", help="skip the binding probes on the image encoders")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="probe sizes on the demo size (suite.SIZES)")
    p.add_argument("--scratch-steps", type=int, default=400, help="from-scratch sweep steps per run (0: skip)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every training")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("diagnose", help="does a model bind? held-out tests, benchmarks and probes side by side")
    add_model_option(p)
    p.add_argument("--bench", action="append", help="NAME[:PATH[:IMAGES]] as bindclip eval takes (default: world)")
    p.add_argument("--out", default="runs/diagnose", help="folder for diagnose.json, report.html and probes/")
    p.add_argument("--world-n", type=int, default=200, help="items per world test")
    p.add_argument("--no-probes", action="store_true", help="skip the binding probes on the image towers")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="probe sizes on the demo size (suite.SIZES)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("study", help=f"a question over seeds with intervals: {', '.join(STUDY_NAMES)}")
    p.add_argument("name", metavar="NAME", help=f"one of {', '.join(STUDY_NAMES)}")
    p.add_argument("--seeds", help="training seeds per variant: N, or BUDGET=N,... per budget (default 8)")
    p.add_argument("--out", help="study folder (default runs/studies/NAME); finished runs in it are reused")
    p.add_argument("--budgets", help="comma-separated subset of the study's budgets (local-loss: demo,small)")
    p.add_argument("--world-n", type=int, default=200, help="items per world test")
    p.add_argument(
        "--pretrain-seed", type=int, default=0, help="fine-tune: the pretrained CLIP's seed (one per --out folder)"
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every training")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("report", help="rebuild RUN_DIR/report.html from a demo's, a study's or a run's JSON")
    p.add_argument("run_dir")
    p.add_argument("--output", help="HTML path (default RUN_DIR/report.html)")
    p.set_defaults(func=cmd_report)
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as the commands read it (argparse's usage error and exit 2 on a bad one)."""
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    # argparse gives a trailing key=value list nothing once a positional before it (study NAME, train's
    # CFG) has matched: overrides after options land here and belong to the command's overrides
    trailing = next((n for n in ("overrides", "items") if isinstance(getattr(args, n, None), list)), None)
    if extra and trailing and all("=" in e and e[0] != "-" for e in extra):
        getattr(args, trailing).extend(extra)
    elif extra:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.func(args)
    except (BindclipError, OSError) as e:  # what the user gave, or a file the system could not open
        print("error: " + one_line(e), file=sys.stderr)
        return 2


def one_line(e: Exception) -> str:
    """The message on one line. An error raised in a DataLoader worker arrives re-raised by torch as "Caught
    X in DataLoader worker process N. Original Traceback ...": its own message is the traceback's last line,
    after the exception's qualified name."""
    text = str(e)
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        name, sep, message = last.partition(": ")
        text = message if sep and name.endswith(type(e).__name__) else last
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
