"""The CronJob and status writes this process made that its watch has not shown yet.

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

The same holds for the status merge patches computed from the cached ChronosJob
(``StatusWrites``): a relist whose LIST began before such a patch was answered puts the
pre-patch copy back into the cache, the job is synced again from it and computes the
same patch, which is then sent twice (seen: tests/cluster/test_operator_faults.py
[410-error-event]).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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


@dataclass(frozen=True, slots=True)
class StatusWritten:
    digest: bytes
    uid: str | None
    #: The resourceVersion of the copy the patch was computed from.
    based_on: str | None
    deadline: float


W = TypeVar("W", Written, StatusWritten)


class _Writes(Generic[W]):
    """Writes of this process the watch has not shown yet, one per key: what both kinds
    share (the timeout, deletion, the pending test). Each says in ``_shown`` which
    copies the watch may show without having seen the write."""

    def __init__(
        self,
        timeout: float = EXPECTATION_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout, self._clock = timeout, clock
        self._pending: dict[Key, W] = {}

    def _shown(self, written: W, meta: dict[str, Any]) -> bool:
        raise NotImplementedError

    def observed(self, key: Key, meta: dict[str, Any]) -> None:
        """The watch shows ``key`` with ``meta``: the write ends unless ``_shown`` says
        that copy does not hold it yet."""
        written = self._pending.get(key)
        if written is not None and self._shown(written, meta):
            del self._pending[key]

    def gone(self, key: Key) -> None:
        """The watch shows ``key`` deleted: nothing of the write is left to see."""
        self._pending.pop(key, None)

    def _digest(self, key: Key) -> bytes | None:
        """The digest of the write to ``key`` still expected (forgotten at its deadline)."""
        written = self._pending.get(key)
        if written is None:
            return None
        if self._clock() >= written.deadline:
            del self._pending[key]
            return None
        return written.digest

    def __len__(self) -> int:
        return len(self._pending)


class Expectations(_Writes[Written]):
    def wrote(self, key: Key, digest: bytes, meta: dict[str, Any]) -> None:
        """The CronJob ``key`` was written with the manifest of ``digest``; ``meta``: the
        metadata the API server answered with."""
        self._pending[key] = Written(
            digest, meta.get("uid"), meta.get("generation"), self._clock() + self._timeout
        )

    def _shown(self, written: Written, meta: dict[str, Any]) -> bool:
        """Unless this is an older copy of the very object written (same uid, lower
        generation)."""
        generation = meta.get("generation")
        older = (
            meta.get("uid") == written.uid
            and written.generation is not None
            and generation is not None
            and generation < written.generation
        )
        return not older

    def pending(self, key: Key, digest: bytes | None = None) -> bool:
        """A write to ``key`` (of the manifest of ``digest``, if given) is on its way to
        the cache: the cache not showing it yet is no reason to write again."""
        written = self._digest(key)
        return written is not None and (digest is None or written == digest)


class StatusWrites(_Writes[StatusWritten]):
    """Status patches of ChronosJobs this process sent and had answered with success.

    A write stays expected while the watch shows only the very copy it was computed
    from (same uid, same resourceVersion: a relist delivering it again). Any other copy
    ends it: the answer to the write itself or anything after it (resourceVersions are
    compared for equality only, never ordered, as they are opaque). So a sync repeating
    that exact patch is skipped only while the cache is known to be stale; a patch of
    another body is never skipped, and a failed write is never recorded.
    """

    def wrote(self, key: Key, digest: bytes, based_on: dict[str, Any]) -> None:
        """The status patch of ``digest`` to ChronosJob ``key`` was answered with success;
        ``based_on``: the metadata of the copy it was computed from."""
        self._pending[key] = StatusWritten(
            digest,
            based_on.get("uid"),
            based_on.get("resourceVersion"),
            self._clock() + self._timeout,
        )

    def _shown(self, written: StatusWritten, meta: dict[str, Any]) -> bool:
        """Unless this is again the copy the patch was computed from."""
        stale = (
            written.based_on is not None
            and meta.get("uid") == written.uid
            and meta.get("resourceVersion") == written.based_on
        )
        return not stale

    def pending(self, key: Key, digest: bytes) -> bool:
        """The patch of ``digest`` was sent to ``key`` with success, and the cache has not
        shown anything since but the copy it was computed from: sending it again would
        be a repeat."""
        return self._digest(key) == digest
