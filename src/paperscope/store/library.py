"""A user's library (saved papers with tags), 👍/👎 feedback, and the lookups a BibTeX import needs.

Every change bumps the user's row in `library_versions` in the same transaction, so anything derived
from the library (the "for you" model) can be cached under that version and rebuilt when it moves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from paperscope.store.schema import library_items, library_versions, paper_feedback, papers

MAX_TAGS = 20
MAX_TAG_LENGTH = 40


@dataclass(frozen=True)
class LibraryItem:
    """One saved paper."""

    rowid: int
    paper_id: str
    title: str
    tags: tuple[str, ...]
    source: str
    added_at: datetime


def tag_problem(tag: str) -> str | None:
    """Why a tag cannot be stored (lone surrogates, control characters), or None."""
    bad = sorted({f"U+{ord(ch):04X}" for ch in tag if unicodedata.category(ch) in ("Cs", "Cc")})
    return f"tags cannot contain {', '.join(bad[:3])}" if bad else None


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags trimmed, lower-cased, spaces collapsed to '-', deduplicated, bounded in number and length.

    Lone surrogates and control characters are dropped: they cannot be encoded as UTF-8, and one of
    them stored by an older version made the whole library unreadable; reads pass through here too,
    which repairs such tags.
    """
    out: list[str] = []
    for tag in tags:
        tag = "".join(ch for ch in str(tag) if unicodedata.category(ch) not in ("Cs", "Cc"))
        t = re.sub(r"\s+", "-", tag.strip().lower())[:MAX_TAG_LENGTH]
        if t and t not in out:
            out.append(t)
    return tuple(out[:MAX_TAGS])


def _bump(conn: sa.Connection, user_id: int) -> None:
    updated = conn.execute(library_versions.update().where(library_versions.c.user_id == user_id)
                           .values(version=library_versions.c.version + 1)).rowcount
    if not updated:
        conn.execute(library_versions.insert().values(user_id=user_id, version=1))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def save_paper(engine: sa.Engine, user_id: int, rowid: int, tags: Iterable[str] = (), *,
               source: str = "manual", now: datetime | None = None, merge_tags: bool = True) -> bool:
    """Save a paper to the library (tags merged into an existing item's unless `merge_tags=False`).

    Returns True when the paper was not saved before.
    """
    now = now or datetime.now(UTC)
    new_tags = clean_tags(tags)
    with engine.begin() as conn:
        current = conn.execute(sa.select(library_items.c.tags).where(
            library_items.c.user_id == user_id, library_items.c.paper == rowid)).first()
        if current is None:
            conn.execute(library_items.insert().values(user_id=user_id, paper=rowid, tags=list(new_tags),
                                                       source=source, added_at=now))
        else:
            merged = clean_tags([*(current[0] or []), *new_tags]) if merge_tags else new_tags
            conn.execute(library_items.update().where(library_items.c.user_id == user_id,
                                                      library_items.c.paper == rowid)
                         .values(tags=list(merged)))
        _bump(conn, user_id)
    return current is None


def remove_paper(engine: sa.Engine, user_id: int, rowid: int) -> bool:
    """Take a paper out of the library; True if it was there."""
    with engine.begin() as conn:
        gone = conn.execute(library_items.delete().where(library_items.c.user_id == user_id,
                                                         library_items.c.paper == rowid)).rowcount
        if gone:
            _bump(conn, user_id)
    return bool(gone)


def list_library(engine: sa.Engine, user_id: int, *, tag: str | None = None) -> list[LibraryItem]:
    """The user's saved papers, newest first (only those carrying `tag` when given)."""
    stmt = (sa.select(library_items.c.paper, papers.c.paper_id, papers.c.title, library_items.c.tags,
                      library_items.c.source, library_items.c.added_at)
            .join(papers, papers.c.id == library_items.c.paper)
            .where(library_items.c.user_id == user_id)
            .order_by(library_items.c.added_at.desc(), library_items.c.paper.desc()))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    items = [LibraryItem(rowid=r[0], paper_id=r[1], title=r[2], tags=clean_tags(r[3] or ()), source=r[4],
                         added_at=_aware(r[5])) for r in rows]
    wanted = clean_tags([tag])[0] if tag and clean_tags([tag]) else None
    return [i for i in items if wanted in i.tags] if wanted else items


