"""Papers in the store: idempotent batch upserts and the reads every later stage uses."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from paperscope.model import HfInfo, Paper
from paperscope.store.fulltext_build import FulltextRow, SideFulltextBuild, authors_text
from paperscope.store.schema import paper_categories, papers
from paperscope.store.sqlite_bulk import sqlite_insert, sqlite_insert_values, sqlite_values

_BIBLIO = ("title", "abstract", "authors", "categories", "published", "updated", "doi",
           "journal_ref", "comments", "license", "version", "arxiv_id")
_HF = ("hf_upvotes", "hf_submitted_at", "hf_submitted_by", "github_repo", "github_stars",
       "project_page", "hf_keywords", "hf_summary")


@dataclass
class UpsertCounts:
    """What one upsert call did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def paper_to_row(paper: Paper) -> dict[str, Any]:
    """The column values for a Paper (without id, first_seen, modified)."""
    hf = paper.hf
    return {
        "paper_id": paper.paper_id,
        "arxiv_id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "categories": list(paper.categories),
        "primary_category": paper.primary_category,
        "published": paper.published,
        "updated": paper.updated,
        "listed": paper.listed,
        "doi": paper.doi,
        "journal_ref": paper.journal_ref,
        "comments": paper.comments,
        "license": paper.license,
        "source": paper.source,
        "hf_upvotes": hf.upvotes if hf else None,
        "hf_submitted_at": hf.submitted_at if hf else None,
        "hf_submitted_by": hf.submitted_by if hf else None,
        "github_repo": hf.github_repo if hf else None,
        "github_stars": hf.github_stars if hf else None,
        "project_page": hf.project_page if hf else None,
        "hf_keywords": list(hf.keywords) if hf and hf.keywords else None,
        "hf_summary": hf.summary if hf else None,
    }


