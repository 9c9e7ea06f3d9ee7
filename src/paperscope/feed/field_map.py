"""The map of the field: every embedded paper placed in 2-D, grouped into labelled regions, stored as one
file under home (`map/field_map.npz`, written to a temp name and renamed) by `paperscope map`.

The web page never computes anything: it loads the stored map once (again when the file changes) and
serves the points as a compact binary its script draws (`points_payload`: five little-endian uint16
columns — x, y on a 0..65535 grid, region, primary-category index, listing day since `day0`).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from paperscope.feed.map_layout import (
    LayoutMethod,
    TermCounter,
    default_regions,
    distinctive_terms,
    kmeans,
    layout_2d,
)
from paperscope.index.pooled_read import all_pooled_vectors
from paperscope.store import get_papers_by_rowid

NO_DAY = 65535
MAP_FILE = "field_map.npz"
READ_BATCH = 2000


@dataclass
class FieldMap:
    """The stored map: per-point arrays (row order = `rowids`) and what the page needs to label it."""

    rowids: np.ndarray  # int64, the papers' row ids
    xy: np.ndarray  # float32 [n, 2] in [0, 1]
    region: np.ndarray  # uint16
    category: np.ndarray  # uint16 index into `categories`
    day: np.ndarray  # uint16 days since day0 (NO_DAY when unknown)
    categories: list[str]
    regions: list[dict[str, Any]]  # {"label", "terms", "x", "y", "size"}
    day0: date | None
    method: str
    built_at: str
    seconds: float = 0.0
    _index: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.rowids)

    def position_of(self, rowids: list[int]) -> list[int]:
        """The map's point numbers of these papers (those on the map)."""
        if not self._index:
            self._index = {int(r): i for i, r in enumerate(self.rowids.tolist())}
        return [self._index[r] for r in rowids if r in self._index]

    def meta(self) -> dict[str, Any]:
        """What the page's script needs besides the points."""
        last = (self.day0 + timedelta(days=int(self.day[self.day != NO_DAY].max()))
                if self.day0 and (self.day != NO_DAY).any() else None)
        return {"count": self.count, "method": self.method, "built_at": self.built_at,
                "seconds": round(self.seconds, 1), "categories": self.categories, "regions": self.regions,
                "day0": self.day0.isoformat() if self.day0 else None,
                "day_last": last.isoformat() if last else None,
                "points_url": f"/api/map/points.bin?v={self.built_at}",
                "columns": ["x", "y", "region", "category", "day"], "no_day": NO_DAY}

    def points_payload(self) -> bytes:
        """The points as the page's script reads them (10 bytes a paper)."""
        grid = np.clip(np.rint(self.xy * 65535), 0, 65535).astype("<u2")
        columns = [grid[:, 0], grid[:, 1], self.region.astype("<u2"), self.category.astype("<u2"),
                   self.day.astype("<u2")]
        return b"".join(np.ascontiguousarray(c).tobytes() for c in columns)


def map_path(home: Path) -> Path:
    return Path(home) / "map" / MAP_FILE


def compute_map(engine: sa.Engine, index_root: Path, *, method: LayoutMethod = "auto",
                regions: int | None = None, threads: int = 2, seed: int = 0,
                on_step: Callable[[str], None] | None = None) -> FieldMap:
    """Lay out every indexed paper (pooled vectors), find the regions and their labels."""
    started = time.perf_counter()
    say = on_step or (lambda _msg: None)
    rowids, vectors = all_pooled_vectors(index_root)
    say(f"{len(rowids)} pooled vectors read")
    # Titles, abstracts, categories and dates from the store (papers gone from it leave the map).
    terms_of = TermCounter()
    cats: list[str] = []
    days: list[date | None] = []
    keep: list[int] = []
    for start in range(0, len(rowids), READ_BATCH):
        batch = rowids[start:start + READ_BATCH].tolist()
        found = {p.rowid: p for p in get_papers_by_rowid(engine, batch)}
        for offset, rowid in enumerate(batch):
            paper = found.get(rowid)
            if paper is None:
                continue
            keep.append(start + offset)
            terms_of.add(f"{paper.title} {paper.abstract}")
            cats.append(paper.primary_category or "")
            days.append(paper.listed or paper.published)
    if len(keep) < len(rowids):
        rowids, vectors = rowids[keep], vectors[keep]
    say(f"{len(rowids)} papers read from the store")
    xy, used = layout_2d(vectors, method, threads=threads, seed=seed)
    say(f"layout ({used}) done")
    k = regions or default_regions(len(rowids))
    labels, centres = kmeans(xy.astype(np.float64), k, seed=seed) if len(rowids) else (
        np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.float32))
    k = len(centres)
    terms = distinctive_terms(terms_of, labels, k)
    sizes = np.bincount(labels, minlength=k) if len(labels) else np.zeros(0, dtype=np.int64)
    region_info = [{"label": " · ".join(t) or f"region {j + 1}", "terms": t,
                    "x": round(float(centres[j][0]), 4), "y": round(float(centres[j][1]), 4),
                    "size": int(sizes[j])} for j, t in enumerate(terms)]
    names = sorted({c for c in cats if c})
    cat_index = {c: i for i, c in enumerate(names)}
    known = [d for d in days if d is not None]
    day0 = min(known) if known else None
    day = np.array([(d - day0).days if d is not None and day0 is not None else NO_DAY for d in days],
                   dtype=np.int64)
    return FieldMap(rowids=rowids.astype(np.int64), xy=xy, region=labels.astype(np.uint16),
                    category=np.array([cat_index.get(c, 65535) for c in cats], dtype=np.uint16),
                    day=np.clip(day, 0, NO_DAY).astype(np.uint16), categories=names, regions=region_info,
                    day0=day0, method=used, built_at=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
                    seconds=time.perf_counter() - started)


def save_map(fmap: FieldMap, path: Path) -> None:
    """Write the map to a temp file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"categories": fmap.categories, "regions": fmap.regions, "method": fmap.method,
            "built_at": fmap.built_at, "seconds": fmap.seconds,
            "day0": fmap.day0.isoformat() if fmap.day0 else None}
    buffer = io.BytesIO()
    np.savez(buffer, rowids=fmap.rowids, xy=fmap.xy, region=fmap.region, category=fmap.category, day=fmap.day,
             meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_map(path: Path) -> FieldMap | None:
    """The stored map, or None when `paperscope map` has not run yet."""
    if not path.is_file():
        return None
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        return FieldMap(rowids=data["rowids"], xy=data["xy"], region=data["region"],
                        category=data["category"], day=data["day"], categories=meta["categories"],
                        regions=meta["regions"], method=meta["method"],
                        day0=date.fromisoformat(meta["day0"]) if meta["day0"] else None,
                        built_at=meta["built_at"], seconds=float(meta.get("seconds", 0.0)))


class MapCache:
    """The stored map for the web app: loaded on first use, reloaded when the file is replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._map: FieldMap | None = None
        self._payload: bytes = b""

    def current(self) -> FieldMap | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._map, self._stamp = None, None
            return None
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            self._map = load_map(self.path)
            self._payload = self._map.points_payload() if self._map else b""
            self._stamp = stamp
        return self._map

    def payload(self) -> bytes:
        self.current()
        return self._payload
