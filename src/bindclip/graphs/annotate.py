"""Scene graphs written into img2dataset shards once, so training loaders never run a parser.

    bindclip parse --shards "/data/cc3m/{00000..00331}.tar" -o /data/cc3m-graphs --n-process 8
    bindclip parse --shards "/shared/laion/{00000..99999}.tar" -o /shared/laion-graphs --ray auto \\
        --parser llm --llm-url http://gpu-node:8000/v1 --llm-model meta-llama/Llama-3.1-8B-Instruct

Each input shard becomes OUT/<same name>: every member kept as it was, the json member gaining "graph"
(the parse schema without the caption) and "caption" when it had none. Shards are shared among
`n_process` workers, each loading its parser once and parsing a shard's captions in one call: processes
of this machine, or the actors of a Ray Data job (`ray_address`: "local" for an in-process cluster,
"auto" or HOST:PORT for a running one). An output shard is written to a temporary name and renamed when
complete, so an interrupted pass resumes by skipping the shards already there, and a worker killed
mid-shard leaves no partial shard (Ray restarts it and runs the shard again). OUT/annotate.json names the
parser and counts, per shard, samples, captions that parse to an empty graph, and samples left
unannotated (kept as they were): without a caption, or with a json member that is not valid JSON; an
LLM parser adds its fallbacks by reason. A shard whose parsing raises is recorded under "failed" with the
error's first line; the pass carries on, and the next pass retries only the failed and missing shards.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

import webdataset as wds
from tqdm import tqdm

from .. import errors
from ..atomic import write_json
from ..errors import BindclipError, ClusterError, ConfigError, MissingDependencyError
from .parse import make_parser, parser_identity

COUNTS = ("samples", "empty_graphs", "no_caption", "malformed_json")


def record_meta(record: dict) -> dict | None:
    """A record's json member as a dict: {} when it has none, None when it is malformed."""
    if "json" not in record:
        return {}
    try:
        return json.loads(record["json"])
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def record_caption(record: dict, meta: dict):
    """The sample's caption: its txt member, else its json "caption" (img2dataset writes both)."""
    return record["txt"].decode("utf-8", "replace").strip() if "txt" in record else meta.get("caption")


def is_local(url: str) -> bool:
    """A shard named by a path of this machine (or a shared filesystem), not a URL or a `pipe:` command."""
    return "://" not in url and not url.startswith("pipe:")


def shard_name(url: str) -> str:
    """The output file's name: the shard's own (the last word ending in .tar of a `pipe:` command)."""
    if url.startswith("pipe:"):
        tars = [w for w in url.split() if w.endswith(".tar")]
        if tars:
            return Path(tars[-1]).name
    return Path(url).name


class ShardAnnotator:
    """One worker: builds its parser once, then annotates whole shards. A Ray Data actor (called with a row
    {"url": ...}) or a process of the local pool. Returns {"url", "result"}, the result a JSON string (so
    Ray's blocks need no common schema): {"counts": ...}, {"error": first line} for a shard that raised, or
    {"fatal": ...} for an error every shard would meet (a dead server, a bad spec)."""

    def __init__(self, out_dir: str, parser: dict):
        self.out_dir, self.parser_args = out_dir, parser
        self.parser = None  # built on the first shard, inside the worker

    def __call__(self, row: dict) -> dict:
        url = row["url"]
        try:
            if self.parser is None:
                args = dict(self.parser_args)
                self.parser = make_parser(args.pop("spec"), **args)
            result = {"counts": annotate_shard(url, self.out_dir, self.parser)}
        except BindclipError as e:
            result = {"fatal": str(e), "kind": type(e).__name__}
        except Exception as e:  # this shard's fault: recorded, the pass goes on
            lines = str(e).strip().splitlines()
            result = {"error": f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__}
        return {"url": url, "result": json.dumps(result)}