def row_to_paper(row: sa.RowMapping | dict[str, Any]) -> Paper:
    """Build a Paper from a `papers` row."""
    has_hf = row["hf_submitted_at"] is not None or bool(row["hf_upvotes"]) or row["github_repo"]
    hf = HfInfo(
        upvotes=row["hf_upvotes"] or 0,
        submitted_at=_aware(row["hf_submitted_at"]),
        submitted_by=row["hf_submitted_by"],
        github_repo=row["github_repo"],
        github_stars=row["github_stars"],
        project_page=row["project_page"],
        keywords=tuple(row["hf_keywords"] or ()),
        summary=row["hf_summary"],
    ) if has_hf else None
    return Paper(
        title=row["title"],
        abstract=row["abstract"],
        arxiv_id=row["arxiv_id"],
        version=row["version"],
        authors=tuple(row["authors"] or ()),
        categories=tuple(row["categories"] or ()),
        published=row["published"],
        updated=row["updated"],
        listed=row["listed"],
        doi=row["doi"],
        journal_ref=row["journal_ref"],
        comments=row["comments"],
        license=row["license"],
        source=row["source"],
        hf=hf,
        rowid=row["id"],
        first_seen=_aware(row["first_seen"]),
        local_upvotes=row.get("local_upvotes") or 0,
        community_trend=row.get("community_trend"),
    )


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Combine a stored row with an incoming one.

    A record of an older version never overwrites a newer one's metadata; otherwise incoming values
    win where they are present. The first-seen date, the first listing date and the originating
    source are kept; Hugging Face fields follow the latest report.
    """
    merged = dict(old)
    older = (new["version"] or 0) < (old["version"] or 0)
    for key in _BIBLIO:
        value = new[key]
        if value in (None, "", []):
            continue
        if older and old[key] not in (None, "", []):
            continue
        merged[key] = value
    merged["primary_category"] = merged["categories"][0] if merged["categories"] else None
    if old["published"] and new["published"]:
        merged["published"] = min(old["published"], new["published"])
    if not old["listed"]:
        merged["listed"] = new["listed"]
    for key in _HF:
        if new[key] is not None:
            merged[key] = new[key]
    return merged


@dataclass
class PreparedBatch:
    """A batch turned into rows (duplicates merged) outside any transaction; see prepare_batch."""

    rows: dict[str, dict[str, Any]]
    now: datetime
    # SQLite only: each row's converted INSERT values (used for the ones that turn out to be new).
    insert_names: list[str] = field(default_factory=list)
    insert_values: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def _new_row(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    row = dict(row, first_seen=now, modified=now)
    if row["hf_upvotes"] is None:
        row["hf_upvotes"] = 0
    return row


def prepare_batch(engine: sa.Engine, batch: Sequence[Paper]) -> PreparedBatch:
    """The Python half of an upsert: rows for the papers, duplicates merged, and on SQLite the
    INSERT values. It reads nothing from the database, so a bulk load can prepare the next batch
    while the previous one is being written (sqlite3 releases the GIL while it works)."""
    incoming: dict[str, dict[str, Any]] = {}
    for paper in batch:
        row = paper_to_row(paper)
        prev = incoming.get(row["paper_id"])
        incoming[row["paper_id"]] = _merge(prev, row) if prev else row
    prepared = PreparedBatch(incoming, utcnow())
    if incoming and engine.dialect.name == "sqlite":
        new_rows = [_new_row(r, prepared.now) for r in incoming.values()]
        prepared.insert_names = list(new_rows[0])
        values = sqlite_values(engine.dialect, papers, prepared.insert_names, new_rows)
        prepared.insert_values = dict(zip(incoming, values, strict=True))
    return prepared


def upsert_papers(engine: sa.Engine, batch: Sequence[Paper]) -> UpsertCounts:
    """Insert or update a batch of papers in one transaction; re-running it changes nothing."""
    return write_batch(engine, prepare_batch(engine, batch))


def _indexed(pid: int, row: dict[str, Any]) -> FulltextRow:
    return (pid, row["title"], row["abstract"], authors_text(row["authors"]))


def write_batch(engine: sa.Engine, prepared: PreparedBatch,
                fulltext: SideFulltextBuild | None = None) -> UpsertCounts:
    """The database half of an upsert: one transaction that inserts new papers and updates changed ones.
    With `fulltext` (a first load's side-built index) the committed texts are handed to it."""
    counts = UpsertCounts()
    removed: list[FulltextRow] = []
    added: list[FulltextRow] = []
    incoming, now = prepared.rows, prepared.now
    if not incoming:
        return counts
    cols = [c for c in papers.c if c.name not in ("first_seen", "modified")]
    with engine.begin() as conn:
        existing: dict[str, dict[str, Any]] = {}
        keys = _stored_keys(conn, list(incoming))
        for i in range(0, len(keys), 900):  # stay under SQLite's bound-parameter limit
            chunk = keys[i:i + 900]
            for r in conn.execute(sa.select(*cols).where(papers.c.paper_id.in_(chunk))).mappings():
                existing[r["paper_id"]] = dict(r)
        inserts, updates, recategorised = [], [], []
        for key, row in incoming.items():
            old = existing.get(key)
            if old is None:
                inserts.append(_new_row(row, now) if key not in prepared.insert_values else row)
                continue
            merged = _merge(old, row)
            if merged == old:
                counts.unchanged += 1
                continue
            if merged["categories"] != old["categories"]:
                recategorised.append((old["id"], merged["categories"]))
            if fulltext is not None and any(merged[k] != old[k] for k in ("title", "abstract", "authors")):
                removed.append(_indexed(old["id"], old))
                added.append(_indexed(old["id"], merged))
            upd = {("b_" + k): v for k, v in merged.items() if k not in ("id", "paper_id", "source")}
            upd["b_id"] = old["id"]
            upd["b_modified"] = now
            updates.append(upd)
        if inserts:
            new_ids = _insert_new(conn, inserts, prepared)
            recategorised.extend((pid, incoming[key]["categories"]) for pid, key in new_ids)
            if fulltext is not None:
                added.extend(_indexed(pid, incoming[key]) for pid, key in new_ids)
            counts.inserted = len(inserts)
        if updates:
            names = [k[2:] for k in updates[0] if k != "b_id"]
            stmt = papers.update().where(papers.c.id == sa.bindparam("b_id")).values(
                {n: sa.bindparam("b_" + n) for n in names})
            conn.execute(stmt, updates)
            counts.updated = len(updates)
        if recategorised:
            ids = [pid for pid, _ in recategorised]
            for i in range(0, len(ids), 900):
                conn.execute(paper_categories.delete().where(paper_categories.c.paper.in_(ids[i:i + 900])))
            cat_rows = [{"paper": pid, "category": c, "position": n}
                        for pid, cats in recategorised for n, c in enumerate(dict.fromkeys(cats or ()))]
            if cat_rows:
                _insert_rows(conn, paper_categories, cat_rows)
    if fulltext is not None:
        # After the commit: the side index only ever holds stored papers.
        fulltext.add(removed, added, counts.updated)
    return counts


def _stored_keys(conn: sa.Connection, keys: list[str]) -> list[str]:
    """Which of these paper keys the store already holds. On SQLite a plain parameterised query:
    on a first load nothing is found, and building SQLAlchemy's 900-value IN clauses cost more
    than the lookup itself. On PostgreSQL every key is returned (the full-row query decides)."""
    if conn.dialect.name != "sqlite":
        return keys
    found: list[str] = []
    for i in range(0, len(keys), 900):  # stay under SQLite's default bound-parameter limit
        chunk = keys[i:i + 900]
        found.extend(k for (k,) in conn.exec_driver_sql(
            f"SELECT paper_id FROM papers WHERE paper_id IN ({', '.join('?' * len(chunk))})", tuple(chunk)))
    return found


def _insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows. On PostgreSQL via COPY: executemany sends one INSERT per row; COPY measured
    half the client CPU and less server time for a bulk load (benchmarks/ingest.py)."""
    if conn.dialect.name == "sqlite":
        sqlite_insert(conn, table, rows)
        return
    if conn.dialect.driver != "psycopg":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    json_cols = {c.name for c in table.c if isinstance(c.type, sa.JSON)}
    raw = conn.connection.driver_connection  # the psycopg 3 connection, inside this transaction
    with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
        f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    ) as copy:
        for row in rows:
            # json.dumps(None) is JSON null, which is what SQLAlchemy's JSON type stores for None too.
            copy.write_row([json.dumps(row[n]) if n in json_cols else row[n]
                            for n in names])


def _insert_new(conn: sa.Connection, rows: list[dict[str, Any]],
                prepared: PreparedBatch) -> list[tuple[int, str]]:
    """Insert new papers; return (row id, paper key) of each."""
    if conn.dialect.name == "sqlite":
        sqlite_insert_values(conn, papers, prepared.insert_names,
                             [prepared.insert_values[r["paper_id"]] for r in rows])
        # The inserts hold SQLite's write lock until commit, so the newest len(rows) row ids are ours
        # (a new rowid is always above the largest); checked against the keys before use.
        newest = conn.exec_driver_sql(
            "SELECT id, paper_id FROM papers ORDER BY id DESC LIMIT ?", (len(rows),)).all()
        ids = {key: pid for pid, key in newest}
        if len(ids) == len(rows) and all(r["paper_id"] in ids for r in rows):
            return [(ids[r["paper_id"]], r["paper_id"]) for r in rows]
    else:
        _insert_rows(conn, papers, rows)
    new_keys = [r["paper_id"] for r in rows]
    found: list[tuple[int, str]] = []
    for i in range(0, len(new_keys), 900):
        found.extend((pid, key) for pid, key in conn.execute(
            sa.select(papers.c.id, papers.c.paper_id).where(papers.c.paper_id.in_(new_keys[i:i + 900]))))
    return found


def get_paper(engine: sa.Engine, paper_id: str) -> Paper | None:
    """The paper with this stable id (arXiv id, `doi:...`), or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(papers).where(papers.c.paper_id == paper_id)).mappings().first()
    return row_to_paper(row) if row else None


