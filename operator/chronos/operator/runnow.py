"""Serving run-now requests: one Job per accepted request, as concurrencyPolicy says.

The bookkeeping (which requests wait, which were served) is ``chronos.runnow``'s; this
module decides per request and does the I/O through ``kubeio``. Guards against a second
run for one request, in order:

1. the served tokens (``run-now-done``, kept for ``chronos.runnow.WINDOW``), moved there
   in the same resourceVersion-guarded write that removes them from the pending ones;
2. the deterministic Job name of each request: serving it again (a restart between
   creating the Job and recording it) is a create conflict, not a second Job;
3. the history: a request whose Job name is already a runId there was served.

Runs are serialised per ChronosJob by the work queue (a key is never served by two
workers at once, ``workqueue``); the leader lease keeps other replicas out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chronos import runnow as rn
from chronos.models import params as p
from chronos.models import wire as w
from chronos.models.chronosjob import (
    ActiveRun,
    ChronosJobSpec,
    ChronosJobStatus,
    ConcurrencyPolicy,
    RunRecord,
    RunResult,
    RunTrigger,
)
from chronos.models.jobstatus import QueuedRun
from chronos.models.queue import max_queued
from chronos.models.wire import ChronosJobDict, StatusDict
from chronos.operator import kubeio, metrics, queue, runs
from chronos.operator.context import OperatorContext, patch_status
from chronos.operator.cronjob import run_now_job, with_parameters
from chronos.operator.naming import cronjob_name
from chronos.operator.status import status_body
from chronos.times import parse_time

log = logging.getLogger(__name__)


class GoneError(Exception):
    """The ChronosJob was deleted while its run-now requests were being served."""


class Action(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    REFUSE = "refuse"
    SERVED = "served"
    #: concurrencyPolicy Enqueue with a run active or waiting: it joins status.queued.
    ENQUEUE = "enqueue"


@dataclass(frozen=True)
class Decision:
    action: Action
    #: The runs in the way (Forbid: the reason for refusing; Replace: the ones to delete).
    blocking: list[str] = field(default_factory=list)


def decide(
    policy: ConcurrencyPolicy,
    job: str,
    *,
    active: list[str],
    known: set[str],
    queued: list[str] | None = None,
) -> Decision:
    """What to do with the request whose Job would be ``job``.

    ``active``: unfinished Jobs of the ChronosJob (schedule or run-now); ``known``:
    Job names that exist or are runIds in the history; ``queued``: the runs waiting in
    status.queued (concurrencyPolicy Enqueue).
    """
    waiting = queued or []
    if job in known or job in waiting:
        return Decision(Action.SERVED)
    others = [a for a in active if a != job]
    if (others or waiting) and policy == ConcurrencyPolicy.ENQUEUE:
        return Decision(Action.ENQUEUE, others)
    if others and policy == ConcurrencyPolicy.FORBID:
        return Decision(Action.REFUSE, others)
    if others and policy == ConcurrencyPolicy.REPLACE:
        return Decision(Action.REPLACE, others)
    return Decision(Action.CREATE)


def _refused(
    job: str, reason: str, message: str, now: datetime, parameters: p.RunParameters | None
) -> RunRecord:
    """The history entry of a run-now the operator refused: like a skipped slot."""
    return RunRecord(
        run_id=job,
        trigger=RunTrigger.RUN_NOW,
        result=RunResult.MISSED,
        end_time=now,
        reason=reason,
        message=message,
        reported_by="operator",
        parameters=parameters,
    )


def refused_record(
    job: str, blocking: list[str], now: datetime, parameters: p.RunParameters | None = None
) -> RunRecord:
    """The history entry of a run-now refused under Forbid."""
    message = (
        f"run-now refused: run {', '.join(blocking)} was still active (concurrencyPolicy Forbid)"
    )
    return _refused(job, "ConcurrencyForbid", message, now, parameters)


#: The reason of a run-now whose parameters the job's task does not take.
INVALID_PARAMETERS = "InvalidParameters"


def judge_parameters(
    raw: dict[str, Any] | None, spec: ChronosJobSpec
) -> tuple[p.RunParameters | None, str | None]:
    """A request's parameters and, when the task does not take them, why (the fields
    named as in the spec: ``parameters.entityIds[1]: ...``). Judged when served, not only
    when asked: a kubectl user's JSON reaches the operator unchecked, and the spec may
    have changed since the REST facade accepted them."""
    if raw is None:
        return None, None
    try:
        params = p.RunParameters.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return None, f"parameters.{where}: {first['msg']}" if where else first["msg"]
    return params, p.judge(spec.task, params, "parameters")[1]


def invalid_record(
    job: str, problem: str, now: datetime, parameters: p.RunParameters | None
) -> RunRecord:
    """The history entry of a run-now whose parameters the task does not take."""
    return _refused(job, INVALID_PARAMETERS, f"run-now refused: {problem}"[:4096], now, parameters)


def _annotations(cr: ChronosJobDict) -> dict[str, str]:
    return cr["metadata"].get("annotations") or {}


async def serve(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Serve the waiting run-now requests of ``cr`` (a no-op, without I/O, if none)."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    now = datetime.now(UTC)
    state = rn.parse(_annotations(cr), now)
    if not rn.queue(state, now) and rn.unadopted(state, now) is None:
        return
    try:
        await _serve(ctx, namespace, name)
    except GoneError:
        log.info(
            "%s/%s: deleted before its run-now request was served; no run started",
            namespace,
            name,
        )


async def _adopt(ctx: OperatorContext, namespace: str, name: str) -> ChronosJobDict:
    """The ChronosJob, fresh, with a new hand-set token copied into the pending requests
    (so its requestedAt, and with it the Job name, survives a restart)."""

    def change(annotations: dict[str, str]) -> dict[str, str | None] | None:
        now = datetime.now(UTC)
        state = rn.parse(annotations, now)
        token = rn.unadopted(state, now)
        if token is None:
            return None
        return dict(rn.request_patch(state, token, now, state.hand_parameters))

    cr = await kubeio.update_annotations(ctx.client, namespace, name, change)
    if cr is None:
        raise GoneError
    return cr


async def _serve(ctx: OperatorContext, namespace: str, name: str) -> None:
    cr = await _adopt(ctx, namespace, name)
    now = datetime.now(UTC)
    state = rn.parse(_annotations(cr), now)
    todo, dropped = rn.queue(state, now), rn.excess(state, now)
    if dropped:
        # Admission caps the list; one written before the policy, or past it, still
        # never makes the operator start more than PENDING_MAX runs (issue 17, F8).
        await _drop(ctx, cr, dropped)
    if not todo:
        return
    try:
        spec = ChronosJobSpec.model_validate(cr.get("spec") or {})
    except ValidationError:
        return  # reported by reconcile; the requests wait until the spec is fixed
    cronjob = await kubeio.get_cronjob(ctx.client, namespace, cronjob_name(name))
    if cronjob is None:
        if await kubeio.get_chronosjob(ctx.client, namespace, name) is None:
            raise GoneError
        return  # reconcile restores it; housekeeping serves the requests then
    jobs = await kubeio.jobs_of(ctx.client, namespace, name)
    active = [j["metadata"]["name"] for j in jobs if not runs.finished(j)]
    status = cr.get("status") or {}
    known = {j["metadata"]["name"] for j in jobs} | {
        str(h.get(w.RUN_ID)) for h in [status.get(w.LAST_RUN) or {}, *(status.get(w.HISTORY) or [])]
    }
    served: list[str] = []
    queued = [str(q.get(w.RUN_ID)) for q in status.get(w.QUEUED) or []]
    for token, requested_at in todo:
        manifest = run_now_job(cronjob, chronosjob=name, token=token, requested_at=requested_at)
        job: str = manifest["metadata"]["name"]
        params, problem = judge_parameters(rn.parameters_of(state, token), spec)
        decision = decide(spec.concurrency_policy, job, active=active, known=known, queued=queued)
        if problem is not None and decision.action != Action.SERVED:
            await _record_refusal(
                ctx, cr, invalid_record(job, problem, now, params), token, spec, problem
            )
        elif decision.action == Action.ENQUEUE:
            arrival = queue.run_now_arrival(
                job, token=token, requested_at=parse_time(requested_at) or now, parameters=params
            )
            await _enqueue(ctx, cr, arrival, max_queued(spec), ctx.settings.history_limit_of(spec))
            queued.append(job)
        elif decision.action == Action.REFUSE:
            await _refuse(
                ctx,
                cr,
                job,
                token,
                decision.blocking,
                ctx.settings.history_limit_of(spec),
                params,
            )
        elif decision.action in (Action.CREATE, Action.REPLACE):
            for other in decision.blocking:
                await kubeio.delete_job(ctx.client, namespace, other)
                active.remove(other)
                await kubeio.post_event(
                    ctx.client,
                    cr,
                    type="Normal",
                    reason="RunNowReplaced",
                    message=f"deleted Job {other} for run-now token {token!r} "
                    "(concurrencyPolicy Replace)",
                )
            await _create(ctx, cr, with_parameters(manifest, params), token)
            active.append(job)
            known.add(job)
        served.append(token)

    def change(annotations: dict[str, str]) -> dict[str, str | None]:
        moment = datetime.now(UTC)
        return rn.served_patch(rn.parse(annotations, moment), served, moment)

    if await kubeio.update_annotations(ctx.client, namespace, name, change) is None:
        raise GoneError


async def _enqueue(
    ctx: OperatorContext, cr: ChronosJobDict, run: QueuedRun, limit: int, history_limit: int
) -> None:
    """Add a run-now to status.queued (concurrencyPolicy Enqueue), guarded by the resource
    version; over ``limit`` the oldest waiting are dropped (``queue.bound``), recorded
    first. The operator starts it when its turn comes (``operate``). The token is marked
    served after this write: a crash in between finds the run queued (``decide``:
    served), never queues it twice."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    now = datetime.now(UTC)
    current = await kubeio.get_chronosjob(ctx.client, namespace, name)
    stored = [
        QueuedRun.model_validate(q)
        for q in ((current or {}).get("status") or {}).get(w.QUEUED) or []
    ]
    _, dropped = queue.bound([*stored, run], limit=limit, now=now)
    if dropped and not await kubeio.record_runs(
        ctx.client, namespace, name, dropped, history_limit
    ):
        raise GoneError

    def change(status: StatusDict) -> ChronosJobStatus | None:
        stored = [QueuedRun.model_validate(q) for q in status.get(w.QUEUED) or []]
        if any(q.run_id == run.run_id for q in stored):
            return None
        gone = {d.run_id for d in dropped}
        waiting, _ = queue.bound(
            [q for q in stored if q.run_id not in gone] + [run], limit=limit, now=now
        )
        return ChronosJobStatus(queued=waiting, queued_count=len(waiting))

    if not await kubeio.update_status(ctx.client, namespace, name, change):
        raise GoneError
    for record in dropped:
        metrics.RUNS_RECORDED.labels(record.result).inc()
    await kubeio.post_event(
        ctx.client,
        cr,
        type="Normal",
        reason="RunNowQueued",
        message=f"run-now {run.run_id} queued until the active run ends "
        f"(concurrencyPolicy Enqueue, maxQueued {limit})",
    )


