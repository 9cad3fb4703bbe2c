# Two commands a newcomer needs: `make test` and `make demo`. Both build .venv themselves.
# `make test-fast` leaves out the tests marked slow; `make lint` runs what CI checks besides the tests.
# Another Python: `make test-fast PYTHON=python3.12 VENV=.venv312` (CI runs that too).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the exact versions the tests passed with; the package metadata itself declares ranges
PIP_INSTALL := $(BIN)/pip install --quiet -c constraints.txt

.PHONY: venv test test-fast lint demo report-check bench clean

venv: $(STAMP)

# torch is installed first, on its own and pinned, so pip never resolves a newer CUDA build
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) torch torchvision
	$(PIP_INSTALL) -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

# the main job: every method trained on the built-in world, held-out benchmarks, probes -> runs/demo/report.html
demo: $(STAMP)
	$(BIN)/bindclip demo --out runs/demo

# open the demo's report in headless Chromium (apt-get install chromium chromium-driver) and check it
report-check: $(STAMP)
	$(BIN)/python -m bindclip.report.check runs/demo/report.html --screenshot runs/demo/report.png

# each benchmark prints one JSON line; results_log.py keeps it, dated, in docs/results.jsonl and
# rewrites the log's tables in docs/results.md
LOG := $(BIN)/python benchmarks/results_log.py append
BENCHES := parser world models train sugarcrepe_graphs eval open_clip_parity zeroshot_memory shard_resume \
	graph_cache annotate annotate_ray parser_llm parsers probes local_loss_ablation cli_startup cost

bench: $(STAMP)
	set -e; for b in $(BENCHES); do $(BIN)/python benchmarks/$$b.py | $(LOG); done
	$(BIN)/python benchmarks/results_log.py render

clean:
	rm -rf $(VENV) runs .pytest_cache
