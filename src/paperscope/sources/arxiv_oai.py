"""arXiv's OAI-PMH interface, metadataPrefix arXivRaw: harvest a set page by page.

arXivRaw (unlike oai_dc/arXiv) carries the full version history, so a record gives the first
version's date (published), the last one's (updated) and the current version number.

The harvester yields whole pages (`HarvestPage`): a page's records plus the checkpoint that is
valid once they are stored. It never touches the store; the caller stores the records, then saves
the checkpoint, so a killed harvest resumes at the first page not yet stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

from lxml import etree

from paperscope.model import Paper, Skipped, checked_paper, clean_categories, clean_text, parse_arxiv_id
from paperscope.sources.http import PoliteClient, SourceError, parse_xml

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RAW = "{http://arxiv.org/OAI/arXivRaw/}"


@dataclass(frozen=True)
class OaiCheckpoint:
    """Where a harvest of one set stands; stored as JSON between runs.

    `token` is the resumption token of the next page (None once the list is complete);
    `datestamp` the newest record datestamp stored so far, from which the next incremental run
    continues once this one is complete (an expired token restarts the same range instead).
    """

    set_spec: str
    from_date: str | None = None
    until_date: str | None = None
    token: str | None = None
    datestamp: str | None = None
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"set": self.set_spec, "from": self.from_date, "until": self.until_date, "token": self.token,
                "datestamp": self.datestamp, "complete": self.complete}

    @classmethod
    def from_json(cls, value: Any) -> OaiCheckpoint | None:
        """Read a stored checkpoint; None when there is none or it is unreadable."""
        if not isinstance(value, dict) or not isinstance(value.get("set"), str):
            return None
        return cls(set_spec=value["set"], from_date=value.get("from"), until_date=value.get("until"),
                   token=value.get("token"), datestamp=value.get("datestamp"),
                   complete=bool(value.get("complete")))


@dataclass
class HarvestPage:
    """One ListRecords response: its records and the checkpoint to save after storing them."""

    number: int
    records: list[Paper | Skipped]
    checkpoint: OaiCheckpoint
    complete_list_size: int | None = None
    cursor: int | None = None


class OaiError(SourceError):
    """An OAI-PMH <error> other than noRecordsMatch."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"OAI-PMH error {code}: {message}")
        self.code = code


def state_name(set_spec: str) -> str:
    """The job_state key of a set's harvest checkpoint."""
    return f"arxiv-oai:{set_spec}"


def _text(el: etree._Element | None, path: str) -> str | None:
    found = el.find(path) if el is not None else None
    if found is None or found.text is None:
        return None
    return clean_text(found.text) or None


_PARENS = re.compile(r"\([^()]*\)")


def _authors(text: str | None) -> tuple[str, ...]:
    # arXivRaw gives one string: "A. Author, B. Author and C. Author", often with "(Affiliation)" or
    # numbered "(1), ((1) Affiliation)" parts; those are not names.
    if not text:
        return ()
    while _PARENS.search(text):
        text = _PARENS.sub(" ", text)
    text = clean_text(text).replace(" and ", ", ")
    return tuple(a.strip() for a in text.split(",") if a.strip())


def parse_raw_record(record: etree._Element, where: str) -> Paper | Skipped | None:
    """One <record>: a Paper, a Skipped note for an unusable one, None for a deleted record."""
    header = record.find(f"{OAI}header")
    if header is None:
        return Skipped(where, "record without header")
    if header.get("status") == "deleted":
        return None
    ident = _text(header, f"{OAI}identifier") or "?"
    where = f"{where} ({ident})"
    raw = record.find(f"{OAI}metadata/{RAW}arXivRaw")
    if raw is None:
        return Skipped(where, "no arXivRaw metadata")
    try:
        arxiv_id, _ = parse_arxiv_id(_text(raw, f"{RAW}id") or "")
        title = _text(raw, f"{RAW}title")
        if not title:
            raise ValueError("missing title")
        versions = []
        for v in raw.iterfind(f"{RAW}version"):
            number = int((v.get("version") or "").lstrip("v"))
            when = _text(v, f"{RAW}date")
            if not when:
                raise ValueError(f"version v{number} has no date")
            versions.append((number, parsedate_to_datetime(when).date()))
        if not versions:
            raise ValueError("no version history")
        versions.sort()
        datestamp = _text(header, f"{OAI}datestamp")
        listed = date.fromisoformat(datestamp) if datestamp and len(versions) == 1 else versions[0][1]
        return checked_paper(Paper(
            arxiv_id=arxiv_id,
            version=versions[-1][0],
            title=title,
            abstract=_text(raw, f"{RAW}abstract") or "",
            authors=_authors(_text(raw, f"{RAW}authors")),
            categories=clean_categories((_text(raw, f"{RAW}categories") or "").split()),
            published=versions[0][1],
            updated=versions[-1][1],
            # A first version's record datestamp is its announcement day; for a replacement the
            # announcement is long past, so the first version's date is the closest we know.
            listed=listed,
            doi=_text(raw, f"{RAW}doi"),
            journal_ref=_text(raw, f"{RAW}journal-ref"),
            comments=_text(raw, f"{RAW}comments"),
            license=_text(raw, f"{RAW}license"),
            source="arxiv-oai",
        ))
    except (ValueError, TypeError, OverflowError) as exc:
        return Skipped(where, str(exc))


