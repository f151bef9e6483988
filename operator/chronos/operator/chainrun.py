"""Chain runs (issue 20, ``spec.after``) for one ChronosJob: the I/O around the pure
planner ``chains``. Above ``runnow`` and ``operate`` in the operator's layers: a chain
run obeys concurrencyPolicy as a run-now does (``runnow.decide``, one home of that rule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from chronos.models import wire as w
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.history import parse_history
from chronos.models.wire import ChronosJobDict
from chronos.operator import chains, kubeio, metrics, runnow
from chronos.operator.context import OperatorContext
from chronos.operator.cronjob import chain_job
from chronos.operator.naming import cronjob_name
from chronos.operator.operate import active_jobs, known_runs
from chronos.times import parse_time


def _downstream(cr: ChronosJobDict, jobs: list[dict[str, Any]], cronjob: str) -> chains.Downstream:
    status: Any = cr.get("status") or {}
    created = [t for j in jobs if (t := parse_time(j["metadata"].get("creationTimestamp")))]
    history = parse_history([status.get(w.LAST_RUN) or {}, *(status.get(w.HISTORY) or [])])
    return chains.Downstream(
        cronjob=cronjob,
        created=parse_time(cr["metadata"].get("creationTimestamp")) or datetime.now(UTC),
        known=frozenset(known_runs(jobs, status)),
        history=tuple(history),
        newest_job=max(created, default=None),
    )


def _upstreams(
    ctx: OperatorContext, namespace: str, spec: ChronosJobSpec
) -> dict[str, chains.UpstreamView]:
    """The upstream jobs as the watch cache holds them (their history is what the
    runner and the operator wrote; a job not there starts nothing)."""
    views = {}
    for upstream in spec.after or []:
        cr = ctx.cache.chronosjob(namespace, upstream.job)
        if cr is None or cr["metadata"].get("deletionTimestamp"):
            continue
        history = chains.LazyHistory((cr.get("status") or {}).get(w.HISTORY))
        views[upstream.job] = chains.UpstreamView(str(cr["metadata"].get("uid", "")), history)
    return views


async def serve(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Start the chain runs due for ``cr`` (``spec.after``): planned from the cache
    without a request; only a plan with something to do reads the job and its Jobs from
    the API server, plans again on them and creates each run's Job, whose name is derived
    from the upstream run (``chains``): a create that conflicts was served already. A
    run that concurrencyPolicy Forbid refuses is recorded missed under that name, so it
    is not planned again either."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if not (cr.get("spec") or {}).get("after"):
        return
    try:
        spec = ChronosJobSpec.model_validate(cr.get("spec") or {})
    except ValidationError:
        return  # reconcile reports it
    if not spec.enabled or ctx.chains.cycle_through(namespace, name):
        return  # a cycle: Ready=False ChainCycle (reconcile)
    stem = cronjob_name(name)  # the first schedule's CronJob: the Jobs' template
    upstreams = _upstreams(ctx, namespace, spec)
    if not chains.plan(spec, _downstream(cr, ctx.cache.jobs_of(namespace, name), stem), upstreams):
        return
    fresh = await kubeio.get_chronosjob(ctx.client, namespace, name)
    if fresh is None:
        return
    jobs = await kubeio.jobs_of(ctx.client, namespace, name)
    down = _downstream(fresh, jobs, stem)
    starts = chains.plan(spec, down, upstreams)
    template = await kubeio.get_cronjob(ctx.client, namespace, stem) if starts else None
    if template is None:
        return  # nothing left, or reconcile restores the CronJob first
    active = active_jobs(jobs)
    known = set(down.known)
    for start in starts:
        decision = runnow.decide(spec.concurrency_policy, start.job, active=active, known=known)
        if decision.action == runnow.Action.REFUSE:
            record = chains.refused_record(start, decision.blocking, datetime.now(UTC))
            limit = ctx.settings.history_limit_of(spec)
            if await kubeio.record_runs(ctx.client, namespace, name, [record], limit):
                metrics.RUNS_RECORDED.labels(record.result).inc()
            known.add(start.job)
            continue
        for other in decision.blocking:  # Replace
            await kubeio.delete_job(ctx.client, namespace, other)
            active.remove(other)
        if await kubeio.create_slot_job(
            ctx.client, chain_job(template, name=start.job, cause=start.cause)
        ):
            metrics.RUNS_STARTED.inc()
            await kubeio.post_event(
                ctx.client,
                fresh,
                type="Normal",
                reason="ChainStarted",
                message=f"created Job {start.job}: run {start.cause.run_id} of "
                f"{start.cause.job} ended {start.cause.result}",
            )
        active.append(start.job)
        known.add(start.job)
