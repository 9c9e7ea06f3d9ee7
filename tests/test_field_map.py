"""The map of the field: `paperscope map` lays out the indexed papers, labels regions and stores the map;
`/map` serves it (JSON twin, binary points, one point's paper, highlights); real Chromium draws it, hovers,
filters, highlights a search and clicks through to a paper."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paperscope.cli import app as cli_app
from paperscope.embed import Encoder
from paperscope.feed.field_map import compute_map, load_map, map_path, save_map
from paperscope.feed.map_layout import kmeans, layout_2d, tsne_available
from paperscope.index.build import build_index
from paperscope.settings import Settings
from paperscope.store import get_paper, upsert_papers
from paperscope.web.app import create_app
from paperscope.web.app_state import app_state
from tests.support.browser import chromium, needs_chromium
from tests.support.topic_corpus import TOPICS, corpus
from tests.support.web_data import live_server

SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
POINT_AT = "fetch('/api/map/point/' + window.paperscopeMap.pointOf({:f}, {:f})).then(r => r.json())"


@pytest.fixture
def indexed(engine: sa.Engine, settings: Settings, encoder: Encoder) -> sa.Engine:  # noqa: F811
    upsert_papers(engine, corpus())
    build_index(engine, settings.index_dir, encoder)
    return engine


def topic_of(paper_id: str) -> int:
    return int(paper_id[5:7]) - 1  # 2504.TTnnn


def test_map_groups_topics_into_labelled_regions(indexed: sa.Engine, settings: Settings) -> None:
    fmap = compute_map(indexed, settings.index_dir, method="pca", regions=4)
    assert fmap.count == 16 and fmap.method == "pca" and len(fmap.regions) == 4
    assert fmap.xy.min() >= 0.0 and fmap.xy.max() <= 1.0
    by_rowid = {}
    for p in corpus():
        stored = get_paper(indexed, p.paper_id)
        assert stored is not None
        by_rowid[stored.rowid] = p.paper_id
    ids = {rowid: by_rowid[rowid] for rowid in fmap.rowids.tolist()}
    # Papers of one topic share a region far more often than chance (4 topics x 4 papers).
    same = sum(1 for i, a in enumerate(fmap.rowids.tolist()) for j, b in enumerate(fmap.rowids.tolist())
               if i < j and topic_of(ids[a]) == topic_of(ids[b]) and fmap.region[i] == fmap.region[j])
    assert same >= 18  # of 24 same-topic pairs
    labels = " ".join(r["label"] for r in fmap.regions)
    assert "protein" in labels or "proteins" in labels
    assert sum(r["size"] for r in fmap.regions) == 16
    assert fmap.categories == sorted(TOPICS)
    path = map_path(settings.home)
    save_map(fmap, path)
    again = load_map(path)
    assert again is not None and again.built_at == fmap.built_at
    assert np.array_equal(again.rowids, fmap.rowids) and again.regions == fmap.regions
    assert [p.name for p in path.parent.iterdir()] == ["field_map.npz"]  # no temp file left behind


@pytest.mark.slow
@pytest.mark.skipif(not tsne_available(), reason="openTSNE not installed")
def test_tsne_layout_separates_clusters() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 64))
    truth = np.repeat(np.arange(3), 100)
    vectors = (centres[truth] + rng.normal(scale=0.4, size=(300, 64))).astype(np.float32)
    # One thread: openTSNE's two threads crawl on two busy cores (19 s against 1-10 s, measured).
    xy, used = layout_2d(vectors, "auto", threads=1)
    assert used == "tsne" and xy.shape == (300, 2)
    labels, _ = kmeans(xy.astype(np.float64), 3)
    # Each true cluster lands in one k-means region of the 2-D layout.
    assert all(len(set(labels[truth == t].tolist())) == 1 for t in range(3))


def test_map_command_and_web_endpoints(indexed: sa.Engine, settings: Settings) -> None:
    app = create_app(settings, cache_seconds=0)
    client = TestClient(app)
    before = client.get("/map?format=json").json()
    assert before["available"] is False and "paperscope map" in before["message"]
    assert "paperscope map" in client.get("/map").text
    assert client.get("/api/map/points.bin").status_code == 404
    result = CliRunner().invoke(cli_app, ["--home", str(settings.home), "--database-url", settings.db_url,
                                          "map", "--method", "pca", "--regions", "4"])
    assert result.exit_code == 0, result.output
    assert "map of 16 papers (pca, 4 regions)" in result.output
    meta = client.get("/map?format=json").json()
    assert meta["available"] and meta["count"] == 16 and len(meta["regions"]) == 4
    points = client.get(meta["points_url"], headers={"Accept-Encoding": "identity"})
    assert len(points.content) == 16 * 10 and "immutable" in points.headers["cache-control"]
    zipped = client.get(meta["points_url"], headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == points.content  # decoded
    unchanged = client.get(meta["points_url"], headers={"If-None-Match": points.headers["etag"]})
    assert unchanged.status_code == 304
    columns = np.frombuffer(points.content, dtype="<u2").reshape(5, 16)
    first = client.get("/api/map/point/0").json()
    assert first["id"].startswith("2504.") and first["url"] == f"/papers/{first['id']}"
    assert first["region"] == int(columns[2][0])
    assert client.get("/api/map/point/16").status_code == 404
    found = client.get("/api/map/highlight", params={"q": "protein folding"}).json()
    prefixes = [client.get(f"/api/map/point/{i}").json()["id"][:7] for i in found["search"]]
    assert prefixes[:2] == ["2504.01", "2504.01"] and len(prefixes) < 16  # off-topic papers stay dark
    assert client.get("/api/map/highlight?library=true").status_code == 401
    assert client.get("/api/map/highlight?q=%21%21").status_code == 400
    app_state(app).engine.dispose()


@pytest.fixture
def map_site(indexed: sa.Engine, settings: Settings) -> Iterator[str]:
    save_map(compute_map(indexed, settings.index_dir, method="pca", regions=4), map_path(settings.home))
    app = create_app(settings, cache_seconds=0)
    with live_server(app) as url:
        yield url
    app_state(app).engine.dispose()


@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
def test_map_in_chromium(map_site: str, db_url: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    pw_expect = sync_api.expect
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(15000)
        page.goto(f"{map_site}/map")
        page.wait_for_selector("#field-map[data-ready='true']")
        assert page.get_attribute("#field-map", "data-visible") == "16"
        backend = "pg" if db_url.startswith("postgresql") else "sqlite"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"map-{backend}.png"), full_page=True)
        # Hover a point: its title shows.
        box = page.locator("#field-map canvas").bounding_box()
        assert box is not None
        spot = page.evaluate("window.paperscopeMap.screenOf(3)")
        page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
        page.wait_for_selector("#field-map .map-tip:not([hidden])")
        paper = page.evaluate(POINT_AT.format(spot["x"], spot["y"]))
        assert page.inner_text("#field-map .map-tip").startswith(paper["title"])
        # Filter by category: only that category's 4 papers stay.
        page.select_option("select[name=category]", label="cs.RO")
        page.click("#map-controls button[type=submit]")
        # (Playwright's wait_for_function evaluates strings, which the site's CSP forbids: expect() instead.)
        pw_expect(page.locator("#field-map")).to_have_attribute("data-visible", "4")
        page.select_option("select[name=category]", value="")
        # Highlight a search's results.
        page.fill("#map-controls input[name=q]", "galaxies and dark matter")
        page.click("#map-controls button[type=submit]")
        # (The first search loads the encoder: allow for a busy machine.)
        try:
            pw_expect(page.locator("#field-map")).to_have_attribute(
                "data-highlighted", re.compile(r"^[1-9][0-9]*$"), timeout=90000)
        except Exception as exc:
            raise AssertionError(f"{page.inner_text('#map-status')} {errors} {exc}") from None
        assert "highlighted" in page.inner_text("#map-status")
        page.screenshot(path=str(SHOTS / f"map-highlight-{backend}.png"), full_page=True)
        # Zoom in (button), then click a point: its paper page opens.
        page.click("button[data-zoom=in]")
        spot = page.evaluate("""() => {
            const c = document.querySelector('#field-map canvas');
            for (let i = 0; i < window.paperscopeMap.count; i++) {
                const p = window.paperscopeMap.screenOf(i);
                if (p.x > 10 && p.y > 10 && p.x < c.clientWidth - 10 && p.y < c.clientHeight - 10) return p;
            }
        }""")
        target = page.evaluate(POINT_AT.format(spot["x"], spot["y"]))
        page.locator("#field-map canvas").scroll_into_view_if_needed()
        box = page.locator("#field-map canvas").bounding_box()  # the page may have scrolled
        assert box is not None
        page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
        page.wait_for_url(f"**/papers/{target['id']}")
        browser.close()
    assert errors == []


def test_map_without_an_index_says_what_to_do(settings: Settings, engine: sa.Engine) -> None:
    result = CliRunner().invoke(cli_app, ["--home", str(settings.home), "--database-url", settings.db_url,
                                          "map"])
    assert result.exit_code == 2
    assert "no indexed papers: run `paperscope index` first" in " ".join(result.output.split())
    assert not map_path(settings.home).exists()
    bad = CliRunner().invoke(cli_app, ["--home", str(settings.home), "--database-url", settings.db_url,
                                       "map", "--method", "umap"])
    assert bad.exit_code == 2 and "auto, tsne or pca" in bad.output
