"""Operator mode, catch-up and backfill for one ChronosJob: the I/O around the pure
planners ``firing`` and ``backfill``.

Each sync plans from the watch cache first, without a request; only a plan that has
something to do reads the ChronosJob and its Jobs from the API server and plans again on
that (the cache may lag behind a Job this process just created), then creates the Jobs
(a 409 means the slot was served already), records the skipped and missed slots, and
writes ``slotsFiredUntil`` and ``backfills`` — in that order, so a crash in between
repeats a create (a conflict), never a run. The job is woken again at its next slot
(``OperatorContext.wake``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chronos import contract as c
from chronos.models import wire as w
from chronos.models.chronosjob import ChronosJobSpec, ChronosJobStatus, ConcurrencyPolicy
from chronos.models.jobstatus import QueuedRun
from chronos.models.queue import QUEUE_FULL, enqueues, max_queued
from chronos.models.timing import CatchUpPolicy, ScheduleMode
from chronos.models.wire import ChronosJobDict
from chronos.operator import backfill, calendars, firing, kubeio, metrics, queue
from chronos.operator import schedules as sch
from chronos.operator.context import OperatorContext
from chronos.operator.cronjob import run_now_job, slot_job, with_parameters
from chronos.operator.naming import cronjob_name
from chronos.operator.runs import finished
from chronos.operator.status import to_seconds
from chronos.runnow import stamp
from chronos.schedule import ScheduleError
from chronos.schedule.occurrences import TimeRules
from chronos.timerules import schedule_mode, time_rules
from chronos.times import parse_time

log = logging.getLogger(__name__)


def _names(jobs: Iterable[dict[str, Any]]) -> set[str]:
    return {j["metadata"]["name"] for j in jobs}


def known_runs(jobs: Iterable[dict[str, Any]], status: Any) -> set[str]:
    runs = [status.get(w.LAST_RUN) or {}, *(status.get(w.HISTORY) or [])]
    return _names(jobs) | {str(h.get(w.RUN_ID)) for h in runs if h.get(w.RUN_ID)}


def active_jobs(jobs: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(j["metadata"]["name"] for j in jobs if not finished(j))


class _Plans:
    def __init__(
        self,
        ctx: OperatorContext,
        cr: ChronosJobDict,
        spec: ChronosJobSpec,
        rules: TimeRules,
        served: set[str],
        native: frozenset[str],
        cronjobs: dict[str, str],
    ) -> None:
        self.ctx, self.cr, self.spec, self.rules = ctx, cr, spec, rules
        self.served, self.native = served, native
        #: schedule name -> its CronJob's name (the stem of its slot Jobs' names)
        self.cronjobs = cronjobs

    def make(
        self, cr: ChronosJobDict, jobs: list[dict[str, Any]], now: datetime, since: datetime
    ) -> tuple[firing.FiringPlan | None, backfill.BackfillPlan | None, queue.QueuePlan | None]:
        status: Any = cr.get("status") or {}
        known, active = known_runs(jobs, status), active_jobs(jobs)
        policy = self.spec.concurrency_policy
        enqueue = enqueues(self.spec)
        # Under Enqueue every slot due is planned as under Allow, then waits its turn in
        # the queue (backfill keeps its own one-at-a-time rule: ``policy``).
        slots_policy = ConcurrencyPolicy.ALLOW if enqueue else policy
        fire = None
        if self.served:
            catch = self.spec.effective_catch_up()
            grace = self.ctx.settings.missed_run_grace_seconds
            late = self.spec.starting_deadline_seconds
            fire = firing.plan(
                firing.restrict(self.rules, self.served),
                cronjobs=self.cronjobs,
                since=since,
                now=now,
                known=known,
                active=active,
                policy=slots_policy,
                late=timedelta(seconds=late if late is not None else grace),
                catch_up=firing.CatchUp(
                    CatchUpPolicy(catch.policy),
                    timedelta(seconds=catch.window_seconds),
                    catch.max,
                ),
                native=self.native,
            )
        lined = None
        if enqueue:
            lined = self._queue(status, fire, known=known, active=active, now=now)
            if fire is not None:
                fire = dataclasses.replace(fire, fire=[])
        elif status.get(w.QUEUED):
            stored = [QueuedRun.model_validate(q) for q in status.get(w.QUEUED) or []]
            lined = queue.abandon(stored, known=known, now=now)
        annotation = (cr["metadata"].get("annotations") or {}).get(c.BACKFILL_ANNOTATION)
        fill = None
        if annotation or status.get(w.BACKFILLS):
            fill = backfill.plan(
                self.rules,
                job=cr["metadata"]["name"],
                annotation=annotation,
                status=status.get(w.BACKFILLS) or [],
                cronjobs=self.cronjobs,
                known=known,
                active=[
                    *active,
                    *(f.job for f in (fire.fire if fire else [])),
                    *([lined.start.run_id] if lined and lined.start else []),
                ],
                policy=policy,
                now=now,
            )
        return fire, fill, lined

    def _queue(
        self,
        status: Any,
        fire: firing.FiringPlan | None,
        *,
        known: set[str],
        active: list[str],
        now: datetime,
    ) -> queue.QueuePlan:
        """The queue after this pass: the slots due join it (firing's starts, as
        arrivals); the oldest starts when no run is active."""
        stored = [QueuedRun.model_validate(q) for q in status.get(w.QUEUED) or []]
        arrivals = [
            queue.slot_arrival(
                f.job,
                trigger=f.trigger,
                schedule=f.slot.schedule,
                scheduled_time=f.slot.instant,
                now=now,
            )
            for f in (fire.fire if fire else [])
        ]
        return queue.plan(
            stored, arrivals, active=active, known=known, limit=max_queued(self.spec), now=now
        )


def _busy(
    fire: firing.FiringPlan | None,
    fill: backfill.BackfillPlan | None,
    lined: queue.QueuePlan | None = None,
) -> bool:
    return bool(
        (fire and (fire.fire or fire.records or fire.fired_until))
        or (fill and (fill.fire or fill.entries is not None or fill.served))
        or (lined and (lined.start or lined.dropped or lined.changed))
    )


async def serve(ctx: OperatorContext, cr: ChronosJobDict) -> None:
    """Fire what is due for ``cr`` (operator-mode slots, catch-up, backfill)."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        spec = ChronosJobSpec.model_validate(cr.get("spec") or {})
    except ValidationError:
        return  # reconcile reports it
    if not spec.enabled:
        return
    zone = spec.time_zone or ctx.settings.default_time_zone
    calendar = None
    if spec.calendar_ref is not None:
        try:
            calendar = await ctx.calendars.resolve(ctx.client, namespace, spec.calendar_ref.name)
        except calendars.CalendarUnusableError as problem:
            ctx.calendar_problems[(namespace, name)] = (problem.reason, problem.message)
            return  # runs wait for a usable calendar; RunsBlocked says why
    ctx.calendar_problems.pop((namespace, name), None)
    try:
        rules = time_rules(spec, job=(namespace, name), zone=zone, calendar=calendar)
    except ScheduleError:
        return  # reconcile reports it
    queues = enqueues(spec)
    own = {
        r.name
        for r in rules.schedules
        if schedule_mode(rules, r, queues=queues) == ScheduleMode.OPERATOR
    }
    catching = spec.effective_catch_up().policy != CatchUpPolicy.NONE
    native = (
        frozenset(r.name for r in rules.schedules if r.name not in own) if catching else frozenset()
    )
    served = own | native
    annotations = meta.get("annotations") or {}
    status: Any = cr.get("status") or {}
    if (
        not served
        and not annotations.get(c.BACKFILL_ANNOTATION)
        and not status.get(w.BACKFILLS)
        and not status.get(w.QUEUED)  # left by an Enqueue policy since changed
    ):
        return  # the common case, decided without the costlier checks below
    try:
        # The CronJobs' own plan (reconcile's): a spec it refuses (a schedule too
        # frequent) fires nothing either; and each schedule's CronJob name.
        planned = sch.plan_schedules(
            spec,
            namespace=namespace,
            name=name,
            zone=zone,
            min_interval_seconds=ctx.settings.min_interval_seconds,
        )
    except ScheduleError:
        return
    now = datetime.now(UTC)
    since = parse_time(status.get(w.SLOTS_FIRED_UNTIL))
    if served and since is None:
        # Slots before the operator first served this job are not its to fire.
        await kubeio.patch_status(
            ctx.client, namespace, name, ChronosJobStatus(slots_fired_until=to_seconds(now))
        )
        since = now
    plans = _Plans(ctx, cr, spec, rules, served, native, {p.name: p.cronjob for p in planned})
    fire, fill, lined = plans.make(cr, ctx.cache.jobs_of(namespace, name), now, since or now)
    if fire is not None and fire.wake_at is not None:
        ctx.wake((namespace, name), fire.wake_at)
    if not _busy(fire, fill, lined):
        return
    # Something is due: decide again on what the API server holds now.
    fresh = await kubeio.get_chronosjob(ctx.client, namespace, name)
    if fresh is None:
        return
    jobs = await kubeio.jobs_of(ctx.client, namespace, name)
    fresh_status: Any = fresh.get("status") or {}
    since = parse_time(fresh_status.get(w.SLOTS_FIRED_UNTIL)) or since or now
    fire, fill, lined = plans.make(fresh, jobs, now, since)
    if lined is not None:
        lined = await _serve_queue(ctx, fresh, lined, plans.cronjobs)
    await _carry_out(ctx, fresh, spec, fire, fill, lined)


