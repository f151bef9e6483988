"""The regular expressions the OpenAPI document states for cron expressions and RRULEs:
the schedule engine's grammar (``chronos.schedule.grammar``) with Jenkins' ``H`` items,
and the canonical RRULE form the engine takes. Pure, built once (``functools.cache``)."""

from __future__ import annotations

import re
from functools import cache

from chronos.schedule.cron import DOM, DOW, HOURS, MINUTES, MONTHS, _Bounds

# The grammar's value and step tokens (its item is not public yet), so the H items
# extend exactly the grammar's items.
from chronos.schedule.grammar import _STEP, _values, cron_pattern


def _hashed_item(bounds: _Bounds) -> str:
    """Jenkins' ``H`` items of a field as ``chronos.schedule.hashed`` reads them: ``H``,
    ``H(a-b)`` with ``a <= b`` in the field's bounds (one or two digits), each with an
    optional step ``/n`` (``n`` of one or two digits, at least 1)."""

    def number(v: int) -> str:
        return f"0?{v}" if v < 10 else str(v)

    ranges = "|".join(
        f"{number(a)}-(?:{'|'.join(number(b) for b in range(a, bounds.max + 1))})"
        for a in range(bounds.min, bounds.max + 1)
    )
    return rf"H(?:\((?:{ranges})\))?(?:/(?:0?[1-9]|[1-9][0-9]))?"


def _plain_item(bounds: _Bounds) -> str:
    """One item of a field as ``chronos.schedule.grammar`` writes it."""
    low, high = bounds.min, bounds.max
    ranges = "|".join(
        f"{_values(bounds, v, v)}-{_values(bounds, v, high)}" for v in range(low, high + 1)
    )
    return rf"(?:[*?]|{_values(bounds, low, high)}|{ranges})(?:{_STEP})?"


@cache
def documented_cron_pattern() -> str:
    """The engine's grammar (``cron_pattern``) and, in any of the five fields, ``H``
    items beside the usual ones (resolved from the job's hash before the engine parses
    the result; ``H`` forms beyond these are refused with a 422)."""
    plain = cron_pattern()
    fields = []
    for bounds in (MINUTES, HOURS, DOM, MONTHS, DOW):
        item = f"(?:{_hashed_item(bounds)}|{_plain_item(bounds)})"
        fields.append(f"{item}(?:,{item})*")
    hashed = " +".join(f"(?:{f})" for f in fields)
    return f"{plain[:-2]}| *{hashed} *)$"


@cache
def cron_regex() -> re.Pattern[str]:
    return re.compile(documented_cron_pattern())


def _upto(high: int) -> str:
    """1..high (at most 5 digits) as a regex, without leading zeros but for one before a
    single digit (``BYHOUR=09``)."""
    digits = len(str(high))
    out = [f"0?[1-{min(high, 9)}]"]
    out += [f"[1-9][0-9]{{{n - 1}}}" for n in range(2, digits)]
    if digits > 1:
        out.append(_below(str(high)))
    return "|".join(out)


def _below(top: str) -> str:
    """Numbers of ``len(top)`` digits (no leading zero) up to ``top``."""
    out = []
    for i, digit in enumerate(top):
        d = int(digit)
        low = 1 if i == 0 else 0
        if d > low:
            rest = "[0-9]" * (len(top) - i - 1)
            out.append(f"{top[:i]}[{low}-{d - 1}]{rest}")
    out.append(top)
    return "|".join(out)


def _numbers(low: int, high: int, *, signed: bool = False) -> str:
    """A comma-separated list of numbers in ``low..high`` (``-high..-low`` too when
    ``signed``), as ``chronos.schedule.rrule`` reads them."""
    one = f"(?:{_upto(high)})" if low == 1 else f"(?:0|{_upto(high)})"
    if signed:
        one = f"[-+]?{one}"
    return f"{one}(?:,{one})*"


_DAY = "(?:MO|TU|WE|TH|FR|SA|SU)"


#: Years 1000-2999: the engine walks ten years past DTSTART, and a DTSTART near 9999
#: overflows Python's dates there (a 500 reported to the engine's owner), so the document
#: states the years a schedule has any use for.
_DATE = (
    "[12][0-9]{3}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)|02(?:0[1-9]|1[0-9]|2[0-8]))"
)


_WALL = f"{_DATE}T(?:[01][0-9]|2[0-3])[0-5][0-9]00"


def _by_parts(freq: str, ordinal: int | None, month: bool | None) -> list[str]:
    """The BY parts after FREQ=``freq``, in the documented order: BYDAY ordinals up
    to ``ordinal`` (None: none), BYMONTH required (True), refused (False) or either."""
    byday_item = _DAY if ordinal is None else f"(?:[-+]?(?:{_upto(ordinal)}))?{_DAY}"
    parts = []
    if month is not False:
        parts.append(f";BYMONTH={_numbers(1, 12)}")
    if freq != "WEEKLY":
        parts.append(f";BYMONTHDAY={_numbers(1, 31, signed=True)}")
    parts += [
        f";BYDAY={byday_item}(?:,{byday_item})*",
        f";BYHOUR={_numbers(0, 23)}",
        f";BYMINUTE={_numbers(0, 59)}",
    ]
    return parts


def _rule(freqs: str, ordinal: int | None, month: bool | None) -> str:
    """One branch of the grammar: FREQ, INTERVAL, COUNT or UNTIL, the BY parts (BYMONTH
    required when ``month``), BYSETPOS only after one of them, WKST."""
    by = _by_parts(freqs, ordinal, month)
    if month:
        first, rest = by[0], by[1:]
        some = f"{first}{''.join(f'(?:{p})?' for p in rest)}"
        picked = f"(?:{some}(?:;BYSETPOS={_numbers(1, 366, signed=True)})?)"
    else:
        # At least one BY part before BYSETPOS (the first present one, then the rest).
        some = "|".join(by[i] + "".join(f"(?:{p})?" for p in by[i + 1 :]) for i in range(len(by)))
        picked = f"(?:(?:{some})(?:;BYSETPOS={_numbers(1, 366, signed=True)})?)?"
    return (
        f"FREQ=(?:{freqs})(?:;INTERVAL=(?:{_upto(1000)}))?"
        f"(?:;COUNT=(?:{_upto(10000)})|;UNTIL={_DATE}(?:T(?:[01][0-9]|2[0-3])[0-5][0-9]00)?)?"
        f"{picked}(?:;WKST={_DAY})?"
    )


@cache
def documented_rrule_pattern() -> str:
    """The RRULEs ``chronos.schedule.rrule.parse_rrule`` takes, in a canonical form the
    document can state without comparing parts: FREQ first, then INTERVAL, COUNT or
    UNTIL, BYMONTH, BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE, BYSETPOS, WKST, each at most
    once, upper case, numbers in range, ordinals in BYDAY only for MONTHLY (1-5) and
    YEARLY (1-5 with BYMONTH, else 1-53), no BYMONTHDAY under WEEKLY, BYSETPOS only
    after another BY part. The engine takes the parts in any order and case too (a
    rule kubectl wrote, read back and sent again): the document states the form to send."""
    branches = [
        _rule("MONTHLY", 5, None),
        _rule("YEARLY", 5, True),
        _rule("YEARLY", 53, False),
        _rule("WEEKLY", None, None),
        _rule("DAILY|HOURLY", None, None),
    ]
    return f"^(?:DTSTART:{_WALL}\\r?\\n)?(?:RRULE:)?(?:{'|'.join(branches)})$"
