# `make run`  — install, load papers (shared snapshot when present, else arXiv), start the web app.
# `make test` — install (Python + Debian packages), lint and type-check (`make lint`), then run the whole
#               test suite against a real PostgreSQL (system-deps installs it, so a missing one fails).
#               This is exactly what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PAPERSCOPE := $(VENV)/bin/paperscope
SNAPSHOT ?= ../shared/data/arxiv-2025-2026.jsonl.gz
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install system-deps run ingest test lint results

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

system-deps:
	bash scripts/system-deps.sh

ingest: install
	@if [ -f "$(SNAPSHOT)" ]; then $(PAPERSCOPE) ingest jsonl "$(SNAPSHOT)"; \
	else $(PAPERSCOPE) ingest arxiv --set cs; fi
	# BM25 index only (seconds): the server embeds the papers in the background, newest first
	# (`paperscope index` does it in the foreground on every core: ~35 papers/s with AVX-512 VNNI, ~9 without).
	$(PAPERSCOPE) index --lexical-only
	$(PAPERSCOPE) stats

run: ingest
	$(PAPERSCOPE) serve --host $(HOST) --port $(PORT)

# Extra pytest arguments, e.g. PYTEST_ARGS="-n 2" (pytest-xdist): on an idle 2-core machine 242 s against
# 356 s in one process (all passed); on 2 busy shared cores no faster. Not the default until the tests
# that share ports or processes carry a serial marker.
# PYTEST_ARGS=--every-backend runs every store-backed test on PostgreSQL too, not only the modules marked
# both_backends (tests/conftest.py).
PYTEST_ARGS ?=

test: lint system-deps
	PAPERSCOPE_REQUIRE_PG=1 $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# benchmarks/RESULTS.md from the records the benchmark scripts leave in benchmarks/results/.
results: install
	$(PY) benchmarks/report.py
