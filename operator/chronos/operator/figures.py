"""The figures each operator replica publishes for the dashboard's Cluster page (issue
22): its work queue's depth, its sync and reconcile rates and the schedule lag of the
jobs' newest scheduled runs (slot -> Job created), into the figures ConfigMap beside
the leader Lease (``chronos.models.figures`` says why there and in what shape).

The leader and the standbys publish alike (a standby says it stands by, with no queue
figures: it runs no workers), every REFRESH_SECONDS. The pure parts come first (the lag
of one Job, the summary, a rate over a window); ``publish`` is the loop that writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from chronos import contract as c
from chronos.models.figures import (
    MAX_LAG_ENTRIES,
    REFRESH_SECONDS,
    STALE_SECONDS,
    LagEntry,
    ReplicaFigures,
    ScheduleLag,
    entry_key,
    parse_figures,
)
from chronos.operator import metrics
from chronos.times import parse_time

log = logging.getLogger(__name__)
Key = tuple[str, str]
#: Rates are counted over this window.
RATE_WINDOW_SECONDS = 60.0


def version() -> str:
    try:
        return metadata.version("chronos-operator")
    except metadata.PackageNotFoundError:
        try:
            return metadata.version("chronos-scheduler")  # a development checkout
        except metadata.PackageNotFoundError:
            return "unknown"


# ------------------------------------------------------------------------ pure parts


def schedule_lag(owner: Key, job: dict[str, Any]) -> LagEntry | None:
    """Slot -> Job created for a Job made for a scheduled slot (by the CronJob
    controller or the operator); None for any other Job: run-now, chain runs, and
    catch-up and backfill runs, whose late start is their purpose."""
    meta = job.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if annotations.get(c.TRIGGER_ANNOTATION, "schedule") != "schedule":
        return None
    slot = parse_time(annotations.get(c.SCHEDULED_TIMESTAMP_ANNOTATION))
    created = parse_time(meta.get("creationTimestamp"))
    if slot is None or created is None:
        return None
    owners = meta.get("ownerReferences") or []
    by = "cronjob-controller" if any(o.get("kind") == "CronJob" for o in owners) else "operator"
    return LagEntry(
        namespace=owner[0],
        job=owner[1],
        slot=slot,
        created=created,
        # The API server's clock stamps both ends (creationTimestamp) or the slot is
        # exact: a negative gap would be clock noise, never a run before its slot.
        lag_seconds=max(0.0, (created - slot).total_seconds()),
        by=by,
    )


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(lags: list[LagEntry], limit: int = MAX_LAG_ENTRIES) -> ScheduleLag:
    if not lags:
        return ScheduleLag()
    ordered = sorted(entry.lag_seconds for entry in lags)
    worst = sorted(lags, key=lambda e: (-e.lag_seconds, e.namespace, e.job))[:limit]
    return ScheduleLag(
        jobs=len(lags),
        p50_seconds=_percentile(ordered, 0.5),
        p95_seconds=_percentile(ordered, 0.95),
        max_seconds=ordered[-1],
        worst=worst,
    )


def per_minute(samples: deque[tuple[float, float]], now: float, total: float) -> float | None:
    """The rate of a counter per minute over the samples of the last RATE_WINDOW_SECONDS
    (``samples``: (time, total) pairs, oldest first; this sample is appended and the
    older ones dropped). None until two samples span some time."""
    samples.append((now, total))
    while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_SECONDS:
        samples.popleft()
    first_at, first_total = samples[0]
    if now - first_at <= 0:
        return None
    return round((total - first_total) * 60.0 / (now - first_at), 2)


def stale_keys(
    data: dict[str, str] | None, own: str, now: datetime, stale: float = STALE_SECONDS
) -> list[str]:
    """Keys of entries not refreshed for ``stale`` seconds (their replicas died without
    removing them), and of entries that cannot be read; never this replica's own."""
    entries, bad = parse_figures(data)
    old = [
        entry_key(e.identity)
        for e in entries
        if (now - e.updated_at).total_seconds() > stale and entry_key(e.identity) != own
    ]
    return sorted({*old, *(k for k in bad if k != own)})


def _reconciles_total() -> float:
    """chronos_operator_reconciles_total over its outcomes (this process's counter)."""
    return sum(
        s.value
        for family in metrics.RECONCILES.collect()
        for s in family.samples
        if s.name.endswith("_total")
    )


