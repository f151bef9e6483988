"""What a ChronosJob's CronJob must look like, decided by pure functions: the spec
validated, its schedule resolved, the manifest built, or the reason it cannot be."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chronos.models.chronosjob import ChronosJobSpec
from chronos.models.resolve import ResolvedSchedule, resolve_schedule
from chronos.models.rules import SpecRuleError
from chronos.models.wire import ChronosJobDict
from chronos.operator.cronjob import ConfigError, build_cronjob
from chronos.operator.firing import operator_fired
from chronos.operator.settings import OperatorSettings
from chronos.schedule import ScheduleError
from chronos.schedule.errors import ScheduleTooFrequentError


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


def desired_state(cr: ChronosJobDict, settings: OperatorSettings) -> Desired:
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
            operator_fired=operator_fired(spec, schedule.time_zone),
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
