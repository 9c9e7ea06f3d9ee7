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

# The suite runs on pytest-xdist workers (`--dist loadgroup`): tests marked `serial` (a local Ray, several
# servers) share one worker and never run at once, and tests/conftest.py hands the slow tests out first.
# Three workers on two cores: while one waits on a server, a subprocess or a browser, the CPU stays busy
# (benchmarks/suite_time.py --before 292f1e6, one run on an idle 2-core machine: the old one-process suite
# 340 s; now 164 s with 3 workers, 171 s with 2, cores 95% / 87% busy).
# PYTEST_WORKERS=0 runs everything in one process. Extra pytest arguments go in PYTEST_ARGS;
# PYTEST_ARGS=--every-backend runs every store-backed test on PostgreSQL too, not only the modules marked
# both_backends (tests/conftest.py).
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?=

test: lint system-deps
	PAPERSCOPE_REQUIRE_PG=1 $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# benchmarks/RESULTS.md from the records the benchmark scripts leave in benchmarks/results/.
results: install
	$(PY) benchmarks/report.py
