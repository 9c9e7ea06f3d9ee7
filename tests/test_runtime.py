"""Every way paperscope starts gets the same process-wide setup and settings: the `paperscope` command
and `uvicorn --factory paperscope.web.asgi:app_from_env` (multi-worker serving, process managers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import paperscope
from paperscope.web.app_state import app_state

ROOT = Path(__file__).resolve().parents[1]
BLAS_THREADS = ("import numpy\nfrom threadpoolctl import threadpool_info\n"
                "print(max(i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas'))")


def blas_threads_after(entry_import: str) -> int:
    """OpenBLAS's thread count in a fresh process that imports `entry_import` first, then numpy."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", f"{entry_import}\n{BLAS_THREADS}"], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return int(out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS runs one thread anyway")
def test_blas_is_single_threaded_however_paperscope_starts() -> None:
    # Spin-waiting BLAS threads made 3 ms queries take 128 ms on a busy machine; the ASGI factory used
    # to miss the setting the command line made.
    assert blas_threads_after("pass") > 1  # what numpy does left alone, on this machine
    assert blas_threads_after("import paperscope.web.asgi") == 1
    assert blas_threads_after("import paperscope.cli") == 1


def test_the_asgi_factory_reads_its_web_settings_like_every_other(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from paperscope.web.asgi import app_from_env

    monkeypatch.setenv("PAPERSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PAPERSCOPE_DATABASE_URL", raising=False)
    monkeypatch.setenv("PAPERSCOPE_WEB_CACHE_SECONDS", "0")
    monkeypatch.setenv("PAPERSCOPE_WEB_THREADS", "7")
    st = app_state(app_from_env())
    try:
        assert st.route_threads == 7
        assert st.response_cache.ttl == 0 and st.response_cache.shared is None  # no page cache at all
        assert st.settings.user_agent.startswith(f"paperscope/{paperscope.__version__} ")
    finally:
        st.store_version.close()
        st.engine.dispose()


def test_the_version_is_written_once() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'attr = "paperscope.__version__"' in pyproject
    # No other copy of it in the code: everything that names the version imports it.
    copies = [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "paperscope").rglob("*.py")
              if f'"{paperscope.__version__}"' in p.read_text(encoding="utf-8")]
    assert copies == ["src/paperscope/__init__.py"]
