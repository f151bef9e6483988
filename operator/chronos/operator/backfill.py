"""Backfill: run the slots of a past range, each once, decided by pure functions.

A user (kubectl, or the REST facade's ``POST /api/jobs/{id}/backfill``) writes the
annotation ``chronos.gluesync.io/backfill`` on the ChronosJob: a JSON list of
``{id, from, to, max}``. For each request the operator lists the slots of the job's
schedules in ``[from, to]`` after every time rule (calendar skips are not runs, moved
slots run at their new time) and creates one Job per slot, trigger ``backfill``, named
``naming.backfill_job_name(job, id, slot)`` — one name per request and slot, so serving
a request again (a retry, an operator restart) is a create conflict, never a second run.
``max`` takes the oldest slots. ``status.backfills`` reports each request: how many
slots, how many Jobs created, its state (``Pending``, ``Created``, ``Rejected``) and why;
an id found there is never served again, and a request served for good is dropped from
the annotation. A request that cannot be served (malformed, reversed, in the future,
more than a year back, no slot or more than ``MAX_BACKFILL_SLOTS`` in its range) is
``Rejected`` with a message naming the field, and a Warning Event.

Under concurrencyPolicy Forbid or Replace the runs of a request start one after another
(the next once no run of the job is active); under Allow all at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chronos.models.chronosjob import ConcurrencyPolicy, RunTrigger
from chronos.models.timing import (
    BACKFILLS_KEPT,
    MAX_BACKFILL_REQUESTS,
    MAX_BACKFILL_SLOTS,
    BackfillRequest,
    BackfillState,
    BackfillStatus,
)
from chronos.operator.firing import Fire
from chronos.operator.naming import backfill_job_name
from chronos.schedule.occurrences import Slot, TimeRules, slots
from chronos.times import rfc3339

#: How far back a range may start.
MAX_AGE = timedelta(days=366)


@dataclass(frozen=True)
class BackfillPlan:
    fire: list[Fire]
    #: The new ``status.backfills`` (None: unchanged).
    entries: list[BackfillStatus] | None
    #: Requests rejected in this pass: (id, message), for a Warning Event each.
    rejected: list[tuple[str, str]]
    #: Request ids served for good (Created or Rejected): dropped from the annotation.
    served: list[str]


def _field_error(index: int, exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    text = getattr(cause, "message", None) or error["msg"]
    return f"[{index}]{'.' + where if where else ''}: {text}"


def parse(text: str | None) -> tuple[list[BackfillRequest], list[tuple[str, str]]]:
    """The requests of the annotation, and the malformed ones as (id, message).

    Never raises: an annotation that is no list of requests is one rejection with id
    ``annotation``."""
    if not text:
        return [], []
    try:
        raw = json.loads(text)
    except ValueError as exc:
        return [], [("annotation", f"not JSON: {exc}")]
    if not isinstance(raw, list):
        return [], [("annotation", "must be a JSON list of {id, from, to, max}")]
    if len(raw) > MAX_BACKFILL_REQUESTS:
        return [], [("annotation", f"at most {MAX_BACKFILL_REQUESTS} requests, found {len(raw)}")]
    requests: list[BackfillRequest] = []
    bad: list[tuple[str, str]] = []
    for index, item in enumerate(raw):
        ident = item.get("id") if isinstance(item, dict) else None
        label = ident if isinstance(ident, str) and ident else f"request-{index}"
        try:
            request = BackfillRequest.model_validate(item)
        except ValidationError as exc:
            bad.append((label[:63], _field_error(index, exc)))
            continue
        if any(r.id == request.id for r in requests):
            bad.append((request.id, f"[{index}].id: {request.id!r} appears twice"))
            continue
        requests.append(request)
    return requests, bad


def check_range(request: BackfillRequest, now: datetime) -> str | None:
    """Why the range cannot be served, naming the field; None if it can."""
    if request.to > now:
        return f"to ({rfc3339(request.to)}) is in the future: only past slots are backfilled"
    if now - request.from_ > MAX_AGE:
        return f"from ({rfc3339(request.from_)}) is more than {MAX_AGE.days} days ago"
    return None


def _old_entries(status: Iterable[Any]) -> dict[str, BackfillStatus]:
    entries: dict[str, BackfillStatus] = {}
    for item in status:
        try:
            entry = BackfillStatus.model_validate(item)
        except ValidationError:
            continue  # an entry we cannot read: its request is served anew
        entries[entry.id] = entry
    return entries


def _dump(entries: Iterable[BackfillStatus]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in entries]


def plan(
    rules: TimeRules,
    *,
    job: str,
    annotation: str | None,
    status: Iterable[Any],
    cronjobs: Mapping[str, str],
    known: set[str],
    active: Iterable[str],
    policy: ConcurrencyPolicy,
    now: datetime,
) -> BackfillPlan:
    """The Jobs to create for the backfill requests of ChronosJob ``job``, and the new
    ``status.backfills`` (``status``: the current one; ``known``: existing Jobs and
    history runIds; ``active``: unfinished Jobs)."""
    requests, bad = parse(annotation)
    old = _old_entries(status)
    new: dict[str, BackfillStatus] = {}
    rejected: list[tuple[str, str]] = []
    served: list[str] = []
    fire: list[Fire] = []
    running = list(active)
    for ident, message in bad:
        served.append(ident)
        if ident not in old:
            new[ident] = BackfillStatus(
                id=ident, from_=now, to=now, state=BackfillState.REJECTED, message=message[:1024]
            )
            rejected.append((ident, message))
    for request in requests:
        previous = old.get(request.id)
        if previous is not None and previous.state is not BackfillState.PENDING:
            served.append(request.id)
            continue  # served (or rejected) before: an id runs once
        found: list[Slot] = []
        problem = check_range(request, now)
        if problem is None:
            found = _run_slots(rules, request)
            if len(found) > MAX_BACKFILL_SLOTS:
                problem = f"the range holds more than {MAX_BACKFILL_SLOTS} slots; narrow from/to"
            elif not found:
                problem = "the range holds no slot of the job's schedules"
        if problem is not None:
            new[request.id] = BackfillStatus(
                id=request.id,
                from_=request.from_,
                to=request.to,
                state=BackfillState.REJECTED,
                message=problem,
            )
            rejected.append((request.id, problem))
            served.append(request.id)
            continue
        chosen = found[: request.max]
        created = waiting = 0
        for slot in chosen:
            name = backfill_job_name(job, request.id, slot.instant)
            if name in known:
                created += 1
                continue
            if running and policy is not ConcurrencyPolicy.ALLOW:
                waiting += 1  # one at a time: the next once the active run ends
                continue
            fire.append(Fire(slot, cronjobs[slot.schedule], name, RunTrigger.BACKFILL))
            running.append(name)
            created += 1
        left = f" (max {request.max} of {len(found)} slots)" if len(found) > request.max else ""
        new[request.id] = BackfillStatus(
            id=request.id,
            from_=request.from_,
            to=request.to,
            slots=len(chosen),
            created=created,
            state=BackfillState.PENDING if waiting else BackfillState.CREATED,
            message=f"{created} of {len(chosen)} runs started{left}",
        )
        if not waiting:
            served.append(request.id)
    kept = [*new.values(), *(e for i, e in old.items() if i not in new)][:BACKFILLS_KEPT]
    changed = _dump(kept) != _dump(old.values())
    return BackfillPlan(fire, kept if changed else None, rejected, served)


def _run_slots(rules: TimeRules, request: BackfillRequest) -> list[Slot]:
    """The slots to run in [from, to] (``slots`` lists strictly after its start)."""
    listed = slots(
        rules,
        request.from_ - timedelta(microseconds=1),
        until=request.to,
        limit=MAX_BACKFILL_SLOTS + 1,
    )
    return [s for s in listed if s.action == "run"]
