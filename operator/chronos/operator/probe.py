"""Whether the operator can work right now: the readiness behind its ``/readyz``.

Kopf keeps its watches to itself and retries them quietly when the API server goes away,
so the operator asks the API server itself: a one-item LIST of what it watches every
few seconds. The answer feeds ``chronos.readiness.Readiness``; ``/readyz`` turns false
after CHRONOS_READY_GRACE_SECONDS of failures and true at the next success (by then Kopf,
whose watches retry on the same connection, is listing again as well).
"""

from __future__ import annotations

import asyncio
import logging

from lightkube import ALL_NS, AsyncClient
from lightkube.resources.core_v1 import Namespace

from chronos.kube import ChronosJobResource
from chronos.readiness import Readiness

log = logging.getLogger(__name__)


def probe_interval(grace: float) -> float:
    """Three probes per grace period, between 0.5 s and 5 s apart."""
    return max(0.5, min(5.0, grace / 3))


async def list_one(client: AsyncClient, *, clusterwide: bool) -> None:
    """The cheapest request that needs what the watches need: a LIST of one item.

    ChronosJobs across the cluster when the operator watches all of it; otherwise
    Namespaces (its namespace patterns may be globs, which Kopf resolves by listing them).
    """
    listing = (
        client.list(ChronosJobResource, namespace=ALL_NS, chunk_size=1)
        if clusterwide
        else client.list(Namespace, chunk_size=1)
    )
    async for _ in listing:
        break


async def probe_loop(
    client: AsyncClient,
    readiness: Readiness,
    *,
    clusterwide: bool,
    may_sync: asyncio.Event,
) -> None:
    """Until cancelled: report each probe to ``readiness``.

    ``may_sync`` is clear while the watches are not running yet (a new leader starting
    Kopf): a successful probe then does not make the operator ready.
    """
    interval = probe_interval(readiness.grace)
    while True:
        try:
            await asyncio.wait_for(list_one(client, clusterwide=clusterwide), timeout=interval * 2)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("API server probe failed", exc_info=True)
            readiness.failed(f"API server unreachable: {type(exc).__name__}")
        else:
            if may_sync.is_set():
                readiness.synced()
        await asyncio.sleep(interval)
