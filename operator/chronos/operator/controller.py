"""The operator's control loop: four informers feed the cache and a queue of keys;
a bounded pool of workers brings each queued ChronosJob in sync.

What each watch event does is small and synchronous (``ChronosJobs``, ``CronJobs``,
``Jobs`` below): reduce the object to its cache record and queue the ChronosJob's key.
All the work — reconciling, run-now, recording runs, housekeeping — happens in
``sync``, one worker per key at a time (``workqueue``), reading the cache; so the state
of the world decides, not the order or number of events (a job changed five times
while queued is synced once, at its latest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from lightkube.resources.batch_v1 import CronJob, Job
from pydantic import ValidationError

from chronos import contract as c
from chronos import kubewire
from chronos.informer import Informer, Key, Scope, Store, WatchHealth
from chronos.kube import ChronosJobResource
from chronos.models import activity
from chronos.models import wire as w
from chronos.models.chronosjob import ChronosJobSpec, ChronosJobStatus, RunResult
from chronos.models.history import parse_history
from chronos.models.wire import ChronosJobDict, StatusDict
from chronos.operator import (
    aborts,
    chainrun,
    kubeio,
    metrics,
    notices,
    operate,
    peaks,
    runnow,
    runs,
)
from chronos.operator import housekeeping as hk
from chronos.operator import notifier as notifier_mod
from chronos.operator import schedules as sch
from chronos.operator.activity import Activity
from chronos.operator.cache import Change, CronJobRecord, digest
from chronos.operator.calendars import ChronosCalendarResource
from chronos.operator.context import OperatorContext, patch_status
from chronos.operator.desired import RejectedError, desired_state, is_subset, next_runs
from chronos.operator.naming import cronjob_name
from chronos.operator.notices import NextSlot, slot_finder
from chronos.operator.reconcile import blockers, reconcile
from chronos.operator.workqueue import Reason, WorkQueue
from chronos.schedule import ScheduleError
from chronos.timerules import time_rules

log = logging.getLogger(__name__)

#: Concurrent syncs: each waits on one to three requests, so in a burst of new jobs
#: most are waiting for the API server. bench/operator_scale.py, 1,000 jobs, quiet
#: machine: create → CronJob p50 / p99 606 / 861 ms with 16 workers, 142-166 / 414-646 ms
#: with 48. Memory stays bounded: a worker holds one job's objects while it waits.
WORKERS = 48


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta["namespace"], meta["name"]


def _owner(obj: dict[str, Any]) -> Key | None:
    """The ChronosJob a CronJob or Job belongs to (its annotation holds the full name)."""
    meta = obj["metadata"]
    name = (meta.get("annotations") or {}).get(c.CHRONOSJOB_ANNOTATION)
    return None if name is None else (meta["namespace"], name)


class ChronosJobs:
    """Store for the ChronosJob informer."""

    def __init__(self, ctx: OperatorContext, queue: WorkQueue, activity: Activity) -> None:
        self._ctx, self._queue, self._activity = ctx, queue, activity

    def upsert(self, obj: dict[str, Any]) -> None:
        # Issue 22: the activity ledger compares with the version cached so far.
        key = _key(obj)
        self._activity.job_event(obj, lambda: self._ctx.cache.chronosjob(*key))
        self._ctx.cache.chronosjob_event(Change.UPSERTED, cast(ChronosJobDict, obj))
        self._ctx.calendars.job_event(*_key(obj), obj.get("spec"))
        self._ctx.status_writes.observed(_key(obj), obj["metadata"])
        self._queue.add(_key(obj))
        self._chains(_key(obj), obj.get("spec"))

    def _chains(self, key: Key, spec: dict[str, Any] | None) -> None:
        """spec.after into the index (its cycles are found at the next sync in the
        namespace, ``sync``); the jobs that run after this one are queued: its history
        may hold a run that starts theirs."""
        self._ctx.chains.job_event(*key, spec)
        for downstream in self._ctx.chains.downstream_of(*key):
            self._queue.add(downstream)

    def delete(self, obj: dict[str, Any]) -> None:
        self._activity.job_deleted(obj)
        self._ctx.cache.chronosjob_event(Change.DELETED, cast(ChronosJobDict, obj))
        metrics.forget_job(*_key(obj))  # issue 21: the job's series go with it
        self._ctx.figures.forget(_key(obj))  # issue 22: and its schedule lag
        self._ctx.status_writes.gone(_key(obj))
        self._ctx.calendars.job_event(*_key(obj), None)
        self._chains(_key(obj), None)
        namespace, name = _key(obj)
        for cronjob in self._ctx.cache.cronjobs_of(namespace, name) | {cronjob_name(name)}:
            self._ctx.expectations.gone((namespace, cronjob))

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        for key in self._ctx.cache.chronosjob_keys(namespace) - seen:
            self._activity.job_deleted(_stub(key))  # gone while the watch was cut
            self._ctx.cache.chronosjob_event(Change.DELETED, cast(ChronosJobDict, _stub(key)))
            metrics.forget_job(*key)  # issue 21: the job's series go with it
            self._ctx.figures.forget(key)
            self._ctx.status_writes.gone(key)
            self._ctx.calendars.job_event(*key, None)
            self._chains(key, None)
            self._queue.add(key)


class CronJobs:
    """Store for the CronJob informer: a drifted or deleted CronJob queues its job for a
    reconcile; a newly fired one queues it for the lastScheduleTime mirror."""

    def __init__(self, ctx: OperatorContext, queue: WorkQueue) -> None:
        self._ctx, self._queue = ctx, queue

    def upsert(self, obj: dict[str, Any]) -> None:
        owner = _owner(obj)
        if owner is None:
            return
        ctx = self._ctx
        # Drift is decided here, where the CronJob is at hand; the cache keeps only the
        # verdict (cache.CronJobRecord). A ChronosJob not cached yet is reconciled
        # (and its CronJob read) when it arrives.
        cr = ctx.cache.chronosjob(*owner)
        try:
            desired = None if cr is None else desired_state(cr, ctx.settings)
        except RejectedError:
            desired = None  # the ChronosJob's own sync reports it
        key = _key(obj)
        ctx.expectations.observed(key, obj["metadata"])
        # One CronJob per schedule; none wanted under this name: a removed schedule's.
        manifest = None if desired is None else desired.cronjob_named(key[1])
        in_sync = manifest is not None and is_subset(manifest, obj)
        ctx.cache.cronjob_event(
            Change.UPSERTED, obj, digest(manifest) if manifest and in_sync else None
        )
        if cr is None or desired is None:
            return
        if manifest is None:
            ctx.cache.force_reconcile(*owner)  # its reconcile deletes it
            self._queue.add(owner)
            return
        if not in_sync and ctx.expectations.pending(key, digest(manifest)):
            # An older copy than the one this process just wrote (a LIST that began
            # before the write): not drift, the write is on its way.
            return
        if not in_sync:
            log.info("%s/%s: CronJob drifted; restoring", *owner)
            ctx.cache.force_reconcile(*owner)
            self._queue.add(owner)
        else:
            record = ctx.cache.cronjob(*key)
            if record is not None and record.fired_since(cr.get("status") or {}):
                self._queue.add(owner)

    def delete(self, obj: dict[str, Any]) -> None:
        self._ctx.cache.cronjob_event(Change.DELETED, obj)
        self._ctx.expectations.gone(_key(obj))
        owner = _owner(obj)
        if owner is not None and self._ctx.cache.chronosjob(*owner) is not None:
            self._ctx.cache.force_reconcile(*owner)
            self._queue.add(owner)

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        for key in self._ctx.cache.cronjob_keys(namespace) - seen:
            owner = self._ctx.cache.cronjob_owner(key)
            self._ctx.cache.cronjob_event(Change.DELETED, _stub(key))
            self._ctx.expectations.gone(key)
            if owner is not None:
                self._ctx.cache.force_reconcile(*owner)
                self._queue.add(owner)


class Jobs:
    """Store for the Job informer: every change of a run queues its job (active runs,
    finished runs the runner could not report)."""

    def __init__(self, ctx: OperatorContext, queue: WorkQueue, activity: Activity) -> None:
        self._ctx, self._queue, self._activity = ctx, queue, activity

    def upsert(self, obj: dict[str, Any]) -> None:
        if (owner := _owner(obj)) is not None:
            self._ctx.cache.job_event(*owner, Change.UPSERTED, obj, finished=runs.finished(obj))
            self._ctx.figures.job_seen(owner, obj)  # issue 22: slot -> Job created
            self._queue.add(owner)

    def delete(self, obj: dict[str, Any]) -> None:
        if (owner := _owner(obj)) is not None:
            self._ctx.cache.job_event(*owner, Change.DELETED, obj)
            if aborts.deleted_unfinished(obj):
                self._ctx.cache.flag_aborted(*owner, [obj])
                # Not an abort to the activity log when it went with its ChronosJob (the
                # garbage collector deleting the job's runs), unless someone noted one;
                # what the cache cannot rule out the API server is asked (activity.py).
                cached = self._ctx.cache.chronosjob(*owner)
                uid = None if cached is None else cached["metadata"].get("uid")
                if activity.is_abort(obj, cached, uid):
                    self._activity.run_aborted(obj, owner, uid)
            self._queue.add(owner)

    def resync(self, namespace: str | None, seen: set[Key]) -> None:
        for owner, name in self._ctx.cache.job_keys(namespace):
            if (owner[0], name) not in seen:
                self._ctx.cache.job_event(*owner, Change.DELETED, _stub((owner[0], name)))
                self._queue.add(owner)


def _stub(key: Key) -> dict[str, Any]:
    return {"metadata": {"namespace": key[0], "name": key[1]}}


# --------------------------------------------------------------------------- sync


async def sync(ctx: OperatorContext, key: Key, reason: Reason) -> None:
    """Bring one ChronosJob in sync with what the cache knows."""
    # spec.after changed in the namespace: the jobs whose cycle changed are reconciled
    # again (Ready says ChainCycle, or no longer), this one below, the others queued.
    for changed in ctx.chains.settle(key[0]):
        ctx.cache.force_reconcile(*changed)
        if changed != key:
            ctx.wake(changed, datetime.now(UTC))
    cr = ctx.cache.chronosjob(*key)
    if cr is None or cr["metadata"].get("deletionTimestamp"):
        return
    # Issue 21: the per-job gauges, from the status as the cache holds it (each status
    # write brings the job back here).
    metrics.observe_job(*key, notices.job_gauges(cr))
    # The job's window opens or closes or its suspension ends (issue 19): its CronJobs'
    # suspend flips, status.suspension records the resume. Asked again every sync.
    if reason & Reason.TIMER:
        ctx.cache.force_reconcile(*key)
    if (boundary := sch.next_boundary(cr.get("spec") or {}, datetime.now(UTC))) is not None:
        ctx.wake(key, boundary)
    if reason & Reason.HOUSEKEEPING:
        _check_cronjob(ctx, cr)
    if ctx.cache.needs_reconcile(cr):
        with ctx.cache.reconciling(cr):
            await _reconcile(ctx, cr)
        reconciled = True
    else:
        reconciled = False
    await runnow.serve(ctx, cr)
    await operate.serve(ctx, cr)  # operator-mode slots, catch-up, backfill
    await chainrun.serve(ctx, cr)  # runs after upstream runs (spec.after)
    await runnow.publish_active_runs(ctx, *key)
    await _record_unreported(ctx, cr)
    await _record_aborted(ctx, cr)
    # Issue 21: the notifications the job owes are planned and their deliveries started
    # in the background (the one-time since mark is the only write awaited).
    if (cr.get("spec") or {}).get("notify"):
        await ctx.notify(cr, _next_slot(ctx, cr))
    elif ((cr.get("status") or {}).get(w.NOTIFICATIONS) or {}).get("since"):
        await ctx.notify(cr, None)  # notify removed: its since mark is cleared
    if reconciled:
        # It wrote a fresh status; ``cr`` holds the old one, so the rest waits for the
        # next visit (the status write's own event brings it).
        return
    await _mirror_last_schedule(ctx, cr)
    if reason & Reason.HOUSEKEEPING:
        await housekeeping(ctx, cr)


def _next_slot(ctx: OperatorContext, cr: ChronosJobDict) -> NextSlot:
    """The job's schedule as the dead-man (``absent``) reads it: its time rules with its
    calendar as last resolved, ``@every`` counted from the last slot fired. Built on the
    first question only (``plan`` asks only for a rule that wants ``absent``): parsing the
    spec is most of a notify job's planning cost."""
    meta = cr["metadata"]
    found: list[NextSlot | None] = []

    def build() -> NextSlot | None:
        try:
            spec = ChronosJobSpec.model_validate(cr.get("spec") or {})
            ref = spec.calendar_ref
            calendar = None if ref is None else ctx.calendars.cached(meta["namespace"], ref.name)
            zone = spec.time_zone or ctx.settings.default_time_zone
            rules = time_rules(
                spec, job=(meta["namespace"], meta["name"]), zone=zone, calendar=calendar
            )
        except (ValidationError, ScheduleError):
            return None  # reconcile reports it
        anchor = (cr.get("status") or {}).get(w.LAST_SCHEDULE_TIME)
        return slot_finder(rules, datetime.fromisoformat(anchor) if anchor else None)

    def next_slot(after: datetime) -> datetime | None:
        if not found:
            found.append(build())
        finder = found[0]
        return None if finder is None else finder(after)

    return next_slot


