"""Kopf handlers: the operator's reactions to ChronosJobs, CronJobs and Jobs.

Registering them is the side effect of importing this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from datetime import UTC, datetime
from typing import Any

import kopf
from lightkube import ApiError
from lightkube.resources.core_v1 import Namespace

from chronos import contract as c
from chronos.kube import ChronosJobResource
from chronos.models.chronosjob import GROUP, PLURAL, VERSION, ChronosJobStatus
from chronos.operator import housekeeping as hk
from chronos.operator import kubeio, metrics, runnow, runs
from chronos.operator import status as st
from chronos.operator.cache import digest
from chronos.operator.reconcile import (
    OperatorContext,
    RejectedError,
    blockers,
    desired_state,
    is_subset,
    name_of,
    reconcile,
)

log = logging.getLogger(__name__)

#: The operator's handlers. An explicit registry (not Kopf's global one) so that what
#: runs is exactly what ``python -m chronos.operator`` passes to Kopf.
registry = kopf.OperatorRegistry()


def _ctx(memo: Any) -> OperatorContext:
    ctx: OperatorContext = memo["ctx"]
    return ctx


async def _get(ctx: OperatorContext, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj = await ctx.client.get(ChronosJobResource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    cr = kubeio.as_dict(obj)
    return None if cr["metadata"].get("deletionTimestamp") else cr


async def _namespace_terminating(ctx: OperatorContext, namespace: str) -> bool:
    try:
        ns = await ctx.client.get(Namespace, namespace)
    except ApiError as exc:
        return exc.status.code == 404
    return bool(ns.status and ns.status.phase == "Terminating")


@kopf.on.login(registry=registry)
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config.
    info = kopf.login_with_service_account(**kwargs)
    if info is None:
        return kopf.login_with_kubeconfig(**kwargs)
    # Kopf names the API server https://kubernetes.default.svc, which needs cluster DNS;
    # the address the kubelet gives every pod works without (as client-go does).
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if host and port:
        host = f"[{host}]" if ":" in host else host
        info = dataclasses.replace(info, server=f"https://{host}:{port}")
    return info


@kopf.on.startup(registry=registry)
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.reporting_component = "chronos-operator"
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Kopf logs "Handler ... succeeded" at INFO for every watch event: with 10,000 jobs
    # that is most of the log and a measurable share of the CPU. Failures stay (WARNING+).
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)


@kopf.on.event(
    "batch",
    "v1",
    "cronjobs",
    annotations={c.CHRONOSJOB_ANNOTATION: kopf.PRESENT},
    registry=registry,
)
async def on_cronjob(
    event: kopf.RawEvent, namespace: str | None, annotations: kopf.Annotations, memo: Any, **_: Any
) -> None:
    """Undo manual edits and deletions; mirror when the CronJob last fired."""
    ctx = _ctx(memo)
    cronjob: dict[str, Any] = dict(event["object"])
    name = annotations[c.CHRONOSJOB_ANNOTATION]
    # Not in the cache: its ChronosJob has not been seen yet (the operator is starting),
    # and that ChronosJob's first reconcile checks this CronJob anyway; a GET each would
    # cost 10,000 reads at the start of a large cluster.
    cr = ctx.cache.chronosjob(namespace or "", name)
    try:
        desired = None if cr is None else desired_state(cr, ctx.settings)
    except RejectedError:
        desired = None  # the ChronosJob's own handler reports it
    in_sync = desired is not None and is_subset(desired.cronjob, cronjob)
    # The cache keeps the verdict, not the CronJob (cache.CronJobRecord).
    ctx.cache.cronjob_event(
        event["type"], cronjob, digest(desired.cronjob) if desired and in_sync else None
    )
    if cr is None or desired is None or cr["metadata"].get("deletionTimestamp"):
        return
    namespace = cr["metadata"]["namespace"]
    if event["type"] == "DELETED" and await _namespace_terminating(ctx, namespace):
        return  # the namespace is being deleted with everything in it
    if event["type"] == "DELETED" or not in_sync:
        log.info(
            "%s/%s: CronJob drifted or was deleted; restoring", namespace, cr["metadata"]["name"]
        )
        await reconcile(ctx, cr)
        return
    last = (cronjob.get("status") or {}).get("lastScheduleTime")
    reset = (cronjob["metadata"].get("annotations") or {}).get(c.SCHEDULE_RESET_ANNOTATION)
    status = cr.get("status") or {}
    if last and last != reset and last != status.get("lastScheduleTime"):
        await kubeio.patch_status(
            ctx.client,
            namespace,
            cr["metadata"]["name"],
            ChronosJobStatus(
                last_schedule_time=datetime.fromisoformat(last),
                next_run_times=st.next_run_times(
                    desired.schedule, datetime.now(UTC), desired.spec.enabled
                ),
            ),
        )


@kopf.on.event(
    "batch", "v1", "jobs", annotations={c.CHRONOSJOB_ANNOTATION: kopf.PRESENT}, registry=registry
)
async def on_job(
    event: kopf.RawEvent, namespace: str | None, annotations: kopf.Annotations, memo: Any, **_: Any
) -> None:
    """Record finished runs the runner could not report (deadline, backoff, no pod …)."""
    job: dict[str, Any] = dict(event["object"])
    ctx = _ctx(memo)
    name = annotations[c.CHRONOSJOB_ANNOTATION]
    ctx.cache.job_event(namespace or "", name, event["type"], job)
    await runnow.publish_active_runs(ctx, namespace or "", name)
    if event["type"] == "DELETED" or not runs.finished(job):
        return
    cr = await _get(ctx, namespace or "", name)
    if cr is None:
        return
    namespace = cr["metadata"]["namespace"]
    history = (cr.get("status") or {}).get("history") or []
    if any(h.get("runId") == job["metadata"]["name"] for h in history):
        return
    pods = await kubeio.pods_of(ctx.client, namespace, job["metadata"]["name"])
    events = (
        await kubeio.failed_create_events(ctx.client, job)
        if not pods and runs.failed_without_pods(job)
        else []
    )
    record = runs.unreported_run(job, pods, history, events)
    if record is None:
        return
    limit = (cr.get("spec") or {}).get("historyLimit") or ctx.settings.history_limit
    if await kubeio.record_runs(ctx.client, namespace, name, [record], limit):
        metrics.RUNS_RECORDED.labels(record.result).inc()
        log.info(
            "%s/%s: recorded unreported run %s (%s)", namespace, name, record.run_id, record.result
        )


async def _serve_run_now(ctx: OperatorContext, cr: dict[str, Any]) -> None:
    await runnow.serve(ctx, cr)


async def _reconcile_if_needed(
    ctx: OperatorContext, cr: dict[str, Any], *, added: bool, wait: bool = True
) -> None:
    """Reconcile ``cr`` unless done at its generation.

    One reconcile per job at a time: housekeeping may reach a job whose event handler is
    still reconciling it (in a burst of new jobs), and both would create and report.
    Housekeeping (``wait=False``) skips such a job: its ``cr`` may be older than the
    event's. An event waits for housekeeping's reconcile to end, then reconciles its
    generation if that one did not.
    """
    if not ctx.cache.needs_reconcile(cr):
        return
    while not ctx.cache.begin_reconcile(cr):
        if not wait:
            return
        await asyncio.sleep(0.1)
    if not ctx.cache.needs_reconcile(cr):
        ctx.cache.end_reconcile(cr)
        return
    try:
        # An ADDED event without a status is a new ChronosJob, which has no CronJob yet.
        await reconcile(ctx, cr, created=added and not cr.get("status"))
    except Exception:
        metrics.ERRORS.labels("reconcile").inc()
        log.exception("reconcile of %s failed; retried by housekeeping", name_of(cr))
        return
    finally:
        ctx.cache.end_reconcile(cr)
    ctx.cache.mark_reconciled(cr)


@kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
async def on_chronosjob(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    """Reconcile new and changed ChronosJobs, and every one once after start.

    Raw events rather than Kopf's create/update handlers: those keep their state in
    annotations on every object (a write per change, and noise for GitOps tools), while
    status.observedGeneration already says what was handled.
    """
    ctx = _ctx(memo)
    cr: dict[str, Any] = dict(event["object"])
    ctx.cache.chronosjob_event(event["type"], cr)
    if event["type"] == "DELETED" or cr["metadata"].get("deletionTimestamp"):
        runnow.forget(cr["metadata"]["namespace"], cr["metadata"]["name"])
        return
    await _reconcile_if_needed(ctx, cr, added=event["type"] == "ADDED")
    await _serve_run_now(ctx, cr)


async def housekeeping_loop(ctx: OperatorContext, stop: asyncio.Event) -> None:
    """Every CHRONOS_HOUSEKEEPING_SECONDS, visit each ChronosJob once.

    One loop over the cache rather than a Kopf timer per object: timers would make Kopf
    put a finalizer on every ChronosJob, and a ChronosJob must stay deletable while the
    operator is down.
    """
    while not stop.is_set():
        accounts: dict[str, bool] = {}  # runner ServiceAccount per namespace, this round
        for cr in ctx.cache.all_chronosjobs():
            try:
                await housekeeping(ctx, cr, accounts)
            except Exception:
                metrics.ERRORS.labels("housekeeping").inc()
                log.exception("housekeeping of %s failed", name_of(cr))
            # A job in sync needs no API call, so nothing else would yield: 10,000 of them
            # held the event loop for half a minute (no metrics, no lease renewal).
            await asyncio.sleep(0)
        metrics.MANAGED.set(ctx.cache.count())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ctx.settings.housekeeping_seconds)


async def housekeeping(
    ctx: OperatorContext, cr: dict[str, Any], accounts: dict[str, bool] | None = None
) -> None:
    """Retry failed reconciles and run-now tokens, then carry out housekeeping's plan:
    RunsBlocked and nextRunTimes kept current, missed slots and failed launches recorded."""
    meta, status = cr["metadata"], cr.get("status") or {}
    if ctx.cache.needs_reconcile(cr):
        await _reconcile_if_needed(ctx, cr, added=False, wait=False)
        return  # it wrote a fresh status; ``cr`` holds the old one, so the rest waits
    if status.get("observedGeneration") != meta.get("generation"):
        return  # the cache has not seen our last status write yet: nothing to compare
    try:
        desired = desired_state(cr, ctx.settings)
    except RejectedError:
        return
    await _serve_run_now(ctx, cr)
    await runnow.publish_active_runs(ctx, meta["namespace"], meta["name"])
    now = datetime.now(UTC)
    actions = hk.plan(
        cr,
        desired,
        jobs=ctx.cache.jobs_of(meta["namespace"], meta["name"]),
        blockers=await blockers(ctx, desired, meta["namespace"], now, accounts),
        now=now,
        settings=ctx.settings,
    )
    for record in await kubeio.carry_out(ctx.client, cr, actions):
        metrics.RUNS_RECORDED.labels(record.result).inc()
