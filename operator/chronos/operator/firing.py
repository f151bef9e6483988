"""Operator mode and catch-up: which slot Jobs to start, which slots to record, and when
to look again — decided by a pure function.

A schedule the CronJob controller cannot realise (an RRULE, a calendar, a DST policy
other than Kubernetes', see ``chronos.schedule.occurrences.operator_mode``) keeps its
CronJob suspended, as the owner and template of its Jobs; the operator starts each
slot's Job itself. The Job is named as the CronJob controller would name it,
``<cronjob>-<minutes since 1970 of the slot>``, so a slot is served at most once: a
second create is a 409, and a name already among the Jobs or the history's runIds was
served (operator restarts, failover, a retried sync).

``status.slotsFiredUntil`` is the newest slot handled (fired, skipped or recorded as
missed); the next pass lists the slots after it. A slot is fired on time if it is no
older than the job's ``startingDeadlineSeconds`` (else the operator's missed-run grace);
an older one is missed — unless ``catchUp`` takes it: ``Latest`` starts the newest
missed slot inside the window, ``All`` the oldest ``max`` of them, as Jobs with the same
slot names and trigger ``catchup``. Under ``concurrencyPolicy`` Forbid or Replace the
catch-up runs start one after another (the next when no run is active), never side by
side; the slots waiting for their turn hold ``slotsFiredUntil`` back.

The same planner serves native schedules when catch-up is asked for (the ``native`` schedules):
the CronJob controller fires on time, so nothing is fired on time; a slot still without
a Job after the grace period is a catch-up candidate (or missed).

I/O (reading the calendar, listing Jobs, creating them, writing the status) is
``chronos.operator.operate``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chronos.models.chronosjob import (
    ConcurrencyPolicy,
    RunRecord,
    RunResult,
    RunTrigger,
)
from chronos.models.timing import CatchUpPolicy
from chronos.schedule.occurrences import Slot, TimeRules, slots
from chronos.times import rfc3339

#: How far back a pass looks for slots (the longest catch-up window): an operator down
#: for a month records a week of missed slots, not a month of them.
LOOKBACK = timedelta(days=7)
#: Slots listed per pass at most (a week of one-minute slots).
SCAN_LIMIT = 7 * 24 * 60
#: Missed or skipped slots recorded per pass at most (the newest; older ones would
#: fall out of any history anyway). One Event summarises a larger count.
RECORDS_MAX = 50


@dataclass(frozen=True)
class CatchUp:
    policy: CatchUpPolicy
    window: timedelta
    max: int


@dataclass(frozen=True)
class Fire:
    """Create the Job ``job`` for ``slot`` from the CronJob ``cronjob``; first delete
    the runs in ``replace`` (concurrencyPolicy Replace)."""

    slot: Slot
    cronjob: str
    job: str
    trigger: RunTrigger
    replace: tuple[str, ...] = ()


@dataclass(frozen=True)
class FiringPlan:
    fire: list[Fire]
    #: History entries: slots skipped by a calendar, slots missed.
    records: list[RunRecord]
    #: Missed slots not recorded one by one (more than RECORDS_MAX in a pass).
    unrecorded: int
    #: The new ``slotsFiredUntil`` (None: unchanged).
    fired_until: datetime | None
    #: When a slot of these schedules is next due (None: never, or nothing to watch).
    wake_at: datetime | None


def slot_job_name(cronjob: str, instant: datetime) -> str:
    """The CronJob controller's name for the Job of a slot (``getJobName``): the
    CronJob's name and the slot's minutes since 1970."""
    return f"{cronjob}-{int(instant.timestamp()) // 60}"


def offset_text(offset: timedelta) -> str:
    """``+01:00`` / ``-04:00``: a UTC offset as RFC 3339 writes it."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def slot_record(
    slot: Slot,
    run_id: str,
    *,
    result: RunResult,
    reason: str,
    message: str,
    calendar: str | None = None,
    trigger: RunTrigger = RunTrigger.SCHEDULE,
) -> RunRecord:
    """The history entry of a slot that did not run (skipped or missed)."""
    return RunRecord(
        run_id=run_id,
        trigger=trigger,
        result=result,
        scheduled_time=slot.instant,
        reason=reason,
        message=message,
        reported_by="operator",
        schedule=slot.schedule,
        calendar=calendar,
        slot_wall_time=slot.wall.isoformat(timespec="seconds"),
        slot_offset=offset_text(slot.offset),
    )


def _skipped(slot: Slot, run_id: str, calendar: str | None) -> RunRecord:
    return slot_record(
        slot,
        run_id,
        result=RunResult.SKIPPED,
        reason="ExcludedDay" if calendar else "Skipped",
        message=slot.note or "skipped by the job's time rules",
        calendar=calendar,
    )


def _missed(slot: Slot, run_id: str, reason: str, message: str) -> RunRecord:
    return slot_record(slot, run_id, result=RunResult.MISSED, reason=reason, message=message)


def restrict(rules: TimeRules, names: Iterable[str]) -> TimeRules:
    """``rules`` with only the schedules named."""
    wanted = set(names)
    return dataclasses.replace(
        rules, schedules=tuple(s for s in rules.schedules if s.name in wanted)
    )


