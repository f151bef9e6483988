"""From a ChronosJob spec to the schedule that actually runs: cron, zone and words, and
the schedule engine's form of the whole job (``time_rules``) with each schedule's mode.

Used by the operator (CronJobs, status, operator-mode firing) and the REST facade
(responses, preview), so both report the same effective schedules, the same resolved
``H``, the same modes and the same errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chronos.models.chronosjob import MIN_EVERY_SECONDS, ChronosJobSpec, Schedule
from chronos.models.timing import ScheduleMode
from chronos.schedule import ScheduleError, describe, friendly_to_cron, next_run_times, parse_cron
from chronos.schedule.calendar import Calendar
from chronos.schedule.cron import validate_time_zone
from chronos.schedule.errors import ScheduleTooFrequentError
from chronos.schedule.hashed import resolve_hashed
from chronos.schedule.interval import format_seconds, shortest_interval
from chronos.schedule.occurrences import ScheduleRule, TimeRules, operator_mode
from chronos.schedule.rrule import parse_rrule


@dataclass(frozen=True)
class ResolvedSchedule:
    cron: str
    time_zone: str
    description: str

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        return next_run_times(self.cron, self.time_zone, after, count)

    def never_fires(self, now: datetime) -> bool:
        """No run within the five years the CronJob controller looks ahead (``0 0 30 2 *``)."""
        return not self.next_runs(now, 1)


#: Text of the warning (status condition, REST status_message) for a schedule that never fires.
NEVER_FIRES_MESSAGE = (
    "the schedule {cron} never fires: no date in the next five years matches it "
    "(for example 30 February); the CronJob never starts a run"
)


def effective_cron(schedule: Schedule) -> str:
    """The cron expression of a cron or friendly schedule (an rrule has none: raises
    :class:`chronos.schedule.ScheduleError`)."""
    if schedule.cron is not None:
        return schedule.cron
    if schedule.rrule is not None:
        raise ScheduleError("schedule.rrule", "an RRULE schedule has no cron expression")
    # The model's rules guarantee both are set when neither cron nor rrule is.
    hour, minute = schedule.hour or 0, schedule.minute or 0
    return friendly_to_cron(schedule.days_of_week or [], hour, minute)


def check_min_interval(cron: str, field: str, min_interval_seconds: int) -> None:
    """Raise :class:`ScheduleTooFrequentError` (naming ``field``) if two runs of ``cron``
    can come closer than ``min_interval_seconds`` (CHRONOS_MIN_INTERVAL_SECONDS)."""
    gap = shortest_interval(parse_cron(cron)).total_seconds()
    if gap < min_interval_seconds:
        raise ScheduleTooFrequentError(
            field,
            f"runs can come {format_seconds(gap)} apart; the minimum interval between runs "
            f"is {format_seconds(min_interval_seconds)} (CHRONOS_MIN_INTERVAL_SECONDS)",
        )


def schedule_path(spec: ChronosJobSpec, index: int = 0) -> str:
    """The spec path of the schedule at ``index`` of ``spec.all_schedules()``."""
    return "schedule" if spec.schedule is not None else f"schedules[{index}]"


def schedule_field(schedule: Schedule, path: str = "schedule") -> str:
    """The spec path an error about the schedule's timing names (``path``: where the
    schedule is, see :func:`schedule_path`)."""
    return f"{path}.cron" if schedule.cron is not None else path


def resolve_schedule(
    spec: ChronosJobSpec,
    default_time_zone: str,
    min_interval_seconds: int = MIN_EVERY_SECONDS,
    index: int = 0,
) -> ResolvedSchedule:
    """The schedule at ``index`` of ``spec.all_schedules()`` (the first by default).

    Raises :class:`chronos.schedule.ScheduleError` naming the field that is wrong.
    Runs closer together than ``min_interval_seconds`` raise
    :class:`ScheduleTooFrequentError`.
    """
    schedule = spec.all_schedules()[index]
    cron = effective_cron(schedule)
    check_min_interval(
        cron, schedule_field(schedule, schedule_path(spec, index)), min_interval_seconds
    )
    zone = spec.time_zone or default_time_zone
    validate_time_zone(zone)
    return ResolvedSchedule(cron=cron, time_zone=zone, description=f"{describe(cron)} ({zone})")


def check_schedules(
    spec: ChronosJobSpec, default_time_zone: str, min_interval_seconds: int = MIN_EVERY_SECONDS
) -> None:
    """Every schedule of ``spec`` as the schedule engine judges it (the zone, each cron
    or friendly form and its interval); raises :class:`chronos.schedule.ScheduleError`
    naming the field (``schedules[1].cron``). An RRULE's meaning is the engine's
    ``parse_rrule`` (the model checks its characters)."""
    validate_time_zone(spec.time_zone or default_time_zone)
    for index, schedule in enumerate(spec.all_schedules()):
        if schedule.rrule is None:
            resolve_schedule(spec, default_time_zone, min_interval_seconds, index)


# ----------------------------------------------------------------- the engine's form


def hash_seed(namespace: str, name: str, schedule: str) -> str:
    """What ``H`` in a schedule's cron is hashed from (stable: a job's schedules move only
    when the job or the schedule is renamed)."""
    return f"{namespace}/{name}/{schedule}"


def schedule_rule(spec: ChronosJobSpec, index: int, *, namespace: str, name: str) -> ScheduleRule:
    """The engine's form of the schedule at ``index`` of ``spec.all_schedules()``: its name,
    its cron with ``H`` resolved from :func:`hash_seed` (what its CronJob, the status and
    every preview show), or its RRULE, parsed. Raises :class:`ScheduleError` naming the
    field (``schedules[1].cron``, ``schedules[1].rrule``). The minimum interval is the
    caller's to check (:func:`check_min_interval`)."""
    schedule = spec.all_schedules()[index]
    label = schedule.name or ""  # all_schedules names every schedule
    path = schedule_path(spec, index)
    if schedule.rrule is not None:
        try:
            parse_rrule(schedule.rrule)
        except ScheduleError as exc:
            raise ScheduleError(f"{path}.rrule", exc.reason) from None
        return ScheduleRule(label, None, schedule.rrule)
    try:
        cron = resolve_hashed(effective_cron(schedule), hash_seed(namespace, name, label))
    except ScheduleError as exc:
        raise ScheduleError(schedule_field(schedule, path), exc.reason) from None
    return ScheduleRule(label, cron, None)