@dataclass
class ParsedPage:
    """What one ListRecords response says, before the harvester turns it into a checkpoint."""

    records: list[Paper | Skipped]
    token: str | None
    max_datestamp: str | None
    no_records: bool = False
    complete_list_size: int | None = None
    cursor: int | None = None


def parse_list_records(body: bytes, where: str) -> ParsedPage:
    """Parse a ListRecords response; SourceError for malformed XML, OaiError for an OAI error."""
    root = parse_xml(body, where, f"{OAI}OAI-PMH", "an OAI-PMH response")
    error = root.find(f"{OAI}error")
    if error is not None:
        code = error.get("code") or "unknown"
        if code == "noRecordsMatch":
            return ParsedPage([], None, None, no_records=True)
        raise OaiError(code, clean_text(error.text) or "(no message)")
    listing = root.find(f"{OAI}ListRecords")
    if listing is None:
        raise SourceError(f"{where}: response has neither ListRecords nor error")
    records: list[Paper | Skipped] = []
    max_stamp: str | None = None
    for n, rec in enumerate(listing.iterfind(f"{OAI}record"), 1):
        stamp = _text(rec, f"{OAI}header/{OAI}datestamp")
        if stamp and (max_stamp is None or stamp > max_stamp):
            max_stamp = stamp
        parsed = parse_raw_record(rec, f"{where} record {n}")
        if parsed is not None:
            records.append(parsed)
    token_el = listing.find(f"{OAI}resumptionToken")
    token = clean_text(token_el.text) if token_el is not None and token_el.text else None
    size = _int_attr(token_el, "completeListSize")
    return ParsedPage(records, token or None, max_stamp, complete_list_size=size,
                      cursor=_int_attr(token_el, "cursor"))


def _int_attr(el: etree._Element | None, name: str) -> int | None:
    value = el.get(name) if el is not None else None
    return int(value) if value and value.isdigit() else None


class OaiHarvester:
    """Harvest one arXiv set with ListRecords/arXivRaw, starting from (or resuming) a checkpoint."""

    def __init__(self, client: PoliteClient, base_url: str, start: OaiCheckpoint) -> None:
        self.client = client
        self.base_url = base_url
        self.start = start
        self.restarts = 0  # how often an expired token made us restart the range

    def _params(self, cp: OaiCheckpoint) -> dict[str, str]:
        if cp.token:
            return {"verb": "ListRecords", "resumptionToken": cp.token}
        params = {"verb": "ListRecords", "metadataPrefix": "arXivRaw", "set": cp.set_spec}
        if cp.from_date:
            params["from"] = cp.from_date
        if cp.until_date:
            params["until"] = cp.until_date
        return params

    def _fetch(self, cp: OaiCheckpoint, number: int) -> ParsedPage:
        params = self._params(cp)
        response = self.client.get(self.base_url, params=params)
        where = f"OAI page {number}"
        if response.status_code != 200:
            raise SourceError(f"{where}: HTTP {response.status_code} from {response.url}")
        return parse_list_records(response.content, where)

    def pages(self) -> Iterator[HarvestPage]:
        """Yield each page with the checkpoint to store after its records; the last has token None."""
        cp = replace(self.start, complete=False)
        number = 0
        while True:
            number += 1
            try:
                page = self._fetch(cp, number)
            except OaiError as exc:
                if exc.code != "badResumptionToken" or not cp.token or self.restarts >= 3:
                    raise
                # The token expired (arXiv keeps them for a limited time): ask again for the whole
                # range. OAI-PMH does not promise lists in datestamp order, so restarting from the
                # newest datestamp stored could skip older records of pages not yet seen; re-reading
                # stored ones costs requests, never duplicates (upserts).
                self.restarts += 1
                cp = replace(cp, token=None)
                continue
            stamps = [s for s in (cp.datestamp, page.max_datestamp) if s]
            next_cp = replace(cp, token=page.token, datestamp=max(stamps) if stamps else None,
                              complete=page.token is None)
            yield HarvestPage(number, page.records, next_cp, page.complete_list_size, page.cursor)
            if page.token is None:
                return
            cp = next_cp

    def __iter__(self) -> Iterator[Paper | Skipped]:
        for page in self.pages():
            yield from page.records
