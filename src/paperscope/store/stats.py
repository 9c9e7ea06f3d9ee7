"""Counts of what the store holds, by source, category and month."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from paperscope.store.schema import papers


@dataclass
class StoreStats:
    """Totals for `paperscope stats` and the stats API."""

    total: int
    by_source: dict[str, int]
    by_category: dict[str, int]  # primary category
    by_month: dict[str, int]  # YYYY-MM of the listing date
    categories_total: int = 0  # how many primary categories there are (by_category may hold fewer)


def store_stats(engine: sa.Engine, top_categories: int | None = 30) -> StoreStats:
    """Count papers overall, per source, per primary category (the `top_categories` largest; None: all)
    and per listing month."""
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar_one()
        by_source: dict[str, int] = dict(conn.execute(
            sa.select(papers.c.source, sa.func.count()).group_by(papers.c.source)).all())
        n = sa.func.count().label("n")
        by_cat = conn.execute(
            sa.select(papers.c.primary_category, n).group_by(papers.c.primary_category)
            .order_by(n.desc()).limit(top_categories)).all()
        groups = sa.select(papers.c.primary_category).group_by(papers.c.primary_category).subquery()
        categories_total = conn.execute(sa.select(sa.func.count()).select_from(groups)).scalar_one()
        by_day = conn.execute(sa.select(papers.c.listed, sa.func.count()).group_by(papers.c.listed)).all()
    months: dict[str, int] = {}
    for day, count in by_day:
        key = day.strftime("%Y-%m") if day else "unknown"
        months[key] = months.get(key, 0) + count
    return StoreStats(
        total=int(total),
        by_source={k: int(v) for k, v in by_source.items()},
        by_category={(k or "none"): int(v) for k, v in by_cat},
        by_month=dict(sorted(months.items())),
        categories_total=int(categories_total),
    )
