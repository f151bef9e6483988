"""Jenkins-style ``H`` in cron fields: a stable spread of jobs that share a schedule.

``H`` stands for "a value picked from this job's hash", so hundreds of jobs written
``H 2 * * *`` run at different minutes of two o'clock instead of stampeding CoreHub at
02:00 (Jenkins' and Furiko's answer to the same problem). The forms, in any of the five
fields, alone or as items of a comma list:

* ``H``: one value in the field's range (day of month: 1-28, so every month has it);
* ``H(a-b)``: one value in ``a..b``;
* ``H/n``: every ``n`` from a hashed start in ``0..n-1`` of the field;
* ``H(a-b)/n``: every ``n`` within ``a..b`` from a hashed start in ``a..a+n-1``.

The value comes from ``sha256(seed)`` (the seed is ``"<namespace>/<name>/<schedule
name>"``), a different slice of the digest per field, so it is the same on every
operator replica, across restarts and versions: a job never moves unless it is renamed.
The result is plain cron that :func:`chronos.schedule.cron.parse_cron` accepts (checked
before it is returned): it is what the CronJob gets and what status and previews show.
"""

from __future__ import annotations

import hashlib
import re

from chronos.schedule.cron import CRON_FIELD, DOM, DOW, HOURS, MINUTES, MONTHS, parse_cron
from chronos.schedule.errors import ScheduleError

__all__ = ["has_hashed", "resolve_hashed"]

#: (name, lowest, highest, highest for a single ``H``): a single ``H`` in day of month
#: stays in 1..28 so that it occurs in every month (as Jenkins does).
_FIELDS = (
    ("minute", MINUTES.min, MINUTES.max, MINUTES.max),
    ("hour", HOURS.min, HOURS.max, HOURS.max),
    ("day of month", DOM.min, DOM.max, 28),
    ("month", MONTHS.min, MONTHS.max, MONTHS.max),
    ("day of week", DOW.min, DOW.max, DOW.max),
)
_ITEM = re.compile(r"H(?:\((?P<lo>[0-9]{1,2})-(?P<hi>[0-9]{1,2})\))?(?:/(?P<step>[0-9]{1,2}))?")
#: Bytes of the digest given to each field (5 fields x 6 bytes of the 32).
_SLICE = 6


def has_hashed(cron: str) -> bool:
    """Whether ``cron`` uses ``H`` in any field (descriptors such as ``@hourly`` never do)."""
    if cron.startswith("@"):
        return False
    return any(item.startswith("H") for field in cron.split() for item in field.split(","))


def _hash(seed: str, index: int) -> int:
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return int.from_bytes(digest[index * _SLICE : (index + 1) * _SLICE], "big")


def _resolve_item(item: str, index: int, value: int) -> str:
    name, low, high, single_high = _FIELDS[index]
    match = _ITEM.fullmatch(item)
    if match is None:
        raise ScheduleError(
            CRON_FIELD,
            f"{name} field: {item!r} is not one of H, H(a-b), H/n, H(a-b)/n",
        )
    lo_text, hi_text, step_text = match.group("lo", "hi", "step")
    if lo_text is not None and hi_text is not None:
        lo, hi = int(lo_text), int(hi_text)
        if not low <= lo <= hi <= high:
            raise ScheduleError(
                CRON_FIELD,
                f"{name} field: {item!r} needs {low} <= a <= b <= {high}",
            )
    else:
        lo, hi = low, (high if step_text is not None else single_high)
    if step_text is None:
        return str(lo + value % (hi - lo + 1))
    step = int(step_text)
    if step < 1:
        raise ScheduleError(CRON_FIELD, f"{name} field: the step of {item!r} must be at least 1")
    start = lo + value % min(step, hi - lo + 1)
    return f"{start}-{hi}/{step}"


def resolve_hashed(cron: str, seed: str) -> str:
    """``cron`` with every ``H`` item replaced by its value for ``seed``.

    An expression without ``H`` is returned unchanged (byte for byte). One with ``H`` is
    returned with its fields joined by single spaces. Raises :class:`ScheduleError`
    (field ``schedule.cron``) for a malformed ``H`` item or when the result is not a cron
    Kubernetes accepts.
    """
    if not has_hashed(cron):
        return cron
    fields = cron.split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(
            CRON_FIELD, f"H needs exactly {len(_FIELDS)} fields, found {len(fields)}"
        )
    resolved = []
    for index, field in enumerate(fields):
        value = _hash(seed, index)
        items = [
            _resolve_item(item, index, value) if item.startswith("H") else item
            for item in field.split(",")
        ]
        resolved.append(",".join(items))
    result = " ".join(resolved)
    parse_cron(result)  # raises ScheduleError naming what Kubernetes would refuse
    return result
