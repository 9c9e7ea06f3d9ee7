"""The store keeps one row per paper, merges re-ingested records sensibly and counts correctly."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from paperscope.model import HfInfo, Paper
from paperscope.store import count_papers, get_paper, get_state, set_state, store_stats, upsert_papers
from paperscope.store.db import _alembic_config, current_revision, head_revision, upgrade
from paperscope.store.schema import paper_categories

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends


def make(i: int, **kw: object) -> Paper:
    base: dict[str, object] = dict(
        arxiv_id=f"2501.{i:05d}", version=1, title=f"Paper {i}", abstract=f"Abstract {i}",
        authors=("Ada Lovelace", "Alan Turing"), categories=("cs.CL", "cs.AI"),
        published=date(2025, 1, 2), listed=date(2025, 1, 3), source="jsonl",
    )
    base.update(kw)
    return Paper(**base)  # type: ignore[arg-type]


def test_migrations_reach_head_and_are_idempotent(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # second run is a no-op
    assert current_revision(engine) == head_revision()


def test_head_revision_read_from_the_scripts_is_alembics(engine: sa.Engine) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as conn:
        assert current_revision(engine) == MigrationContext.configure(conn).get_current_revision()


def test_opening_a_current_store_does_not_load_alembic(db_url: str) -> None:
    # A current schema is told from a query; alembic (~0.1 s of CPU per process) loads only to change one.
    code = ("import sys, paperscope.cli; from paperscope.store import open_database; "
            "open_database(sys.argv[1]).dispose(); sys.exit('alembic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code, db_url], check=False).returncode == 0


def test_upsert_twice_never_duplicates(engine: sa.Engine) -> None:
    batch = [make(i) for i in range(50)]
    first = upsert_papers(engine, batch)
    second = upsert_papers(engine, batch)
    assert (first.inserted, second.inserted, second.unchanged) == (50, 0, 50)
    assert count_papers(engine) == 50
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(paper_categories)).scalar_one() == 100


def test_round_trip_keeps_every_field(engine: sa.Engine) -> None:
    p = make(7, doi="10.1/x", journal_ref="J. Stuff 1", comments="12 pages", license="CC0",
             updated=date(2025, 2, 1),
             hf=HfInfo(upvotes=12, submitted_at=datetime(2025, 1, 3, 9, tzinfo=UTC), submitted_by="akhaliq",
                       github_repo="https://github.com/a/b", github_stars=5, keywords=("llm",)))
    upsert_papers(engine, [p])
    got = get_paper(engine, "2501.00007")
    assert got is not None and got.rowid is not None and got.first_seen is not None
    assert got.authors == ("Ada Lovelace", "Alan Turing")  # order kept
    assert got.categories == ("cs.CL", "cs.AI") and got.primary_category == "cs.CL"
    assert (got.doi, got.journal_ref, got.comments) == ("10.1/x", "J. Stuff 1", "12 pages")
    assert got.license == "CC0"
    assert got.hf is not None and got.hf.upvotes == 12 and got.hf.submitted_by == "akhaliq"
    assert got.hf.submitted_at == datetime(2025, 1, 3, 9, tzinfo=UTC) and got.hf.keywords == ("llm",)


def test_newer_version_replaces_and_keeps_first_seen(engine: sa.Engine) -> None:
    upsert_papers(engine, [make(1)])
    before = get_paper(engine, "2501.00001")
    counts = upsert_papers(engine, [make(1, version=2, title="Better title", categories=("cs.LG",),
                                         listed=date(2025, 3, 1), published=date(2025, 2, 1))])
    after = get_paper(engine, "2501.00001")
    assert counts.updated == 1 and before and after
    assert (after.version, after.title, after.categories) == (2, "Better title", ("cs.LG",))
    assert after.first_seen == before.first_seen
    assert after.listed == date(2025, 1, 3) and after.published == date(2025, 1, 2)
    with engine.connect() as conn:
        cats = conn.execute(sa.select(paper_categories.c.category)
                            .where(paper_categories.c.paper == after.rowid)).scalars().all()
    assert cats == ["cs.LG"]


def test_older_version_does_not_overwrite(engine: sa.Engine) -> None:
    upsert_papers(engine, [make(1, version=3, title="v3 title")])
    upsert_papers(engine, [make(1, version=1, title="v1 title")])
    got = get_paper(engine, "2501.00001")
    assert got and got.version == 3 and got.title == "v3 title"


def test_hf_fields_merge_into_existing_paper(engine: sa.Engine) -> None:
    upsert_papers(engine, [make(1)])
    upsert_papers(engine, [Paper(arxiv_id="2501.00001", title="Paper 1", source="hf-daily",
                                 hf=HfInfo(upvotes=40, submitted_by="someone"))])
    got = get_paper(engine, "2501.00001")
    assert got and got.hf and got.hf.upvotes == 40 and got.abstract == "Abstract 1"
    assert got.source == "jsonl"  # provenance: where it first came from


def test_doi_only_papers_have_a_stable_key(engine: sa.Engine) -> None:
    p = Paper(title="A DOI-only paper", doi="10.1000/XYZ", source="manual")
    upsert_papers(engine, [p, p])
    assert count_papers(engine) == 1
    assert get_paper(engine, "doi:10.1000/xyz") is not None
    untitled = Paper(title="No ids at all", source="manual")
    assert untitled.paper_id == Paper(title="no ids, at all!", source="x").paper_id


def test_stats_count_by_source_category_month(engine: sa.Engine) -> None:
    upsert_papers(engine, [
        make(i, listed=date(2025, 1 + i % 2, 5), categories=("cs.CV",) if i < 3 else ("cs.CL",))
        for i in range(10)
    ])
    st = store_stats(engine)
    assert st.total == 10 and st.by_source == {"jsonl": 10}
    assert st.by_category == {"cs.CL": 7, "cs.CV": 3}
    assert st.by_month == {"2025-01": 5, "2025-02": 5}


def test_job_state_round_trip(engine: sa.Engine) -> None:
    assert get_state(engine, "oai:cs") is None
    set_state(engine, "oai:cs", {"token": "abc", "datestamp": "2025-01-01"})
    set_state(engine, "oai:cs", {"token": None, "datestamp": "2025-01-02"})
    assert get_state(engine, "oai:cs") == {"token": None, "datestamp": "2025-01-02"}


def test_bulk_insert_stores_what_sqlalchemy_would(engine: sa.Engine) -> None:
    """The fast insert path (raw multi-row INSERTs on SQLite) must leave the same stored text as a
    plain SQLAlchemy insert: other code and older rows read and compare these columns."""
    from paperscope.store.papers import paper_to_row
    from paperscope.store.schema import papers

    p = make(9, authors=("Zoë Müller-Ĳssel", 'O"Brien \\ Tab\t', "李雷", "😀 Emoji"),
             categories=("cs.CL",), doi="10.1/ü", updated=date(2025, 2, 1),
             hf=HfInfo(upvotes=3, submitted_at=datetime(2025, 1, 3, 9, 30, 1, 5, tzinfo=UTC),
                       keywords=("a", "ß")))
    upsert_papers(engine, [p, make(10)])
    twin = dict(paper_to_row(p), paper_id="twin")
    stored_first_seen = get_paper(engine, p.paper_id).first_seen  # type: ignore[union-attr]
    twin.update(first_seen=stored_first_seen, modified=stored_first_seen)
    with engine.begin() as conn:
        conn.execute(papers.insert(), [twin])
    cols = [c.name for c in papers.c if c.name not in ("id", "paper_id")]
    # Compare the stored representation (text), not the decoded values.
    sel = ", ".join(f"CAST({c} AS TEXT)" for c in cols)
    with engine.connect() as conn:
        fast, plain = (conn.execute(sa.text(f"SELECT {sel} FROM papers WHERE paper_id = :k"), {"k": k}).one()
                       for k in (p.paper_id, "twin"))
    assert dict(zip(cols, fast, strict=True)) == dict(zip(cols, plain, strict=True))
    got = get_paper(engine, p.paper_id)
    assert got is not None and got.authors == p.authors
    assert got.hf is not None and got.hf.keywords == ("a", "ß")


def test_migration_0006_upgrades_a_store_with_papers(empty_db_url: str) -> None:
    from alembic import command

    from paperscope.store import create_engine
    from paperscope.store.db import _alembic_config
    from paperscope.store.fulltext import search_fulltext

    eng = create_engine(empty_db_url)
    cfg = _alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    upsert_papers(eng, [make(i, title=f"Quantum sheaf {i}") for i in range(30)])
    upgrade(eng)
    assert current_revision(eng) == head_revision() and count_papers(eng) == 30
    upsert_papers(eng, [make(100 + i, title=f"Quantum sheaf {100 + i}") for i in range(30)])
    assert len(search_fulltext(eng, "quantum sheaf", limit=100)) == 60
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            size = conn.execute(sa.text("SELECT v FROM papers_fts_config WHERE k = 'hashsize'")).scalar_one()
            conn.execute(sa.text("INSERT INTO papers_fts(papers_fts) VALUES ('integrity-check')"))
            unindexed = conn.execute(sa.text(
                "SELECT COUNT(*) FROM papers WHERE id NOT IN (SELECT id FROM papers_fts_docsize)")
            ).scalar_one()
            assert unindexed == 0
        assert size == 16 * 1024 * 1024
    eng.dispose()