def library_tags(engine: sa.Engine, user_id: int) -> dict[str, int]:
    """Every tag the user uses and how many papers carry it."""
    counts: dict[str, int] = {}
    for item in list_library(engine, user_id):
        for t in item.tags:
            counts[t] = counts.get(t, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def set_feedback(engine: sa.Engine, user_id: int, rowid: int, value: int,
                 now: datetime | None = None) -> None:
    """Record 👍 (1) or 👎 (-1) for a paper; 0 clears it."""
    if value not in (-1, 0, 1):
        raise ValueError("feedback is 1 (👍), -1 (👎) or 0 (clear)")
    now = now or datetime.now(UTC)
    where = (paper_feedback.c.user_id == user_id, paper_feedback.c.paper == rowid)
    with engine.begin() as conn:
        current = conn.execute(sa.select(paper_feedback.c.value).where(*where)).scalar()
        if current == (value or None):
            return  # nothing changes, the model stays valid
        if value == 0:
            conn.execute(paper_feedback.delete().where(*where))
        elif current is None:
            conn.execute(paper_feedback.insert().values(user_id=user_id, paper=rowid, value=value,
                                                        created_at=now))
        else:
            conn.execute(paper_feedback.update().where(*where).values(value=value, created_at=now))
        _bump(conn, user_id)


def feedback_of(engine: sa.Engine, user_id: int) -> dict[int, int]:
    """Row id -> +1/-1 for every paper the user rated."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(paper_feedback.c.paper, paper_feedback.c.value)
                            .where(paper_feedback.c.user_id == user_id)).all()
    return {int(r[0]): int(r[1]) for r in rows}


def library_rowids(engine: sa.Engine, user_id: int) -> set[int]:
    """Row ids of every saved paper."""
    with engine.connect() as conn:
        return {int(r) for r in conn.execute(sa.select(library_items.c.paper)
                                             .where(library_items.c.user_id == user_id)).scalars()}


def library_version(engine: sa.Engine, user_id: int) -> int:
    """How many times the user's library or feedback changed (0 = never)."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(library_versions.c.version)
                             .where(library_versions.c.user_id == user_id)).scalar()
    return int(found or 0)


def preferences_of(engine: sa.Engine, user_ids: Sequence[int]
                   ) -> dict[int, tuple[int, set[int], dict[int, int]]]:
    """For many accounts at once (a digest run): (library version, saved row ids, row id -> +1/-1)."""
    found: dict[int, tuple[int, set[int], dict[int, int]]] = {u: (0, set(), {}) for u in user_ids}
    ids = list(found)
    with engine.connect() as conn:
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            for uid, version in conn.execute(sa.select(library_versions.c.user_id, library_versions.c.version)
                                             .where(library_versions.c.user_id.in_(chunk))).all():
                found[int(uid)] = (int(version), found[int(uid)][1], found[int(uid)][2])
            for uid, paper in conn.execute(sa.select(library_items.c.user_id, library_items.c.paper)
                                           .where(library_items.c.user_id.in_(chunk))).all():
                found[int(uid)][1].add(int(paper))
            for uid, paper, value in conn.execute(
                    sa.select(paper_feedback.c.user_id, paper_feedback.c.paper, paper_feedback.c.value)
                    .where(paper_feedback.c.user_id.in_(chunk))).all():
                found[int(uid)][2][int(paper)] = int(value)
    return found


def marks_for(engine: sa.Engine, user_id: int, rowids: Sequence[int]) -> dict[int, tuple[bool, int]]:
    """For the papers on a page: (saved?, feedback) per row id, in two queries."""
    if not rowids:
        return {}
    ids = list(set(rowids))
    with engine.connect() as conn:
        saved = set(conn.execute(sa.select(library_items.c.paper).where(
            library_items.c.user_id == user_id, library_items.c.paper.in_(ids))).scalars())
        votes = dict(conn.execute(sa.select(paper_feedback.c.paper, paper_feedback.c.value).where(
            paper_feedback.c.user_id == user_id, paper_feedback.c.paper.in_(ids))).all())
    return {r: (r in saved, int(votes.get(r, 0))) for r in ids}


# -- lookups for imports and feeds --------------------------------------------------------------------------

def rowids_by_arxiv_id(engine: sa.Engine, arxiv_ids: Sequence[str]) -> dict[str, int]:
    """Versionless arXiv id -> row id for the ids present in the store."""
    if not arxiv_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(papers.c.paper_id, papers.c.id)
                            .where(papers.c.paper_id.in_(list(set(arxiv_ids))))).all()
    return {r[0]: int(r[1]) for r in rows}


def rowids_by_doi(engine: sa.Engine, dois: Sequence[str]) -> dict[str, int]:
    """Lower-cased DOI -> row id for the DOIs present in the store (compared case-insensitively)."""
    wanted = list({d.lower() for d in dois if d})
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(papers.c.doi, papers.c.id)
                            .where(sa.func.lower(papers.c.doi).in_(wanted))).all()
    return {str(r[0]).lower(): int(r[1]) for r in rows}