def annotate_shard(url: str, out_dir: str, parser) -> dict:
    """Parse one shard's captions with `parser` and write OUT/<name>; returns its counts (with an LLM
    parser's fallbacks by reason)."""
    out = Path(out_dir) / shard_name(url)
    records = list(wds.tarfile_to_samples()([{"url": url}]))
    metas = [record_meta(r) for r in records]
    captions = [record_caption(r, m) if m is not None else None for r, m in zip(records, metas)]
    captions = [(c.strip() or None) if isinstance(c, str) else None for c in captions]
    counts = dict.fromkeys(COUNTS, 0) | {"samples": len(records)}
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with wds.TarWriter(str(tmp)) as sink:  # opened first: a worker killed while parsing leaves only this
        todo = [c for c in captions if c]
        before = getattr(parser, "fallbacks", None)  # a parser that can fall back (an LLM's) counts it
        before = None if before is None else Counter(before)  # a copy: an LLM parser's counter grows in place
        graphs = iter(parser.parse(todo)) if todo else iter(())
        if before is not None:
            counts["llm_fallbacks"] = dict(Counter(parser.fallbacks) - before)
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


_WORKER: ShardAnnotator | None = None


def _init_worker(out_dir: str, parser: dict):
    global _WORKER  # one annotator (and parser) per pool process
    _WORKER = ShardAnnotator(out_dir, parser)


def _pool_annotate(url: str) -> dict:
    return _WORKER({"url": url})


def annotate_shards(
    urls: list[str],
    out_dir: str | Path,
    n_process: int | None = None,
    parser_spec: str = "spacy",
    progress: bool = True,
    ray_address: str | None = None,
    cache: str | None = None,
    parser_options: dict | None = None,
) -> dict:
    """Annotate every shard not yet in `out_dir`; {"parser", "shards": {name: counts}, "failed": {name:
    error}, totals...} also saved as OUT/annotate.json (merged with an earlier, interrupted pass's).
    `parser_options` go to `make_parser` (an LLM parser's concurrency is the pass's, split among the
    workers)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "annotate.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    if parser_identity(summary.get("parser", parser_spec)) != parser_identity(parser_spec):
        raise ConfigError(
            f"{summary_path}: its shards were annotated by parser {summary['parser']!r}, not {parser_spec!r}; "
            "use another output folder, or the same --parser"
        )
    done = summary.get("shards", {})
    todo = [u for u in urls if not (out_dir / shard_name(u)).is_file() or shard_name(u) not in done]
    failed: dict[str, str] = {}
    bar = tqdm(
        total=len(urls), initial=len(urls) - len(todo), desc="annotate", unit="shard", disable=not progress or None
    )
    cluster = _connect(ray_address, n_process) if ray_address is not None and todo else None
    n_workers = max(1, min(len(todo), _workers(cluster, n_process)))
    options = dict(parser_options or {})
    if parser_spec.startswith("llm:") and "concurrency" in options:  # the pass's requests, shared out
        options["concurrency"] = max(1, math.ceil(options["concurrency"] / n_workers))
    parser = {"spec": parser_spec, "cache": cache, **options}
    try:
        rows = (
            _ray_rows(todo, str(out_dir), parser, n_workers)
            if cluster is not None
            else _pool_rows(todo, str(out_dir), parser, n_workers)
        )
        for row in rows:
            name, result = shard_name(row["url"]), json.loads(row["result"])
            if "fatal" in result:
                raise _fatal_error(result["kind"], result["fatal"])
            if "error" in result:
                failed[name] = result["error"]
            else:
                done[name] = result["counts"]
            write_json(summary_path, summarise(done, parser_spec, failed))
            bar.update(1)
    finally:
        bar.close()
        if cluster is not None and cluster["started"]:
            cluster["ray"].shutdown()
    _remove_partial(out_dir)
    result = summarise(done, parser_spec, failed)
    write_json(summary_path, result)
    return result


def _pool_rows(todo: list[str], out_dir: str, parser: dict, n_workers: int):
    if n_workers == 1:
        _init_worker(out_dir, parser)
        yield from map(_pool_annotate, todo)
        return
    # spawn, not fork: no forked spaCy or torch state in the workers
    with get_context("spawn").Pool(n_workers, _init_worker, (out_dir, parser)) as pool:
        yield from pool.imap_unordered(_pool_annotate, todo)


def _ray_rows(todo: list[str], out_dir: str, parser: dict, n_workers: int):
    """A Ray Data job: the shard paths as a dataset, one block each, mapped by an actor pool. Ray restarts
    a dead actor and runs its shard again; an error inside a shard comes back as a row."""
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False  # the pass has its own bar
    ds = ray.data.from_items([{"url": u} for u in todo], override_num_blocks=len(todo))
    ds = ds.map(
        ShardAnnotator,
        fn_constructor_kwargs={"out_dir": out_dir, "parser": parser},
        # two shards in flight per actor, the next queued behind the running one: no idle gap between shards
        # (one in flight cost ~0.1 s a shard here), and at most one shard waits behind a busy actor at the end
        compute=ray.data.ActorPoolStrategy(size=n_workers, max_tasks_in_flight_per_actor=2),
        num_cpus=1,
    )
    yield from ds.iter_rows()


def _connect(address: str, n_process: int | None) -> dict:
    """Join the cluster `address` names ("local": an in-process one of `n_process` CPUs, or the one this
    process already runs; "auto": RAY_ADDRESS or the cluster `ray start` left on this machine; HOST:PORT)."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("--ray needs Ray: pip install 'bindclip[ray]'") from None
    target = os.environ.get("RAY_ADDRESS", "auto") if address == "auto" else address
    if target not in ("local", "auto"):
        _check_reachable(target)
    if ray.is_initialized():  # this process is already part of a cluster (the caller's ray.init): that one
        return {"ray": ray, "started": False}
    if address == "local":
        ray.init(address="local", num_cpus=n_process or 1, include_dashboard=False, log_to_driver=False)
    else:
        try:
            ray.init(address=target, log_to_driver=False)
        except ConnectionError as e:
            # Ray turns token authentication on by itself only for a cluster it finds ("auto")
            hint = (
                ""
                if os.environ.get("RAY_AUTH_MODE")
                else "; a cluster with token authentication needs RAY_AUTH_MODE=token"
            )
            said = " ".join(str(e).split())[:200]
            raise ClusterError(f"--ray {address}: no Ray cluster answers ({said}){hint}") from None
    return {"ray": ray, "started": True}


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the address, where ray.init would retry a dead one for a minute."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise ClusterError(f"--ray {address}: no Ray cluster answers there ({e})") from None


