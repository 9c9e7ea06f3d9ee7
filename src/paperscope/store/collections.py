"""Collections of papers, owned by an account or a group, with a note and a position per item.

Visibility: `private` (the owning account; for a group, its members), `group` (for a group, its members;
for an account's collection, the members of any group the account is in) or `public` (anyone who may
read the site). Everything a viewer may not see is simply absent (callers answer 404, never 403).
A collection holds at most MAX_ITEMS papers; a bulk add that would pass it stores nothing.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.store.schema import collection_items, collections, group_members, groups, papers, users

VISIBILITIES = ("private", "group", "public")
MAX_ITEMS = 5000
MAX_NOTE = 500  # Hugging Face's limit too
MAX_TITLE = 200
MAX_DESCRIPTION = 2000


class CollectionProblem(ValueError):
    """A change that cannot be made; `status` is the HTTP answer, `slug` names a clashing collection."""

    def __init__(self, message: str, status: int = 400, slug: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug


@dataclass(frozen=True)
class Collection:
    id: int
    slug: str
    title: str
    description: str
    owner: str
    owner_type: str  # user | org (a group, as Hugging Face calls organisations)
    owner_user: int | None
    owner_group: int | None
    visibility: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Item:
    id: int
    paper_id: str
    title: str
    upvotes: int
    note: str
    position: int
    added_at: datetime


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def slugify(title: str) -> str:
    """`Reading group W48` -> `reading-group-w48` (ASCII, at most 60 characters)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-") or "collection"


def _my_groups(user_id: int) -> sa.Select[tuple[int]]:
    return sa.select(group_members.c.group_id).where(group_members.c.user_id == user_id)


def visible_to(user_id: int | None) -> sa.ColumnElement[bool]:
    """SQL: the collections `user_id` (None: anonymous) may see."""
    public = collections.c.visibility == "public"
    if user_id is None:
        return public
    fellow = sa.select(group_members.c.user_id).where(group_members.c.group_id.in_(_my_groups(user_id)))
    return sa.or_(public, collections.c.owner_user == user_id,
                  collections.c.owner_group.in_(_my_groups(user_id)),
                  sa.and_(collections.c.visibility == "group", collections.c.owner_user.in_(fellow)))


def _select() -> sa.Select[tuple[object, ...]]:
    return (sa.select(collections, sa.func.coalesce(users.c.username, groups.c.slug).label("owner_name"))
            .outerjoin(users, users.c.id == collections.c.owner_user)
            .outerjoin(groups, groups.c.id == collections.c.owner_group))


def _collection(row: sa.RowMapping) -> Collection:
    return Collection(id=row["id"], slug=row["slug"], title=row["title"], description=row["description"],
                      owner=row["owner_name"], owner_type="user" if row["owner_user"] else "org",
                      owner_user=row["owner_user"], owner_group=row["owner_group"],
                      visibility=row["visibility"], created_at=_aware(row["created_at"]),
                      updated_at=_aware(row["updated_at"]))


