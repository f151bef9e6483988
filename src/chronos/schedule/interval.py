"""How close together a schedule's runs can come (for the minimum-interval setting)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from chronos.schedule.cron import CronSchedule

__all__ = ["ONE_DAY", "format_seconds", "shortest_interval"]

ONE_DAY = timedelta(days=1)
#: Eight years from a leap year: every month/day-of-month/weekday pairing of two
#: consecutive days occurs in it (the calendar repeats every 28 years, but whether two
#: adjacent days can both match is settled well within eight).
_PROBE_START = date(2024, 1, 1)
_PROBE_DAYS = 8 * 366


def _bits(field: int, count: int) -> list[int]:
    return [n for n in range(count) if field >> n & 1]


def _adjacent_days_match(s: CronSchedule) -> bool:
    previous = False
    for offset in range(_PROBE_DAYS):
        day = date.fromordinal(_PROBE_START.toordinal() + offset)
        matches = bool((1 << day.month) & s.month) and s.day_matches(day.day, day.isoweekday() % 7)
        if matches and previous:
            return True
        previous = matches
    return False


def shortest_interval(schedule: CronSchedule) -> timedelta:
    """The shortest gap between two consecutive runs, on the clock face, at most a day.

    For ``@every`` it is the interval. For a field-based schedule it is the smallest gap
    between its times of day, or across midnight when two adjacent days both run.
    Daylight-saving shifts are not counted (a repeated hour can bring two runs closer
    once a year). A schedule whose runs are a day or more apart reports one day.
    """
    if schedule.every_seconds is not None:
        return timedelta(seconds=schedule.every_seconds)
    times = sorted(
        h * 3600 + m * 60 + sec
        for h in _bits(schedule.hour, 24)
        for m in _bits(schedule.minute, 60)
        for sec in _bits(schedule.second, 60)
    )
    gaps = [b - a for a, b in pairwise(times)]
    if times and times[0] + 86400 - times[-1] < 86400 and _adjacent_days_match(schedule):
        gaps.append(times[0] + 86400 - times[-1])
    return min([timedelta(seconds=g) for g in gaps] + [ONE_DAY])


def format_seconds(seconds: float) -> str:
    """``90`` -> ``1m30s``, ``3600`` -> ``1h``: the way Go prints durations, shortened."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"