async def _carry_out(
    ctx: OperatorContext,
    cr: ChronosJobDict,
    spec: ChronosJobSpec,
    fire: firing.FiringPlan | None,
    fill: backfill.BackfillPlan | None,
    lined: queue.QueuePlan | None = None,
) -> None:
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    templates: dict[str, dict[str, Any] | None] = {}
    started: list[str] = []
    for item in [*(fire.fire if fire else []), *(fill.fire if fill else [])]:
        if item.cronjob not in templates:
            templates[item.cronjob] = await kubeio.get_cronjob(ctx.client, namespace, item.cronjob)
        template = templates[item.cronjob]
        if template is None:
            log.info("%s/%s: CronJob %s missing; slot waits", namespace, name, item.cronjob)
            return  # reconcile restores it; nothing advances past an unserved slot
        for other in item.replace:
            await kubeio.delete_job(ctx.client, namespace, other)
        manifest = slot_job(
            template, name=item.job, slot=item.slot.instant, trigger=item.trigger.value
        )
        if await kubeio.create_slot_job(ctx.client, manifest):
            metrics.RUNS_STARTED.inc()
            started.append(firing.describe(item))
    # The runs recorded and the marks (slotsFiredUntil, backfills) in one write, right
    # after the creates: a crash in between repeats a create (a conflict), and the
    # shorter that window, the less likely a Job deleted in it (a run ended and
    # collected) is created again.
    patch = ChronosJobStatus()
    if fire is not None and fire.fired_until is not None:
        patch.slots_fired_until = fire.fired_until
    if fill is not None and fill.entries is not None:
        patch.backfills = list(fill.entries)
    if lined is not None and lined.changed:
        # In the write that moves slotsFiredUntil past the arrivals: a slot is listed
        # again or queued, never lost (nor queued twice: its run id is its slot's).
        patch.queued = lined.queued or None
        patch.queued_count = len(lined.queued) or None
    slot_records = fire.records if fire is not None else []
    records = [*slot_records, *(lined.dropped if lined else [])]
    if records or patch.model_fields_set:
        limit = ctx.settings.history_limit_of(spec)
        await kubeio.record_runs(ctx.client, namespace, name, records, limit, also=patch)
        for record in records:
            metrics.RUNS_RECORDED.labels(record.result).inc()
    for message in started:
        await kubeio.post_event(
            ctx.client, cr, type="Normal", reason="SlotStarted", message=message
        )
    skipped = [r for r in slot_records if r.result == "skipped"]
    missed = [r for r in slot_records if r.result != "skipped"]
    if skipped:
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Normal",
            reason="SlotSkipped",
            message="; ".join(r.message or "" for r in skipped[-5:]),
        )
    if fire is not None and (missed or fire.unrecorded):
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Warning",
            reason="MissedRun",
            message=f"{len(missed) + fire.unrecorded} slot(s) missed; the newest: "
            f"{missed[-1].scheduled_time if missed else '?'}: "
            f"{missed[-1].message if missed else ''}",
        )
    for ident, message in fill.rejected if fill is not None else []:
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Warning",
            reason="BackfillRejected",
            message=f"backfill {ident}: {message}",
        )
    if lined is not None:
        await _queue_events(ctx, cr, lined)
    if fill is not None and fill.served:
        await _drop_served(ctx, namespace, name, fill.served)


