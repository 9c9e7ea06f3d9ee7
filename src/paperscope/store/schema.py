"""SQLAlchemy Core tables: the store's one description of its shape (migrations create it)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

papers = sa.Table(
    "papers",
    metadata,
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
    # Community (0004): local upvotes add to hf_upvotes in displayed counts; `community_trend` is the
    # log2 of time-decayed local votes and submissions (see feed/trending.py); moderators hide papers.
    sa.Column("local_upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("community_trend", sa.Float, index=True),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
)

# One row per (paper, category) so category listings use an index instead of scanning JSON.
paper_categories = sa.Table(
    "paper_categories",
    metadata,
    sa.Column("category", sa.String(64), primary_key=True),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)
sa.Index("ix_paper_categories_paper", paper_categories.c.paper)

# Checkpoints of resumable jobs (OAI-PMH harvests, index builds): a name and a JSON value.
job_state = sa.Table(
    "job_state",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Digest subscribers. `user_id` is the seam for accounts (no foreign key until a users table exists);
# `sections` is JSON: {"trending": bool, "categories": [...], "searches": [{"query": ..., "filters": {...}}]}.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, index=True),
    sa.Column("frequency", sa.String(16), nullable=False),  # daily | weekly
    sa.Column("sections", sa.JSON, nullable=False),
    sa.Column("per_section", sa.Integer, nullable=False, server_default="5"),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # pending | active | unsubscribed
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("unsubscribed_at", sa.DateTime(timezone=True)),
)

# Composed messages waiting to be (or already) sent; one row per (subscriber, kind, digest period).
mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscription", sa.Integer, sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # digest | confirm
    sa.Column("digest_key", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    # queued | sending | transmitting | sent | failed | uncertain
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claim", sa.String(64)),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("subscription", "kind", "digest_key", name="uq_mail_outbox_digest"),
)
sa.Index("ix_mail_outbox_due", mail_outbox.c.status, mail_outbox.c.next_attempt_at)
sa.Index("ix_mail_outbox_claim", mail_outbox.c.claim)

# The message itself (0007), apart from its outbox row: the row's status changes three times per message
# (claimed, transmitting, sent), and with a 25 KB body inside it every change rewrote the whole body.
# A body is deleted once its message is sent; failed and uncertain ones keep theirs for inspection.
mail_outbox_bodies = sa.Table(
    "mail_outbox_bodies",
    metadata,
    sa.Column("outbox", sa.Integer, sa.ForeignKey("mail_outbox.id", ondelete="CASCADE"), primary_key=True,
              autoincrement=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)

# Every paper a subscriber has been sent (or has queued): no paper reaches a subscriber twice.
mail_sent_papers = sa.Table(
    "mail_sent_papers",
    metadata,
    sa.Column("subscription", sa.Integer, sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("paper_id", sa.String(96), primary_key=True),
    sa.Column("outbox", sa.Integer, sa.ForeignKey("mail_outbox.id", ondelete="CASCADE"),
              nullable=False, index=True),
)

# Community (0004): accounts, their sessions and API tokens (only hashes are stored), sign-in/sign-up
# events for rate limits, one vote per (user, paper), submissions to a day's feed, and comments.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(40), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id
    sa.Column("role", sa.String(16), nullable=False, server_default="user"),  # user | moderator | admin
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),  # active | suspended
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the cookie value
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 of the bearer token
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

auth_events = sa.Table(
    "auth_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # signin-fail-account | signin-fail-ip | signup-ip
    sa.Column("subject", sa.String(400), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_auth_events_lookup", auth_events.c.kind, auth_events.c.subject, auth_events.c.at)

paper_votes = sa.Table(
    "paper_votes",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_paper_votes_paper", paper_votes.c.paper)

paper_submissions = sa.Table(
    "paper_submissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True),
    sa.Column("previous_listed", sa.Date),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("paper", "day", name="uq_paper_submissions_day"),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("body", sa.Text, nullable=False),  # Markdown as written; rendered and sanitised on display
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("edited_at", sa.DateTime(timezone=True)),
    sa.Column("removed_at", sa.DateTime(timezone=True)),
    sa.Column("removed_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
)
sa.Index("ix_comments_paper", comments.c.paper, comments.c.created_at)

# A user's saved papers ("library"), each with free-form tags; `source` is manual | bibtex.
library_items = sa.Table(
    "library_items",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_library_items_paper", library_items.c.paper)

# 👍 (+1) / 👎 (-1) a user gave a paper from any list; feeds the personal "for you" model.
paper_feedback = sa.Table(
    "paper_feedback",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("value", sa.SmallInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Bumped on every library/feedback change of a user: the key under which the trained model is cached.
library_versions = sa.Table(
    "library_versions",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

# Citation data from OpenAlex (`paperscope ingest citations`): each paper's OpenAlex work id and cited-by
# count, and the works it references (OpenAlex ids; those that are papers here join through the id).
openalex_works = sa.Table(
    "openalex_works",
    metadata,
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True,
              autoincrement=False),
    sa.Column("openalex_id", sa.String(32), nullable=False, unique=True),
    sa.Column("cited_by_count", sa.Integer, nullable=False),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_openalex_works_cited_by", openalex_works.c.cited_by_count)

openalex_references = sa.Table(
    "openalex_references",
    metadata,
    sa.Column("citing", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("cited", sa.String(32), primary_key=True),  # an OpenAlex work id (W...)
)
sa.Index("ix_openalex_references_cited", openalex_references.c.cited)
