"""The community part of pages: comments rendered safely, and what a paper page adds for the viewer.

Kept apart from routes/community.py so the paper page (routes/papers.py) can use it without a cycle.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import nh3
from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import escape

from paperscope.model import Paper
from paperscope.store import comments as comment_store
from paperscope.store import votes as vote_store
from paperscope.store.comments import Comment
from paperscope.store.listings import PaperPage
from paperscope.store.users import User
from paperscope.web import security
from paperscope.web.app_state import state
from paperscope.web.serialize import hf_daily_item

EDIT_WINDOW = timedelta(minutes=15)


def _image_as_link(_renderer: Any, tokens: Any, idx: int, _options: Any, _env: Any) -> str:
    # A remote image in a comment would load from someone else's server on every view of the page
    # (tracking readers, or swapping in other content later): it is shown as a link to the image.
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    label = "".join(child.content for child in token.children or []) or src
    return f'<a href="{escape(src)}">{escape("image: " + label)}</a>'


def _heading_open(_renderer: Any, tokens: Any, idx: int, _options: Any, _env: Any) -> str:
    # `# Title` in a comment would be a page-size heading (and break the page's heading outline).
    return "<p><strong>"


def _heading_close(_renderer: Any, tokens: Any, idx: int, _options: Any, _env: Any) -> str:
    return "</strong></p>\n"


def comment_renderer() -> MarkdownIt:
    """Markdown for comments: CommonMark + strikethrough, raw HTML escaped, images as links, headings
    as bold paragraphs."""
    md = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
    md.add_render_rule("image", _image_as_link)
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    return md


def install_community(templates: Jinja2Templates) -> None:
    """`upvoted(request, paper_id)` for the cards' upvote buttons."""
    templates.env.globals["upvoted"] = upvoted


def upvoted(request: Request, paper_id: str) -> bool:
    """Whether the signed-in viewer upvoted this paper (False when signed out)."""
    user = security.viewer(request)
    if user is None:
        return False
    engine = state(request).engine
    rowid = vote_store.paper_rowid(engine, paper_id)
    return rowid is not None and rowid in vote_store.voted_papers(engine, user.id, [rowid])


def render_comment(request: Request, body: str) -> str:
    """Markdown -> HTML that is safe to embed: only harmless tags, http(s)/mailto links, rel=nofollow."""
    md: MarkdownIt = state(request).comment_markdown
    return nh3.clean(md.render(body), tags=_COMMENT_TAGS, url_schemes={"http", "https", "mailto"},
                     link_rel="nofollow noopener noreferrer")


# nh3's defaults less images (and headings, which the renderer no longer writes): even markup that
# slipped past the renderer cannot embed a remote image.
_COMMENT_TAGS = set(nh3.ALLOWED_TAGS) - {"img", "h1", "h2", "h3", "h4", "h5", "h6"}


def comment_json(request: Request, comment: Comment, user: User | None) -> dict[str, Any]:
    """A comment for pages and the API: the Markdown, its sanitised HTML, and what the viewer may do."""
    until = comment.created_at + EDIT_WINDOW
    left = (until - security.now(request)).total_seconds()
    return {"id": comment.id, "author": comment.username, "body": comment.body,
            "html": render_comment(request, comment.body), "created_at": comment.created_at.isoformat(),
            "edited_at": comment.edited_at.isoformat() if comment.edited_at else None,
            "editable_until": until.isoformat(),
            "can_edit": bool(user and user.id == comment.user_id and left > 0),
            "edit_minutes_left": max(0, math.ceil(left / 60)),
            "can_delete": bool(user and user.id == comment.user_id),
            "can_remove": bool(user and user.is_moderator)}


def paper_extras(request: Request, paper: Paper, page: PaperPage | None = None) -> dict[str, Any]:
    """The community part of a paper page: comments, submitter, the viewer's vote. 404 when hidden
    (moderators still see hidden papers, marked as such).

    With `page` (the paper as `store.listings.paper_page` read it) the hidden flag comes from there and
    comments and submissions are only queried when it says there are some — most papers have none.
    """
    engine = state(request).engine
    user = security.viewer(request)
    rowid = paper.rowid or 0
    hidden = page.hidden if page is not None else vote_store.is_hidden(engine, rowid)
    if hidden and not (user and user.is_moderator):
        raise HTTPException(status_code=404, detail="this paper has been hidden by the moderators")
    comments = ([comment_json(request, c, user) for c in comment_store.paper_comments(engine, rowid)]
                if page is None or page.has_comments else [])
    submissions = vote_store.submissions_of(engine, rowid) if page is None or page.has_submissions else []
    data: dict[str, Any] = {"discussion": comments, "hidden": hidden,
                            "submissions": [{"day": s.day.isoformat(), "by": s.username}
                                            for s in submissions]}
    if user is not None:
        data["upvoted_by_you"] = rowid in vote_store.voted_papers(engine, user.id, [rowid])
    return data


def hf_items(engine: Any, papers: list[Paper]) -> list[dict[str, Any]]:
    """Hugging Face daily-paper items with `numComments` from the local comments (one query)."""
    counts = comment_store.comment_counts(engine, [p.rowid for p in papers if p.rowid is not None])
    return [{**hf_daily_item(p), "numComments": counts.get(p.rowid or 0, 0)} for p in papers]
