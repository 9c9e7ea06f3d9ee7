"""Benchmark: `paperscope ingest jsonl` of the shared arXiv snapshot on SQLite and PostgreSQL.

Each load runs as its own `paperscope` process, so its wall time includes start-up and migrations
and its peak RSS (from os.wait4, that one child's rusage) is the command's own. PostgreSQL is a
throwaway server started the way the tests start theirs (tests/pg.py: fsync off, loopback only).

    .venv/bin/python benchmarks/ingest.py [--file PATH] [--limit N] [--backends sqlite,postgresql]
        [--baseline REV] [--rounds N]

`--baseline REV` also runs the same loads with the code of git revision REV (exported to a temp
directory and put first on PYTHONPATH), alternating with the working tree's code, so both see the
same machine load. `ingest jsonl` parses in a child process: CPU s includes it (os.wait4 counts
waited-for children), and "tree RSS" / "tree PSS" are the largest sums of RSS / PSS over the
command's process tree, sampled every 50 ms (peak RSS is the largest single process). The parser child
is forked, so RSS counts the pages it shares with its parent twice; PSS counts them once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from record import save_record  # noqa: E402
from tests.pg import PgServer, start_pg  # noqa: E402

from paperscope.store import count_papers, create_engine  # noqa: E402

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
GOAL_RATE = 5000  # papers/s on SQLite
GOAL_RSS_MB = 300


@dataclass
class Run:
    code: str
    backend: str
    label: str
    seconds: float
    cpu_seconds: float  # user + system time of the process: steadier than wall time on a busy machine
    peak_rss_mb: float
    papers: int
    exit_code: int
    tree_rss_mb: float = 0.0
    tree_pss_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.papers / self.seconds if self.seconds else 0.0


def _tree_memory_mb(root: int) -> tuple[float, float]:
    """RSS and PSS summed over `root` and its descendants (from /proc), in MB. RSS counts pages a
    forked child still shares with its parent twice; PSS splits each shared page between its sharers,
    so its sum is the memory the command really holds."""
    rss = pss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, StopIteration):
            continue
    return rss / 2**20, pss / 2**20


def ingest_once(code: str, pythonpath: str | None, backend: str, label: str, url: str, home: Path,
                path: Path, limit: int | None) -> Run:
    """One `paperscope ingest jsonl` process: wall time and that process's peak RSS."""
    cmd = [sys.executable, "-m", "paperscope", "--home", str(home), "--database-url", url,
           "ingest", "jsonl", str(path)]
    if limit:
        cmd += ["--limit", str(limit)]
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak_tree = [0.0, 0.0]  # RSS, PSS
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            rss, pss = _tree_memory_mb(proc.pid)
            peak_tree[0], peak_tree[1] = max(peak_tree[0], rss), max(peak_tree[1], pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    done.set()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
    engine = create_engine(url)
    papers = count_papers(engine)
    engine.dispose()
    # ru_maxrss is in kilobytes on Linux.
    return Run(code, backend, label, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
               papers, proc.returncode, peak_tree[0], peak_tree[1])


def _database(backend: str, home: Path, server: PgServer | None, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{home / 'paperscope.db'}"
    assert server is not None
    admin = sa.create_engine(server.base_url + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.base_url + "/" + name


def bench_backend(backend: str, codes: list[tuple[str, str | None]], path: Path, limit: int | None,
                  tmp: Path, rounds: int) -> list[Run]:
    """For each round and each code version: a first load into an empty store, then the same file
    again (every paper unchanged). Code versions alternate so they see the same machine load."""
    server = None
    if backend == "postgresql":
        server = start_pg()
        if server is None:
            print("PostgreSQL not installed; skipping", file=sys.stderr)
            return []
    runs: list[Run] = []
    try:
        for rnd in range(rounds):
            for code, pythonpath in codes:
                home = tmp / f"{backend}-{code}-{rnd}"
                url = _database(backend, home, server, f"bench_{code}_{rnd}")
                for label in ("first load", "re-run"):
                    runs.append(ingest_once(code, pythonpath, backend, label, url, home, path, limit))
                    print(f"  {runs[-1]}", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.stop()
    return runs


def _export(rev: str, tmp: Path) -> str:
    """The package source of git revision `rev`, exported under tmp; returns its src directory."""
    dest = tmp / f"rev-{rev}"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return str(dest / "src")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--baseline", help="git revision to measure side by side with the working tree")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    if not args.file.exists():
        sys.exit(f"snapshot not found: {args.file}")
    runs: list[Run] = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="paperscope-bench-") as tmp:
        codes: list[tuple[str, str | None]] = [("now", None)]
        if args.baseline:
            codes.insert(0, (args.baseline, _export(args.baseline, Path(tmp))))
        for backend in args.backends.split(","):
            runs += bench_backend(backend.strip(), codes, args.file, args.limit, Path(tmp), args.rounds)
    print(f"file: {args.file.name}\n")
    print(f"load average (1 min) at the start: {load_start:.1f}, at the end: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores\n")
    print("| code | backend | run | papers | wall s | papers/s (wall) | CPU s | papers per CPU s "
          "| peak RSS (MB) | tree RSS (MB) | tree PSS (MB) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        flag = "" if r.exit_code == 0 else f" (exit {r.exit_code})"
        print(f"| {r.code} | {r.backend} | {r.label}{flag} | {r.papers:,} | {r.seconds:.1f} | "
              f"{r.rate:,.0f} | {r.cpu_seconds:.1f} | {r.papers / max(r.cpu_seconds, 1e-9):,.0f} | "
              f"{r.peak_rss_mb:.0f} | {r.tree_rss_mb:.0f} | {r.tree_pss_mb:.0f} |")
    for r in runs:
        if r.code == "now" and r.backend == "sqlite" and r.label == "first load":
            ok = r.rate >= GOAL_RATE and r.peak_rss_mb <= GOAL_RSS_MB
            print(f"\ngoal (SQLite first load >= {GOAL_RATE:,} papers/s, peak RSS <= {GOAL_RSS_MB} MB): "
                  f"{'met' if ok else 'NOT met'} ({r.rate:,.0f} papers/s, {r.peak_rss_mb:.0f} MB)")
    save_record("ingest", [
        {"code": r.code, "backend": r.backend, "run": r.label, "exit_code": r.exit_code, "papers": r.papers,
         "wall_s": round(r.seconds, 1), "papers_per_s": round(r.rate), "cpu_s": round(r.cpu_seconds, 1),
         "peak_rss_mb": round(r.peak_rss_mb), "tree_rss_mb": round(r.tree_rss_mb),
         "tree_pss_mb": round(r.tree_pss_mb)} for r in runs],
        title=f"`ingest jsonl` of {args.file.name} into an empty store, then again "
              f"(load {load_start:.1f} at the start).")


if __name__ == "__main__":
    main()
