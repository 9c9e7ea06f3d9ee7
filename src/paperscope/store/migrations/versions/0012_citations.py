"""citations from OpenAlex: work ids, cited-by counts, references

Revision ID: 0012
Revises: 0011

`paperscope ingest citations` fills these; the paper page lists the prior works it cites and the later
works citing it that are papers of this store (joined through the OpenAlex work id).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openalex_works",
        sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("openalex_id", sa.String(32), nullable=False, unique=True),
        sa.Column("cited_by_count", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_openalex_works_cited_by", "openalex_works", ["cited_by_count"])
    op.create_table(
        "openalex_references",
        sa.Column("citing", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("cited", sa.String(32), primary_key=True),
    )
    op.create_index("ix_openalex_references_cited", "openalex_references", ["cited"])


def downgrade() -> None:
    op.drop_index("ix_openalex_references_cited", table_name="openalex_references")
    op.drop_table("openalex_references")
    op.drop_index("ix_openalex_works_cited_by", table_name="openalex_works")
    op.drop_table("openalex_works")
