"""Leader election with a coordination.k8s.io Lease: of several replicas, one acts.

The holder renews the Lease every ``renew`` seconds; a standby takes over once the
Lease has not been renewed for ``duration`` seconds (or at once, when the holder
released it on a clean shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    retry: float = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


def _expired(spec: LeaseSpec, now: datetime) -> bool:
    if not spec.holderIdentity or spec.renewTime is None:
        return True
    duration = spec.leaseDurationSeconds or 0
    return spec.renewTime + timedelta(seconds=duration) < now


class Leadership:
    def __init__(self, client: AsyncClient, config: LeaseConfig) -> None:
        self.client = client
        self.config = config
        self.lost = asyncio.Event()

    async def _try_acquire(self) -> bool:
        cfg, now = self.config, _now()
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
            try:
                await self.client.create(
                    Lease(metadata=ObjectMeta(name=cfg.name, namespace=cfg.namespace), spec=spec)
                )
            except ApiError as create_error:
                if create_error.status.code == 409:
                    return False
                raise
            return True
        spec = lease.spec or LeaseSpec()
        if spec.holderIdentity != cfg.identity and not _expired(spec, now):
            return False
        transitions = (spec.leaseTransitions or 0) + (spec.holderIdentity != cfg.identity)
        lease.spec = LeaseSpec(
            holderIdentity=cfg.identity,
            leaseDurationSeconds=int(cfg.duration),
            acquireTime=now if spec.holderIdentity != cfg.identity else spec.acquireTime,
            renewTime=now,
            leaseTransitions=transitions,
        )
        try:
            await self.client.replace(lease)  # carries resourceVersion: a race is a 409
        except ApiError as exc:
            if exc.status.code == 409:
                return False
            raise
        return True

    async def acquire(self) -> None:
        waiting_logged = False
        while True:
            try:
                if await self._try_acquire():
                    log.info("leader election: acquired lease %s", self.config.name)
                    return
            except ApiError as exc:
                log.warning("leader election: %s", exc.status.message)
            if not waiting_logged:
                log.info("leader election: standing by; another replica holds the lease")
                waiting_logged = True
            await asyncio.sleep(self.config.retry)

    async def keep(self) -> None:
        """Renew until renewing fails for longer than the lease lasts; then set ``lost``."""
        last_ok = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.config.renew)
            try:
                if await self._try_acquire():
                    last_ok = asyncio.get_running_loop().time()
                    continue
                log.error("leader election: lease taken over by another replica")
            except Exception as exc:  # noqa: BLE001 - any failure to renew counts the same
                log.warning("leader election: renew failed: %s", exc)
                if asyncio.get_running_loop().time() - last_ok < self.config.duration:
                    continue
            self.lost.set()
            return

    async def release(self) -> None:
        """Give the lease up on a clean shutdown, so a standby takes over at once."""
        try:
            lease = await self.client.get(Lease, self.config.name, namespace=self.config.namespace)
            if lease.spec and lease.spec.holderIdentity == self.config.identity:
                lease.spec.holderIdentity = None
                lease.spec.renewTime = None
                await self.client.replace(lease)
        except ApiError as exc:
            log.warning("leader election: could not release the lease: %s", exc.status.message)
