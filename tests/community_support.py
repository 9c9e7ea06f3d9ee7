"""Helpers for the accounts / community / security tests: an app with a settable clock, form posting
with the CSRF token a page carries, accounts made straight in the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperscope.settings import Settings
from paperscope.store import open_database
from paperscope.store import users as user_store
from paperscope.store.users import User
from paperscope.web import passwords
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.web_data import load_library

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Clock:
    """A clock the test moves by hand (installed as app_state(app).clock)."""

    now: datetime = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_app(settings: Settings, *, with_library: bool = True) -> tuple[FastAPI, Clock]:
    """The real app on the test database, response cache off, with a hand-moved clock."""
    if with_library:
        engine = open_database(settings.db_url)
        load_library(engine)
        engine.dispose()
    app = create_app(settings, cache_seconds=0)
    clock = Clock()
    app_state(app).clock = clock
    return app, clock


def add_user(engine: sa.Engine, name: str, role: str = "user", password: str = PASSWORD) -> User:
    """An account made directly in the store (as `paperscope user add` does)."""
    hashed = passwords.password_hasher().hash(password)
    return user_store.create_user(engine, name, f"{name}@example.org", hashed, role=role)


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "page has no CSRF token"
    return found.group(1)


def page_csrf(client: TestClient, path: str = "/account") -> str:
    """Load a page and return the CSRF token its forms carry."""
    return csrf_from(client.get(path).text)


def sign_in(client: TestClient, login: str, password: str = PASSWORD) -> int:
    """Sign in through the form; returns the status (303 on success)."""
    token = page_csrf(client, "/signin")
    r = client.post("/signin", data={"login": login, "password": password, "csrf": token},
                    follow_redirects=False)
    return r.status_code
