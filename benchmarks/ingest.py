"""Benchmark: `paperscope ingest jsonl` of the shared arXiv snapshot on SQLite and PostgreSQL.

Each load runs as its own `paperscope` process, so its wall time includes start-up and migrations
and its peak RSS (from os.wait4, that one child's rusage) is the command's own. PostgreSQL is a
throwaway server started the way the tests start theirs (tests/pg.py: fsync off, loopback only).

    .venv/bin/python benchmarks/ingest.py [--file PATH] [--limit N] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import start_pg  # noqa: E402

from paperscope.store import count_papers, create_engine  # noqa: E402

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
GOAL_RATE = 5000  # papers/s on SQLite
GOAL_RSS_MB = 300


@dataclass
class Run:
    backend: str
    label: str
    seconds: float
    cpu_seconds: float  # user + system time of the process: steadier than wall time on a busy machine
    peak_rss_mb: float
    papers: int
    exit_code: int

    @property
    def rate(self) -> float:
        return self.papers / self.seconds if self.seconds else 0.0


def ingest_once(backend: str, label: str, url: str, home: Path, path: Path, limit: int | None) -> Run:
    """One `paperscope ingest jsonl` process: wall time and that process's peak RSS."""
    cmd = [sys.executable, "-m", "paperscope", "--home", str(home), "--database-url", url,
           "ingest", "jsonl", str(path)]
    if limit:
        cmd += ["--limit", str(limit)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
    engine = create_engine(url)
    papers = count_papers(engine)
    engine.dispose()
    # ru_maxrss is in kilobytes on Linux.
    return Run(backend, label, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, papers,
               proc.returncode)


def bench_backend(backend: str, path: Path, limit: int | None, tmp: Path) -> list[Run]:
    """A first load into an empty store, then the same file again (every paper unchanged)."""
    home = tmp / backend
    server = None
    if backend == "sqlite":
        url = f"sqlite:///{home / 'paperscope.db'}"
    else:
        server = start_pg()
        if server is None:
            print("PostgreSQL not installed; skipping", file=sys.stderr)
            return []
        admin = sa.create_engine(server.base_url + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE "bench"'))
        admin.dispose()
        url = server.base_url + "/bench"
    try:
        return [ingest_once(backend, label, url, home, path, limit) for label in ("first load", "re-run")]
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    if not args.file.exists():
        sys.exit(f"snapshot not found: {args.file}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="paperscope-bench-") as tmp:
        for backend in args.backends.split(","):
            runs += bench_backend(backend.strip(), args.file, args.limit, Path(tmp))
    print(f"file: {args.file.name}\n")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| backend | run | papers | wall s | papers/s (wall) | CPU s | papers per CPU s | peak RSS (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        flag = "" if r.exit_code == 0 else f" (exit {r.exit_code})"
        print(f"| {r.backend} | {r.label}{flag} | {r.papers:,} | {r.seconds:.1f} | {r.rate:,.0f} | "
              f"{r.cpu_seconds:.1f} | {r.papers / max(r.cpu_seconds, 1e-9):,.0f} | {r.peak_rss_mb:.0f} |")
    sqlite_first = next((r for r in runs if r.backend == "sqlite" and r.label == "first load"), None)
    if sqlite_first:
        ok = sqlite_first.rate >= GOAL_RATE and sqlite_first.peak_rss_mb <= GOAL_RSS_MB
        print(f"\ngoal (SQLite first load >= {GOAL_RATE:,} papers/s, peak RSS <= {GOAL_RSS_MB} MB): "
              f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
