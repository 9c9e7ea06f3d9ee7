"""Side by side: `store.papers.upsert_papers` as of an older git revision against the current one.

Loads the same N papers of the shared snapshot into fresh stores, alternating old/new twice, and
reports wall time and this process's CPU time (on PostgreSQL also the server's CPU, from ps).

    .venv/bin/python benchmarks/upsert_ab.py --rev 2313f1d --backend sqlite|postgresql [--limit 10000]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import start_pg  # noqa: E402

from paperscope.sources.jsonl import JsonlSource  # noqa: E402
from paperscope.store import open_database  # noqa: E402
from paperscope.store import papers as current  # noqa: E402

SNAPSHOT = ROOT.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"


def load_old(rev: str, tmp: Path) -> object:
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/paperscope/store/papers.py"],
                         check=True, capture_output=True, text=True).stdout
    path = tmp / "papers_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("papers_old", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["papers_old"] = module
    spec.loader.exec_module(module)
    return module


def server_cpu_seconds() -> float:
    out = subprocess.run(["ps", "-u", "postgres", "-o", "cputime="], capture_output=True, text=True).stdout
    total = 0.0
    for line in out.split():
        parts = line.split("-")[-1].split(":")
        total += sum(float(p) * 60 ** i for i, p in enumerate(reversed(parts)))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", required=True)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--limit", type=int, default=10000)
    args = ap.parse_args()
    papers = [p for p in JsonlSource(SNAPSHOT, limit=args.limit) if not hasattr(p, "reason")]
    server = start_pg() if args.backend == "postgresql" else None
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        old = load_old(args.rev, tmp)
        try:
            for round_ in range(2):
                for label, module in ((f"{args.rev}", old), ("current", current)):
                    name = f"db_{round_}_{label}"
                    if server is None:
                        engine = open_database(f"sqlite:///{tmp / name}.db")
                    else:
                        admin = sa.create_engine(server.base_url + "/postgres", isolation_level="AUTOCOMMIT")
                        with admin.connect() as conn:
                            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                        engine = open_database(f"{server.base_url}/{name}")
                    cpu, wall, srv = time.process_time(), time.perf_counter(), server_cpu_seconds()
                    for i in range(0, len(papers), 2000):
                        module.upsert_papers(engine, papers[i:i + 2000])  # type: ignore[attr-defined]
                    line = (f"{args.backend} {label:>8}: wall {time.perf_counter() - wall:6.2f}s  "
                            f"client CPU {time.process_time() - cpu:5.2f}s")
                    if server is not None:
                        line += f"  server CPU {server_cpu_seconds() - srv:5.1f}s"
                    print(line, flush=True)
                    engine.dispose()
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
