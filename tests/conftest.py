"""Shared fixtures: every store-backed test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

import paperscope.store
from paperscope.embed import Encoder, bundled, load_encoder
from paperscope.index.build import build_index
from paperscope.search import SearchEngine
from paperscope.settings import Settings
from paperscope.store import db as store_db
from paperscope.store import open_database, upsert_papers
from paperscope.web import passwords
from tests.httpfixture import ScriptedServer, scripted_server
from tests.pg import PgServer, start_pg
from tests.support.browser import chromium
from tests.support.encoders import ConvertedModels
from tests.support.topic_corpus import corpus
from tests.support.web_data import library_app, live_server

# A database migrated once per session; each test's database is a copy of it (PostgreSQL's CREATE
# DATABASE ... TEMPLATE, a file copy on SQLite), which costs a fraction of running the migrations again.
PG_TEMPLATE = "paperscope_template"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session. Skips when none is installed, unless
    PAPERSCOPE_REQUIRE_PG=1 (`make test`, hence CI), where a missing server is a failure."""
    server = start_pg()
    if server is None:
        if os.environ.get("PAPERSCOPE_REQUIRE_PG") == "1":
            pytest.fail("PostgreSQL server binaries not found (apt-get install postgresql)")
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """The name of a PostgreSQL database migrated to the newest schema, to copy from."""
    engine = open_database(pg_server.create_database(PG_TEMPLATE))
    engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template to have no connection
    return PG_TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated to the newest schema, to copy from."""
    path = tmp_path_factory.mktemp("template") / "paperscope.db"
    engine = open_database(f"sqlite:///{path}")
    engine.dispose()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session", autouse=True)
def _nothing_written_outside_temp_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The home folder (the default PAPERSCOPE_HOME, and where onnxruntime and Chromium keep caches) and
    the /dev/shm folder web workers share pages through are temp folders for the session."""
    from paperscope.web import shared_cache

    home = tmp_path_factory.mktemp("user-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        patch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        patch.setattr(shared_cache, "SHM", tmp_path_factory.mktemp("shm"))
        yield


# argon2id at its lowest cost (one pass over 8 KiB) for the apps and accounts tests make: the production
# parameters (19 MiB, two passes) cost ~20 ms per hash, and tests hash hundreds of times. The parameters
# themselves, and the upgrade of a hash made with others, are tested in test_hardening_accounts.py.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "password_hasher", lambda: CHEAP_HASHER)
        yield


@pytest.fixture(autouse=True)
def _close_stores_opened_by_the_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every store a test opens (through `open_database`, its own or the app's) is disposed when the test
    ends, so no connection is left for the garbage collector to drop in the middle of a later test (the
    suite runs with ResourceWarning as an error). Disposing only closes pooled connections: an engine
    still in use by a longer-lived fixture simply reconnects."""
    opened: list[sa.Engine] = []
    real = store_db.create_engine

    def tracked(url: str) -> sa.Engine:
        engine = real(url)
        opened.append(engine)
        return engine

    monkeypatch.setattr(store_db, "create_engine", tracked)  # what open_database calls
    monkeypatch.setattr(paperscope.store, "create_engine", tracked)
    yield
    for engine in opened:
        engine.dispose()


BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--every-backend", action="store_true",
                     help="run every store-backed test on SQLite and PostgreSQL, not only the modules "
                          "marked both_backends")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_backends: run the test's store (the `backend` fixture) on SQLite and on PostgreSQL; "
                   "unmarked tests run on SQLite only")
    config.addinivalue_line(
        "markers", "own_model_conversion: the test converts the bundled model itself instead of reusing "
                   "the session's conversion")
    config.addinivalue_line(
        "markers", "serial: the test starts a cluster of processes sized to the machine (a local Ray, "
                   "`serve --workers 2`, servers sharing one PostgreSQL); under pytest-xdist such tests run "
                   "one after another on one worker, never two at once")


# tryfirst: pytest-xdist reads the xdist_group marks in this hook too (it names work units by them).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order and group the tests for `make test`'s two workers (pytest-xdist, `--dist loadgroup`).

    - `serial` tests share one xdist group, so no two of them ever run at once.
    - `slow` tests are handed out first: the last minute of a run is then many short tests spread over
      both workers rather than one long test with the other worker idle. Within a module the order is
      kept, so module fixtures are still set up once per worker.
    """
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: keeps the rest in order


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Store-backed tests run on both backends where the backend matters (the store itself, ingest, mail,
    migrations, backend-specific SQL: modules marked `both_backends`); elsewhere - pages, features, the
    CLI over a store whose SQL the marked modules test on both - on SQLite only. `--every-backend` runs
    all of them on both. A test that parametrizes `backend` itself keeps its own list."""
    if "backend" not in metafunc.fixturenames:
        return
    if any("backend" in _argnames(mark) for mark in metafunc.definition.iter_markers("parametrize")):
        return
    both = (metafunc.config.getoption("--every-backend")
            or metafunc.definition.get_closest_marker("both_backends") is not None)
    metafunc.parametrize("backend", BACKENDS if both else BACKENDS[:1], indirect=True)


def _argnames(mark: pytest.Mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs["argnames"]
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database a store-backed test runs on (see pytest_generate_tests: which tests get both)."""
    return str(request.param)


@pytest.fixture
def empty_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL (no schema at all: for tests of the migrations themselves)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL, already migrated to the newest schema and holding nothing else."""
    if backend == "sqlite":
        path = tmp_path / "paperscope.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database(template=request.getfixturevalue("pg_template"))
    yield url
    server.drop_database(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A migrated store on each backend."""
    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings pointing at a temp home and the parametrised database."""
    return Settings(home=tmp_path / "home", database_url=db_url, request_interval=0.0)


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium for the module (tests/support/browser.py); skips when none is installed."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def library_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo library (tests/support/web_data.py) served over HTTP for the module; its base URL."""
    with library_app(tmp_path_factory.mktemp("site-home")) as app, live_server(app) as url:
        yield url


@pytest.fixture(scope="session")
def converted_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConvertedModels]:
    """The bundled model's int8 conversion, made once for the session (on first use): a home's first
    load of the bundled encoder finds it in its model cache instead of converting the graph again (~7 s
    each, in some 20 tests, some in module fixtures, hence a session-wide patch)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers' temp folders share one parent, this run's
        folder = tmp_path_factory.getbasetemp().parent / "converted-models"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("converted-models")
    models = ConvertedModels(folder)
    real = bundled.dynamic_int8

    def seeded(source: Path, cache_dir: Path, stem: str, per_channel: bool = True) -> Path:
        if models.enabled:
            models.seed(cache_dir, real, source, stem, per_channel)
        return real(source, cache_dir, stem, per_channel)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundled, "dynamic_int8", seeded)
        yield models


@pytest.fixture(scope="session", autouse=True)
def _bundled_model_converted_once(converted_models: ConvertedModels) -> None:
    """Every test, its fixtures included, loads the bundled encoder from the session's conversion."""


@pytest.fixture(scope="module", autouse=True)
def _own_model_conversion(request: pytest.FixtureRequest,
                          converted_models: ConvertedModels) -> Iterator[None]:
    """Modules marked `own_model_conversion` (the tests of the conversion) convert the graph themselves."""
    own = request.node.get_closest_marker("own_model_conversion") is not None
    converted_models.enabled = not own
    yield
    converted_models.enabled = True


@pytest.fixture(scope="session")
def encoder_home(tmp_path_factory: pytest.TempPathFactory, converted_models: ConvertedModels) -> Path:
    """A home for tests that load the bundled encoder (its converted graph from the session's conversion,
    instead of under the real ~/.paperscope)."""
    return converted_models.seed_home(tmp_path_factory.mktemp("encoder-home"))


@pytest.fixture(scope="session")
def bundled_encoder(encoder_home: Path) -> Encoder:
    """The real bundled encoder, loaded once for the session."""
    return load_encoder(Settings(home=encoder_home))


@pytest.fixture(scope="module")
def encoder(bundled_encoder: Encoder) -> Encoder:
    """The bundled encoder, remembering documents per test module (modules may define their own)."""
    from tests.support.encoders import MemoEncoder

    return MemoEncoder(bundled_encoder)


@pytest.fixture
def indexed_search_engine(engine: sa.Engine, settings: Settings, encoder: Encoder) -> SearchEngine:
    """A SearchEngine over the topic corpus (tests/support/topic_corpus.py), stored and indexed with
    the test module's `encoder`."""
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    return SearchEngine(engine, settings, encoder=encoder)


@pytest.fixture
def remote_api() -> Iterator[ScriptedServer]:
    """A scripted HTTP server on 127.0.0.1 (tests/httpfixture.py) standing in for a remote API: the test
    states its answers in order and reads the requests it got."""
    with scripted_server() as server:
        yield server
