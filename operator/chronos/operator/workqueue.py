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
"""

from __future__ import annotations

import asyncio
from collections import deque
from enum import Flag, auto

from chronos.backoff import RateLimiter, at_least

Key = tuple[str, str]


class Reason(Flag):
    """Why a key is queued; the reasons of repeated adds are merged."""

    EVENT = auto()
    HOUSEKEEPING = auto()
    #: A failed sync tried again (routine lane, after its backoff).
    RETRY = auto()


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
        later = self._active.pop(key, None)
        if later is not None:
            self.add(key, later)
