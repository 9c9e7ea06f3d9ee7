"""Papers and subscribers for the mail tests, listed relative to a chosen day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from paperscope.model import HfInfo, Paper
from paperscope.store import upsert_papers

TOPICS = [
    ("graph neural networks", "cs.LG"), ("protein folding", "q-bio.BM"), ("dark matter halos", "astro-ph.CO"),
    ("language model alignment", "cs.CL"), ("quantum error correction", "quant-ph"),
    ("robot grasping", "cs.RO"),
]


def load_papers(engine: sa.Engine, day: date, per_topic: int = 12) -> list[Paper]:
    """`per_topic` papers per topic, listed over the three days up to `day`; every third has upvotes."""
    batch = []
    n = 0
    for topic, cat in TOPICS:
        for i in range(per_topic):
            n += 1
            batch.append(Paper(
                arxiv_id=f"2611.{n:05d}", version=1, title=f"Advances in {topic} <part {i}>",
                abstract=f"We study {topic}. " + "This sentence pads the abstract out. " * 10,
                authors=tuple(f"Author {k}" for k in range(1 + i % 9)), categories=(cat,),
                published=day - timedelta(days=i % 3), listed=day - timedelta(days=i % 3), source="jsonl",
                hf=HfInfo(upvotes=50 - i, submitted_at=datetime.combine(day, datetime.min.time(), UTC))
                if i % 3 == 0 else None,
            ))
    upsert_papers(engine, batch)
    return batch
