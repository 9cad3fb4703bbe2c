# Two commands a newcomer needs: `make test` and `make demo`. Both build .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: venv test demo bench clean

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

# until the demo job lands: parse the shipped Visual Genome dev captions and score them
demo: $(STAMP)
	$(BIN)/bindclip parse-eval $(SHARED)/data/factual_sg/dev.csv --json runs/parse-eval.json

bench: $(STAMP)
	$(BIN)/python benchmarks/parser.py
	$(BIN)/python benchmarks/world.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/sugarcrepe_graphs.py
	$(BIN)/python benchmarks/eval.py
	$(BIN)/python benchmarks/probes.py

clean:
	rm -rf $(VENV) runs .pytest_cache
