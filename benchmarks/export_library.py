"""Export of a large library: time and size per format (BibTeX, RIS, CSL JSON) through the real app.

    .venv/bin/python benchmarks/export_library.py [--papers 5000] [--runs 5] [--workdir DIR]

Stores the first --papers papers of the shared arXiv snapshot, saves every one to one reader's library,
then asks `GET /api/v1/library/export?format=...` with the reader's API token on a live server (uvicorn,
127.0.0.1), --runs times per format after one warm-up; reports the median time and the body size. Also
times re-importing the BibTeX file (`POST /api/v1/library/import`) into a second, empty library.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

from paperscope.store import iter_papers
from paperscope.store import library as lib
from paperscope.store import users as user_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402
from snapshot_app import served_app, snapshot_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-bench-export"))
    args = parser.parse_args()
    settings, engine = snapshot_store(args.workdir, args.papers)
    if user_store.find_user(engine, "bench") is None:
        for name in ("bench", "importer"):
            user = user_store.create_user(engine, name, f"{name}@example.org", "x")
            user_store.create_api_token(engine, user.id, "bench", f"ps_{name}")
        owner = user_store.find_user(engine, "bench")
        assert owner is not None
        for batch in iter_papers(engine, batch_size=1000):
            for p in batch:
                assert p.rowid is not None
                lib.save_paper(engine, owner.id, p.rowid, ["bench"])
    engine.dispose()
    with served_app(settings) as url, httpx.Client(base_url=url, timeout=300) as http:
        auth = {"Authorization": "Bearer ps_bench"}
        bib = b""
        rows = []
        for fmt in ("bibtex", "ris", "csljson"):
            times = []
            for run in range(args.runs + 1):
                t0 = time.perf_counter()
                r = http.get(f"/api/v1/library/export?format={fmt}", headers=auth)
                r.raise_for_status()
                if run:
                    times.append(time.perf_counter() - t0)
            bib = r.content if fmt == "bibtex" else bib
            count, size = int(r.headers["x-papers"]), len(r.content)
            print(f"{fmt:8s} {count} papers: median {statistics.median(times) * 1000:6.0f} ms, "
                  f"{size / 1e6:5.2f} MB ({size / count:.0f} B/paper)")
            rows.append({"format": fmt, "papers": count, "median_ms": round(statistics.median(times) * 1000),
                         "mb": round(size / 1e6, 2)})
        t0 = time.perf_counter()
        report = http.post("/api/v1/library/import", content=bib,
                           headers={"Authorization": "Bearer ps_importer"}).json()
        print(f"re-import of the BibTeX file: {time.perf_counter() - t0:.1f}s, matched {report['matched']}, "
              f"unmatched {len(report['unmatched'])}, failed blocks {report['failed_blocks']}")
        save_record("export_library", rows, title="Library export per format")


if __name__ == "__main__":
    main()
