"""Friendly schedules (days of the week plus a time of day) and their cron form."""

from __future__ import annotations

from collections.abc import Sequence

from chronos.schedule.errors import ScheduleError

__all__ = ["WEEKDAYS", "friendly_to_cron"]

WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

# Cron day-of-week numbers: Sunday is 0, Monday 1 ... Saturday 6.
_CRON_DAY = {name: (index + 1) % 7 for index, name in enumerate(WEEKDAYS)}


def friendly_to_cron(days_of_week: Sequence[str], hour: int, minute: int) -> str:
    """Return ``"<minute> <hour> * * <days>"``.

    Day names are case-insensitive, sorted by cron number (Sunday = 0 first) and
    de-duplicated; an empty list means every day (``*``). Raises
    :class:`ScheduleError` for an out-of-range hour/minute or an unknown day.
    """
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ScheduleError("schedule.hour", f"must be an integer from 0 to 23, got {hour!r}")
    if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= 59:
        raise ScheduleError("schedule.minute", f"must be an integer from 0 to 59, got {minute!r}")
    if isinstance(days_of_week, str):
        raise ScheduleError(
            "schedule.daysOfWeek", "must be a list of day names, not a single string"
        )
    numbers: set[int] = set()
    for day in days_of_week:
        number = _CRON_DAY.get(day.lower()) if isinstance(day, str) else None
        if number is None:
            raise ScheduleError(
                "schedule.daysOfWeek",
                f"unknown day of week {day!r}; allowed values: {', '.join(WEEKDAYS)}",
            )
        numbers.add(number)
    days = ",".join(str(n) for n in sorted(numbers)) if numbers else "*"
    return f"{minute} {hour} * * {days}"
