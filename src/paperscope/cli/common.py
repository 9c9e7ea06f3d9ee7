"""What every command shares: the settings from the context, an open store, progress display."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from paperscope.settings import Settings
from paperscope.store import open_database

# soft_wrap: plain (non-terminal) output must keep one record per line for logs and cron mail.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def settings_from(ctx: typer.Context) -> Settings:
    """The Settings the top-level callback built (env + global flags)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


# Stores the running command opened; `close_stores` disposes them when the command ends.
_opened: list[sa.Engine] = []


def open_store(settings: Settings) -> sa.Engine:
    """Open (and migrate) the configured database; it is closed when the command ends."""
    settings.ensure_home()
    engine = open_database(settings.db_url)
    _opened.append(engine)
    return engine


def close_stores() -> None:
    """Close every store the command opened: its connections end cleanly instead of being dropped
    whenever the garbage collector gets to them (in-process callers, such as tests, run many commands)."""
    while _opened:
        _opened.pop().dispose()


class Reporter:
    """A rich progress bar on a terminal; occasional plain lines otherwise (cron, CI, pipes)."""

    def __init__(self, description: str, total: float | None, unit: str = "") -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.interactive = console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None
        self._last_line = 0.0

    def __enter__(self) -> Reporter:
        if self.interactive:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, rate="")
        return self

    def update(self, completed: float, rate: str = "", note: str = "") -> None:
        """Move the bar to `completed`; in plain mode print a line at most every 5 seconds."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, rate=rate)
            return
        import time

        now = time.monotonic()
        if now - self._last_line >= 5:
            self._last_line = now
            total = f"/{self.total:.0f}" if self.total else ""
            console.print(f"{self.description}: {completed:.0f}{total} {self.unit} {rate} {note}".rstrip(),
                          highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn expected failures (bad ids, unreachable servers, bad files) into one clear line + exit 2."""
    try:
        yield
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        # Escaped: a message may hold brackets (`pip install 'paperscope[ray]'`) that are not markup.
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def existing_file(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    return path
