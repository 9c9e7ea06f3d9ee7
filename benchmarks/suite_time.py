"""How long `make test`'s test run takes here: the whole suite at each worker count, side by side.

    .venv/bin/python benchmarks/suite_time.py [--workers 3,2] [--before REV] [--args "..."]

Runs `pytest -q -n N --dist loadgroup` (what `make test` runs, PostgreSQL required) once per worker count
from the repository root, one after the other, and records the wall time, the CPU time of everything the
run started and waited for, how busy the machine's cores were meanwhile (from /proc/stat: this includes
servers the suite starts that no process waits for, and anything else running on the machine), and the
passed/failed counts. Workers 0 runs the suite in one process. `--before REV` first runs the suite of
commit REV (a temporary git worktree, its own src/ first on the path) in one process, as `make test` did
before the suite ran in parallel, so before and after are measured in one run.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import save_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_suite(workers: int, extra: list[str], root: Path = ROOT,
              tree: str = "this tree") -> dict[str, object]:
    """One run of the suite in `root`; its figures as a row."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-n", str(workers), "--dist", "loadgroup", *extra]
    env = dict(os.environ, PAPERSCOPE_REQUIRE_PG="1",
               PYTHONPATH=os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, total0 = busy_jiffies()
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False).stdout
    wall = time.perf_counter() - start
    busy1, total1 = busy_jiffies()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", out)}
    return {"tree": tree, "workers": workers, "wall s": round(wall, 1),
            "CPU s (waited processes)": round(cpu, 1),
            "cores busy": f"{(busy1 - busy0) / max(total1 - total0, 1):.0%}",
            "passed": counts.get("passed", 0), "failed": counts.get("failed", 0) + counts.get("errors", 0)
            + counts.get("error", 0), "skipped": counts.get("skipped", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="3,2", help="worker counts, comma-separated (0: one process)")
    parser.add_argument("--args", default="", help="extra pytest arguments")
    parser.add_argument("--before", help="first run this commit's suite in one process")
    args = parser.parse_args()
    rows = []
    if args.before:
        with tempfile.TemporaryDirectory(prefix="suite-before-") as tmp:
            tree = Path(tmp) / "tree"
            # The tests find the shared data sets beside the repository (../shared): the same ones.
            shared = ROOT.parent / "shared"
            if shared.exists():
                (Path(tmp) / "shared").symlink_to(shared)
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.before], cwd=ROOT,
                           check=True, capture_output=True)
            try:
                rows.append(run_suite(0, shlex.split(args.args), tree, f"{args.before} (before)"))
                print(rows[-1], flush=True)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    for workers in (int(w) for w in args.workers.split(",")):
        rows.append(run_suite(workers, shlex.split(args.args)))
        print(rows[-1], flush=True)
    save_record("suite_time", rows, title="The test suite (make test's pytest run), by worker count",
                variant=f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
