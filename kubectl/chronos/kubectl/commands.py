"""One function per command: read through ``cluster``, print through ``views``.

Each takes what it prints to (``out`` for results, ``err`` for progress and notes, as
kubectl does), the viewer's zone and "now" (injected: tests choose them), and returns
the exit code.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from chronos import runnow
from chronos.contract import (
    RUN_NOW_ANNOTATION,
    RUN_NOW_TOKEN_ANNOTATION,
    TASK_CONTAINER,
)
from chronos.kubectl import views
from chronos.kubectl.cluster import Session
from chronos.kubectl.errors import CliError
from chronos.models.chronosjob import (
    GROUP,
    PLURAL,
    ChronosJobSpec,
    ConcurrencyPolicy,
    RunRecord,
    RunResult,
)
from chronos.models.history import parse_history
from chronos.schedule import ScheduleError
from chronos.schedule.calendar import Calendar, CalendarError
from chronos.schedule.occurrences import ScheduleRule, Slot, TimeRules, slots
from chronos.timerules import calendar_of, describe_rule, describe_rules, time_rules
from chronos.times import parse_time

#: How many runs ``describe`` shows ahead, and how many past ones.
DESCRIBE_AHEAD = 10
DESCRIBE_PAST = 5
#: How long ``run`` retries its guarded write against concurrent writers.
RUN_CONFLICT_SECONDS = 15.0
#: How often ``run --wait`` looks at the job and its run.
POLL_SECONDS = 1.0
#: How long ``run --wait`` waits for the pod to show the runner's exit code once the run
#: is recorded (then: 0 for succeeded, 1 otherwise).
EXIT_CODE_GRACE = 30.0
#: The runner's container in a run's pod (a container task's is ``TASK_CONTAINER``).
RUNNER_CONTAINER = "runner"
#: The concurrencyPolicy of a job that names none (the model's default, its one home).
_DEFAULT_POLICY = ChronosJobSpec.model_fields["concurrency_policy"].default
#: kubectl's name for a ChronosJob in messages (``chronosjob.chronos.gluesync.io/x``).
KIND_NAME = f"{PLURAL.removesuffix('s')}.{GROUP}"


@dataclass
class Io:
    """Where a command prints, the viewer's zone and the clock (all injected)."""

    out: TextIO
    err: TextIO
    viewer: tzinfo
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.err, flush=True)


def dump(value: Any, output: str) -> str:
    """``-o json`` / ``-o yaml``."""
    if output == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip("\n")


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items}


# ------------------------------------------------------------------------- get


def get(
    s: Session, io: Io, names: Sequence[str], namespace: str | None, labels: str | None, output: str
) -> int:
    if names:
        ns = namespace or s.namespace
        objs = [s.get_job(ns, n) for n in names]
    else:
        objs = s.list_jobs(namespace, labels)
    if output in ("json", "yaml"):
        io.print(dump(objs[0] if len(names) == 1 else _listing(objs), output))
        return 0
    if not objs:
        io.note(f"No resources found {views.where(namespace)}.")
        return 0
    all_ns = namespace is None
    io.print(
        views.get_table(
            objs, viewer=io.viewer, now=io.clock(), wide=output == "wide", all_namespaces=all_ns
        )
    )
    return 0


# ------------------------------------------------------------------------- describe


@dataclass
class Plan:
    """What ``describe`` computed of a job's time rules."""

    words: str
    zone: str
    slots: list[Slot]
    notes: list[str]


def _calendar(s: Session, namespace: str, name: str, notes: list[str]) -> Calendar:
    """The job's ChronosCalendar as the engine's (a stand-in that excludes nothing when
    it cannot be read: the note says so)."""
    try:
        found = s.get_calendar(namespace, name)
        if found is None:
            notes.append(f"calendar {name} does not exist: its excluded days are not shown")
            return Calendar(name=name)
        spec = found.get("spec") or {}
        ref = (spec.get("ics") or {}).get("configMapRef")
        ics = s.config_map_value(namespace, ref["name"], ref["key"]) if ref else None
        return calendar_of(name, spec, ics)
    except (CliError, CalendarError) as exc:
        text = exc.message if isinstance(exc, CliError) else str(exc)
        notes.append(f"calendar {name}: {text}; its excluded days are not shown")
        return Calendar(name=name)


