"""Every router of the web app, in one ordered list.

The order is route priority: Starlette tries routes in order and the first whose path matches (and
whose method fits) answers. Where two routers' paths overlap, the more specific one must come first;
the comments say where that matters. Routers never install other routers.
"""

from __future__ import annotations

from fastapi import APIRouter

from paperscope.web.app_state import AppState
from paperscope.web.mcp_http import mcp_router
from paperscope.web.routes import (
    account_digest,
    accounts,
    alerts,
    atom,
    authors,
    collections_api,
    collections_pages,
    community,
    export,
    feed,
    field_map,
    groups,
    hf_api,
    library,
    membership,
    meta,
    papers,
    search,
    similar,
    submissions,
    subscriptions,
)


def routers(st: AppState) -> list[APIRouter]:
    """The app's routers, highest priority first."""
    return [
        mcp_router(st),  # /mcp: the tools for agents, ahead of everything so no catch-all answers for it
        library.router,  # saved papers, 👍/👎, "for you" (its /papers/{id}/save... are POSTs: no clash)
        similar.router,  # GET /api/papers/{id}/similar: before hf_api's /api/papers/{id:path} catch-all
        feed.router,
        search.router,
        # GET /papers/{id}.md (the paper as Markdown): before papers' /papers/{id:path} page, which would
        # otherwise take "2501.00001.md" for an id.
        hf_api.router,
        papers.router,
        atom.router,
        meta.router,
        subscriptions.router,  # digest subscriptions (the scheduler itself is mail/scheduler.py)
        accounts.router,
        community.router,
        submissions.router,  # papers submitted to today's feed
        export.router,  # library export for reference managers
        field_map.router,  # /map: the map of the field
        membership.router,  # invitations, email confirmation, secret feed URLs
        groups.router,  # shared reading lists: groups and collections
        collections_api.router,
        collections_pages.router,
        authors.router,  # author pages and feeds
        alerts.router,  # "Alert me": account-owned alerts, email and webhooks
        account_digest.router,  # the account's digest, with its "For you" section
    ]
