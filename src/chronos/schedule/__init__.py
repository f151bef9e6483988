"""Schedule engine: friendly schedules, Kubernetes-compatible cron parsing, next run times."""

from chronos.schedule.cron import CronSchedule, next_run_times, parse_cron, validate_time_zone
from chronos.schedule.describe import describe
from chronos.schedule.errors import ScheduleError
from chronos.schedule.friendly import WEEKDAYS, friendly_to_cron

__all__ = [
    "WEEKDAYS",
    "CronSchedule",
    "ScheduleError",
    "describe",
    "friendly_to_cron",
    "next_run_times",
    "parse_cron",
    "validate_time_zone",
]
