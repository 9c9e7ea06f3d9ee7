"""papers, their categories, job checkpoints

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("paper_id", sa.String(96), nullable=False, unique=True),
        sa.Column("arxiv_id", sa.String(64), index=True),
        sa.Column("version", sa.Integer),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False, server_default=""),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("primary_category", sa.String(64), index=True),
        sa.Column("published", sa.Date),
        sa.Column("updated", sa.Date),
        sa.Column("listed", sa.Date, index=True),
        sa.Column("doi", sa.String(255), index=True),
        sa.Column("journal_ref", sa.Text),
        sa.Column("comments", sa.Text),
        sa.Column("license", sa.String(255)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hf_upvotes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hf_submitted_at", sa.DateTime(timezone=True)),
        sa.Column("hf_submitted_by", sa.String(255)),
        sa.Column("github_repo", sa.String(512)),
        sa.Column("github_stars", sa.Integer),
        sa.Column("project_page", sa.String(1024)),
        sa.Column("hf_keywords", sa.JSON),
        sa.Column("hf_summary", sa.Text),
    )
    op.create_table(
        "paper_categories",
        sa.Column("category", sa.String(64), primary_key=True),
        sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_paper_categories_paper", "paper_categories", ["paper"])
    op.create_table(
        "job_state",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_state")
    op.drop_table("paper_categories")
    op.drop_table("papers")
