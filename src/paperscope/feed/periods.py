"""Listing periods: one day, an ISO week or a month, parsed from `YYYY-MM-DD`, `YYYY-Www`, `YYYY-MM`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["day", "week", "month"]
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Pages look one period before and after the one shown; Python dates end at 9999-12-31.
MIN_YEAR, MAX_YEAR = 1000, 9998


@dataclass(frozen=True)
class Period:
    """A closed range of listing dates with the key that names it (`2025-03-18`, `2025-W12`, `2025-03`)."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def key(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        """How a page title names the period."""
        if self.kind == "day":
            return self.start.strftime("%A, %d %B %Y")
        if self.kind == "week":
            return f"Week {self.key[6:]} · {self.start:%d %b} – {self.end:%d %b %Y}"
        return self.start.strftime("%B %Y")

    def containing(self, day: date) -> Period:
        """The period of the same kind that contains `day`."""
        return period_of(self.kind, day)


def period_of(kind: PeriodKind, day: date) -> Period:
    """The day, ISO week or month that contains `day`."""
    if kind == "day":
        return Period("day", day, day)
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period("week", start, start + timedelta(days=6))
    start = day.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return Period("month", start, nxt - timedelta(days=1))


def parse_period(day: str | None = None, week: str | None = None, month: str | None = None) -> Period | None:
    """The period one of the three parameters names, or None when none is given.

    Raises ValueError with a readable message for malformed or impossible values.
    """
    given = [(k, v) for k, v in (("date", day), ("week", week), ("month", month)) if v]
    if len(given) > 1:
        raise ValueError("give only one of date, week or month")
    if not given:
        return None
    name, value = given[0]
    value = value.strip()
    year = value[:4]
    if year.isdigit() and not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise ValueError(f"bad {name} {value!r}: years run from {MIN_YEAR} to {MAX_YEAR}")
    try:
        if name == "date":
            if not _DAY.match(value):
                raise ValueError
            return period_of("day", date.fromisoformat(value))
        if name == "week":
            m = _WEEK.match(value)
            if not m:
                raise ValueError
            return period_of("week", date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))
        m = _MONTH.match(value)
        if not m:
            raise ValueError
        return period_of("month", date(int(m.group(1)), int(m.group(2)), 1))
    except (ValueError, OverflowError):
        examples = {"date": "2025-03-18", "week": "2025-W12", "month": "2025-03"}
        raise ValueError(f"bad {name} {value!r}: expected e.g. {examples[name]}") from None
