"""Alembic environment: runs on the connection paperscope hands it (see store.db.upgrade)."""

from alembic import context

from paperscope.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the alembic CLI without paperscope gets here
    raise RuntimeError("run migrations through `paperscope db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
