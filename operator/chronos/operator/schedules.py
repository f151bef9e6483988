"""A job's schedules, its active window and its suspension: pure decisions.

Issue 19. Each schedule of ``spec.schedules`` (or the single ``spec.schedule``) gets a
CronJob of its own (``naming.schedule_cronjob_name``); ``H`` in a cron is resolved from
``"<namespace>/<name>/<schedule name>"`` (``chronos.timerules``, shared with the REST
facade's previews) before anything else sees it, so the CronJob,
the status and every preview show the same resolved cron. ``activeFrom``/``activeUntil``
and ``suspendUntil`` suspend every CronJob of the job outside the time it may run
(``window``); the operator asks its work queue to come back at the next boundary
(``Window.next_change``), and resumes there with the schedule clock reset, as for any
resume, so a slot that passed while suspended never fires late.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chronos.models.chains import chain_only
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.queue import enqueues
from chronos.models.resolve import STAND_IN, check_min_interval, schedule_field, schedule_path
from chronos.models.timing import ScheduleMode, ScheduleStatus, default_schedule_name
from chronos.operator.naming import schedule_cronjob_name
from chronos.schedule import ScheduleError, describe, validate_time_zone
from chronos.schedule.calendar import Calendar
from chronos.schedule.occurrences import ScheduleRule, Slot, TimeRules, slots
from chronos.schedule.rrule import parse_rrule
from chronos.timerules import schedule_mode, schedule_rule, time_rules
from chronos.times import rfc3339

Mode = ScheduleMode
CRONJOB_MODE = ScheduleMode.CRON_JOB
OPERATOR_MODE = ScheduleMode.OPERATOR

#: Ready reasons (the CronJobs are in place) when they do not run now.
SUSPENDED = "Suspended"  # spec.enabled is false
INACTIVE = "Inactive"  # outside activeFrom/activeUntil
SUSPENDED_UNTIL = "SuspendedUntil"  # spec.suspendUntil is ahead
RESUMED = "Resumed"  # the Event when a suspension ends
WINDOW_CLOSED = "ActiveWindowClosed"  # the Event when activeUntil passes


@dataclass(frozen=True)
class Window:
    """Whether the job's CronJobs run at ``now``, why not, and when that may change."""

    running: bool
    #: None while running; else SUSPENDED, INACTIVE or SUSPENDED_UNTIL.
    reason: str | None
    message: str
    #: The next instant after ``now`` at which ``running`` may change (a boundary of the
    #: window or the end of the suspension); None if none is ahead.
    next_change: datetime | None


def window(
    *,
    enabled: bool,
    active_from: datetime | None,
    active_until: datetime | None,
    suspend_until: datetime | None,
    suspend_reason: str | None,
    now: datetime,
) -> Window:
    """The job's state at ``now``: activeFrom is inclusive, activeUntil and suspendUntil
    exclusive (a job suspended until 09:00 runs its 09:00 slot)."""
    ahead = [t for t in (active_from, active_until, suspend_until) if t is not None and t > now]
    change = min(ahead) if ahead else None
    if not enabled:
        return Window(False, SUSPENDED, "spec.enabled is false", change)
    if active_from is not None and now < active_from:
        return Window(False, INACTIVE, f"not active before {rfc3339(active_from)}", change)
    if active_until is not None and now >= active_until:
        return Window(False, INACTIVE, f"not active since {rfc3339(active_until)}", change)
    if suspend_until is not None and now < suspend_until:
        why = f": {suspend_reason}" if suspend_reason else ""
        return Window(
            False, SUSPENDED_UNTIL, f"suspended until {rfc3339(suspend_until)}{why}", change
        )
    return Window(True, None, "", change)


def last_boundary(
    *,
    active_from: datetime | None,
    suspend_until: datetime | None,
    now: datetime,
) -> datetime | None:
    """The newest boundary at or before ``now`` that lets the job run (the window opened,
    the suspension ended), if any."""
    passed = [t for t in (active_from, suspend_until) if t is not None and t <= now]
    return max(passed) if passed else None