class Figures:
    """What this replica knows of its work, kept up to date by the controller: the
    newest scheduled Job of each job (``job_seen`` at each Job event) and how to read
    its work queue's depth and the keys it has served (``watch``, while the controller
    runs)."""

    def __init__(self, identity: str, pod: str) -> None:
        self.identity, self.pod = identity, pod
        self.started_at = datetime.now(UTC)
        #: Remove the entry at a stop (a clean one). A replica that lost its lease may be
        #: cut off from the API server and must exit at once: the others prune its entry.
        self.withdraw = True
        self.version = version()
        #: When this replica gained the lease (None: standby).
        self.leader_since: datetime | None = None
        self.queue_depth: Callable[[], int] | None = None
        self.served: Callable[[], int] | None = None
        self._lags: dict[Key, LagEntry] = {}
        self._sync_samples: deque[tuple[float, float]] = deque()
        self._reconcile_samples: deque[tuple[float, float]] = deque()
        #: Set when something the page shows at once changed (the lease gained or
        #: given up): the publisher writes without waiting for its period.
        self.changed = asyncio.Event()

    def leading(self, since: datetime | None) -> None:
        self.leader_since = since
        self.changed.set()

    def job_seen(self, owner: Key, job: dict[str, Any]) -> None:
        lag = schedule_lag(owner, job)
        kept = self._lags.get(owner)
        if lag is not None and (kept is None or lag.slot >= kept.slot):
            self._lags[owner] = lag

    def forget(self, owner: Key) -> None:
        self._lags.pop(owner, None)

    def watch(self, depth: Callable[[], int] | None, served: Callable[[], int] | None) -> None:
        """Read the work queue's depth and served keys from these (None: no queue)."""
        self.queue_depth, self.served = depth, served

    def snapshot(self, now: datetime, clock: float) -> ReplicaFigures:
        depth, served = self.queue_depth, self.served
        leading = self.leader_since is not None and depth is not None and served is not None
        return ReplicaFigures(
            identity=self.identity,
            pod=self.pod,
            leader=self.leader_since is not None,
            leader_since=self.leader_since,
            started_at=self.started_at,
            updated_at=now,
            version=self.version,
            queue_depth=depth() if leading and depth else None,
            syncs_per_minute=per_minute(self._sync_samples, clock, served())
            if leading and served
            else None,
            reconciles_per_minute=per_minute(self._reconcile_samples, clock, _reconciles_total())
            if leading
            else None,
            schedule_lag=summarize(list(self._lags.values())) if leading else None,
        )


# ---------------------------------------------------------------------------- I/O


async def _write(
    client: AsyncClient, namespace: str, name: str, data: dict[str, str | None]
) -> None:
    """Merge ``data`` into the ConfigMap (a key set to None is removed); create the
    ConfigMap when it is missing (the chart and deploy/base create it empty, so an
    operator with their RBAC never needs to)."""
    try:
        await client.patch(
            ConfigMap, name, {"data": data}, namespace=namespace, patch_type=PatchType.MERGE
        )
    except ApiError as exc:
        if exc.status.code != 404:
            raise
        kept = {k: v for k, v in data.items() if v is not None}
        await client.create(
            ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace), data=kept)
        )


async def publish_once(
    client: AsyncClient, namespace: str, name: str, figures: Figures
) -> ReplicaFigures:
    """Write this replica's entry, and drop the entries of replicas that died."""
    now = datetime.now(UTC)
    own = entry_key(figures.identity)
    snapshot = figures.snapshot(now, time.monotonic())
    data: dict[str, str | None] = {own: snapshot.model_dump_json(exclude_none=True)}
    try:
        current = await client.get(ConfigMap, name, namespace=namespace)
        for key in stale_keys(current.data, own, now):
            data[key] = None
    except ApiError as exc:
        if exc.status.code != 404:
            raise
    await _write(client, namespace, name, data)
    return snapshot


async def publish(
    client: AsyncClient,
    namespace: str,
    name: str,
    figures: Figures,
    every: float = REFRESH_SECONDS,
) -> None:
    """Refresh this replica's entry every ``every`` seconds until cancelled; then remove
    it (a clean stop), so the page shows the replica gone at once. A failed write is
    said once (WARNING) until one succeeds again: the page then shows the entry as old."""
    failing = False
    try:
        while True:
            try:
                await publish_once(client, namespace, name, figures)
                if failing:
                    log.info("operator figures published again")
                failing = False
            except Exception as exc:  # noqa: BLE001 - figures never stop the operator
                if not failing:
                    log.warning(
                        "cannot publish the operator figures to %s/%s: %s", namespace, name, exc
                    )
                failing = True
            # Not asyncio.wait_for: on Python 3.11 it loses a cancellation that arrives
            # as the event is set (``leading(None)`` at a stop does both), and the stop
            # would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await figures.changed.wait()
            figures.changed.clear()
    finally:
        if figures.withdraw:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await _write(client, namespace, name, {entry_key(figures.identity): None})
