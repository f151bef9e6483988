"""A faithful port of github.com/robfig/cron/v3 (v3.0.1) as Kubernetes uses it.

Kubernetes validates ``CronJob.spec.schedule`` with ``cron.ParseStandard(schedule)`` and
rejects any schedule containing ``"TZ"`` once the ``timeZone`` field is in play (Chronos
always sets it). The CronJob controller then computes run times with
``sched.Next(now)`` where the schedule's location is the ``timeZone`` location. This
module reproduces both, including robfig's quirks and Go's ``time`` semantics:

* parsing: ``strings.Fields`` splitting, ``strconv.Atoi`` numbers (so ``+5`` is accepted),
  case-insensitive month/day names, ``*``/``?``, lists, ranges, steps (``N/step`` means
  ``N-max/step``; ``*-x`` ignores ``-x``), the ``starBit`` rules (``*/1`` keeps it,
  ``*/2`` drops it), descriptors and ``@every <Go duration>``;
* ``Next``: the field-by-field search of ``SpecSchedule.Next`` with Go's ``time.Date``
  normalisation for wall times that do not exist or are ambiguous, ``AddDate``, the
  midnight-DST correction and the five-year search limit.

Only the standard library is used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chronos.schedule.errors import ScheduleError
from chronos.schedule.zonedata import offset_changes

__all__ = [
    "CRON_FIELD",
    "STAR_BIT",
    "TIME_ZONE_FIELD",
    "CronSchedule",
    "go_date",
    "next_run_times",
    "parse_cron",
    "parse_cron_cached",
    "parse_go_duration",
    "validate_time_zone",
]

CRON_FIELD = "schedule.cron"
TIME_ZONE_FIELD = "timeZone"

#: Set in a field's bits when the expression used ``*`` or ``?`` (robfig ``starBit``).
STAR_BIT = 1 << 63

_MONTH_NAMES: Mapping[str, int] = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_DOW_NAMES: Mapping[str, int] = {
    "sun": 0,
    "mon": 1,
    "tue": 2,
    "wed": 3,
    "thu": 4,
    "fri": 5,
    "sat": 6,
}


@dataclass(frozen=True)
class _Bounds:
    min: int
    max: int
    names: Mapping[str, int] | None = None


SECONDS = _Bounds(0, 59)
MINUTES = _Bounds(0, 59)
HOURS = _Bounds(0, 23)
DOM = _Bounds(1, 31)
MONTHS = _Bounds(1, 12, _MONTH_NAMES)
DOW = _Bounds(0, 6, _DOW_NAMES)

_MAX_UINT64 = (1 << 64) - 1
_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


class _ParseError(Exception):
    """Internal: carries robfig's error text up to the public entry points."""


# --------------------------------------------------------------------------------------
# Go string helpers
# --------------------------------------------------------------------------------------

# unicode.IsSpace: '\t', '\n', '\v', '\f', '\r', ' ', U+0085, U+00A0 and the other
# White_Space characters. Python's str.split() also splits on U+001C..U+001F, which Go
# does not, so strings.Fields is ported explicitly.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _go_fields(s: str) -> list[str]:
    """strings.Fields: split around runs of unicode.IsSpace characters."""
    fields: list[str] = []
    current: list[str] = []
    for ch in s:
        if ch in _GO_SPACE:
            if current:
                fields.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        fields.append("".join(current))
    return fields


def _go_quote(s: str) -> str:
    """An approximation of strconv.Quote, used only in error messages."""
    out = ['"']
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
    escapes.update({"\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"})
    for ch in s:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_slice(parts: list[str]) -> str:
    """fmt's %s of a []string: ``[a b c]``."""
    return "[" + " ".join(parts) + "]"


def _atoi(expr: str) -> int:
    """strconv.Atoi: optional sign, ASCII decimal digits only, int64 range."""
    digits = expr[1:] if expr[:1] in ("+", "-") else expr
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise _ParseError(f"strconv.Atoi: parsing {_go_quote(expr)}: invalid syntax")
    value = int(digits)
    if expr[:1] == "-":
        value = -value
    if value > _INT64_MAX or value < _INT64_MIN:
        raise _ParseError(f"strconv.Atoi: parsing {_go_quote(expr)}: value out of range")
    return value


# --------------------------------------------------------------------------------------
# robfig/cron parser.go
# --------------------------------------------------------------------------------------


