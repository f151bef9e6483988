"""When a failed delivery is tried again (pure).

Exponential backoff with full jitter (a uniform delay between 0 and ``BASE * 2**n``,
capped): many operators' deliveries failing against one receiver at once spread out
instead of retrying in step (AWS Architecture Blog, "Exponential Backoff And Jitter").
A receiver's ``Retry-After`` (429, 503) is honoured as a lower bound, up to an hour: a
receiver asking for a day is not waited for that long (the budget is attempts, and the
operator holds the event meanwhile).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from chronos.backoff import at_least, parse_retry_after

#: The first retry waits up to this long (seconds).
BASE = 1.0
#: No computed delay exceeds this (seconds).
CAP = 300.0
#: A receiver's Retry-After is honoured up to this (seconds).
RETRY_AFTER_CAP = 3600.0
#: HTTP statuses worth another attempt besides 5xx: Request Timeout, Too Many Requests.
RETRY_STATUSES = frozenset({408, 429})

Rng = random.Random | Callable[[], float]


def retryable(status: int) -> bool:
    """Whether an HTTP status may succeed if sent again: 5xx, 408 and 429; no other 4xx
    (the receiver refused this request, and the same request would be refused again)."""
    return status >= 500 or status in RETRY_STATUSES


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header (delta-seconds or HTTP-date) in seconds from ``now``,
    bounded to ``RETRY_AFTER_CAP``; None when absent or unreadable."""
    seconds = parse_retry_after(value, now)
    return None if seconds is None else min(seconds, RETRY_AFTER_CAP)


def next_delay(attempt: int, *, retry_after: float | None, rng: Rng) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

    Full jitter: uniform in ``[0, min(CAP, BASE * 2**(attempt-1))]``; at least
    ``retry_after`` (bounded to ``RETRY_AFTER_CAP``) when the receiver asked for it.
    ``rng`` is a ``random.Random`` or a function returning a float in ``[0, 1)``.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    draw = rng.random() if isinstance(rng, random.Random) else rng()
    # 2**(attempt-1) overflows nothing: the exponent is bounded before the power.
    ceiling = min(CAP, BASE * 2.0 ** min(attempt - 1, 32))
    return at_least(draw * ceiling, retry_after, RETRY_AFTER_CAP)
