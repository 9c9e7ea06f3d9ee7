"""The browser the tests drive: Debian's Chromium, headless, through Playwright with `executable_path`.

Debian's headless shell (`chromium-headless-shell`: the same Blink and V8 as `chromium`, without the
desktop browser around them, and what Playwright itself runs for headless Chromium) when it is installed:
the walk-through takes about two thirds of the CPU it takes in the full browser. Else `/usr/bin/chromium`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = (Path("/usr/bin/chromium-headless-shell"), Path("/usr/bin/chromium"))
CHROMIUM: Path | None = next((path for path in CANDIDATES if path.exists()), None)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install chromium-headless-shell, or chromium)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright sync `Browser`), closed when the block ends."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (pip install .[dev])")
    if CHROMIUM is None:
        pytest.skip("needs Chromium (apt-get install chromium-headless-shell, or chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
