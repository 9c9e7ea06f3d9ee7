"""A Zotero group library as a destination (the Zotero Web API v3): list what is there, add what is not.

Papers become `preprint` items (arXiv id in `archiveID` and `extra`, the abstract page as `url`), so a
paper already in the group — added by this sync or by hand through the Zotero Connector — is recognised
by its arXiv id and never added twice. Writes go 50 items a request (the API's limit), each with a
`Zotero-Write-Token`, so a retried request cannot create duplicates either.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from paperscope.model import Paper
from paperscope.sources.http import PoliteClient, SourceError

WRITE_BATCH = 50
PAGE = 100
_ARXIV = re.compile(r"(?:arxiv\.org/(?:abs|pdf)/|arXiv:\s*)([a-z-]+(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5})",
                    re.IGNORECASE)


def zotero_item(paper: Paper, tags: Sequence[str] = ()) -> dict[str, Any]:
    """The Zotero item for a paper (one-field creator names: no guessing which part is the family name)."""
    day = paper.published or paper.listed
    item: dict[str, Any] = {
        "itemType": "preprint", "title": paper.title, "abstractNote": paper.abstract,
        "creators": [{"creatorType": "author", "name": name} for name in paper.authors],
        "date": day.isoformat() if day else "",
        "url": paper.abs_url or "", "DOI": paper.doi or "",
        "tags": [{"tag": t} for t in tags],
    }
    if paper.arxiv_id:
        item.update({"repository": "arXiv", "archiveID": f"arXiv:{paper.arxiv_id}",
                     "extra": f"arXiv: {paper.arxiv_id}"})
    return item


def arxiv_ids_of(data: dict[str, Any]) -> set[str]:
    """The arXiv ids an existing Zotero item names (url, archive id, extra field)."""
    text = " ".join(str(data.get(k) or "") for k in ("url", "archiveID", "extra"))
    return {m.rstrip(".") for m in _ARXIV.findall(text)}


@dataclass
class SyncReport:
    """What a sync found and did."""

    in_group: int = 0  # items already in the group
    already: int = 0  # papers found there (by arXiv id)
    added: int = 0
    failed: list[str] = field(default_factory=list)  # paper ids Zotero refused, with its message


class ZoteroGroup:
    """One group library, read and written with an API key that may write to it."""

    def __init__(self, client: PoliteClient, base_url: str, group_id: str, api_key: str) -> None:
        self.client = client
        self.base = f"{base_url.rstrip('/')}/groups/{group_id}"
        self.headers = {"Zotero-API-Key": api_key, "Zotero-API-Version": "3"}

    def _check(self, response: Any, doing: str) -> None:
        if response.status_code in (401, 403):
            raise SourceError(f"Zotero refused to {doing}: check the API key's access to the group "
                              f"(HTTP {response.status_code})")
        if response.status_code >= 400:
            raise SourceError(f"Zotero could not {doing}: HTTP {response.status_code} {response.text[:200]}")

    def arxiv_ids(self) -> tuple[set[str], int]:
        """(arXiv ids of the group's items, how many items it has), reading every page."""
        found: set[str] = set()
        start, total = 0, None
        while total is None or start < total:
            response = self.client.get(f"{self.base}/items", params={
                "format": "json", "limit": PAGE, "start": start, "itemType": "-attachment || note"},
                headers=self.headers)
            self._check(response, "list the group's items")
            items = response.json()
            total = int(response.headers.get("Total-Results", len(items)))
            for item in items:
                found |= arxiv_ids_of(item.get("data") or {})
            if not items:
                break
            start += len(items)
        return found, total or 0

    def sync(self, papers: Iterable[tuple[Paper, Sequence[str]]]) -> SyncReport:
        """Add every paper the group lacks (with its tags). Papers are matched by arXiv id only, so
        papers without one are reported and skipped: adding them could not be repeated safely."""
        there, count = self.arxiv_ids()
        report = SyncReport(in_group=count)
        missing: list[tuple[Paper, Sequence[str]]] = []
        for paper, tags in papers:
            if not paper.arxiv_id:
                report.failed.append(f"{paper.paper_id}: no arXiv id (only arXiv papers are synced)")
            elif paper.arxiv_id in there:
                report.already += 1
            else:
                missing.append((paper, tags))
                there.add(paper.arxiv_id)
        for start in range(0, len(missing), WRITE_BATCH):
            batch = missing[start:start + WRITE_BATCH]
            headers = {**self.headers, "Zotero-Write-Token": secrets.token_hex(16)}
            response = self.client.send("POST", f"{self.base}/items", headers=headers,
                                        json=[zotero_item(p, tags) for p, tags in batch])
            self._check(response, "add items")
            answer = response.json()
            report.added += len(answer.get("successful") or answer.get("success") or {})
            for index, why in (answer.get("failed") or {}).items():
                report.failed.append(f"{batch[int(index)][0].paper_id}: {why.get('message', why)}")
        return report
