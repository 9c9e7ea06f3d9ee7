"""Benchmark results as data: each run of a benchmark saves one JSON record, and RESULTS.md is generated
from the newest record of each benchmark (`python benchmarks/report.py`).

A record holds what is needed to judge a figure later: the command, the commit (and whether the working
tree had uncommitted changes), the CPU (model, the instruction-set flags that change the speed of the
encoder and of the products: AVX2, AVX-512, VNNI, ...), the cores, the load average when the run ended,
and the figures themselves as rows of one table.

    from record import save_record
    save_record("search_latency", rows, title="Query latency on the arXiv index", variant="74,528 papers")
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
# The flags that decide which kernels numpy, onnxruntime and usearch can use.
SPEED_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
               "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """The commit the benchmark ran at and whether tracked files differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False).stdout

    sha = git("rev-parse", "HEAD").strip() or None
    dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip()) if sha else None
    return {"sha": sha, "dirty": dirty}


def machine() -> dict[str, Any]:
    """CPU model and speed-relevant flags, core count, load average (1, 5, 15 min) now."""
    model, flags = "unknown", set()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        if m := re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M):
            model = m.group(1).strip()
        if m := re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M):
            flags = set(m.group(1).split())
    except OSError:
        pass
    return {"cpu": model, "flags": [f for f in SPEED_FLAGS if f in flags], "cores": os.cpu_count(),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def save_record(benchmark: str, rows: list[dict[str, Any]], *, title: str = "", variant: str = "",
                notes: str = "", command: str | None = None, directory: Path = RESULTS) -> Path:
    """Write one run's figures as `<directory>/<benchmark>/<UTC time>-<sha>[-<variant>].json`; returns
    the path.

    `rows` is the run's table, one dict per row (same keys, in column order); `variant` tells apart runs
    of one benchmark that answer different questions (a split, a corpus size) so each keeps a table.
    """
    now = datetime.now(UTC)
    git = git_state()
    record = {
        "benchmark": benchmark, "variant": variant, "title": title,
        "recorded_at": now.isoformat(timespec="seconds"),
        "command": command or shlex.join([Path(sys.executable).name, *sys.argv]),
        "git": git, "machine": machine(), "rows": rows, "notes": notes,
    }
    stem = f"{now:%Y%m%dT%H%M%SZ}-{(git['sha'] or 'nogit')[:8]}"
    # Two variants saved in the same second (one run, two tables) must not share a file.
    slug = "".join(c if c.isalnum() else "-" for c in variant.lower()).strip("-")[:40]
    out = directory / benchmark / (f"{stem}-{slug}.json" if slug else f"{stem}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"record: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return out
