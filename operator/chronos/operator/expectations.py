"""The CronJob writes this process made that its watch has not shown yet.

Why: the reconcile and housekeeping decide from the watch cache, and the cache lags
behind the operator's own writes (by milliseconds normally, by a relist backoff when
watches keep failing). A CronJob the operator just created is "missing" from the cache
until the watch shows it; housekeeping then took it for lost and wrote it again (seen
under 410s on every watch). client-go's controllers keep "expectations" for the same
reason: a write of their own is expected to show up, and they do not act on that object
again until it has, or until a timeout says the watch must have missed it.

Here: the manifest written (its ``digest``), and the uid and generation the API server
answered. Satisfied when the watch shows that object at that generation or later, any
other object of the name (a different uid: someone else's deletion and re-creation),
or a deletion; forgotten after ``EXPECTATION_SECONDS`` whatever happened. Pure and
clock-injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]

#: Longer than the watch may take to show a write when it works at all: a silent watch
#: is given up after at most 75 s (chronos.informer), then listed afresh. After this a
#: write still not seen is taken for missed, and the cache decides again.
EXPECTATION_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Written:
    digest: bytes
    uid: str | None
    generation: int | None
    deadline: float


class Expectations:
    def __init__(
        self,
        timeout: float = EXPECTATION_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout, self._clock = timeout, clock
        self._pending: dict[Key, Written] = {}

    def wrote(self, key: Key, digest: bytes, meta: dict[str, Any]) -> None:
        """The CronJob ``key`` was written with the manifest of ``digest``; ``meta``: the
        metadata the API server answered with."""
        self._pending[key] = Written(
            digest, meta.get("uid"), meta.get("generation"), self._clock() + self._timeout
        )

    def observed(self, key: Key, meta: dict[str, Any]) -> None:
        """The watch shows CronJob ``key`` with ``meta``: the write is seen unless this
        is an older copy of the very object written (same uid, lower generation)."""
        written = self._pending.get(key)
        if written is None:
            return
        generation = meta.get("generation")
        older = (
            meta.get("uid") == written.uid
            and written.generation is not None
            and generation is not None
            and generation < written.generation
        )
        if not older:
            del self._pending[key]

    def gone(self, key: Key) -> None:
        """The watch shows CronJob ``key`` deleted: nothing of the write is left to see."""
        self._pending.pop(key, None)

    def pending(self, key: Key, digest: bytes | None = None) -> bool:
        """A write to ``key`` (of the manifest of ``digest``, if given) is on its way to
        the cache: the cache not showing it yet is no reason to write again."""
        written = self._pending.get(key)
        if written is None:
            return False
        if self._clock() >= written.deadline:
            del self._pending[key]
            return False
        return digest is None or written.digest == digest

    def __len__(self) -> int:
        return len(self._pending)
