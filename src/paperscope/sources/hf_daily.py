"""Hugging Face daily papers: `{hf_api_url}/api/daily_papers?date=YYYY-MM-DD`.

Each item is read the way huggingface_hub's `PaperInfo` reads it: a `paper` object (id, title,
summary, authors, publishedAt, upvotes, ai_summary, ai_keywords, githubRepo, githubStars,
projectPage, submittedOnDailyAt/By) plus top-level `publishedAt` (when it was put on the daily page),
`submittedBy`, `title`, `numComments`. The listing date is the daily page's date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from paperscope.model import HfInfo, Paper, Skipped, checked_paper, clean_text, parse_arxiv_id
from paperscope.sources.http import PoliteClient, SourceError

# The API's documented default page size; a full page means there may be another.
PAGE_LIMIT = 50
MAX_PAGES = 20  # a day never has 1000 papers; stop rather than loop on a server that ignores `p`


def _when(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} should be a date string, got {type(value).__name__}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"unreadable {what} {value!r}") from exc


def _opt_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} should be a string, got {type(value).__name__}")
    return clean_text(value) or None


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} should be an integer, got {type(value).__name__}")
    return value


def _user(value: Any) -> str | None:
    # A `User`: `user` (huggingface_hub) or `name` (daily_papers' submittedBy) is the account name,
    # `fullname` the display name; the account name is the stable one.
    if not isinstance(value, dict):
        return None
    return (_opt_str(value.get("user"), "user") or _opt_str(value.get("name"), "name")
            or _opt_str(value.get("fullname"), "fullname"))


def parse_item(item: Any, listed: date) -> Paper:
    """One daily-papers item as a Paper listed on `listed`; ValueError/TypeError if unusable."""
    if not isinstance(item, dict):
        raise TypeError(f"expected an object, got {type(item).__name__}")
    paper = item.get("paper") or {}
    if not isinstance(paper, dict):
        raise TypeError("`paper` should be an object")
    raw_id = paper.get("id") or item.get("id")
    if not isinstance(raw_id, str):
        raise ValueError("missing paper id")
    arxiv_id, version = parse_arxiv_id(raw_id)
    title = _opt_str(paper.get("title") or item.get("title"), "title")
    if not title:
        raise ValueError("missing title")
    authors = paper.get("authors") or item.get("authors") or []
    if not isinstance(authors, list) or not all(isinstance(a, dict) for a in authors):
        raise TypeError("authors should be a list of objects")
    names = tuple(n for a in authors if (n := _opt_str(a.get("name"), "author name")))
    published = _when(paper.get("publishedAt") or item.get("publishedAt"), "publishedAt")
    submitted_at = _when(item.get("publishedAt") or item.get("submittedOnDailyAt")
                         or paper.get("submittedOnDailyAt"), "submission time")
    keywords = paper.get("ai_keywords") or item.get("ai_keywords") or []
    if not isinstance(keywords, list):
        raise TypeError("ai_keywords should be a list")
    hf = HfInfo(
        upvotes=_opt_int(paper.get("upvotes", item.get("upvotes")), "upvotes") or 0,
        submitted_at=submitted_at,
        submitted_by=_user(item.get("submittedBy")) or _user(paper.get("submittedOnDailyBy"))
        or _user(item.get("submittedOnDailyBy")),
        github_repo=_opt_str(paper.get("githubRepo") or item.get("githubRepo"), "githubRepo"),
        github_stars=_opt_int(paper.get("githubStars", item.get("githubStars")), "githubStars"),
        project_page=_opt_str(paper.get("projectPage") or item.get("projectPage"), "projectPage"),
        keywords=tuple(clean_text(k) for k in keywords if isinstance(k, str) and k.strip()),
        summary=_opt_str(paper.get("ai_summary") or item.get("ai_summary"), "ai_summary"),
    )
    return checked_paper(Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=_opt_str(paper.get("summary") or item.get("summary"), "summary") or "",
        authors=names,
        published=published.date() if published else None,
        listed=listed,
        source="hf-daily",
        hf=hf,
    ))


def days(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, inclusive; ValueError when the range runs backwards."""
    if last < first:
        raise ValueError(f"--to {last} is before --date {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class HfDaily:
    """The daily papers of a range of dates; iterate for Paper/Skipped records."""

    def __init__(self, client: PoliteClient, hf_api_url: str, first: date, last: date | None = None) -> None:
        self.client = client
        self.url = hf_api_url.rstrip("/") + "/api/daily_papers"
        self.dates = days(first, last or first)
        self.days_done = 0

    def _page(self, day: date, page: int) -> list[Any]:
        where = f"HF daily papers {day} page {page}"
        response = self.client.get(self.url, params={"date": day.isoformat(), "p": page, "limit": PAGE_LIMIT})
        if response.status_code != 200:
            raise SourceError(f"{where}: HTTP {response.status_code} from {response.url}")
        try:
            items = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"malformed JSON from {where}: {exc}") from exc
        if not isinstance(items, list):
            raise SourceError(f"{where}: expected a JSON list, got {type(items).__name__}")
        return items

    def day(self, day: date) -> Iterator[Paper | Skipped]:
        """The papers listed on one daily page (every page of it)."""
        seen: set[str] = set()
        for page in range(MAX_PAGES):
            items = self._page(day, page)
            before = len(seen)
            for n, item in enumerate(items, 1):
                where = f"HF daily {day} item {page * PAGE_LIMIT + n}"
                try:
                    paper = parse_item(item, day)
                except (ValueError, TypeError, OverflowError) as exc:
                    yield Skipped(where, str(exc))
                    continue
                if paper.paper_id not in seen:
                    seen.add(paper.paper_id)
                    yield paper
            # A short page is the last; a page of nothing new means the server ignores `p`.
            if len(items) < PAGE_LIMIT or len(seen) == before:
                return

    def __iter__(self) -> Iterator[Paper | Skipped]:
        for d in self.dates:
            yield from self.day(d)
            self.days_done += 1
