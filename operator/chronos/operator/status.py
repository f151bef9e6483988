"""The operator's part of a ChronosJob status, as pure functions.

The operator writes only the fields named in OPERATOR_FIELDS (plus ``history`` entries
for runs nobody else could report); ``lastRun`` belongs to the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chronos.models import wire as w
from chronos.models.chronosjob import ChronosJobStatus, Condition
from chronos.models.resolve import NEVER_FIRES_MESSAGE, ResolvedSchedule
from chronos.models.timing import ScheduleStatus, Suspension
from chronos.models.wire import ConditionDict, StatusDict
from chronos.times import rfc3339

READY = "Ready"
#: Ready=False reasons while the CronJob cannot be brought in line with the spec.
CRONJOB_MISSING = "CronJobMissing"
CRONJOB_OUT_OF_SYNC = "CronJobOutOfSync"
#: True when the CronJob is in place but its runs cannot start (reasons NeverFires,
#: RunnerServiceAccountMissing); kept apart from Ready, which says the spec was applied.
RUNS_BLOCKED = "RunsBlocked"
#: kstatus's standard abnormal-true condition (sigs.k8s.io/cli-utils, pkg/kstatus): True,
#: beside Ready=False, while the spec is one the operator cannot act on, so kstatus and
#: Flux report the job Failed at once; kstatus reads Ready=False alone as still in
#: progress, which a Flux health check waits out to its timeout. Absent otherwise.
STALLED = "Stalled"
NEXT_RUNS_SHOWN = 5
OPERATOR_FIELDS = frozenset(
    {
        w.OBSERVED_GENERATION,
        w.CONDITIONS,
        w.CRON,
        w.DESCRIPTION,
        w.TIME_ZONE,
        w.CRON_JOB_NAME,
        w.NEXT_RUN_TIMES,
        w.LAST_SCHEDULE_TIME,
        w.ACTIVE_RUNS,
        w.ACTIVE_RUN_STARTS,
        w.SCHEDULES,
        w.SUSPENSION,
        # The delivery ledger (notifier).
        w.NOTIFICATIONS,
    }
)


def to_seconds(when: datetime) -> datetime:
    """``when`` as status times are written: whole seconds, like ``rfc3339``."""
    return when.replace(microsecond=0)


def typed_conditions(conditions: list[ConditionDict]) -> list[Condition]:
    """The conditions as models for a status patch.

    One the models refuse can only be a stored one from an older CRD version; it is
    dropped, so the patch replaces it rather than the operator failing on it for ever.
    """
    typed = []
    for raw in conditions:
        try:
            typed.append(Condition.model_validate(raw))
        except ValidationError:
            continue
    return typed


def status_body(patch: ChronosJobStatus) -> dict[str, Any]:
    """The JSON merge-patch body of ``patch``: each field set on it, None deleting it.

    Inside a field, unset and None values are left out (lists replace the stored ones
    wholesale, and a null there would be stored as such).
    """
    body: dict[str, Any] = {}
    for name in patch.model_fields_set:
        alias = ChronosJobStatus.model_fields[name].alias or name
        dumped = patch.model_dump(mode="json", include={name}, exclude_none=True)
        body[alias] = dumped.get(alias)
    return body


def set_condition(
    conditions: list[ConditionDict] | None,
    *,
    type: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[ConditionDict]:
    """Conditions with ``type`` set; lastTransitionTime changes only when status does."""
    value = "True" if status else "False"
    previous = next((c for c in conditions or [] if c.get("type") == type), None)
    kept = previous.get(w.LAST_TRANSITION_TIME) if previous else None
    transition = kept if kept and previous and previous.get("status") == value else rfc3339(now)
    updated: ConditionDict = {
        "type": type,
        "status": value,
        "reason": reason,
        "message": message,
        w.LAST_TRANSITION_TIME: transition,
        w.OBSERVED_GENERATION: generation,
    }
    return [c for c in conditions or [] if c.get("type") != type] + [updated]


@dataclass(frozen=True)
class Blockers:
    """What stops the runs of an applied ChronosJob from starting."""

    never_fires: bool = False
    #: The runner ServiceAccount, when it does not exist in the job's namespace.
    missing_account: str | None = None
    #: (reason, message): the job's calendar cannot be used (``calendars``).
    calendar: tuple[str, str] | None = None


def blocked_condition(
    conditions: list[ConditionDict] | None,
    blockers: Blockers,
    *,
    cron: str,
    namespace: str,
    generation: int | None,
    now: datetime,
) -> list[ConditionDict]:
    """Conditions with RunsBlocked set from ``blockers`` (the first cause is the reason)."""
    causes: list[tuple[str, str]] = []
    if blockers.never_fires:
        causes.append(("NeverFires", NEVER_FIRES_MESSAGE.format(cron=cron)))
    if blockers.missing_account:
        causes.append(
            (
                "RunnerServiceAccountMissing",
                f"ServiceAccount {blockers.missing_account} does not exist in namespace "
                f"{namespace}, so no run can create its pod; create it and bind the "
                "chronos-runner ClusterRole to it (docs/install.md)",
            )
        )
    if blockers.calendar:
        causes.append(blockers.calendar)
    reason, message = (
        (causes[0][0], "; ".join(m for _, m in causes))
        if causes
        else ("RunsCanStart", "nothing known stops runs from starting")
    )
    return set_condition(
        conditions,
        type=RUNS_BLOCKED,
        status=bool(causes),
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )


def condition(conditions: list[ConditionDict] | None, type: str) -> ConditionDict | None:
    return next((c.copy() for c in conditions or [] if c.get("type") == type), None)


def same_conditions(old: list[ConditionDict] | None, new: list[ConditionDict]) -> bool:
    """Equal up to order (set_condition moves the condition it sets to the end)."""
    return {c.get("type"): c for c in old or []} == {c.get("type"): c for c in new}


def next_run_times(schedule: ResolvedSchedule, now: datetime, enabled: bool) -> list[str]:
    return [rfc3339(t) for t in schedule.next_runs(now, NEXT_RUNS_SHOWN)] if enabled else []


def reconciled(
    status: StatusDict,
    *,
    generation: int | None,
    schedule: ResolvedSchedule,
    cronjob: str,
    enabled: bool,
    now: datetime,
    namespace: str = "",
    blockers: Blockers = Blockers(),
    schedules: list[ScheduleStatus] | None = None,
    next_runs: list[str] | None = None,
    paused: tuple[str, str] | None = None,
    message: str | None = None,
    suspension: Suspension | None = None,
) -> ChronosJobStatus:
    """Status patch after the CronJobs were applied.

    Issue 19: ``schedules`` (status.schedules), ``next_runs`` (the merged next runs,
    default: the first schedule's), ``paused`` (a Ready reason and why, when the job's
    CronJobs are suspended by its window or suspendUntil), ``message`` (what runs, for
    several schedules) and ``suspension``.
    """
    message = message or f"CronJob {cronjob} runs {schedule.description}"
    reason = "Reconciled"
    if not enabled:
        reason, message = "Suspended", f"CronJob {cronjob} is suspended (spec.enabled is false)"
    elif paused is not None:
        reason, message = paused[0], f"{message}; suspended now: {paused[1]}"
    conditions = set_condition(
        _without(status.get(w.CONDITIONS), STALLED),
        type=READY,
        status=True,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
    extra = ChronosJobStatus()
    if schedules is not None:
        extra.schedules = schedules
    if suspension is not None or status.get(w.SUSPENSION) is not None:
        extra.suspension = suspension
    fields = ChronosJobStatus(
        observed_generation=generation,
        conditions=typed_conditions(
            blocked_condition(
                conditions,
                blockers,
                cron=schedule.cron,
                namespace=namespace,
                generation=generation,
                now=now,
            )
        ),
        cron=schedule.cron,
        description=schedule.description,
        time_zone=schedule.time_zone,
        cron_job_name=cronjob,
        next_run_times=next_run_times(schedule, now, enabled) if next_runs is None else next_runs,
    )
    for name in extra.model_fields_set:
        setattr(fields, name, getattr(extra, name))
    return fields


def rejected(
    status: StatusDict, *, generation: int | None, reason: str, message: str, now: datetime
) -> ChronosJobStatus:
    """Status patch for a spec the operator cannot act on; everything else is kept."""
    return ChronosJobStatus(
        observed_generation=generation,
        conditions=_not_ready(status, reason, message, generation, now, stalled=True),
    )


def _without(conditions: list[ConditionDict] | None, type: str) -> list[ConditionDict]:
    return [c for c in conditions or [] if c.get("type") != type]


def _not_ready(
    status: StatusDict,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
    *,
    stalled: bool = False,
) -> list[Condition]:
    # set_condition keeps a held Stalled's lastTransitionTime: a job rejected again
    # writes nothing new.
    conditions = _without(status.get(w.CONDITIONS), STALLED)
    if stalled:
        conditions = set_condition(
            status.get(w.CONDITIONS),
            type=STALLED,
            status=True,
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        )
    return typed_conditions(
        set_condition(
            conditions,
            type=READY,
            status=False,
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        )
    )


def unapplied(
    status: StatusDict,
    *,
    generation: int | None,
    cronjob: str,
    missing: bool,
    error: str,
    now: datetime,
) -> ChronosJobStatus:
    """Status patch for a CronJob that is missing or differs and could not be applied:
    Ready=False says so (``error``: the API server's code, never its message)."""
    if missing:
        reason, what = CRONJOB_MISSING, f"CronJob {cronjob} is missing and could not be created"
    else:
        reason = CRONJOB_OUT_OF_SYNC
        what = f"CronJob {cronjob} differs from the spec and could not be updated"
    message = f"{what} ({error}); retrying"
    return ChronosJobStatus(conditions=_not_ready(status, reason, message, generation, now))


def changes(status: StatusDict, patch: ChronosJobStatus) -> ChronosJobStatus | None:
    """The part of ``patch`` that ``status`` does not hold already; None if nothing.

    None for a ChronosJob in sync, so an operator restart writes nothing for it.
    """
    body = status_body(patch)

    def held(name: str) -> bool:
        alias = ChronosJobStatus.model_fields[name].alias or name
        if alias == w.CONDITIONS and body[alias] is not None:
            return same_conditions(status.get(w.CONDITIONS), body[alias])
        return bool(status.get(alias) == body[alias])

    differing = {name: getattr(patch, name) for name in patch.model_fields_set if not held(name)}
    return ChronosJobStatus(**differing) if differing else None
