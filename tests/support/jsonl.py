"""JSONL snapshots written by tests, and the `paperscope` CLI run on them as a subprocess."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

# One record in the compact snapshot format (tests vary it with dict(COMPACT, id=...)).
COMPACT = {"id": "2503.11742", "title": "Safe VLMs", "abstract": "Vision-language\nmodels.",
           "authors": ["Moreno D'Incà", "Elia Peruzzo"], "categories": ["cs.CV", "cs.AI"],
           "listed": "2025-03-18"}


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    """Write `lines` to `path` one a line, gzip-compressed when `gz`; return `path`."""
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def run_cli(home: Path, *args: str, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m paperscope ARGS` with PAPERSCOPE_HOME=`home` (and the database `db_url`)."""
    env = dict(os.environ, PAPERSCOPE_HOME=str(home))
    if db_url:
        env["PAPERSCOPE_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "paperscope", *args], env=env, capture_output=True,
                          text=True, timeout=300)
