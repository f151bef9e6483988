"""From a ChronosJob spec to the schedule that actually runs: cron, zone and words.

Used by the operator (CronJob and status) and the REST facade (responses, preview),
so both report the same effective schedule and the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chronos.models.chronosjob import MIN_EVERY_SECONDS, ChronosJobSpec, Schedule
from chronos.schedule import describe, friendly_to_cron, next_run_times, parse_cron
from chronos.schedule.cron import CRON_FIELD, validate_time_zone
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
    if schedule.cron is not None:
        return schedule.cron
    # The model's rules guarantee both are set when cron is not.
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


def schedule_field(schedule: Schedule) -> str:
    """The spec path an error about the schedule's timing names."""
    return CRON_FIELD if schedule.cron is not None else "schedule"


def resolve_schedule(
    spec: ChronosJobSpec, default_time_zone: str, min_interval_seconds: int = MIN_EVERY_SECONDS
) -> ResolvedSchedule:
    """Raises :class:`chronos.schedule.ScheduleError` naming the field that is wrong.

    Runs closer together than ``min_interval_seconds`` raise
    :class:`ScheduleTooFrequentError`.
    """
    cron = effective_cron(spec.schedule)
    check_min_interval(cron, schedule_field(spec.schedule), min_interval_seconds)
    zone = spec.time_zone or default_time_zone
    validate_time_zone(zone)
    return ResolvedSchedule(cron=cron, time_zone=zone, description=f"{describe(cron)} ({zone})")
