"""Schemathesis fuzzes every operation in the OpenAPI schema (over ASGI): no input may cause a 5xx."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed (pip install '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error, positive_data_acceptance  # noqa: E402

from paperscope.settings import Settings  # noqa: E402
from paperscope.store import open_database  # noqa: E402
from paperscope.store import users as user_store  # noqa: E402
from paperscope.web.app import create_app  # noqa: E402
from paperscope.web.app_state import app_state  # noqa: E402
from tests.community_support import add_user  # noqa: E402
from tests.httpfixture import FIXTURES  # noqa: E402
from tests.support.web_data import load_library  # noqa: E402


@pytest.fixture(scope="module")
def web_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home: Path = tmp_path_factory.mktemp("schema-home")
    config = Settings(home=home, request_interval=0.0)
    load_library(open_database(config.db_url))
    app = create_app(config, cache_seconds=0)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app_state(app).engine.dispose()


@pytest.mark.slow
def test_no_server_errors(web_schema: Any) -> None:
    # One hypothesis run per operation (the schemathesis pytest plugin does not support this pytest);
    # a failing example raises with the curl command that reproduces it.
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()


# Every check schemathesis has (the CLI's `--checks all`), with a bearer token, in both generation
# modes: the document must say what the routes answer (statuses, content types, error bodies) and
# refuse what they refuse. One exception, `positive_data_acceptance` ("schema-valid input must not get
# a 400/422"), is not asked of operations whose refusals no schema can state:
NOT_EXPRESSIBLE = {
    # Browser forms re-render with a friendly 400 (wrong password, taken name, expired form token).
    "POST /signup", "POST /signin", "POST /password-reset", "POST /password-reset/{token}", "POST /subscribe",
    "POST /submit",
    # Signed links: a token of the right shape that was not signed here is a 400.
    "GET /subscriptions/confirm/{token}", "POST /subscriptions/confirm/{token}",
    "GET /subscriptions/unsubscribe/{token}", "POST /subscriptions/unsubscribe/{token}",
    "GET /password-reset/{token}", "GET /verify-email/{token}", "GET /invite/{token}", "POST /invite/{token}",
    # Queries: "at least one word", "at most 1,000 results deep", date_from <= date_to.
    "GET /search", "GET /api/search", "GET /api/papers/search", "GET /feeds/search.atom",
    # An author's name is plain text: control, private-use and unassigned characters are a 400.
    "GET /authors/{name}", "GET /feeds/author/{name}.atom",
    # A digest category must be one this library has papers in (a typo would give an empty digest).
    "POST /api/subscriptions",
    # Periods: date, week and month are exclusive, and 2025-02-30 has the shape of a day.
    "GET /", "GET /categories/{category}", "GET /api/daily_papers", "GET /feeds/daily.atom",
    "GET /feeds/category/{category}.atom",
}


class EmptyArxiv:
    """An arXiv API stand-in that knows no paper (submissions of new ids end in a 404)."""

    def __init__(self) -> None:
        body = (FIXTURES / "arxiv_api" / "empty.xml").read_bytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/query"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


def _fuzzer(operation: Any, mode: GenerationMode, headers: dict[str, str], excluded: list[Any]) -> Any:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=5, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return fuzz


@pytest.mark.slow
def test_the_document_is_true_with_every_check(tmp_path: Path) -> None:
    arxiv = EmptyArxiv()
    config = Settings(home=tmp_path / "home", request_interval=0.0, arxiv_api_url=arxiv.url)
    load_library(open_database(config.db_url))
    app = create_app(config, cache_seconds=0)
    admin = add_user(app_state(app).engine, "fuzzer", role="admin")
    user_store.create_api_token(app_state(app).engine, admin.id, "schemathesis", "ps_schemathesis-token")
    bearer = {"Authorization": "Bearer ps_schemathesis-token"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # NUL is refused everywhere, before any route (web/request_guard.py: a 400 no schema can state for
    # free-form JSON keys); its own tests cover it, so the fuzzer's strings leave it out.
    schema.config.generation.update(allow_x00=False)
    # A body over the app's cap is refused with 413 before any route reads it (web/request_guard.py).
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    failures: dict[str, str] = {}
    # Browser forms (form-encoded bodies) re-render with a friendly 400/422 for what a person typed wrong:
    # a taken name, an empty field, a bad date. No schema states those refusals.
    document = app.openapi()
    forms = {f"{method.upper()} {path}" for path, item in document["paths"].items()
             for method, op in item.items()
             if set(op.get("requestBody", {}).get("content", {})) & {"application/x-www-form-urlencoded",
                                                                      "multipart/form-data"}}
    # The lab's group, collection and alert APIs (issue #17) refuse more than their documents state yet
    # (slugs, names and webhook URLs are checked in code); they are held to every other check.
    lab = {f"{method.upper()} {path}" for path, item in document["paths"].items()
           for method, op in item.items() if set(op.get("tags", [])) & {"groups", "collections", "alerts"}}
    forms |= lab
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            expressible = operation.label not in NOT_EXPRESSIBLE and operation.label not in forms
            excluded = [] if expressible else [positive_data_acceptance]
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz = _fuzzer(operation, mode, bearer, excluded)
                try:
                    fuzz()
                except Unsatisfiable:  # nothing to make invalid: an operation without parameters
                    continue
                except Exception as exc:  # collect every operation's failure, then report them all
                    failures[f"{operation.label} ({mode.value})"] = str(exc)[:1500]
    finally:
        app_state(app).engine.dispose()
        arxiv.httpd.shutdown()
        arxiv.httpd.server_close()
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
