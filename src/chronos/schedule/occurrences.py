"""The slots of a job: when each of its schedules runs, after every time rule.

One function, :func:`slots`, answers "when does this job run next?" for previews, status,
the operator's own firing (operator mode), catch-up and backfill. Per schedule it takes
the schedule's occurrences (cron, ``@every`` or RRULE), applies the DST policy to their
wall times, then the calendar (skip or move to the next included day), and merges the
schedules by instant; the active window (``active_from`` inclusive, ``active_until``
exclusive) drops what lies outside.

Two sources of cron occurrences, by who is the clock (:func:`operator_mode`):

* native mode (the CronJob controller fires): the controller's own algorithm, the robfig
  port ``chronos.schedule.cron`` (its quirks in zones whose clocks change at midnight or by
  half an hour included), so previews say what the controller will do; DST notes and the
  wall times it skips are added around it;
* operator mode (the operator fires): the cron's wall times, enumerated, each turned into
  instants by the DST policy (``chronos.schedule.dst``). With the default policies this
  equals the controller's answer wherever robfig is exact (property-tested).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from chronos.schedule.calendar import Calendar
from chronos.schedule.cron import (
    STAR_BIT,
    CronSchedule,
    next_run_times,
    parse_cron_cached,
    validate_time_zone,
)
from chronos.schedule.dst import (
    FALL_BACK,
    RUN_TWICE,
    SKIP,
    SPRING_FORWARD,
    check_policies,
    resolve,
    transitions,
)
from chronos.schedule.errors import ScheduleError
from chronos.schedule.hashed import has_hashed
from chronos.schedule.rrule import RRule, parse_rrule
from chronos.schedule.zonedata import offset_changes

__all__ = [
    "MOVE",
    "ON_EXCLUDED",
    "SKIP",
    "ScheduleRule",
    "Slot",
    "TimeRules",
    "operator_mode",
    "slots",
]

#: ``onExcluded`` values.
MOVE = "NextBusinessDay"
ON_EXCLUDED = (SKIP, MOVE)
#: How far ahead a search looks before it gives up (robfig's own limit is five years).
HORIZON_YEARS = 5
#: The most wall times one call examines (a rule that matches nothing, a calendar that
#: excludes every day): the answer is then cut short rather than the caller kept waiting.
MAX_STEPS = 200_000
#: How many runs a native schedule takes from ``next_run_times`` at once: the count that
#: status shows (operator NEXT_RUNS_SHOWN), so its memo is shared with status.
NATIVE_BATCH = 5


@dataclass(frozen=True)
class ScheduleRule:
    """One schedule of a job: a cron (``H`` already resolved) or an RRULE."""

    name: str
    cron: str | None
    rrule: str | None


@dataclass(frozen=True)
class TimeRules:
    """Everything that decides when a job runs (the pure form of its spec)."""

    schedules: tuple[ScheduleRule, ...]
    zone: str
    calendar: Calendar | None = None
    on_excluded: str = SKIP
    spring_forward: str = SPRING_FORWARD
    fall_back: str = FALL_BACK
    active_from: datetime | None = None
    active_until: datetime | None = None


@dataclass(frozen=True)
class Slot:
    """One occurrence of one schedule, after every rule."""

    instant: datetime  # aware UTC: when it runs
    wall: datetime  # naive, the job's zone: the wall time it runs at
    offset: timedelta  # the zone's UTC offset at ``instant``
    schedule: str
    action: Literal["run", "skip"]
    note: str | None  # why it is moved, skipped or special (DST, calendar)
    original: datetime | None  # the slot's first wall time when moved


def operator_mode(rules: TimeRules, schedule: ScheduleRule) -> bool:
    """Whether the operator, not the CronJob controller, must fire this schedule.

    An RRULE, a calendar or a non-default DST policy need the operator; ``@every`` counts
    elapsed time, so a DST policy does not change it and it stays native without a
    calendar.
    """
    if schedule.rrule is not None or rules.calendar is not None:
        return True
    if schedule.cron is not None and schedule.cron.startswith("@every"):
        return False
    return rules.spring_forward != SPRING_FORWARD or rules.fall_back != FALL_BACK


# --------------------------------------------------------------------------------------
# Occurrences of one schedule, before the calendar: (instant, wall, note, original)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    instant: datetime
    wall: datetime
    action: Literal["run", "skip"]
    note: str | None = None
    original: datetime | None = None


def _hm(wall: datetime) -> str:
    return f"{wall:%H:%M}"


def _from_walls(
    walls: Iterator[datetime], zone: ZoneInfo, spring: str, fall: str
) -> Iterator[_Item]:
    """Wall times (ascending) to items (ascending by instant) under the DST policy.

    The first instants of successive wall times ascend; a repeated wall time's second
    instant comes after the first instants of every wall time of the repeated hour, so
    it waits in ``pending`` until a later first instant passes it.
    """
    pending: list[tuple[datetime, int, _Item]] = []
    order = 0
    for wall in walls:
        kind, found = resolve(wall, zone, spring, fall)
        items: list[_Item] = []
        if kind == "gap":
            if found:
                note = f"DST: {_hm(wall)} does not exist on {wall:%Y-%m-%d}; runs at "
                at = found[0].astimezone(zone).replace(tzinfo=None)
                items.append(_Item(found[0], at, "run", note + _hm(at), wall))
            else:
                end = _gap_end_instant(wall, zone)
                note = f"DST: {_hm(wall)} does not exist on {wall:%Y-%m-%d}; skipped"
                items.append(_Item(end, wall, "skip", note))
        elif kind == "repeated":
            day = f"{wall:%Y-%m-%d}"
            if fall == RUN_TWICE:
                items.append(
                    _Item(
                        found[0],
                        wall,
                        "run",
                        f"DST: {_hm(wall)} occurs twice on {day}; runs at both, this is the first",
                    )
                )
                items.append(
                    _Item(
                        found[1],
                        wall,
                        "run",
                        f"DST: {_hm(wall)} occurs twice on {day}; runs at both, this is the second",
                    )
                )
            else:
                items.append(
                    _Item(
                        found[0],
                        wall,
                        "run",
                        f"DST: {_hm(wall)} occurs twice on {day}; runs once, at the first",
                    )
                )
        else:
            items.append(_Item(found[0], wall, "run"))
        if not items:
            continue
        while pending and pending[0][0] <= items[0].instant:
            yield heapq.heappop(pending)[2]
        yield items[0]
        for item in items[1:]:
            order += 1
            heapq.heappush(pending, (item.instant, order, item))
    while pending:
        yield heapq.heappop(pending)[2]


def _gap_end_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    return resolve(wall, zone, "RunAtNextValidTime", FALL_BACK)[1][0]


def _bits(field: int) -> int:
    return field & ~STAR_BIT


def _next_bit(bits: int, start: int) -> int | None:
    rest = bits >> start
    if not rest:
        return None
    return start + (rest & -rest).bit_length() - 1


def cron_walls(schedule: CronSchedule, after: datetime) -> Iterator[datetime]:
    """The wall times (naive, ascending) a field-based cron matches strictly after
    ``after`` (naive), for ``HORIZON_YEARS``."""
    months, hours, minutes = _bits(schedule.month), _bits(schedule.hour), _bits(schedule.minute)
    if not (months and hours and minutes):
        return
    last_year = after.year + HORIZON_YEARS
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    steps = 0
    while t.year <= last_year and steps < MAX_STEPS:
        steps += 1
        month = _next_bit(months, t.month)
        if month is None or month > 12:
            t = datetime(t.year + 1, 1, 1)
            continue
        if month != t.month:
            t = datetime(t.year, month, 1)
            continue
        if not schedule.day_matches(t.day, t.isoweekday() % 7):
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        hour = _next_bit(hours, t.hour)
        if hour is None or hour > 23:
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        if hour != t.hour:
            t = t.replace(hour=hour, minute=0)
        minute = _next_bit(minutes, t.minute)
        if minute is None or minute > 59:
            t = t.replace(minute=0) + timedelta(hours=1)
            continue
        t = t.replace(minute=minute)
        yield t
        last_year = t.year + HORIZON_YEARS  # robfig's limit counts from each search
        t += timedelta(minutes=1)


def _robfig(schedule: CronSchedule, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """``Next`` after ``after``, again and again: the first ``NATIVE_BATCH`` through
    ``next_run_times`` (whose memo every job on this schedule shares), then one by one."""
    previous = after.astimezone(zone)
    for found in next_run_times(schedule.expression, zone.key, after, NATIVE_BATCH):
        yield found
        previous = found
    while True:
        following = schedule.next(previous)
        if following is None:
            return
        yield following
        previous = following


def _native(schedule: CronSchedule, zone: ZoneInfo, after: datetime) -> Iterator[_Item]:
    """The controller's own instants (robfig), with DST notes and the wall times that a
    spring-forward gap swallows (as skip items at the end of the gap)."""
    previous = after.astimezone(zone)
    for found in _robfig(schedule, zone, after):
        for change in transitions(zone, previous, found):
            if not change.forward:
                continue
            start = change.wall_before - timedelta(minutes=1)
            for wall in cron_walls(schedule, start):
                if wall >= change.wall_after:
                    break
                note = f"DST: {_hm(wall)} does not exist on {wall:%Y-%m-%d}; skipped"
                yield _Item(change.instant, wall, "skip", note)
        wall = found.replace(tzinfo=None)
        kind, both = resolve(wall, zone, SKIP, RUN_TWICE)
        repeated: str | None = None
        if kind == "repeated":
            which = "first" if found.astimezone(UTC) == both[0] else "second"
            repeated = (
                f"DST: {_hm(wall)} occurs twice on {wall:%Y-%m-%d}; runs at both,"
                f" this is the {which}"
            )
        yield _Item(found.astimezone(UTC), wall, "run", repeated)
        previous = found


def _every(
    seconds: int, zone: ZoneInfo, after: datetime, anchor: datetime | None
) -> Iterator[_Item]:
    """``@every``: anchor + k x interval (whole seconds, as robfig truncates), strictly
    after ``after``; without an anchor counted from ``after``."""
    base = (anchor if anchor is not None else after).astimezone(UTC).replace(microsecond=0)
    step = timedelta(seconds=seconds)
    k = 1
    if after >= base:
        k = int((after - base) // step) + 1
    while True:
        instant = base + k * step
        yield _Item(instant, instant.astimezone(zone).replace(tzinfo=None), "run")
        k += 1


def _occurrences(
    rules: TimeRules, zone: ZoneInfo, rule: ScheduleRule, start: datetime, anchor: datetime | None
) -> Iterator[_Item]:
    if rule.rrule is not None:
        parsed: RRule = parse_rrule(rule.rrule)
        walls = parsed.walls_after(_wall_start(zone, start), MAX_STEPS)
        return _from_walls(walls, zone, rules.spring_forward, rules.fall_back)
    if rule.cron is None:
        raise ScheduleError("schedules", f"schedule {rule.name!r} has neither cron nor rrule")
    if has_hashed(rule.cron):
        raise ScheduleError("schedule.cron", "H must be resolved (resolve_hashed) first")
    schedule = parse_cron_cached(rule.cron)
    if schedule.every_seconds is not None:
        return _every(schedule.every_seconds, zone, start, anchor)
    if not operator_mode(rules, rule):
        return _native(schedule, zone, start)
    walls = cron_walls(schedule, _wall_start(zone, start))
    return _from_walls(walls, zone, rules.spring_forward, rules.fall_back)


def _wall_start(zone: ZoneInfo, start: datetime) -> datetime:
    """A wall time from which enumerating finds every instant after ``start``: its own
    wall time, or a day earlier when the clocks may go back soon (a wall time before it
    can then still come again after ``start``)."""
    wall = start.astimezone(zone).replace(tzinfo=None)
    changes = offset_changes(zone.key) if zone.key else None
    unix = int(start.timestamp())
    if changes is not None and changes.constant(unix - 2 * 86400, unix + 2 * 86400):
        return wall - timedelta(seconds=1)
    return wall - timedelta(days=1, hours=2)


# --------------------------------------------------------------------------------------
# The calendar, the window and the merge
# --------------------------------------------------------------------------------------


def _calendar_day(calendar: Calendar, item: _Item, zone: ZoneInfo) -> date:
    if calendar.zone is None:
        return item.wall.date()
    return item.instant.astimezone(ZoneInfo(calendar.zone)).date()


def _with_calendar(
    items: Iterator[_Item], rules: TimeRules, zone: ZoneInfo, calendar: Calendar
) -> Iterator[_Item]:
    """Skip the items on excluded days, or move them to the same wall time on the next
    included day (moved items wait in ``pending`` until their instant comes)."""
    pending: list[tuple[datetime, int, _Item]] = []
    order = 0
    for item in items:
        while pending and pending[0][0] <= item.instant:
            yield heapq.heappop(pending)[2]
        if item.action == "skip":
            yield item
            continue
        day = _calendar_day(calendar, item, zone)
        if not calendar.excludes(day):
            yield item
            continue
        first = item.original if item.original is not None else item.wall
        if rules.on_excluded != MOVE:
            note = f"skipped: {day:%Y-%m-%d} is excluded by calendar {calendar.name}"
            yield replace(item, action="skip", note=note)
            continue
        target = calendar.next_included(day)
        if target is None:
            note = (
                f"skipped: {day:%Y-%m-%d} is excluded by calendar {calendar.name} and no"
                " included day follows within a year"
            )
            yield replace(item, action="skip", note=note)
            continue
        wall = item.wall + timedelta(days=(target - day).days)
        moved = list(_from_walls(iter([wall]), zone, rules.spring_forward, rules.fall_back))
        for new in moved:
            note = f"moved from {first:%Y-%m-%d} (calendar {calendar.name})"
            if new.note:
                note += f"; {new.note}"
            order += 1
            heapq.heappush(pending, (new.instant, order, replace(new, note=note, original=first)))
    while pending:
        yield heapq.heappop(pending)[2]


def _calendar_start(rules: TimeRules, zone: ZoneInfo, after: datetime) -> datetime:
    """Where to start so that slots moved from excluded days before ``after`` to after it
    are found: the first day of the run of excluded days that ends at ``after``'s day."""
    calendar = rules.calendar
    if calendar is None or rules.on_excluded != MOVE:
        return after
    day = after.astimezone(ZoneInfo(calendar.zone) if calendar.zone else zone).date()
    first = day
    for _ in range(366):
        if not calendar.excludes(first - timedelta(days=1)):
            break
        first -= timedelta(days=1)
    if first == day and not calendar.excludes(day):
        return after
    return datetime.combine(first, datetime.min.time(), zone).astimezone(UTC) - timedelta(days=1)


