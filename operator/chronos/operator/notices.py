"""What a job's channels must hear of (issue 21): pure decisions over its status.

``plan`` turns a ChronosJob (its ``spec.notify`` rules, ``spec.alerting`` thresholds,
``status.history``/``lastRun``/``activeRunStarts`` and, for the dead-man, its schedule)
into the events not yet delivered, each with a stable id; ``record_delivered`` writes
the ledger that makes a delivery happen once; ``since_mark`` says from when events
count; ``job_gauges`` gives the per-job Prometheus values. No I/O and no clock: ``now``
and the schedule (``next_slot``) are passed in. docs/notifications.md ("When events
fire") states every rule below in words; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pydantic import ValidationError

from chronos.models import wire as w
from chronos.models.jobstatus import RunResult
from chronos.models.notify import (
    LEDGER_SIZE,
    UNDELIVERED_SIZE,
    Alerting,
    Notification,
    NotificationsStatus,
    NotifyOn,
    NotifyRule,
    Undelivered,
    ledger_key,
)
from chronos.models.wire import (
    ActiveRunDict,
    ChronosJobDict,
    NotificationsStatusDict,
    RunRecordDict,
)
from chronos.operator import schedules as sch
from chronos.operator.metrics import JobGauges
from chronos.schedule.occurrences import TimeRules, slots
from chronos.times import parse_time, rfc3339

#: One delivery to make: the channel's name and the event.
Pending = tuple[str, Notification]
#: The first slot a job runs at strictly after the given instant (None: none ahead).
NextSlot = Callable[[datetime], datetime | None]

#: ``plan`` looks at no more than this many (event, channel) pairs, the newest, counting
#: those already delivered: the ledger holds twice as many, so a pair it has forgotten
#: (pushed out by newer ones) is never offered again (that would be a duplicate).
PLAN_WINDOW = LEDGER_SIZE // 2
#: ``reportedBy`` of a record the operator wrote because the runner could not.
OPERATOR = "operator"
#: Reasons of the dead-man's ``absent`` events.
NO_SUCCESS = "NoSuccessSinceSlot"
SUSPENDED_TOO_LONG = "SuspendedTooLong"
#: Results that end a run (a missed, skipped or aborted slot neither fails nor succeeds).
_ENDED = frozenset({RunResult.SUCCEEDED.value, RunResult.FAILED.value})
_FLOOR = datetime.min.replace(tzinfo=UTC)


def slot_finder(rules: TimeRules, anchor: datetime | None = None) -> NextSlot:
    """``next_slot`` for ``plan`` from the schedule engine: the job's rules (its
    calendar loaded: an excluded day is no slot) and where ``@every`` counts from."""

    def next_slot(after: datetime) -> datetime | None:
        found = slots(rules, after, limit=1, anchor=anchor, runs_only=True)
        return found[0].instant if found else None

    return next_slot


# ------------------------------------------------------------------ reading the status


def _when(record: RunRecordDict) -> datetime | None:
    """When a run happened, for ordering (``models.history.run_time`` on the dict)."""
    return (
        parse_time(record.get(w.END_TIME))
        or parse_time(record.get(w.START_TIME))
        or parse_time(record.get(w.SCHEDULED_TIME))
    )


def runs(cr: ChronosJobDict) -> list[RunRecordDict]:
    """The job's runs, oldest first: status.history and lastRun, once each by runId.

    History's entry wins: it is the merged account (``models.history.merge_run``), where
    lastRun may still say ``running`` or be the runner's alone; lastRun counts when the
    history does not have the run (yet).
    """
    status = cr.get("status") or {}
    seen: dict[str, RunRecordDict] = {}
    newest_first = list(status.get(w.HISTORY) or [])
    last = status.get(w.LAST_RUN)
    if last:
        newest_first.append(last)
    for record in newest_first:
        run_id = record.get(w.RUN_ID)
        if isinstance(run_id, str) and run_id not in seen:
            seen[run_id] = record
    ordered = list(reversed(seen.values()))  # oldest first; a run without a time stays put
    return sorted(ordered, key=lambda r: _when(r) or _FLOOR)


def streaks(records: Sequence[RunRecordDict]) -> list[int]:
    """For each run (oldest first): the consecutive failed runs ending at it (0 for a
    success; a missed, skipped, aborted or running record neither adds nor resets)."""
    out, streak = [], 0
    for record in records:
        result = record.get("result")
        if result == RunResult.FAILED:
            streak += 1
        elif result == RunResult.SUCCEEDED:
            streak = 0
        out.append(streak)
    return out


def consecutive_failures(records: Sequence[RunRecordDict]) -> int:
    """Failed runs since the last success (missed, skipped and aborted ones aside)."""
    return streaks(records)[-1] if records else 0


def last_success(records: Sequence[RunRecordDict]) -> datetime | None:
    """The end of the newest succeeded run."""
    ends = [
        _when(r) for r in records if r.get("result") == RunResult.SUCCEEDED and _when(r) is not None
    ]
    return max(e for e in ends if e is not None) if ends else None


def _alerting(cr: ChronosJobDict) -> Alerting:
    try:
        return Alerting.model_validate((cr.get("spec") or {}).get("alerting") or {})
    except ValidationError:
        return Alerting()  # the CRD refuses it; never block the other events


def _rules(cr: ChronosJobDict) -> list[NotifyRule]:
    rules = []
    for raw in (cr.get("spec") or {}).get("notify") or []:
        try:
            rules.append(NotifyRule.model_validate(raw))
        except ValidationError:
            continue  # the CRD refuses it: a rule that cannot be read notifies nobody
    return rules


# ------------------------------------------------------------------------- the events


@dataclass(frozen=True)
class _Job:
    namespace: str
    name: str
    uid: str


def _job(cr: ChronosJobDict) -> _Job:
    meta = cr.get("metadata") or {}
    return _Job(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""))


@dataclass(frozen=True)
class _Draft:
    """An event of a run before it is made a Notification (only the few ``plan`` keeps
    are: a model costs ~10 µs, and a full history holds hundreds of events)."""

    record: RunRecordDict
    event: NotifyOn
    occurred: datetime
    streak: int | None = None


def _of_record(
    job: _Job,
    record: RunRecordDict,
    event: NotifyOn,
    occurred: datetime,
    *,
    streak: int | None = None,
) -> _Draft:
    return _Draft(record, event, occurred, streak)


def _draft_id(job: _Job, draft: _Draft) -> str:
    return f"{job.uid}.{draft.record.get(w.RUN_ID) or ''}.{draft.event.value}"


def _notification(job: _Job, draft: _Draft) -> Notification:
    record, event, occurred, streak = draft.record, draft.event, draft.occurred, draft.streak
    run_id = record.get(w.RUN_ID) or ""
    bare = {
        "id": _draft_id(job, draft),
        "event": event,
        "namespace": job.namespace,
        "job": job.name,
        "job_uid": job.uid,
        "run_id": run_id,
        "consecutive_failures": streak,
        "occurred_at": occurred,
    }
    try:
        return Notification.model_validate(
            {
                **bare,
                "trigger": record.get("trigger"),
                "result": record.get("result"),
                "reason": record.get("reason"),
                "message": record.get("message"),
                "scheduled_time": parse_time(record.get(w.SCHEDULED_TIME)),
                "start_time": parse_time(record.get(w.START_TIME)),
                "end_time": parse_time(record.get(w.END_TIME)),
                "duration_seconds": _duration(record),
            }
        )
    except ValidationError:
        # A record the CRD of its day let through and the model refuses: the event
        # still goes out, with what is sure, rather than stopping every later one.
        return Notification.model_validate(bare)


def _duration(record: RunRecordDict) -> float | None:
    given = record.get(w.DURATION_SECONDS)
    if isinstance(given, int | float):
        return float(given)
    start, end = parse_time(record.get(w.START_TIME)), parse_time(record.get(w.END_TIME))
    return (end - start).total_seconds() if start and end else None


def _record_events(
    job: _Job, records: Sequence[RunRecordDict], alerting: Alerting
) -> Iterable[_Draft]:
    """failed, unreported, succeeded, recovered, missed, started and slow of finished runs."""
    expected = alerting.expected_duration_seconds
    previous = 0  # the streak before this run
    for record, streak in zip(records, streaks(records), strict=True):
        result, when = record.get("result"), _when(record)
        start = parse_time(record.get(w.START_TIME))
        if start is not None:
            yield _of_record(job, record, NotifyOn.STARTED, start)
        if when is None:
            continue
        if result == RunResult.FAILED:
            if streak >= alerting.failure_streak:
                yield _of_record(job, record, NotifyOn.FAILED, when, streak=streak)
            if record.get("reportedBy") == OPERATOR:
                yield _of_record(job, record, NotifyOn.UNREPORTED, when, streak=streak)
        elif result == RunResult.SUCCEEDED:
            yield _of_record(job, record, NotifyOn.SUCCEEDED, when, streak=0)
            if previous >= alerting.failure_streak:
                yield _of_record(job, record, NotifyOn.RECOVERED, when, streak=previous)
        elif result == RunResult.MISSED:
            yield _of_record(job, record, NotifyOn.MISSED, when)
        duration = _duration(record)
        if (
            expected is not None
            and result in _ENDED
            and duration is not None
            and duration > expected
        ):
            began = start or (when - timedelta(seconds=duration))
            yield _of_record(
                job, record, NotifyOn.SLOW, began + timedelta(seconds=expected), streak=None
            )
        previous = streak


def _active_events(
    job: _Job, active: Iterable[ActiveRunDict], alerting: Alerting, now: datetime
) -> Iterable[_Draft]:
    """started of each active run, and slow once one runs longer than expected."""
    expected = alerting.expected_duration_seconds
    for run in active:
        start = parse_time(run.get(w.START_TIME))
        if start is None or not run.get(w.RUN_ID):
            continue
        record: RunRecordDict = {
            w.RUN_ID: run.get(w.RUN_ID, ""),
            "trigger": run.get("trigger", ""),
            "result": RunResult.RUNNING.value,
            w.START_TIME: run.get(w.START_TIME),
        }
        yield _of_record(job, record, NotifyOn.STARTED, start)
        if expected is not None and start + timedelta(seconds=expected) <= now:
            yield _of_record(job, record, NotifyOn.SLOW, start + timedelta(seconds=expected))


def _window(spec: Any, now: datetime) -> sch.Window:
    """The job's window at ``now`` (``schedules.window``, read from the raw spec)."""
    return sch.window(
        enabled=spec.get("enabled") is not False,
        active_from=parse_time(spec.get("activeFrom")),
        active_until=parse_time(spec.get("activeUntil")),
        suspend_until=parse_time(spec.get("suspendUntil")),
        suspend_reason=None,
        now=now,
    )


