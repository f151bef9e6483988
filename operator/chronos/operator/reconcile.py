"""Reconciling one ChronosJob into its CronJob (shared by every handler that needs it)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from pydantic import ValidationError

from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import ResolvedSchedule, resolve_schedule
from chronos.models.rules import SpecRuleError
from chronos.operator import kubeio, metrics
from chronos.operator import status as st
from chronos.operator.cache import WatchCache
from chronos.operator.cronjob import ConfigError, build_cronjob
from chronos.operator.naming import cronjob_name
from chronos.operator.settings import OperatorSettings
from chronos.schedule import ScheduleError
from chronos.schedule.errors import ScheduleTooFrequentError

log = logging.getLogger(__name__)


#: How long a reconcile reuses another's look-up of a namespace's runner ServiceAccount:
#: a burst of 1,000 new jobs asked the API server 1,000 times (housekeeping, which asks
#: afresh every round, corrects a stale answer).
ACCOUNT_SECONDS = 1.0


@dataclass
class OperatorContext:
    client: AsyncClient
    settings: OperatorSettings
    cache: WatchCache = field(default_factory=WatchCache)
    #: namespace -> (monotonic time of the look-up, the runner ServiceAccount exists)
    accounts: dict[str, tuple[float, bool]] = field(default_factory=dict)
    #: namespace -> the runner ServiceAccount exists, as asked in this housekeeping round
    round_accounts: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Desired:
    spec: ChronosJobSpec
    schedule: ResolvedSchedule
    cronjob: dict[str, Any]


class RejectedError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def name_of(cr: dict[str, Any]) -> str:
    name: str = cr["metadata"]["name"]
    return name


async def post_event(
    ctx: OperatorContext, kind: str, cr: dict[str, Any], *, reason: str, message: str
) -> None:
    """A Kubernetes Event on the ChronosJob (best effort: a failure is logged)."""
    await kubeio.post_event(ctx.client, cr, type=kind, reason=reason, message=message)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, SpecRuleError):  # the rule's own words, at its field
            where = f"{where}.{cause.field}" if where else cause.field
            parts.append(f"spec.{where}: {cause.message}")
            continue
        parts.append(f"spec.{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def _rule_reason(exc: ValidationError) -> str | None:
    """The reason of the first broken rule that has one (models/rules.py), e.g.
    DefaultCredentialsRefused for a job stored before its rule existed."""
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, SpecRuleError) and cause.reason:
            return cause.reason
    return None


def desired_state(cr: dict[str, Any], settings: OperatorSettings) -> Desired:
    """What the CronJob must look like; raises RejectedError with a reason for bad specs."""
    meta = cr["metadata"]
    try:
        spec = ChronosJobSpec.model_validate(cr.get("spec") or {})
        schedule = resolve_schedule(spec, settings.default_time_zone, settings.min_interval_seconds)
        manifest = build_cronjob(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            spec=spec,
            schedule=schedule,
            settings=settings,
        )
    except ValidationError as exc:
        raise RejectedError(_rule_reason(exc) or "InvalidSpec", _validation_message(exc)) from None
    except ScheduleTooFrequentError as exc:
        raise RejectedError("ScheduleTooFrequent", f"spec.{exc.field}: {exc.reason}") from None
    except ScheduleError as exc:
        reason = "InvalidTimeZone" if exc.field == "timeZone" else "InvalidSchedule"
        raise RejectedError(reason, f"spec.{exc.field}: {exc.reason}") from None
    except ConfigError as exc:
        raise RejectedError(exc.reason, str(exc)) from None
    return Desired(spec, schedule, manifest)


def is_subset(desired: Any, actual: Any) -> bool:
    """True if every field of ``desired`` has the same value in ``actual``.

    The API server adds defaults (dnsPolicy, terminationMessagePath …) to what we
    applied, so drift means a field *we* set differs, not that the objects differ.
    """
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            is_subset(v, actual.get(k)) for k, v in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(desired) == len(actual)
            and all(is_subset(d, a) for d, a in zip(desired, actual, strict=True))
        )
    return bool(desired == actual)


def _clock_needs_reset(existing: dict[str, Any], desired: dict[str, Any]) -> bool:
    old, new = existing.get("spec", {}), desired["spec"]
    return (
        old.get("schedule") != new["schedule"]
        or old.get("timeZone") != new["timeZone"]
        or (bool(old.get("suspend")) and not new["suspend"])
    )


def _condition(status: dict[str, Any]) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == st.READY:
            return dict(cond)
    return {}


async def blockers(
    ctx: OperatorContext,
    desired: Desired,
    namespace: str,
    now: datetime,
    accounts: dict[str, bool] | None = None,
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
    )


async def reconcile(ctx: OperatorContext, cr: dict[str, Any], *, created: bool = False) -> None:
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
            previous = _condition(status)
            unchanged = (
                previous.get("reason") == rejection.reason
                and previous.get("message") == rejection.message
                and previous.get("observedGeneration") == generation
            )
            if not unchanged:
                fields = st.rejected(
                    status,
                    generation=generation,
                    reason=rejection.reason,
                    message=rejection.message,
                    now=now,
                )
                await kubeio.patch_status(ctx.client, namespace, name, fields)
                await post_event(
                    ctx, "Warning", cr, reason=rejection.reason, message=rejection.message
                )
                log.warning("%s/%s rejected: %s", namespace, name, rejection.message)
            metrics.RECONCILES.labels("rejected").inc()
            return

        # The watch cache spares a GET per reconcile; a new ChronosJob has no CronJob yet.
        existing: dict[str, Any] | None = None
        record = ctx.cache.cronjob(namespace, cronjob_name(name))
        if record is not None and record.holds(desired.cronjob):
            changed = False
            existing = {
                "spec": {
                    "schedule": record.schedule,
                    "timeZone": record.time_zone,
                    "suspend": record.suspend,
                }
            }
        else:
            # Not known to hold this manifest (not seen yet, checked against another
            # spec, or drifted): one read decides, so a CronJob in sync costs no write.
            if not created:
                existing = await kubeio.get_cronjob(ctx.client, namespace, cronjob_name(name))
            changed = existing is None or not is_subset(desired.cronjob, existing)
        if existing is not None and _clock_needs_reset(existing, desired.cronjob):
            await kubeio.reset_schedule_clock(ctx.client, namespace, cronjob_name(name), now)
        if changed:
            await kubeio.apply_cronjob(ctx.client, desired.cronjob, new=existing is None)
        enabled = desired.spec.enabled
        fields = st.reconciled(
            status,
            generation=generation,
            schedule=desired.schedule,
            cronjob=cronjob_name(name),
            enabled=enabled,
            now=now,
            namespace=namespace,
            blockers=await blockers(ctx, desired, namespace, now),
        )
        schedule_moved = (status.get("cron"), status.get("timeZone")) != (
            desired.schedule.cron,
            desired.schedule.time_zone,
        )
        if not enabled:
            fields.slots_checked_until = None
        elif schedule_moved or not status.get("slotsCheckedUntil"):
            # Slots before now belong to an old schedule or to a disabled period.
            fields.slots_checked_until = st.to_seconds(now)
        # Nothing to write for a ChronosJob in sync (every one, after a restart).
        if write := st.changes(status, fields):
            await kubeio.patch_status(ctx.client, namespace, name, write)
        if changed and existing is not None:
            ready = next((c for c in fields.conditions or [] if c.type == st.READY), None)
            await post_event(
                ctx, "Normal", cr, reason="Updated", message=ready.message if ready else ""
            )
        metrics.RECONCILES.labels("applied" if changed else "unchanged").inc()
