"""Accounting for runs nobody else reports: failed or unreported Jobs, and missed slots.

Pure functions over plain Kubernetes objects (dicts), so every case is unit-tested.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.models import wire as w
from chronos.models.chains import RunCause
from chronos.models.chronosjob import MAX_TEXT, ConcurrencyPolicy, RunRecord, RunResult, RunTrigger
from chronos.models.resolve import ResolvedSchedule
from chronos.models.wire import RunRecordDict
from chronos.operator import container
from chronos.times import rfc3339

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


def schedule_of(job: dict[str, Any]) -> str | None:
    """The name of the schedule whose CronJob made the Job (None: a Job from before
    issue 19, the first schedule's)."""
    return (job.get("metadata", {}).get("annotations") or {}).get(c.SCHEDULE_ANNOTATION)


def scheduled_time(job: dict[str, Any]) -> datetime | None:
    annotations = job.get("metadata", {}).get("annotations") or {}
    return _time(annotations.get(c.SCHEDULED_TIMESTAMP_ANNOTATION))


def finished(job: dict[str, Any]) -> bool:
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def start_time(job: dict[str, Any]) -> datetime | None:
    """A Job's startTime (None before its controller started it)."""
    return _time((job.get("status") or {}).get("startTime"))


def started(job: dict[str, Any]) -> datetime | None:
    """When a Job's run started: its startTime, else its creation."""
    return start_time(job) or _time(job["metadata"].get("creationTimestamp"))


def termination_record(pods: Iterable[dict[str, Any]]) -> RunRecord | None:
    """The RunRecord a runner left as its termination message, if any pod has one.

    Only a runner container's: a container task's message is its user's text, which must
    never pass for a record (it could claim any result).
    """
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            if status.get("name") == c.TASK_CONTAINER:
                continue
            message = (status.get("state", {}).get("terminated") or {}).get("message")
            if not message:
                continue
            try:
                return RunRecord.model_validate(json.loads(message))
            except ValueError:
                continue
    return None


FAILED_LAUNCH = "FailedLaunch"
# user:password@ in a URL: the only way a credential could sit in a pod spec that an
# admission message quotes (Chronos passes Secrets by secretKeyRef, never by value).
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def _launch_failure(events: Iterable[dict[str, Any]]) -> str | None:
    """The newest FailedCreate message among the Job's Events, credentials redacted."""
    found = [e for e in events if e.get("reason") == "FailedCreate" and e.get("message")]
    if not found:
        return None
    newest = max(found, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    message = _URL_CREDENTIALS.sub(r"\1***@", str(newest["message"]))
    return f"the Job could not create its pod: {message}"[:MAX_TEXT]


#: Waiting reasons of a runner container whose image cannot be had: it will never start,
#: and the Job controller would keep the pod Pending until the deadline (or for ever).
IMAGE_ERRORS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
)
OOM_KILLED = "OOMKilled"


def _container_states(pods: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            yield status.get("state") or {}


def image_failure(pods: Iterable[dict[str, Any]]) -> str | None:
    """Why the runner container cannot start for want of its image, if that is the case.

    The kubelet's message names the image, never an environment value; URL credentials
    (``user:password@``, were one in an image reference) are redacted all the same.
    """
    for state in _container_states(pods):
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in IMAGE_ERRORS:
            detail = _URL_CREDENTIALS.sub(r"\1***@", str(waiting.get("message") or ""))
            text = f"the runner container cannot start: {waiting['reason']}"
            return (f"{text}: {detail}" if detail else text)[:MAX_TEXT]
    return None


def oom_killed(pods: Iterable[dict[str, Any]]) -> bool:
    """A runner container was killed for exceeding its memory limit."""
    return any(
        (state.get("terminated") or {}).get("reason") == OOM_KILLED
        for state in _container_states(pods)
    )


def start_overdue(job: dict[str, Any], *, now: datetime, grace: timedelta) -> bool:
    """Unfinished, a pod that never became ready, and created more than ``grace`` ago:
    worth a look at its pods (an image that cannot be had keeps them Pending)."""
    status = job.get("status", {})
    created = _time(job["metadata"].get("creationTimestamp"))
    return (
        not finished(job)
        and bool(status.get("active"))
        and not status.get("ready")
        and not status.get("succeeded")
        and not status.get("failed")
        and created is not None
        and now - created >= grace
    )


def stuck_launch(
    job: dict[str, Any], pods: Iterable[dict[str, Any]], *, now: datetime
) -> RunRecord | None:
    """A failed launch for a Job whose pod waits for an image it cannot get."""
    message = image_failure(pods)
    if message is None:
        return None
    return _failed_launch_record(job, message, now)


def _failed_launch_record(job: dict[str, Any], message: str, end: datetime | None) -> RunRecord:
    return RunRecord(
        run_id=job["metadata"]["name"],
        trigger=trigger_of(job),
        result=RunResult.FAILED,
        scheduled_time=scheduled_time(job),
        schedule=schedule_of(job) if trigger_of(job) is not RunTrigger.RUN_NOW else None,
        end_time=end,
        reason=FAILED_LAUNCH,
        message=message,
        reported_by="operator",
    )


def _never_had_pods(job: dict[str, Any]) -> bool:
    status = job.get("status", {})
    counts = ("active", "ready", "succeeded", "failed", "terminating")
    return not any(status.get(k) for k in counts) and not status.get("uncountedTerminatedPods")


def launch_overdue(job: dict[str, Any], *, now: datetime, grace: timedelta) -> bool:
    """Unfinished, no pod ever, and created more than ``grace`` ago."""
    created = _time(job["metadata"].get("creationTimestamp"))
    return (
        not finished(job)
        and _never_had_pods(job)
        and created is not None
        and now - created >= grace
    )


def failed_without_pods(job: dict[str, Any]) -> bool:
    """Finished as failed without a pod: its FailedCreate Events may say why."""
    return _condition(job, "Failed") is not None and _never_had_pods(job)


def failed_launch(
    job: dict[str, Any], events: Iterable[dict[str, Any]], *, now: datetime, grace: timedelta
) -> RunRecord | None:
    """A failed run for a Job still without a pod ``grace`` after it was created, whose
    controller reports FailedCreate (no ServiceAccount, quota, an admission policy …).

    The Job controller retries such a pod for ever and Kubernetes 1.33 sets no Job
    condition for it: without this the run would hang with no trace but an Event.
    """
    if not launch_overdue(job, now=now, grace=grace):
        return None
    message = _launch_failure(events)
    if message is None:
        return None
    return _failed_launch_record(job, message, now)


def unreported_run(
    job: dict[str, Any],
    pods: Iterable[dict[str, Any]],
    history: Iterable[RunRecordDict],
    events: Iterable[dict[str, Any]] = (),
) -> RunRecord | None:
    """The record of a finished Job that is not in the history yet, else None.

    Prefers what the runner said in its termination message (it ran but could not write
    the status); otherwise derives the outcome from the Job's conditions (deadline
    exceeded, backoff limit reached, pod never started). A failed Job that never had a
    pod and has FailedCreate ``events`` is a failed launch, whatever ended it, and so is one
    whose pod waited for an image it could not get; a runner the kernel killed for its
    memory limit is recorded as OOMKilled (the Job itself says only BackoffLimitExceeded).
    """
    name = job["metadata"]["name"]
    if not finished(job) or any(h.get(w.RUN_ID) == name for h in history):
        return None
    pods = list(pods)
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
    launch = (_launch_failure(events) if failed_without_pods(job) else None) or image_failure(pods)
    if launch is not None:
        return _failed_launch_record(job, launch, end)
    log_tail: str | None = None
    result = RunResult.FAILED if failed else RunResult.SUCCEEDED
    ran = container.outcome(pods)
    deadline = (failed or {}).get("reason") == "DeadlineExceeded"
    if failed and oom_killed(pods):
        reason: str | None = OOM_KILLED
        message = "the runner was killed for exceeding its memory limit"
    elif ran is not None and not deadline:
        # A container task: its exit code is the result (chronos.operator.container).
        result, reason, message, log_tail = ran
    else:
        reason = (failed or {}).get("reason") or ("Completed" if complete else None)
        message = (failed or {}).get("message") or (
            "the runner did not report this run; outcome taken from the Job"
        )
        # A container task that timed out: its last words, when the kubelet kept them.
        log_tail = ran[3] if ran is not None else None
    return RunRecord(
        run_id=name,
        trigger=trigger_of(job),
        result=result,
        scheduled_time=scheduled_time(job),
        schedule=schedule_of(job) if trigger_of(job) is not RunTrigger.RUN_NOW else None,
        start_time=start,
        end_time=end,
        duration_seconds=(end - start).total_seconds() if start and end else None,
        reason=reason,
        message=message,
        reported_by="operator",
        log_tail=log_tail,
        cause=cause_of(job),
    )


def cause_of(job: dict[str, Any]) -> RunCause | None:
    """A chain run's cause, from its Job's annotation (the operator wrote it)."""
    text = (job.get("metadata", {}).get("annotations") or {}).get(c.CAUSE_ANNOTATION)
    try:
        return RunCause.model_validate_json(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class SlotContext:
    concurrency_policy: ConcurrencyPolicy
    starting_deadline_seconds: int | None


def _active_at(jobs: Iterable[dict[str, Any]], moment: datetime) -> bool:
    for job in jobs:
        start = started(job)
        end = _time(job.get("status", {}).get("completionTime"))
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
    history: Iterable[RunRecordDict],
    context: SlotContext,
    grace: timedelta,
) -> tuple[list[RunRecord], datetime]:
    """Slots in (since, now - grace] that produced no Job; returns them and the new mark,
    the last slot examined (``since`` if none passed).

    The CronJob controller normally creates a Job within a second or two of its slot;
    ``grace`` (CHRONOS_MISSED_RUN_GRACE_SECONDS) is how long we wait before calling it
    missed.
    """
    until = now - grace
    if until <= since:
        return [], since
    ran = {t.timestamp() for t in (scheduled_time(j) for j in jobs) if t}
    ran |= {
        t.timestamp() for t in (_time(h.get(w.SCHEDULED_TIME)) for h in history) if t is not None
    }
    slots = [t for t in schedule.next_runs(since, MAX_SLOTS) if t.timestamp() <= until.timestamp()]
    records = []
    for slot in slots:
        if slot.timestamp() in ran:
            continue
        if context.concurrency_policy is ConcurrencyPolicy.FORBID and _active_at(jobs, slot):
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
    # The last slot examined, not ``until``: the mark moves only when a slot passes, so a
    # housekeeping round that finds no new slot has nothing to write (a mark following
    # the clock cost a status write per job per round: 330/s with 10,000 jobs).
    mark = slots[-1] if slots else since
    return records, mark
