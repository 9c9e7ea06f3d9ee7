"""Accounts, their sign-in sessions and API tokens, and the auth events rate limits count.

Only hashes of secrets are stored: argon2id for passwords (hashed by the caller), SHA-256 for session
cookies and bearer tokens (random 256-bit values, so a fast hash is enough and lookups stay indexed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.store.schema import api_tokens, auth_events, user_sessions, users

ROLES = ("user", "moderator", "admin")
STATUSES = ("active", "suspended")


class UserExists(ValueError):
    """The username or email address is taken."""


@dataclass(frozen=True)
class User:
    """An account as the web and CLI see it (never carries the password hash)."""

    id: int
    username: str
    email: str
    role: str
    status: str
    created_at: datetime
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        """Whether the account has confirmed its email address (it may act only then)."""
        return self.verified_at is not None

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "admin")

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class ApiToken:
    """A bearer token's metadata (the token itself is shown once, at creation, and never stored)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def secret_hash(secret: str) -> str:
    """SHA-256 hex of a session cookie or bearer token: what the store keeps instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _user(row: sa.RowMapping) -> User:
    return User(id=row["id"], username=row["username"], email=row["email"], role=row["role"],
                status=row["status"], created_at=_aware(row["created_at"]) or datetime.now(UTC),
                verified_at=_aware(row["email_verified_at"]))


_USER_COLUMNS = (users.c.id, users.c.username, users.c.email, users.c.role, users.c.status,
                 users.c.created_at, users.c.email_verified_at)


def create_user(engine: sa.Engine, username: str, email: str, password_hash: str, *, role: str = "user",
                now: datetime | None = None, verified: bool = True) -> User:
    """Insert an account; UserExists when the name or address (case-insensitively) is taken.

    `verified=False` (web sign-ups) leaves the address unconfirmed: the account may sign in but not act
    until `mark_verified`. Accounts an administrator makes are trusted as they are.
    """
    with engine.begin() as conn:
        return insert_user(conn, username, email, password_hash, role=role, now=now, verified=verified)


def insert_user(conn: sa.Connection, username: str, email: str, password_hash: str, *, role: str = "user",
                now: datetime | None = None, verified: bool = True) -> User:
    """`create_user` inside the caller's transaction (an invitation is spent in the same one)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    when = now or datetime.now(UTC)
    taken = conn.execute(sa.select(users.c.id).where(sa.or_(
        sa.func.lower(users.c.username) == username.lower(),
        sa.func.lower(users.c.email) == email.lower()))).first()
    if taken is not None:
        raise UserExists("that username or email address is already registered")
    try:
        new_id = conn.execute(users.insert().values(
            username=username, email=email.lower(), password_hash=password_hash, role=role,
            status="active", created_at=when, email_verified_at=when if verified else None,
        ).returning(users.c.id)).scalar_one()
    except sa.exc.IntegrityError as exc:  # a concurrent sign-up won the race (ix_users_*_lower)
        raise UserExists("that username or email address is already registered") from exc
    row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == new_id)).mappings().one()
    return _user(row)


def find_user(engine: sa.Engine, name_or_email: str) -> User | None:
    """The account with this username (any case) or email address."""
    key = name_or_email.strip().lower()
    stmt = sa.select(*_USER_COLUMNS).where(
        sa.or_(sa.func.lower(users.c.username) == key, sa.func.lower(users.c.email) == key))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return _user(row) if row else None


def get_user(engine: sa.Engine, user_id: int) -> User | None:
    """The account with this id."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id)).mappings().first()
    return _user(row) if row else None


def password_hash_of(engine: sa.Engine, user_id: int) -> str | None:
    """The stored argon2 hash, for verification only."""
    with engine.connect() as conn:
        return conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()


def set_password_hash(engine: sa.Engine, user_id: int, password_hash: str) -> None:
    """Replace the password hash and end every session of the account (a reset logs out everywhere)."""
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))
        conn.execute(user_sessions.delete().where(user_sessions.c.user_id == user_id))


def mark_verified(engine: sa.Engine, user_id: int, now: datetime | None = None) -> None:
    """Record that the account confirmed its address (idempotent: the first confirmation is kept)."""
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id, users.c.email_verified_at.is_(None))
                     .values(email_verified_at=now or datetime.now(UTC)))


def feed_generation(engine: sa.Engine, user_id: int) -> int | None:
    """The generation that the account's secret feed URLs are signed with (None: no such account)."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(users.c.feed_generation).where(users.c.id == user_id)).scalar()
    return None if value is None else int(value)


def bump_feed_generation(engine: sa.Engine, user_id: int) -> None:
    """Invalidate every secret feed URL of the account (new ones are signed with the next generation)."""
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id)
                     .values(feed_generation=users.c.feed_generation + 1))


def set_role(engine: sa.Engine, user_id: int, role: str) -> None:
    """Make an account a user, moderator or admin."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(role=role))


def set_status(engine: sa.Engine, user_id: int, status: str) -> None:
    """Suspend or reinstate an account; suspending ends its sessions (its tokens stop working too)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(status=status))
        if status == "suspended":
            conn.execute(user_sessions.delete().where(user_sessions.c.user_id == user_id))


# Sessions ---------------------------------------------------------------------------------------------

