"""Whether the operator can work right now: the readiness behind its ``/readyz``.

The watches retry quietly when the API server goes away, so the operator asks the API
server itself: a one-item LIST of what it watches every few seconds. The answer feeds
``chronos.readiness.Readiness``; ``/readyz`` turns false after
CHRONOS_READY_GRACE_SECONDS of failures and true at the next success (by then the
watches, which retry on the same connection, are listing again as well).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lightkube import ALL_NS, AsyncClient

from chronos.kube import ChronosJobResource
from chronos.readiness import Readiness

log = logging.getLogger(__name__)


def probe_interval(grace: float) -> float:
    """Three probes per grace period, between 0.5 s and 5 s apart."""
    return max(0.5, min(5.0, grace / 3))


async def list_one(client: AsyncClient, *, namespace: str | None) -> None:
    """The cheapest request that needs what the watches need: a LIST of one ChronosJob,
    in ``namespace`` (None: across the cluster, as the watches of globs do)."""
    async for _ in client.list(ChronosJobResource, namespace=namespace or ALL_NS, chunk_size=1):
        break


async def probe_loop(
    client: AsyncClient,
    readiness: Readiness,
    *,
    namespace: str | None,
    may_sync: asyncio.Event,
    watch_problem: Callable[[], str | None] = lambda: None,
) -> None:
    """Until cancelled: report each probe to ``readiness``.

    ``may_sync`` is clear while the watches have not listed yet (a new leader starting):
    a successful probe then does not make the operator ready. ``watch_problem`` says why
    a watch is cut off: the API server answering the probe does not make that ready.
    """
    interval = probe_interval(readiness.grace)
    while True:
        try:
            await asyncio.wait_for(list_one(client, namespace=namespace), timeout=interval * 2)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("API server probe failed", exc_info=True)
            readiness.failed(f"API server unreachable: {type(exc).__name__}")
        else:
            if (problem := watch_problem()) is not None:
                readiness.failed(problem)
            elif may_sync.is_set():
                readiness.synced()
        await asyncio.sleep(interval)
