"""Response bodies of the Chronos REST API (snake_case). The request bodies, and the
shapes both directions share, are ``chronos.api.schemas``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chronos.api.schemas import (
    CatchUpIO,
    DstPolicyIO,
    RunParametersIn,
    ScheduleIn,
    UpstreamIO,
    WaitForIO,
)
from chronos.models.container import ContainerTask


class ScheduleItemOut(BaseModel):
    """A schedule as stored (written by this API or by kubectl: an RRULE's parts in the
    order it was written)."""

    name: str | None = None
    cron: str | None = None
    rrule: str | None = None
    days_of_week: list[str] | None = None
    hour: int | None = None
    minute: int | None = None


class QueuedRunOut(BaseModel):
    """A run waiting for the active one to end (concurrencyPolicy Enqueue)."""

    run_id: str = Field(description="The id the run will have (its Job's name).")
    trigger: str = Field(description="schedule, catchup or run-now.")
    schedule: str | None = Field(default=None, description="Its slot's schedule.")
    scheduled_time: str | None = Field(default=None, description="Its slot's time.")
    queued_at: str = Field(description="When it started waiting.")


class JobOut(BaseModel):
    id: str = Field(description="The ChronosJob's name (a string, not an integer as in Chronos).")
    namespace: str
    name: str
    description: str | None
    task_type: str
    schedule: ScheduleIn | None
    cron_expression: str | None
    is_cron_expression: bool
    timezone: str
    schedule_description: str | None
    pipeline_id: str | None
    entity_ids: list[str]
    group_ids: list[str]
    with_snapshot: bool
    snapshot_write_method: str
    wait_for: WaitForIO | None = None
    enabled: bool
    created_at: str | None
    updated_at: str | None
    last_run: str | None
    last_run_status: str | None
    last_successful_run: str | None
    last_error_message: str | None
    last_run_error_time: str | None
    next_run: str | None
    next_run_times: list[str]
    ready: bool | None
    status_message: str | None
    resource_version: str
    run_now_token: str | None
    resolved_cron_expression: str | None = Field(
        default=None,
        description="The first schedule's cron as its CronJob gets it (H resolved from "
        "the job's namespace, id and schedule name); null for an RRULE.",
    )
    schedules: list[ScheduleItemOut] | None = None
    container: ContainerTask | None = None
    after: list[UpstreamIO] | None = None
    after_all: bool = False
    after_within_seconds: int | None = None
    concurrency_policy: str = "Forbid"
    max_queued: int | None = None
    calendar: str | None = None
    on_excluded: str | None = None
    dst_policy: DstPolicyIO | None = None
    jitter_seconds: int | None = None
    active_from: str | None = None
    active_until: str | None = None
    suspend_until: str | None = None
    suspend_reason: str | None = None
    catch_up: CatchUpIO | None = None
    queued: list[QueuedRunOut] | None = Field(
        default=None,
        description="concurrencyPolicy Enqueue: the runs waiting for the active one to "
        "end, oldest first (beyond maxQueued the oldest is dropped: missed, QueueFull).",
    )


class JobList(BaseModel):
    items: list[JobOut]
    total: int


class RunNowOut(BaseModel):
    success: bool
    message: str
    job_id: str
    exit_code: int | None = Field(description="Always null: the run is asynchronous.")
    stdout: str | None
    stderr: str | None
    run_token: str = Field(description="The token the run was requested with.")
    already_requested: bool = Field(description="True when this token was seen before.")


class AbortOut(BaseModel):
    """``POST /api/jobs/{id}/runs/{run}/abort`` (issue 20): the run's Job is being
    deleted; the run appears in the history as ``aborted`` once it has stopped."""

    job_id: str
    run_id: str
    message: str


class EntityResultOut(BaseModel):
    id: str
    result: str
    state: str | None = None
    message: str | None = None


class RunCauseOut(BaseModel):
    job: str
    run_id: str
    result: str


class RunRecordOut(BaseModel):
    run_id: str
    trigger: str
    result: str
    scheduled_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration_seconds: float | None = None
    reason: str | None = None
    message: str | None = None
    entities: list[EntityResultOut] | None = None
    reported_by: str | None = None
    cause: RunCauseOut | None = Field(
        default=None, description="For a chain run: the upstream run that started it."
    )
    schedule: str | None = Field(default=None, description="The schedule's name.")
    calendar: str | None = Field(
        default=None, description="For a skipped run: the calendar that excluded its day."
    )
    slot_wall_time: str | None = Field(
        default=None, description="The slot's wall time in the job's zone (no offset)."
    )
    slot_offset: str | None = Field(default=None, description="The zone's offset at the slot.")
    log_tail: str | None = Field(
        default=None,
        description="The last lines (at most 4 KiB) of the runner's own log, kept with the run.",
    )
    parameters: RunParametersIn | None = Field(
        default=None, description="The run-now parameters the run was started with."
    )
    peak_cpu_millicores: float | None = Field(
        default=None,
        description="The highest CPU use of the run's pod seen while it ran (metrics API).",
    )
    peak_memory_bytes: int | None = Field(
        default=None,
        description="The highest memory working set of the run's pod seen while it ran.",
    )


class HistoryOut(BaseModel):
    job_id: str
    items: list[RunRecordOut]
    total: int


class SlotOut(BaseModel):
    time: str = Field(description="When it runs (or would have run), RFC 3339 UTC.")
    wall_time: str = Field(description="The wall time in the job's zone, no offset.")
    offset: str = Field(description="The zone's UTC offset then, such as +01:00.")
    schedule: str = Field(description="The schedule's name.")
    action: str = Field(description="run, or skip (an excluded day, a time DST skips).")
    note: str | None = Field(description="Why it moved, is skipped or is special (DST).")


class ScheduleOut(BaseModel):
    name: str
    cron_expression: str | None = Field(description="The cron that runs (H resolved).")
    rrule: str | None
    description: str


class PreviewOut(BaseModel):
    cron_expression: str | None = Field(
        description="The first schedule's cron as it runs (H resolved); null for an RRULE."
    )
    is_cron_expression: bool
    description: str
    timezone: str
    next_run_times: list[str] = Field(
        description="The next runs of all schedules merged, after every rule (calendar, "
        "DST policy, window)."
    )
    schedules: list[ScheduleOut]
    slots: list[SlotOut] = Field(
        description="The next slots with what happens to each (skipped ones included)."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the preview could not take into account, such as a calendar "
        "that does not exist or that you may not get (its excluded days are then not "
        "shown).",
    )


class BackfillOut(BaseModel):
    id: str = Field(description="The request's id (status.backfills reports it).")
    job_id: str
    slots: list[str] = Field(description="The slots that will run, oldest first (RFC 3339).")
    already_requested: bool = Field(description="True when this Idempotency-Key was seen.")
    message: str


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[FieldError] | None = None
