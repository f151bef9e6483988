"""Short English descriptions of cron expressions accepted by :func:`parse_cron`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chronos.schedule.cron import STAR_BIT, CronSchedule, parse_cron

__all__ = ["describe"]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# Up to this many hour:minute combinations are listed as explicit times.
_MAX_LISTED_TIMES = 8


def describe(cron: str) -> str:
    """Describe a cron expression, e.g. ``"30 8 * * 1,3,5"`` ->
    ``"At 08:30 on Monday, Wednesday and Friday"``.

    Raises :class:`~chronos.schedule.errors.ScheduleError` only when ``parse_cron``
    rejects the expression; for any accepted expression it never raises (unusual
    shapes get a generic description).
    """
    schedule = parse_cron(cron)
    try:
        return _describe(schedule)
    except Exception:  # noqa: BLE001 - a description must never break a caller
        return f"On the cron schedule {cron!r}"


def _describe(schedule: CronSchedule) -> str:
    if schedule.every_seconds is not None:
        return _describe_every(schedule.every_seconds)
    minutes = _values(schedule.minute, 0, 59)
    hours = _values(schedule.hour, 0, 23)
    months = _values(schedule.month, 1, 12)
    doms = _values(schedule.dom, 1, 31)
    dows = _values(schedule.dow, 0, 6)
    if not minutes or not hours or not months or _never_on_any_day(schedule, doms, dows):
        return "Never (the expression matches no time)"

    time_text, at_point = _describe_time(minutes, hours)
    day_text = _describe_days(schedule, doms, dows)
    month_text = "" if len(months) == 12 else "in " + _join(_runs(months, _month_name))

    parts = [time_text]
    if day_text:
        parts.append(day_text)
    elif at_point and not month_text:
        parts.append("every day")
    if month_text:
        parts.append(month_text)
    return " ".join(parts)


def _values(bits: int, lo: int, hi: int) -> list[int]:
    return [n for n in range(lo, hi + 1) if bits & (1 << n)]


def _never_on_any_day(schedule: CronSchedule, doms: list[int], dows: list[int]) -> bool:
    if schedule.dom & STAR_BIT or schedule.dow & STAR_BIT:
        return not doms or not dows
    return not doms and not dows


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: list[int], name: Callable[[int], str], sep: str = " through ") -> list[str]:
    """Names of values, with runs of three or more consecutive values as ranges."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{name(values[i])}{sep}{name(values[j])}")
        else:
            out.extend(name(v) for v in values[i : j + 1])
        i = j + 1
    return out


def _month_name(n: int) -> str:
    return _MONTHS[n - 1]


def _day_name(n: int) -> str:
    return _DAYS[n]


def _step(values: list[int], hi: int) -> tuple[int, int] | None:
    """``(start, step)`` when values are exactly ``start, start+step, ... <= hi``."""
    if len(values) < 2:
        return None
    step = values[1] - values[0]
    if step < 2 or values != list(range(values[0], hi + 1, step)) or values[0] >= step:
        return None
    return values[0], step


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _numbers(values: list[int]) -> str:
    return _join(_runs(values, str, "-"))


def _describe_every(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(hours, "hour"), (minutes, "minute"), (secs, "second")]
    present = [(n, unit) for n, unit in units if n]
    if len(present) == 1 and present[0][0] == 1:
        return f"Every {present[0][1]}"
    return "Every " + _join([_plural(n, unit) for n, unit in present])


def _describe_time(minutes: list[int], hours: list[int]) -> tuple[str, bool]:
    """The time-of-day phrase and whether it names specific times (``At 08:30``)."""
    all_minutes = len(minutes) == 60
    all_hours = len(hours) == 24
    minute_step = _step(minutes, 59)
    hour_step = _step(hours, 23)

    if all_hours:
        if all_minutes:
            return "Every minute", False
        if minute_step is not None:
            return _every_n_minutes(minute_step), False
        if len(minutes) == 1:
            return f"Every hour at minute {minutes[0]}", False
        return f"At minutes {_numbers(minutes)} past every hour", False

    if len(minutes) * len(hours) <= _MAX_LISTED_TIMES:
        times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
        return "At " + _join(times), True

    if len(minutes) == 1 and hour_step is not None:
        start, step = hour_step
        text = f"Every {step} hours at minute {minutes[0]}"
        if start:
            text += f" starting at hour {start}"
        return text, False

    if len(minutes) == 1 and len(hours) > 1 and hours == list(range(hours[0], hours[-1] + 1)):
        first, last, m = hours[0], hours[-1], minutes[0]
        return f"Every hour from {first:02d}:{m:02d} to {last:02d}:{m:02d}", False

    hours_text = f"during hour {hours[0]}" if len(hours) == 1 else f"during hours {_numbers(hours)}"
    if all_minutes:
        return f"Every minute {hours_text}", False
    if minute_step is not None:
        return f"{_every_n_minutes(minute_step)} {hours_text}", False
    if len(minutes) == 1:
        return f"At minute {minutes[0]} {hours_text}", False
    return f"At minutes {_numbers(minutes)} {hours_text}", False


def _every_n_minutes(step: tuple[int, int]) -> str:
    start, n = step
    text = f"Every {n} minutes"
    if start:
        text += f" starting at minute {start}"
    return text


def _describe_dom(doms: list[int]) -> str:
    step = _step(doms, 31)
    if step is not None and len(doms) > 2 and step[0] <= 1:
        return f"on every {_ordinal(step[1])} day of the month"
    if len(doms) == 1:
        return f"on day {doms[0]} of the month"
    return f"on days {_join(_runs(doms, str, ' through '))} of the month"


def _describe_dow(dows: list[int]) -> str:
    return "on " + _join(_runs(dows, _day_name))


def _describe_days(schedule: CronSchedule, doms: list[int], dows: list[int]) -> str:
    all_doms = len(doms) == 31
    all_dows = len(dows) == 7
    if schedule.dom & STAR_BIT or schedule.dow & STAR_BIT:
        # Both must match; a starred field always covers its whole range.
        parts = []
        if not all_doms:
            parts.append(_describe_dom(doms))
        if not all_dows:
            parts.append(_describe_dow(dows))
        return " and ".join(parts)
    # Neither is starred: either may match (classic cron OR rule).
    if all_doms or all_dows:
        return ""
    if not doms:
        return _describe_dow(dows)
    if not dows:
        return _describe_dom(doms)
    return f"{_describe_dom(doms)} or {_describe_dow(dows)}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
