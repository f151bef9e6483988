"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


def wait_to_clear_midnight(now: datetime, after: float, before: float) -> float:
    """Seconds to wait from ``now`` (aware, in the zone whose days count) until it is at
    least ``after`` seconds into its day and ``before`` seconds from its end; 0 if it is."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(hour=0)
    since, left = now.timestamp() - start.timestamp(), end.timestamp() - now.timestamp()
    if left < before:
        return left + max(after, 0.5)
    return max(0.0, after - since)


def clear_of_midnight(zone: str, after: float = 90, before: float = 60) -> datetime:
    """Now in ``zone``, at least ``after`` seconds into the day there and ``before`` from
    its end (waiting past midnight when closer): a test that makes runs of the last
    ``after`` seconds, or of the next ``before``, and reads them back among "today's" holds
    at any hour, whatever zone the code under test counts days in."""
    while wait := wait_to_clear_midnight(datetime.now(ZoneInfo(zone)), after, before):
        time.sleep(wait)
    return datetime.now(ZoneInfo(zone))
