"""Groups of accounts: an owner (or several) and members. Group-owned collections belong to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.store.schema import group_members, groups, users

GROUP_ROLES = ("owner", "member")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class GroupProblem(ValueError):
    """A group change that cannot be made; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Group:
    """A group and, when read for a viewer, the viewer's role in it."""

    id: int
    slug: str
    name: str
    created_at: datetime
    role: str | None = None  # the viewer's: owner | member | None


@dataclass(frozen=True)
class Member:
    username: str
    role: str
    added_at: datetime


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def create_group(engine: sa.Engine, slug: str, name: str, owner_id: int, now: datetime) -> Group:
    """A new group with `owner_id` as its first owner. The slug shares a namespace with usernames
    (collections are addressed `<namespace>/<name>`), so it may not be an existing username."""
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise GroupProblem("group names in URLs are 2–63 lower-case letters, digits or '-'")
    name = name.strip()
    if not name or len(name) > 100:
        raise GroupProblem("a group needs a display name of at most 100 characters")
    with engine.begin() as conn:
        clash = conn.execute(sa.select(users.c.id).where(sa.func.lower(users.c.username) == slug)).first()
        taken = conn.execute(sa.select(groups.c.id).where(groups.c.slug == slug)).first()
        if clash is not None or taken is not None:
            raise GroupProblem(f"the name {slug!r} is taken", 409)
        try:
            group_id = int(conn.execute(groups.insert().values(slug=slug, name=name, created_at=now)
                                        .returning(groups.c.id)).scalar_one())
        except sa.exc.IntegrityError as exc:
            raise GroupProblem(f"the name {slug!r} is taken", 409) from exc
        conn.execute(group_members.insert().values(group_id=group_id, user_id=owner_id, role="owner",
                                                   added_at=now))
    return Group(group_id, slug, name, now, "owner")


def group_for(engine: sa.Engine, slug: str, user_id: int | None) -> Group | None:
    """The group with this slug as `user_id` sees it: None unless that account is a member
    (non-members are told nothing, not even that it exists)."""
    if user_id is None:
        return None
    stmt = (sa.select(groups, group_members.c.role)
            .join(group_members, group_members.c.group_id == groups.c.id)
            .where(groups.c.slug == slug.lower()[:64], group_members.c.user_id == user_id))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return Group(row["id"], row["slug"], row["name"], _aware(row["created_at"]), row["role"]) if row else None


def groups_of(engine: sa.Engine, user_id: int) -> list[Group]:
    """The account's groups with its role in each, by name."""
    stmt = (sa.select(groups, group_members.c.role)
            .join(group_members, group_members.c.group_id == groups.c.id)
            .where(group_members.c.user_id == user_id).order_by(groups.c.name))
    with engine.connect() as conn:
        return [Group(r["id"], r["slug"], r["name"], _aware(r["created_at"]), r["role"])
                for r in conn.execute(stmt).mappings()]


def members_of(engine: sa.Engine, group_id: int) -> list[Member]:
    """Who is in the group: owners first, then by name."""
    stmt = (sa.select(users.c.username, group_members.c.role, group_members.c.added_at)
            .join(users, users.c.id == group_members.c.user_id)
            .where(group_members.c.group_id == group_id)
            .order_by(group_members.c.role.desc(), users.c.username))
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [Member(r["username"], r["role"], _aware(r["added_at"])) for r in rows]


def add_member(engine: sa.Engine, group_id: int, user_id: int, role: str, now: datetime) -> None:
    """Add an account (or change its role)."""
    if role not in GROUP_ROLES:
        raise GroupProblem(f"role must be one of {', '.join(GROUP_ROLES)}")
    with engine.begin() as conn:
        done = conn.execute(group_members.update().where(
            group_members.c.group_id == group_id, group_members.c.user_id == user_id).values(role=role))
        if done.rowcount == 0:
            conn.execute(group_members.insert().values(group_id=group_id, user_id=user_id, role=role,
                                                       added_at=now))


def remove_member(engine: sa.Engine, group_id: int, user_id: int) -> bool:
    """Take an account out of the group; the last owner cannot leave (GroupProblem)."""
    with engine.begin() as conn:
        role = conn.execute(sa.select(group_members.c.role).where(
            group_members.c.group_id == group_id, group_members.c.user_id == user_id)).scalar()
        if role is None:
            return False
        if role == "owner":
            owners = conn.execute(sa.select(sa.func.count()).select_from(group_members).where(
                group_members.c.group_id == group_id, group_members.c.role == "owner")).scalar_one()
            if owners <= 1:
                raise GroupProblem("a group keeps at least one owner: make someone else owner first", 409)
        conn.execute(group_members.delete().where(group_members.c.group_id == group_id,
                                                  group_members.c.user_id == user_id))
    return True
