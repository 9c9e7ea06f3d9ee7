"""Ray backfill vs the local path on the same papers, same run: throughput ratio and peak RSS of each tree.

    .venv/bin/python benchmarks/ray_embed.py [--workdir /tmp/paperscope-ray-bench] [--papers 2000]
        [--cpus 2] [--order local,ray]

Two SQLite homes get the same first --papers papers of the shared arXiv snapshot (and the same converted
int8 graph, so neither run pays the one-off conversion). Then, one after the other, as child processes:
`paperscope index` (the local path: one encoder, all cores) and `paperscope index --ray --ray-cpus N` (a
local Ray started by the command, one single-threaded encoder actor per CPU). For each: the embedding
rate the command reports (the Ray figure includes starting Ray and its actors), the command's wall time,
and the peak of the summed RSS of its whole process tree (driver, Ray's GCS, raylet, agents, workers;
sampled every 0.2 s). Both stores are then compared paper by paper (same batches: the same bytes).
The load average is printed with the figures: on a shared machine the ratio is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from paperscope.embed import load_encoder
from paperscope.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402

ARXIV = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
CLI = [sys.executable, "-m", "paperscope"]
EMBEDDED = re.compile(r"embedded ([\d,]+) papers.* in ([\d.]+)s \(([\d,.]+) papers/s\)")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_mb(root: int) -> float:
    """Summed VmRSS of `root` and every descendant, in MB."""
    tree, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def run_measured(cmd: list[str], env: dict[str, str]) -> dict[str, object]:
    """Run `cmd`; its wall time, peak tree RSS, load average and the embedding line it printed."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{output}")
    match = EMBEDDED.search(output)
    if match is None:
        raise SystemExit(f"no 'embedded ...' line in:\n{output}")
    return {"papers": int(match[1].replace(",", "")), "embed_s": float(match[2]),
            "papers_per_s": float(match[3].replace(",", "")), "wall_s": round(wall, 1),
            "peak_tree_rss_mb": round(peak), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def stored(home: Path) -> dict[str, tuple[bytes, bytes]]:
    engine = sa.create_engine(f"sqlite:///{home / 'paperscope.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT p.arxiv_id, e.pooled, e.tokens FROM paper_embeddings e "
                                    "JOIN papers p ON p.id = e.paper")).all()
    engine.dispose()
    return {r.arxiv_id: (bytes(r.pooled), bytes(r.tokens)) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperscope-ray-bench"))
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--order", default="local,ray", help="which run goes first")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    models = args.workdir / "model-home"
    load_encoder(Settings(home=models))  # the one-off int8 conversion, outside both timings
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    commands = {"local": ["index"], "ray": ["index", "--ray", "--ray-cpus", str(args.cpus)]}
    results: dict[str, object] = {}
    for name in args.order.split(","):
        home = args.workdir / name
        home.mkdir(parents=True)
        shutil.copytree(models / "models", home / "models")
        ingest = ["ingest", "jsonl", str(ARXIV), "--limit", str(args.papers)]
        subprocess.run([*CLI, "--home", str(home), *ingest], env=env, check=True, capture_output=True)
        subprocess.run([*CLI, "--home", str(home), "index", "--lexical-only"], env=env, check=True,
                       capture_output=True)
        results[name] = run_measured([*CLI, "--home", str(home), *commands[name]], env)
        print(name, json.dumps(results[name]), flush=True)
    local, ray = results["local"], results["ray"]
    assert isinstance(local, dict) and isinstance(ray, dict)
    a, b = stored(args.workdir / "local"), stored(args.workdir / "ray")
    summary = {
        "cpus": args.cpus, "machine_cores": os.cpu_count(), "papers": args.papers,
        "ray_over_local_throughput": round(ray["papers_per_s"] / local["papers_per_s"], 3),
        "ray_over_local_wall": round(ray["wall_s"] / local["wall_s"], 3),
        "identical_vectors": a == b, "papers_compared": len(a),
        "runs": results,
    }
    print(json.dumps(summary, indent=1))
    save_record("ray_embed", [
        {"path": name, **{k: v for k, v in run.items() if isinstance(v, int | float | str)}}
        for name, run in results.items() if isinstance(run, dict)
    ], title="Embedding backfill: a local Ray on the same cores beside the local path, same papers",
        variant=f"{args.papers} papers, {args.cpus} CPUs",
        notes=f"Ray / local throughput {summary['ray_over_local_throughput']}; identical vectors: "
              f"{summary['identical_vectors']}")
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