def _absent(
    cr: ChronosJobDict,
    job: _Job,
    records: Sequence[RunRecordDict],
    alerting: Alerting,
    *,
    since: datetime,
    now: datetime,
    next_slot: NextSlot | None,
) -> Notification | None:
    """The dead-man (docs/notifications.md, "When events fire").

    Watched from ``start``: the newest of the last success's end, ``since``, the job's
    creation and the end of its last suspension (status.suspension.resumedAt, or a
    spec.suspendUntil that passed). Running:
    the first slot S after ``start``; S + absentGraceSeconds <= now fires, once for the
    episode (the id names S; S only moves when a run succeeds). Suspended (enabled false
    or suspendUntil ahead) for more than suspendedForSeconds since ``start`` and its
    newest run: fires once per suspension episode (the id names where it is counted from).
    """
    spec = cr.get("spec") or {}
    status = cr.get("status") or {}
    window = _window(spec, now)
    if window.reason == sch.INACTIVE:
        return None  # outside activeFrom/activeUntil: nothing is due
    marks = [
        since,
        last_success(records),
        parse_time((cr.get("metadata") or {}).get("creationTimestamp")),
        parse_time((status.get(w.SUSPENSION) or {}).get(w.RESUMED_AT)),
        # A suspendUntil that passed: slots before it were not due, even before the
        # operator records the resume (status.suspension.resumedAt).
        parse_time(spec.get("suspendUntil")),
    ]
    start = max((m for m in marks if m is not None and m <= now), default=since)
    if not window.running:  # spec.enabled false, or spec.suspendUntil ahead
        bound = alerting.suspended_for_seconds
        newest = max((t for t in map(_when, records) if t is not None), default=start)
        quiet = max(start, newest)
        if bound is None or quiet + timedelta(seconds=bound) > now:
            return None
        return Notification(
            id=f"{job.uid}.suspended-{rfc3339(quiet)}.absent",
            event=NotifyOn.ABSENT,
            reason=SUSPENDED_TOO_LONG,
            message=f"suspended, and no run since {rfc3339(quiet)} (over {bound}s)",
            occurred_at=quiet + timedelta(seconds=bound),
            namespace=job.namespace,
            job=job.name,
            job_uid=job.uid,
        )
    slot = next_slot(start) if next_slot is not None else None
    grace = timedelta(seconds=alerting.absent_grace_seconds)
    if slot is None or slot + grace > now:
        return None
    return Notification(
        id=f"{job.uid}.absent-{rfc3339(slot)}.absent",
        event=NotifyOn.ABSENT,
        reason=NO_SUCCESS,
        message=(
            f"no run succeeded from the slot at {rfc3339(slot)} to "
            f"{alerting.absent_grace_seconds}s after it"
        ),
        scheduled_time=slot,
        occurred_at=slot + grace,
        consecutive_failures=consecutive_failures(records),
        namespace=job.namespace,
        job=job.name,
        job_uid=job.uid,
    )


