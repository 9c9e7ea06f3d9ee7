"""Checkpoints for resumable jobs: a JSON value under a name, written in its own transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from paperscope.store.papers import utcnow
from paperscope.store.schema import job_state


def get_state(engine: sa.Engine, name: str) -> Any | None:
    """The saved value for `name`, or None."""
    with engine.connect() as conn:
        return conn.execute(sa.select(job_state.c.value).where(job_state.c.name == name)).scalar_one_or_none()


def set_state(engine: sa.Engine, name: str, value: Any) -> None:
    """Save `value` under `name`, replacing what was there."""
    with engine.begin() as conn:
        done = conn.execute(
            job_state.update().where(job_state.c.name == name).values(value=value, updated_at=utcnow())
        ).rowcount
        if not done:
            conn.execute(job_state.insert().values(name=name, value=value, updated_at=utcnow()))


def clear_state(engine: sa.Engine, name: str) -> None:
    """Forget the checkpoint `name`."""
    with engine.begin() as conn:
        conn.execute(job_state.delete().where(job_state.c.name == name))
