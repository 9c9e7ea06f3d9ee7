"""full-text bulk loads: a larger FTS5 pending-data buffer on SQLite

Revision ID: 0006
Revises: 0005

FTS5 writes its in-memory pending index data out as a new segment whenever the buffer passes
'hashsize' (default 1 MB), and later merges those segments. A whole ingest batch of abstracts is
several MB, so with the default every batch became several small segments and extra merge work;
16 MB holds a batch, which measured about 8% less CPU for a first load (benchmarks/ingest.py).
It is a per-database setting stored in the FTS5 config table, so it holds for every connection.
The index contents are the same either way; PostgreSQL has nothing comparable to change.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HASHSIZE = 16 * 1024 * 1024
DEFAULT_HASHSIZE = 1024 * 1024


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO papers_fts(papers_fts, rank) VALUES ('hashsize', {HASHSIZE})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO papers_fts(papers_fts, rank) VALUES ('hashsize', {DEFAULT_HASHSIZE})")
