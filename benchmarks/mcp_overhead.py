"""What the MCP wrapper costs: the `search` tool at `/mcp` against `/api/search`, same server, same run.

    .venv/bin/python benchmarks/mcp_overhead.py [--papers 1000] [--queries 60] [--workdir DIR]

Stores and indexes the first --papers papers of the shared arXiv snapshot (kept in --workdir and reused),
serves the real app with uvicorn on 127.0.0.1 (response cache off, so both paths search every time),
then asks --queries titles of later papers through both paths, interleaved query by query, each
query once as a warm-up. The MCP client keeps one connection (as an agent does); `/api/search` is
called with one kept-alive httpx client. Both ask hybrid mode, 10 results.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import httpx  # noqa: E402
from mcp import Client  # noqa: E402

from paperscope.embed import load_encoder  # noqa: E402
from paperscope.index.build import build_index  # noqa: E402
from paperscope.search.metrics import percentile  # noqa: E402
from paperscope.sources.jsonl import JsonlSource  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402
from snapshot_app import ARXIV, served_app, snapshot_store  # noqa: E402


async def measure(url: str, queries: list[str]) -> tuple[list[float], list[float]]:
    api_ms: list[float] = []
    mcp_ms: list[float] = []
    async with Client(url + "/mcp") as client, httpx.AsyncClient(base_url=url, timeout=60) as http:
        for i, q in enumerate(queries * 2):
            t0 = time.perf_counter()
            r = await http.get("/api/search", params={"q": q, "limit": 10})
            t1 = time.perf_counter()
            result = await client.call_tool("search", {"query": q, "limit": 10})
            t2 = time.perf_counter()
            assert r.status_code == 200 and not result.is_error, (r.text[:200], result.content)
            if i >= len(queries):  # the first pass warms both paths up
                api_ms.append((t1 - t0) * 1000)
                mcp_ms.append((t2 - t1) * 1000)
    return api_ms, mcp_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-bench-mcp"))
    args = parser.parse_args()
    settings, engine = snapshot_store(args.workdir, args.papers)
    build_index(engine, settings.index_dir, load_encoder(settings))
    engine.dispose()
    queries = [p.title for p in itertools.islice(JsonlSource(ARXIV), args.papers, args.papers + args.queries)]
    with served_app(settings) as url:
        api_ms, mcp_ms = asyncio.run(measure(url, queries))
    print(f"papers={args.papers} queries={len(api_ms)} (hybrid, k=10)")
    for name, values in (("/api/search", api_ms), ("/mcp search", mcp_ms)):
        print(f"{name:12s} p50 {percentile(values, 50):7.1f} ms  p90 {percentile(values, 90):7.1f} ms")
    diffs = sorted(m - a for a, m in zip(api_ms, mcp_ms, strict=True))
    print(f"per-query difference (mcp - api) median {percentile(diffs, 50):+.1f} ms")
    save_record("mcp_overhead", [
        {"measure": "/api/search p50 ms", "value": round(percentile(api_ms, 50), 1)},
        {"measure": "/mcp search tool p50 ms", "value": round(percentile(mcp_ms, 50), 1)},
        {"measure": "per-query difference, median ms", "value": round(percentile(diffs, 50), 1)},
    ], title="MCP search tool beside /api/search, same queries, same run")


if __name__ == "__main__":
    main()