def clock_reset_time(now: datetime, boundary: datetime | None, grace: timedelta) -> datetime:
    """What a resuming CronJob's lastScheduleTime is set to.

    ``now``, so no slot that passed while suspended fires (kubernetes#63371); but when the
    resume comes within ``grace`` of the boundary that caused it (the timer fires a few
    milliseconds late), one second before the boundary, so a slot exactly at it — the
    first one of the window, 09:00 of a suspension until 09:00 — still runs.
    """
    if boundary is not None and timedelta(0) <= now - boundary <= grace:
        return boundary - timedelta(seconds=1)
    return now


# ------------------------------------------------------------------ the schedules

#: The schedule a suspended CronJob of an RRULE schedule holds: the CronJob owns the
#: Job template and the Jobs, the operator fires the occurrences (operator mode), and a
#: CronJob needs some valid schedule. Never fires while suspended.
RRULE_PLACEHOLDER_CRON = "0 0 1 1 *"


@dataclass(frozen=True)
class PlannedSchedule:
    """One schedule of a job as the operator runs it."""

    index: int
    name: str
    #: The effective cron, ``H`` resolved; None for an RRULE.
    cron: str | None
    rrule: str | None
    mode: Mode
    #: Its CronJob's name.
    cronjob: str
    #: In words, with the zone (the Ready message).
    description: str

    @property
    def cronjob_schedule(self) -> str:
        """What its CronJob's spec.schedule holds."""
        return self.cron if self.cron is not None else RRULE_PLACEHOLDER_CRON

    @property
    def rule(self) -> ScheduleRule:
        """The engine's form of the schedule."""
        return ScheduleRule(self.name, self.cron, self.rrule)

    def status(self) -> ScheduleStatus:
        return ScheduleStatus(
            name=self.name,
            cron=self.cron,
            rrule=self.rrule,
            mode=self.mode,
            cron_job_name=self.cronjob,
        )


def plan_schedules(
    spec: ChronosJobSpec,
    *,
    namespace: str,
    name: str,
    zone: str,
    min_interval_seconds: int,
) -> list[PlannedSchedule]:
    """Every schedule of the job, resolved (``timerules.schedule_rule``: ``H`` for this
    job), checked, and with its mode (``timerules.schedule_mode``). Raises
    ``ScheduleError`` naming the field (``schedules[1].cron`` …) for a bad cron, ``H``
    item or RRULE, or runs closer than ``min_interval_seconds``."""
    validate_time_zone(zone)
    if chain_only(spec):
        # No schedule: one suspended CronJob holds the Job template the chain runs are
        # made from (as an RRULE's does); nothing fires on time.
        return [
            PlannedSchedule(
                0,
                default_schedule_name(0),
                None,
                None,
                OPERATOR_MODE,
                schedule_cronjob_name(name, default_schedule_name(0), 0),
                "after runs of its upstream jobs (chain-only, spec.after)",
            )
        ]
    rules: list[ScheduleRule] = []
    for index, schedule in enumerate(spec.all_schedules()):
        path = schedule_path(spec, index)
        if schedule.rrule is not None:
            try:
                parse_rrule(schedule.rrule)
            except ScheduleError as exc:
                raise ScheduleError(f"{path}.rrule", exc.reason) from None
        rules.append(schedule_rule(schedule, (namespace, name), path))
    whole = job_rules(spec, rules, zone)
    planned: list[PlannedSchedule] = []
    for index, (schedule, rule) in enumerate(zip(spec.all_schedules(), rules, strict=True)):
        if rule.cron is not None:
            field = schedule_field(schedule, schedule_path(spec, index))
            check_min_interval(rule.cron, field, min_interval_seconds)
            words = f"{describe(rule.cron)} ({zone})"
        else:
            words = f"RRULE {rule.rrule} ({zone})"
        planned.append(
            PlannedSchedule(
                index,
                rule.name,
                rule.cron,
                rule.rrule,
                schedule_mode(whole, rule, queues=enqueues(spec)),
                schedule_cronjob_name(name, rule.name, index),
                words,
            )
        )
    return planned


