"""Bounds on the dashboard's long-lived streams (Server-Sent Events).

A stream holds a connection to the facade for minutes, and a followed pod log holds a
connection to the API server as long. Without a bound one user could open enough of
them to starve everyone else (issue 17, finding 5). So each replica admits at most
CHRONOS_API_MAX_STREAMS_PER_USER streams per identity and CHRONOS_API_MAX_STREAMS in
all; one more is refused with 429 and a ``Retry-After`` before anything is read. The
streams' Kubernetes calls go through a connection pool of their own, as large as the
total bound (``chronos.api.app``), so they never wait for, nor take, a connection of
the short calls.

The counting is pure (:class:`StreamLimits`); :class:`LimitedStream` ties a slot to
the life of one streamed response.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from chronos.api.errors import ProblemError

#: Seconds a refused client is told to wait: streams end after at most five minutes
#: (``ui.STREAM_SECONDS``), and usually sooner, when a page is left.
RETRY_AFTER_SECONDS = 30


class StreamSlot:
    """One admitted stream; :meth:`release` gives its place back (once)."""

    def __init__(self, limits: StreamLimits, who: str) -> None:
        self._limits = limits
        self._who = who
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limits._release(self._who)


class StreamLimits:
    """Open streams per identity and in total, each under its bound.

    Not thread-safe, and need not be: the event loop of one replica is its only user.
    """

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user = per_user
        self.total = total
        self._open: dict[str, int] = {}
        self._count = 0

    def open(self, who: str) -> int:
        """Streams ``who`` holds now."""
        return self._open.get(who, 0)

    @property
    def count(self) -> int:
        return self._count

    def acquire(self, who: str) -> StreamSlot:
        """A slot for one more stream of ``who``, or a 429 saying which bound is hit."""
        if self.open(who) >= self.per_user:
            raise _refused(
                f"{who} has {self.per_user} live streams open already, the most one user "
                "may have (close a dashboard tab or wait)"
            )
        if self._count >= self.total:
            raise _refused(
                f"this server has {self.total} live streams open, the most it serves at once"
            )
        self._open[who] = self.open(who) + 1
        self._count += 1
        return StreamSlot(self, who)

    def _release(self, who: str) -> None:
        left = self.open(who) - 1
        if left > 0:
            self._open[who] = left
        else:
            self._open.pop(who, None)
        self._count -= 1


def _refused(detail: str) -> ProblemError:
    return ProblemError(429, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class LimitedStream(StreamingResponse):
    """A streamed response that holds ``slot`` until it is over: the body ended, the
    client went away, or sending failed (the ASGI call returns or raises in each)."""

    def __init__(self, content: AsyncIterable[bytes], slot: StreamSlot, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                # Its own ``finally`` (a followed log's upstream) runs now, not when the
                # generator is collected: the slot's pool connection is free on release.
                close = getattr(self.body_iterator, "aclose", None)
                if close is not None:
                    await close()
            finally:
                self._slot.release()
