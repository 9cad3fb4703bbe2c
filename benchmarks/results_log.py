"""The benchmarks' results log: every JSON line a benchmark prints, dated, kept, and rendered as tables.

    python benchmarks/world.py | python benchmarks/results_log.py append   # what `make bench` does
    python benchmarks/results_log.py render                               # docs/results.md's log

`append` copies each JSON line from stdin to stdout and adds it to docs/results.jsonl with the date,
the commit and the machine. `render` rewrites the part of docs/results.md between its two markers:
one table per benchmark, a row per logged run, a column per figure (nested figures flattened to
dotted keys), so the dated figures are written from the benchmarks' own output, never by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG, PAGE = ROOT / "docs" / "results.jsonl", ROOT / "docs" / "results.md"
BEGIN, END = "<!-- results_log: begin -->", "<!-- results_log: end -->"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def append(lines, log: Path = LOG, out=sys.stdout) -> int:
    """Logs every JSON object line of `lines` (other lines pass through only); returns how many."""
    stamp = {
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    n = 0
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        for line in lines:
            out.write(line)
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(result, dict):
                f.write(json.dumps({**stamp, **result}) + "\n")
                n += 1
    return n


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        elif not isinstance(v, list):
            out[f"{prefix}{k}"] = v
    return out


def tables(records: list[dict]) -> str:
    """Markdown: a table per benchmark (its `benchmark` field, else `?`), rows in log order."""
    by_bench: dict[str, list[dict]] = {}
    for r in records:
        by_bench.setdefault(str(r.get("benchmark", "?")), []).append(flatten(r))
    parts = []
    for bench, rows in by_bench.items():
        cols = ["date", "commit", "machine"] + [
            k for k in dict.fromkeys(k for r in rows for k in r) if k not in ("date", "commit", "machine", "benchmark")
        ]
        lines = [f"### {bench}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def render(log: Path = LOG, page: Path = PAGE) -> None:
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page}: no {BEGIN} ... {END} markers to write the log between")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    page.write_text(f"{head}{BEGIN}\n{tables(records)}\n{END}{tail}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("append", "render"))
    args = ap.parse_args(argv)
    if args.action == "append":
        append(sys.stdin)
    else:
        render()


if __name__ == "__main__":
    main()