def get_papers_by_rowid(engine: sa.Engine, rowids: Sequence[int]) -> list[Paper]:
    """Papers for these row ids, in the order given (missing ids are left out)."""
    found: dict[int, Paper] = {}
    with engine.connect() as conn:
        for i in range(0, len(rowids), 900):
            q = sa.select(papers).where(papers.c.id.in_(list(rowids[i:i + 900])))
            for row in conn.execute(q).mappings():
                found[row["id"]] = row_to_paper(row)
    return [found[r] for r in rowids if r in found]


def hidden_among(engine: sa.Engine, rowids: Sequence[int]) -> set[int]:
    """Which of these row ids a moderator has hidden."""
    found: set[int] = set()
    with engine.connect() as conn:
        for i in range(0, len(rowids), 900):
            # Inlined integers: search asks this for a few hundred ids on every query, and binding an
            # expanding IN list cost more than the lookup itself (~3 ms for 250 ids).
            ids = ",".join(str(int(r)) for r in rowids[i:i + 900])
            query = sa.text(f"SELECT id FROM papers WHERE hidden AND id IN ({ids})")
            found.update(conn.execute(query).scalars())
    return found


def count_papers(engine: sa.Engine) -> int:
    """How many papers the store holds."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one())


def iter_papers(engine: sa.Engine, after_rowid: int = 0, batch_size: int = 1000) -> Iterator[list[Paper]]:
    """All papers with row id > after_rowid, in row-id order, a batch at a time (constant memory)."""
    last = after_rowid
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(papers).where(papers.c.id > last).order_by(papers.c.id).limit(batch_size)
            ).mappings().all()
        if not rows:
            return
        yield [row_to_paper(r) for r in rows]
        last = rows[-1]["id"]


def latest_listed(engine: sa.Engine) -> date | None:
    """The most recent listing date that has papers."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(papers.c.listed))).scalar_one()
