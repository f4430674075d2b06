# Every target bootstraps what it needs: a fresh clone only needs python3 and make.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX_DIR ?= var/index
HOST ?= 127.0.0.1
PORT ?= 8000
# torch is installed first and pinned: any other torch request pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: help install browser wrk postgres run index screenshots test lint format bench bench-quality bench-scale bench-state bench-ray bench-signals clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --disable-pip-version-check "$(TORCH)" -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project (once; again when pyproject.toml changes)

# $(call apt_install,PACKAGE,TARGET,WHAT HAPPENS WITHOUT IT,TEST THAT IT IS THERE):
# install a Debian package with apt-get if the test fails; best effort, never an error.
define apt_install
	@if $(4); then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make $(2): apt-get not found; install $(1) yourself, or $(3)"; \
		exit 0; \
	fi; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo -n"; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update && $$sudo apt-get install -y $(1) \
		|| echo "make $(2): could not install $(1); $(3)"
endef

# Debian's Chromium, for the browser tests (Playwright drives it; it never downloads a browser).
# Best effort: without apt the browser tests skip, saying why.
browser: ## Install Chromium with apt-get for the browser tests (only if /usr/bin/chromium is missing)
	$(call apt_install,chromium,browser,the browser tests will skip,[ -x /usr/bin/chromium ])

# Debian's wrk, the load client of `make bench-scale` (and its optional end-to-end test).
wrk: ## Install wrk with apt-get for the scale benchmark (only if it is missing)
	$(call apt_install,wrk,wrk,make bench-scale cannot run (its test skips),command -v wrk >/dev/null 2>&1)

# Debian's PostgreSQL, for the tests of the PostgreSQL storage: they start a throwaway
# cluster of their own (tests/postgres.py), whatever the package itself sets up.
postgres: ## Install PostgreSQL with apt-get for the PostgreSQL tests (only if no initdb is found)
	$(call apt_install,postgresql,postgres,the PostgreSQL tests will skip,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1)

index: $(STAMP) ## Index corpus/ into $(INDEX_DIR) (embeds only new or changed articles)
	$(BIN)/recommender index corpus --index-dir $(INDEX_DIR)

run: index ## Index corpus/ and serve the API on http://$(HOST):$(PORT)
	$(BIN)/recommender serve --index-dir $(INDEX_DIR) --host $(HOST) --port $(PORT)

screenshots: $(STAMP) browser ## Run the browser tests and save their screenshots into docs/screenshots/
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest tests/test_browser.py

test: $(STAMP) lint browser wrk postgres ## Lint, type-check and run the whole test suite (real model, server and browser included)
	$(BIN)/python -m pytest

# The same checks as .pre-commit-config.yaml.
lint: $(STAMP) ## ruff (lint + format check), mypy and codespell
	$(BIN)/ruff check recommender service tests benchmarks
	$(BIN)/ruff format --check recommender service tests benchmarks
	$(BIN)/mypy
	$(BIN)/codespell

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix recommender service tests benchmarks
	$(BIN)/ruff format recommender service tests benchmarks

bench: $(STAMP) ## Measure indexing and query speed; writes docs/benchmarks.md
	$(BIN)/python -m benchmarks.speed --out docs/benchmarks.md

# Sizes of the synthetic corpora, e.g. SIZES=1k,10k. 1m writes a 2.4 GB corpus and
# about 12 GB of index versions, and its build takes more than 45 minutes today.
SIZES ?= 1k,10k,100k,1m
bench-scale: $(STAMP) wrk ## Measure 1k-1M synthetic articles (SIZES=...); writes its section of docs/benchmarks.md
	$(BIN)/python -m benchmarks.scale --sizes $(SIZES) --out docs/benchmarks.md

# Corpus size of bench-state: the scale benchmark's index of that size is reused when
# it loads, else one is generated and built under var/bench/state/.
SIZE ?= 100k
bench-state: $(STAMP) wrk postgres ## Reads with the state in PostgreSQL beside SQLite (SIZE=100k); writes its section of docs/benchmarks.md
	$(BIN)/python -m benchmarks.state --size $(SIZE) --out docs/benchmarks.md

# Articles in the corpus both builds index (about 45 s each per 1,000 on two cores);
# GPU_RATE: the articles/s one GPU worker is assumed to embed in the projection.
RAY_SIZE ?= 2000
GPU_RATE ?= 2000
bench-ray: $(STAMP) ## Single-machine build against the Ray build, per-worker rates, 1M/10M projection; writes its section of docs/benchmarks.md
	$(BIN)/python -m benchmarks.raybench --size $(RAY_SIZE) --gpu-rate $(GPU_RATE) --out docs/benchmarks.md

bench-signals: $(STAMP) ## Simulated readers: click-through with the boost off and on, A/B tests; writes docs/signals.md's section and plot
	$(BIN)/python -m benchmarks.signals --out docs/signals.md

bench-quality: $(STAMP) ## Measure ranking quality on NFCorpus and SciFact; writes docs/quality.md
	$(BIN)/python -m benchmarks.quality --out docs/quality.md

clean: ## Remove the venv, the index and caches
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