def _must_parse_int(expr: str) -> int:
    try:
        num = _atoi(expr)
    except _ParseError as exc:
        raise _ParseError(f"failed to parse int from {expr}: {exc}") from None
    if num < 0:
        raise _ParseError(f"negative number ({num}) not allowed: {expr}")
    return num


def _parse_int_or_name(expr: str, names: Mapping[str, int] | None) -> int:
    if names is not None:
        named = names.get(expr.lower())
        if named is not None:
            return named
    return _must_parse_int(expr)


def _get_bits(lo: int, hi: int, step: int) -> int:
    if step == 1:
        return (~(_MAX_UINT64 << (hi + 1)) & (_MAX_UINT64 << lo)) & _MAX_UINT64
    bits = 0
    for i in range(lo, hi + 1, step):
        bits |= 1 << i
    return bits


def _all(r: _Bounds) -> int:
    return _get_bits(r.min, r.max, 1) | STAR_BIT


def _get_range(expr: str, r: _Bounds) -> int:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single_digit = len(low_and_high) == 1

    extra = 0
    if low_and_high[0] in ("*", "?"):
        start, end = r.min, r.max
        extra = STAR_BIT
    else:
        start = _parse_int_or_name(low_and_high[0], r.names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _parse_int_or_name(low_and_high[1], r.names)
        else:
            raise _ParseError(f"too many hyphens: {expr}")

    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        # Special handling: "N/step" means "N-max/step".
        if single_digit:
            end = r.max
        if step > 1:
            extra = 0
    else:
        raise _ParseError(f"too many slashes: {expr}")

    if start < r.min:
        raise _ParseError(f"beginning of range ({start}) below minimum ({r.min}): {expr}")
    if end > r.max:
        raise _ParseError(f"end of range ({end}) above maximum ({r.max}): {expr}")
    if start > end:
        raise _ParseError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise _ParseError(f"step of range should be a positive number: {expr}")

    return _get_bits(start, end, step) | extra


def _get_field(field: str, r: _Bounds) -> int:
    bits = 0
    # strings.FieldsFunc(field, ','): empty items are dropped, so "1,,2" and "," parse.
    for expr in field.split(","):
        if expr:
            bits |= _get_range(expr, r)
    return bits


# --------------------------------------------------------------------------------------
# Go time.ParseDuration
# --------------------------------------------------------------------------------------

_UNIT_NS: Mapping[bytes, int] = {
    b"ns": 1,
    b"us": 1_000,
    "\u00b5s".encode(): 1_000,  # U+00B5 micro sign
    "\u03bcs".encode(): 1_000,  # U+03BC Greek letter mu
    b"ms": 1_000_000,
    b"s": 1_000_000_000,
    b"m": 60 * 1_000_000_000,
    b"h": 3600 * 1_000_000_000,
}


def parse_go_duration(text: str) -> int:
    """Port of Go's ``time.ParseDuration``; returns nanoseconds.

    Raises ``ValueError`` with Go's error text.
    """
    orig = text
    s = text.encode("utf-8")
    invalid = f'time: invalid duration "{orig}"'
    d = 0
    neg = False
    if s and s[:1] in (b"-", b"+"):
        neg = s[:1] == b"-"
        s = s[1:]
    if s == b"0":
        return 0
    if not s:
        raise ValueError(invalid)
    while s:
        if not (s[0] == ord(".") or ord("0") <= s[0] <= ord("9")):
            raise ValueError(invalid)
        # leadingInt
        i = 0
        v = 0
        while i < len(s) and ord("0") <= s[i] <= ord("9"):
            if v > (1 << 63) // 10:
                raise ValueError(invalid)
            v = v * 10 + s[i] - ord("0")
            if v > 1 << 63:
                raise ValueError(invalid)
            i += 1
        pre = i != 0
        s = s[i:]
        # (\.[0-9]*)?
        post = False
        f = 0
        scale = 1.0
        if s and s[0] == ord("."):
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and ord("0") <= s[i] <= ord("9"):
                if not overflow:
                    if f > ((1 << 63) - 1) // 10:
                        overflow = True
                    else:
                        y = f * 10 + s[i] - ord("0")
                        if y > 1 << 63:
                            overflow = True
                        else:
                            f = y
                            scale *= 10
                i += 1
            post = i != 0
            s = s[i:]
        if not pre and not post:
            raise ValueError(invalid)
        # unit
        i = 0
        while i < len(s) and not (s[i] == ord(".") or ord("0") <= s[i] <= ord("9")):
            i += 1
        if i == 0:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        unit_text = s[:i]
        s = s[i:]
        unit = _UNIT_NS.get(unit_text)
        if unit is None:
            shown = unit_text.decode("utf-8", errors="replace")
            raise ValueError(f'time: unknown unit "{shown}" in duration "{orig}"')
        if v > (1 << 63) // unit:
            raise ValueError(invalid)
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > 1 << 63:
                raise ValueError(invalid)
        d += v
        if d > 1 << 63:
            raise ValueError(invalid)
    if neg:
        return -d
    if d > (1 << 63) - 1:
        raise ValueError(invalid)
    return d


# --------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule: robfig's ``SpecSchedule`` or, for ``@every``,
    ``ConstantDelaySchedule`` (then ``every_seconds`` is set and the bit fields are 0).

    Bit ``n`` of a field is set when value ``n`` matches; ``STAR_BIT`` records that the
    field was written with ``*``/``?`` (it changes how day-of-month and day-of-week
    combine).
    """

    expression: str
    second: int = 0
    minute: int = 0
    hour: int = 0
    dom: int = 0
    month: int = 0
    dow: int = 0
    every_seconds: int | None = None

    @property
    def is_every(self) -> bool:
        return self.every_seconds is not None

    @property
    def every(self) -> timedelta | None:
        """The ``@every`` interval, or ``None`` for a field-based schedule."""
        if self.every_seconds is None:
            return None
        return timedelta(seconds=self.every_seconds)

    def day_matches(self, day: int, weekday: int) -> bool:
        """robfig ``dayMatches``; ``weekday`` uses Go numbering (Sunday = 0)."""
        dom_match = (1 << day) & self.dom != 0
        dow_match = (1 << weekday) & self.dow != 0
        if self.dom & STAR_BIT or self.dow & STAR_BIT:
            return dom_match and dow_match
        return dom_match or dow_match

    def matches(self, when: datetime) -> bool:
        """Whether the wall-clock fields of ``when`` (seconds included) match the spec."""
        if self.is_every:
            return False
        return bool(
            (1 << when.second) & self.second
            and (1 << when.minute) & self.minute
            and (1 << when.hour) & self.hour
            and (1 << when.month) & self.month
            and self.day_matches(when.day, when.isoweekday() % 7)
        )

    def _never_matches(self) -> bool:
        low = ~STAR_BIT
        if not (self.second & low and self.minute & low and self.hour & low):
            return True
        if not self.month & low:
            return True
        dom_bits, dow_bits = self.dom & low, self.dow & low
        if self.dom & STAR_BIT or self.dow & STAR_BIT:
            return not (dom_bits and dow_bits)
        return not (dom_bits or dow_bits)

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after ``after`` (robfig ``Schedule.Next``).

        ``after`` must be timezone-aware; the schedule is evaluated in its time zone
        (as robfig does for a schedule without its own location) and the result is in
        that zone. ``None`` stands for Go's zero time: nothing found within five years
        (or a result outside Python's datetime range).
        """
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("after must be a timezone-aware datetime")
        tz = after.tzinfo
        unix, _micro = _to_unix(after)
        try:
            if self.every_seconds is not None:
                # ConstantDelaySchedule.Next: t.Add(Delay - t.Nanosecond())
                return datetime.fromtimestamp(unix + self.every_seconds, tz)
            if self._never_matches():
                return None
            found = _spec_next(self, unix + 1, tz)
            return None if found is None else datetime.fromtimestamp(found, tz)
        except (OverflowError, ValueError, OSError):
            return None


def _spec_next(s: CronSchedule, t: int, tz: tzinfo) -> int | None:
    """SpecSchedule.Next on whole Unix seconds ``t`` (already "the upcoming second").

    One loop per field, as in robfig/cron's spec.go, line for line: the loops look alike
    but each truncates and steps differently (clock changes hide in those differences),
    so they are kept as Go writes them rather than folded into one (the differential test
    against robfig/cron v3.0.1 compares the two).
    """
    added = False
    year_limit = _wall(t, tz).year + 5
    while True:  # WRAP
        w = _wall(t, tz)
        if w.year > year_limit:
            return None

        # Find the first applicable month.
        wrapped = False
        while (1 << w.month) & s.month == 0:
            if not added:
                added = True
                t = go_date(w.year, w.month, 1, 0, 0, 0, tz)
                w = _wall(t, tz)
            t = go_date(w.year, w.month + 1, w.day, w.hour, w.minute, w.second, tz)
            w = _wall(t, tz)
            if w.month == 1:
                wrapped = True
                break
        if wrapped:
            continue

        # Now get a day in that month.
        while not s.day_matches(w.day, w.isoweekday() % 7):
            if not added:
                added = True
                t = go_date(w.year, w.month, w.day, 0, 0, 0, tz)
                w = _wall(t, tz)
            t = go_date(w.year, w.month, w.day + 1, w.hour, w.minute, w.second, tz)
            w = _wall(t, tz)
            # Notice if the hour is no longer midnight due to DST.
            if w.hour != 0:
                if w.hour > 12:
                    t += (24 - w.hour) * 3600
                else:
                    t -= w.hour * 3600
                w = _wall(t, tz)
            if w.day == 1:
                wrapped = True
                break
        if wrapped:
            continue

        while (1 << w.hour) & s.hour == 0:
            if not added:
                added = True
                t = go_date(w.year, w.month, w.day, w.hour, 0, 0, tz)
                w = _wall(t, tz)
            t += 3600
            w = _wall(t, tz)
            if w.hour == 0:
                wrapped = True
                break
        if wrapped:
            continue

        while (1 << w.minute) & s.minute == 0:
            if not added:
                added = True
                t -= t % 60  # Truncate(time.Minute) works on absolute time
                w = _wall(t, tz)
            t += 60
            w = _wall(t, tz)
            if w.minute == 0:
                wrapped = True
                break
        if wrapped:
            continue

        while (1 << w.second) & s.second == 0:
            if not added:
                added = True  # Truncate(time.Second) is a no-op on whole seconds
            t += 1
            w = _wall(t, tz)
            if w.second == 0:
                wrapped = True
                break
        if wrapped:
            continue

        return t


# --------------------------------------------------------------------------------------
# Go time semantics
# --------------------------------------------------------------------------------------

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _to_unix(when: datetime) -> tuple[int, int]:
    """Floor Unix seconds and the microsecond remainder of an aware datetime."""
    delta = when - _UNIX_EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds


def _wall(unix: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(unix, tz)


def _offset_at(unix: int, tz: tzinfo) -> int:
    offset = _wall(unix, tz).utcoffset()
    if offset is None:  # pragma: no cover - fromtimestamp with a tzinfo is aware
        return 0
    return offset.days * 86400 + offset.seconds


def go_date(
    year: int, month: int, day: int, hour: int, minute: int, second: int, tz: tzinfo
) -> int:
    """Go's ``time.Date(...)`` returning Unix seconds.

    Out-of-range values are normalised (month 13 is January of the next year, day 32
    overflows into the next month, ...). A wall time that is skipped or repeated by a
    transition is resolved like Go: take the offset in effect at the wall time read as
    UTC, and if the resulting instant falls under a different offset, use that one.
    """
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    days = date(year, month, 1).toordinal() - _EPOCH_ORDINAL + (day - 1)
    unix = days * 86400 + hour * 3600 + minute * 60 + second
    guess = _offset_at(unix, tz)
    return unix - _offset_at(unix - guess, tz)


# --------------------------------------------------------------------------------------
# Public parsing entry points
# --------------------------------------------------------------------------------------


def _spec(expression: str, *fields: int) -> CronSchedule:
    second, minute, hour, dom, month, dow = fields
    return CronSchedule(expression, second, minute, hour, dom, month, dow)


def _parse_descriptor(descriptor: str) -> CronSchedule:
    if descriptor in ("@yearly", "@annually"):
        return _spec(descriptor, 1, 1, 1, 1 << DOM.min, 1 << MONTHS.min, _all(DOW))
    if descriptor == "@monthly":
        return _spec(descriptor, 1, 1, 1, 1 << DOM.min, _all(MONTHS), _all(DOW))
    if descriptor == "@weekly":
        return _spec(descriptor, 1, 1, 1, _all(DOM), _all(MONTHS), 1 << DOW.min)
    if descriptor in ("@daily", "@midnight"):
        return _spec(descriptor, 1, 1, 1, _all(DOM), _all(MONTHS), _all(DOW))
    if descriptor == "@hourly":
        return _spec(descriptor, 1, 1, _all(HOURS), _all(DOM), _all(MONTHS), _all(DOW))
    every = "@every "
    if descriptor.startswith(every):
        try:
            nanos = parse_go_duration(descriptor[len(every) :])
        except ValueError as exc:
            raise _ParseError(f"failed to parse duration {descriptor}: {exc}") from None
        # cron.Every: below one second becomes one second; sub-second part truncated.
        nanos = max(nanos, 1_000_000_000)
        return CronSchedule(descriptor, every_seconds=nanos // 1_000_000_000)
    raise _ParseError(f"unrecognized descriptor: {descriptor}")


def _parse(spec: str, *, with_seconds: bool = False) -> CronSchedule:
    """robfig ``Parser.Parse`` without the TZ= prefix support.

    ``with_seconds=False`` is ``ParseStandard`` (Minute|Hour|Dom|Month|Dow|Descriptor);
    ``with_seconds=True`` is robfig's default parser used by its own tests
    (Second|Minute|Hour|Dom|Month|DowOptional|Descriptor).
    """
    if not spec:
        raise _ParseError("empty spec string")
    if spec.startswith("@"):
        return _parse_descriptor(spec)
    fields = _go_fields(spec)
    count = len(fields)
    if with_seconds:
        if count < 5 or count > 6:
            raise _ParseError(f"expected 5 to 6 fields, found {count}: {_go_slice(fields)}")
        if count == 5:
            fields = [*fields, "*"]
    else:
        if count != 5:
            raise _ParseError(f"expected exactly 5 fields, found {count}: {_go_slice(fields)}")
        fields = ["0", *fields]
    return CronSchedule(
        spec,
        _get_field(fields[0], SECONDS),
        _get_field(fields[1], MINUTES),
        _get_field(fields[2], HOURS),
        _get_field(fields[3], DOM),
        _get_field(fields[4], MONTHS),
        _get_field(fields[5], DOW),
    )


def parse_cron(expr: str) -> CronSchedule:
    """Parse a CronJob ``spec.schedule`` exactly as Kubernetes validates it.

    Accepts what ``cron.ParseStandard`` accepts, minus any expression containing
    ``"TZ"`` (Kubernetes rejects those when the ``timeZone`` field is used).
    Raises :class:`ScheduleError` with ``field="schedule.cron"``.
    """
    if "TZ" in expr:
        raise ScheduleError(
            CRON_FIELD, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
        )
    try:
        return _parse(expr)
    except _ParseError as exc:
        raise ScheduleError(CRON_FIELD, str(exc)) from None


# Kubernetes validateTimeZone (pkg/apis/batch/validation/validation.go).
_TIME_ZONE_PART = re.compile(r"[A-Za-z\.\-_0-9+]{1,14}")


def validate_time_zone(name: str) -> ZoneInfo:
    """Validate a CronJob ``spec.timeZone`` like Kubernetes and load it.

    Raises :class:`ScheduleError` with ``field="timeZone"``.
    """
    if not name:
        raise ScheduleError(TIME_ZONE_FIELD, "timeZone must be nil or non-empty string")
    for part in name.split("/"):
        if part in (".", "..") or part.startswith("-") or _TIME_ZONE_PART.fullmatch(part) is None:
            raise ScheduleError(TIME_ZONE_FIELD, f"unknown time zone {name}")
    if name.lower() == "local":
        raise ScheduleError(
            TIME_ZONE_FIELD,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise ScheduleError(TIME_ZONE_FIELD, f"unknown time zone {name}") from None
    except (ValueError, OSError) as exc:
        raise ScheduleError(TIME_ZONE_FIELD, f"invalid time zone {name}: {exc}") from None


@functools.lru_cache(maxsize=4096)
def parse_cron_cached(expr: str) -> CronSchedule:
    """``parse_cron``, remembered (a ``CronSchedule`` is immutable): the operator asks about
    the same few schedules at every visit of every job, and parsing cost more than the
    remembered answer of ``next_run_times`` itself (bench/schedule_engine.py)."""
    return parse_cron(expr)


def next_run_times(cron: str, time_zone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` run times of a CronJob with this schedule and time zone.

    Mirrors the Kubernetes CronJob controller: the schedule is evaluated in
    ``time_zone`` and each time is ``sched.Next(previous)``, starting from ``after``
    (which must be timezone-aware). Results are aware datetimes in ``time_zone``; the
    list is shorter than ``count`` if the schedule runs out (robfig's five-year limit).
    """
    if count < 0:
        raise ValueError("count must not be negative")
    schedule = parse_cron_cached(cron)
    location = validate_time_zone(time_zone)
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    key = (cron, time_zone, count)
    recent = None if schedule.is_every else _RECENT.get(key)
    if recent is not None and recent.reusable and recent.after <= after < recent.runs[0]:
        return list(recent.runs)
    result: list[datetime] = []
    current = after.astimezone(location)
    for _ in range(count):
        found = schedule.next(current)
        if found is None:
            break
        result.append(found)
        current = found
    if not schedule.is_every:
        if len(_RECENT) >= _RECENT_MAX:
            _RECENT.clear()
        reusable = bool(result) and _fixed_offset_search(schedule, time_zone, after, result[0])
        _RECENT[key] = _Answer(after, result, reusable)
    return list(result)


@dataclass(frozen=True)
class _Answer:
    after: datetime
    runs: list[datetime]
    #: Whether every instant from ``after`` until the first run has these same runs.
    reusable: bool


#: The last answer per (cron, zone, count): thousands of jobs sharing a schedule, and each
#: job's visit every housekeeping round, cost one computation until a run passes (the
#: operator spent 12 % of its CPU here in a burst of 1,000 new jobs, bench/operator_scale.py).
_RECENT: dict[tuple[str, str, int], _Answer] = {}
_RECENT_MAX = 4096

#: How far before its instant a search can look back: ``SpecSchedule.Next`` truncates to
#: the start of the month (a month that does not match) or of the day (a day that does not
#: match; an hour or a minute that does not match looks back less).
_BACK_MONTH = 32 * 86400
_BACK_DAY = 86400
_ALL_MONTHS = _get_bits(MONTHS.min, MONTHS.max, 1)


def _fixed_offset_search(
    schedule: CronSchedule, time_zone: str, after: datetime, first: datetime
) -> bool:
    """Whether ``next_run_times`` gives the same answer for every instant ``t`` with
    ``after <= t < first`` as for ``after`` (``first`` being ``Next(after)``).

    Not so in general: near a change of the zone's UTC offset robfig's search skips or
    adds runs depending on where it starts (Lord Howe's 30-minute, Chatham's 45-minute
    and Troll's 2-hour shifts make it skip a month, skip a day or add a run). The proof
    that it holds when the offset ``c`` is the same over the window
    ``W = [after - back - 1 day, first + 1 day]`` and ``c`` is a whole number of minutes:

    1. Fixed zone. Every query the search from ``t`` makes of the zone is ``_wall(x)`` or
       ``go_date``'s two offset look-ups, at ``x + c`` and ``x`` for the instant ``x``
       it builds; ``|c| < 24 h``. The search starts at ``t + 1``, looks back at most to
       the start of the month (fields with a restricted month) or of the day (else) of
       its wall time, which is after ``after + 1 - back``, and from there only moves
       forward, to its result at the latest (step 2). So while the offset is ``c`` on
       ``W``, every look-up answers ``c``: by induction over the steps, the search is the
       one robfig makes in the fixed zone UTC+c.
    2. In a fixed zone whose offset is whole minutes, ``Truncate(time.Minute)`` (on
       absolute time) is the wall-clock truncation, ``time.Date`` never normalises a
       skipped or repeated wall time and the midnight-DST correction never fires, so the
       field-by-field search is the textbook one: ``Next(t)`` is the first matching wall
       second strictly after ``t`` (the five-year limit counts from ``t``'s year, no
       earlier than ``after``'s, so it cannot cut short a search that ``after``'s found).
       No offset of a whole number of seconds otherwise: an LMT like Amsterdam's
       +00:19:32 makes the minute truncation land on second 32 and skip runs.
    3. ``Next(after) = first`` is the first match after ``after``; for ``t`` in
       ``[after, first)`` the first match after ``t`` is then ``first`` too. Every later
       run is ``Next`` of the previous one and so does not depend on ``t``.

    The check costs one look-up in the zone's sorted transitions (zonedata), made once
    per computed answer; a zone whose file is not understood is never reused.
    """
    changes = offset_changes(time_zone)
    if changes is None:
        return False
    offset = after.astimezone(first.tzinfo).utcoffset()
    if offset is None or offset.seconds % 60 or offset.microseconds:
        return False
    back = _BACK_DAY if schedule.month & _ALL_MONTHS == _ALL_MONTHS else _BACK_MONTH
    start = _to_unix(after)[0] - back - 86400
    end = _to_unix(first)[0] + 86400
    return start > _MIN_UNIX and end < _MAX_UNIX and changes.constant(start, end)


#: Well inside datetime's range (0002-01-01, 9998-01-01): searches from there stay in it.
_MIN_UNIX = -62_104_060_800
_MAX_UNIX = 253_339_228_800
