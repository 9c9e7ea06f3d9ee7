"""Benchmark: the web app under load (wrk, 50 connections) on the 74.7k-paper shared snapshot.

Loads the snapshot into a temp home (`paperscope ingest jsonl`), starts `paperscope serve` (uvicorn,
SQLite) and runs wrk against three pages:

- feed   — the daily feed, rotating over the 30 newest listing days (`/?date=...`)
- paper  — paper pages, rotating over 2,000 different papers (`/papers/<id>`)
- search — the search page in bm25 mode, rotating over 40 queries (`/search?q=...&mode=bm25`)

With the response cache on (the default) each page is measured twice in a row on a freshly started
server: "cold" (the cache starts empty, so the run includes every first render in every worker) and
"warm" (the same rotation again). With it off (`--cache-seconds 0`: every request queries the store
and renders) at 50 connections and at one (the service time of one request without queueing). The
load average before each run is printed: other work on the machine shows up directly in these figures.

`--baseline-src DIR` measures a second code version side by side, interleaved run by run: a server is
started from `DIR/src` as well (e.g. `git archive <rev> src | tar -x -C DIR`).

    .venv/bin/python benchmarks/web_load.py [--home DIR] [--workers 2] [--duration 10] [--connections 50]
        [--baseline-src DIR]

`--home DIR` reuses (and re-ingests, idempotently) a home; by default a temp home is created and removed.
Goal (feed and paper pages): p50 <= 20 ms, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
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


@dataclass
class WrkResult:
    variant: str
    page: str
    cache: str
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


def fetch_json(url: str) -> object:
    import json

    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def lua_rotation(paths: list[str], folder: Path, name: str) -> Path:
    """A wrk script that requests the paths in turn (each wrk thread keeps its own counter)."""
    body = ",\n".join('  "' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in paths)
    script = folder / f"{name}.lua"
    script.write_text(
        "local paths = {\n" + body + "\n}\nlocal i = math.random(#paths)\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
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
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
           "--latency", "-s", str(script), url]
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
    return WrkResult(
        variant=variant, page=page, cache=cache,
        p50_ms=_ms(p50.group(1)) if p50 else float("nan"),
        p99_ms=_ms(p99.group(1)) if p99 else float("nan"),
        rps=float(rps.group(1)) if rps else 0.0,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        errors=sum(int(x) for x in errors.groups()) if errors else 0,
        load1=load1,
        cpu_ms=cpu * 1000 / int(total.group(1)) if total and int(total.group(1)) else float("nan"),
    )


def serve(home: Path, port: int, workers: int, cache_seconds: float,
          src: Path | None) -> subprocess.Popen[bytes]:
    cmd = paperscope(home, "serve", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                     "--cache-seconds", str(cache_seconds))
    env = dict(os.environ)
    if src is not None:  # another code version: its package directory wins over the installed one
        env["PYTHONPATH"] = str(src / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=env)


def rotations(base: str) -> dict[str, list[str]]:
    """The paths each page rotates over (the 30 newest listing days, walking the feed's own "previous"
    links; up to 100 papers of each give the paper pages)."""
    days: list[str] = []
    ids: list[str] = []
    listing = fetch_json(base + "/?format=json&limit=100")
    while listing["period"] and len(days) < 30:  # type: ignore[index]
        days.append(listing["period"]["key"])  # type: ignore[index]
        ids += [p["id"] for p in listing["papers"]]  # type: ignore[index]
        if not listing["previous"]:  # type: ignore[index]
            break
        prev = listing["previous"]["key"]  # type: ignore[index]
        listing = fetch_json(base + f"/?date={prev}&format=json&limit=100")
    ids = ids[:2000]
    return {
        "feed (/?date=…, 30 days)": [f"/?date={d}" for d in days],
        f"paper (/papers/…, {len(ids)} papers)": [f"/papers/{i}" for i in ids],
        "search (/search?q=…&mode=bm25, 40 queries)":
            [f"/search?q={quote_plus(q)}&mode=bm25" for q in QUERIES],
    }


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--skip-ingest", action="store_true", help="the home is already loaded")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="a second code version (a directory holding src/paperscope) to measure side by side")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    own_home = args.home is None
    home = Path(tempfile.mkdtemp(prefix="paperscope-web-")) if own_home else args.home
    try:
        if not args.skip_ingest:
            if not args.file.exists():
                print(f"snapshot not found: {args.file}", file=sys.stderr)
                return 2
            t0 = time.perf_counter()
            subprocess.run(paperscope(home, "ingest", "jsonl", str(args.file)), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"ingested {args.file.name} in {time.perf_counter() - t0:.0f} s", flush=True)
        variants: list[tuple[str, Path | None]] = [("current", None)]
        if args.baseline_src is not None:
            variants.insert(0, ("baseline", args.baseline_src))
        results: list[WrkResult] = []

        def measure(server: tuple[str, subprocess.Popen[bytes]], paths: list[str], variant: str, page: str,
                    label: str, connections: int) -> None:
            script = lua_rotation(paths, scripts, f"s{len(results)}")
            r = run_wrk(server[0], script, variant, page, label, args.duration, connections, server[1].pid)
            results.append(r)
            print(f"{r.variant:9s} {r.page:45s} {r.cache:12s} p50 {r.p50_ms:7.1f} ms  "
                  f"p99 {r.p99_ms:7.1f} ms  {r.rps:8.0f} req/s  non-2xx {r.non_2xx}  "
                  f"socket errors {r.errors}  server CPU {r.cpu_ms:.2f} ms/req  load {r.load1:.1f}",
                  flush=True)

        with tempfile.TemporaryDirectory() as scripts_dir:
            scripts = Path(scripts_dir)
            for cache_seconds in (30.0, 0.0):
                # Every variant's server runs at once (idle ones cost nothing), so runs can alternate.
                procs: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
                try:
                    for name, src in variants:
                        port = free_port()
                        procs[name] = (f"http://127.0.0.1:{port}",
                                       serve(home, port, args.workers, cache_seconds, src))
                    for base, proc in procs.values():
                        wait_ready(base, proc)
                    # Paths come from the current version's feed (both read the same store).
                    pages = rotations(procs["current"][0])
                    for page, paths in pages.items():
                        if cache_seconds:
                            # cold, then warm: alternate the variants within each.
                            for label in ("on, cold", "on, warm"):
                                for name, server in procs.items():
                                    measure(server, paths, name, page, label, args.connections)
                        else:
                            for connections, label in ((args.connections, "off"), (1, "off, 1 conn")):
                                for name, server in procs.items():
                                    measure(server, paths, name, page, label, connections)
                finally:
                    for _, proc in procs.values():
                        stop(proc)
        print("\n| code | page | response cache | p50 | p99 | requests/s | server CPU/request | non-2xx "
              "| socket errors | load avg |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            print(f"| {r.variant} | {r.page} | {r.cache} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms "
                  f"| {r.rps:,.0f} | {r.cpu_ms:.2f} ms | {r.non_2xx} | {r.errors} | {r.load1:.1f} |")
        return 0
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
