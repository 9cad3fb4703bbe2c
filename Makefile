# Two commands a newcomer needs: `make test` and `make demo`. Both build .venv themselves.
# `make test-fast` leaves out the tests marked slow; `make lint` runs what CI checks besides the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast lint demo report-check bench clean

venv: $(STAMP)

# torch is pinned and installed first, on its own, so pip never resolves a newer CUDA build
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[dev]"
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

bench: $(STAMP)
	$(BIN)/python benchmarks/parser.py
	$(BIN)/python benchmarks/world.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/sugarcrepe_graphs.py
	$(BIN)/python benchmarks/eval.py
	$(BIN)/python benchmarks/open_clip_parity.py
	$(BIN)/python benchmarks/zeroshot_memory.py
	$(BIN)/python benchmarks/shard_resume.py
	$(BIN)/python benchmarks/graph_cache.py
	$(BIN)/python benchmarks/annotate.py
	$(BIN)/python benchmarks/probes.py
	$(BIN)/python benchmarks/local_loss_ablation.py

clean:
	rm -rf $(VENV) runs .pytest_cache