async def _drop(ctx: OperatorContext, cr: ChronosJobDict, dropped: list[str]) -> None:
    """Remove the requests beyond PENDING_MAX from the pending ones, unserved."""
    meta = cr["metadata"]

    def change(annotations: dict[str, str]) -> dict[str, str | None]:
        moment = datetime.now(UTC)
        return rn.served_patch(rn.parse(annotations, moment), [], moment, dropped)

    if await kubeio.update_annotations(ctx.client, meta["namespace"], meta["name"], change) is None:
        raise GoneError
    message = (
        f"{len(dropped)} run-now request(s) dropped without a run: at most "
        f"{rn.PENDING_MAX} may wait"
    )
    await kubeio.post_event(ctx.client, cr, type="Warning", reason="RunNowLimit", message=message)
    log.warning("%s/%s: %s", meta["namespace"], meta["name"], message)


async def _create(
    ctx: OperatorContext, cr: ChronosJobDict, manifest: dict[str, Any], token: str
) -> None:
    meta = cr["metadata"]
    job = manifest["metadata"]["name"]
    try:
        created = await kubeio.create_run_now_job(ctx.client, manifest)
    except Exception:
        if await kubeio.get_chronosjob(ctx.client, meta["namespace"], meta["name"]) is None:
            raise GoneError from None
        raise
    if created:
        metrics.RUNS_STARTED.inc()
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Normal",
            reason="RunNow",
            message=f"created Job {job} for run-now token {token!r}",
        )


