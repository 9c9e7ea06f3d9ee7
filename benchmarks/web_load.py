"""Benchmark: the web app under load (wrk, 50 connections) on the 74.7k-paper shared snapshot.

Loads the snapshot into a temp home (`paperscope ingest jsonl`) unless `--home` is given, brings the
BM25 index up to date (`paperscope index --lexical-only`, so bm25 search takes its fast path), starts
`paperscope serve` (uvicorn, SQLite, `--workers 2`) and runs wrk against:

- feed   — daily-feed pages: the 60 newest listing days in each sort, alone and filtered by each of the
           four biggest categories, and their weeks (~900 distinct pages)
- paper  — paper pages (`/papers/<id>`) of papers drawn at random from the whole store
- search — the search page (`/search?q=...`) in bm25 mode and, when the home has a vector index
           (`index/manifest.json`), in hybrid mode: the first words of random paper titles as queries

Rows, each on its own freshly started server per cache setting:

- "on, cold": the response cache is on and every request is for a page nobody asked for yet: wrk walks
  a list of distinct pages longer than a run gets through (each thread its own slice, so nothing
  repeats; a note is printed if a run wraps around). This is a cold cache's first pass.
- "on, warm": another set of pages, requested beforehand (untimed), then in rotation. Search pages are
  cached per worker (feed and paper pages are shared between workers), so they are requested four times
  beforehand; a worker that still has not seen a query renders it during the row (its p99).
- "off": `--cache-seconds 0`, every request queries the store and renders; "off, 1 conn" is the same
  with one connection: the service time of a request without queueing.

Every row reports p50/p99 latency, requests/s, the requests answered, the server's CPU time per request
(user + system of all its processes, from /proc: robust to other load on the machine) and the 1-minute
load average when the row started. `--baseline-src DIR` measures a second code version side by side,
row by row interleaved (e.g. `git archive <rev> src | tar -x -C DIR`); it serves a copy of the home,
so the two never share rendered pages (they would through /dev/shm). `--src DIR` runs "current" from
such a snapshot as well.

    .venv/bin/python benchmarks/web_load.py [--home DIR] [--skip-ingest] [--workers 2] [--duration 10]
        [--connections 50] [--baseline-src DIR] [--src DIR] [--pages feed paper search] [--no-off]

Goal (issue #4, feed and paper pages): p50 <= 20 ms, p99 <= 100 ms at 50 connections.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

from record import save_record

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
# The warm search rotation (cold rows use queries made from paper titles instead).
QUERIES = [
    "large language models", "diffusion", "graph neural networks",
    "reinforcement learning from human feedback", "retrieval augmented generation", "vision transformer",
    "protein structure", "quantum error correction", "federated learning privacy", "speech recognition",
    "dark matter", "black hole", "knowledge distillation", "mixture of experts", "contrastive learning",
    "time series forecasting", "autonomous driving", "robot grasping", "medical image segmentation",
    "code generation", "mathematical reasoning", "hallucination", "tokenizer", "sparse attention",
    "graph coloring", "topological insulator", "gravitational waves", "optimal transport",
    "bayesian optimization", "causal inference", "text to image", "video generation", "point cloud",
    "neural radiance fields", "gaussian splatting", "multilingual translation", "question answering",
    "adversarial robustness", "in-context learning", "chain of thought",
]
WRK_THREADS = 2


@dataclass
class WrkResult:
    variant: str
    page: str
    cache: str
    requests: int
    p50_ms: float
    p99_ms: float
    rps: float
    non_2xx: int
    errors: int
    load1: float  # the machine's 1-minute load average just before the run
    cpu_ms: float = float("nan")  # server CPU time (all its processes) per request: robust to other load


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds used so far by every process in a process group (Linux /proc)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp); fields[0] is field 3 (state)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def paperscope(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "paperscope", "--home", str(home), *args]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not become ready")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return bytes(r.read())


def fetch_json(url: str) -> object:
    return json.loads(fetch(url))


def lua_script(paths: list[str], folder: Path, name: str) -> Path:
    """A wrk script over `paths`: each thread walks its own slice in order (wrapping around at its end),
    so within one slice's length no page is asked for twice."""
    body = ",\n".join("  " + json.dumps(p) for p in paths)
    script = folder / f"{name}.lua"
    script.write_text(
        "local paths = {\n" + body + "\n}\n"
        f"local threads = {WRK_THREADS}\n"
        "local made = 0\n"
        "function setup(thread)\n  thread:set(\"tid\", made)\n  made = made + 1\nend\n"
        "function init(args)\n"
        "  lo = math.floor(tid * #paths / threads) + 1\n"
        "  hi = math.max(math.floor((tid + 1) * #paths / threads), lo)\n"
        "  i = lo - 1\nend\n"
        "function request()\n  i = i + 1\n  if i > hi then i = lo end\n"
        "  return wrk.format(\"GET\", paths[i])\nend\n")
    return script


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, variant: str, page: str, cache: str, duration: int,
            connections: int, pgid: int) -> WrkResult:
    # A 10 s timeout so slow answers count in the percentiles instead of vanishing as socket errors.
    cmd = ["wrk", f"-t{min(WRK_THREADS, connections)}", f"-c{connections}", f"-d{duration}s",
           "--timeout", "10s", "--latency", "-s", str(script), url]
    load1 = os.getloadavg()[0]
    cpu0 = group_cpu_seconds(pgid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = group_cpu_seconds(pgid) - cpu0
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n = int(total.group(1)) if total else 0
    return WrkResult(
        variant=variant, page=page, cache=cache, requests=n,
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        rps=float(rps.group(1)) if rps else 0.0,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        errors=sum(int(x) for x in errors.groups()) if errors else 0,
        load1=load1,
        cpu_ms=cpu * 1000 / n if n else float("nan"),
    )


def serve(home: Path, port: int, workers: int, cache_seconds: float, src: Path | None,
          log: Path) -> subprocess.Popen[bytes]:
    cmd = paperscope(home, "serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                     "--cache-seconds", str(cache_seconds))
    env = dict(os.environ)
    if src is not None:  # another code version: its package directory wins over the installed one
        env["PYTHONPATH"] = str(src / "src") + os.pathsep + env.get("PYTHONPATH", "")
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


@dataclass
class PageSet:
    """What one kind of page is measured on: distinct cold pages, and a warm rotation."""

    name: str
    cold: list[str]
    warm: list[str]


def _title_query(title: str) -> str:
    words = re.findall(r"[^\W\d_]{3,}", title.lower())
    return " ".join(words[:3])


def page_sets(base: str, home: Path, cold_papers: int, hybrid: bool, seed: int = 1) -> list[PageSet]:
    """The pages each row requests (paths come from the store the servers read)."""
    from paperscope.settings import Settings
    from paperscope.store import iter_papers, open_database

    rng = random.Random(seed)
    engine = open_database(Settings(home=home).db_url)
    ids: list[str] = []
    titles: list[str] = []
    for batch in iter_papers(engine, batch_size=5000):
        for p in batch:
            ids.append(p.paper_id)
            titles.append(p.title)
    engine.dispose()
    rng.shuffle(ids)
    rng.shuffle(titles)

    # Feed: the 60 newest listing days (walking the feed's own "previous" links) in every sort, alone
    # and filtered by each of the four biggest categories, and their weeks.
    days: list[str] = []
    listing: dict = fetch_json(base + "/?format=json&limit=1")  # type: ignore[assignment]
    while listing["period"] and len(days) < 60:
        days.append(listing["period"]["key"])
        if not listing["previous"]:
            break
        listing = fetch_json(base + f"/?date={listing['previous']['key']}&format=json&limit=1")  # type: ignore[assignment]
    top = [c["category"] for c in fetch_json(base + "/categories?format=json")["categories"][:4]]  # type: ignore[index]
    sorts = [("", "upvotes"), ("&sort=newest", "newest"), ("&sort=trending", "trending")]
    feed = [f"/?date={d}{s}" for d in days for s, _ in sorts]
    feed += [f"/?date={d}&category={c}{s}" for d in days for c in top for s, _ in sorts]
    weeks = sorted({fetch_json(base + f"/?date={d}&format=json&limit=1")["period"]["week"]  # type: ignore[index]
                    for d in days[::5]})
    feed += [f"/?week={w}{s}" for w in weeks for s, _ in sorts]
    rng.shuffle(feed)

    queries = list(dict.fromkeys(q for q in map(_title_query, titles[:3000]) if q.count(" ") == 2))
    queries = [q for q in queries if q not in QUERIES][:1500]
    sets = [
        PageSet("feed", feed[200:], feed[:200]),
        PageSet("paper", [f"/papers/{i}" for i in ids[2000:2000 + cold_papers]],
                [f"/papers/{i}" for i in ids[:2000]]),
        PageSet("search bm25", [f"/search?q={quote_plus(q)}&mode=bm25" for q in queries],
                [f"/search?q={quote_plus(q)}&mode=bm25" for q in QUERIES]),
    ]
    if hybrid:
        sets.append(PageSet("search hybrid", [f"/search?q={quote_plus(q)}&mode=hybrid" for q in queries],
                            [f"/search?q={quote_plus(q)}&mode=hybrid" for q in QUERIES]))
    return sets


def warm_up(base: str) -> None:
    """Load what each worker loads on first use (search indexes, the query encoder), so that rows measure
    pages, not start-up. Concurrent requests with distinct queries reach both workers."""
    paths = [f"/search?q=warmup+{i}+{mode}&mode={mode}" for i in range(8) for mode in ("bm25", "hybrid")]
    paths += [f"/?format=json&limit={i + 1}" for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: fetch(base + p), paths))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def table(results: list[WrkResult]) -> str:
    lines = ["| code | page | response cache | requests | p50 | p99 | requests/s | server CPU/request "
             "| non-2xx | socket errors | load avg |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r.variant} | {r.page} | {r.cache} | {r.requests:,} | {r.p50_ms:,.1f} ms "
                     f"| {r.p99_ms:,.1f} ms | {r.rps:,.0f} | {r.cpu_ms:.2f} ms | {r.non_2xx} | {r.errors} "
                     f"| {r.load1:.1f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--skip-ingest", action="store_true", help="the home is already loaded")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--cache-seconds", type=float, default=30.0, help="serve's --cache-seconds for 'on' rows")
    ap.add_argument("--cold-papers", type=int, default=20000, help="distinct paper pages for the cold row")
    ap.add_argument("--pages", nargs="+", default=["feed", "paper", "search"],
                    help="which pages to measure (feed, paper, search)")
    ap.add_argument("--no-off", action="store_true", help="skip the cache-off rows")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds to wait after the servers started")
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="a second code version (a directory holding src/paperscope) to measure side by side")
    ap.add_argument("--src", type=Path, default=None,
                    help="run 'current' from this directory's src/ too (e.g. a `git archive HEAD` snapshot, "
                         "so uncommitted edits in the checkout are not measured)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    own_home = args.home is None
    home = Path(tempfile.mkdtemp(prefix="paperscope-web-")) if own_home else args.home
    work = Path(tempfile.mkdtemp(prefix="paperscope-web-run-"))
    try:
        if not args.skip_ingest:
            if not args.file.exists():
                print(f"snapshot not found: {args.file}", file=sys.stderr)
                return 2
            t0 = time.perf_counter()
            subprocess.run(paperscope(home, "ingest", "jsonl", str(args.file)), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"ingested {args.file.name} in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        subprocess.run(paperscope(home, "index", "--lexical-only"), check=True, stdout=subprocess.DEVNULL)
        print(f"BM25 index up to date ({time.perf_counter() - t0:.0f} s)", flush=True)
        hybrid = (home / "index" / "manifest.json").exists()
        if not hybrid:
            print("no vector index in the home (index/manifest.json): hybrid search not measured", flush=True)
        variants: list[tuple[str, Path | None, Path]] = [("current", args.src, home)]
        if args.baseline_src is not None:
            # Its own copy of the home: same data, but a /dev/shm page folder of its own.
            other = work / "baseline-home"
            shutil.copytree(home, other, ignore=shutil.ignore_patterns("cache"))
            variants.insert(0, ("baseline", args.baseline_src, other))
        results: list[WrkResult] = []
        scripts = work

        def measure(server: tuple[str, subprocess.Popen[bytes]], paths: list[str], variant: str, page: str,
                    label: str, connections: int) -> None:
            script = lua_script(paths, scripts, f"s{len(results)}")
            r = run_wrk(server[0], script, variant, page, label, args.duration, connections, server[1].pid)
            results.append(r)
            print(f"{r.variant:9s} {r.page:14s} {r.cache:12s} {r.requests:7d} req  p50 {r.p50_ms:8.1f} ms  "
                  f"p99 {r.p99_ms:8.1f} ms  {r.rps:8.0f} req/s  non-2xx {r.non_2xx}  errors {r.errors}  "
                  f"server CPU {r.cpu_ms:.2f} ms/req  load {r.load1:.1f}", flush=True)

        def prime(base: str, paths: list[str], passes: int) -> None:
            # Untimed: every page of the warm rotation, so the warm row starts with all of them cached.
            # Search pages are cached per worker (only feed and paper pages are shared between workers),
            # and each request lands on either worker: several passes leave few pages uncached in one.
            with ThreadPoolExecutor(8) as pool:
                for _ in range(passes):
                    list(pool.map(lambda p: fetch(base + p), paths))

        settings = [(args.cache_seconds, "on")] + ([] if args.no_off else [(0.0, "off")])
        sets: list[PageSet] | None = None
        for cache_seconds, on_off in settings:
            # Every variant's server runs at once (idle ones cost nothing), so rows can alternate.
            procs: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
            try:
                for name, src, variant_home in variants:
                    port = free_port()
                    procs[name] = (f"http://127.0.0.1:{port}",
                                   serve(variant_home, port, args.workers, cache_seconds, src,
                                         work / f"serve-{name}.log"))
                for base, proc in procs.values():
                    wait_ready(base, proc)
                    warm_up(base)
                time.sleep(args.settle)  # let the start-up work (and copying the home) leave the load average
                if sets is None:
                    sets = page_sets(procs["current"][0], home, args.cold_papers, hybrid)
                    print("pages: " + ", ".join(f"{s.name} {len(s.cold)} cold / {len(s.warm)} warm"
                                                for s in sets), flush=True)
                for s in sets:
                    if s.name.split()[0] not in args.pages:
                        continue
                    if on_off == "on":
                        for name, server in procs.items():
                            measure(server, s.cold, name, s.name, "on, cold", args.connections)
                            if results[-1].requests > len(s.cold):
                                print(f"  (more requests than the {len(s.cold)} cold pages: some were "
                                      "answered from the cache)", flush=True)
                        for name, server in procs.items():
                            prime(server[0], s.warm, 1 if s.name in ("feed", "paper") else 4)
                            measure(server, s.warm, name, s.name, "on, warm", args.connections)
                    else:
                        for connections, label in ((args.connections, "off"), (1, "off, 1 conn")):
                            for name, server in procs.items():
                                measure(server, s.cold, name, s.name, label, connections)
            finally:
                for _, proc in procs.values():
                    stop(proc)
        print()
        print(table(results))
        save_record("web_load", [
            {"code": r.variant, "page": r.page, "response_cache": r.cache, "requests": r.requests,
             "p50_ms": round(r.p50_ms, 1), "p99_ms": round(r.p99_ms, 1), "requests_per_s": round(r.rps),
             "server_cpu_ms_per_request": round(r.cpu_ms, 2), "non_2xx": r.non_2xx,
             "socket_errors": r.errors, "load_avg": round(r.load1, 1)} for r in results],
            title="`paperscope serve` under wrk, one row per page kind and cache state.")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
