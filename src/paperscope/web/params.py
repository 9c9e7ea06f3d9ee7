"""Query parameters shared by several routes, declared once so the OpenAPI schema documents them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import HTTPException, Path, Query

from paperscope.feed.periods import Period, parse_period
from paperscope.model import MAX_STORED_INT

CATEGORY_PATTERN = r"^[a-z][a-z\-]*(\.[A-Za-z][A-Za-z\-]*)?$"

Format = Annotated[Literal["html", "json"] | None,
                   Query(description="`json` returns the page's data instead of HTML.")]
Category = Annotated[str | None, Query(pattern=CATEGORY_PATTERN, max_length=64,
                                       description="arXiv category, e.g. cs.CL (cross-listings count).")]
# Row ids (comments, API tokens) are 32-bit columns: a larger id names nothing, and is a 422 instead
# of an overflow deep in the database driver.
ROW_ID_MAX = MAX_STORED_INT
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="A row id.")]
Page = Annotated[int, Query(ge=1, le=1000, description="Page number, from 1.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Papers per page.")]
# The patterns put the shape in the OpenAPI document (a malformed value is a 422 naming the field);
# a value of the right shape that is no real day (2025-02-30) is still a 400 from parse_period.
DAY_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
WEEK_PATTERN = r"^[1-9][0-9]{3}-W(0[1-9]|[1-4][0-9]|5[0-3])$"
MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
DayParam = Annotated[str | None, Query(max_length=10, pattern=DAY_PATTERN,
                                       description="A listing day, YYYY-MM-DD.")]
WeekParam = Annotated[str | None, Query(max_length=8, pattern=WEEK_PATTERN,
                                        description="An ISO week, YYYY-Www.")]
MonthParam = Annotated[str | None, Query(max_length=7, pattern=MONTH_PATTERN,
                                         description="A month, YYYY-MM.")]


def period_or_400(day: str | None, week: str | None, month: str | None) -> Period | None:
    """parse_period, with malformed values turned into a 400 that says what was expected."""
    try:
        return parse_period(day, week, month)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
