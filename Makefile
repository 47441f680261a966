# nas-lightning: `make run` / `make test` install on first use (and again when pyproject.toml changes).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: install run test test-full bench bench-ti sweep sweep-report figures figures-default figures-threads figures-quality figures-int8 figures-c figures-partial figures-sweep figures-target figures-latency readme clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: the local CPU wheel, never the multi-GB CUDA build
INSTALLED := $(VENV)/.installed
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/python -m nas_lightning

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

test-full: $(INSTALLED)
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: $(INSTALLED)
	$(BIN)/python experiments/bench_search.py --presets s m l --out docs/figures/bench.md
	$(BIN)/python experiments/bench_search.py --presets s m l --checkpoint --out docs/figures/bench_checkpoint.md
	$(BIN)/python experiments/bench_search.py --presets s m l --partial 4 --out docs/figures/bench_partial.md

# TI's NAS beside ours (TI=<a tinyml-tensorlab checkout>)
bench-ti: $(INSTALLED)
	$(BIN)/python experiments/bench_search.py --against-ti $(TI) --presets m l xl --out docs/figures/against_ti.md
	$(BIN)/python experiments/bench_search.py --against-ti $(TI) --presets m l xl --partial 4 --out docs/figures/against_ti_partial.md

# README figures: each command writes docs/figures/<name>.md (its first line names the command), then
# `make readme` copies them into README.md's marked blocks. Run them one at a time, on a quiet machine.
figures-default: $(INSTALLED)
	$(BIN)/python experiments/default_job.py

figures-threads: $(INSTALLED)
	$(BIN)/python experiments/default_job.py --contention

figures-quality: $(INSTALLED)
	$(BIN)/python experiments/quality.py --datasets GunPoint BasicMotions ACSF1 --random 3 --seeds 0 1 2 --out experiments/quality

# after figures-quality: its seed-0 final, baseline and cls_4k_npu runs quantized again with every quant.method
figures-int8: $(INSTALLED)
	$(BIN)/python experiments/int8_methods.py $(foreach d,GunPoint BasicMotions ACSF1,$(foreach m,final baseline cls_4k_npu,experiments/quality/$(d)/seed0/$(m)))

figures-c: $(INSTALLED)
	$(BIN)/python experiments/c_export.py $(foreach d,GunPoint BasicMotions ACSF1,$(foreach m,final baseline cls_4k_npu,experiments/quality/$(d)/seed0/$(m)))

figures-partial: $(INSTALLED)
	$(BIN)/python experiments/partial_quality.py --preset l --partial 1 4 --out experiments/partial

figures-sweep: $(INSTALLED)
	$(BIN)/python experiments/sweep_figure.py

figures-target: $(INSTALLED)
	$(BIN)/python experiments/target_figure.py

figures-latency: $(INSTALLED)
	$(BIN)/python experiments/fit_latency.py --figure

readme: $(INSTALLED)
	$(BIN)/python experiments/readme_figures.py

figures: figures-default figures-threads bench figures-quality figures-int8 figures-c figures-partial figures-sweep figures-target figures-latency
	$(MAKE) readme

# a sweep of presets and modes, 2 jobs at a time; then its summary.md, summary.csv and pareto.png
SWEEP ?= $(lastword $(sort $(wildcard multirun/*/*)))
sweep: $(INSTALLED)
	$(BIN)/python -m nas_lightning --multirun hydra/launcher=parallel preset=s,m,l mode=Memory,Compute

sweep-report: $(INSTALLED)
	$(BIN)/python -m nas_lightning.report $(SWEEP)

clean:
	rm -rf outputs multirun studies .pytest_cache
