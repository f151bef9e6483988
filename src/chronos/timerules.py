"""A ChronosJob's spec (and its ChronosCalendar's) as the schedule engine's pure rules.

One home for the translation both the operator and the REST facade need (``H`` is
resolved by ``chronos.models.resolve``): the engine's ``TimeRules`` of a job's spec, and
the engine's ``Calendar`` of a ChronosCalendar's spec. No I/O: callers read the objects
(each with its own credentials) and pass them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from chronos.models.chronosjob import ChronosJobSpec, Schedule
from chronos.models.resolve import Job, resolved_cron, schedule_path
from chronos.models.timing import ScheduleMode
from chronos.models.wire import TIME_ZONE
from chronos.schedule import describe
from chronos.schedule.calendar import WEEKDAY_NUMBERS, Calendar, CalendarError, parse_ics
from chronos.schedule.occurrences import ScheduleRule, TimeRules, operator_mode

__all__ = [
    "calendar_of",
    "describe_rule",
    "describe_rules",
    "schedule_mode",
    "schedule_rule",
    "time_rules",
]


def schedule_rule(schedule: Schedule, job: Job, path: str = "schedule") -> ScheduleRule:
    """One schedule (from ``spec.all_schedules()``, named) as the engine's rule, its
    cron's ``H`` resolved for ``job``."""
    cron = None if schedule.rrule is not None else resolved_cron(schedule, job, path)
    return ScheduleRule(schedule.name or "", cron, schedule.rrule)


def time_rules(
    spec: ChronosJobSpec,
    *,
    job: Job,
    zone: str,
    calendar: Calendar | None,
    schedules: Sequence[ScheduleRule] | None = None,
) -> TimeRules:
    """The engine's rules of ``spec`` (``job``: its ``(namespace, name)``, what ``H`` is
    hashed from; ``zone``: the job's, its default applied;
    ``calendar``: its ChronosCalendar, read by the caller; ``schedules``: its rules when
    the caller resolved them already, e.g. the operator's plan). Raises
    :class:`~chronos.schedule.ScheduleError` for an ``H`` that cannot be resolved."""
    if schedules is None:
        schedules = [
            schedule_rule(s, job, schedule_path(spec, i))
            for i, s in enumerate(spec.all_schedules())
        ]
    dst = spec.effective_dst_policy()
    return TimeRules(
        schedules=tuple(schedules),
        zone=zone,
        calendar=calendar,
        on_excluded=spec.effective_on_excluded().value,
        spring_forward=dst.spring_forward.value,
        fall_back=dst.fall_back.value,
        active_from=spec.active_from,
        active_until=spec.active_until,
    )


def describe_rule(rule: ScheduleRule) -> str:
    """One schedule in words (an RRULE as itself)."""
    return describe(rule.cron) if rule.cron is not None else f"RRULE {rule.rrule}"


def describe_rules(rules: TimeRules) -> str:
    """The job's schedules in words, ``; ``-separated: what the REST facade's preview and
    the kubectl plugin's describe say."""
    return "; ".join(describe_rule(r) for r in rules.schedules)


def schedule_mode(rules: TimeRules, rule: ScheduleRule, *, queues: bool = False) -> ScheduleMode:
    """Who fires ``rule``'s slots: the CronJob controller, or the operator (an RRULE, a
    calendar, a DST policy other than Kubernetes', or ``queues``: concurrencyPolicy
    Enqueue, whose slots wait for the active run, ``models.queue.enqueues``; its CronJob
    then stays suspended). Only whether ``rules`` has a calendar matters, not which days
    it excludes: a stand-in (``Calendar(name)``) for a calendar not read yet gives the
    same answer."""
    own = queues or operator_mode(rules, rule)
    return ScheduleMode.OPERATOR if own else ScheduleMode.CRON_JOB


def calendar_of(name: str, spec: Mapping[str, Any], ics: str | None = None) -> Calendar:
    """The engine's Calendar of a ChronosCalendar's spec (camelCase, as stored; ``ics``:
    the text its ``ics.configMapRef`` names). Raises :class:`CalendarError` (line 0
    for the spec's own fields) for what the CRD's schema should have refused or an
    ``.ics`` that cannot be read."""
    try:
        dates = {date.fromisoformat(d) for d in spec.get("excludedDates") or []}
        ranges = tuple(
            (date.fromisoformat(r["from"]), date.fromisoformat(r["to"]))
            for r in spec.get("excludedRanges") or []
        )
        yearly = {
            (int(m), int(d)) for m, d in (x.split("-") for x in spec.get("yearlyDates") or [])
        }
        weekdays = {WEEKDAY_NUMBERS[x.lower()] for x in spec.get("excludedWeekdays") or []}
    except (KeyError, ValueError, AttributeError, TypeError) as exc:
        raise CalendarError(0, f"calendar {name}: {exc}") from None
    if ics is not None:
        more, more_yearly = parse_ics(ics)
        dates |= more
        yearly |= more_yearly
    return Calendar(
        name=name,
        zone=spec.get(TIME_ZONE),
        dates=frozenset(dates),
        ranges=ranges,
        yearly=frozenset(yearly),
        weekdays=frozenset(weekdays),
    )
