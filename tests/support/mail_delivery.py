"""Settings and subscribers for the digest delivery tests."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from paperscope.settings import Settings
from paperscope.store.subscriptions import DigestChoice, Frequency, SavedSearch, add_subscriptions_bulk

TUESDAY = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def configured(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port,
                                       "mail_from": "paperscope <digest@example.org>",
                                       "base_url": "https://papers.example.org"})


def subscribe_many(engine: sa.Engine, n: int, frequency: Frequency = "daily") -> list[str]:
    choices = [DigestChoice(trending=True), DigestChoice(categories=("cs.LG", "quant-ph")),
               DigestChoice(searches=(SavedSearch("protein folding"),)),
               DigestChoice(trending=True, searches=(SavedSearch("robot grasping", categories=("cs.RO",)),))]
    emails = [f"reader{i}@example.com" for i in range(n)]
    add_subscriptions_bulk(engine, [(e, frequency, choices[i % len(choices)])
                                    for i, e in enumerate(emails)])
    return emails
