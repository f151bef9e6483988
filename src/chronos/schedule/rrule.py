"""RFC 5545 recurrence rules (the subset schedules need) as wall times in the job's zone.

Accepted: ``FREQ`` = ``YEARLY`` | ``MONTHLY`` | ``WEEKLY`` | ``DAILY`` | ``HOURLY``,
``INTERVAL``, ``BYMONTH``, ``BYMONTHDAY`` (negative counts from the month's end),
``BYDAY`` (with ordinals such as ``-1FR`` or ``2TU`` under MONTHLY and YEARLY),
``BYHOUR``, ``BYMINUTE``, ``BYSETPOS``, ``WKST``, ``COUNT``, ``UNTIL``; optionally after a
line ``DTSTART:YYYYMMDDTHHMMSS`` (a wall time in the job's zone; the anchor of
``INTERVAL`` and ``COUNT``, and the source of the defaults: the hour and minute, the day
of a MONTHLY rule, the weekday of a WEEKLY one...; default ``DEFAULT_DTSTART``, a Monday
at midnight). Anything else (``MINUTELY``, ``SECONDLY``, ``BYSECOND``, ``BYWEEKNO``,
``BYYEARDAY``, a ``Z`` or ``TZID`` time) is refused with a :class:`ScheduleError` naming
the rule part, so a rule is never half understood.

The expansion is RFC 5545's: each period of the frequency (every ``INTERVAL``-th from
DTSTART's) holds the days and times its BY parts allow, ``BYSETPOS`` picks among them,
occurrences before DTSTART are dropped, ``COUNT`` counts from DTSTART (as python-dateutil
does: DTSTART counts only when it matches). Tested against python-dateutil as an oracle.
"""

from __future__ import annotations

import calendar as calendar_module
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chronos.schedule.errors import ScheduleError

__all__ = [
    "DEFAULT_DTSTART",
    "MAX_COUNT",
    "RRULE_FIELD",
    "RRULE_MAX_LENGTH",
    "RRule",
    "parse_rrule",
]

RRULE_FIELD = "schedule.rrule"
RRULE_MAX_LENGTH = 1024
DEFAULT_DTSTART = datetime(2000, 1, 3)
#: COUNT is counted from DTSTART on every call: bounded so that a call stays cheap.
MAX_COUNT = 10_000
#: How far past ``after`` (or DTSTART) a rule that matches nothing is searched...
_HORIZON = timedelta(days=366 * 10)
#: ... and how many periods at most (an HOURLY rule that never matches: 2.3 years).
_MAX_PERIODS = 20_000

_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_PARTS = (
    "FREQ", "INTERVAL", "COUNT", "UNTIL", "BYMONTH", "BYMONTHDAY", "BYDAY",
    "BYHOUR", "BYMINUTE", "BYSETPOS", "WKST",
)  # fmt: skip
_DTSTART = re.compile(r"DTSTART:([0-9]{8}T[0-9]{6})")
_BYDAY = re.compile(r"([+-]?[0-9]{1,2})?(MO|TU|WE|TH|FR|SA|SU)")


def _error(part: str, reason: str) -> ScheduleError:
    return ScheduleError(RRULE_FIELD, f"{part}: {reason}")


def _wall(text: str, part: str) -> datetime:
    """``YYYYMMDDTHHMMSS`` (or ``YYYYMMDD`` for UNTIL) as a naive wall time."""
    try:
        if len(text) == 8 and text.isdigit():
            # A DATE bounds the rule inclusively: the whole day counts.
            return datetime.strptime(text, "%Y%m%d").replace(hour=23, minute=59)
        if text.endswith("Z"):
            raise _error(
                part, "a UTC time (Z) is not allowed: times are wall times in the job's zone"
            )
        when = datetime.strptime(text, "%Y%m%dT%H%M%S")
    except ValueError:
        raise _error(part, f"expected YYYYMMDDTHHMMSS, got {text[:40]!r}") from None
    if when.second:
        raise _error(part, "seconds must be 0")
    return when


