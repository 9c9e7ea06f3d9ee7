"""embeddings in the store: embedding_models, paper_embeddings

Revision ID: 0008
Revises: 0007

The encoder's output was kept only in index files under one machine's home: losing them meant encoding
every paper again, and a second web server on the same PostgreSQL had no vectors. The store now holds
each paper's pooled vector and compressed token rows per model, and every index file is a cache rebuilt
from them without the model.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embedding_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("codec", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "paper_embeddings",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("model", sa.Integer, sa.ForeignKey("embedding_models.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pooled", sa.LargeBinary, nullable=False),
        sa.Column("tokens", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("model", "paper", name="uq_paper_embeddings_model_paper"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_paper_embeddings_model_seq", "paper_embeddings", ["model", "seq"])
    op.create_index("ix_paper_embeddings_paper", "paper_embeddings", ["paper"])


def downgrade() -> None:
    op.drop_table("paper_embeddings")
    op.drop_table("embedding_models")
