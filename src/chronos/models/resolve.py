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
from chronos.schedule.interval import format_seconds, shortest_interval


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
) -> ResolvedSchedule:
    """The schedule at ``index`` of ``spec.all_schedules()`` (the first by default).

    Raises :class:`chronos.schedule.ScheduleError` naming the field that is wrong.
    Runs closer together than ``min_interval_seconds`` raise
    :class:`ScheduleTooFrequentError`.
    """
    schedule = spec.all_schedules()[index]
    cron = effective_cron(schedule)
    check_min_interval(
        cron, schedule_field(schedule, schedule_path(spec, index)), min_interval_seconds
    )
    zone = spec.time_zone or default_time_zone
    validate_time_zone(zone)
    return ResolvedSchedule(cron=cron, time_zone=zone, description=f"{describe(cron)} ({zone})")
