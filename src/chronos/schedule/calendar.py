"""Calendars of excluded days (holidays, maintenance freezes, weekends) and their ``.ics``.

A :class:`Calendar` is the pure form of a ChronosCalendar: which days no slot runs on.
A slot's day is its date in the calendar's own zone (``zone``; ``None``: the job's).
``parse_ics`` reads the days out of an iCalendar file (RFC 5545) as holiday calendars
publish them: all-day VEVENTs (one day or several) become excluded dates, and VEVENTs
repeating ``RRULE:FREQ=YEARLY`` on their start's date become yearly dates. The file comes
from a ConfigMap a user controls, so everything is bounded (size, events, days per event)
and every refusal names its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "ICS_MAX_BYTES",
    "ICS_MAX_EVENTS",
    "LOOKAHEAD_DAYS",
    "WEEKDAY_NUMBERS",
    "Calendar",
    "CalendarError",
    "parse_ics",
]

#: How far ``next_included`` looks (a calendar that excludes a whole year stops there).
LOOKAHEAD_DAYS = 366
ICS_MAX_BYTES = 1024 * 1024
ICS_MAX_EVENTS = 5000
#: The longest all-day event read from a file, in days.
ICS_MAX_EVENT_DAYS = 366

#: ``excludedWeekdays`` names to ``Calendar.weekdays`` numbers (``date.weekday()``:
#: Monday is 0).
WEEKDAY_NUMBERS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}


class CalendarError(ValueError):
    """An ``.ics`` file that cannot be read; ``line`` is 1-based (0: the whole file)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Calendar:
    """Excluded days. ``weekdays`` use ``date.weekday()`` numbers (Monday 0 ... Sunday 6);
    ``yearly`` holds ``(month, day)`` pairs (``(2, 29)`` excludes leap days only);
    ``ranges`` are inclusive."""

    name: str
    zone: str | None = None
    dates: frozenset[date] = frozenset()
    ranges: tuple[tuple[date, date], ...] = ()
    yearly: frozenset[tuple[int, int]] = frozenset()
    weekdays: frozenset[int] = frozenset()

    def excludes(self, day: date) -> bool:
        """Whether no slot runs on ``day``."""
        return (
            day in self.dates
            or day.weekday() in self.weekdays
            or (day.month, day.day) in self.yearly
            or any(lo <= day <= hi for lo, hi in self.ranges)
        )

    def next_included(self, day: date) -> date | None:
        """The first day after ``day`` that is not excluded, looking at most
        ``LOOKAHEAD_DAYS`` ahead (``None`` beyond)."""
        for offset in range(1, LOOKAHEAD_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if not self.excludes(candidate):
                return candidate
        return None

    def excluded_ahead(self, day: date, count: int = 10) -> list[date]:
        """The next ``count`` excluded days from ``day`` on (for status and the UI),
        looking at most ``LOOKAHEAD_DAYS`` ahead."""
        found: list[date] = []
        for offset in range(LOOKAHEAD_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self.excludes(candidate):
                found.append(candidate)
                if len(found) >= count:
                    break
        return found


_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_DATE_TIME = re.compile(r"[0-9]{8}T[0-9]{6}Z?")


def _unfold(text: str) -> list[tuple[int, str]]:
    """Content lines with their first physical line number (RFC 5545 3.1: a line that
    starts with a space or a tab continues the previous one)."""
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and lines:
            first, content = lines[-1]
            lines[-1] = (first, content + raw[1:])
        elif raw.strip():
            lines.append((number, raw))
    return lines


def _split(line: str) -> tuple[str, dict[str, str], str]:
    """``NAME;PARAM=V;...:value`` -> (NAME, params, value); names upper-cased."""
    head, sep, value = line.partition(":")
    if not sep:
        raise ValueError("expected NAME:value")
    name, *params = head.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, _, val = param.partition("=")
        parsed[key.strip().upper()] = val.strip().strip('"')
    return name.strip().upper(), parsed, value.strip()


def _date(value: str, params: dict[str, str]) -> tuple[date, bool]:
    """The date of a DTSTART/DTEND value and whether it is all-day (a DATE, not a
    DATE-TIME). A DATE-TIME's date is read as written (its own wall clock)."""
    match = _DATE.match(value)
    if match is None:
        raise ValueError(f"expected YYYYMMDD or YYYYMMDDTHHMMSS, got {value[:40]!r}")
    day = date(int(match[1]), int(match[2]), int(match[3]))
    all_day = params.get("VALUE", "").upper() == "DATE" or (
        len(value) == 8 and _DATE_TIME.fullmatch(value) is None
    )
    return day, all_day


@dataclass
class _Event:
    line: int
    start: date | None = None
    all_day: bool = False
    end: date | None = None
    yearly: bool = False
    cancelled: bool = False


def _rrule_yearly(value: str) -> bool:
    parts = dict(part.partition("=")[::2] for part in value.upper().split(";") if part)
    if parts.get("FREQ") != "YEARLY":
        raise ValueError(f"only RRULE:FREQ=YEARLY repeats a holiday, got FREQ={parts.get('FREQ')}")
    extra = sorted(set(parts) - {"FREQ", "INTERVAL", "BYMONTH", "BYMONTHDAY", "WKST"})
    if extra or parts.get("INTERVAL", "1") != "1":
        raise ValueError(
            "a yearly holiday must repeat on its start's date every year"
            f" (unsupported: {', '.join(extra) or 'INTERVAL'})"
        )
    return True


def _finish(event: _Event, dates: set[date], yearly: set[tuple[int, int]]) -> None:
    if event.cancelled or event.start is None:
        return
    if event.yearly:
        yearly.add((event.start.month, event.start.day))
        return
    if not event.all_day:
        return  # a timed event (a meeting) excludes no day
    end = event.end if event.end is not None else event.start + timedelta(days=1)
    days = (end - event.start).days
    if days > ICS_MAX_EVENT_DAYS:
        raise CalendarError(event.line, f"an event longer than {ICS_MAX_EVENT_DAYS} days")
    dates.update(event.start + timedelta(days=n) for n in range(max(days, 1)))


def parse_ics(text: str) -> tuple[frozenset[date], frozenset[tuple[int, int]]]:
    """The excluded dates and yearly ``(month, day)`` pairs of an iCalendar file.

    Raises :class:`CalendarError` (with the line) for a file over ``ICS_MAX_BYTES`` or
    ``ICS_MAX_EVENTS`` events, no VCALENDAR, an unterminated or nested VEVENT, an
    unreadable date, or a repeat rule other than a plain yearly one.
    """
    if len(text.encode("utf-8", errors="replace")) > ICS_MAX_BYTES:
        raise CalendarError(0, f"the file is larger than {ICS_MAX_BYTES} bytes")
    dates: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    seen_calendar = False
    events = 0
    event: _Event | None = None
    for number, line in _unfold(text):
        try:
            name, params, value = _split(line)
        except ValueError as exc:
            raise CalendarError(number, str(exc)) from None
        if name == "BEGIN" and value.upper() == "VCALENDAR":
            seen_calendar = True
        elif name == "BEGIN" and value.upper() == "VEVENT":
            if event is not None:
                raise CalendarError(number, "BEGIN:VEVENT inside another VEVENT")
            events += 1
            if events > ICS_MAX_EVENTS:
                raise CalendarError(number, f"more than {ICS_MAX_EVENTS} events")
            event = _Event(number)
        elif name == "END" and value.upper() == "VEVENT":
            if event is None:
                raise CalendarError(number, "END:VEVENT without BEGIN:VEVENT")
            if event.start is None:
                raise CalendarError(event.line, "a VEVENT without DTSTART")
            _finish(event, dates, yearly)
            event = None
        elif event is not None:
            try:
                if name == "DTSTART":
                    event.start, event.all_day = _date(value, params)
                elif name == "DTEND":
                    event.end, _ = _date(value, params)
                elif name == "RRULE":
                    event.yearly = _rrule_yearly(value)
                elif name == "STATUS":
                    event.cancelled = value.upper() == "CANCELLED"
            except ValueError as exc:
                raise CalendarError(number, f"{name}: {exc}") from None
    if event is not None:
        raise CalendarError(event.line, "BEGIN:VEVENT without END:VEVENT")
    if not seen_calendar:
        raise CalendarError(0, "not an iCalendar file (no BEGIN:VCALENDAR)")
    return frozenset(dates), frozenset(yearly)