def _ints(part: str, value: str, low: int, high: int, *, signed: bool = False) -> tuple[int, ...]:
    numbers = []
    for item in value.split(","):
        if not re.fullmatch(r"[+-]?[0-9]{1,5}" if signed else r"[0-9]{1,5}", item):
            raise _error(part, f"expected a comma-separated list of numbers, got {item[:20]!r}")
        number = int(item)
        if not low <= abs(number) <= high or (not signed and number < low):
            bounds = f"{low}..{high}" + (f" or -{high}..-{low}" if signed else "")
            raise _error(part, f"{number} is not in {bounds}")
        numbers.append(number)
    return tuple(sorted(set(numbers)))


@dataclass(frozen=True)
class RRule:
    """A parsed rule. Weekdays are ``date.weekday()`` numbers (Monday 0)."""

    text: str
    freq: str
    interval: int = 1
    dtstart: datetime = DEFAULT_DTSTART
    count: int | None = None
    until: datetime | None = None
    bymonth: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byday: tuple[tuple[int | None, int], ...] = ()
    byhour: tuple[int, ...] = ()
    byminute: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int = 0

    # ---- periods -------------------------------------------------------------------

    def _period_start(self, when: datetime) -> datetime:
        if self.freq == "YEARLY":
            return datetime(when.year, 1, 1)
        if self.freq == "MONTHLY":
            return datetime(when.year, when.month, 1)
        if self.freq == "WEEKLY":
            day = when.date() - timedelta(days=(when.weekday() - self.wkst) % 7)
            return datetime(day.year, day.month, day.day)
        if self.freq == "DAILY":
            return datetime(when.year, when.month, when.day)
        return when.replace(minute=0, second=0, microsecond=0)

    def _advance(self, start: datetime, periods: int) -> datetime:
        if self.freq == "YEARLY":
            return start.replace(year=start.year + periods)
        if self.freq == "MONTHLY":
            months = start.year * 12 + start.month - 1 + periods
            return datetime(months // 12, months % 12 + 1, 1)
        step = {"WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1)}
        return start + step.get(self.freq, timedelta(hours=1)) * periods

    def _periods_between(self, first: datetime, later: datetime) -> int:
        if self.freq == "YEARLY":
            return later.year - first.year
        if self.freq == "MONTHLY":
            return (later.year - first.year) * 12 + later.month - first.month
        seconds = {"WEEKLY": 7 * 86400, "DAILY": 86400}.get(self.freq, 3600)
        return int((later - first).total_seconds()) // seconds

    # ---- one period's occurrences --------------------------------------------------

    def _days(self, start: datetime) -> list[date]:
        first = start.date()
        if self.freq == "YEARLY":
            end = date(first.year + 1, 1, 1)
        elif self.freq == "MONTHLY":
            end = self._advance(start, 1).date()
        elif self.freq == "WEEKLY":
            end = first + timedelta(days=7)
            if start == self._period_start(self.dtstart):
                # The first week starts at DTSTART's day, so BYSETPOS counts from there
                # (as python-dateutil does; RFC 5545 leaves it open).
                first = self.dtstart.date()
        else:
            end = first + timedelta(days=1)
        count = (end - first).days
        return [d for d in (first + timedelta(days=n) for n in range(count)) if self._day_ok(d)]

    def _day_ok(self, day: date) -> bool:
        start = self.dtstart
        if self.bymonth and day.month not in self.bymonth:
            return False
        month_length = calendar_module.monthrange(day.year, day.month)[1]
        if self.bymonthday and not any(
            day.day == (n if n > 0 else month_length + n + 1) for n in self.bymonthday
        ):
            return False
        if self.byday and not any(self._weekday_ok(day, n, wd) for n, wd in self.byday):
            return False
        if self.byday or self.bymonthday:
            return True
        # RFC 5545 defaults from DTSTART when the rule names no day.
        if self.freq == "WEEKLY":
            return day.weekday() == start.weekday()
        if self.freq == "MONTHLY":
            return day.day == start.day
        if self.freq == "YEARLY":
            return day.day == start.day and (bool(self.bymonth) or day.month == start.month)
        return True

    def _weekday_ok(self, day: date, nth: int | None, weekday: int) -> bool:
        if day.weekday() != weekday:
            return False
        if nth is None:
            return True
        if self.freq == "YEARLY" and not self.bymonth:
            first, last = date(day.year, 1, 1), date(day.year, 12, 31)
        else:
            length = calendar_module.monthrange(day.year, day.month)[1]
            first, last = date(day.year, day.month, 1), date(day.year, day.month, length)
        if nth > 0:
            return (day - first).days // 7 + 1 == nth
        return (last - day).days // 7 + 1 == -nth

    def _period(self, start: datetime) -> list[datetime]:
        hours = self.byhour or (self.dtstart.hour,)
        minutes = self.byminute or (self.dtstart.minute,)
        if self.freq == "HOURLY":
            if self.byhour and start.hour not in self.byhour:
                return []
            found = [start.replace(minute=m) for m in minutes] if self._day_ok(start.date()) else []
        else:
            found = [
                datetime(d.year, d.month, d.day, h, m)
                for d in self._days(start)
                for h in hours
                for m in minutes
            ]
        if self.bysetpos:
            size = len(found)
            picked = {
                found[p - 1 if p > 0 else size + p]
                for p in self.bysetpos
                if p <= size and -p <= size
            }
            found = sorted(picked)
        return found

    # ---- the public iterator -------------------------------------------------------

    def walls_after(self, after: datetime, limit: int) -> Iterator[datetime]:
        """The rule's wall times strictly after ``after`` (naive), ascending, at most
        ``limit`` of them (fewer when the rule ends or matches nothing for ten years, or
        when the next would lie past the year 9999)."""
        try:
            yield from self._walls_after(after, limit)
        except (OverflowError, ValueError):  # datetime's end: "year 10000 is out of range"
            return

    def _walls_after(self, after: datetime, limit: int) -> Iterator[datetime]:
        first = self._period_start(self.dtstart)
        periods = 0
        if self.count is None and after > self.dtstart:
            # No COUNT to keep: jump to the period holding ``after`` (an INTERVAL-th one).
            skipped = self._periods_between(first, self._period_start(after))
            periods = max(0, skipped - skipped % self.interval - self.interval)
        seen = 0
        produced = 0
        start_from = max(after, self.dtstart)
        horizon = start_from + _HORIZON if start_from < datetime.max - _HORIZON else datetime.max
        for _ in range(_MAX_PERIODS):
            if produced >= limit:
                return
            start = self._advance(first, periods)
            if start > horizon or (self.until is not None and start > self.until):
                return
            if self.freq == "HOURLY" and not self._day_ok(start.date()):
                # A day the rule excludes: jump to the next day's first period.
                hours = 24 - start.hour
                periods += -(-hours // self.interval) * self.interval
                continue
            for when in _period(self, start):
                if when < self.dtstart:
                    continue
                if when > horizon or (self.until is not None and when > self.until):
                    return
                seen += 1
                if self.count is not None and seen > self.count:
                    return
                if when > after:
                    yield when
                    produced += 1
                    if produced >= limit:
                        return
            periods += self.interval


@functools.lru_cache(maxsize=4096)
def _period(rule: RRule, start: datetime) -> tuple[datetime, ...]:
    """One period's occurrences, remembered: every job with this rule asks for the same
    few periods at every visit of the operator (bounded: 4096 periods)."""
    return tuple(rule._period(start))


def _split_text(text: str) -> tuple[datetime, str]:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise _error("RRULE", "empty rule")
    dtstart = DEFAULT_DTSTART
    if lines[0].upper().startswith("DTSTART"):
        match = _DTSTART.fullmatch(lines[0].upper())
        if match is None:
            raise _error("DTSTART", "expected a line DTSTART:YYYYMMDDTHHMMSS (no TZID, no Z)")
        dtstart = _wall(match[1], "DTSTART")
        lines = lines[1:]
    if len(lines) != 1:
        raise _error("RRULE", "expected one RRULE line (optionally after a DTSTART line)")
    rule = lines[0]
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    return dtstart, rule


@functools.lru_cache(maxsize=1024)
def parse_rrule(text: str) -> RRule:
    """Parse an RRULE value, optionally preceded by a ``DTSTART:`` line.

    Raises :class:`ScheduleError` (field ``schedule.rrule``) naming the rule part.
    """
    if len(text) > RRULE_MAX_LENGTH:
        raise _error("RRULE", f"longer than {RRULE_MAX_LENGTH} characters")
    dtstart, rule = _split_text(text)
    parts: dict[str, str] = {}
    for item in rule.split(";"):
        name, sep, value = item.partition("=")
        name = name.strip().upper()
        if not sep or not value.strip():
            raise _error(name or "RRULE", f"expected NAME=value, got {item[:40]!r}")
        if name not in _PARTS:
            raise _error(name[:20], f"not supported (supported: {', '.join(_PARTS)})")
        if name in parts:
            raise _error(name, "given twice")
        parts[name] = value.strip().upper()
    freq = parts.get("FREQ")
    if freq is None:
        raise _error("FREQ", "required")
    if freq not in _FREQS:
        raise _error("FREQ", f"{freq[:20]} is not supported (supported: {', '.join(_FREQS)})")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _error("UNTIL", "COUNT and UNTIL cannot be used together")
    byday: list[tuple[int | None, int]] = []
    for item in parts["BYDAY"].split(",") if "BYDAY" in parts else []:
        match = _BYDAY.fullmatch(item)
        if match is None:
            raise _error("BYDAY", f"expected e.g. MO, 2TU or -1FR, got {item[:20]!r}")
        nth = int(match[1]) if match[1] else None
        if nth is not None:
            if freq not in ("MONTHLY", "YEARLY"):
                raise _error("BYDAY", "an ordinal (2TU, -1FR) needs FREQ=MONTHLY or YEARLY")
            limit = 5 if freq == "MONTHLY" or "BYMONTH" in parts else 53
            if not 1 <= abs(nth) <= limit:
                raise _error("BYDAY", f"the ordinal of {item} must be 1..{limit} or -{limit}..-1")
        byday.append((nth, _DAYS[match[2]]))
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        raise _error("BYMONTHDAY", "not allowed with FREQ=WEEKLY")
    wkst = parts.get("WKST", "MO")
    if wkst not in _DAYS:
        raise _error("WKST", f"expected MO..SU, got {wkst[:20]!r}")
    count = _ints("COUNT", parts["COUNT"], 1, MAX_COUNT)[0] if "COUNT" in parts else None
    bysetpos = (
        _ints("BYSETPOS", parts["BYSETPOS"], 1, 366, signed=True) if "BYSETPOS" in parts else ()
    )
    if bysetpos and not any(
        p in parts for p in ("BYMONTH", "BYMONTHDAY", "BYDAY", "BYHOUR", "BYMINUTE")
    ):
        raise _error("BYSETPOS", "needs another BY part to pick from")
    return RRule(
        text=text,
        freq=freq,
        interval=_ints("INTERVAL", parts["INTERVAL"], 1, 1000)[0] if "INTERVAL" in parts else 1,
        dtstart=dtstart,
        count=count,
        until=_wall(parts["UNTIL"], "UNTIL") if "UNTIL" in parts else None,
        bymonth=_ints("BYMONTH", parts["BYMONTH"], 1, 12) if "BYMONTH" in parts else (),
        bymonthday=(
            _ints("BYMONTHDAY", parts["BYMONTHDAY"], 1, 31, signed=True)
            if "BYMONTHDAY" in parts
            else ()
        ),
        byday=tuple(sorted(set(byday), key=lambda x: (x[1], x[0] or 0))),
        byhour=_ints("BYHOUR", parts["BYHOUR"], 0, 23) if "BYHOUR" in parts else (),
        byminute=_ints("BYMINUTE", parts["BYMINUTE"], 0, 59) if "BYMINUTE" in parts else (),
        bysetpos=bysetpos,
        wkst=_DAYS[wkst],
    )