@dataclass(frozen=True)
class _Candidate:
    id: str
    event: NotifyOn
    occurred: datetime
    make: Callable[[], Notification]


def _candidates(
    cr: ChronosJobDict,
    *,
    now: datetime,
    since: datetime,
    next_slot: NextSlot | None,
    wanted: Collection[NotifyOn],
) -> list[_Candidate]:
    """The events of ``events``, each made a Notification only when asked."""
    job = _job(cr)
    alerting = _alerting(cr)
    records = runs(cr)
    status = cr.get("status") or {}
    drafts = [
        *_record_events(job, records, alerting),
        *_active_events(job, status.get(w.ACTIVE_RUN_STARTS) or [], alerting, now),
    ]
    unique: dict[str, _Candidate] = {}
    for draft in drafts:
        if draft.event in wanted and since <= draft.occurred <= now:
            key = _draft_id(job, draft)
            if key not in unique:  # a finished run's started/slow: its first
                unique[key] = _Candidate(
                    key, draft.event, draft.occurred, partial(_notification, job, draft)
                )
    if NotifyOn.ABSENT in wanted:
        absent = _absent(cr, job, records, alerting, since=since, now=now, next_slot=next_slot)
        if absent is not None and since <= absent.occurred_at <= now:
            unique[absent.id] = _Candidate(
                absent.id, absent.event, absent.occurred_at, partial(_same, absent)
            )
    return sorted(unique.values(), key=lambda c: (c.occurred, c.id))


