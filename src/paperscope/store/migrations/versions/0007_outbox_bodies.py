"""mail outbox: message bodies in their own table

Revision ID: 0007
Revises: 0006

Every message's outbox row changes status three times while it is sent (claimed, transmitting, sent).
With the 25 KB body in the row, SQLite rewrote the body (its overflow pages) into the WAL each time,
and PostgreSQL wrote a new row version (the TOASTed body itself is shared, but the row is wide). The
body now lives in `mail_outbox_bodies`, keyed by the outbox id, written once and deleted once the
message is sent. Bodies of messages that were already sent are not carried over: nothing reads them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox_bodies",
        sa.Column("outbox", sa.Integer, sa.ForeignKey("mail_outbox.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )
    op.execute("INSERT INTO mail_outbox_bodies (outbox, raw) "
               "SELECT id, raw FROM mail_outbox WHERE status <> 'sent'")
    # A plain DROP COLUMN on both (SQLite >= 3.35 has it): the batch mode's copy-and-rename of
    # mail_outbox would, with foreign keys on, cascade the DROP TABLE into mail_sent_papers.
    op.execute("ALTER TABLE mail_outbox DROP COLUMN raw")


def downgrade() -> None:
    # Sent messages' bodies are gone; those rows get an empty body (the old column was NOT NULL).
    op.execute("ALTER TABLE mail_outbox ADD COLUMN raw BLOB" if op.get_bind().dialect.name == "sqlite"
               else "ALTER TABLE mail_outbox ADD COLUMN raw BYTEA")
    op.execute("UPDATE mail_outbox SET raw = (SELECT b.raw FROM mail_outbox_bodies b "
               "WHERE b.outbox = mail_outbox.id)")
    empty = "X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea"
    op.execute(f"UPDATE mail_outbox SET raw = {empty} WHERE raw IS NULL")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("ALTER TABLE mail_outbox ALTER COLUMN raw SET NOT NULL")
    op.drop_table("mail_outbox_bodies")
