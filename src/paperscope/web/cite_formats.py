"""Papers in the formats reference managers read: BibTeX, RIS, CSL JSON, and Highwire `citation_*` meta
tags (what the Zotero Connector and Google Scholar read from a paper page).

arXiv papers are cited as preprints the way arXiv's own export does (`@misc` with `eprint`,
`archivePrefix`, `primaryClass`), so `paperscope`'s BibTeX import — and every other reader — finds the
arXiv id again; a paper with a journal reference or DOI keeps those too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from paperscope.model import Paper

_BIBTEX_SPECIAL = re.compile(r"(?<!\\)([&%#])")
_WORD = re.compile(r"[A-Za-z0-9]+")
_STOP = {"a", "an", "the", "on", "of", "in", "for", "and", "to", "with", "is", "are", "at", "by", "from"}


def split_name(name: str) -> tuple[str, str]:
    """(family, given) from "Given Family" or "Family, Given"; one-word names, and names of groups
    ("Research and Co"), are all family."""
    name = " ".join(name.split())
    if " and " in f" {name.lower()} ":
        return name, ""
    if "," in name:
        family, _, given = name.partition(",")
        return family.strip(), given.strip()
    parts = name.rsplit(" ", 1)
    return (parts[1], parts[0]) if len(parts) == 2 else (name, "")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _balanced(text: str) -> str:
    """Drop braces that do not pair up: one stray `{` would swallow the rest of a BibTeX file."""
    if "{" not in text and "}" not in text:  # almost every name and title: nothing to check
        return text
    depth, out = 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(ch)
    if depth:
        text, out = "".join(out), []
        for ch in reversed(text):  # remove the unclosed opening braces, last first
            if ch == "{" and depth:
                depth -= 1
                continue
            out.append(ch)
        out.reverse()
    return "".join(out)


def _bib_value(text: str) -> str:
    text = _balanced(" ".join(text.split()))
    return _BIBTEX_SPECIAL.sub(r"\\\1", text) if ("&" in text or "%" in text or "#" in text) else text


def _year(paper: Paper) -> int | None:
    day = paper.published or paper.listed
    return day.year if day else None


def _citation_key(paper: Paper, taken: set[str]) -> str:
    family = _ascii(split_name(paper.authors[0])[0]) if paper.authors else ""
    word = next((w for w in _WORD.findall(_ascii(paper.title).lower()) if w not in _STOP), "paper")
    base = (re.sub(r"[^a-z0-9]", "", family.lower()) or "anon") + str(_year(paper) or "") + word
    key, n = base, 0
    while key in taken:
        n += 1
        key = f"{base}{chr(ord('a') + n - 1) if n <= 26 else n}"
    taken.add(key)
    return key


def _bib_author(name: str) -> str:
    family, given = split_name(name)
    # A name that itself contains " and " would read as two people: brace it.
    family = f"{{{family}}}" if " and " in family else family
    return f"{family}, {given}" if given else family


def bibtex_entry(paper: Paper, key: str | None = None) -> str:
    """One BibTeX entry (`@misc` for preprints, `@article` with a journal reference)."""
    fields: list[tuple[str, str]] = [("title", _bib_value(paper.title))]
    if paper.authors:
        fields.append(("author", " and ".join(_bib_value(_bib_author(a)) for a in paper.authors)))
    if (year := _year(paper)) is not None:
        fields.append(("year", str(year)))
    if paper.published:
        fields.append(("month", paper.published.strftime("%b").lower()))
    if paper.journal_ref:
        fields.append(("journal", _bib_value(paper.journal_ref)))
    if paper.arxiv_id:
        fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
        if paper.primary_category:
            fields.append(("primaryClass", paper.primary_category))
    if paper.doi:
        fields.append(("doi", _bib_value(paper.doi)))
    if paper.abs_url:
        fields.append(("url", paper.abs_url))
    kind = "article" if paper.journal_ref else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key or _citation_key(paper, set())},\n{body}\n}}\n"


def bibtex(papers: Iterable[Paper]) -> str:
    """A BibTeX file: one entry per paper, keys unique within the file."""
    taken: set[str] = set()
    return "\n".join(bibtex_entry(p, _citation_key(p, taken)) for p in papers)


def _ris_line(tag: str, value: str) -> str:
    return f"{tag}  - {' '.join(value.split())}"


def ris(papers: Iterable[Paper]) -> str:
    """An RIS file (`UNPB` for preprints, `JOUR` with a journal reference); one line per field."""
    records: list[str] = []
    for p in papers:
        lines = [_ris_line("TY", "JOUR" if p.journal_ref else "UNPB"), _ris_line("TI", p.title)]
        lines += [_ris_line("AU", ", ".join(x for x in split_name(a) if x)) for a in p.authors]
        if (year := _year(p)) is not None:
            lines.append(_ris_line("PY", str(year)))
        if p.published:
            lines.append(_ris_line("DA", p.published.strftime("%Y/%m/%d")))
        if p.journal_ref:
            lines.append(_ris_line("JO", p.journal_ref))
        if p.abstract.strip():
            lines.append(_ris_line("AB", p.abstract))
        if p.doi:
            lines.append(_ris_line("DO", p.doi))
        if p.abs_url:
            lines.append(_ris_line("UR", p.abs_url))
        if p.pdf_url:
            lines.append(_ris_line("L1", p.pdf_url))
        if p.arxiv_id:
            lines += [_ris_line("PB", "arXiv"), _ris_line("M3", "Preprint"),
                      _ris_line("N1", f"arXiv:{p.arxiv_id}")]
        lines += [_ris_line("KW", c) for c in p.categories]
        lines.append("ER  - ")
        records.append("\n".join(lines))
    return "\n\n".join(records) + ("\n" if records else "")


def csl_item(paper: Paper) -> dict[str, Any]:
    """One CSL JSON item (what Zotero, Pandoc and citeproc read)."""
    kind = "article-journal" if paper.journal_ref else "article"  # CSL's "article" is a preprint
    item: dict[str, Any] = {"id": paper.paper_id, "type": kind, "title": paper.title}
    authors = []
    for name in paper.authors:
        family, given = split_name(name)
        authors.append({"family": family, "given": given} if given else {"literal": family})
    if authors:
        item["author"] = authors
    day = paper.published or paper.listed
    if day:
        item["issued"] = {"date-parts": [[day.year, day.month, day.day]]}
    if paper.abstract.strip():
        item["abstract"] = paper.abstract
    if paper.journal_ref:
        item["container-title"] = paper.journal_ref
    if paper.doi:
        item["DOI"] = paper.doi
    if paper.abs_url:
        item["URL"] = paper.abs_url
    if paper.arxiv_id:
        item.update({"publisher": "arXiv", "number": f"arXiv:{paper.arxiv_id}"})
    if paper.categories:
        item["keyword"] = ", ".join(paper.categories)
    return item


def csl_json(papers: Iterable[Paper]) -> list[dict[str, Any]]:
    """A CSL JSON array."""
    return [csl_item(p) for p in papers]


def highwire_meta(paper: Paper, page_url: str) -> Sequence[tuple[str, str]]:
    """`citation_*` meta tags for the paper page (name, content), Google Scholar's Highwire set."""
    tags: list[tuple[str, str]] = [("citation_title", paper.title)]
    tags += [("citation_author", ", ".join(x for x in split_name(a) if x)) for a in paper.authors]
    if paper.published:
        tags.append(("citation_publication_date", paper.published.strftime("%Y/%m/%d")))
    if paper.updated or paper.published:
        online = paper.updated or paper.published
        assert online is not None
        tags.append(("citation_online_date", online.strftime("%Y/%m/%d")))
    if paper.journal_ref:
        tags.append(("citation_journal_title", paper.journal_ref))
    if paper.doi:
        tags.append(("citation_doi", paper.doi))
    if paper.arxiv_id:
        tags += [("citation_arxiv_id", paper.arxiv_id), ("citation_technical_report_institution", "arXiv")]
    if paper.pdf_url:
        tags.append(("citation_pdf_url", paper.pdf_url))
    tags.append(("citation_abstract_html_url", page_url))
    if paper.abstract.strip():
        tags.append(("citation_abstract", " ".join(paper.abstract.split())))
    return tags
