"""From a ChronosJob spec to the schedule that actually runs: cron, zone and words.

Used by the operator (CronJob and status) and the REST facade (responses, preview),
so both report the same effective schedule and the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chronos.models.chronosjob import ChronosJobSpec, Schedule
from chronos.schedule import describe, friendly_to_cron, next_run_times, parse_cron
from chronos.schedule.cron import validate_time_zone


@dataclass(frozen=True)
class ResolvedSchedule:
    cron: str
    time_zone: str
    description: str

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        return next_run_times(self.cron, self.time_zone, after, count)


def effective_cron(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return schedule.cron
    # The model's rules guarantee both are set when cron is not.
    hour, minute = schedule.hour or 0, schedule.minute or 0
    return friendly_to_cron(schedule.days_of_week or [], hour, minute)


def resolve_schedule(spec: ChronosJobSpec, default_time_zone: str) -> ResolvedSchedule:
    """Raises :class:`chronos.schedule.ScheduleError` naming the field that is wrong."""
    cron = effective_cron(spec.schedule)
    parse_cron(cron)
    zone = spec.time_zone or default_time_zone
    validate_time_zone(zone)
    return ResolvedSchedule(cron=cron, time_zone=zone, description=f"{describe(cron)} ({zone})")
