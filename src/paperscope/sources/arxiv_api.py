"""arXiv's query API (Atom feeds): papers by id (`id_list=`) or by search (`search_query=`).

Pages with start/max_results and reads opensearch:totalResults to know when to stop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from paperscope.model import Paper, Skipped, checked_paper, clean_categories, clean_text, parse_arxiv_id
from paperscope.sources.http import PoliteClient, SourceError, parse_xml

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
# arXiv allows up to 2000 per call but answers large pages slowly; 100 keeps each response small.
PAGE_SIZE = 100
# arXiv occasionally answers a page with zero entries although more exist; ask again this often.
EMPTY_PAGE_RETRIES = 2


@dataclass
class FeedPage:
    """One Atom response: its entries as papers (or Skipped notes) and the advertised total."""

    records: list[Paper | Skipped]
    total: int | None
    entries: int


def _text(el: etree._Element, path: str) -> str | None:
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return clean_text(found.text) or None


def _day(text: str | None, what: str) -> date | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError as exc:
        raise ValueError(f"unreadable {what} date {text!r}") from exc


def parse_entry(entry: etree._Element, where: str) -> Paper | Skipped:
    """One Atom <entry> as a Paper; a Skipped note for API error entries and unusable ones."""
    ident = _text(entry, f"{ATOM}id") or ""
    if "/api/errors" in ident:
        # arXiv reports a bad request as a single entry whose summary is the message.
        return Skipped(where, f"arXiv API error: {_text(entry, f'{ATOM}summary') or ident}")
    try:
        arxiv_id, version = parse_arxiv_id(ident)
        title = _text(entry, f"{ATOM}title")
        if not title:
            raise ValueError(f"no such paper on arXiv: {arxiv_id}")
        published = _day(_text(entry, f"{ATOM}published"), "published")
        updated = _day(_text(entry, f"{ATOM}updated"), "updated")
    except ValueError as exc:
        return Skipped(where, str(exc))
    primary = entry.find(f"{ARXIV}primary_category")
    cats = [primary.get("term", "")] if primary is not None else []
    cats += [c.get("term", "") for c in entry.iterfind(f"{ATOM}category")]
    links = {(link.get("title") or link.get("rel") or ""): link.get("href", "")
             for link in entry.iterfind(f"{ATOM}link")}
    extra = {k: v for k, v in (("pdf", links.get("pdf")), ("abs", links.get("alternate"))) if v}
    try:
        return checked_paper(Paper(
            arxiv_id=arxiv_id,
            version=version,
            title=title,
            abstract=_text(entry, f"{ATOM}summary") or "",
            authors=tuple(n for a in entry.iterfind(f"{ATOM}author") if (n := _text(a, f"{ATOM}name"))),
            categories=clean_categories(cats),
            published=published,
            updated=updated,
            # The API does not say which listing a paper appeared in; its first version's date is nearest.
            listed=published,
            doi=_text(entry, f"{ARXIV}doi"),
            journal_ref=_text(entry, f"{ARXIV}journal_ref"),
            comments=_text(entry, f"{ARXIV}comment"),
            source="arxiv-api",
            extra=extra,
        ))
    except ValueError as exc:
        return Skipped(where, str(exc))


def parse_feed(body: bytes, where: str) -> FeedPage:
    """Parse one Atom response; SourceError when it is not well-formed Atom."""
    root = parse_xml(body, where, f"{ATOM}feed", "an Atom feed")
    total_text = _text(root, f"{OPENSEARCH}totalResults")
    total = int(total_text) if total_text and total_text.isdigit() else None
    entries = list(root.iterfind(f"{ATOM}entry"))
    records = [parse_entry(e, f"{where} entry {n}") for n, e in enumerate(entries, 1)]
    return FeedPage(records, total, len(entries))


class ArxivQuery:
    """Fetch papers from the arXiv query API with a polite client."""

    def __init__(self, client: PoliteClient, api_url: str, page_size: int = PAGE_SIZE) -> None:
        self.client = client
        self.api_url = api_url
        self.page_size = page_size
        self.total: int | None = None  # opensearch:totalResults of the last search

    def _page(self, params: dict[str, str | int], where: str) -> FeedPage:
        response = self.client.get(self.api_url, params=params)
        if response.status_code != 200:
            # A 400 carries an Atom error entry with the reason; show it when there is one.
            try:
                page = parse_feed(response.content, where)
                reason = "; ".join(r.reason for r in page.records if isinstance(r, Skipped))
            except SourceError:
                reason = ""
            raise SourceError(f"{where}: HTTP {response.status_code} from arXiv API {reason}".rstrip())
        return parse_feed(response.content, where)

    def by_ids(self, ids: Sequence[str]) -> Iterator[Paper | Skipped]:
        """The papers with these arXiv ids (any version suffix is dropped: the latest is fetched)."""
        wanted = list(dict.fromkeys(parse_arxiv_id(i)[0] for i in ids))
        for start in range(0, len(wanted), self.page_size):
            chunk = wanted[start:start + self.page_size]
            page = self._page({"id_list": ",".join(chunk), "start": 0, "max_results": len(chunk)},
                              f"arXiv API ids {start + 1}-{start + len(chunk)}")
            yield from page.records
            found = {r.arxiv_id for r in page.records if isinstance(r, Paper)}
            reported = " ".join(f"{r.where} {r.reason}" for r in page.records if isinstance(r, Skipped))
            for missing in chunk:
                if missing not in found and missing not in reported:
                    yield Skipped(f"arXiv id {missing}", "not found on arXiv")

    def search(self, query: str, max_results: int | None = None) -> Iterator[Paper | Skipped]:
        """Papers matching an arXiv search_query (e.g. `cat:cs.CL AND ti:retrieval`), newest first,
        at most `max_results` of them."""
        start = 0
        empty_retries = 0
        while max_results is None or start < max_results:
            size = self.page_size if max_results is None else min(self.page_size, max_results - start)
            page = self._page({"search_query": query, "start": start, "max_results": size,
                               "sortBy": "submittedDate", "sortOrder": "descending"},
                              f"arXiv API search from {start}")
            self.total = page.total
            if page.entries == 0:
                if self.total is not None and start < self.total and empty_retries < EMPTY_PAGE_RETRIES:
                    empty_retries += 1
                    continue
                return
            empty_retries = 0
            yield from page.records
            start += page.entries
            if self.total is not None and start >= self.total:
                return
