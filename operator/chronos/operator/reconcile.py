"""Reconciling one ChronosJob into its CronJob: apply what ``desired`` says, report it in
the status (the worker calls it from ``controller.sync``)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from chronos.models import wire as w
from chronos.models.wire import ChronosJobDict
from chronos.operator import kubeio, metrics
from chronos.operator import status as st
from chronos.operator.cache import digest
from chronos.operator.context import OperatorContext, patch_status
from chronos.operator.desired import Desired, RejectedError, desired_state, is_subset
from chronos.operator.naming import cronjob_name

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
    ctx: OperatorContext, cr: ChronosJobDict, *, missing: bool, error: Exception, now: datetime
) -> None:
    """Ready=False while the CronJob is missing or differs and cannot be applied (the
    sync is retried with backoff; its success sets Ready=True again). Best effort: the
    same API server that refused the CronJob may refuse this write too."""
    meta = cr["metadata"]
    fields = st.unapplied(
        cr.get("status") or {},
        generation=meta.get("generation"),
        cronjob=cronjob_name(meta["name"]),
        missing=missing,
        error=kubeio.describe_error(error),
        now=now,
    )
    try:
        if write := st.changes(cr.get("status") or {}, fields):
            await patch_status(ctx, cr, write)
    except Exception:  # noqa: BLE001 - the apply's own error is what the caller raises
        log.debug("%s/%s: could not report the failed apply", meta["namespace"], meta["name"])


async def reconcile(ctx: OperatorContext, cr: ChronosJobDict, *, created: bool = False) -> None:
    """Apply the desired CronJob and report it; ``created``: the ChronosJob is new."""
    meta = cr["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    generation = meta.get("generation")
    status = cr.get("status") or {}
    now = datetime.now(UTC)
    with metrics.RECONCILE_SECONDS.time():
        try:
            desired = desired_state(cr, ctx.settings)
        except RejectedError as rejection:
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
                log.warning("%s/%s rejected: %s", namespace, name, rejection.message)
            metrics.RECONCILES.labels("rejected").inc()
            return

        # The watch cache spares a GET per reconcile; a new ChronosJob has no CronJob yet.
        existing: dict[str, Any] | None = None
        key, wanted = (namespace, cronjob_name(name)), digest(desired.cronjob)
        record = ctx.cache.cronjob(*key)
        if record is not None and record.holds(desired.cronjob):
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
            if not created or ctx.expectations.pending(key):
                existing = await kubeio.get_cronjob(ctx.client, *key)
            changed = existing is None or not is_subset(desired.cronjob, existing)
        if existing is not None and _clock_needs_reset(existing, desired.cronjob):
            await kubeio.reset_schedule_clock(ctx.client, namespace, cronjob_name(name), now)
        if changed:
            try:
                written = await kubeio.apply_cronjob(
                    ctx.client, desired.cronjob, new=existing is None
                )
            except Exception as exc:
                await _report_unapplied(ctx, cr, missing=existing is None, error=exc, now=now)
                raise
            ctx.expectations.wrote(key, wanted, written)
        enabled = desired.spec.enabled
        fields = st.reconciled(
            status,
            generation=generation,
            schedule=desired.schedule,
            cronjob=cronjob_name(name),
            enabled=enabled,
            now=now,
            namespace=namespace,
            blockers=await blockers(ctx, desired, namespace, now, name=name),
        )
        schedule_moved = (status.get(w.CRON), status.get(w.TIME_ZONE)) != (
            desired.schedule.cron,
            desired.schedule.time_zone,
        )
        if not enabled:
            fields.slots_checked_until = None
        elif schedule_moved or not status.get(w.SLOTS_CHECKED_UNTIL):
            # Slots before now belong to an old schedule or to a disabled period.
            fields.slots_checked_until = st.to_seconds(now)
        # Nothing to write for a ChronosJob in sync (every one, after a restart).
        if write := st.changes(status, fields):
            await patch_status(ctx, cr, write)
        if changed and existing is not None:
            ready = next((c for c in fields.conditions or [] if c.type == st.READY), None)
            await kubeio.post_event(
                ctx.client,
                cr,
                type="Normal",
                reason="Updated",
                message=ready.message if ready else "",
            )
        metrics.RECONCILES.labels("applied" if changed else "unchanged").inc()
