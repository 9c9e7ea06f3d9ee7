"""Where the optional shared data sets live (tests that need them skip when they are absent)."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ARXIV_JSONL = SHARED_DATA / "arxiv-2025-2026.jsonl.gz"
SCIFACT = SHARED_DATA / "scifact"