def time_rules(
    spec: ChronosJobSpec,
    *,
    namespace: str,
    name: str,
    zone: str,
    calendar: Calendar | None = None,
    schedules: Sequence[ScheduleRule] | None = None,
) -> TimeRules:
    """The engine's form of the job: its schedules (``schedules`` when the caller resolved
    them already, else :func:`schedule_rule` of each), zone, calendar, DST policy and
    active window.

    ``calendar``: the job's ChronosCalendar as loaded. Without it, a job with a
    ``calendarRef`` gets a stand-in that excludes nothing: enough for the modes (a
    calendar puts every schedule in operator mode), not for its slots — whoever computes
    runs must load the calendar (the operator does; nothing runs until it can)."""
    if schedules is None:
        schedules = [
            schedule_rule(spec, i, namespace=namespace, name=name)
            for i in range(len(spec.all_schedules()))
        ]
    if calendar is None and spec.calendar_ref is not None:
        calendar = Calendar(spec.calendar_ref.name)
    dst = spec.effective_dst_policy()
    return TimeRules(
        schedules=tuple(schedules),
        zone=zone,
        calendar=calendar,
        on_excluded=str(spec.effective_on_excluded().value),
        spring_forward=str(dst.spring_forward.value),
        fall_back=str(dst.fall_back.value),
        active_from=spec.active_from,
        active_until=spec.active_until,
    )


def schedule_mode(rules: TimeRules, rule: ScheduleRule) -> ScheduleMode:
    """Who fires ``rule``'s slots: the CronJob controller, or the operator (an RRULE, a
    calendar, a DST policy other than Kubernetes'; its CronJob then stays suspended)."""
    return ScheduleMode.OPERATOR if operator_mode(rules, rule) else ScheduleMode.CRON_JOB