def normalise_title(title: str) -> str:
    """Title for matching: accents stripped, lower case, only letters and digits, single spaces."""
    text = re.sub(r"\\[\'\"`^~=.uvHc]\s*", "", title)  # TeX accents: Schr{\"o}dinger -> Schr{o}dinger
    text = re.sub(r"\\[a-zA-Z]+\s*", " ", text).replace("{", "").replace("}", "")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def titles_of(engine: sa.Engine, rowids: Sequence[int]) -> dict[int, str]:
    """Row id -> title."""
    if not rowids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(papers.c.id, papers.c.title).where(papers.c.id.in_(list(rowids)))).all()
    return {int(r[0]): str(r[1]) for r in rows}


def recent_rowids(engine: sa.Engine, days: int = 7, limit: int = 5000) -> list[int]:
    """Row ids of the papers listed in the last `days` listing days' span (ending at the newest listing),
    newest first; `limit` bounds the answer."""
    with engine.connect() as conn:
        newest: date | None = conn.execute(sa.select(sa.func.max(papers.c.listed))).scalar()
        if newest is None:
            return []
        # Papers a moderator hid are never recommended.
        rows = conn.execute(sa.select(papers.c.id).where(papers.c.listed > newest - timedelta(days=days),
                                                         papers.c.hidden.is_(False))
                            .order_by(papers.c.listed.desc(), papers.c.id.desc()).limit(limit)).scalars()
        return [int(r) for r in rows]


def random_rowids(engine: sa.Engine, n: int, seed: int) -> list[int]:
    """Up to `n` row ids spread evenly over the store (deterministic for a seed): the "unseen" sample."""
    with engine.connect() as conn:
        top = conn.execute(sa.select(sa.func.max(papers.c.id))).scalar()
    if not top:
        return []
    import random

    rng = random.Random(seed)
    picks = sorted({rng.randint(1, int(top)) for _ in range(n)})
    with engine.connect() as conn:
        return [int(r) for r in conn.execute(sa.select(papers.c.id).where(papers.c.id.in_(picks))).scalars()]


# -- BibTeX import -----------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What a BibTeX import matched, and how."""

    entries: int = 0
    matched: dict[str, int] = field(default_factory=dict)  # how: arxiv | doi | title -> count
    added: int = 0  # new in the library (the rest were saved already)
    unmatched: list[str] = field(default_factory=list)  # entry keys (or titles) not found in the store
    failed_blocks: int = 0


def match_title(engine: sa.Engine, title: str) -> int | None:
    """The paper whose normalised title equals `title`'s, among the full-text search's top hits."""
    from paperscope.store.fulltext import search_fulltext

    wanted = normalise_title(title)
    if len(wanted) < 8:  # "Introduction" would match something; too short to trust
        return None
    hits = search_fulltext(engine, title, limit=10)
    found = titles_of(engine, [r for r, _ in hits])
    for rowid, _ in hits:
        if normalise_title(found.get(rowid, "")) == wanted:
            return rowid
    return None


def import_bibtex(engine: sa.Engine, user_id: int, text: str, tags: Iterable[str] = (),
                  now: datetime | None = None) -> ImportReport:
    """Save every entry of a BibTeX file that matches a paper in the store: by arXiv id, else DOI,
    else normalised title. Entries keep `tags` plus a `bibtex` tag; re-importing changes nothing."""
    from paperscope.sources.bibtex import parse_bibtex

    parsed = parse_bibtex(text)
    report = ImportReport(entries=len(parsed.entries), failed_blocks=parsed.failed_blocks)
    by_arxiv = rowids_by_arxiv_id(engine, [e.arxiv_id for e in parsed.entries if e.arxiv_id])
    by_doi = rowids_by_doi(engine, [e.doi for e in parsed.entries if e.doi])
    already = library_rowids(engine, user_id)
    for entry in parsed.entries:
        rowid, how = None, ""
        if entry.arxiv_id and entry.arxiv_id in by_arxiv:
            rowid, how = by_arxiv[entry.arxiv_id], "arxiv"
        elif entry.doi and entry.doi in by_doi:
            rowid, how = by_doi[entry.doi], "doi"
        elif entry.title:
            rowid, how = match_title(engine, entry.title), "title"
        if rowid is None:
            report.unmatched.append(entry.key or entry.title)
            continue
        report.matched[how] = report.matched.get(how, 0) + 1
        if rowid not in already:
            save_paper(engine, user_id, rowid, [*tags, "bibtex"], source="bibtex", now=now)
            already.add(rowid)
            report.added += 1
    return report
