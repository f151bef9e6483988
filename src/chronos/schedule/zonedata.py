"""Where a time zone's UTC offset may change, read from the TZif file zoneinfo reads.

The schedule engine's answer cache (:func:`chronos.schedule.cron.next_run_times`) may
reuse an answer only while the zone behaves like one fixed UTC offset; ``ZoneInfo`` does
not say where its transitions are, so they are read here from the same file, found the
same way (``zoneinfo.TZPATH``, then the ``tzdata`` package). Everything is conservative:
an instant listed here may turn out to change nothing, but every instant where the offset
does change is covered (a file or a footer rule not understood gives no answer at all,
and then the cache is not used).
"""

from __future__ import annotations

import functools
import os
import re
import struct
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

__all__ = ["OffsetChanges", "offset_changes", "parse_tzif", "tzif_path"]

_DAY = 86400
#: A footer-rule instant is computed in local time; the real instant is off by the zone's
#: offset, which Python's datetime keeps under 24 h. Checked with twice that, to spare.
_RULE_SLACK = 2 * _DAY

_NAME = r"(?:<[^>]*>|[A-Za-z]{3,})"
_TIME = r"[+-]?\d{1,3}(?::\d{1,2}){0,2}"
_FOOTER = re.compile(rf"{_NAME}{_TIME}(?:({_NAME})(?:{_TIME})?(?:,([^,]+),([^,]+))?)?")
_RULE = re.compile(rf"(?:M(\d{{1,2}})\.(\d)\.(\d)|J(\d{{1,3}})|(\d{{1,3}}))(?:/({_TIME}))?")