def job_rules(
    spec: ChronosJobSpec,
    schedules: Sequence[PlannedSchedule] | Sequence[ScheduleRule],
    zone: str,
    calendar: Calendar | None = None,
) -> TimeRules:
    """The engine's form of the job whose schedules were resolved (``timerules``'s
    ``time_rules`` over them). ``calendar``: the loaded calendar; without it a job with a
    ``calendarRef`` gets a stand-in that excludes nothing — enough for the modes, and
    replaced by the loaded one before any slot is computed (``Calendars.apply``, and
    ``operate`` reads it itself)."""
    if calendar is None and spec.calendar_ref is not None:
        calendar = Calendar(spec.calendar_ref.name)
    rules = [s.rule if isinstance(s, PlannedSchedule) else s for s in schedules]
    # A chain-only job's placeholder has neither form: no slots.
    rules = [r for r in rules if r.cron is not None or r.rrule is not None]
    return time_rules(spec, job=STAND_IN, zone=zone, calendar=calendar, schedules=rules)


def next_slots(
    rules: TimeRules,
    now: datetime,
    *,
    limit: int,
    suspended_until: datetime | None = None,
    anchor: datetime | None = None,
) -> list[Slot]:
    """The next ``limit`` runs of the job after ``now`` (merged over its schedules, after
    every rule; skipped slots left out), none before the end of a suspension."""
    after = now
    if suspended_until is not None and suspended_until > now:
        # The end is exclusive: a slot at suspendUntil runs (``clock_reset_time``).
        after = suspended_until - timedelta(microseconds=1)
    return slots(rules, after, limit=limit, anchor=anchor, runs_only=True)


def ready_message(planned: tuple[PlannedSchedule, ...] | list[PlannedSchedule]) -> str:
    """What the Ready condition says runs: the CronJob of each schedule and when."""
    if len(planned) == 1 and planned[0].mode == CRONJOB_MODE:
        return f"CronJob {planned[0].cronjob} runs {planned[0].description}"
    parts = []
    for p in planned:
        who = "the operator starts" if p.mode == OPERATOR_MODE else "runs"
        parts.append(f"{p.name}: CronJob {p.cronjob} {who} {p.description}")
    return "; ".join(parts)


# ------------------------------------------------------------------ the suspension


@dataclass(frozen=True)
class SuspensionState:
    """status.suspension as it should be, and whether the suspension ended just now
    (the operator posts an Event then)."""

    until: datetime | None
    reason: str | None
    resumed_at: datetime | None
    resumed_now: bool


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def suspension(
    *,
    until: datetime | None,
    reason: str | None,
    stored_until: str | None,
    stored_reason: str | None,
    stored_resumed_at: str | None,
    now: datetime,
) -> SuspensionState | None:
    """status.suspension for spec.suspendUntil ``until`` at ``now``, given the stored one.

    None: nothing to record (no suspension, none before). A suspension whose end passed
    (or whose suspendUntil was removed before it) is resumed once: ``resumed_at`` is the
    time the operator noticed, and the record stays as the last suspension.
    """
    old_until, old_resumed = _time(stored_until), _time(stored_resumed_at)
    if until is None:
        if old_until is None:
            return None
        if old_resumed is not None:  # the last suspension, kept
            return SuspensionState(old_until, stored_reason, old_resumed, False)
        # suspendUntil removed before its time: the job resumed now.
        return SuspensionState(old_until, stored_reason, now, True)
    same = old_until is not None and old_until == until
    if now < until:
        return SuspensionState(until, reason, None, False)
    if same and old_resumed is not None:
        return SuspensionState(until, reason, old_resumed, False)
    return SuspensionState(until, reason, now, True)


def next_boundary(spec: Mapping[str, object], now: datetime) -> datetime | None:
    """The next instant at which a job's window opens or closes or its suspension ends,
    read from the raw spec (cheap: every sync asks, to keep its timer armed)."""
    ahead = []
    for key in ("activeFrom", "activeUntil", "suspendUntil"):
        raw = spec.get(key)
        if isinstance(raw, str):
            try:
                when = datetime.fromisoformat(raw)
            except ValueError:
                continue  # not a time: the reconcile reports the spec
            if when.tzinfo is not None and when > now:
                ahead.append(when)
    return min(ahead) if ahead else None
