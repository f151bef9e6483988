"""Wall times at clock changes: which instants a wall time runs at, under a DST policy.

A schedule names wall times ("02:30 every day"); twice a year a zone with daylight saving
has a wall time that does not exist (spring forward: 02:00 jumps to 03:00) or one that
happens twice (fall back: 03:00 goes back to 02:00). The policies:

* spring forward: ``Skip`` (the Kubernetes CronJob controller's behaviour: the wall time
  does not run that day) or ``RunAtNextValidTime`` (it runs at the first instant after the
  gap: 02:30 runs at 03:00, when the clocks jump);
* fall back: ``RunTwice`` (Kubernetes: at both instants) or ``RunOnce`` (the first only).

Everything is computed with ``zoneinfo`` (``fold``), so it holds for any change of
offset, not only one-hour DST (Lord Howe's 30 minutes, a zone moving its standard time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from chronos.schedule.errors import ScheduleError
from chronos.schedule.zonedata import offset_changes

__all__ = [
    "FALL_BACK",
    "FALL_BACK_POLICIES",
    "SPRING_FORWARD",
    "SPRING_FORWARD_POLICIES",
    "Transition",
    "check_policies",
    "instants",
    "resolve",
    "transitions",
    "wall_kind",
]

SKIP: Final = "Skip"
RUN_AT_NEXT_VALID_TIME: Final = "RunAtNextValidTime"
RUN_TWICE: Final = "RunTwice"
RUN_ONCE: Final = "RunOnce"
SPRING_FORWARD_POLICIES: Final = (SKIP, RUN_AT_NEXT_VALID_TIME)
FALL_BACK_POLICIES: Final = (RUN_TWICE, RUN_ONCE)
#: The defaults: what the CronJob controller does.
SPRING_FORWARD: Final = SKIP
FALL_BACK: Final = RUN_TWICE

_HOUR = 3600


def check_policies(spring: str, fall: str) -> None:
    """Raise :class:`ScheduleError` naming the field for an unknown policy."""
    if spring not in SPRING_FORWARD_POLICIES:
        raise ScheduleError(
            "dstPolicy.springForward",
            f"must be one of {', '.join(SPRING_FORWARD_POLICIES)}, got {spring!r}",
        )
    if fall not in FALL_BACK_POLICIES:
        raise ScheduleError(
            "dstPolicy.fallBack", f"must be one of {', '.join(FALL_BACK_POLICIES)}, got {fall!r}"
        )


def _resolve(wall: datetime, zone: ZoneInfo, fold: int) -> tuple[datetime, bool]:
    """The UTC instant of ``wall`` read with ``fold``, and whether it reads back as ``wall``."""
    instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    return instant, instant.astimezone(zone).replace(tzinfo=None) == wall


def wall_kind(wall: datetime, zone: ZoneInfo) -> str:
    """``"normal"``, ``"gap"`` (the wall time does not exist) or ``"repeated"``."""
    return resolve(wall, zone, SKIP, RUN_ONCE)[0]


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after the gap that holds ``wall`` (when the clocks jump).

    The two readings of a wall time in a gap straddle the change: with the offset from
    before the change it lands after it, with the offset from after it lands before.
    The change is found between them by bisection on whole seconds.
    """
    late, _ = _resolve(wall, zone, 0)
    early, _ = _resolve(wall, zone, 1)
    if early > late:
        early, late = late, early
    lo, hi = int(early.timestamp()), int(late.timestamp())
    offset_hi = datetime.fromtimestamp(hi, zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == offset_hi:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def resolve(wall: datetime, zone: ZoneInfo, spring: str, fall: str) -> tuple[str, list[datetime]]:
    """``instants`` with the kind of wall time (``wall_kind``) found on the way."""
    first, first_ok = _resolve(wall, zone, 0)
    second, second_ok = _resolve(wall, zone, 1)
    if first_ok and second_ok:
        if first == second:
            return "normal", [first]
        both = sorted((first, second))
        return "repeated", (both if fall == RUN_TWICE else both[:1])
    if first_ok or second_ok:
        return "normal", [first if first_ok else second]
    return "gap", ([] if spring == SKIP else [_gap_end(wall, zone)])


def instants(wall: datetime, zone: ZoneInfo, spring: str, fall: str) -> list[datetime]:
    """The instants (aware, UTC, ascending) at which ``wall`` (naive, in ``zone``) runs.

    One instant for an ordinary wall time; for a wall time in a spring-forward gap none
    (``Skip``) or the end of the gap (``RunAtNextValidTime``); for a repeated wall time
    both (``RunTwice``) or the first (``RunOnce``).
    """
    return resolve(wall, zone, spring, fall)[1]


@dataclass(frozen=True)
class Transition:
    """A change of the zone's UTC offset, for previews."""

    instant: datetime  # aware UTC: the first instant under the new offset
    before: timedelta  # the offset until then
    after: timedelta  # the offset from then on

    @property
    def wall_before(self) -> datetime:
        """The wall clock reading at the change under the old offset (naive): ``02:00``."""
        return (self.instant + self.before).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        """The wall clock reading at the change under the new offset (naive): ``03:00``."""
        return (self.instant + self.after).replace(tzinfo=None)

    @property
    def forward(self) -> bool:
        """Spring forward: wall times between the two readings do not exist."""
        return self.after > self.before

    def describe(self) -> str:
        """``"clocks go forward 02:00 → 03:00"`` / ``"clocks go back 03:00 → 02:00"``."""
        way = "forward" if self.forward else "back"
        return (
            f"clocks go {way} {self.wall_before:%H:%M} → {self.wall_after:%H:%M}"
            f" ({self.wall_before:%Y-%m-%d})"
        )


def _offset(unix: int, zone: ZoneInfo) -> timedelta:
    offset = datetime.fromtimestamp(unix, zone).utcoffset()
    return offset if offset is not None else timedelta(0)


def _candidates(zone: ZoneInfo, start: int, end: int) -> list[int]:
    """Instants near which the offset may change in ``(start, end]`` (zonedata's list,
    approximate by up to two days), or hourly samples when the zone file is not known."""
    changes = offset_changes(zone.key) if zone.key else None
    if changes is not None:
        return changes.between(start - 2 * 86400, end + 2 * 86400)
    return list(range(start, end + _HOUR, _HOUR))


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """Every change of ``zone``'s offset at an instant in ``(start, end]`` (aware
    datetimes), ascending."""
    lo, hi = int(start.timestamp()), int(end.timestamp())
    found: dict[int, Transition] = {}
    for candidate in _candidates(zone, lo, hi):
        # An approximate instant is within two days of the real one: walk that window
        # in hours (no zone changes its offset twice within an hour) and bisect.
        window_lo, window_hi = max(lo, candidate - 2 * 86400), min(hi, candidate + 2 * 86400)
        t = window_lo
        while t < window_hi:
            u = min(t + _HOUR, window_hi)
            before, after = _offset(t, zone), _offset(u, zone)
            if before != after:
                a, b = t, u
                while b - a > 1:
                    mid = (a + b) // 2
                    if _offset(mid, zone) == before:
                        a = mid
                    else:
                        b = mid
                found[b] = Transition(datetime.fromtimestamp(b, UTC), before, after)
            t = u
    return [found[k] for k in sorted(found)]
