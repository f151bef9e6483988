"""Schedule previews: when a job would run, after every time rule (issue 19).

Everything goes through the schedule engine's ``occurrences.slots``, the function the
operator fires by, so a preview says what will happen: several schedules merged, RRULEs,
the calendar's skips and moves, DST notes, ``H`` resolved with the job's seed, ``@every``
counted from the job's last scheduled time (or creation) as the CronJob controller
counts. The REST route (``POST /api/schedule/preview``) and the dashboard's form share
:meth:`ScheduleService.preview`; the I/O around it (the job and its ChronosCalendar, read
with the caller's own rights) is :meth:`ScheduleService.preview_as`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from typing import Any

from chronos.api.answers import PreviewOut, ScheduleOut, SlotOut
from chronos.api.errors import ProblemError, schedule_error
from chronos.api.mapping import RequestShapeError, anchor_of, apply_request, schedule_forms
from chronos.api.schemas import PreviewIn
from chronos.api.services import (
    Caller,
    JobService,
    UnreadableCalendarError,
    shape_error,
    validate_spec,
)
from chronos.api.timemap import sends_schedules
from chronos.models.chronosjob import MIN_EVERY_SECONDS, ChronosJobSpec
from chronos.models.resolve import STAND_IN, Job
from chronos.schedule import ScheduleError
from chronos.schedule.calendar import Calendar
from chronos.schedule.occurrences import Slot, slots
from chronos.timerules import describe_rule, describe_rules, time_rules
from chronos.times import rfc3339

#: The fields of a job body that decide when it runs (what a preview reads).
PREVIEW_FIELDS = (
    "schedule",
    "cron_expression",
    "schedules",
    "timezone",
    "calendar",
    "on_excluded",
    "dst_policy",
    "active_from",
    "active_until",
)
#: A task that every spec rule accepts: a preview judges the time rules only.
_ANY_TASK = {"task": {"type": "pipeline_start", "pipelineId": "preview"}}


def _says(sent: dict[str, Any], field: str) -> bool:
    """``field`` sent with something in it: a null, or a friendly form of nulls only
    (``{}``), says nothing (the document's ``ONE_SCHEDULE_FORM``)."""
    value = sent.get(field)
    if isinstance(value, dict):
        return any(v is not None for v in value.values())
    return value is not None


def _spec(body: PreviewIn, zone: str, min_interval: int, job: Job) -> ChronosJobSpec:
    sent = body.model_dump(exclude_unset=True, include=set(PREVIEW_FIELDS))
    friendly_sent = sent.get("cron_expression") is not None and schedule_forms(sent)[1] is None
    if sends_schedules(sent) and (_says(sent, "schedule") or _says(sent, "cron_expression")):
        raise ProblemError.invalid(
            [("schedules", "give schedules, or schedule or cron_expression, not both")]
        )
    if friendly_sent:
        raise ProblemError.invalid(
            [("cron_expression", "give schedule or cron_expression, not both")]
        )
    try:
        spec = apply_request(_ANY_TASK, sent)
    except RequestShapeError as exc:
        raise shape_error(exc) from None
    return validate_spec(spec, zone, min_interval, job)


def _local(slot: Slot) -> str:
    """The slot's instant with the zone's offset (08:30+01:00 for 08:30 in Rome), as the
    operator's status.nextRunTimes shows it."""
    return rfc3339(slot.instant.astimezone(timezone(slot.offset)))


def _slot(slot: Slot) -> SlotOut:
    total = int(slot.offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    offset = f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
    return SlotOut(
        time=_local(slot),
        wall_time=f"{slot.wall:%Y-%m-%dT%H:%M:%S}",
        offset=offset,
        schedule=slot.schedule,
        action=slot.action,
        note=slot.note,
    )


class ScheduleService:
    def __init__(
        self,
        default_time_zone: str,
        min_interval_seconds: int = MIN_EVERY_SECONDS,
        *,
        jobs: JobService | None = None,
    ) -> None:
        self._zone = default_time_zone
        self._min_interval = min_interval_seconds
        self._jobs = jobs

    def preview(
        self,
        body: PreviewIn,
        now: datetime | None = None,
        *,
        job: Job = STAND_IN,
        calendar: Calendar | None = None,
        anchor: datetime | None = None,
        warnings: list[str] | None = None,
    ) -> PreviewOut:
        """The preview of ``body`` for ``job`` (``calendar``: the ChronosCalendar that
        ``body.calendar`` names, read by the caller; ``anchor``: where ``@every``
        counts from; ``warnings``: notes for the reader). A 422 names the field that
        is wrong."""
        spec = _spec(body, self._zone, self._min_interval, job)
        zone = spec.time_zone or self._zone
        if spec.calendar_ref is not None and calendar is None:
            # The dashboard's form and a preview without a namespace: the calendar's
            # days are not known, so the days it excludes are not shown.
            calendar = Calendar(name=spec.calendar_ref.name)
        after = now or datetime.now(UTC)
        try:
            rules = time_rules(spec, job=job, zone=zone, calendar=calendar)
            runs = slots(rules, after, limit=body.count, anchor=anchor, runs_only=True)
            listed = slots(rules, after, limit=body.count, anchor=anchor)
        except ScheduleError as exc:
            raise schedule_error(exc) from None
        first = rules.schedules[0]
        return PreviewOut(
            cron_expression=first.cron,
            is_cron_expression=spec.all_schedules()[0].cron is not None,
            description=f"{describe_rules(rules)} ({zone})",
            timezone=zone,
            next_run_times=[_local(s) for s in runs],
            schedules=[
                ScheduleOut(
                    name=r.name,
                    cron_expression=r.cron,
                    rrule=r.rrule,
                    description=describe_rule(r),
                )
                for r in rules.schedules
            ],
            slots=[_slot(s) for s in listed],
            warnings=warnings or [],
        )

    async def preview_as(self, caller: Caller, namespace: str, body: PreviewIn) -> PreviewOut:
        """The preview with the caller's own rights: the job ``body.job_id`` (``get``
        on it is checked before it is looked up) for its ``@every`` anchor, and the
        ChronosCalendar ``body.calendar`` in ``namespace`` for its days."""
        job: Job = STAND_IN
        anchor = None
        if body.job_id is not None:
            assert self._jobs is not None
            await self._jobs.authorize(caller, "get", namespace, body.job_id)
            job = (namespace, body.job_id)
            try:
                entry = await self._jobs.entry(caller, namespace, body.job_id)
            except ProblemError as exc:
                if exc.status != 404:
                    raise
            else:
                anchor = anchor_of(entry.obj)
        calendar = None
        warnings = []
        if body.calendar is not None:
            assert self._jobs is not None
            try:
                calendar = await self._jobs.calendar(caller, namespace, body.calendar)
            except UnreadableCalendarError as exc:
                # Not the body's fault (a job may name a calendar created later; its
                # admission asks only for get rights): the preview is shown without
                # the calendar's days, and says so.
                warnings.append(f"{exc}: the times shown ignore its excluded days")
        return self.preview(body, job=job, calendar=calendar, anchor=anchor, warnings=warnings)
