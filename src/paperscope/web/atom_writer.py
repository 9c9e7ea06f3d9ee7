"""A small Atom (RFC 4287) writer for paper feeds.

feedgen 1.0.0 was used before; its entry serialiser rebuilds every `<link>` from the href alone
(`entry.py` shadows the link dict with the new element), so a PDF link asked for as
`rel="related" type="application/pdf"` came out as a second, bare `rel="alternate"` link — two alternates
of the same type are against RFC 4287 and made feed readers open the PDF as the entry's link.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from paperscope import __version__
from paperscope.model import strip_controls

ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class AtomLink:
    """One `<link>`: `rel` alternate (the entry's page), related, self…"""

    href: str
    rel: str = "alternate"
    type: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class AtomEntry:
    """One entry of a feed."""

    id: str
    title: str
    updated: datetime
    summary: str
    links: tuple[AtomLink, ...]
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: datetime | None = None


@dataclass(frozen=True)
class AtomFeed:
    """A whole feed; entries in the order readers should show them."""

    id: str
    title: str
    subtitle: str
    updated: datetime
    links: tuple[AtomLink, ...]
    entries: list[AtomEntry] = field(default_factory=list)


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    # XML cannot hold control characters: a paper stored before ingest stripped them, or a query,
    # must not break the whole feed.
    el.text = strip_controls(text)
    return el


def _link(parent: ET.Element, link: AtomLink) -> None:
    attrs = {"href": strip_controls(link.href), "rel": link.rel}
    if link.type:
        attrs["type"] = link.type
    if link.title:
        attrs["title"] = strip_controls(link.title)
    ET.SubElement(parent, "link", attrs)


def atom_bytes(feed: AtomFeed) -> bytes:
    """The feed as an Atom 1.0 document (UTF-8, with an XML declaration)."""
    root = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    _text(root, "id", feed.id)
    _text(root, "title", feed.title)
    _text(root, "subtitle", feed.subtitle)
    _text(root, "updated", feed.updated.isoformat())
    for link in feed.links:
        _link(root, link)
    _text(root, "generator", "paperscope", version=__version__)
    for e in feed.entries:
        entry = ET.SubElement(root, "entry")
        _text(entry, "id", e.id)
        _text(entry, "title", e.title)
        _text(entry, "updated", e.updated.isoformat())
        if e.published is not None:
            _text(entry, "published", e.published.isoformat())
        for name in e.authors:
            _text(ET.SubElement(entry, "author"), "name", name)
        for link in e.links:
            _link(entry, link)
        for term in e.categories:
            ET.SubElement(entry, "category", {"term": strip_controls(term)})
        _text(entry, "summary", e.summary)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