def _same(notification: Notification) -> Notification:
    return notification


def events(
    cr: ChronosJobDict,
    *,
    now: datetime,
    since: datetime,
    next_slot: NextSlot | None = None,
    wanted: Collection[NotifyOn] = tuple(NotifyOn),
) -> list[Notification]:
    """Every event of the job of the ``wanted`` kinds that happened at or after
    ``since`` and by ``now``, oldest first, each id once."""
    found = _candidates(cr, now=now, since=since, next_slot=next_slot, wanted=wanted)
    return [c.make() for c in found]


def settled(notifications: NotificationsStatusDict | None) -> set[str]:
    """The ledger keys not to offer again: delivered, or given up."""
    ledger = notifications or {}
    done = set(ledger.get("delivered") or [])
    done |= {
        ledger_key(u.get("id", ""), u.get("channel", "")) for u in ledger.get("undelivered") or []
    }
    return done


def plan(cr: ChronosJobDict, *, now: datetime, next_slot: NextSlot | None = None) -> list[Pending]:
    """The deliveries still to make: each (channel, event) a rule of ``spec.notify``
    asks for, whose event happened at or after ``status.notifications.since`` and whose
    ``ledger_key`` is not settled; oldest first, within the newest PLAN_WINDOW pairs.

    Nothing before the operator wrote ``since`` (``since_mark``): enabling notify never
    replays the job's past. ``next_slot`` (``slot_finder``): without it there is no
    slot-based ``absent``. A channel that asks for both ``failed`` and ``unreported``
    hears of a run the runner did not report once, as ``unreported``.
    """
    status = cr.get("status") or {}
    ledger = status.get("notifications") or {}
    since = parse_time(ledger.get("since"))
    rules = _rules(cr)
    if since is None or not rules:
        return []
    wanted: dict[str, set[NotifyOn]] = {}
    for rule in rules:
        wanted.setdefault(rule.channel, set()).update(rule.on)
    found = _candidates(
        cr, now=now, since=since, next_slot=next_slot, wanted=set().union(*wanted.values())
    )
    # The runs the operator recorded (a failure the runner did not report), by the id
    # their failed event would have.
    twins = {
        c.id.removesuffix(f".{NotifyOn.UNREPORTED.value}") + f".{NotifyOn.FAILED.value}"
        for c in found
        if c.event is NotifyOn.UNREPORTED
    }
    pairs: list[tuple[str, _Candidate]] = []
    for candidate in found:
        for channel, on in wanted.items():
            if candidate.event not in on:
                continue
            if candidate.id in twins and NotifyOn.UNREPORTED in on:
                continue  # heard of as unreported
            pairs.append((channel, candidate))
    window = pairs[-PLAN_WINDOW:]
    done = settled(ledger)
    made: dict[str, Notification] = {}
    pending: list[Pending] = []
    for channel, candidate in window:
        if ledger_key(candidate.id, channel) not in done:
            if candidate.id not in made:
                made[candidate.id] = candidate.make()
            pending.append((channel, made[candidate.id]))
    return pending


