"""The cron grammar the engine accepts, as one regular expression for documents.

Built from the parser's own field bounds and names (``chronos.schedule.cron``), so the
OpenAPI document states what ``parse_cron`` takes: five fields of ``*``/``?``, values,
ranges and lists with steps, each value within its field (names for months and days),
a range's low end not above its high end, a step of at least 1; and the descriptors.

The expression is *canonical*: what it matches the engine always accepts, and the
engine accepts little more, only robfig quirks a client has no reason to send (``+5``,
``*-junk``, empty list items ``1,,2``, other whitespace, fractional or sub-unit
``@every`` durations such as ``@every 90s``). Two value rules stay with the engine and
its 422 (a regex cannot state them for a configurable bound):
``CHRONOS_MIN_INTERVAL_SECONDS`` above its default of one minute, and ``@every``
durations written in other units. ``@every`` is listed in whole hours and minutes, at
least one minute (``MIN_EVERY_SECONDS``) and far below Go's duration limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from chronos.schedule.cron import DOM, DOW, HOURS, MINUTES, MONTHS, _Bounds

__all__ = ["CRON_DESCRIPTORS", "cron_pattern"]

#: The descriptors ``_parse_descriptor`` knows besides ``@every``.
CRON_DESCRIPTORS = ("yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly")

#: A step: a positive integer that fits Go's int (18 digits always do).
_STEP = r"/0*[1-9][0-9]{0,17}"


def _digits(lo: int, hi: int) -> str:
    """The decimal numbers lo..hi (both < 100), no leading zeros, as a regex."""
    parts = []
    for tens in range(lo // 10, hi // 10 + 1):
        first = max(lo, tens * 10) % 10
        last = min(hi, tens * 10 + 9) % 10
        units = str(first) if first == last else f"[{first}-{last}]"
        parts.append(units if tens == 0 else f"{tens}{units}")
    return "|".join(parts)


def _name(name: str) -> str:
    """A name in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.upper()}{c}]" for c in name)


def _values(bounds: _Bounds, lo: int, hi: int) -> str:
    """Any token the parser reads as a value in lo..hi: digits (leading zeros allowed,
    as strconv.Atoi reads them) or a name."""
    names: Mapping[str, int] = bounds.names or {}
    alternatives = [f"0*(?:{_digits(lo, hi)})"]
    alternatives += [_name(n) for n, v in names.items() if lo <= v <= hi]
    return "(?:" + "|".join(alternatives) + ")"


def _field(bounds: _Bounds) -> str:
    low, high = bounds.min, bounds.max
    ranges = "|".join(
        f"{_values(bounds, v, v)}-{_values(bounds, v, high)}" for v in range(low, high + 1)
    )
    item = rf"(?:[*?]|{_values(bounds, low, high)}|{ranges})(?:{_STEP})?"
    return f"{item}(?:,{item})*"


@cache
def cron_pattern() -> str:
    """The ECMA/Python regular expression (anchored) of the expressions documented."""
    fields = " +".join(f"(?:{_field(b)})" for b in (MINUTES, HOURS, DOM, MONTHS, DOW))
    every = "@every (?:[1-9][0-9]{0,5}h(?:[0-9]{1,6}m)?|[1-9][0-9]{0,6}m)"
    descriptors = "@(?:" + "|".join(CRON_DESCRIPTORS) + ")"
    return f"^(?: *{fields} *|{descriptors}|{every})$"