def plan(s: Session, obj: dict[str, Any], now: datetime, count: int) -> Plan:
    """The job's next ``count`` slots by the schedule engine (DST notes, calendar)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    notes: list[str] = []
    try:
        spec = ChronosJobSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        return Plan(
            status.get("description") or "",
            status.get("timeZone") or "UTC",
            [],
            [f"the spec does not validate ({exc.error_count()} problems): no runs computed"],
        )
    zone = status.get("timeZone") or spec.time_zone or "UTC"
    if not status.get("timeZone") and not spec.time_zone:
        notes.append("the operator has not reported the zone yet: UTC assumed")
    ns, name = meta["namespace"], meta["name"]
    calendar = _calendar(s, ns, spec.calendar_ref.name, notes) if spec.calendar_ref else None
    anchor = parse_time(status.get("lastScheduleTime")) or parse_time(meta.get("creationTimestamp"))
    try:
        rules = time_rules(spec, job=(ns, name), zone=zone, calendar=calendar)
        found = slots(rules, now, limit=count, anchor=anchor)
    except ScheduleError as exc:
        return Plan(status.get("description") or "", zone, [], [f"schedule: {exc}"])
    if not spec.enabled:
        notes.append(
            "the job is suspended (enabled: false): none of these runs happen until resumed"
        )
    return Plan(describe_rules(rules), zone, found, notes)


def describe(s: Session, io: Io, namespace: str, name: str) -> int:
    obj = s.get_job(namespace, name)
    now = io.clock()
    p = plan(s, obj, now, DESCRIBE_AHEAD)
    history = parse_history((obj.get("status") or {}).get("history"))
    io.print(
        views.describe_text(
            obj,
            schedule_words=p.words,
            zone=p.zone,
            slots=p.slots,
            history=history,
            viewer=io.viewer,
            now=now,
            notes=p.notes,
            last=DESCRIBE_PAST,
        )
    )
    return 0


# ------------------------------------------------------------------------- history


def history(s: Session, io: Io, namespace: str, name: str, output: str) -> int:
    obj = s.get_job(namespace, name)
    records = parse_history((obj.get("status") or {}).get("history"))
    if output in ("json", "yaml"):
        io.print(
            dump(
                [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in records],
                output,
            )
        )
    elif records:
        io.print(views.history_table(records, io.viewer, io.clock()))
    else:
        io.note(f'chronosjob "{name}" has no runs yet.')
    return 0


# ------------------------------------------------------------------------- suspend / resume


def set_enabled(
    s: Session,
    io: Io,
    names: Sequence[str],
    namespace: str | None,
    labels: str | None,
    enabled: bool,
) -> int:
    """``suspend`` (enabled: false) or ``resume`` (enabled: true, and any suspendUntil
    cleared: resume means now), by name or by ``-l`` selector, each job on its own: one
    that fails is reported and the others are still done."""
    if bool(names) == bool(labels):
        raise CliError("name the jobs, or select them with -l (not both)")
    if names:
        ns = namespace or s.namespace
        targets = [(ns, n) for n in names]
    else:
        targets = [
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in s.list_jobs(namespace, labels)
        ]
        if not targets:
            io.note(f"No resources found {views.where(namespace)} matching {labels}.")
            return 0
    change: dict[str, Any] = {"enabled": enabled}
    if enabled:
        change |= {"suspendUntil": None, "suspendReason": None}
    word = "resumed" if enabled else "suspended"
    failed = 0
    for ns, name in targets:
        try:
            obj = s.get_job(ns, name)
            spec = obj.get("spec") or {}
            if spec.get("enabled", True) == enabled and not (enabled and spec.get("suspendUntil")):
                io.print(f"{KIND_NAME}/{name} unchanged (already {word})")
                continue
            s.patch_job(ns, name, {"spec": change})
            io.print(f"{KIND_NAME}/{name} {word}")
        except CliError as exc:
            failed += 1
            io.note(f"error: {exc.message}")
    return 1 if failed else 0


# ------------------------------------------------------------------------- run


def forbid_note(obj: dict[str, Any]) -> str | None:
    """A warning when the operator will refuse a run-now: concurrencyPolicy Forbid (the
    model's default) with a run active. Only a note: the operator decides."""
    policy = (obj.get("spec") or {}).get("concurrencyPolicy") or _DEFAULT_POLICY
    active = (obj.get("status") or {}).get("activeRuns") or []
    if policy != ConcurrencyPolicy.FORBID or not active:
        return None
    return (
        f"note: run {', '.join(active)} is active and the job's concurrencyPolicy is Forbid: "
        "the operator will refuse this request (--wait shows its answer)"
    )


def request_run(s: Session, io: Io, namespace: str, name: str, token: str) -> tuple[bool, str]:
    """Add ``token`` to the job's run-now requests (``chronos.runnow``, as the REST facade
    does), guarded by the resourceVersion read; ``(already requested, requestedAt)``."""
    deadline = time.monotonic() + RUN_CONFLICT_SECONDS
    while time.monotonic() < deadline:
        obj = s.get_job(namespace, name)
        now = io.clock()
        state = runnow.parse(obj["metadata"].get("annotations") or {}, now)
        if runnow.is_known(state, token, now):
            return True, state.pending.get(token, "")
        note = forbid_note(obj)
        if note is not None:
            io.note(note)
        annotations = runnow.request_patch(state, token, now)
        patch = {
            "metadata": {
                "resourceVersion": obj["metadata"]["resourceVersion"],
                "annotations": {**annotations, RUN_NOW_ANNOTATION: token},
            }
        }
        if s.patch_job(namespace, name, patch) is not None:
            return False, runnow.stamp(now)
    raise CliError(f'chronosjob "{name}" keeps changing; retry later')


def _record(obj: dict[str, Any], run: str) -> RunRecord | None:
    status = obj.get("status") or {}
    for record in [*parse_history([status.get("lastRun")]), *parse_history(status.get("history"))]:
        if record.run_id == run:
            return record
    return None


def _refusal(obj: dict[str, Any], served: datetime) -> RunRecord | None:
    """The history entry of a run-now the operator served without a Job (refused under
    Forbid, parameters it refuses): a run-now ``missed`` ended when it was served."""
    for record in parse_history((obj.get("status") or {}).get("history")):
        end = record.end_time
        if (
            record.trigger.value == "run-now"
            and record.result == RunResult.MISSED
            and end is not None
            and abs(end - served) <= timedelta(seconds=2)
        ):
            return record
    return None


def exit_code(pods: Sequence[dict[str, Any]]) -> int | None:
    """The runner's exit code, from the newest pod's terminated runner (or task)
    container; None when no pod shows it."""
    for pod in reversed(pods):
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (c.get("state") or {}).get("terminated")
            if c.get("name") in (RUNNER_CONTAINER, TASK_CONTAINER) and terminated:
                return int(terminated.get("exitCode", 1))
    return None


def _run_id(s: Session, namespace: str, name: str, token: str) -> str | None:
    for job in s.run_jobs(namespace, name):
        if (job["metadata"].get("annotations") or {}).get(RUN_NOW_TOKEN_ANNOTATION) == token:
            return str(job["metadata"]["name"])
    return None


def _pod_started(pods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest pod whose container has started (a log to read)."""
    started = [
        p
        for p in pods
        if (p.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed")
    ]
    return started[-1] if started else None


def wait_run(
    s: Session,
    io: Io,
    namespace: str,
    name: str,
    token: str,
    *,
    follow: bool,
    timeout: float,
    poll: float = POLL_SECONDS,
) -> int:
    """Wait for the run ``token`` asked for to end; its runner's exit code (the pod's),
    else 0 for succeeded and 1 for anything else. ``follow``: print its pod's log."""
    deadline = time.monotonic() + timeout
    run: str | None = None
    said_queued = followed = False
    while time.monotonic() < deadline:
        obj = s.get_job(namespace, name)
        if run is None:
            run = _run_id(s, namespace, name, token)
            if run is not None:
                io.note(f"run {run} started")
        if run is None:
            status = obj.get("status") or {}
            if not said_queued and any(q.get("token") == token for q in status.get("queued") or []):
                io.note("queued: waiting for the active run to end (concurrencyPolicy Enqueue)")
                said_queued = True
            state = runnow.parse(obj["metadata"].get("annotations") or {}, io.clock())
            served = state.served.get(token)
            refused = _refusal(obj, served) if served is not None else None
            if refused is not None:
                io.note(f"run-now refused: {refused.reason}: {refused.message}")
                return 1
        else:
            record = _record(obj, run)
            if follow and not followed:
                pod = _pod_started(s.pods_of(namespace, run))
                if pod is not None:
                    for line in s.log(namespace, pod["metadata"]["name"], None, follow=True):
                        io.out.write(line)
                    io.out.flush()
                    followed = True
                    continue
            if record is not None and record.result != RunResult.RUNNING:
                return _outcome(s, io, namespace, record)
        io.sleep(poll)
    raise CliError(f"gave up waiting after {timeout:.0f}s (the run may still end)", code=124)


def _exit_code(s: Session, io: Io, namespace: str, run: str) -> int | None:
    """The runner's exit code from the run's pod. The runner records the run before it
    exits, so the pod may show it a moment after the record: waited for up to
    EXIT_CODE_GRACE while a pod is there."""
    deadline = time.monotonic() + EXIT_CODE_GRACE
    while True:
        try:
            pods = s.pods_of(namespace, run)
        except CliError as exc:
            io.note(f"note: the runner's exit code is not readable ({exc.message})")
            return None
        code = exit_code(pods)
        if code is not None or not pods or time.monotonic() >= deadline:
            return code
        io.sleep(POLL_SECONDS)


def _outcome(s: Session, io: Io, namespace: str, record: RunRecord) -> int:
    code = _exit_code(s, io, namespace, record.run_id)
    if code is None:
        code = 0 if record.result == RunResult.SUCCEEDED else 1
    reason = f" ({record.reason})" if record.reason else ""
    message = f": {views.cut(record.message, 200)}" if record.message else ""
    io.note(f"run {record.run_id} {record.result.value}{reason}{message}; exit code {code}")
    return code


def run(
    s: Session,
    io: Io,
    namespace: str,
    name: str,
    *,
    key: str | None,
    wait: bool,
    follow: bool,
    timeout: float,
) -> int:
    token = key or uuid.uuid4().hex
    if not runnow.valid_token(token):
        raise CliError("--key must be 1-128 characters from A-Z a-z 0-9 . _ : -")
    already, _ = request_run(s, io, namespace, name, token)
    verb = "was already requested" if already else "requested"
    io.print(f"{KIND_NAME}/{name} run {verb}; idempotency key {token}")
    if not (wait or follow):
        return 0
    return wait_run(s, io, namespace, name, token, follow=follow, timeout=timeout)


# ------------------------------------------------------------------------- logs


def _newest_run(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    if status.get("activeRuns"):
        return str(status["activeRuns"][-1])
    records = [*parse_history([status.get("lastRun")]), *parse_history(status.get("history"))]
    return records[0].run_id if records else None


def logs(s: Session, io: Io, namespace: str, name: str, run_id: str | None, follow: bool) -> int:
    """The run's log from its pod; when the pod is gone or may not be read, the tail
    kept with the run (a note on stderr says which)."""
    obj = s.get_job(namespace, name)
    chosen = run_id or _newest_run(obj)
    if chosen is None:
        raise CliError(f'chronosjob "{name}" has no runs yet')
    record = _record(obj, chosen)
    known = {r.run_id for r in parse_history((obj.get("status") or {}).get("history"))}
    known |= set((obj.get("status") or {}).get("activeRuns") or [])
    why = "its pod is gone"
    try:
        pod = _pod_started(s.pods_of(namespace, chosen))
        if pod is not None:
            for line in s.log(namespace, pod["metadata"]["name"], None, follow=follow):
                io.out.write(line)
            io.out.flush()
            return 0
        if chosen in set((obj.get("status") or {}).get("activeRuns") or []):
            why = "its pod has not started yet"
    except CliError as exc:
        why = exc.message
    if record is None and chosen not in known:
        close = views.close_names(chosen, known)
        hint = "; did you mean " + " or ".join(close) + "?" if close else ""
        raise CliError(f'run "{chosen}" of chronosjob "{name}" not found{hint}')
    if record is None or not record.log_tail:
        raise CliError(f"no log of run {chosen}: {why}, and no log tail was kept with the run")
    io.note(f"# run {chosen}: {why}; the log tail kept with the run:")
    io.out.write(record.log_tail if record.log_tail.endswith("\n") else record.log_tail + "\n")
    return 0


# ------------------------------------------------------------------------- preview


def preview(io: Io, cron: str, zone: str, count: int, start: datetime | None = None) -> int:
    """The next ``count`` runs of ``cron`` in ``zone`` after ``start`` (default: now) by
    the schedule engine, offline."""
    rule = ScheduleRule("", cron, None)
    after = start or io.clock()
    try:
        found = slots(TimeRules(schedules=(rule,), zone=zone), after, limit=count)
        words = describe_rule(rule)
    except ScheduleError as exc:
        raise CliError(str(exc)) from None
    io.print(f"{words} ({zone})")
    io.print("\n".join(views.slot_lines(found, zone, io.viewer, after)))
    return 0
