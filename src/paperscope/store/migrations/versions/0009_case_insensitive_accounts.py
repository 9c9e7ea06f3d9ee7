"""accounts unique regardless of case; subscription changes wait for their confirmation link

Revision ID: 0009
Revises: 0008

Usernames and addresses were unique only as typed, and the sign-up check ("is lower(name) taken?")
ran before the insert, so two concurrent sign-ups "Racer0" and "racer0" could both succeed and sign-in
as either name found whichever row came first. Unique indexes on lower(username) and lower(email) make
the database refuse the second one.

Existing duplicates are resolved before the index is built: the oldest account keeps the name or
address; a newer one is renamed to `<name>-<id>` (it can still sign in with its address) and a
newer duplicate address becomes `<address>.duplicate-<id>` (visibly undeliverable, so the operator can
sort it out; the account keeps its password and its name). Each change is logged.

`subscriptions.pending_change` holds a requested change to an existing subscription (frequency,
sections, per-section count) until the mailed confirmation link applies it: nobody can rewrite
someone else's digest by knowing their address.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _dedupe(conn: sa.Connection, column: str, width: int, rename: str) -> None:
    rows = conn.execute(sa.text(f"SELECT id, {column} FROM users ORDER BY id")).all()
    seen: set[str] = {str(value).lower() for _, value in rows}
    kept: set[str] = set()
    for user_id, value in rows:
        key = str(value).lower()
        if key not in kept:
            kept.add(key)
            continue
        suffix = rename.format(id=user_id)
        new = str(value)[: width - len(suffix)] + suffix
        while new.lower() in seen:
            suffix = "-" + suffix
            new = str(value)[: width - len(suffix)] + suffix
        seen.add(new.lower())
        conn.execute(sa.text(f"UPDATE users SET {column} = :new WHERE id = :id"), {"new": new, "id": user_id})
        log.warning("account %s: %s %r differs from an older account's only by case; now %r",
                    user_id, column, value, new)


def upgrade() -> None:
    conn = op.get_bind()
    _dedupe(conn, "username", 40, "-{id}")
    _dedupe(conn, "email", 320, ".duplicate-{id}")
    op.create_index("ix_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("ix_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.add_column("subscriptions", sa.Column("pending_change", sa.JSON))


def downgrade() -> None:
    op.drop_column("subscriptions", "pending_change")
    op.drop_index("ix_users_email_lower", table_name="users")
    op.drop_index("ix_users_username_lower", table_name="users")