def create_session(engine: sa.Engine, user_id: int, token: str, expires_at: datetime,
                   now: datetime | None = None) -> None:
    """Record a new session for the cookie value `token` (only its hash is kept)."""
    with engine.begin() as conn:
        conn.execute(user_sessions.insert().values(
            token_hash=secret_hash(token), user_id=user_id, created_at=now or datetime.now(UTC),
            expires_at=expires_at))


def session_user(engine: sa.Engine, token: str, now: datetime | None = None) -> User | None:
    """The active account a session cookie belongs to, if the session exists and has not expired."""
    now = now or datetime.now(UTC)
    stmt = (sa.select(*_USER_COLUMNS, user_sessions.c.expires_at)
            .join(user_sessions, user_sessions.c.user_id == users.c.id)
            .where(user_sessions.c.token_hash == secret_hash(token)))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None or (_aware(row["expires_at"]) or now) <= now or row["status"] != "active":
        return None
    return _user(row)


def prune_sessions(engine: sa.Engine, now: datetime) -> int:
    """Delete expired sessions; returns how many went."""
    with engine.begin() as conn:
        return conn.execute(user_sessions.delete().where(user_sessions.c.expires_at <= now)).rowcount


def delete_session(engine: sa.Engine, token: str) -> None:
    """End one session (sign-out); harmless if it is already gone."""
    with engine.begin() as conn:
        conn.execute(user_sessions.delete().where(user_sessions.c.token_hash == secret_hash(token)))


# API tokens -------------------------------------------------------------------------------------------

def create_api_token(engine: sa.Engine, user_id: int, name: str, token: str) -> int:
    """Store the hash of a new bearer token; returns its id."""
    with engine.begin() as conn:
        return int(conn.execute(api_tokens.insert().values(
            user_id=user_id, name=name, token_hash=secret_hash(token), created_at=datetime.now(UTC),
        ).returning(api_tokens.c.id)).scalar_one())


def list_api_tokens(engine: sa.Engine, user_id: int) -> list[ApiToken]:
    """The account's tokens that are not revoked, newest first."""
    stmt = (sa.select(api_tokens).where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            .order_by(api_tokens.c.id.desc()))
    with engine.connect() as conn:
        return [ApiToken(r["id"], r["name"], _aware(r["created_at"]) or datetime.now(UTC),
                         _aware(r["last_used_at"]), _aware(r["revoked_at"]))
                for r in conn.execute(stmt).mappings()]


def revoke_api_token(engine: sa.Engine, user_id: int, token_id: int) -> bool:
    """Revoke one of the account's tokens; False when it has no such live token."""
    with engine.begin() as conn:
        done = conn.execute(api_tokens.update().where(
            api_tokens.c.id == token_id, api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None),
        ).values(revoked_at=datetime.now(UTC)))
    return done.rowcount == 1


def revoke_all_api_tokens(engine: sa.Engine, user_id: int) -> int:
    """Revoke every live token of the account (a password reset: whoever had the password may have
    minted tokens). Returns how many were revoked."""
    with engine.begin() as conn:
        return conn.execute(api_tokens.update().where(
            api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None),
        ).values(revoked_at=datetime.now(UTC))).rowcount


def token_user(engine: sa.Engine, token: str) -> User | None:
    """The active account a bearer token belongs to (None for unknown, revoked or suspended)."""
    digest = secret_hash(token)
    stmt = (sa.select(*_USER_COLUMNS, api_tokens.c.id.label("token_id"))
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)))
    with engine.begin() as conn:
        row = conn.execute(stmt).mappings().first()
        if row is None or row["status"] != "active":
            return None
        conn.execute(api_tokens.update().where(api_tokens.c.id == row["token_id"])
                     .values(last_used_at=datetime.now(UTC)))
    return _user(row)


# Auth events (rate limits) ----------------------------------------------------------------------------

def record_auth_event(engine: sa.Engine, kind: str, subject: str, at: datetime) -> None:
    """Remember one sign-in failure, sign-up or reset request for the rate limits."""
    with engine.begin() as conn:
        conn.execute(auth_events.insert().values(kind=kind, subject=subject[:400], at=at))


def recent_auth_events(engine: sa.Engine, kind: str, subject: str, since: datetime) -> list[datetime]:
    """When the events of this kind for this subject happened since `since`, oldest first."""
    stmt = (sa.select(auth_events.c.at)
            .where(auth_events.c.kind == kind, auth_events.c.subject == subject[:400],
                   auth_events.c.at >= since)
            .order_by(auth_events.c.at))
    with engine.connect() as conn:
        return [_aware(at) or since for at in conn.execute(stmt).scalars()]


def clear_auth_events(engine: sa.Engine, kind: str, subject: str) -> None:
    """Forget a subject's events (a successful sign-in clears its account's failures)."""
    with engine.begin() as conn:
        conn.execute(auth_events.delete().where(auth_events.c.kind == kind,
                                                auth_events.c.subject == subject[:400]))


def prune_auth_events(engine: sa.Engine, before: datetime) -> int:
    """Delete events older than any limit looks at; returns how many went."""
    with engine.begin() as conn:
        return conn.execute(auth_events.delete().where(auth_events.c.at < before)).rowcount


def list_users(engine: sa.Engine) -> list[User]:
    """All accounts, oldest first."""
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(sa.select(*_USER_COLUMNS).order_by(users.c.id)).mappings()]
