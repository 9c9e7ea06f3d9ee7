"""Schemathesis fuzzes every operation in the OpenAPI schema (over ASGI): no input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed (pip install '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from paperscope.settings import Settings  # noqa: E402
from paperscope.store import open_database  # noqa: E402
from paperscope.web.app import create_app  # noqa: E402
from tests.support.web_data import load_library  # noqa: E402


@pytest.fixture(scope="module")
def web_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home: Path = tmp_path_factory.mktemp("schema-home")
    config = Settings(home=home, request_interval=0.0)
    load_library(open_database(config.db_url))
    app = create_app(config, cache_seconds=0)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.engine.dispose()


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
