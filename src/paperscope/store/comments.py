"""Comments on papers: Markdown as written by their author; removal by moderators is a soft delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.store.schema import comments, users


@dataclass(frozen=True)
class Comment:
    """One comment with its author's name."""

    id: int
    paper_rowid: int
    user_id: int
    username: str
    body: str
    created_at: datetime
    edited_at: datetime | None
    removed: bool


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _select() -> sa.Select:
    return (sa.select(comments, users.c.username)
            .select_from(comments.join(users, users.c.id == comments.c.user_id)))


def _comment(row: sa.RowMapping) -> Comment:
    return Comment(id=row["id"], paper_rowid=row["paper"], user_id=row["user_id"], username=row["username"],
                   body=row["body"], created_at=_aware(row["created_at"]) or datetime.now(UTC),
                   edited_at=_aware(row["edited_at"]), removed=row["removed_at"] is not None)


def add_comment(engine: sa.Engine, rowid: int, user_id: int, body: str, now: datetime) -> Comment:
    """Store a new comment and return it."""
    with engine.begin() as conn:
        new_id = conn.execute(comments.insert().values(
            paper=rowid, user_id=user_id, body=body, created_at=now).returning(comments.c.id)).scalar_one()
        row = conn.execute(_select().where(comments.c.id == new_id)).mappings().one()
    return _comment(row)


def get_comment(engine: sa.Engine, comment_id: int) -> Comment | None:
    """One comment (removed ones too)."""
    with engine.connect() as conn:
        row = conn.execute(_select().where(comments.c.id == comment_id)).mappings().first()
    return _comment(row) if row else None


def paper_comments(engine: sa.Engine, rowid: int, *, include_removed: bool = False) -> list[Comment]:
    """A paper's comments, oldest first."""
    stmt = _select().where(comments.c.paper == rowid).order_by(comments.c.created_at, comments.c.id)
    if not include_removed:
        stmt = stmt.where(comments.c.removed_at.is_(None))
    with engine.connect() as conn:
        return [_comment(r) for r in conn.execute(stmt).mappings()]


def edit_comment(engine: sa.Engine, comment_id: int, user_id: int, body: str, now: datetime,
                 editable_since: datetime) -> bool:
    """Replace the text of the user's own comment if written after `editable_since`; False otherwise.

    The author and time checks are part of the UPDATE, so a check-then-write race cannot slip through.
    """
    with engine.begin() as conn:
        done = conn.execute(comments.update().where(
            comments.c.id == comment_id, comments.c.user_id == user_id, comments.c.removed_at.is_(None),
            comments.c.created_at >= editable_since).values(body=body, edited_at=now))
    return done.rowcount == 1


def remove_comment(engine: sa.Engine, comment_id: int, moderator_id: int, now: datetime) -> bool:
    """Remove a comment from view (kept for the record); False when there is no such visible comment."""
    with engine.begin() as conn:
        done = conn.execute(comments.update().where(
            comments.c.id == comment_id, comments.c.removed_at.is_(None)).values(
            removed_at=now, removed_by=moderator_id))
    return done.rowcount == 1


def comment_counts(engine: sa.Engine, rowids: list[int]) -> dict[int, int]:
    """Visible comments per paper."""
    if not rowids:
        return {}
    stmt = (sa.select(comments.c.paper, sa.func.count()).where(
        comments.c.paper.in_(rowids), comments.c.removed_at.is_(None)).group_by(comments.c.paper))
    with engine.connect() as conn:
        return {int(p): int(n) for p, n in conn.execute(stmt)}