def _workers(cluster: dict | None, n_process: int | None) -> int:
    if n_process:
        return n_process
    if cluster is None:
        return 1
    return max(1, int(cluster["ray"].cluster_resources().get("CPU", 1)))  # a running cluster: all its CPUs


def _fatal_error(kind: str, message: str) -> BindclipError:
    """The worker's error again, as its own class (a worker's exception does not cross Ray as itself)."""
    cls = getattr(errors, kind, BindclipError)
    return cls(message) if isinstance(cls, type) and issubclass(cls, BindclipError) else BindclipError(message)


def _remove_partial(out_dir: Path) -> None:
    """Temporary shards of workers that died mid-shard (their shard was written again by another)."""
    for tmp in out_dir.glob(".*.tar.tmp*"):
        tmp.unlink(missing_ok=True)


def annotated_parser(urls: list[str]) -> str | None:
    """The parser that wrote these shards' graphs, from the annotate.json beside them (older files, which
    did not say, were spaCy's); None where no shard folder has one, or its folders name several."""
    folders = {Path(u).parent for u in urls if is_local(u)}
    found = set()
    for summary in (f / "annotate.json" for f in folders):
        if summary.is_file():
            found.add(json.loads(summary.read_text()).get("parser", "spacy"))
    return found.pop() if len(found) == 1 else None


def summarise(shards: dict, parser: str = "spacy", failed: dict | None = None) -> dict:
    totals = {k: sum(c.get(k, 0) for c in shards.values()) for k in COUNTS}
    fallbacks = sum((Counter(c.get("llm_fallbacks", {})) for c in shards.values()), Counter())
    return {
        "parser": parser,
        **totals,
        **({"llm_fallbacks": dict(sorted(fallbacks.items()))} if fallbacks else {}),
        "failed": dict(sorted((failed or {}).items())),
        "shards": dict(sorted(shards.items())),
    }