async def _refuse(
    ctx: OperatorContext,
    cr: ChronosJobDict,
    job: str,
    token: str,
    blocking: list[str],
    history_limit: int,
    params: p.RunParameters | None = None,
) -> None:
    meta = cr["metadata"]
    record = refused_record(job, blocking, datetime.now(UTC), params)
    if not await kubeio.record_runs(
        ctx.client, meta["namespace"], meta["name"], [record], history_limit
    ):
        raise GoneError
    metrics.RUNS_RECORDED.labels(record.result).inc()
    await kubeio.post_event(
        ctx.client,
        cr,
        type="Warning",
        reason="RunNowRefused",
        message=f"run-now token {token!r} refused: run {', '.join(blocking)} is still active "
        "(concurrencyPolicy Forbid)",
    )
    log.info(
        "%s/%s: run-now %r refused, %s still active (Forbid)",
        meta["namespace"],
        meta["name"],
        token,
        ", ".join(blocking),
    )


async def _record_refusal(
    ctx: OperatorContext,
    cr: ChronosJobDict,
    record: RunRecord,
    token: str,
    spec: ChronosJobSpec,
    problem: str,
) -> None:
    """Record a run-now refused for its parameters, with a Warning Event saying why."""
    meta = cr["metadata"]
    limit = ctx.settings.history_limit_of(spec)
    if not await kubeio.record_runs(ctx.client, meta["namespace"], meta["name"], [record], limit):
        raise GoneError
    metrics.RUNS_RECORDED.labels(record.result).inc()
    await kubeio.post_event(
        ctx.client,
        cr,
        type="Warning",
        reason="RunNowRefused",
        message=f"run-now token {token!r} refused: {problem}"[:1024],
    )