def _slots_of(
    rules: TimeRules, zone: ZoneInfo, rule: ScheduleRule, after: datetime, anchor: datetime | None
) -> Iterator[Slot]:
    start = _calendar_start(rules, zone, after)
    items = _occurrences(rules, zone, rule, start, anchor)
    if rules.calendar is not None:
        items = _with_calendar(items, rules, zone, rules.calendar)
    last: datetime | None = None
    for item in items:
        if item.instant <= after:
            continue
        if item.action == "run":
            if item.instant == last:
                continue  # the same instant twice is one run (and one Job name)
            last = item.instant
        offset = item.instant.astimezone(zone).utcoffset() or timedelta(0)
        yield Slot(
            item.instant, item.wall, offset, rule.name, item.action, item.note, item.original
        )


def _check(rules: TimeRules) -> ZoneInfo:
    zone = validate_time_zone(rules.zone)
    check_policies(rules.spring_forward, rules.fall_back)
    if rules.on_excluded not in ON_EXCLUDED:
        raise ScheduleError(
            "onExcluded", f"must be one of {', '.join(ON_EXCLUDED)}, got {rules.on_excluded!r}"
        )
    if not rules.schedules:
        raise ScheduleError("schedules", "at least one schedule is needed")
    return zone


def slots(
    rules: TimeRules,
    after: datetime,
    *,
    until: datetime | None = None,
    limit: int = 5,
    anchor: datetime | None = None,
    runs_only: bool = False,
) -> list[Slot]:
    """The job's slots strictly after ``after`` (aware), ascending by instant (then by
    schedule name), at most ``limit`` of them and none after ``until``.

    Skip slots (a calendar's excluded day, a wall time a spring-forward gap swallows
    under ``Skip``) are included and count toward ``limit``, unless ``runs_only``.
    ``anchor`` is where ``@every`` counts from (the last scheduled time, or the job's
    creation), as the CronJob controller does; without it, from ``after``. Slots before
    ``active_from`` or at/after ``active_until`` are left out. Raises
    :class:`ScheduleError` naming the field for an invalid zone, policy or schedule.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    zone = _check(rules)
    after = after.astimezone(UTC)
    if rules.active_from is not None and rules.active_from > after:
        # Slots from active_from on (inclusive): search from just before it.
        after = rules.active_from.astimezone(UTC) - timedelta(microseconds=1)
    streams = [_slots_of(rules, zone, rule, after, anchor) for rule in rules.schedules]
    merged = heapq.merge(*streams, key=lambda slot: (slot.instant, slot.schedule))
    result: list[Slot] = []
    for slot in merged:
        if until is not None and slot.instant > until:
            break
        if rules.active_until is not None and slot.instant >= rules.active_until:
            break
        if runs_only and slot.action != "run":
            continue
        result.append(slot)
        if len(result) >= limit:
            break
    return result
