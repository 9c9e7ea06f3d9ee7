"""The first `paperscope serve` on a fresh home starts every worker: the signing key and the schema are
made once, before the workers, and every worker uses the same key."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from paperscope.settings import Settings
from tests.support.encoders import ConvertedModels
from tests.support.web_data import free_port


def _key_at_once(home: str, barrier: Any, keys: Any) -> None:
    barrier.wait()  # every process asks for the key at the same moment, as workers starting up do
    keys.put(Settings(home=Path(home)).signing_key())


@pytest.mark.slow
def test_processes_creating_the_key_at_once_all_get_the_same_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        home = tmp_path / f"home{round_}"
        home.mkdir()
        barrier, keys = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_key_at_once, args=(str(home), barrier, keys)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0] * 8  # none crashed
        got = {keys.get(timeout=5) for _ in procs}
        assert len(got) == 1 and len(got.pop()) > 40
        assert sorted(p.name for p in home.iterdir()) == ["secret_key"]  # no temp file left behind
        assert (home / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
@pytest.mark.serial
def test_first_serve_with_two_workers_starts_cleanly(tmp_path: Path,
                                                     converted_models: ConvertedModels) -> None:
    port = free_port()
    # No signing key and no store yet; only the model's one-off conversion (which the workers' index
    # threads would otherwise redo, each, while the test waits for them to stop) is already there.
    home = converted_models.seed_home(tmp_path / "home")
    env = {**os.environ, "PAPERSCOPE_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    env.pop("PAPERSCOPE_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "paperscope", "serve", "--workers", "2", "--port",
                                 str(port), "--log-level", "info"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 150
            ok = 0
            while time.monotonic() < deadline and ok < 6:
                try:
                    ok += httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
                except httpx.HTTPError:
                    time.sleep(0.5)
            assert ok == 6, log.read_text()
            # Both workers finished starting (uvicorn logs one line per worker).
            while time.monotonic() < deadline and log.read_text().count("Application startup complete") < 2:
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    text = log.read_text()
    assert text.count("Application startup complete") == 2, text
    assert "Traceback" not in text and "already exists" not in text, text
