"""a lab's own instance: verified accounts, invitations, groups, collections

Revision ID: 0011
Revises: 0009

Accounts that existed before this revision keep acting: their address counts as confirmed from the day
they were created (they were signed in at once under the old rules).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", _WHEN))
    op.add_column("users", sa.Column("feed_generation", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("email", sa.String(320)),
        sa.Column("role", sa.String(16), nullable=False, server_default="user"),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN),
        sa.Column("used_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("webhook_url", sa.String(2000)),
        sa.Column("webhook_format", sa.String(16)),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("added_at", _WHEN, nullable=False),
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(200), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("owner_user", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("owner_group", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE")),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_collections_owner_user", "collections", ["owner_user"])
    op.create_index("ix_collections_owner_group", "collections", ["owner_group"])
    op.create_table(
        "collection_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("collection", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("added_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("added_at", _WHEN, nullable=False),
        sa.UniqueConstraint("collection", "paper", name="uq_collection_items_paper"),
    )
    op.create_index("ix_collection_items_paper", "collection_items", ["paper"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("email", sa.Boolean, nullable=False),
        sa.Column("webhook_url", sa.String(2000)),
        sa.Column("webhook_format", sa.String(16)),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="SET NULL")),
        sa.Column("last_rowid", sa.Integer, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_alerts_user_id", "alerts", ["user_id"])
    op.create_table(
        "alert_matches",
        sa.Column("alert", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("paper_id", sa.String(96), primary_key=True),
        sa.Column("matched_at", _WHEN, nullable=False),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _WHEN, nullable=False),
        sa.Column("claim", sa.String(64)),
        sa.Column("sent_at", _WHEN),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_alert_outbox_alert", "alert_outbox", ["alert"])
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("alert_matches")
    op.drop_table("alerts")
    op.drop_table("collection_items")
    op.drop_table("collections")
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("invitations")
    op.drop_column("users", "feed_generation")
    op.drop_column("users", "email_verified_at")
