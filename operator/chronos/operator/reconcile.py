"""Reconciling one ChronosJob into its CronJob: apply what ``desired`` says, report it in
the status (the worker calls it from ``controller.sync``)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chronos import contract as c
from chronos.models import wire as w
from chronos.models.timing import Suspension
from chronos.models.wire import ChronosJobDict, StatusDict
from chronos.operator import chains, kubeio, metrics
from chronos.operator import schedules as sch
from chronos.operator import status as st
from chronos.operator.cache import digest
from chronos.operator.context import OperatorContext, patch_status
from chronos.operator.desired import (
    Desired,
    RejectedError,
    anchor,
    desired_state,
    is_subset,
    next_runs,
)
from chronos.times import rfc3339

log = logging.getLogger(__name__)


#: How long a reconcile reuses another's look-up of a namespace's runner ServiceAccount:
#: a burst of 1,000 new jobs asked the API server 1,000 times (housekeeping, which asks
#: afresh every round, corrects a stale answer).
ACCOUNT_SECONDS = 1.0


def _clock_needs_reset(existing: dict[str, Any], desired: dict[str, Any]) -> bool:
    old, new = existing.get("spec", {}), desired["spec"]
    return (
        old.get("schedule") != new["schedule"]
        or old.get("timeZone") != new["timeZone"]
        or (bool(old.get("suspend")) and not new["suspend"])
    )


async def blockers(
    ctx: OperatorContext,
    desired: Desired,
    namespace: str,
    now: datetime,
    accounts: dict[str, bool] | None = None,
    name: str = "",
) -> st.Blockers:
    """What stops this job's runs; ``accounts`` memoises the ServiceAccount look-up per
    namespace (housekeeping passes one per round)."""
    if desired.spec.task.container is not None:
        # A container task's pod runs as its own account, not the runner's: a missing
        # one is the Job's FailedCreate, recorded as a failed launch naming it.
        return st.Blockers(
            never_fires=desired.schedule.never_fires(now),
            missing_account=None,
            calendar=ctx.calendar_problems.get((namespace, name)),
        )
    account = ctx.settings.runner_service_account
    exists = (accounts or {}).get(namespace)
    if exists is None and accounts is None:
        seen = ctx.accounts.get(namespace)
        if seen is not None and time.monotonic() - seen[0] < ACCOUNT_SECONDS:
            exists = seen[1]
    if exists is None:
        exists = await kubeio.service_account_exists(ctx.client, namespace, account)
        ctx.accounts[namespace] = (time.monotonic(), exists)
        if accounts is not None:
            accounts[namespace] = exists
    return st.Blockers(
        never_fires=desired.schedule.never_fires(now),
        missing_account=None if exists else account,
        calendar=ctx.calendar_problems.get((namespace, name)),
    )


async def _report_unapplied(
    ctx: OperatorContext,
    cr: ChronosJobDict,
    *,
    cronjob: str,
    missing: bool,
    error: Exception,
    now: datetime,
) -> None:
    """Ready=False while the CronJob is missing or differs and cannot be applied (the
    sync is retried with backoff; its success sets Ready=True again). Best effort: the
    same API server that refused the CronJob may refuse this write too."""
    meta = cr["metadata"]
    fields = st.unapplied(
        cr.get("status") or {},
        generation=meta.get("generation"),
        cronjob=cronjob,
        missing=missing,
        error=kubeio.describe_error(error),
        now=now,
    )
    try:
        if write := st.changes(cr.get("status") or {}, fields):
            await patch_status(ctx, cr, write)
    except Exception:  # noqa: BLE001 - the apply's own error is what the caller raises
        log.debug("%s/%s: could not report the failed apply", meta["namespace"], meta["name"])


class NameTakenError(Exception):
    """A schedule's CronJob name belongs to another ChronosJob's CronJob."""


def _owner_of(existing: dict[str, Any] | None, record: Any) -> str | None:
    if record is not None and record.owner is not None:
        return str(record.owner)
    if existing is None:
        return None
    owner = (existing.get("metadata", {}).get("annotations") or {}).get(c.CHRONOSJOB_ANNOTATION)
    return None if owner is None else str(owner)


async def _apply_cronjob(
    ctx: OperatorContext,
    cr: ChronosJobDict,
    manifest: dict[str, Any],
    *,
    created: bool,
    reset_at: datetime,
    now: datetime,
) -> tuple[bool, bool]:
    """Bring one CronJob in line with ``manifest``; returns (written, existed)."""
    meta = cr["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    cronjob = manifest["metadata"]["name"]
    # The watch cache spares a GET per reconcile; a new ChronosJob has no CronJob yet.
    existing: dict[str, Any] | None = None
    key, wanted = (namespace, cronjob), digest(manifest)
    record = ctx.cache.cronjob(*key)
    if record is not None and record.holds(manifest):
        changed = False
        existing = {
            "spec": {
                "schedule": record.schedule,
                "timeZone": record.time_zone,
                "suspend": record.suspend,
            }
        }
    elif ctx.expectations.pending(key, wanted):
        # This process wrote this very manifest and the watch has not shown it yet:
        # writing it again would be a repeat (and its schedule clock is set).
        changed = False
    else:
        # Not known to hold this manifest (not seen yet, checked against another
        # spec, or drifted): one read decides, so a CronJob in sync costs no write.
        # A job without status may have been created by this process while the
        # cache shows neither (a write pending): read then too.
        if not created or ctx.expectations.pending(key) or record is not None:
            existing = await kubeio.get_cronjob(ctx.client, *key)
        owner = _owner_of(existing, record)
        if existing is not None and owner is not None and owner != name:
            # Names are <job>-<schedule>: job "a" with a schedule "b-x" and job "a-b" with
            # a schedule "x" meet at "a-b-x". First come, first served: never take over
            # another job's CronJob (and its runs).
            raise NameTakenError(
                f"CronJob {cronjob} belongs to ChronosJob {owner}; rename the schedule"
            )
        changed = existing is None or not is_subset(manifest, existing)
    if existing is not None and _clock_needs_reset(existing, manifest):
        await kubeio.reset_schedule_clock(ctx.client, namespace, cronjob, reset_at)
    if changed:
        try:
            written = await kubeio.apply_cronjob(ctx.client, manifest, new=existing is None)
        except Exception as exc:
            await _report_unapplied(
                ctx, cr, cronjob=cronjob, missing=existing is None, error=exc, now=now
            )
            raise
        ctx.expectations.wrote(key, wanted, written)
    return changed, existing is not None


async def _delete_stale(ctx: OperatorContext, cr: ChronosJobDict, desired: Desired) -> None:
    """Delete the CronJobs of schedules the spec no longer has. Their Jobs are orphaned,
    not deleted: a run under way finishes and is recorded (the Jobs keep the ChronosJob's
    label), and their TTL removes them."""
    meta = cr["metadata"]
    namespace = meta["namespace"]
    wanted = {p.cronjob for p in desired.schedules}
    for cronjob in sorted(ctx.cache.cronjobs_of(namespace, meta["name"]) - wanted):
        await kubeio.delete_cronjob(ctx.client, namespace, cronjob)
        ctx.expectations.gone((namespace, cronjob))
        log.info(
            "%s/%s: deleted CronJob %s (its schedule was removed)", namespace, meta["name"], cronjob
        )


def _reset_time(desired: Desired, now: datetime, grace_seconds: float) -> datetime:
    spec = desired.spec
    boundary = sch.last_boundary(
        active_from=spec.active_from, suspend_until=spec.suspend_until, now=now
    )
    return sch.clock_reset_time(now, boundary, timedelta(seconds=grace_seconds))


def _suspension(desired: Desired, status: StatusDict, now: datetime) -> sch.SuspensionState | None:
    stored = status.get(w.SUSPENSION) or {}
    return sch.suspension(
        until=desired.spec.suspend_until,
        reason=desired.spec.suspend_reason,
        stored_until=stored.get("until"),
        stored_reason=stored.get("reason"),
        stored_resumed_at=stored.get(w.RESUMED_AT),
        now=now,
    )


async def reconcile(ctx: OperatorContext, cr: ChronosJobDict, *, created: bool = False) -> None:
    """Apply the desired CronJobs and report them; ``created``: the ChronosJob is new."""
    meta = cr["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    generation = meta.get("generation")
    status = cr.get("status") or {}
    now = datetime.now(UTC)
    with metrics.RECONCILE_SECONDS.time():
        try:
            desired = ctx.calendars.apply(desired_state(cr, ctx.settings, now), namespace)
        except RejectedError as rejection:
            await _reject(ctx, cr, rejection, now)
            return
        if desired.spec.after and (cycle := ctx.chains.cycle_through(namespace, name)):
            # Its CronJobs stay as they are; no chain run starts (operate.serve_chains).
            await _reject(ctx, cr, RejectedError(chains.CYCLE, chains.cycle_message(cycle)), now)
            return
        reset_at = _reset_time(desired, now, ctx.settings.missed_run_grace_seconds)
        changed = existed = False
        try:
            for manifest in desired.cronjobs:
                wrote, was = await _apply_cronjob(
                    ctx, cr, manifest, created=created, reset_at=reset_at, now=now
                )
                changed, existed = changed or wrote, existed or was
        except NameTakenError as exc:
            await _reject(ctx, cr, RejectedError("CronJobNameTaken", str(exc)), now)
            return
        await _delete_stale(ctx, cr, desired)
        enabled = desired.spec.enabled
        suspension = _suspension(desired, status, now)
        first = desired.schedules[0]
        fields = st.reconciled(
            status,
            generation=generation,
            schedule=desired.schedule,
            cronjob=first.cronjob,
            enabled=enabled,
            now=now,
            namespace=namespace,
            blockers=await blockers(ctx, desired, namespace, now, name=name),
            schedules=[p.status() for p in desired.schedules],
            next_runs=next_runs(desired, now, anchor(cr)),
            paused=(
                None
                if desired.window.running or desired.window.reason is None
                else (desired.window.reason, desired.window.message)
            ),
            message=sch.ready_message(desired.schedules),
            suspension=(
                None
                if suspension is None
                else Suspension(
                    until=suspension.until,
                    reason=suspension.reason,
                    resumed_at=suspension.resumed_at,
                )
            ),
        )
        if first.cron is None:
            fields.cron = None  # an RRULE: status.schedules[0].rrule says what runs
        running = desired.running
        schedule_moved = (status.get(w.CRON), status.get(w.TIME_ZONE)) != (
            fields.cron,
            desired.schedule.time_zone,
        )
        if not running:
            # Slots while disabled, outside the window or suspended are not missed.
            fields.slots_checked_until = None
        elif schedule_moved or not status.get(w.SLOTS_CHECKED_UNTIL):
            # Slots before the reset belong to an old schedule or a suspended period.
            fields.slots_checked_until = st.to_seconds(reset_at)
        # Nothing to write for a ChronosJob in sync (every one, after a restart).
        if write := st.changes(status, fields):
            await patch_status(ctx, cr, write)
        if suspension is not None and suspension.resumed_now:
            why = f" ({suspension.reason})" if suspension.reason else ""
            until = rfc3339(suspension.until) if suspension.until else "?"
            await kubeio.post_event(
                ctx.client,
                cr,
                type="Normal",
                reason=sch.RESUMED,
                message=f"suspension until {until}{why} ended; runs resume",
            )
            log.info("%s/%s: suspension until %s ended", namespace, name, until)
        if changed and existed:
            ready = next((c for c in fields.conditions or [] if c.type == st.READY), None)
            await kubeio.post_event(
                ctx.client,
                cr,
                type="Normal",
                reason="Updated",
                message=ready.message if ready else "",
            )
        metrics.RECONCILES.labels("applied" if changed else "unchanged").inc()


async def _reject(
    ctx: OperatorContext, cr: ChronosJobDict, rejection: RejectedError, now: datetime
) -> None:
    meta = cr["metadata"]
    status = cr.get("status") or {}
    generation = meta.get("generation")
    previous = st.condition(status.get(w.CONDITIONS), st.READY) or {}
    unchanged = (
        previous.get("reason") == rejection.reason
        and previous.get("message") == rejection.message
        and previous.get(w.OBSERVED_GENERATION) == generation
    )
    if not unchanged:
        fields = st.rejected(
            status,
            generation=generation,
            reason=rejection.reason,
            message=rejection.message,
            now=now,
        )
        await patch_status(ctx, cr, fields)
        await kubeio.post_event(
            ctx.client,
            cr,
            type="Warning",
            reason=rejection.reason,
            message=rejection.message,
        )
        log.warning("%s/%s rejected: %s", meta["namespace"], meta["name"], rejection.message)
    metrics.RECONCILES.labels("rejected").inc()
