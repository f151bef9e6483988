"""Leader election with a coordination.k8s.io Lease: of several replicas, one acts.

As client-go's leaderelection, with its three durations ordered
``duration > renew_deadline > retry``: the holder renews every ``renew`` seconds
(after a failure every half of that); if it has not renewed for ``renew_deadline``
seconds it stops leading (``lost``: the process stops, so it stops writing) — before a
standby, which takes over once it has seen the Lease unchanged for ``duration``
seconds, can start. Every request carries a timeout, so a renew stuck on a dead
connection cannot outlast the deadline. The standby measures the Lease's age on its own
clock, from when it saw the record change (not from ``renewTime``, written by another
node's clock).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightkube import ApiError, AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseConfig:
    name: str
    namespace: str
    identity: str
    duration: float = 15.0
    renew: float = 5.0

    def __post_init__(self) -> None:
        if not self.duration > self.renew_deadline > self.renew > 0:
            raise ValueError(
                f"lease duration {self.duration} s must exceed twice the renew period "
                f"{self.renew} s (duration > renew deadline > renew period)"
            )

    @property
    def renew_deadline(self) -> float:
        """The leader stops leading when it has not renewed for this long: one renew
        period before a standby may take over (client-go: 15 s lease, 10 s deadline)."""
        return self.duration - self.renew


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Observed:
    """The Lease record last seen, and when (this process's monotonic clock)."""

    holder: str | None = None
    renew_time: datetime | None = None
    at: float = field(default=0.0)


class Leadership:
    def __init__(
        self,
        client: AsyncClient,
        config: LeaseConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.config = config
        self.lost = asyncio.Event()
        self._clock = clock
        self._observed = _Observed()
        #: When the last successful acquire or renew started (monotonic); None: not held.
        self.renewed_at: float | None = None
        #: The last other holder seen on the Lease (issue 22: the activity ledger's
        #: leader change names whom this replica took over from; None: nobody seen).
        self.previous: str | None = None

    def _expired(self, spec: LeaseSpec, now: float) -> bool:
        if not spec.holderIdentity:
            return True
        seen = self._observed
        if (seen.holder, seen.renew_time) != (spec.holderIdentity, spec.renewTime):
            self._observed = _Observed(spec.holderIdentity, spec.renewTime, now)
            return False
        return now - seen.at > (spec.leaseDurationSeconds or self.config.duration)

    async def _try_acquire(self) -> bool:
        cfg, now, started = self.config, _now(), self._clock()
        try:
            lease = await self.client.get(Lease, cfg.name, namespace=cfg.namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            spec = LeaseSpec(
                holderIdentity=cfg.identity,
                leaseDurationSeconds=int(cfg.duration),
                acquireTime=now,
                renewTime=now,
                leaseTransitions=0,
            )
            lease = Lease(metadata=ObjectMeta(name=cfg.name, namespace=cfg.namespace), spec=spec)
            return await self._write(self.client.create(lease), started)
        spec = lease.spec or LeaseSpec()
        if spec.holderIdentity and spec.holderIdentity != cfg.identity:
            self.previous = spec.holderIdentity
        if spec.holderIdentity != cfg.identity and not self._expired(spec, started):
            return False
        transitions = (spec.leaseTransitions or 0) + (spec.holderIdentity != cfg.identity)
        lease.spec = LeaseSpec(
            holderIdentity=cfg.identity,
            leaseDurationSeconds=int(cfg.duration),
            acquireTime=now if spec.holderIdentity != cfg.identity else spec.acquireTime,
            renewTime=now,
            leaseTransitions=transitions,
        )
        # The replace carries the resourceVersion read: a race is a 409.
        return await self._write(self.client.replace(lease), started)

    async def _write(self, write: Awaitable[object], started: float) -> bool:
        """Create or replace the lease: held from ``started`` on, unless another
        replica's write came first (409)."""
        try:
            await write
        except ApiError as exc:
            if exc.status.code == 409:
                return False
            raise
        self.renewed_at = started
        return True

    async def _attempt(self, timeout: float) -> bool:
        async with asyncio.timeout(timeout):
            return await self._try_acquire()

    async def acquire(self) -> None:
        """Wait until this replica holds the lease; any failure (the API server not
        reachable yet at start-up, a timeout, an error answer) is retried."""
        waiting_logged = failing = False
        while True:
            try:
                if await self._attempt(self.config.renew_deadline):
                    log.info("leader election: acquired lease %s", self.config.name)
                    return
                failing = False
            except Exception as exc:  # noqa: BLE001 - whatever failed, try again
                if not failing:
                    log.warning("leader election: cannot reach the lease yet: %s", _why(exc))
                failing = True
            if not waiting_logged and not failing:
                log.info("leader election: standing by; another replica holds the lease")
                waiting_logged = True
            # Jittered, so standbys started together do not ask together.
            await asyncio.sleep(self.config.renew * (0.5 + random.random() / 2))  # noqa: S311

    async def keep(self) -> None:
        """Renew until not renewed for ``renew_deadline`` or taken over; then set ``lost``."""
        cfg = self.config
        wait = cfg.renew
        while True:
            await asyncio.sleep(wait)
            held_since = self.renewed_at if self.renewed_at is not None else self._clock()
            remaining = held_since + cfg.renew_deadline - self._clock()
            if remaining <= 0:
                log.error("leader election: not renewed for %.0f s; stopping", cfg.renew_deadline)
                break
            try:
                if await self._attempt(remaining):
                    wait = cfg.renew
                    continue
                log.error("leader election: lease taken over by another replica")
                break
            except Exception as exc:  # noqa: BLE001 - any failure to renew counts the same
                log.warning("leader election: renew failed: %s", _why(exc))
                wait = min(cfg.renew / 2, max(0.0, remaining))
        self.renewed_at = None
        self.lost.set()

    async def release(self) -> None:
        """Give the lease up on a clean shutdown, so a standby takes over at once."""
        try:
            async with asyncio.timeout(self.config.renew):
                lease = await self.client.get(
                    Lease, self.config.name, namespace=self.config.namespace
                )
                if lease.spec and lease.spec.holderIdentity == self.config.identity:
                    lease.spec.holderIdentity = None
                    lease.spec.renewTime = None
                    await self.client.replace(lease)
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log.warning("leader election: could not release the lease: %s", _why(exc))


def _why(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.status.code} {exc.status.reason or ''}".strip()
    return type(exc).__name__ if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
