"""From a ChronosJob spec to the schedule that actually runs: cron, zone and words.

Used by the operator (CronJob and status) and the REST facade (responses, preview),
so both report the same effective schedule and the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chronos.models.chronosjob import MIN_EVERY_SECONDS, ChronosJobSpec, Schedule
from chronos.schedule import ScheduleError, describe, friendly_to_cron, next_run_times, parse_cron
from chronos.schedule.cron import validate_time_zone
from chronos.schedule.errors import ScheduleTooFrequentError
from chronos.schedule.hashed import has_hashed, resolve_hashed
from chronos.schedule.interval import format_seconds, shortest_interval
from chronos.schedule.rrule import parse_rrule


@dataclass(frozen=True)
class ResolvedSchedule:
    cron: str
    time_zone: str
    description: str

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        return next_run_times(self.cron, self.time_zone, after, count)

    def never_fires(self, now: datetime) -> bool:
        """No run within the five years the CronJob controller looks ahead (``0 0 30 2 *``)."""
        return not self.next_runs(now, 1)


#: Text of the warning (status condition, REST status_message) for a schedule that never fires.
NEVER_FIRES_MESSAGE = (
    "the schedule {cron} never fires: no date in the next five years matches it "
    "(for example 30 February); the CronJob never starts a run"
)


def effective_cron(schedule: Schedule) -> str:
    """The cron expression of a cron or friendly schedule (an rrule has none: raises
    :class:`chronos.schedule.ScheduleError`)."""
    if schedule.cron is not None:
        return schedule.cron
    if schedule.rrule is not None:
        raise ScheduleError("schedule.rrule", "an RRULE schedule has no cron expression")
    # The model's rules guarantee both are set when neither cron nor rrule is.
    hour, minute = schedule.hour or 0, schedule.minute or 0
    return friendly_to_cron(schedule.days_of_week or [], hour, minute)


def hash_seed(namespace: str, name: str, schedule: str) -> str:
    """What ``H`` in a schedule's cron is hashed from: stable while the job keeps its
    namespace, name and schedule name."""
    return f"{namespace}/{name}/{schedule}"


#: The job a spec belongs to, ``(namespace, name)``: what ``H`` is hashed from. Without
#: it (a job not created yet) ``H`` is resolved for a stand-in job, enough to judge the
#: schedule; what runs is the value for the job's own name.
Job = tuple[str, str]
STAND_IN: Job = ("-", "-")


def resolved_cron(schedule: Schedule, job: Job, path: str = "schedule") -> str:
    """The cron the schedule's CronJob gets: ``H`` resolved for ``job``, a friendly form
    as cron (an RRULE raises :class:`ScheduleError`). ``schedule`` comes from
    ``spec.all_schedules()`` (named); ``path`` is where it is in the spec, for errors."""
    cron = effective_cron(schedule)
    if not has_hashed(cron):
        return cron
    try:
        return resolve_hashed(cron, hash_seed(*job, schedule.name or ""))
    except ScheduleError as exc:
        raise ScheduleError(f"{path}.cron", exc.reason) from None


def check_min_interval(cron: str, field: str, min_interval_seconds: int) -> None:
    """Raise :class:`ScheduleTooFrequentError` (naming ``field``) if two runs of ``cron``
    can come closer than ``min_interval_seconds`` (CHRONOS_MIN_INTERVAL_SECONDS)."""
    gap = shortest_interval(parse_cron(cron)).total_seconds()
    if gap < min_interval_seconds:
        raise ScheduleTooFrequentError(
            field,
            f"runs can come {format_seconds(gap)} apart; the minimum interval between runs "
            f"is {format_seconds(min_interval_seconds)} (CHRONOS_MIN_INTERVAL_SECONDS)",
        )


def schedule_path(spec: ChronosJobSpec, index: int = 0) -> str:
    """The spec path of the schedule at ``index`` of ``spec.all_schedules()``."""
    return "schedule" if spec.schedule is not None else f"schedules[{index}]"


def schedule_field(schedule: Schedule, path: str = "schedule") -> str:
    """The spec path an error about the schedule's timing names (``path``: where the
    schedule is, see :func:`schedule_path`)."""
    return f"{path}.cron" if schedule.cron is not None else path


def resolve_schedule(
    spec: ChronosJobSpec,
    default_time_zone: str,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
    index: int = 0,
    job: Job = STAND_IN,
) -> ResolvedSchedule:
    """The schedule at ``index`` of ``spec.all_schedules()`` (the first by default),
    ``H`` resolved for ``job``.

    Raises :class:`chronos.schedule.ScheduleError` naming the field that is wrong.
    Runs closer together than ``min_interval_seconds`` raise
    :class:`ScheduleTooFrequentError`.
    """
    schedule = spec.all_schedules()[index]
    path = schedule_path(spec, index)
    cron = resolved_cron(schedule, job, path)
    check_min_interval(cron, schedule_field(schedule, path), min_interval_seconds)
    zone = spec.time_zone or default_time_zone
    validate_time_zone(zone)
    return ResolvedSchedule(cron=cron, time_zone=zone, description=f"{describe(cron)} ({zone})")


def check_schedules(
    spec: ChronosJobSpec,
    default_time_zone: str,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
    job: Job = STAND_IN,
) -> None:
    """Every schedule of ``spec`` as the schedule engine judges it (the zone, each cron
    or friendly form and its interval); raises :class:`chronos.schedule.ScheduleError`
    naming the field (``schedules[1].cron``); an RRULE as the engine's ``parse_rrule``
    reads it (the model checks only its characters)."""
    validate_time_zone(spec.time_zone or default_time_zone)
    for index, schedule in enumerate(spec.all_schedules()):
        if schedule.rrule is None:
            resolve_schedule(spec, default_time_zone, min_interval_seconds, index, job)
            continue
        try:
            parse_rrule(schedule.rrule)
        except ScheduleError as exc:
            raise ScheduleError(f"{schedule_path(spec, index)}.rrule", exc.reason) from None
