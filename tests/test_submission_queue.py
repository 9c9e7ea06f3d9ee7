"""Submissions of papers new to the store are fetched from arXiv off the request threads (issue 15,
item 6), through the real app served by uvicorn and an arXiv stand-in that answers only when the test
lets it: a hung arXiv and one account's burst of submissions must not stall anyone else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI

from paperscope.settings import Settings
from paperscope.store import users as user_store
from paperscope.web.app_state import app_state
from tests.community_support import add_user, make_app
from tests.httpfixture import FIXTURES
from tests.support.web_data import live_server


class HeldArxiv:
    """An arXiv API stand-in that holds every request until `release` is set, then answers ids.xml."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.asked = threading.Event()
        self.requests: list[str] = []
        body = (FIXTURES / "arxiv_api" / "ids.xml").read_bytes()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.requests.append(self.path)
                outer.asked.set()
                outer.release.wait(timeout=60)
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/api/query"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def arxiv() -> Iterator[HeldArxiv]:
    server = HeldArxiv()
    yield server
    server.stop()


@pytest.fixture
def app(settings: Settings, arxiv: HeldArxiv) -> Iterator[FastAPI]:
    app, _ = make_app(settings.model_copy(update={"arxiv_api_url": arxiv.url}))
    app_state(app).submission_wait = 1.0
    yield app
    app_state(app).engine.dispose()


def _token(app: FastAPI, name: str) -> dict[str, str]:
    user = add_user(app_state(app).engine, name)
    token = f"ps_queue-test-{name}"
    user_store.create_api_token(app_state(app).engine, user.id, "tests", token)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
def test_a_hung_arxiv_and_a_burst_of_submissions_do_not_stall_other_users(
        app: FastAPI, arxiv: HeldArxiv) -> None:
    burst, other, third = _token(app, "burst"), _token(app, "other"), _token(app, "third")
    app_state(app).submission_queue.capacity = 3
    ids = ["2405.19504"] + [f"2611.{n:05d}" for n in range(1, 40)]
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        def submit(paper: str) -> int:
            return c.post("/api/v1/submissions", json={"paper": paper}, headers=burst).status_code

        assert submit(ids[0]) == 202  # arXiv holds it: the request stops waiting and says "queued"
        with ThreadPoolExecutor(max_workers=39) as pool:
            answers = list(pool.map(submit, ids[1:]))
        assert arxiv.asked.is_set() and not arxiv.release.is_set()  # arXiv is still sitting on it
        # Two more wait for arXiv; the rest are refused at once (per-account cap), never queued.
        assert sorted(answers) == [202] * 2 + [429] * 37
        # Another user is served while arXiv hangs; with the queue full, new fetches say so (503).
        me = c.get("/api/v1/me", headers=other, timeout=10)
        assert me.status_code == 200 and me.json()["username"] == "other"
        full = c.post("/api/v1/submissions", json={"paper": "2611.01234"}, headers=third)
        assert full.status_code == 503 and "retry-after" in full.headers
        status_url = "/api/v1/submissions/2405.19504"
        assert c.get(status_url, headers=burst).json()["status"] == "queued"
        arxiv.release.set()
        for _ in range(400):
            state = c.get(status_url, headers=burst).json()["status"]
            if state != "queued":
                break
            threading.Event().wait(0.05)
        assert state == "listed"
        assert c.get("/api/papers/2405.19504").json()["id"] == "2405.19504"
        for _ in range(400):  # the other two: not on arXiv (the stand-in knows only ids.xml's papers)
            if len(arxiv.requests) == 2 and all(
                    c.get(f"/api/v1/submissions/{p}", headers=burst).json()["status"] != "queued"
                    for p, a in zip(ids[1:], answers, strict=True) if a == 202):
                break
            threading.Event().wait(0.05)
    # One polite client, one request at a time: the two queued behind the first went in one request.
    assert len(arxiv.requests) == 2 and arxiv.requests[1].count("%2C") == 1


def test_a_new_paper_fetched_quickly_is_listed_in_the_same_request(app: FastAPI, arxiv: HeldArxiv) -> None:
    arxiv.release.set()
    alice = _token(app, "alice")
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/api/v1/submissions", json={"paper": "2405.19504"}, headers=alice)
        assert r.status_code == 201 and r.json()["submitted_by"] == "alice"
        status = c.get("/api/v1/submissions/2405.19504", headers=alice).json()
        assert status["status"] == "listed"
        missing = c.post("/api/v1/submissions", json={"paper": "2611.77777"}, headers=alice)
        assert missing.status_code == 404 and "2611.77777" in missing.json()["error"]
