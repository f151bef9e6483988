"""Readiness that means ready: the API server answers and what was listed is current.

The operator and the REST facade both report ``/readyz`` from a ``Readiness``: their
watch (or probe) code says when a call to the API server succeeded or failed, and
``state()`` turns that into ready or not. Pure and clock-injected, so unit tests drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: How long the API server may be unreachable (or a watch broken) before readiness goes
#: false: one failed request in a rolling update of the API server is not an outage.
DEFAULT_GRACE_SECONDS = 10.0


@dataclass
class Readiness:
    grace: float = DEFAULT_GRACE_SECONDS
    clock: Callable[[], float] = field(default=time.monotonic)
    _synced: bool = False
    _failing_since: float | None = None
    _why: str = "not synced with the API server yet"

    def synced(self) -> None:
        """A call to the API server succeeded and the cache (if any) is current."""
        self._synced = True
        self._failing_since = None

    def unsynced(self, why: str) -> None:
        """The cache must be listed again before it can be trusted (a new leader …)."""
        self._synced = False
        self._why = why

    def failed(self, why: str) -> None:
        """A call to the API server failed or a watch broke: not ready after the grace."""
        if self._failing_since is None:
            self._failing_since = self.clock()
        self._why = why

    def state(self) -> tuple[bool, str]:
        """(ready, why not) — the reason is for people reading /readyz."""
        if not self._synced:
            return False, self._why
        if self._failing_since is not None:
            down = self.clock() - self._failing_since
            if down >= self.grace:
                return False, f"{self._why} (for {down:.0f} s)"
        return True, "ok"
