"""What every part of the operator's work shares: the client, the settings, the watch
cache, the writes (CronJobs, statuses) it has not shown yet and the memo of runner
ServiceAccount look-ups."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from lightkube import AsyncClient

from chronos.models.chronosjob import ChronosJobStatus
from chronos.models.wire import ChronosJobDict
from chronos.operator import kubeio
from chronos.operator.cache import WatchCache, digest
from chronos.operator.calendars import Calendars
from chronos.operator.chains import ChainIndex
from chronos.operator.expectations import Expectations, StatusWrites
from chronos.operator.figures import Figures
from chronos.operator.notices import NextSlot
from chronos.operator.settings import OperatorSettings
from chronos.operator.status import status_body

log = logging.getLogger(__name__)


@dataclass
class OperatorContext:
    client: AsyncClient
    settings: OperatorSettings
    cache: WatchCache = field(default_factory=WatchCache)
    #: CronJob writes of this process the cache has not shown yet.
    expectations: Expectations = field(default_factory=Expectations)
    #: Status patches of this process the cache has not shown yet.
    status_writes: StatusWrites = field(default_factory=StatusWrites)
    #: namespace -> (monotonic time of the look-up, the runner ServiceAccount exists)
    accounts: dict[str, tuple[float, bool]] = field(default_factory=dict)
    #: namespace -> the runner ServiceAccount exists, as asked in this housekeeping round
    round_accounts: dict[str, bool] = field(default_factory=dict)
    #: The ChronosCalendars (their informer's store), parsed, and which jobs use which.
    calendars: Calendars = field(default_factory=Calendars)
    #: Which jobs run after which (spec.after): requeues and cycles (``chains``).
    chains: ChainIndex = field(default_factory=ChainIndex)
    #: (namespace, job) -> (reason, message): the job's calendar cannot be used
    #: (``operate``), shown as RunsBlocked.
    calendar_problems: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    #: Queue a job again at a wall-clock instant (the work queue's ``add_at``; set when
    #: the workers start): its window opens or closes, its suspension ends, its next
    #: operator-mode slot is due.
    wake: Callable[[tuple[str, str], datetime], None] = lambda key, when: None
    #: Start the deliveries of the notifications a job owes (``notifier.Notifier.sync``;
    #: set while the operator leads). Never waits for a receiver.
    notify: Callable[[ChronosJobDict, NextSlot | None], Awaitable[None]] = lambda cr, next_slot: (
        _nothing()
    )
    #: What this replica publishes for the dashboard's Cluster page (issue 22): the
    #: schedule lag of each job's newest scheduled Job, the keys served, the queue.
    figures: Figures = field(default_factory=lambda: Figures("", ""))


async def _nothing() -> None:
    return None


async def patch_status(ctx: OperatorContext, cr: ChronosJobDict, patch: ChronosJobStatus) -> bool:
    """Merge ``patch`` (computed from the cached ``cr``) into the ChronosJob's status,
    unless this process sent that very patch with success and the cache has shown
    nothing since but the copy it was computed from (``StatusWrites``). Returns False
    if the job is gone."""
    meta = cr["metadata"]
    key = (meta["namespace"], meta["name"])
    fingerprint = digest(status_body(patch))
    if ctx.status_writes.pending(key, fingerprint):
        log.debug("%s/%s: status patch already sent; the cache lags behind it", *key)
        return True
    if not await kubeio.patch_status(ctx.client, *key, patch):
        return False
    ctx.status_writes.wrote(key, fingerprint, dict(meta))
    return True