def active_runs(jobs: list[dict[str, Any]]) -> list[ActiveRun]:
    """The unfinished Jobs, by name, with what started each and when (its startTime,
    else its creation): ``status.activeRuns`` and ``status.activeRunStarts``."""
    return [
        ActiveRun(
            run_id=j["metadata"]["name"],
            trigger=runs.trigger_of(j),
            start_time=start,
        )
        for j in sorted(jobs, key=lambda j: str(j["metadata"]["name"]))
        # every Job has a creationTimestamp: none is left out for want of a start
        if not runs.finished(j) and (start := runs.started(j)) is not None
    ]


async def publish_active_runs(ctx: OperatorContext, namespace: str, name: str) -> None:
    """Keep ``status.activeRuns`` (and their starts) equal to the unfinished Jobs this
    operator has seen.

    The REST facade reads it to refuse a run-now under Forbid with the running run's
    name; the operator itself always asks the API server before starting one.
    """
    cr = ctx.cache.chronosjob(namespace, name)
    if cr is None or cr["metadata"].get("deletionTimestamp"):
        return
    current = active_runs(ctx.cache.jobs_of(namespace, name))
    patch = ChronosJobStatus(active_runs=[r.run_id for r in current], active_run_starts=current)
    status = cr.get("status") or {}
    published = {k: status.get(k) or [] for k in (w.ACTIVE_RUNS, w.ACTIVE_RUN_STARTS)}
    if status_body(patch) != published:
        await patch_status(ctx, cr, patch)