def plan(
    rules: TimeRules,
    *,
    cronjobs: Mapping[str, str],
    since: datetime,
    now: datetime,
    known: set[str],
    active: Iterable[str],
    policy: ConcurrencyPolicy,
    late: timedelta,
    catch_up: CatchUp | None = None,
    native: frozenset[str] = frozenset(),
) -> FiringPlan:
    """What to do at ``now`` for the slots of ``rules`` after ``since``.

    ``rules`` holds only the schedules this plan serves (``restrict``); ``cronjobs``
    maps each schedule's name to its CronJob's name; ``known`` holds the names of the
    Jobs that exist and the history's runIds; ``active`` the unfinished Jobs; ``late``
    how old a slot may be and still start on time (startingDeadlineSeconds, else the
    missed-run grace). ``native``: the schedules the CronJob controller fires on time;
    for them the plan only catches up (or records) slots left without a Job after
    ``late``.
    """
    listed = slots(rules, max(since, now - LOOKBACK), until=now, limit=SCAN_LIMIT)
    own = restrict(rules, [s.name for s in rules.schedules if s.name not in native])
    upcoming = slots(own, now, limit=1) if own.schedules else []
    return decide(
        listed,
        calendar=rules.calendar.name if rules.calendar is not None else None,
        upcoming=upcoming[0].instant if upcoming else None,
        cronjobs=cronjobs,
        since=since,
        now=now,
        known=known,
        active=active,
        policy=policy,
        late=late,
        catch_up=catch_up,
        native=native,
    )


def decide(
    listed: Sequence[Slot],
    *,
    calendar: str | None,
    upcoming: datetime | None,
    cronjobs: Mapping[str, str],
    since: datetime,
    now: datetime,
    known: set[str],
    active: Iterable[str],
    policy: ConcurrencyPolicy,
    late: timedelta,
    catch_up: CatchUp | None = None,
    native: frozenset[str] = frozenset(),
) -> FiringPlan:
    """``plan`` over the slots it listed (``listed``, after ``since`` up to ``now``) and
    the next one due (``upcoming``); ``calendar``: the calendar's name, for skips."""
    if catch_up is not None and catch_up.policy is CatchUpPolicy.NONE:
        catch_up = None
    running = list(active)
    fire: list[Fire] = []
    records: list[RunRecord] = []
    candidates: list[tuple[Slot, str]] = []
    #: The first slot not handled in this pass (a native slot within its grace, a
    #: catch-up run waiting for its turn): the mark stops before it.
    held: datetime | None = None

    def hold(slot: Slot) -> None:
        nonlocal held
        held = slot.instant if held is None else min(held, slot.instant)

    for slot in listed:
        cronjob = cronjobs[slot.schedule]
        name = slot_job_name(cronjob, slot.instant)
        if name in known:
            continue  # served: its Job exists, or it is in the history
        if slot.action == "skip":
            records.append(_skipped(slot, name, calendar))
            continue
        age = now - slot.instant
        if age <= late:
            if slot.schedule in native:
                hold(slot)  # the controller's to start; looked at again after the grace
                continue
            if running and policy is ConcurrencyPolicy.FORBID:
                records.append(
                    _missed(
                        slot,
                        name,
                        "ConcurrencyForbid",
                        f"skipped: run {', '.join(running)} was still active "
                        "(concurrencyPolicy Forbid)",
                    )
                )
                continue
            replace = tuple(running) if policy is ConcurrencyPolicy.REPLACE else ()
            fire.append(Fire(slot, cronjob, name, RunTrigger.SCHEDULE, replace))
            running = [*(r for r in running if r not in replace), name]
        elif catch_up is not None and age <= catch_up.window:
            candidates.append((slot, name))
        else:
            why = _why_missed(slot.schedule in native, late, catch_up)
            records.append(_missed(slot, name, *why))

    if candidates and catch_up is not None:
        if catch_up.policy is CatchUpPolicy.LATEST:
            chosen, passed = candidates[-1:], candidates[:-1]
            because = "superseded by a newer missed slot (catchUp Latest)"
        else:
            chosen, passed = candidates[: catch_up.max], candidates[catch_up.max :]
            because = f"beyond catchUp.max ({catch_up.max} runs)"
        for slot, name in passed:
            records.append(_missed(slot, name, "CatchUpLimit", f"not caught up: {because}"))
        one_at_a_time = policy is not ConcurrencyPolicy.ALLOW
        for slot, name in chosen:
            if one_at_a_time and running:
                hold(slot)  # its turn comes when the active run ends
                continue
            fire.append(Fire(slot, cronjobs[slot.schedule], name, RunTrigger.CATCHUP))
            running.append(name)

    handled = [s.instant for s in listed if held is None or s.instant < held]
    fired_until = max(handled) if handled else None
    if fired_until is not None and fired_until <= since:
        fired_until = None
    if len(listed) == SCAN_LIMIT and held is None:
        wake: datetime | None = now  # more slots than one pass lists: go on at once
    else:
        wake = upcoming  # native slots: housekeeping's rounds come back after the grace
    records.sort(key=lambda r: r.scheduled_time or now)
    unrecorded = max(0, len(records) - RECORDS_MAX)
    return FiringPlan(fire, records[unrecorded:], unrecorded, fired_until, wake)


def _why_missed(native: bool, late: timedelta, catch_up: CatchUp | None) -> tuple[str, str]:
    seconds = int(late.total_seconds())
    if native:
        reason, text = "NotStarted", "no Job was created for this slot"
    else:
        reason, text = (
            "StartingDeadlineExceeded",
            f"the operator could not start it within {seconds}s of its time",
        )
    if catch_up is not None:
        text += f"; older than the catch-up window ({int(catch_up.window.total_seconds())}s)"
    return reason, text


def describe(fire: Fire) -> str:
    """One line for an Event: which Job was started for which slot, and why."""
    what = "caught up" if fire.trigger is RunTrigger.CATCHUP else "started"
    return f"{what} slot {rfc3339(fire.slot.instant)} ({fire.slot.schedule}) as Job {fire.job}"
