# nas-lightning: `make install` once, then `make run` / `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: install run test test-full bench sweep sweep-report clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: the local CPU wheel, never the multi-GB CUDA build
install: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'

run:
	$(BIN)/python -m nas_lightning

test:
	$(BIN)/python -m pytest -q

test-full:
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench:
	$(BIN)/python experiments/bench_search.py --presets s m l

# a sweep of presets and modes, 2 jobs at a time; then its summary.md, summary.csv and pareto.png
SWEEP ?= $(lastword $(sort $(wildcard multirun/*/*)))
sweep:
	$(BIN)/python -m nas_lightning --multirun hydra/launcher=parallel preset=s,m,l mode=Memory,Compute

sweep-report:
	$(BIN)/python -m nas_lightning.report $(SWEEP)

clean:
	rm -rf outputs multirun .pytest_cache
