"""OpenAlex works for arXiv papers: cited-by counts and referenced works, over the polite client.

arXiv papers carry DataCite DOIs (10.48550/arXiv.<id>); one request asks for up to 50 of them with
OpenAlex's OR filter and only the fields needed (`select`). Papers OpenAlex does not know are simply
absent from the answer. `mailto` puts the requests in OpenAlex's "polite pool".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paperscope.sources.http import PoliteClient, SourceError

BATCH = 50  # OpenAlex accepts up to 50 values in one OR filter
ARXIV_DOI = "10.48550/arxiv."


@dataclass(frozen=True)
class OpenAlexWork:
    """One work as OpenAlex reports it, keyed back to the arXiv id it was asked for."""

    arxiv_id: str
    openalex_id: str  # W...
    cited_by_count: int
    references: tuple[str, ...]  # W... ids of the works it cites


def _short_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _arxiv_of(doi: str | None) -> str | None:
    if not doi:
        return None
    lowered = doi.lower().removeprefix("https://doi.org/")
    return lowered[len(ARXIV_DOI):] if lowered.startswith(ARXIV_DOI) else None


class OpenAlex:
    """Look up arXiv papers' works in batches of 50, one polite request each."""

    def __init__(self, client: PoliteClient, base_url: str, mailto: str | None = None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.mailto = mailto

    def works(self, arxiv_ids: Sequence[str]) -> list[OpenAlexWork]:
        """The works of these arXiv ids that OpenAlex knows (at most BATCH ids per call)."""
        if not arxiv_ids:
            return []
        if len(arxiv_ids) > BATCH:
            raise ValueError(f"at most {BATCH} ids per request")
        wanted = {a.lower(): a for a in arxiv_ids}
        params: dict[str, str | int] = {
            "filter": "doi:" + "|".join(f"{ARXIV_DOI}{a.lower()}" for a in arxiv_ids),
            "select": "id,doi,cited_by_count,referenced_works", "per-page": BATCH,
        }
        if self.mailto:
            params["mailto"] = self.mailto
        response = self.client.get(f"{self.base_url}/works", params=params)
        if response.status_code != 200:
            raise SourceError(f"OpenAlex answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            results: list[dict[str, Any]] = response.json()["results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"OpenAlex answer is not a works list: {exc}") from exc
        found: list[OpenAlexWork] = []
        for item in results:
            arxiv_id = wanted.get(_arxiv_of(item.get("doi")) or "")
            if arxiv_id is None or not item.get("id"):
                continue  # a work we did not ask for (or without an id): skip it
            refs = item.get("referenced_works") or []
            found.append(OpenAlexWork(arxiv_id=arxiv_id, openalex_id=_short_id(str(item["id"])),
                                      cited_by_count=int(item.get("cited_by_count") or 0),
                                      references=tuple(_short_id(str(r)) for r in refs if r)))
        return found
