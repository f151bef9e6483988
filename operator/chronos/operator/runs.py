"""Accounting for runs nobody else reports: failed or unreported Jobs, and missed slots.

Pure functions over plain Kubernetes objects (dicts), so every case is unit-tested.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.models.chronosjob import RunRecord, RunResult, RunTrigger
from chronos.models.resolve import ResolvedSchedule
from chronos.operator.status import rfc3339

#: Bound on the slots examined in one pass (a long outage is summarised, not listed).
MAX_SLOTS = 50


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def trigger_of(job: dict[str, Any]) -> RunTrigger:
    annotations = job.get("metadata", {}).get("annotations") or {}
    return RunTrigger(annotations.get(c.TRIGGER_ANNOTATION) or RunTrigger.SCHEDULE)


def scheduled_time(job: dict[str, Any]) -> datetime | None:
    annotations = job.get("metadata", {}).get("annotations") or {}
    return _time(annotations.get(c.SCHEDULED_TIMESTAMP_ANNOTATION))


def finished(job: dict[str, Any]) -> bool:
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def termination_record(pods: Iterable[dict[str, Any]]) -> RunRecord | None:
    """The RunRecord a runner left as its termination message, if any pod has one."""
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            message = (status.get("state", {}).get("terminated") or {}).get("message")
            if not message:
                continue
            try:
                return RunRecord.model_validate(json.loads(message))
            except ValueError:
                continue
    return None


def unreported_run(
    job: dict[str, Any], pods: Iterable[dict[str, Any]], history: Iterable[dict[str, Any]]
) -> RunRecord | None:
    """The record of a finished Job that is not in the history yet, else None.

    Prefers what the runner said in its termination message (it ran but could not write
    the status); otherwise derives the outcome from the Job's conditions (deadline
    exceeded, backoff limit reached, pod never started).
    """
    name = job["metadata"]["name"]
    if not finished(job) or any(h.get("runId") == name for h in history):
        return None
    record = termination_record(pods)
    if record is not None and record.run_id == name:
        return record.model_copy(update={"reported_by": "operator"})
    status = job.get("status", {})
    failed = _condition(job, "Failed")
    complete = _condition(job, "Complete")
    start = _time(status.get("startTime"))
    end = _time(status.get("completionTime")) or _time(
        (failed or complete or {}).get("lastTransitionTime")
    )
    return RunRecord(
        run_id=name,
        trigger=trigger_of(job),
        result=RunResult.FAILED if failed else RunResult.SUCCEEDED,
        scheduled_time=scheduled_time(job),
        start_time=start,
        end_time=end,
        duration_seconds=(end - start).total_seconds() if start and end else None,
        reason=(failed or {}).get("reason") or ("Completed" if complete else None),
        message=(failed or {}).get("message")
        or "the runner did not report this run; outcome taken from the Job",
        reported_by="operator",
    )


@dataclass(frozen=True)
class SlotContext:
    concurrency_policy: str
    starting_deadline_seconds: int | None


def _active_at(jobs: Iterable[dict[str, Any]], moment: datetime) -> bool:
    for job in jobs:
        status = job.get("status", {})
        start = _time(status.get("startTime")) or _time(job["metadata"].get("creationTimestamp"))
        end = _time(status.get("completionTime"))
        if end is None:
            done = _condition(job, "Failed") or _condition(job, "Complete")
            end = _time(done.get("lastTransitionTime")) if done else None
        if start and start <= moment and (end is None or end > moment):
            return True
    return False


def missed_slots(
    schedule: ResolvedSchedule,
    *,
    since: datetime,
    now: datetime,
    jobs: list[dict[str, Any]],
    history: Iterable[dict[str, Any]],
    context: SlotContext,
    grace: timedelta,
) -> tuple[list[RunRecord], datetime]:
    """Slots in (since, now - grace] that produced no Job; returns them and the new mark.

    The CronJob controller normally creates a Job within a second or two of its slot;
    ``grace`` (CHRONOS_MISSED_RUN_GRACE_SECONDS) is how long we wait before calling it
    missed.
    """
    until = now - grace
    if until <= since:
        return [], since
    ran = {t.timestamp() for t in (scheduled_time(j) for j in jobs) if t}
    ran |= {
        t.timestamp() for t in (_time(h.get("scheduledTime")) for h in history) if t is not None
    }
    slots = [t for t in schedule.next_runs(since, MAX_SLOTS) if t.timestamp() <= until.timestamp()]
    records = []
    for slot in slots:
        if slot.timestamp() in ran:
            continue
        if context.concurrency_policy == "Forbid" and _active_at(jobs, slot):
            reason, message = "ConcurrencyForbid", "skipped: the previous run was still active"
        elif (
            context.starting_deadline_seconds is not None
            and (now - slot).total_seconds() > context.starting_deadline_seconds
        ):
            reason, message = (
                "StartingDeadlineExceeded",
                f"no Job started within startingDeadlineSeconds "
                f"({context.starting_deadline_seconds}s)",
            )
        else:
            reason, message = "NotStarted", "no Job was created for this slot"
        records.append(
            RunRecord(
                run_id=f"missed-{rfc3339(slot)}",
                trigger=RunTrigger.SCHEDULE,
                result=RunResult.MISSED,
                scheduled_time=slot,
                reason=reason,
                message=message,
                reported_by="operator",
            )
        )
    mark = slots[-1] if len(slots) == MAX_SLOTS else until
    return records, mark
