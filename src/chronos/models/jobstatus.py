"""The ChronosJob's status (observed state): conditions, runs and what the operator
schedules. Part of the CRD like the spec (``chronos.models.chronosjob``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from chronos.models import queue as q
from chronos.models import timing as t
from chronos.models.base import MAX_ID_LENGTH, MAX_TEXT, Lax, Time, _Model
from chronos.models.chains import RunCause
from chronos.models.notify import NotificationsStatus
from chronos.models.params import RunParameters

# Bounds that also keep the CRD's CEL rules within the API server's cost budget.
MAX_HISTORY = 100
#: Bytes (UTF-8) of the runner's own log kept with a run (RunRecord.logTail): enough
#: for a run's steps and its result line.
MAX_LOG_TAIL = 4096
#: Only the newest this many runs of status.history keep their logTail (older entries
#: lose it when a run is added): a job carries at most ~44 KiB of tails (these and
#: lastRun's) whatever its historyLimit, far under etcd's 1.5 MiB object limit, and
#: the watch caches that hold every ChronosJob stay small.
LOG_TAILS_KEPT = 10


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(_Model):
    """A Kubernetes-style condition (type, status, reason, message)."""

    type: str = Field(
        max_length=316,
        description=(
            "Ready (the CronJob matches the spec), RunsBlocked (runs cannot start) or "
            "Stalled (kstatus: the spec cannot be acted on)."
        ),
    )
    status: Annotated[ConditionStatus, Lax] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="Why, in one CamelCase word.")
    message: str = Field(default="", max_length=32768, description="Why, for people.")
    last_transition_time: Time = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this condition describes."
    )


class RunResult(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MISSED = "missed"
    #: A slot on a calendar's excluded day (onExcluded Skip): recorded, never run.
    SKIPPED = "skipped"
    #: Stopped on request before it ended: its Kubernetes Job was deleted (REST or
    #: dashboard Abort, kubectl), the runner got SIGTERM (issue 20).
    ABORTED = "aborted"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    RUN_NOW = "run-now"
    #: A missed slot started late (spec.catchUp).
    CATCHUP = "catchup"
    #: A past slot started on request (POST /api/jobs/{id}/backfill, or the annotation).
    BACKFILL = "backfill"
    #: Started by the end of an upstream job's run (spec.after).
    CHAIN = "chain"


class EntityResult(_Model):
    id: str = Field(max_length=MAX_ID_LENGTH, description="Entity or group id.")
    result: Annotated[RunResult, Lax] = Field(
        description="running, succeeded, failed, missed or aborted, for this entity or group."
    )
    state: str | None = Field(default=None, description="Last state CoreHub reported.")
    message: str | None = Field(
        default=None, max_length=MAX_TEXT, description="What CoreHub said, or what went wrong."
    )


#: RunRecord.slotWallTime and slotOffset: the slot as a clock on the wall showed it.
SLOT_WALL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
SLOT_OFFSET = r"^[+-][0-9]{2}:[0-9]{2}$"


class RunRecord(_Model):
    """One run, as reported by the runner or, when the runner could not, by the operator."""

    run_id: str = Field(description="Name of the Kubernetes Job (or the missed slot's time).")
    trigger: Annotated[RunTrigger, Lax] = Field(
        description="What started the run: schedule, run-now, catchup or backfill."
    )
    result: Annotated[RunResult, Lax] = Field(
        description=(
            "running, succeeded, failed, missed (a slot that never ran), skipped (a slot "
            "on a calendar's excluded day) or aborted (stopped on request before it ended)."
        )
    )
    scheduled_time: Time | None = Field(
        default=None, description="The slot's instant (absent for run-now)."
    )
    schedule: str | None = Field(
        default=None,
        max_length=t.MAX_SCHEDULE_NAME,
        description="The name of the schedule the slot belongs to (absent for run-now).",
    )
    calendar: str | None = Field(
        default=None,
        max_length=253,
        description="For a skipped slot: the ChronosCalendar that excluded its day.",
    )
    slot_wall_time: str | None = Field(
        default=None,
        pattern=SLOT_WALL_TIME,
        description="The slot's wall time in the job's zone, YYYY-MM-DDTHH:MM:SS.",
    )
    slot_offset: str | None = Field(
        default=None,
        pattern=SLOT_OFFSET,
        description="The zone's UTC offset at the slot, e.g. +01:00.",
    )
    start_time: Time | None = Field(default=None, description="When the runner started.")
    end_time: Time | None = Field(default=None, description="When the run ended.")
    duration_seconds: float | None = Field(
        default=None, description="From start to end, in seconds."
    )
    reason: str | None = Field(default=None, description="Machine-readable cause, CamelCase.")
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="What happened.")
    entities: list[EntityResult] | None = Field(
        default=None, description="Outcome per entity or group, in the order they ran."
    )
    reported_by: str | None = Field(
        default=None, description="runner or operator: who recorded this run."
    )
    parameters: RunParameters | None = Field(
        default=None, description="The run-now parameters this run was started with."
    )
    cause: RunCause | None = Field(
        default=None, description="For a chain run: the upstream run that started it."
    )
    peak_cpu_millicores: float | None = Field(
        default=None,
        ge=0,
        description=(
            "The highest CPU use of the run's pod the operator saw in the metrics API "
            "(metrics.k8s.io) while it ran, in millicores; absent without metrics-server "
            "or for a run shorter than its first sample."
        ),
    )
    peak_memory_bytes: int | None = Field(
        default=None,
        ge=0,
        description=(
            "The highest memory working set of the run's pod the operator saw in the "
            "metrics API while it ran, in bytes (absent as peakCpuMillicores is)."
        ),
    )
    log_tail: str | None = Field(
        default=None,
        max_length=MAX_LOG_TAIL,
        description=(
            "The last lines of the runner's own log (at most 4 KiB), kept so the run's log "
            "outlives its pod (in the newest 10 runs of history only); credentials never "
            "appear in it."
        ),
    )


class ActiveRun(_Model):
    """One of activeRuns: what started it and when."""

    run_id: str = Field(description="The run's id: its Job's name.")
    trigger: Annotated[RunTrigger, Lax] = Field(description="What started the run.")
    start_time: Time = Field(description="The Job's startTime, else its creation time.")


class QueuedRun(_Model):
    """One of queued (concurrencyPolicy Enqueue): a run waiting for the active one to end."""

    run_id: str = Field(
        max_length=MAX_ID_LENGTH, description="The name its Job will get: its run id."
    )
    trigger: Annotated[RunTrigger, Lax] = Field(description="What asked for the run.")
    schedule: str | None = Field(
        default=None,
        max_length=t.MAX_SCHEDULE_NAME,
        description="The schedule of its slot (absent for run-now).",
    )
    scheduled_time: Time | None = Field(
        default=None, description="Its slot's instant (absent for run-now)."
    )
    queued_at: Time = Field(description="When it started waiting.")
    token: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "For a run-now: the request's token, as the run-now annotation held it (its "
            "Job's name derives from it)."
        ),
    )
    parameters: RunParameters | None = Field(
        default=None, description="For a run-now: its parameters (REST or the annotation)."
    )


class ChronosJobStatus(_Model):
    """Observed state. The operator owns every field but lastRun; the runner owns lastRun.

    ``history`` is shared: both writers update it read-modify-write, guarded by the
    resource version, so neither can drop the other's entries.
    """

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the operator last applied."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready and RunsBlocked, with the reason and message of each.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    cron: str | None = Field(default=None, description="Effective cron expression.")
    description: str | None = Field(default=None, description="The schedule in words.")
    time_zone: str | None = Field(default=None, description="Effective time zone.")
    cron_job_name: str | None = Field(default=None, description="Name of the owned CronJob.")
    next_run_times: list[str] | None = Field(
        default=None, description="Next few run times, RFC 3339 with the zone's offset."
    )
    last_schedule_time: Time | None = Field(
        default=None, description="When the CronJob last created a Job on schedule."
    )
    slots_checked_until: Time | None = Field(
        default=None,
        description="Scheduled slots up to this time have been checked for missed runs.",
    )
    active_runs: list[str] | None = Field(
        default=None,
        description=(
            "Jobs of this ChronosJob still running, as the operator last saw them; a "
            "run-now is refused while one runs under concurrencyPolicy Forbid."
        ),
    )
    active_run_starts: list[ActiveRun] | None = Field(
        default=None,
        description=(
            "What started each of activeRuns and when, in the same order: the dashboard"
            " shows how long each has been running."
        ),
    )
    last_run: RunRecord | None = Field(
        default=None, description="The most recent run, as the runner reported it."
    )
    history: list[RunRecord] | None = Field(
        default=None, max_length=MAX_HISTORY, description="Past runs, newest first."
    )
    schedules: list[t.ScheduleStatus] | None = Field(
        default=None,
        max_length=t.MAX_SCHEDULES,
        description=(
            "Each schedule as it runs (name, effective cron or rrule, mode, CronJob); cron "
            "and cronJobName above are the first schedule's."
        ),
    )
    suspension: t.Suspension | None = Field(
        default=None, description="The current or last suspendUntil, and when it ended."
    )
    slots_fired_until: Time | None = Field(
        default=None,
        description=(
            "Schedules the operator starts itself (mode Operator): every slot up to this "
            "time has been started or skipped."
        ),
    )
    backfills: list[t.BackfillStatus] | None = Field(
        default=None,
        max_length=t.BACKFILLS_KEPT,
        description="The newest backfill requests and what became of them, newest first.",
    )
    queued: list[QueuedRun] | None = Field(
        default=None,
        max_length=q.MAX_QUEUED,
        description=(
            "concurrencyPolicy Enqueue: the runs waiting for the active one to end, oldest first."
        ),
    )
    queued_count: int | None = Field(
        default=None, ge=0, description="How many runs are queued (kubectl's Queued column)."
    )
    notifications: NotificationsStatus | None = Field(
        default=None, description="The notification delivery ledger (issue 21)."
    )
