"""BibTeX import: the identifiers of each entry (arXiv id, DOI, title), parsed with bibtexparser.

arXiv ids are found wherever reference managers put them: `eprint` (with `archivePrefix`/`eprinttype`
arXiv, or any value shaped like an arXiv id), `url`, `journal`/`note`/`howpublished`
("arXiv preprint arXiv:2501.01234"), and arXiv DOIs (10.48550/arXiv.2501.01234). Matching the entries
to papers is the store's job (store/library.py); this module knows nothing of the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import bibtexparser

from paperscope.model import parse_arxiv_id

_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|arxiv[:\s]\s*|10\.48550/arxiv\.)"
    r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)",
    re.IGNORECASE,
)
_DOI = re.compile(r"(10\.\d{4,9}/\S+)", re.IGNORECASE)
MAX_BIBTEX_BYTES = 5_000_000


@dataclass(frozen=True)
class BibEntry:
    """What an entry offers for matching: its key, title and any arXiv id / DOI found in it."""

    key: str
    title: str
    arxiv_id: str | None = None
    doi: str | None = None


@dataclass
class BibFile:
    """The entries of a file and how many blocks could not be parsed."""

    entries: list[BibEntry]
    failed_blocks: int = 0


def _arxiv_id(fields: dict[str, str]) -> str | None:
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "").strip().lower()
    eprint = fields.get("eprint", "").strip()
    if eprint:
        try:
            return parse_arxiv_id(eprint.removeprefix("arXiv:").removeprefix("arxiv:"))[0]
        except ValueError:
            if prefix == "arxiv":
                return None  # declared arXiv but malformed: do not guess from other fields' noise
    for name in ("url", "doi", "journal", "note", "howpublished", "journaltitle", "pages", "volume"):
        m = _ARXIV_IN_TEXT.search(fields.get(name, ""))
        if m:
            try:
                return parse_arxiv_id(m.group(1))[0]
            except ValueError:
                continue
    return None


def _doi(fields: dict[str, str]) -> str | None:
    raw = fields.get("doi", "").strip()
    if not raw:
        m = re.search(r"doi\.org/(10\.\S+)", fields.get("url", ""), re.IGNORECASE)
        raw = m.group(1) if m else ""
    m = _DOI.search(raw)
    return m.group(1).rstrip(".,;}").lower() if m else None


def _plain(text: str) -> str:
    """A BibTeX title as text: TeX accents and braces dropped, whitespace collapsed."""
    text = re.sub(r"\\[\'\"`^~=.uvHc]\s*", "", text)  # accent commands: {\"e} -> e
    text = re.sub(r"\\[a-zA-Z]+\s*", "", text)  # \textbf, \emph, ... (their argument stays)
    return " ".join(text.replace("{", "").replace("}", "").split())


def parse_bibtex(text: str) -> BibFile:
    """Parse BibTeX text. Entries without a title, arXiv id or DOI are kept (with empty fields) so the
    caller can report them; malformed blocks are counted, not fatal."""
    if len(text.encode()) > MAX_BIBTEX_BYTES:
        raise ValueError(f"BibTeX file larger than {MAX_BIBTEX_BYTES // 1_000_000} MB")
    library = bibtexparser.parse_string(text)
    entries = []
    for entry in library.entries:
        fields = {k.lower(): str(f.value) for k, f in entry.fields_dict.items()}
        doi = _doi(fields)
        arxiv = _arxiv_id(fields)
        entries.append(BibEntry(key=entry.key, title=_plain(fields.get("title", "")), arxiv_id=arxiv,
                                doi=None if doi and doi.startswith("10.48550/") else doi))
    return BibFile(entries=entries, failed_blocks=len(library.failed_blocks))
