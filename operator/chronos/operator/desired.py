"""What a ChronosJob's CronJob must look like, decided by pure functions: the spec
validated, its schedule resolved, the manifest built, or the reason it cannot be."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from chronos.models import wire as w
from chronos.models.chains import chain_only
from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import ResolvedSchedule
from chronos.models.rules import SpecRuleError
from chronos.models.wire import ChronosJobDict
from chronos.operator import schedules as sch
from chronos.operator import status as st
from chronos.operator.cronjob import ConfigError, build_cronjob
from chronos.operator.settings import OperatorSettings
from chronos.schedule import ScheduleError
from chronos.schedule.errors import ScheduleTooFrequentError
from chronos.schedule.occurrences import TimeRules
from chronos.times import rfc3339


@dataclass(frozen=True)
class Desired:
    spec: ChronosJobSpec
    #: The first schedule (status.cron, cronJobName): for an RRULE, its CronJob's
    #: placeholder cron.
    schedule: ResolvedSchedule
    #: The first schedule's CronJob (the template run-now Jobs are made from).
    cronjob: dict[str, Any]
    #: Every schedule, and its CronJob in the same order (issue 19).
    schedules: tuple[sch.PlannedSchedule, ...] = ()
    cronjobs: tuple[dict[str, Any], ...] = ()
    #: Whether the CronJobs run at the time this was decided.
    window: sch.Window = field(default_factory=lambda: sch.Window(True, None, "", None))
    rules: TimeRules | None = None

    def cronjob_named(self, name: str) -> dict[str, Any] | None:
        """The desired manifest of CronJob ``name``; None if no schedule has it (a
        CronJob of a schedule since removed)."""
        return next((m for m in self.cronjobs if m["metadata"]["name"] == name), None)

    @property
    def running(self) -> bool:
        """The job's CronJobs run now (enabled, inside its window, not suspended)."""
        return self.window.running


class RejectedError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


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


def window_of(spec: ChronosJobSpec, now: datetime) -> sch.Window:
    return sch.window(
        enabled=spec.enabled,
        active_from=spec.active_from,
        active_until=spec.active_until,
        suspend_until=spec.suspend_until,
        suspend_reason=spec.suspend_reason,
        now=now,
    )


def desired_state(
    cr: ChronosJobDict, settings: OperatorSettings, now: datetime | None = None
) -> Desired:
    """What the CronJobs must look like at ``now`` (default: the clock); raises
    RejectedError with a reason for bad specs."""
    meta = cr["metadata"]
    try:
        spec = ChronosJobSpec.model_validate(cr.get("spec") or {})
        zone = spec.time_zone or settings.default_time_zone
        planned = sch.plan_schedules(
            spec,
            namespace=meta["namespace"],
            name=meta["name"],
            zone=zone,
            min_interval_seconds=settings.min_interval_seconds,
        )
        window = window_of(spec, now or datetime.now(UTC))
        manifests = tuple(
            build_cronjob(
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta["uid"],
                spec=spec,
                schedule=_resolved(p, zone),
                settings=settings,
                cronjob_name=p.cronjob,
                schedule_name=p.name,
                # Operator mode: the CronJob holds the template, the operator fires.
                suspend=not window.running or p.mode == sch.OPERATOR_MODE,
            )
            for p in planned
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
    return Desired(
        spec,
        _resolved(planned[0], zone),
        manifests[0],
        tuple(planned),
        manifests,
        window,
        None if chain_only(spec) else sch.job_rules(spec, planned, zone),  # no slots
    )


def _resolved(planned: sch.PlannedSchedule, zone: str) -> ResolvedSchedule:
    return ResolvedSchedule(planned.cronjob_schedule, zone, planned.description)


def anchor(cr: ChronosJobDict) -> datetime | None:
    """Where ``@every`` counts from, as the CronJob controller does: the last scheduled
    time, else the job's creation."""
    last = (cr.get("status") or {}).get(w.LAST_SCHEDULE_TIME) or cr["metadata"].get(
        "creationTimestamp"
    )
    return datetime.fromisoformat(last) if isinstance(last, str) else None


def next_runs(desired: Desired, now: datetime, anchor: datetime | None = None) -> list[str]:
    """status.nextRunTimes: the merged next runs of every schedule after every rule
    (RFC 3339 in the job's zone); none while the job is disabled or past its window."""
    if not desired.spec.enabled or desired.rules is None:
        return []
    zone = ZoneInfo(desired.schedule.time_zone)
    found = sch.next_slots(
        desired.rules,
        now,
        limit=st.NEXT_RUNS_SHOWN,
        suspended_until=desired.spec.suspend_until,
        anchor=anchor,
    )
    return [rfc3339(slot.instant.astimezone(zone)) for slot in found]


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