async def _queue_events(ctx: OperatorContext, cr: ChronosJobDict, lined: queue.QueuePlan) -> None:
    if lined.start is not None:
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Normal",
            reason="QueuedRunStarted",
            message=queue.describe(lined.start),
        )
    if lined.dropped:
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Warning",
            reason=lined.dropped[-1].reason or QUEUE_FULL,
            message=f"{len(lined.dropped)} queued run(s) dropped; the newest: "
            f"{lined.dropped[-1].run_id}: {lined.dropped[-1].message}",
        )


async def _serve_queue(
    ctx: OperatorContext, cr: ChronosJobDict, lined: queue.QueuePlan, cronjobs: dict[str, str]
) -> queue.QueuePlan:
    """Create the Job of the queued run whose turn it is (before the queue forgets it:
    a crash in between finds its name among the Jobs). Returns the plan to write: with
    the run back at the head of the queue if its CronJob (the template) is missing."""
    run = lined.start
    if run is None:
        return lined
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    stem = cronjobs.get(run.schedule or "") or cronjob_name(name)
    template = await kubeio.get_cronjob(ctx.client, namespace, stem)
    if template is None:
        log.info("%s/%s: CronJob %s missing; the queued run waits", namespace, name, stem)
        queued = [run, *lined.queued]  # reconcile restores it; the run keeps its turn
        return dataclasses.replace(lined, start=None, queued=queued, changed=True)
    if run.token is not None:
        manifest = run_now_job(
            template, chronosjob=name, token=run.token, requested_at=stamp(run.queued_at)
        )
        manifest["metadata"]["name"] = run.run_id  # the name it was queued under
        manifest = with_parameters(manifest, run.parameters)
        created = await kubeio.create_run_now_job(ctx.client, manifest)
    else:
        manifest = slot_job(
            template,
            name=run.run_id,
            slot=run.scheduled_time or run.queued_at,
            trigger=run.trigger.value,
        )
        created = await kubeio.create_slot_job(ctx.client, manifest)
    if created:
        metrics.RUNS_STARTED.inc()
    return lined


async def _drop_served(ctx: OperatorContext, namespace: str, name: str, served: list[str]) -> None:
    """Remove the requests served for good from the annotation (status.backfills keeps
    what became of them), so the annotation has room for new ones."""

    def change(annotations: dict[str, str]) -> dict[str, str | None] | None:
        text = annotations.get(c.BACKFILL_ANNOTATION)
        try:
            items = json.loads(text) if text else []
        except ValueError:
            return {c.BACKFILL_ANNOTATION: None}  # rejected as a whole already
        if not isinstance(items, list):
            return {c.BACKFILL_ANNOTATION: None}
        left = [i for i in items if not (isinstance(i, dict) and i.get("id") in served)]
        if len(left) == len(items) and "annotation" not in served:
            return None
        return {c.BACKFILL_ANNOTATION: json.dumps(left) if left else None}

    await kubeio.update_annotations(ctx.client, namespace, name, change)
