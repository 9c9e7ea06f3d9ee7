#!/usr/bin/env bash
# Side-by-side evaluation of one encoder: the bundled MiniLM (no argument) or a model directory.
#   training/evaluate.sh                 # bundled all-MiniLM-L6-v2
#   training/evaluate.sh /path/to/dir    # e.g. the exported paperscope-late-minilm-v1
# Every step saves a benchmark record (benchmarks/results/...) tagged "own-encoder comparison".
# ARXIV_N (default 2000): arXiv papers for the MUVERA fidelity and the late-mode index runs (the machine
# encodes ~5-20 papers/s when shared; 20k papers per model did not fit the session).
# STEPS (default "quality fidelity latency"): which of the three to run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/main/.venv/bin/python}
export PYTHONPATH=$PWD/src
WORK=${WORK:-/tmp/paperscope-own-encoder}
ARXIV_N=${ARXIV_N:-2000}
STEPS=${STEPS:-quality fidelity latency}
TAG="own-encoder comparison"
if [ $# -ge 1 ]; then
  MODEL=(--model-dir "$1"); NAME=$(basename "$1")
else
  MODEL=(); NAME=bundled
fi
for step in $STEPS; do
  case $step in
    quality) nice -n "${NICE:-5}" "$PY" benchmarks/search_quality.py --split test \
               --workdir "$WORK/$NAME/scifact" --tag "$TAG" "${MODEL[@]}" ;;
    fidelity) nice -n "${NICE:-5}" "$PY" benchmarks/muvera_fidelity.py --cache "$WORK/$NAME/muvera" \
               --arxiv "$ARXIV_N" --no-store --tag "$TAG" "${MODEL[@]}" ;;
    latency) nice -n "${NICE:-5}" "$PY" benchmarks/search_latency.py --papers "$ARXIV_N" --queries 200 \
               --workdir "$WORK/$NAME/arxiv" --tag "$TAG" "${MODEL[@]}" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
