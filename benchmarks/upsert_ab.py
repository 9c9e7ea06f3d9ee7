"""Side by side: `store.papers.upsert_papers` as of an older git revision against the current one.

Loads the same N papers of the shared snapshot into fresh stores, alternating old/new twice, and
reports wall time and this process's CPU time (on PostgreSQL also the CPU of the server process
that served the load, from /proc).

    .venv/bin/python benchmarks/upsert_ab.py --rev 2313f1d --backend sqlite|postgresql [--limit 10000]
        [--drop-fts]   # drop the full-text triggers first, to see what indexing costs
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from record import save_record  # noqa: E402
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


def backend_cpu_seconds(pid: int | None) -> float:
    """CPU time of one PostgreSQL backend process (the one serving our pooled connection)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def drop_fulltext_triggers(engine: sa.Engine) -> None:
    """Remove the triggers that keep the full-text index in step with `papers` (migration 0002)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in ("papers_fts_ai", "papers_fts_ad", "papers_fts_au"):
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        else:
            for name in ("paper_search_ins", "paper_search_upd"):
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON papers"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", required=True)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--drop-fts", action="store_true", help="drop migration 0002's full-text triggers")
    args = ap.parse_args()
    papers = [p for p in JsonlSource(SNAPSHOT, limit=args.limit) if not hasattr(p, "reason")]
    server = start_pg() if args.backend == "postgresql" else None
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        old = load_old(args.rev, tmp)
        rows: list[dict[str, object]] = []
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
                    if args.drop_fts:
                        drop_fulltext_triggers(engine)
                    pid = None
                    if server is not None:  # the pool hands this same connection to every upsert
                        with engine.connect() as conn:
                            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                    cpu, wall, srv = time.process_time(), time.perf_counter(), backend_cpu_seconds(pid)
                    for i in range(0, len(papers), 2000):
                        module.upsert_papers(engine, papers[i:i + 2000])  # type: ignore[attr-defined]
                    row: dict[str, object] = {"round": round_ + 1, "code": label,
                                              "wall_s": round(time.perf_counter() - wall, 2),
                                              "client_cpu_s": round(time.process_time() - cpu, 2)}
                    line = (f"{args.backend} {label:>8}: wall {row['wall_s']:6.2f}s  "
                            f"client CPU {row['client_cpu_s']:5.2f}s")
                    if server is not None:
                        row["server_cpu_s"] = round(backend_cpu_seconds(pid) - srv, 2)
                        line += f"  server CPU {row['server_cpu_s']:5.2f}s"
                    print(line, flush=True)
                    rows.append(row)
                    engine.dispose()
        finally:
            if server is not None:
                server.stop()
        save_record("upsert_ab", rows, variant=args.backend,
                    title=f"Upserting {len(papers):,} papers, {args.rev} against the current code by turns.")


if __name__ == "__main__":
    main()