def _check_cronjob(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Housekeeping's look at the owned CronJob: missing or not holding the desired
    manifest (an event lost, a repair that failed), the job is reconciled again —
    unless the cache only lags behind a write of that manifest by this process."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        desired = desired_state(cr, ctx.settings)
    except RejectedError:
        return  # no CronJob wanted; its reconcile reported why
    for manifest in desired.cronjobs:
        key = (namespace, manifest["metadata"]["name"])
        if ctx.cache.cronjob_holds(*key, manifest):
            continue
        # Written by this process and not shown by the watch yet (it lags, e.g. while it
        # relists after 410s): not lost, and writing it again would be a repeat.
        if not ctx.expectations.pending(key, digest(manifest)):
            ctx.cache.force_reconcile(namespace, name)
            return
    if ctx.cache.cronjobs_of(namespace, name) - {p.cronjob for p in desired.schedules}:
        ctx.cache.force_reconcile(namespace, name)  # a removed schedule's CronJob is left


async def _reconcile(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    meta = cr["metadata"]
    record = ctx.cache.cronjob(meta["namespace"], cronjob_name(meta["name"]))
    # A reconciled job whose CronJob is gone: restore it, unless the namespace is being
    # deleted with everything in it.
    gone = record is None and cr.get("status")
    if gone and await kubeio.namespace_terminating(ctx.client, meta["namespace"]):
        return
    # A job without a status is new and has no CronJob yet: create it without a read.
    await reconcile(ctx, cr, created=record is None and not cr.get("status"))


async def _record_unreported(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Record finished runs the runner could not report (deadline, backoff, no pod …)."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    pending = ctx.cache.unreported(namespace, name)
    for done, job in enumerate(pending):
        try:
            await _record_unreported_run(ctx, cr, job)
        except Exception:
            # Checked again at the sync's retry: a finished run is never dropped.
            ctx.cache.flag_unreported(
                namespace, name, [j["metadata"]["name"] for j in pending[done:]]
            )
            raise


async def _record_aborted(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Record runs whose Job was deleted before they ended (aborts.py), unless their
    runner did (SIGTERM); an Event names who aborted through the facade."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    jobs = ctx.cache.aborted(namespace, name)
    if not jobs:
        return
    try:
        fresh = await kubeio.get_chronosjob(ctx.client, namespace, name)
        if fresh is None:
            return
        status = fresh.get("status")
        now = datetime.now(UTC)
        stored = {r.run_id: r for r in parse_history((status or {}).get(w.HISTORY))}
        records = [aborts.aborted_run(j, now) for j in jobs if j["metadata"]["name"] not in stored]
        # The runner's own records of these aborts, naming who asked (it cannot know).
        amended = [
            r
            for j in jobs
            if (run := stored.get(j["metadata"]["name"])) and (r := aborts.named(run, j))
        ]
        limit = (fresh.get("spec") or {}).get("historyLimit") or ctx.settings.history_limit
        if records and await kubeio.record_runs(ctx.client, namespace, name, records, limit):
            metrics.RUNS_RECORDED.labels(RunResult.ABORTED).inc(len(records))
            log.info("%s/%s: recorded %d aborted run(s)", namespace, name, len(records))
        if amended:
            await kubeio.amend_runs(ctx.client, namespace, name, amended, limit)
    except Exception:
        ctx.cache.flag_aborted(namespace, name, jobs)  # again at the sync's retry
        raise
    for job in jobs:
        if (message := aborts.event_message(job)) is not None:
            await kubeio.post_event(
                ctx.client, cr, type="Normal", reason=aborts.ABORTED_REASON, message=message
            )


def _recorded(status: StatusDict | None, run_id: str) -> bool:
    return any(h.get(w.RUN_ID) == run_id for h in (status or {}).get(w.HISTORY) or [])


async def _record_unreported_run(
    ctx: OperatorContext, cr: ChronosJobDict, job: dict[str, Any]
) -> None:
    meta, run_id = cr["metadata"], job["metadata"]["name"]
    namespace, name = meta["namespace"], meta["name"]
    if _recorded(cr.get("status"), run_id):
        return  # the runner reported it (no read needed)
    fresh = await kubeio.get_chronosjob(ctx.client, namespace, name)
    if fresh is None or _recorded(fresh.get("status"), run_id):
        return
    pods = await kubeio.pods_of(ctx.client, namespace, run_id)
    events = (
        await kubeio.failed_create_events(ctx.client, job)
        if not pods and runs.failed_without_pods(job)
        else []
    )
    history = (fresh.get("status") or {}).get(w.HISTORY) or []
    record = runs.unreported_run(job, pods, history, events)
    if record is None:
        return
    limit = (fresh.get("spec") or {}).get("historyLimit") or ctx.settings.history_limit
    if await kubeio.record_runs(ctx.client, namespace, name, [record], limit):
        metrics.RUNS_RECORDED.labels(record.result).inc()
        log.info("%s/%s: recorded unreported run %s (%s)", namespace, name, run_id, record.result)


async def _mirror_last_schedule(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Copy the CronJob's lastScheduleTime into the status, with fresh next run times."""
    meta = cr["metadata"]
    namespace, status = meta["namespace"], cr.get("status") or {}
    records = [
        ctx.cache.cronjob(namespace, n) for n in ctx.cache.cronjobs_of(namespace, meta["name"])
    ]
    last = newest_fired([r for r in records if r is not None], status)
    if last is None:
        return
    try:
        desired = ctx.calendars.apply(desired_state(cr, ctx.settings), namespace)
    except RejectedError:
        return
    await patch_status(
        ctx,
        cr,
        ChronosJobStatus(
            last_schedule_time=last,
            next_run_times=next_runs(desired, datetime.now(UTC), last),
        ),
    )


def newest_fired(records: list[CronJobRecord], status: StatusDict) -> datetime | None:
    """The newest lastScheduleTime among a job's CronJobs (one per schedule) that is newer
    than the status's, not counting the operator's own clock resets."""
    stored = status.get(w.LAST_SCHEDULE_TIME)
    floor = datetime.fromisoformat(stored) if stored else None
    fired = [datetime.fromisoformat(f) for r in records if (f := r.fired_since(status))]
    newer = [f for f in fired if floor is None or f > floor]
    return max(newer) if newer else None


async def housekeeping(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Carry out housekeeping's plan: RunsBlocked and nextRunTimes kept current, missed
    slots and failed launches recorded."""
    meta, status = cr["metadata"], cr.get("status") or {}
    if status.get(w.OBSERVED_GENERATION) != meta.get("generation"):
        return  # the cache has not seen our last status write yet: nothing to compare
    try:
        desired = ctx.calendars.apply(desired_state(cr, ctx.settings), meta["namespace"])
    except RejectedError:
        return
    now = datetime.now(UTC)
    actions = hk.plan(
        cr,
        desired,
        jobs=ctx.cache.jobs_of(meta["namespace"], meta["name"]),
        blockers=await blockers(
            ctx, desired, meta["namespace"], now, ctx.round_accounts, name=meta["name"]
        ),
        now=now,
        settings=ctx.settings,
    )
    for record in await hk.carry_out(ctx, cr, actions):
        metrics.RUNS_RECORDED.labels(record.result).inc()


# ------------------------------------------------------------------------ running


Sync = Callable[[OperatorContext, Key, Reason], Awaitable[None]]


async def _worker(ctx: OperatorContext, queue: WorkQueue, serve: Sync = sync) -> None:
    while True:
        key, reason = await queue.get()
        try:
            await serve(ctx, key, reason)
            if failures := queue.failures(key):
                log.info("sync of %s/%s succeeded again after %d failures", *key, failures)
            queue.forget(key)
        except Exception as exc:
            metrics.ERRORS.labels("sync").inc()
            delay = queue.add_rate_limited(key, reason, kubewire.retry_after(exc))
            # One WARNING (with the traceback) per job per run of failures, the retries
            # at DEBUG: in an outage every job fails at every backoff step, and 10,000
            # jobs must not log 10,000 lines per step (client-go's workqueue is silent).
            first = queue.failures(key) == 1
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "sync of %s/%s failed (%s); retrying in %.1f s",
                *key,
                kubeio.describe_error(exc),
                delay,
                exc_info=first,
            )
        finally:
            queue.done(key)
        metrics.QUEUED.set(len(queue))
        # A job in sync needs no request, so nothing else would yield: a worker could
        # serve a whole housekeeping round of 10,000 jobs while /metrics and the lease
        # renewal wait (seen: /metrics timing out after 5 s).
        await asyncio.sleep(0)


async def _housekeeping_rounds(ctx: OperatorContext, queue: WorkQueue) -> None:
    """Every CHRONOS_HOUSEKEEPING_SECONDS, queue every ChronosJob for a routine visit
    (behind the events; a job still queued from the last round is not queued twice)."""
    while True:
        ctx.round_accounts = {}  # the runner ServiceAccount per namespace, asked afresh
        for key in ctx.cache.chronosjob_keys(None):
            queue.add(key, Reason.HOUSEKEEPING)
        metrics.MANAGED.set(ctx.cache.count())
        await asyncio.sleep(ctx.settings.housekeeping_seconds)


async def _serve(
    queue: WorkQueue, what: str, sync: Callable[[Key], Awaitable[datetime | None]]
) -> None:
    """Serve the keys of ``queue`` with ``sync``; a time it answers is when to look again.
    A failure is retried with backoff, like a job's sync, and said once at WARNING."""
    while True:
        key, reason = await queue.get()
        try:
            again = await sync(key)
            if again is not None:
                queue.add_at(key, again)
            queue.forget(key)
        except Exception as exc:  # noqa: BLE001 - retried with backoff, like a job's sync
            metrics.ERRORS.labels(f"{what}_sync").inc()
            delay = queue.add_rate_limited(key, reason, kubewire.retry_after(exc))
            log.log(
                logging.WARNING if queue.failures(key) == 1 else logging.DEBUG,
                "sync of %s %s/%s failed (%s); retrying in %.1f s",
                what,
                *key,
                kubeio.describe_error(exc),
                delay,
            )
        finally:
            queue.done(key)


async def _calendar_worker(ctx: OperatorContext, queue: WorkQueue) -> None:
    """Serve the ChronosCalendars queued: status written, jobs requeued on a change
    (``calendars.Calendars.sync``); looked at again at the next midnight of its zone."""
    await _serve(
        queue,
        "calendar",
        lambda key: ctx.calendars.sync(ctx.client, key, zone=ctx.settings.default_time_zone),
    )


async def _calendar_rounds(ctx: OperatorContext, queue: WorkQueue) -> None:
    """Every housekeeping round, each calendar's ConfigMap is read again (the operator
    may not watch ConfigMaps): an edited .ics reaches its jobs within a round."""
    while True:
        await asyncio.sleep(ctx.settings.housekeeping_seconds)
        for key in ctx.calendars.calendar_keys():
            queue.add(key, Reason.HOUSEKEEPING)


async def _channel_worker(ctx: OperatorContext, queue: WorkQueue) -> None:
    """Serve the ChronosChannels queued: their Ready condition (issue 21, notifier)."""

    async def sync(key: Key) -> None:
        await notifier_mod.sync_channel(ctx.client, key)

    await _serve(queue, "channel", sync)


async def _channel_rounds(
    ctx: OperatorContext, queue: WorkQueue, channels: notifier_mod.Channels
) -> None:
    """Every housekeeping round each channel's Secret is read again (not watched)."""
    while True:
        await asyncio.sleep(ctx.settings.housekeeping_seconds)
        for key in channels.known():
            queue.add(key, Reason.HOUSEKEEPING)


async def run(
    ctx: OperatorContext,
    scope: Scope,
    synced: asyncio.Event,
    health: WatchHealth | None = None,
) -> None:
    """Watch, then work, until cancelled; ``synced`` is set once every watch has listed.

    The ChronosJobs are listed first, then their CronJobs and Jobs, and only then do the
    workers start: each CronJob is checked against its ChronosJob as it arrives, so after
    a restart a job in sync is confirmed from the cache, without a read or a write.
    """
    queue = WorkQueue()
    ctx.wake = queue.add_at
    ctx.figures.watch(queue.__len__, lambda: queue.served)
    notifier = notifier_mod.Notifier(ctx.client, ctx.settings)
    ctx.notify = notifier.sync
    channel_queue = WorkQueue()
    channels = notifier_mod.Channels(channel_queue.add)
    calendar_queue = WorkQueue()
    ctx.calendars.changed = calendar_queue.add
    # A calendar that now excludes other days: its jobs' nextRunTimes, slots and
    # RunsBlocked are planned again (housekeeping's work), ahead of routine visits.
    ctx.calendars.requeue = lambda key: queue.add(key, Reason.EVENT | Reason.HOUSEKEEPING)
    selector = c.JOB_LABEL  # CronJobs and Jobs the operator made carry it

    health = health or WatchHealth()

    def failed(kind: str, exc: Exception) -> None:
        metrics.ERRORS.labels(f"watch_{kind.lower()}").inc()
        health.failed(kind, exc)

    def watch(resource: Any, store: Store, labels: str | None) -> Informer:
        return Informer(
            ctx.client,
            resource,
            store,
            scope,
            labels=labels,
            on_error=failed,
            on_healthy=health.healthy,
        )

    activity = Activity(ctx.client)  # issue 22: the activity ledger
    informers = [
        watch(ChronosJobResource, ChronosJobs(ctx, queue, activity), None),
        watch(CronJob, CronJobs(ctx, queue), selector),
        watch(Job, Jobs(ctx, queue, activity), selector),
        watch(ChronosCalendarResource, ctx.calendars, None),
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        for informer in informers:
            tasks.append(asyncio.create_task(informer.run(), name=f"watch {informer.kind}"))
            await informer.synced.wait()
            activity.listing = False  # after the ChronosJobs' first LIST, a job is new
        log.info("watches synced: %d ChronosJobs", ctx.cache.count())
        tasks.append(asyncio.create_task(activity.run(), name="activity"))
        synced.set()
        tasks += [
            asyncio.create_task(_worker(ctx, queue), name=f"worker {i}") for i in range(WORKERS)
        ]
        tasks.append(asyncio.create_task(_housekeeping_rounds(ctx, queue), name="housekeeping"))
        if ctx.settings.peak_sample_seconds > 0:
            tasks.append(asyncio.create_task(peaks.Sampler(ctx).serve(), name="peaks"))
        tasks.append(asyncio.create_task(_calendar_worker(ctx, calendar_queue), name="calendars"))
        tasks.append(asyncio.create_task(_calendar_rounds(ctx, calendar_queue), name="cal rounds"))
        # ChronosChannels (issue 21): not awaited before the work starts, so an operator
        # whose cluster lacks that CRD still serves its jobs (deliveries say why not).
        channel_watch = Informer(
            ctx.client,
            kubeio.ChronosChannelResource,
            channels,
            scope,
            on_error=lambda kind, exc: metrics.ERRORS.labels("watch_chronoschannel").inc(),
        )
        tasks.append(asyncio.create_task(channel_watch.run(), name="watch channels"))
        tasks.append(asyncio.create_task(_channel_worker(ctx, channel_queue), name="channels"))
        tasks.append(
            asyncio.create_task(_channel_rounds(ctx, channel_queue, channels), name="ch rounds")
        )
        await asyncio.gather(*tasks)
    finally:
        ctx.figures.watch(None, None)
        for task in tasks:
            task.cancel()
        notifier.close()  # a new leader plans again from the ledger
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
            await notifier.wait_closed()