def _seconds(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    return sign * sum(p * m for p, m in zip(parts, (3600, 60, 1), strict=False))


@dataclass(frozen=True)
class _Rule:
    """One POSIX TZ rule of a TZif footer (``Mm.w.d``, ``Jn`` or ``n``, then ``/time``)."""

    text: str

    def local_seconds(self, year: int) -> int:
        """The rule's wall time in ``year``, as seconds since 1970-01-01 read as UTC."""
        found = _RULE.fullmatch(self.text)
        if found is None:  # pragma: no cover - checked by _parse_footer
            raise ValueError(self.text)
        month, week, weekday, julian, zero_based, at = found.groups()
        if month is not None:
            first = date(year, int(month), 1)
            day = 1 + (int(weekday) - first.isoweekday() % 7) % 7 + 7 * (int(week) - 1)
            following = date(year + int(month) // 12, int(month) % 12 + 1, 1)
            while day > (following - first).days:
                day -= 7
            when = first.replace(day=day)
        elif julian is not None:  # 1..365, 29 February never counted
            when = date(year, 1, 1) + timedelta(days=int(julian) - 1)
            if when.month > 2 and (date(year, 3, 1) - date(year, 2, 28)).days == 2:
                when += timedelta(days=1)
        else:
            when = date(year, 1, 1) + timedelta(days=int(zero_based))
        days = (when - date(1970, 1, 1)).days
        return days * _DAY + (7200 if at is None else _seconds(at))


@dataclass(frozen=True)
class OffsetChanges:
    """The instants at which a zone's UTC offset may change."""

    #: Sorted Unix seconds of listed transitions after which the offset may differ.
    listed: tuple[int, ...]
    #: The footer's DST rules, applied after the last listed transition (``None``: the
    #: offset stays fixed after it).
    rules: tuple[_Rule, _Rule] | None

    def rule_changes(self, year: int) -> tuple[int, ...]:
        """The footer rules' instants in ``year``, each within a day of the real one."""
        if self.rules is None:
            return ()
        return tuple(rule.local_seconds(year) for rule in self.rules)

    def between(self, start: int, end: int) -> list[int]:
        """Every instant in ``(start, end]`` (Unix seconds) where the offset may change;
        footer-rule instants are approximate (see ``rule_changes``) and listed when
        within ``_RULE_SLACK`` of the range."""
        found = [t for t in self.listed[bisect_right(self.listed, start) :] if t <= end]
        last = self.listed[-1] if self.listed else None
        if self.rules is not None and (last is None or end + _RULE_SLACK > last):
            low = start if last is None else max(start, last)
            for year in range(_year(low - _RULE_SLACK), _year(end + _RULE_SLACK) + 1):
                found += [
                    t
                    for t in self.rule_changes(year)
                    if start - _RULE_SLACK < t <= end + _RULE_SLACK
                ]
        return sorted(found)

    def constant(self, start: int, end: int) -> bool:
        """Whether the offset is surely the same at every instant of ``[start, end]``."""
        return not self.between(start, end)


def _year(unix: int) -> int:
    """The UTC year of ``unix``, kept where ``_Rule.local_seconds`` can build dates."""
    try:
        year = (date(1970, 1, 1) + timedelta(days=unix // _DAY)).year
    except OverflowError:
        year = 1 if unix < 0 else 9999
    return min(max(year, 1), 9998)


def _parse_footer(footer: str) -> tuple[_Rule, _Rule] | bool | None:
    """The DST rules of a footer; ``None`` for a fixed offset, ``False`` if not understood."""
    if not footer:
        return None
    found = _FOOTER.fullmatch(footer)
    if found is None:
        return False
    dst, start, end = found.groups()
    if dst is None:
        return None
    if start is None or end is None:  # POSIX default rules: zic never writes them
        return False
    if _RULE.fullmatch(start) is None or _RULE.fullmatch(end) is None:
        return False
    return _Rule(start), _Rule(end)


def parse_tzif(data: bytes) -> tuple[OffsetChanges, tuple[tuple[int, int], ...]] | None:
    """Parse a TZif file (RFC 8536): the offset changes and, for checking against
    ``ZoneInfo``, each listed transition with the offset it starts. ``None`` when the file
    is not understood (or counts leap seconds, which Go and zoneinfo treat differently)."""
    try:
        return _parse_tzif(data)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None


def _parse_tzif(data: bytes) -> tuple[OffsetChanges, tuple[tuple[int, int], ...]] | None:
    if data[:4] != b"TZif":
        return None
    version = data[4]
    isut, isstd, leap, timecnt, typecnt, charcnt = struct.unpack(">6l", data[20:44])
    offset, size = 44, 4
    if version >= ord("2"):
        offset += timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
        if data[offset : offset + 4] != b"TZif":
            return None
        isut, isstd, leap, timecnt, typecnt, charcnt = struct.unpack(
            ">6l", data[offset + 20 : offset + 44]
        )
        offset, size = offset + 44, 8
    if leap or typecnt < 1:
        return None
    times = struct.unpack(f">{timecnt}{'q' if size == 8 else 'l'}", data[offset:][: timecnt * size])
    offset += timecnt * size
    indexes = data[offset : offset + timecnt]
    offset += timecnt
    offsets = [struct.unpack(">l", data[offset + 6 * i :][:4])[0] for i in range(typecnt)]
    offset += typecnt * 6 + charcnt + leap * (size + 4) + isstd + isut
    rules: tuple[_Rule, _Rule] | None = None
    if version >= ord("2"):
        footer = data[offset:]
        if footer[:1] != b"\n" or b"\n" not in footer[1:]:
            return None
        parsed = _parse_footer(footer[1:].split(b"\n", 1)[0].decode("ascii"))
        if parsed is False:
            return None
        rules = parsed if isinstance(parsed, tuple) else None
    starts = tuple((t, offsets[i]) for t, i in zip(times, indexes, strict=True))
    listed = [
        t
        for n, (t, off) in enumerate(starts)
        # The first and the last always: before the first and after the last, zoneinfo
        # and Go pick the offset by rules of their own (first type, footer).
        if n in (0, len(starts) - 1) or off != starts[n - 1][1]
    ]
    return OffsetChanges(tuple(listed), rules), starts


def tzif_path(name: str) -> Path | None:
    """The file ``ZoneInfo(name)`` reads: the first of ``zoneinfo.TZPATH`` that has it,
    else the ``tzdata`` package's (the order of ``zoneinfo``'s own search)."""
    for root in TZPATH:
        candidate = os.path.join(root, name)
        if os.path.isfile(candidate):
            return Path(candidate)
    *folders, leaf = name.split("/")
    try:
        resource = resources.files(".".join(["tzdata.zoneinfo", *folders])).joinpath(leaf)
    except (ImportError, ValueError):
        return None
    path = Path(str(resource))
    return path if path.is_file() else None


@functools.cache  # bounded: keys are valid zone names only
def offset_changes(name: str) -> OffsetChanges | None:
    """The offset changes of a valid zone name, or ``None`` when not known for sure.

    The file is checked against ``ZoneInfo(name)`` at each listed transition, so a file
    replaced on disk after ``ZoneInfo`` cached the old one gives ``None``, not a lie.
    """
    path = tzif_path(name)
    if path is None:
        return None
    try:
        parsed = parse_tzif(path.read_bytes())
    except OSError:
        return None
    if parsed is None:
        return None
    changes, starts = parsed
    zone = ZoneInfo(name)
    for t, off in starts:
        try:
            seen = datetime.fromtimestamp(t, zone).utcoffset()
        except (OverflowError, OSError, ValueError):
            continue  # outside datetime's range: never used by the engine either
        if seen is None or seen.days * _DAY + seen.seconds != off:
            return None
    return changes
