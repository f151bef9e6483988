"""Exponential backoff with jitter, and client-go's work-queue rate limiter, as pure
clock-injected objects (unit tests drive them without waiting).

Why not a fixed retry delay: one failing client retrying every second is harmless,
a hundred replicas of three watches each retrying in step after an API-server restart
are a thundering herd. Doubling spreads the load over time, jitter spreads it across
clients (client-go's reflector and workqueue do the same).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass
class Backoff:
    """Delays of ``initial``, doubling up to ``cap``, each stretched by up to ``jitter``
    times itself; forgotten after ``reset_after`` seconds without a failure.

    The defaults are client-go's reflector backoff (800 ms, 30 s cap, 2 min reset,
    jitter 1.0): a watch that keeps failing is retried about every 30-60 s.
    """

    initial: float = 0.8
    cap: float = 30.0
    reset_after: float = 120.0
    jitter: float = 1.0
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    _delay: float = 0.0
    _last: float | None = None

    def next(self) -> float:
        """The delay before the next attempt (one more failure counted)."""
        now = self.clock()
        if self._last is not None and now - self._last >= self.reset_after:
            self._delay = 0.0
        self._delay = self.initial if self._delay == 0 else min(self._delay * 2, self.cap)
        self._last = now
        return self._delay * (1 + self.jitter * self.rand())

    def reset(self) -> None:
        self._delay, self._last = 0.0, None


@dataclass
class RateLimiter:
    """When a failed work item may be tried again: the larger of a per-item exponential
    delay (``base`` doubling up to ``cap``, with jitter) and an overall token bucket
    (``rate`` per second, ``burst``), as client-go's DefaultControllerRateLimiter: one
    broken item backs off alone, and many failing at once cannot flood the API server.
    """

    base: float = 1.0
    cap: float = 60.0
    jitter: float = 0.5
    rate: float = 10.0
    burst: int = 100
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    _failures: dict[Hashable, int] = field(default_factory=dict)
    _tokens: float | None = None
    _filled_at: float = 0.0

    def when(self, item: Hashable) -> float:
        """Seconds until ``item`` may be retried (one more failure of it counted)."""
        tries = self._failures.get(item, 0)
        self._failures[item] = tries + 1
        own = min(self.base * 2.0**tries, self.cap) * (1 + self.jitter * self.rand())
        return max(own, self._bucket_delay())

    def _bucket_delay(self) -> float:
        now = self.clock()
        if self._tokens is None:
            self._tokens = float(self.burst)
        else:
            self._tokens = min(self.burst, self._tokens + (now - self._filled_at) * self.rate)
        self._filled_at = now
        self._tokens -= 1  # reserved now, so the next caller waits behind it
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def failures(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: Hashable) -> None:
        """``item`` succeeded: its next failure starts from ``base`` again."""
        self._failures.pop(item, None)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def at_least(delay: float, retry_after: float | None, cap: float) -> float:
    """``delay``, or longer if the server asked for it (``Retry-After`` on 429/503,
    taken up to ``cap``: a server asking for an hour is not waited for that long)."""
    return delay if retry_after is None else max(delay, min(retry_after, cap))
