"""Papers as JSON: our own shape (pages' JSON twins) and the Hugging Face API shape.

Templates render from the same dictionaries the JSON twins return, so page and API cannot disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from paperscope.feed.daily import Listing
from paperscope.feed.periods import period_of
from paperscope.feed.trending import TrendingPaper
from paperscope.model import Paper, http_url


def paper_json(paper: Paper, *, with_abstract: bool = True) -> dict[str, Any]:
    """Our JSON for one paper."""
    hf = paper.hf
    data: dict[str, Any] = {
        "id": paper.paper_id,
        "arxiv_id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "authors": list(paper.authors),
        "categories": list(paper.categories),
        "primary_category": paper.primary_category,
        "published": paper.published.isoformat() if paper.published else None,
        "updated": paper.updated.isoformat() if paper.updated else None,
        "listed": paper.listed.isoformat() if paper.listed else None,
        # Displayed count = Hugging Face upvotes + local upvotes (both also given apart).
        "upvotes": paper.upvotes,
        "hf_upvotes": hf.upvotes if hf else 0,
        "local_upvotes": paper.local_upvotes,
        "submitted_by": hf.submitted_by if hf else None,
        "abs_url": paper.abs_url,
        "pdf_url": paper.pdf_url,
        "github_repo": http_url(hf.github_repo) if hf else None,
        "github_stars": hf.github_stars if hf else None,
        "project_page": http_url(hf.project_page) if hf else None,
        "url": f"/papers/{paper.paper_id}",
    }
    if with_abstract:
        data["abstract"] = paper.abstract
        data.update({
            "doi": paper.doi, "journal_ref": paper.journal_ref, "comments": paper.comments,
            "license": paper.license, "ai_summary": hf.summary if hf else None,
            "ai_keywords": list(hf.keywords) if hf else [],
        })
    return data


def scored_json(item: TrendingPaper) -> dict[str, Any]:
    """A listed paper with its trending score."""
    return {**paper_json(item.paper), "trending_score": round(item.score, 6)}


def listing_json(listing: Listing) -> dict[str, Any]:
    """A feed page as JSON (the template renders this same dictionary)."""
    def period(p: Any) -> dict[str, Any] | None:
        if p is None:
            return None
        return {"kind": p.kind, "key": p.key, "label": p.label, "start": p.start.isoformat(),
                "end": p.end.isoformat(), "week": period_of("week", p.start).key,
                "month": period_of("month", p.start).key}

    return {
        "period": period(listing.period),
        "previous": period(listing.previous),
        "next": period(listing.next),
        "sort": listing.sort,
        "category": listing.category,
        "total": listing.total,
        "offset": listing.offset,
        "limit": listing.limit,
        "as_of": listing.as_of.isoformat(),
        "papers": [scored_json(item) for item in listing.items],
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _published_at(paper: Paper) -> str | None:
    day = paper.published or paper.listed
    return _iso(datetime.combine(day, time(0, 0), tzinfo=UTC)) if day else None


def hf_paper(paper: Paper) -> dict[str, Any]:
    """The paper object of Hugging Face's API (`GET /api/papers/{id}`), as huggingface_hub parses it."""
    hf = paper.hf
    submitted = hf.submitted_at if hf and hf.submitted_at else None
    if submitted is None and paper.listed:
        submitted = datetime.combine(paper.listed, time(0, 0), tzinfo=UTC)
    data: dict[str, Any] = {
        "id": paper.paper_id,
        "authors": [{"name": name, "hidden": False} for name in paper.authors],
        "publishedAt": _published_at(paper),
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": paper.upvotes,
        "discussionId": paper.paper_id,
        "submittedOnDailyAt": _iso(submitted) if submitted else None,
        "ai_summary": hf.summary if hf else None,
        "ai_keywords": list(hf.keywords) if hf and hf.keywords else None,
        "githubRepo": http_url(hf.github_repo) if hf else None,
        "githubStars": hf.github_stars if hf else None,
        "projectPage": http_url(hf.project_page) if hf else None,
    }
    if hf and hf.submitted_by:
        data["submittedOnDailyBy"] = _hf_user(hf.submitted_by)
    return data


def _hf_user(name: str) -> dict[str, Any]:
    return {"user": name, "name": name, "fullname": name, "avatarUrl": "", "type": "user"}


def hf_daily_item(paper: Paper) -> dict[str, Any]:
    """One entry of `GET /api/daily_papers` / `GET /api/papers/search`: `paper` nested, some fields on top.

    huggingface_hub reads id/authors/summary/upvotes from `paper` and title, publishedAt (the daily
    submission time), numComments, submittedBy, project and code links from the top level.
    """
    inner = hf_paper(paper)
    top: dict[str, Any] = {
        "paper": inner,
        "publishedAt": inner["submittedOnDailyAt"] or inner["publishedAt"],
        "title": paper.title,
        "summary": paper.abstract,
        "numComments": 0,
        "ai_summary": inner["ai_summary"],
        "ai_keywords": inner["ai_keywords"],
        "githubRepo": inner["githubRepo"],
        "githubStars": inner["githubStars"],
        "projectPage": inner["projectPage"],
    }
    if "submittedOnDailyBy" in inner:
        top["submittedBy"] = inner["submittedOnDailyBy"]
    return top
