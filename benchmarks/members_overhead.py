"""Benchmark: server CPU per request with PAPERSCOPE_ACCESS=members against public, side by side.

Two `paperscope serve` processes (one worker each) read the same home; the same signed-in session
(a cookie made in the store) asks each for the same pages, alternating rounds, so both serve
uncached pages as a member (signed-in requests are never cached in either mode). The figure is the
servers' user + system CPU time per request from /proc (robust to other load on the machine); the
members gate's cost is the difference. Pages: paper pages (HTML), their JSON twins and the JSON API.

    .venv/bin/python benchmarks/members_overhead.py --home DIR [--requests 1500] [--rounds 3]

Goal (issue #17): members mode adds at most 0.2 ms of server CPU per request.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from web_load import free_port, group_cpu_seconds, serve, wait_ready

from paperscope.settings import Settings
from paperscope.store import iter_papers, open_database
from paperscope.store import users as user_store
from paperscope.web.passwords import password_hasher

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402

GOAL_MS = 0.2


def session_cookie(home: Path) -> str:
    """A session of a confirmed account `bench` (made once), valid for a day."""
    engine = open_database(Settings(home=home).db_url)
    user = user_store.find_user(engine, "bench") or user_store.create_user(
        engine, "bench", "bench@example.org", password_hasher().hash(secrets.token_hex(8)))
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    user_store.create_session(engine, user.id, token, now + timedelta(days=1), now)
    engine.dispose()
    return token


def paths(home: Path, n: int, seed: int = 5) -> list[str]:
    engine = open_database(Settings(home=home).db_url)
    ids = [p.paper_id for batch in iter_papers(engine, batch_size=5000) for p in batch]
    engine.dispose()
    rng = random.Random(seed)
    chosen = rng.sample(ids, n)
    kinds = ("/papers/{}", "/papers/{}?format=json", "/api/papers/{}")
    return [kinds[i % 3].format(pid) for i, pid in enumerate(chosen)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a loaded home (e.g. the digests benchmark's)")
    ap.add_argument("--requests", type=int, default=1500, help="per round and mode")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cookie = session_cookie(args.home)
    pages = paths(args.home, args.requests * args.rounds)
    servers = {}
    for mode in ("public", "members"):
        port = free_port()
        os.environ["PAPERSCOPE_ACCESS"] = mode
        log = args.home / f"members-overhead-{mode}.log"
        servers[mode] = (serve(args.home, port, 1, 30.0, None, log), f"http://127.0.0.1:{port}")
    os.environ.pop("PAPERSCOPE_ACCESS")
    try:
        for proc, base in servers.values():
            wait_ready(base, proc)
        results: dict[str, list[float]] = {"public": [], "members": []}
        with httpx.Client(cookies={"ps_session": cookie}, timeout=30) as client:
            for _, base in servers.values():  # warm up: imports, templates, first queries
                for path in pages[:50]:
                    client.get(base + path)
            for r in range(args.rounds):
                chunk = pages[r * args.requests:(r + 1) * args.requests]
                for mode in (("public", "members") if r % 2 == 0 else ("members", "public")):
                    proc, base = servers[mode]
                    before = group_cpu_seconds(proc.pid)
                    for path in chunk:
                        answer = client.get(base + path)
                        if answer.status_code != 200:
                            sys.exit(f"{mode} {path}: HTTP {answer.status_code}")
                    results[mode].append((group_cpu_seconds(proc.pid) - before) * 1000 / len(chunk))
                print(f"round {r + 1}: public {results['public'][-1]:.3f} ms, "
                      f"members {results['members'][-1]:.3f} ms CPU per request "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        for proc, _ in servers.values():
            os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(1)
    pub, mem = statistics.median(results["public"]), statistics.median(results["members"])
    print(f"median: public {pub:.3f} ms, members {mem:.3f} ms -> members adds {mem - pub:+.3f} ms "
          f"per request (goal <= {GOAL_MS} ms): {'PASS' if mem - pub <= GOAL_MS else 'ABOVE GOAL'}")
    save_record("members_overhead", [
        {"measure": "server CPU per request, public (median ms)", "value": round(pub, 3)},
        {"measure": "server CPU per request, members (median ms)", "value": round(mem, 3)},
        {"measure": "members mode adds (ms per request)", "value": round(mem - pub, 3)},
    ], title="PAPERSCOPE_ACCESS=members: server CPU per request beside public mode")


if __name__ == "__main__":
    main()
