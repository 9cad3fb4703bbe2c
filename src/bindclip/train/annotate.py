"""Scene graphs written into img2dataset shards once, so training loaders never run a parser.

    bindclip parse --shards "/data/cc3m/{00000..00331}.tar" -o /data/cc3m-graphs --n-process 8

Each input shard becomes OUT/<same name>: every member kept as it was, the json member gaining "graph"
(the parse schema without the caption) and "caption" when it had none. Shards are shared among
`n_process` processes, each loading spaCy once and parsing its shard's captions in one batch (spaCy's
pipe). An output shard is written to a temporary name and renamed when complete, so an interrupted
pass resumes by skipping the shards already there. OUT/annotate.json counts, per shard, samples,
captions that parse to an empty graph, and samples left unannotated (kept as they were): without a
caption, or with a json member that is not valid JSON.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from multiprocessing import get_context
from pathlib import Path

import webdataset as wds
from tqdm import tqdm

from ..atomic import write_json
from ..graphs.parse import make_parser
from .shards import record_caption, record_meta

COUNTS = ("samples", "empty_graphs", "no_caption", "malformed_json")


_PARSER = None


def _parser(spec: str):
    global _PARSER  # one parser per worker process, loaded on its first shard
    if _PARSER is None:
        _PARSER = make_parser(spec)
    return _PARSER


def annotate_shard(url: str, out_dir: str, parser_spec: str = "spacy") -> dict:
    """Parse one shard's captions and write OUT/<name>; returns its counts."""
    out = Path(out_dir) / Path(url).name
    records = list(wds.tarfile_to_samples()([{"url": url}]))
    metas = [record_meta(r) for r in records]
    captions = [record_caption(r, m) if m is not None else None for r, m in zip(records, metas)]
    captions = [(c.strip() or None) if isinstance(c, str) else None for c in captions]
    todo = [c for c in captions if c]
    graphs = iter(_parser(parser_spec).parse(todo)) if todo else iter(())
    counts = dict.fromkeys(COUNTS, 0) | {"samples": len(records)}
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with wds.TarWriter(str(tmp)) as sink:
        for record, meta, caption in zip(records, metas, captions):
            sample = {k: v for k, v in record.items() if not k.startswith("__") or k == "__key__"}
            if meta is None:  # kept as it is, unannotated: its json cannot take a graph
                counts["malformed_json"] += 1
            elif caption is None:
                counts["no_caption"] += 1
            else:
                graph = next(graphs).to_dict()
                graph.pop("caption", None)
                counts["empty_graphs"] += not graph["objects"]
                sample["json"] = json.dumps(
                    {**meta, "caption": meta.get("caption", caption), "graph": graph}, ensure_ascii=False
                ).encode()
            sink.write(sample)
    os.replace(tmp, out)
    return counts


def _annotate_one(args) -> tuple[str, dict]:
    url, out_dir, spec = args
    return url, annotate_shard(url, out_dir, spec)


def annotate_shards(
    urls: list[str], out_dir: str | Path, n_process: int = 1, parser_spec: str = "spacy", progress: bool = True
) -> dict:
    """Annotate every shard not yet in `out_dir`; {"shards": {name: counts}, totals...} also saved as
    OUT/annotate.json (merged with an earlier, interrupted pass's)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "annotate.json"
    done = json.loads(summary_path.read_text())["shards"] if summary_path.is_file() else {}
    todo = [u for u in urls if not (out_dir / Path(u).name).is_file() or Path(u).name not in done]
    bar = tqdm(
        total=len(urls), initial=len(urls) - len(todo), desc="annotate", unit="shard", disable=not progress or None
    )
    jobs = [(u, str(out_dir), parser_spec) for u in todo]
    # spawn, not fork: no forked spaCy or torch state in the workers
    with get_context("spawn").Pool(n_process) if n_process > 1 else nullcontext() as pool:
        for url, counts in pool.imap_unordered(_annotate_one, jobs) if pool else map(_annotate_one, jobs):
            done[Path(url).name] = counts
            write_json(summary_path, summarise(done))
            bar.update(1)
    bar.close()
    return summarise(done)


def summarise(shards: dict) -> dict:
    totals = {k: sum(c.get(k, 0) for c in shards.values()) for k in COUNTS}
    return {**totals, "shards": dict(sorted(shards.items()))}
