"""First loads on SQLite build the full-text index beside the store; whatever happens during the load,
afterwards every stored paper is searchable by its current text and the triggers are back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperscope.model import Paper
from paperscope.store import get_state, ingest_records, open_database, upsert_papers
from paperscope.store.fulltext import search_fulltext
from paperscope.store.fulltext_build import MARKER, SideFulltextBuild
from paperscope.store.papers import prepare_batch, write_batch
from paperscope.store.schema import job_state, papers


def paper(n: int, title: str, abstract: str = "", authors: tuple[str, ...] = ("Ann Author",)) -> Paper:
    return Paper(arxiv_id=f"2505.{n:05d}", version=1, title=title, abstract=abstract, authors=authors,
                 categories=("cs.CL",), source="test")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def found(engine: sa.Engine, query: str) -> set[str]:
    with engine.connect() as conn:
        by_row = dict(conn.execute(sa.select(papers.c.id, papers.c.paper_id)).all())
    return {by_row[r] for r, _ in search_fulltext(engine, query)}


def healthy(engine: sa.Engine) -> None:
    """The index matches the table, the three triggers exist, and nothing of the build is left."""
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO papers_fts(papers_fts) VALUES ('integrity-check')")
        triggers = conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'papers_fts_%'").scalar()
        total = conn.exec_driver_sql("SELECT count(*) FROM papers").scalar()
        indexed = conn.exec_driver_sql("SELECT count(*) FROM papers_fts_docsize").scalar()
    assert triggers == 3 and total == indexed
    assert get_state(engine, MARKER) is None
    assert not Path(engine.url.database + ".fts-build").exists()  # type: ignore[operator]


def test_first_load_is_searchable_and_later_writes_stay_in_sync(store: sa.Engine) -> None:
    corpus = [paper(n, f"Graph study number {n}", "Transformers everywhere", ("Jürgen Müller",))
              for n in range(1, 60)]
    # A paper repeated in a later batch with a new title: only the newest text may match.
    corpus.append(paper(3, "Protein folding revisited", "Diffusion models", ("Marie Curie",)))
    report = ingest_records(store, corpus, batch_size=7, bulk=True)
    assert report.counts.inserted == 59 and report.counts.updated == 1
    healthy(store)
    assert "2505.00003" in found(store, "protein")
    assert "2505.00003" not in found(store, "graph") and len(found(store, "graph")) == 58
    assert len(found(store, "Müller")) == 58 and found(store, "curie") == {"2505.00003"}
    # After the load the triggers keep the index current again.
    upsert_papers(store, [paper(5, "Quantum error correction")])
    assert found(store, "quantum") == {"2505.00005"} and "2505.00005" not in found(store, "graph")
    ingest_records(store, [paper(900, "Quantum sensing")], bulk=True)  # not a first load any more
    assert found(store, "quantum") == {"2505.00005", "2505.00900"}
    healthy(store)


def test_papers_written_by_someone_else_during_the_load_are_indexed(store: sa.Engine) -> None:
    build = SideFulltextBuild.begin(store)
    assert build is not None
    write_batch(store, prepare_batch(store, [paper(1, "Graph methods")]), build)
    # Another writer (say `paperscope add`) while the triggers are away: the side index misses it.
    upsert_papers(store, [paper(2, "Graph kernels")])
    build.finish()
    assert found(store, "graph") == {"2505.00001", "2505.00002"}
    healthy(store)


def test_only_bulk_first_loads_set_the_triggers_aside(store: sa.Engine) -> None:
    seen: list[object] = []
    ingest_records(store, [paper(1, "Graph methods")],
                   on_batch=lambda *_: seen.append(get_state(store, MARKER)))
    assert seen == [None]  # a harvest's papers are searchable as each batch lands
    assert SideFulltextBuild.begin(store) is None  # the store holds papers now


def test_a_load_that_died_is_repaired_on_the_next_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_database(url)
    build = SideFulltextBuild.begin(engine)
    assert build is not None
    write_batch(engine, prepare_batch(engine, [paper(n, f"Graph paper {n}") for n in range(1, 20)]), build)
    # The loader dies: its thread and scratch file stay behind, its pid no longer exists.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    with engine.begin() as conn:
        marker = conn.execute(sa.select(job_state.c.value).where(job_state.c.name == MARKER)).scalar_one()
        value = dict(marker)
        value["pid"] = int(dead.stdout)
        conn.execute(job_state.update().where(job_state.c.name == MARKER).values(value=value))
    assert found(engine, "graph") == set()  # nothing indexed yet: the side index never moved in
    engine.dispose()
    reopened = open_database(url)
    assert len(found(reopened, "graph")) == 19
    healthy(reopened)
    upsert_papers(reopened, [paper(50, "Graph again")])  # triggers are back
    assert len(found(reopened, "graph")) == 20
    reopened.dispose()
    build._queue.put(None)  # let the orphaned builder thread end


def test_a_live_loader_is_left_alone(store: sa.Engine) -> None:
    build = SideFulltextBuild.begin(store)
    assert build is not None
    write_batch(store, prepare_batch(store, [paper(1, "Graph methods")]), build)
    other = open_database(str(store.url))  # e.g. the web app starting during the load
    assert get_state(other, MARKER) is not None
    other.dispose()
    build.finish()
    assert found(store, "graph") == {"2505.00001"}
    healthy(store)


def test_a_failing_builder_falls_back_to_indexing_from_the_table(store: sa.Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("paperscope.store.fulltext_build._insert", broken)
    report = ingest_records(store, [paper(n, f"Graph paper {n}") for n in range(1, 30)], batch_size=5,
                            bulk=True)
    assert report.counts.inserted == 29
    assert len(found(store, "graph")) == 29
    healthy(store)


def test_a_paper_updated_by_someone_else_during_the_load_is_reindexed(store: sa.Engine) -> None:
    build = SideFulltextBuild.begin(store)
    assert build is not None
    write_batch(store, prepare_batch(store, [paper(1, "Graph methods"), paper(2, "Protein folding")]), build)
    # Another process rewrites a paper the loader stored: the counts still agree, the text does not.
    upsert_papers(store, [paper(2, "Quantum chemistry")])
    # The loader's own updates are its own business (the side index has them).
    write_batch(store, prepare_batch(store, [paper(1, "Graph methods revisited")]), build)
    build.finish()
    assert found(store, "quantum") == {"2505.00002"} and found(store, "protein") == set()
    assert found(store, "revisited") == {"2505.00001"}
    healthy(store)
    with store.connect() as conn:  # the guards went with the load
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                    "AND name LIKE 'papers_side_guard%'").scalar() == 0


def test_a_scratch_file_left_after_the_last_commit_is_removed_on_the_next_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_database(url)
    ingest_records(engine, [paper(n, f"Graph paper {n}") for n in range(1, 10)], bulk=True)
    engine.dispose()
    # A kill -9 between the final commit (marker gone) and deleting the scratch file leaves this:
    scratch = tmp_path / "store.db.fts-build"
    scratch.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4096)
    reopened = open_database(url)
    assert not scratch.exists()
    assert len(found(reopened, "graph")) == 9
    healthy(reopened)
    reopened.dispose()