# ------------------------------------------------------------------------ the ledger


def since_mark(cr: ChronosJobDict, now: datetime) -> datetime | None:
    """What status.notifications.since should hold: None without notify rules (so that
    notify configured again later starts afresh), the stored value once written, else
    ``now`` (to the second, as status times are) — events before it are never sent."""
    if not _rules(cr):
        return None
    stored = parse_time(((cr.get("status") or {}).get("notifications") or {}).get("since"))
    return stored if stored is not None else now.replace(microsecond=0)


def record_delivered(
    notifications: NotificationsStatusDict | None,
    keys: Sequence[str],
    *,
    given_up: Sequence[Undelivered] = (),
) -> NotificationsStatus:
    """The ledger with ``keys`` delivered and ``given_up`` abandoned, newest first,
    bounded (LEDGER_SIZE, UNDELIVERED_SIZE).

    A given-up key is settled too (listed in ``delivered``, and in ``undelivered`` with
    why): ``plan`` must not offer it again, or a channel that is down would be retried
    for ever. A key delivered after being given up leaves ``undelivered``.
    """
    ledger = notifications or {}
    abandoned = [ledger_key(u.id, u.channel) for u in given_up]
    fresh = list(dict.fromkeys([*keys, *abandoned]))
    old = [k for k in ledger.get("delivered") or [] if k not in set(fresh)]
    delivered = (fresh + old)[:LEDGER_SIZE]
    newly = set(keys) | set(abandoned)
    kept = []
    for raw in ledger.get("undelivered") or []:
        if ledger_key(raw.get("id", ""), raw.get("channel", "")) in newly:
            continue
        try:
            kept.append(Undelivered.model_validate(raw))
        except ValidationError:
            continue
    undelivered = ([*given_up, *kept])[:UNDELIVERED_SIZE]
    return NotificationsStatus(
        since=parse_time(ledger.get("since")),
        delivered=delivered or None,
        undelivered=undelivered or None,
    )


# ------------------------------------------------------------------------ the gauges


def job_gauges(cr: ChronosJobDict) -> JobGauges:
    """The gauges of one job, from its status alone (cheap: no model parsing)."""
    records = runs(cr)
    success = last_success(records)
    upcoming = (cr.get("status") or {}).get(w.NEXT_RUN_TIMES) or []
    following = parse_time(upcoming[0]) if upcoming else None
    return JobGauges(
        last_success=success.timestamp() if success else None,
        consecutive_failures=consecutive_failures(records),
        next_run=following.timestamp() if following else None,
        missed=frozenset(
            r.get(w.RUN_ID, "") for r in records if r.get("result") == RunResult.MISSED
        ),
    )
