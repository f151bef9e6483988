"""concurrencyPolicy Enqueue: which queued run starts, which wait, which are dropped —
decided by a pure function (issue 20, feature 4).

An Enqueue job's schedules run in operator mode (``timerules.schedule_mode``): the
operator plans its slots as under Allow (``firing``) and hands each slot due on time
(or caught up) to this planner as an arrival instead of starting it; run-now requests
arrive the same way (``runnow``). The queue lives in ``status.queued``, oldest first:

- a run starts only while no run of the job is active, the oldest queued first;
- beyond ``maxQueued`` waiting runs the oldest is dropped, recorded as missed with
  reason ``QueueFull`` (a newer slot is worth more than an older one, as under
  ``catchUp: Latest``);
- an entry whose run id is already a Job or in the history was served (a restart
  between creating its Job and writing the queue): it leaves the queue, nothing more.

The arrivals are written to ``status.queued`` in the same patch that moves
``slotsFiredUntil`` past them, so a slot is either listed again or queued, never lost;
starting a queued run creates its Job (deterministic name: a second create is a
conflict) before the queue forgets it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chronos.models.chronosjob import RunRecord, RunResult, RunTrigger
from chronos.models.jobstatus import QueuedRun
from chronos.models.params import RunParameters
from chronos.models.queue import QUEUE_FULL

#: The reason of the history entry of a queued run whose job left Enqueue.
QUEUE_ABANDONED = "QueueAbandoned"


@dataclass(frozen=True)
class QueuePlan:
    #: The run to start now (None: a run is active, or nothing waits).
    start: QueuedRun | None
    #: The new ``status.queued``, oldest first.
    queued: list[QueuedRun]
    #: History entries of the runs dropped (missed, QueueFull), oldest first.
    dropped: list[RunRecord]
    #: Whether ``queued`` differs from what was stored.
    changed: bool


def dropped_record(run: QueuedRun, *, limit: int, now: datetime) -> RunRecord:
    """The history entry of a queued run dropped for newer ones."""
    return RunRecord(
        run_id=run.run_id,
        trigger=run.trigger,
        result=RunResult.MISSED,
        scheduled_time=run.scheduled_time,
        schedule=run.schedule,
        end_time=now,
        reason=QUEUE_FULL,
        message=(
            f"dropped from the queue: {limit} newer run(s) were waiting "
            f"(concurrencyPolicy Enqueue, maxQueued {limit})"
        ),
        reported_by="operator",
    )


def plan(
    stored: Sequence[QueuedRun],
    arrivals: Sequence[QueuedRun],
    *,
    active: Iterable[str],
    known: set[str],
    limit: int,
    now: datetime,
) -> QueuePlan:
    """What becomes of the queue ``stored`` and the runs ``arrivals`` (oldest first).

    ``active``: the unfinished Jobs of the job; ``known``: the names of its Jobs and the
    history's runIds (served); ``limit``: ``maxQueued``.
    """
    waiting: list[QueuedRun] = []
    seen: set[str] = set()
    for run in [*stored, *arrivals]:
        if run.run_id in known or run.run_id in seen:
            continue
        seen.add(run.run_id)
        waiting.append(run)
    start = waiting.pop(0) if waiting and not list(active) else None
    queued, dropped = bound(waiting, limit=limit, now=now)
    return QueuePlan(start, queued, dropped, queued != list(stored))


def bound(
    waiting: Sequence[QueuedRun], *, limit: int, now: datetime
) -> tuple[list[QueuedRun], list[RunRecord]]:
    """``waiting`` (oldest first) cut to ``limit``: the runs kept, and the history
    entries of the oldest ones dropped (QueueFull)."""
    over = max(0, len(waiting) - limit)
    return list(waiting[over:]), [dropped_record(r, limit=limit, now=now) for r in waiting[:over]]


def abandon(stored: Sequence[QueuedRun], *, known: set[str], now: datetime) -> QueuePlan:
    """The queue of a job no longer under Enqueue: each run still waiting is recorded as
    missed (reason QueueAbandoned) rather than left in status for ever or started under
    a policy that never queued it."""
    dropped = [
        RunRecord(
            run_id=r.run_id,
            trigger=r.trigger,
            result=RunResult.MISSED,
            scheduled_time=r.scheduled_time,
            schedule=r.schedule,
            end_time=now,
            reason=QUEUE_ABANDONED,
            message="dropped from the queue: concurrencyPolicy is no longer Enqueue",
            reported_by="operator",
        )
        for r in stored
        if r.run_id not in known
    ]
    return QueuePlan(None, [], dropped, bool(stored))


def slot_arrival(
    run_id: str, *, trigger: RunTrigger, schedule: str, scheduled_time: datetime, now: datetime
) -> QueuedRun:
    """A slot's run as it joins the queue."""
    return QueuedRun(
        run_id=run_id,
        trigger=trigger,
        schedule=schedule,
        scheduled_time=scheduled_time,
        queued_at=now,
    )


def run_now_arrival(
    run_id: str, *, token: str, requested_at: datetime, parameters: RunParameters | None = None
) -> QueuedRun:
    """A run-now request's run as it joins the queue (it waits since it was accepted),
    with its parameters: judged when it was served; the runner judges them again when it
    starts, should the job's task have changed meanwhile."""
    return QueuedRun(
        run_id=run_id,
        trigger=RunTrigger.RUN_NOW,
        queued_at=requested_at,
        token=token,
        parameters=parameters,
    )


def describe(run: QueuedRun) -> str:
    """One line for an Event: which queued run started."""
    what = f"slot {run.scheduled_time.isoformat()}" if run.scheduled_time else run.trigger.value
    return f"started queued {what} as Job {run.run_id}"