def _check_text(title: str, description: str) -> tuple[str, str]:
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise CollectionProblem(f"a collection needs a title of 1–{MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise CollectionProblem(f"descriptions are at most {MAX_DESCRIPTION} characters")
    return title, description.strip()


def create_collection(engine: sa.Engine, *, title: str, description: str, namespace: str,
                      owner_user: int | None, owner_group: int | None, visibility: str,
                      now: datetime) -> Collection:
    """A new, empty collection `<namespace>/<title-slug>-<random hex>`. 409 (with the existing slug)
    when the namespace already has a collection of that title."""
    if visibility not in VISIBILITIES:
        raise CollectionProblem(f"visibility must be one of {', '.join(VISIBILITIES)}")
    title, description = _check_text(title, description)
    stem = f"{namespace}/{slugify(title)}-"
    owner = (collections.c.owner_user == owner_user if owner_user is not None
             else collections.c.owner_group == owner_group)
    with engine.begin() as conn:
        for existing_slug, existing_title in conn.execute(
                sa.select(collections.c.slug, collections.c.title).where(owner)):
            if slugify(existing_title) == slugify(title):
                raise CollectionProblem(f"{namespace} already has a collection called {existing_title!r}",
                                        409, slug=existing_slug)
        new_id = conn.execute(collections.insert().values(
            slug=stem + secrets.token_hex(8), title=title, description=description, owner_user=owner_user,
            owner_group=owner_group, visibility=visibility, created_at=now, updated_at=now,
        ).returning(collections.c.id)).scalar_one()
        row = conn.execute(_select().where(collections.c.id == new_id)).mappings().one()
    return _collection(row)


def get_collection(engine: sa.Engine, slug: str, user_id: int | None) -> Collection | None:
    """The collection if `user_id` may see it."""
    with engine.connect() as conn:
        row = conn.execute(_select().where(collections.c.slug == slug[:200], visible_to(user_id))
                           ).mappings().first()
    return _collection(row) if row else None


def can_edit(engine: sa.Engine, coll: Collection, user_id: int) -> bool:
    """Whether the account may add, change and remove items (the owner, or any member of the group)."""
    if coll.owner_user is not None:
        return coll.owner_user == user_id
    with engine.connect() as conn:
        role = conn.execute(sa.select(group_members.c.role).where(
            group_members.c.group_id == coll.owner_group, group_members.c.user_id == user_id)).scalar()
    return role is not None


def can_manage(engine: sa.Engine, coll: Collection, user_id: int) -> bool:
    """Whether the account may rename, re-scope or delete it (the owner, or the group's owners)."""
    if coll.owner_user is not None:
        return coll.owner_user == user_id
    with engine.connect() as conn:
        role = conn.execute(sa.select(group_members.c.role).where(
            group_members.c.group_id == coll.owner_group, group_members.c.user_id == user_id)).scalar()
    return role == "owner"


def list_collections(engine: sa.Engine, user_id: int | None, *, owner: str | None = None,
                     paper_id: str | None = None, editable_by: int | None = None,
                     limit: int = 100) -> list[Collection]:
    """Visible collections, most recently changed first, optionally of one owner (username or group),
    holding one paper, or editable by one account."""
    stmt = _select().where(visible_to(user_id))
    if owner is not None:
        stmt = stmt.where(sa.func.coalesce(users.c.username, groups.c.slug) == owner)
    if paper_id is not None:
        holding = (sa.select(collection_items.c.collection)
                   .join(papers, papers.c.id == collection_items.c.paper)
                   .where(papers.c.paper_id == paper_id))
        stmt = stmt.where(collections.c.id.in_(holding))
    if editable_by is not None:
        stmt = stmt.where(sa.or_(collections.c.owner_user == editable_by,
                                 collections.c.owner_group.in_(_my_groups(editable_by))))
    stmt = stmt.order_by(collections.c.updated_at.desc(), collections.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [_collection(r) for r in conn.execute(stmt).mappings()]


def items_of(engine: sa.Engine, collection_ids: Sequence[int], per_collection: int | None = None
             ) -> dict[int, list[Item]]:
    """Each collection's items in position order (the first `per_collection` of each when given)."""
    if not collection_ids:
        return {}
    stmt = (sa.select(collection_items, papers.c.paper_id, papers.c.title,
                      (papers.c.hf_upvotes + papers.c.local_upvotes).label("upvotes"))
            .join(papers, papers.c.id == collection_items.c.paper)
            .where(collection_items.c.collection.in_(list(collection_ids)))
            .order_by(collection_items.c.collection, collection_items.c.position, collection_items.c.id))
    found: dict[int, list[Item]] = {cid: [] for cid in collection_ids}
    with engine.connect() as conn:
        for r in conn.execute(stmt).mappings():
            bucket = found[r["collection"]]
            if per_collection is None or len(bucket) < per_collection:
                bucket.append(Item(r["id"], r["paper_id"], r["title"], int(r["upvotes"] or 0), r["note"],
                                   r["position"], _aware(r["added_at"])))
    return found


def add_items(engine: sa.Engine, coll: Collection, paper_ids: Sequence[str], *, note: str, user_id: int,
              now: datetime, exists_ok: bool) -> int:
    """Append papers (by stored key) in one transaction: all or nothing. 404 for an unknown paper,
    409 for one already there (unless `exists_ok`: skipped), 413 past MAX_ITEMS. Returns how many."""
    if len(note) > MAX_NOTE:
        raise CollectionProblem(f"notes are at most {MAX_NOTE} characters")
    wanted = list(dict.fromkeys(paper_ids))
    if len(wanted) > MAX_ITEMS:
        raise CollectionProblem(f"a collection holds at most {MAX_ITEMS} papers; nothing was added", 413)
    with engine.begin() as conn:
        rowids: dict[str, int] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start:start + 900]
            rowids.update({k: int(i) for k, i in conn.execute(
                sa.select(papers.c.paper_id, papers.c.id).where(papers.c.paper_id.in_(chunk))).all()})
        missing = [k for k in wanted if k not in rowids]
        if missing:
            raise CollectionProblem(f"no paper {missing[0]!r} in this library"
                                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), 404)
        present = set(conn.execute(sa.select(collection_items.c.paper)
                                   .where(collection_items.c.collection == coll.id)).scalars())
        already = [k for k in wanted if rowids[k] in present]
        if already and not exists_ok:
            raise CollectionProblem(f"{already[0]} is already in this collection", 409)
        new = [k for k in wanted if rowids[k] not in present]
        if len(present) + len(new) > MAX_ITEMS:
            raise CollectionProblem(f"a collection holds at most {MAX_ITEMS} papers; this one has "
                                    f"{len(present)}, so nothing was added", 413)
        last = conn.execute(sa.select(sa.func.max(collection_items.c.position))
                            .where(collection_items.c.collection == coll.id)).scalar()
        first = -1 if last is None else int(last)
        if new:
            conn.execute(collection_items.insert(), [
                {"collection": coll.id, "paper": rowids[k], "note": note, "position": first + 1 + i,
                 "added_by": user_id, "added_at": now} for i, k in enumerate(new)])
        conn.execute(collections.update().where(collections.c.id == coll.id).values(updated_at=now))
    return len(new)


