"""library, feedback: saved papers with tags, 👍/👎 per user, and a per-user change counter

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_items",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_library_items_paper", "library_items", ["paper"])
    op.create_table(
        "paper_feedback",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("value", sa.SmallInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "library_versions",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("library_versions")
    op.drop_table("paper_feedback")
    op.drop_index("ix_library_items_paper", table_name="library_items")
    op.drop_table("library_items")
