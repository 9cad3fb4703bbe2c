"""How fast the command line answers: `bindclip --help`, `bindclip train --help` and `bindclip parse` of a
one-line text file, each in a fresh interpreter (best of --repeat), against the same interpreter importing
torch and open_clip (what every command paid before it imported lazily) and starting bare. Bar: `bindclip
--help` <= 1 s on 2 cores.

    python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("bindclip")


def best_of(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return round(min(times), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        captions = Path(tmp) / "captions.txt"
        captions.write_text("a red circle to the left of a blue square\n")
        s = {
            "help": best_of([str(BIN), "--help"], args.repeat),
            "train_help": best_of([str(BIN), "train", "--help"], args.repeat),
            "parse_one_caption": best_of([str(BIN), "parse", str(captions), "-o", f"{tmp}/g.jsonl"], args.repeat),
            "import_torch_open_clip": best_of([sys.executable, "-c", "import torch, open_clip"], args.repeat),
            "bare_python": best_of([sys.executable, "-c", "pass"], args.repeat),
        }
    line = {
        "benchmark": "cli_startup",
        "seconds": s,
        "help_over_torch_import": round(s["help"] / s["import_torch_open_clip"], 3),
        "bar": "bindclip --help <= 1 s",
        "passed": s["help"] <= 1.0,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
