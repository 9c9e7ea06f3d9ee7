"""Value types shared by every stage: the Paper record and what sources report about bad input."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from urllib.parse import urlsplit

# New-style ids (2405.19504, 0704.0001) and old-style (hep-th/9901001, math.CO/0406594).
_NEW_ID = re.compile(r"(\d{4}\.\d{4,5})(?:v(\d+))?")
_OLD_ID = re.compile(r"([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?")
_ID_IN_TEXT = re.compile(
    r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|arxiv:)?"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?(?:\.pdf)?/?$",
    re.IGNORECASE,
)
# The same shape for JSON Schema / OpenAPI documents (no flags there, so case-blindness goes inline).
ARXIV_REFERENCE_PATTERN = "(?i)" + _ID_IN_TEXT.pattern


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """Split an arXiv id, `arxiv:` reference or abs/pdf URL into (versionless id, version or None).

    Raises ValueError with a readable message when the text is not an arXiv identifier.
    """
    m = _ID_IN_TEXT.match(text.strip())
    if not m:
        raise ValueError(f"not an arXiv id or URL: {text!r}")
    ident = m.group("id")
    # Old-style archive names are lower case (math.CO keeps its subject class upper case).
    if "/" in ident:
        arch, num = ident.split("/")
        parts = arch.split(".")
        ident = parts[0].lower() + ("." + parts[1].upper() if len(parts) > 1 else "") + "/" + num
    return ident, int(m.group("v")) if m.group("v") else None


@dataclass(frozen=True, slots=True)
class HfInfo:
    """What Hugging Face's daily-papers page knows about a paper."""

    upvotes: int = 0
    submitted_at: datetime | None = None  # when it was submitted to the daily page
    submitted_by: str | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    keywords: tuple[str, ...] = ()
    summary: str | None = None  # HF's AI summary, when present


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as every stage sees it. Sources build these; the store persists them."""

    title: str
    abstract: str = ""
    arxiv_id: str | None = None  # versionless
    version: int | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # primary first
    published: date | None = None  # first version
    updated: date | None = None  # latest version
    listed: date | None = None  # date of the listing/announcement it appeared in
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    license: str | None = None
    source: str = "unknown"
    hf: HfInfo | None = None
    # Set only on papers read back from the store.
    rowid: int | None = None
    first_seen: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    # Upvotes cast by this installation's users (read from the store; sources never set it).
    local_upvotes: int = field(default=0, compare=False)
    # log2 of this installation's time-decayed votes and submissions (feed/trending.py), None if none.
    community_trend: float | None = field(default=None, compare=False)

    @property
    def paper_id(self) -> str:
        """The stable key: the arXiv id, else `doi:<doi>`, else a hash of the normalised title."""
        if self.arxiv_id:
            return self.arxiv_id
        if self.doi:
            return "doi:" + self.doi.strip().lower()
        norm = " ".join(re.sub(r"[^\w\s]", " ", self.title.lower()).split())
        return "t:" + hashlib.sha1(norm.encode()).hexdigest()[:16]

    @property
    def upvotes(self) -> int:
        """The count every page, feed and API shows: Hugging Face upvotes plus local ones."""
        return (self.hf.upvotes if self.hf else 0) + self.local_upvotes

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def abs_url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else None

    @property
    def pdf_url(self) -> str | None:
        return f"https://arxiv.org/pdf/{self.arxiv_id}" if self.arxiv_id else None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record a source could not read: where it was and why. Sources yield these beside papers."""

    where: str  # e.g. "file.jsonl:1234" or "record 17 of page 3"
    reason: str


_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[A-Za-z][A-Za-z\-]*)?$")


def clean_categories(cats: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Keep arXiv category names (cs.CL, hep-th, physics.med-ph), in order, once each.

    Real dumps carry stray ACM/MSC classes ("I.2.10; I.4.8") in the category list; those are dropped.
    """
    return tuple(dict.fromkeys(c.strip() for c in cats if _CATEGORY.match(c.strip())))


def clean_text(text: str | None) -> str:
    """Collapse the hard line wraps and runs of whitespace that arXiv metadata carries."""
    return " ".join((text or "").split())


# C0 controls except tab/newline/carriage return, DEL, lone surrogates and the XML non-characters:
# PostgreSQL refuses NUL in text, and XML (Atom feeds) refuses all of them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# Integer columns (version, upvotes, stars) are 32-bit on PostgreSQL.
MAX_STORED_INT = 2**31 - 1
# Browsers drop ASCII tab and newlines anywhere in a URL, and leading/trailing controls and spaces.
_URL_IGNORED = re.compile("[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def strip_controls(text: str) -> str:
    """Text without control characters that the store or an XML feed cannot hold."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def http_url(value: str | None) -> str | None:
    """`value` if it is an absolute http(s) URL with a host, else None — a source's `javascript:`,
    `data:` or relative link never becomes an href (browsers ignore case, tabs and newlines in the
    scheme, so the check looks at the URL the way a browser will)."""
    if not value:
        return None
    url = _URL_IGNORED.sub("", value).strip(_C0_AND_SPACE)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or _CONTROL.search(url):
        return None
    return url


def _int_in_range(value: int | None, what: str) -> None:
    if value is not None and not 0 <= value <= MAX_STORED_INT:
        raise ValueError(f"{what} {value} is out of range")


def checked_paper(paper: Paper) -> Paper:
    """The paper as the store may keep it: control characters stripped from its text, source links
    that are not http(s) dropped. ValueError for numbers no store column can hold (an absurd version
    or upvote count), so the source skips that record with its own file:line or identifier."""
    _int_in_range(paper.version, "version")
    hf = paper.hf
    if hf is not None:
        _int_in_range(hf.upvotes, "upvotes")
        _int_in_range(hf.github_stars, "GitHub stars")
    if hf is not None and _hf_needs_cleaning(hf):
        hf = replace(hf, submitted_by=_opt_clean(hf.submitted_by), summary=_opt_clean(hf.summary),
                     github_repo=http_url(hf.github_repo), project_page=http_url(hf.project_page),
                     keywords=tuple(strip_controls(k) for k in hf.keywords))
    texts = (paper.title, paper.abstract, paper.doi, paper.journal_ref, paper.comments, paper.license,
             *paper.authors, *paper.categories)
    if hf is paper.hf and not _has_controls(" ".join(t for t in texts if t)):
        return paper  # the common case: nothing to change, no copy
    return replace(paper, title=strip_controls(paper.title), abstract=strip_controls(paper.abstract),
                   doi=_opt_clean(paper.doi), journal_ref=_opt_clean(paper.journal_ref),
                   comments=_opt_clean(paper.comments), license=_opt_clean(paper.license),
                   authors=tuple(strip_controls(a) for a in paper.authors),
                   categories=tuple(strip_controls(c) for c in paper.categories), hf=hf)


def _has_controls(text: str) -> bool:
    # isprintable() is a quick C scan that clean text (no controls, tabs or newlines) passes.
    return not text.isprintable() and _CONTROL.search(text) is not None


def _hf_needs_cleaning(hf: HfInfo) -> bool:
    texts = (hf.submitted_by, hf.summary, hf.github_repo, hf.project_page, *hf.keywords)
    return (_has_controls(" ".join(t for t in texts if t))
            or any(url and http_url(url) != url for url in (hf.github_repo, hf.project_page)))


def _opt_clean(text: str | None) -> str | None:
    return strip_controls(text) if text else text
