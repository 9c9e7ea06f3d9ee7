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
    # 0009: a requested change {"frequency", "sections", "per_section"} waiting for its mailed link.
    sa.Column("pending_change", sa.JSON),
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
    # 0011: an account acts (votes, comments, collections, alerts; reads a members-only instance) once
    # its address is confirmed; `feed_generation` is part of its secret Atom URLs (bumped to revoke them).
    sa.Column("email_verified_at", sa.DateTime(timezone=True)),
    sa.Column("feed_generation", sa.Integer, nullable=False, server_default="0"),
)
# 0009: names and addresses are unique whatever their case (a sign-up race created "Racer0" and
# "racer0"); the store looks accounts up by lower(...), which these indexes also serve.
sa.Index("ix_users_username_lower", sa.func.lower(users.c.username), unique=True)
sa.Index("ix_users_email_lower", sa.func.lower(users.c.email), unique=True)

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

# Embeddings (0008): the encoder's output is data. One row per model *and* storage spec (a changed model
# file, dimension, token reduction or pooling is another row, so vectors of two kinds never mix); `codec`
# holds what decodes the token codes (projection + int8 scales), fitted once by the first batch.
embedding_models = sa.Table(
    "embedding_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("spec_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("codec", sa.LargeBinary),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Each paper's vectors under one model: the pooled vector (float16) and the compressed token rows
# (int8, exactly as index/tokens.py keeps them). `seq` only grows (AUTOINCREMENT on SQLite, a sequence on
# PostgreSQL) and one embedder writes at a time, so "rows above the seq an index has seen" is exactly
# what that index lacks.
paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("model", sa.Integer, sa.ForeignKey("embedding_models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("pooled", sa.LargeBinary, nullable=False),
    sa.Column("tokens", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("model", "paper", name="uq_paper_embeddings_model_paper"),
    sqlite_autoincrement=True,
)
sa.Index("ix_paper_embeddings_model_seq", paper_embeddings.c.model, paper_embeddings.c.seq)
sa.Index("ix_paper_embeddings_paper", paper_embeddings.c.paper)
# 0011: single-use, expiring invitations (PAPERSCOPE_SIGNUP=invite); only the token's SHA-256 is kept.
invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("email", sa.String(320)),  # when set, only this address may accept it
    sa.Column("role", sa.String(16), nullable=False, server_default="user"),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("used_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
)

# 0011: groups of accounts (owner | member) and collections of papers owned by a user or a group.
groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Where the group's alerts go (Slack / Discord / Matrix / generic JSON), when it has one.
    sa.Column("webhook_url", sa.String(2000)),
    sa.Column("webhook_format", sa.String(16)),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # owner | member
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_group_members_user", group_members.c.user_id)

# `visibility`: private (the owner; for a group, its members), group (the owning group's members, or for a
# user's collection the members of any group the user belongs to), public (anyone who may read the site).
collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(200), nullable=False, unique=True),  # "<owner>/<title-slug>-<hex id>"
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("owner_user", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
    sa.Column("owner_group", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"), index=True),
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

collection_items = sa.Table(
    "collection_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("collection", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
    sa.Column("paper", sa.Integer, sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("added_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("collection", "paper", name="uq_collection_items_paper"),
)
sa.Index("ix_collection_items_paper", collection_items.c.paper)

# 0011: alerts an account set up ("Alert me" on an author, a search or a category). `last_rowid` is the
# highest paper row id already looked at: only papers above it can match. Deliveries go by email (the
# mail outbox) and/or to a webhook (the alert's own URL, or its group's).
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # author | search | category
    sa.Column("query", sa.String(500), nullable=False),
    sa.Column("email", sa.Boolean, nullable=False),
    sa.Column("webhook_url", sa.String(2000)),
    sa.Column("webhook_format", sa.String(16)),  # slack | discord | matrix | json
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="SET NULL")),
    sa.Column("last_rowid", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Every paper an alert has matched: at most one delivery per (alert, paper), whatever happens later.
alert_matches = sa.Table(
    "alert_matches",
    metadata,
    sa.Column("alert", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("paper_id", sa.String(96), primary_key=True),
    sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
)

# Webhook messages, with the mail outbox's states: queued -> sending -> sent, back to queued with
# exponential back-off after a refusal, failed after too many, uncertain when a sender died mid-request.
alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the JSON body, as sent
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claim", sa.String(64)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_alert_outbox_due", alert_outbox.c.status, alert_outbox.c.next_attempt_at)
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