def update_item(engine: sa.Engine, coll: Collection, item_id: int, *, note: str | None, position: int | None,
                now: datetime) -> bool:
    """Change an item's note and/or move it to `position` (0 = first); False when it is not there."""
    if note is not None and len(note) > MAX_NOTE:
        raise CollectionProblem(f"notes are at most {MAX_NOTE} characters")
    with engine.begin() as conn:
        order = list(conn.execute(sa.select(collection_items.c.id)
                                  .where(collection_items.c.collection == coll.id)
                                  .order_by(collection_items.c.position, collection_items.c.id)).scalars())
        if item_id not in order:
            return False
        if note is not None:
            conn.execute(collection_items.update().where(collection_items.c.id == item_id).values(note=note))
        if position is not None:
            order.remove(item_id)
            order.insert(max(0, min(position, len(order))), item_id)
            for pos, iid in enumerate(order):
                conn.execute(collection_items.update().where(collection_items.c.id == iid)
                             .values(position=pos))
        conn.execute(collections.update().where(collections.c.id == coll.id).values(updated_at=now))
    return True


def delete_item(engine: sa.Engine, coll: Collection, item_id: int, now: datetime) -> bool:
    """Remove one item; False when it is not in this collection."""
    with engine.begin() as conn:
        done = conn.execute(collection_items.delete().where(collection_items.c.id == item_id,
                                                            collection_items.c.collection == coll.id))
        conn.execute(collections.update().where(collections.c.id == coll.id).values(updated_at=now))
    return done.rowcount == 1


def update_collection(engine: sa.Engine, coll: Collection, *, title: str | None, description: str | None,
                      visibility: str | None, now: datetime) -> None:
    """Rename, describe or re-scope a collection (its slug keeps its id part, like Hugging Face's)."""
    values: dict[str, object] = {"updated_at": now}
    new_title, new_description = _check_text(title if title is not None else coll.title,
                                              description if description is not None else coll.description)
    if title is not None:
        values["title"] = new_title
        values["slug"] = f"{coll.owner}/{slugify(new_title)}-{coll.slug.rsplit('-', 1)[-1]}"
    if description is not None:
        values["description"] = new_description
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise CollectionProblem(f"visibility must be one of {', '.join(VISIBILITIES)}")
        values["visibility"] = visibility
    with engine.begin() as conn:
        conn.execute(collections.update().where(collections.c.id == coll.id).values(**values))


def delete_collection(engine: sa.Engine, coll: Collection) -> None:
    """Delete a collection and its items."""
    with engine.begin() as conn:
        conn.execute(collection_items.delete().where(collection_items.c.collection == coll.id))
        conn.execute(collections.delete().where(collections.c.id == coll.id))
