"""Invitations: single-use, expiring tokens that let someone create an account (PAPERSCOPE_SIGNUP=invite).

Only the token's SHA-256 is stored. Spending an invitation and creating the account happen in one
transaction, and the spend is a conditional UPDATE (unused and unexpired), so two people racing with the
same link get one account between them, and a refused sign-up leaves the invitation unspent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from paperscope.store.schema import invitations, users
from paperscope.store.users import ROLES, User, insert_user, secret_hash


class InvitationRefused(ValueError):
    """The invitation is unknown, used, expired, or for another address; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Invitation:
    """An invitation as the admin page lists it."""

    id: int
    email: str | None
    role: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def create_invitation(engine: sa.Engine, token: str, *, email: str | None, role: str, created_by: int | None,
                      now: datetime, valid_for: timedelta) -> int:
    """Store an invitation for the secret `token` (hash only); returns its id."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with engine.begin() as conn:
        return int(conn.execute(invitations.insert().values(
            token_hash=secret_hash(token), email=email.lower() if email else None, role=role,
            created_by=created_by, created_at=now, expires_at=now + valid_for,
        ).returning(invitations.c.id)).scalar_one())


def check_invitation(engine: sa.Engine, token: str, now: datetime) -> Invitation:
    """The usable invitation behind `token`, else InvitationRefused (404 unknown, 410 used or expired)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(invitations).where(
            invitations.c.token_hash == secret_hash(token))).mappings().first()
    if row is None:
        raise InvitationRefused("this invitation link is not valid", 404)
    invitation = _invitation(row, {})
    if invitation.used_at is not None:
        raise InvitationRefused("this invitation has already been used; ask for a new one", 410)
    if invitation.expires_at <= now:
        raise InvitationRefused("this invitation has expired; ask for a new one", 410)
    return invitation


def accept_invitation(engine: sa.Engine, token: str, username: str, email: str, password_hash: str,
                      now: datetime) -> User:
    """Spend the invitation and create its account, both or neither (UserExists / InvitationRefused)."""
    invitation = check_invitation(engine, token, now)
    if invitation.email and invitation.email != email.lower():
        raise InvitationRefused(f"this invitation is for {invitation.email}", 403)
    with engine.begin() as conn:
        spent = conn.execute(invitations.update().where(
            invitations.c.id == invitation.id, invitations.c.used_at.is_(None),
            invitations.c.expires_at > now,
        ).values(used_at=now))
        if spent.rowcount != 1:  # another request spent it between the check and here
            raise InvitationRefused("this invitation has already been used; ask for a new one", 410)
        # The invitation names an address an administrator vouched for only when it carries one.
        user = insert_user(conn, username, email, password_hash, role=invitation.role, now=now,
                           verified=invitation.email is not None)
        conn.execute(invitations.update().where(invitations.c.id == invitation.id).values(used_by=user.id))
    return user


def revoke_invitation(engine: sa.Engine, invitation_id: int, now: datetime) -> bool:
    """Make an unused invitation unusable (it expires now); False when there is no such unused one."""
    with engine.begin() as conn:
        done = conn.execute(invitations.update().where(
            invitations.c.id == invitation_id, invitations.c.used_at.is_(None),
            invitations.c.expires_at > now,
        ).values(expires_at=now))
    return done.rowcount == 1


def list_invitations(engine: sa.Engine, limit: int = 200) -> list[Invitation]:
    """The newest invitations with who made and who used them."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(invitations).order_by(invitations.c.id.desc())
                            .limit(limit)).mappings().all()
        ids = {r["created_by"] for r in rows} | {r["used_by"] for r in rows}
        names = dict(conn.execute(sa.select(users.c.id, users.c.username)
                                  .where(users.c.id.in_([i for i in ids if i is not None]))).all())
    return [_invitation(r, names) for r in rows]


def _invitation(row: sa.RowMapping, names: dict[int, str]) -> Invitation:
    return Invitation(id=row["id"], email=row["email"], role=row["role"],
                      created_by=names.get(row["created_by"]) if row["created_by"] else None,
                      created_at=_aware(row["created_at"]) or datetime.now(UTC),
                      expires_at=_aware(row["expires_at"]) or datetime.now(UTC),
                      used_at=_aware(row["used_at"]),
                      used_by=names.get(row["used_by"]) if row["used_by"] else None)
