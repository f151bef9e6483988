"""What housekeeping does for one ChronosJob, decided by a pure function.

Every CHRONOS_HOUSEKEEPING_SECONDS the operator queues each cached ChronosJob for a
routine visit (``controller._housekeeping_rounds``; the worker's ``controller.sync``
serves it). What it then writes depends only on the cached objects, the clock and the
settings, so :func:`plan` computes it without I/O and returns a list of actions;
:func:`carry_out` performs them, in order. What needs the API server first (whether the
runner ServiceAccount exists) is asked by the caller and arrives here as ``blockers``;
a missing or differing CronJob is repaired by the reconcile before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from chronos.models import wire as w
from chronos.models.chronosjob import ChronosJobStatus, RunRecord
from chronos.models.resolve import ResolvedSchedule
from chronos.models.timing import CatchUpPolicy
from chronos.models.wire import ChronosJobDict, RunRecordDict, StatusDict
from chronos.operator import kubeio, runs
from chronos.operator import schedules as sch
from chronos.operator import status as st
from chronos.operator.context import OperatorContext, patch_status
from chronos.operator.desired import Desired, anchor, next_runs
from chronos.operator.settings import OperatorSettings

MISSED_RUN = "MissedRun"


@dataclass(frozen=True)
class UpdateRunsBlocked:
    """Make the RunsBlocked condition say ``blockers`` (re-checked against a fresh read,
    since the runner writes the same status)."""

    blockers: st.Blockers
    cron: str
    generation: int | None
    now: datetime

    def change(self, namespace: str, fresh: StatusDict) -> ChronosJobStatus | None:
        old = fresh.get(w.CONDITIONS)
        new = st.blocked_condition(
            old,
            self.blockers,
            cron=self.cron,
            namespace=namespace,
            generation=self.generation,
            now=self.now,
        )
        if st.same_conditions(old, new):
            return None
        return ChronosJobStatus(conditions=st.typed_conditions(new))


@dataclass(frozen=True)
class ReportFailedLaunch:
    """A Job still without a pod after the grace period (its controller's FailedCreate
    Events say why), or, with ``pods_stuck``, whose pod never became ready (a pod waiting
    for an image it cannot get says why): if so, record a failed run, delete the Job and
    post a Warning event. The Events or pods are read when carrying this out, so only
    overdue Jobs cost a request."""

    job: dict[str, Any]
    grace: timedelta
    now: datetime
    history_limit: int
    pods_stuck: bool = False


@dataclass(frozen=True)
class RecordRuns:
    """Prepend runs to status.history (kept to ``limit`` entries)."""

    records: list[RunRecord]
    limit: int


@dataclass(frozen=True)
class PostEvent:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class PatchStatus:
    """Merge-patch operator-owned status fields (those set on ``patch``)."""

    patch: ChronosJobStatus


Action = UpdateRunsBlocked | ReportFailedLaunch | RecordRuns | PostEvent | PatchStatus


def plan(
    cr: ChronosJobDict,
    desired: Desired,
    *,
    jobs: Iterable[dict[str, Any]],
    blockers: st.Blockers,
    now: datetime,
    settings: OperatorSettings,
) -> list[Action]:
    """The writes that bring ``cr``'s status up to date at ``now``.

    ``jobs`` are the ChronosJob's Jobs from the watch cache. In order: RunsBlocked (only
    once the CronJob is applied: until then Ready=False says why), failed launches,
    missed schedule slots (recorded, each with a Warning event), then nextRunTimes and
    the missed-slot mark in one status patch.
    """
    meta, status = cr["metadata"], cr.get("status") or {}
    spec = desired.spec
    jobs = list(jobs)
    grace = timedelta(seconds=settings.missed_run_grace_seconds)
    actions: list[Action] = []

    ready = st.condition(status.get(w.CONDITIONS), st.READY)
    if ready is not None and ready.get("status") == "True":
        blocked = UpdateRunsBlocked(blockers, desired.schedule.cron, meta.get("generation"), now)
        if blocked.change(meta["namespace"], status) is not None:
            actions.append(blocked)

    history_limit = settings.history_limit_of(spec)
    for job in jobs:
        if runs.launch_overdue(job, now=now, grace=grace):
            actions.append(ReportFailedLaunch(job, grace, now, history_limit))
        elif runs.start_overdue(job, now=now, grace=grace):
            actions.append(ReportFailedLaunch(job, grace, now, history_limit, pods_stuck=True))

    patch = ChronosJobStatus()
    upcoming = next_runs(desired, now, anchor(cr))
    if upcoming != status.get(w.NEXT_RUN_TIMES):
        patch.next_run_times = upcoming
    since = status.get(w.SLOTS_CHECKED_UNTIL)
    # With catch-up, the operator accounts for missed slots itself (``operate``).
    if desired.running and since and spec.effective_catch_up().policy == CatchUpPolicy.NONE:
        missed, mark = missed_per_schedule(
            desired,
            since=datetime.fromisoformat(since),
            now=now,
            jobs=jobs,
            history=status.get(w.HISTORY) or [],
            grace=grace,
        )
        if mark != datetime.fromisoformat(since):
            patch.slots_checked_until = st.to_seconds(mark)
        if missed:
            actions.append(RecordRuns(missed, history_limit))
            actions += [
                PostEvent("Warning", MISSED_RUN, f"{r.scheduled_time}: {r.message}") for r in missed
            ]
    if patch.model_fields_set:
        actions.append(PatchStatus(patch))
    return actions


def missed_per_schedule(
    desired: Desired,
    *,
    since: datetime,
    now: datetime,
    jobs: list[dict[str, Any]],
    history: list[RunRecordDict],
    grace: timedelta,
) -> tuple[list[RunRecord], datetime]:
    """Missed slots of every schedule the CronJob controller fires, each checked against
    its own CronJob's Jobs and its own history entries (two schedules may share a slot:
    one's run is not the other's), and the new mark.

    Schedules the operator fires itself (mode Operator) account for their own slots.
    The mark is the newest slot examined, unless a schedule had more slots than one pass
    examines: then that schedule's last one, so none of its slots is left unexamined
    (slots already recorded are not recorded twice: the history holds them).
    """
    spec = desired.spec
    context = runs.SlotContext(spec.concurrency_policy, spec.starting_deadline_seconds)
    first = desired.schedules[0].name if desired.schedules else None
    records: list[RunRecord] = []
    marks: list[datetime] = []
    capped: list[datetime] = []
    for planned in desired.schedules:
        if planned.mode != sch.CRONJOB_MODE or planned.cron is None:
            continue
        own_jobs = [j for j in jobs if (runs.schedule_of(j) or first) == planned.name]
        own_history = [h for h in history if (h.get(w.SCHEDULE) or first) == planned.name]
        schedule = ResolvedSchedule(planned.cron, desired.schedule.time_zone, planned.description)
        found, mark = runs.missed_slots(
            schedule,
            since=since,
            now=now,
            jobs=own_jobs,
            history=own_history,
            context=context,
            grace=grace,
        )
        for record in found:
            # runIds never repeat: another schedule's slot at the same time is its own.
            run_id = record.run_id
            if planned.index:
                run_id = f"missed-{planned.name}-{run_id.removeprefix('missed-')}"
            records.append(record.model_copy(update={"run_id": run_id, "schedule": planned.name}))
        marks.append(mark)
        due = [t for t in schedule.next_runs(since, runs.MAX_SLOTS) if t <= now - grace]
        if len(due) == runs.MAX_SLOTS:
            capped.append(mark)
    mark = min(capped) if capped else max(marks, default=since)
    records.sort(key=lambda r: r.scheduled_time or since)
    return records, mark


async def carry_out(
    ctx: OperatorContext, cr: ChronosJobDict, actions: list[Action]
) -> list[RunRecord]:
    """Perform ``plan``'s actions for ``cr``, in order; returns the runs it recorded
    (for the metrics)."""
    client, meta = ctx.client, cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    recorded: list[RunRecord] = []
    for action in actions:
        match action:
            case UpdateRunsBlocked():
                await kubeio.update_status(
                    client, namespace, name, partial(action.change, namespace)
                )
            case ReportFailedLaunch(job=job, grace=grace, now=now):
                if action.pods_stuck:
                    pods = await kubeio.pods_of(client, namespace, job["metadata"]["name"])
                    record = runs.stuck_launch(job, pods, now=now)
                else:
                    events = await kubeio.failed_create_events(client, job)
                    record = runs.failed_launch(job, events, now=now, grace=grace)
                if record is None:
                    continue  # not (yet) a failure its controller reports
                if await kubeio.record_runs(
                    client, namespace, name, [record], action.history_limit
                ):
                    recorded.append(record)
                await kubeio.delete_job(client, namespace, job["metadata"]["name"])
                await kubeio.post_event(
                    client,
                    cr,
                    type="Warning",
                    reason=runs.FAILED_LAUNCH,
                    message=record.message or "",
                )
            case RecordRuns(records=records, limit=limit):
                if await kubeio.record_runs(client, namespace, name, records, limit):
                    recorded += records
            case PostEvent(type=type_, reason=reason, message=message):
                await kubeio.post_event(client, cr, type=type_, reason=reason, message=message)
            case PatchStatus(patch=patch):
                await patch_status(ctx, cr, patch)
    return recorded
