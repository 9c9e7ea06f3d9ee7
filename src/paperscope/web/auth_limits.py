"""How hard sign-in, sign-up and reset requests are throttled, and the clock they are measured by: values
the app state holds (`app_state.py`) and `security.py` applies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock (tests install one they move by hand)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuthLimits:
    """How hard sign-in, sign-up and reset requests are throttled (tests may install tighter ones)."""

    window: timedelta = timedelta(minutes=15)
    free_failures: int = 3  # per account, before each attempt has to wait
    slow_seconds: float = 2.0  # the wait after the first extra failure; doubles with each further one
    max_slow_seconds: float = 60.0
    block_after: int = 10  # failures per account within the window: blocked until the window passes
    ip_block_after: int = 30  # failures from one IP within the window (many accounts, one attacker)
    hourly_per_ip: int = 5  # sign-ups and reset requests from one IP per hour
    subscribe_per_ip: int = 10  # digest subscription requests (each may mail) from one IP per hour
    subscribe_per_address: int = 3  # ... and for one address per hour, from anywhere
