"""Collections as JSON (Hugging Face's collection shape) and what a paper page shows of them.

Kept apart from the routes so the paper page (routes/papers.py) can use it without an import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from markupsafe import escape

from paperscope.store import collections as collection_store
from paperscope.store.collections import Collection, Item
from paperscope.web import security
from paperscope.web.app_state import state


def hf_time(value: datetime) -> str:
    """A time as huggingface.co writes it (and huggingface_hub parses it): UTC, milliseconds, `Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item_json(item: Item) -> dict[str, Any]:
    """A collection item as huggingface.co answers it (`_id` is the item's own id, `id` the paper's)."""
    return {"_id": str(item.id), "id": item.paper_id, "type": "paper", "position": item.position,
            "note": {"text": item.note, "html": str(escape(item.note))} if item.note else None,
            "title": item.title, "upvotes": item.upvotes, "addedAt": hf_time(item.added_at)}


def collection_json(coll: Collection, items: list[Item], *, listed: bool = False) -> dict[str, Any]:
    """A collection as huggingface.co answers it, plus paperscope's `visibility`. In listings there is no
    `position` (the client numbers them itself and refuses a second one)."""
    data = {"slug": coll.slug, "title": coll.title, "description": coll.description or None,
            "owner": {"name": coll.owner, "fullname": coll.owner, "type": coll.owner_type},
            "items": [item_json(i) for i in items], "lastUpdated": hf_time(coll.updated_at),
            "position": 0, "private": coll.visibility != "public", "visibility": coll.visibility,
            "theme": "default", "upvotes": 0, "isUpvotedByUser": False, "url": f"/collections/{coll.slug}"}
    if listed:
        del data["position"]
    return data


def paper_collections(request: Request, paper_id: str) -> dict[str, Any]:
    """For a paper page: the collections the viewer may see that hold it ("in: Reading group W48"),
    and those the viewer may add it to."""
    engine = state(request).engine
    user = security.viewer(request)
    uid = user.id if user is not None and user.verified else None
    holding = collection_store.list_collections(engine, uid, paper_id=paper_id, limit=20)
    data: dict[str, Any] = {"in_collections": [{"slug": c.slug, "title": c.title, "owner": c.owner,
                                                "url": f"/collections/{c.slug}"} for c in holding]}
    if uid is not None:
        held = {c.id for c in holding}
        data["collect_into"] = [{"slug": c.slug, "title": c.title, "owner": c.owner}
                                for c in collection_store.list_collections(engine, uid, editable_by=uid)
                                if c.id not in held]
    return data
