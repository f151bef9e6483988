"""A de-duplicated queue of ChronosJob keys, served by a bounded pool of workers.

What client-go's workqueue does, for asyncio: the watches put *keys* here, never
objects, so a burst of 10,000 events costs 10,000 small tuples, not 10,000 parsed
objects waiting in memory; a key queued twice is served once; a key is never served by
two workers at the same time, and one added while it is being served is served again
afterwards (the worker may have read the object before the change).

Two lanes: events (a new job, a spec change, a drifted CronJob) go before housekeeping,
which queues every job each round — a new job must not wait behind 10,000 routine visits.
A key whose sync failed comes back through ``add_rate_limited``: after its own
exponential delay and the overall rate limit (``chronos.backoff.RateLimiter``), with
the reasons it was served for and RETRY, in the routine lane — a retry is not news.
A key can also be queued at a wall-clock instant (``add_at``: a job's active window
opens or closes, its suspension ends), as an event with TIMER.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime
from enum import Flag, auto

from chronos.backoff import RateLimiter, at_least

Key = tuple[str, str]


class Reason(Flag):
    """Why a key is queued; the reasons of repeated adds are merged."""

    EVENT = auto()
    HOUSEKEEPING = auto()
    #: A failed sync tried again (routine lane, after its backoff).
    RETRY = auto()
    #: A time the job asked to be looked at again came (``WorkQueue.add_at``).
    TIMER = auto()


class WorkQueue:
    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self._limiter = limiter or RateLimiter()
        self._urgent: deque[Key] = deque()
        self._routine: deque[Key] = deque()
        #: Queued keys and why (a key is in a lane at most once).
        self._queued: dict[Key, Reason] = {}
        #: Keys being served, and the reasons added meanwhile (served again after).
        self._active: dict[Key, Reason | None] = {}
        #: Workers waiting for a key.
        self._waiters: deque[asyncio.Future[None]] = deque()
        #: The one pending timer per key: when it fires, and its handle.
        self._timers: dict[Key, tuple[datetime, asyncio.TimerHandle]] = {}
        #: Keys served so far (``done``), for the syncs-per-minute figure.
        self.served = 0

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: Key, reason: Reason = Reason.EVENT) -> None:
        if key in self._active:
            later = self._active[key]
            self._active[key] = reason if later is None else later | reason
            return
        queued = self._queued.get(key)
        if queued is None:
            (self._urgent if reason & Reason.EVENT else self._routine).append(key)
            self._queued[key] = reason
            self._wake()
            return
        if reason & Reason.EVENT and not queued & Reason.EVENT:
            # Promoted: an event for a key waiting for housekeeping goes first. Its entry
            # in the routine lane stays, stale, and is skipped there (removing it would
            # cost a scan of up to 10,000 keys per event).
            self._urgent.append(key)
        self._queued[key] = queued | reason

    def add_rate_limited(self, key: Key, reason: Reason, retry_after: float | None = None) -> float:
        """Queue ``key`` again once the rate limiter allows (its sync failed), and not
        before ``retry_after`` (what a 429/503 asked for, up to the limiter's cap);
        returns the delay. The reasons it was served for are kept, EVENT turned into
        RETRY."""
        delay = at_least(self._limiter.when(key), retry_after, self._limiter.cap)
        again = (reason & ~Reason.EVENT) | Reason.RETRY
        asyncio.get_running_loop().call_later(delay, self.add, key, again)
        return delay

    def add_at(self, key: Key, when: datetime, now: datetime | None = None) -> None:
        """Queue ``key`` (as an event, with TIMER) at the wall-clock instant ``when``.

        One timer per key, the earliest asked for: every sync of a key asks again for
        the next instant it cares about, so a later instant is asked for again once the
        earlier one has been served (and a job edited a thousand times holds one timer,
        not a thousand). The same instant asked again is a no-op. A timer that fires a
        little early (the loop's clock is not the wall clock) costs a sync that asks
        again.
        """
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        delay = max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
        handle = asyncio.get_running_loop().call_later(delay, self._fire, key, when)
        self._timers[key] = (when, handle)

    def _fire(self, key: Key, when: datetime) -> None:
        pending = self._timers.get(key)
        if pending is not None and pending[0] == when:
            del self._timers[key]
        self.add(key, Reason.EVENT | Reason.TIMER)

    def timer(self, key: Key) -> datetime | None:
        """When ``key`` is queued by its timer, if it has one."""
        pending = self._timers.get(key)
        return None if pending is None else pending[0]

    def failures(self, key: Key) -> int:
        """How often in a row the sync of ``key`` has failed."""
        return self._limiter.failures(key)

    def forget(self, key: Key) -> None:
        """The sync of ``key`` succeeded: its next failure backs off from the start."""
        self._limiter.forget(key)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _pop(self) -> tuple[Key, Reason] | None:
        while self._urgent or self._routine:
            urgent = bool(self._urgent)
            key = (self._urgent if urgent else self._routine).popleft()
            reason = self._queued.get(key)
            # Stale: served already, or promoted to the urgent lane and served from there.
            if reason is None or (not urgent and reason & Reason.EVENT):
                continue
            del self._queued[key]
            self._active[key] = None
            return key, reason
        return None

    async def get(self) -> tuple[Key, Reason]:
        """The next key and why it was queued; the caller must call ``done(key)``."""
        while (item := self._pop()) is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken for a key it will not take: pass it on
                raise
        return item

    def done(self, key: Key) -> None:
        self.served += 1
        later = self._active.pop(key, None)
        if later is not None:
            self.add(key, later)
