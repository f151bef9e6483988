"""The operator's part of a ChronosJob status, as pure functions.

The operator writes only the fields named in OPERATOR_FIELDS (plus ``history`` entries
for runs nobody else could report); ``lastRun`` belongs to the runner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chronos.models.resolve import ResolvedSchedule

READY = "Ready"
NEXT_RUNS_SHOWN = 5
OPERATOR_FIELDS = frozenset(
    {
        "observedGeneration",
        "conditions",
        "cron",
        "description",
        "timeZone",
        "cronJobName",
        "nextRunTimes",
        "lastScheduleTime",
        "activeRuns",
    }
)


def rfc3339(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def set_condition(
    conditions: list[dict[str, Any]] | None,
    *,
    type: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions with ``type`` set; lastTransitionTime changes only when status does."""
    value = "True" if status else "False"
    previous = next((c for c in conditions or [] if c.get("type") == type), None)
    transition = (
        previous["lastTransitionTime"]
        if previous and previous.get("status") == value and previous.get("lastTransitionTime")
        else rfc3339(now)
    )
    updated = {
        "type": type,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    return [c for c in conditions or [] if c.get("type") != type] + [updated]


def next_run_times(schedule: ResolvedSchedule, now: datetime, enabled: bool) -> list[str]:
    return [rfc3339(t) for t in schedule.next_runs(now, NEXT_RUNS_SHOWN)] if enabled else []


def reconciled(
    status: dict[str, Any],
    *,
    generation: int | None,
    schedule: ResolvedSchedule,
    cronjob: str,
    enabled: bool,
    now: datetime,
) -> dict[str, Any]:
    """Status patch after the CronJob was applied."""
    message = f"CronJob {cronjob} runs {schedule.description}"
    if not enabled:
        message = f"CronJob {cronjob} is suspended (spec.enabled is false)"
    return {
        "observedGeneration": generation,
        "conditions": set_condition(
            status.get("conditions"),
            type=READY,
            status=True,
            reason="Reconciled" if enabled else "Suspended",
            message=message,
            generation=generation,
            now=now,
        ),
        "cron": schedule.cron,
        "description": schedule.description,
        "timeZone": schedule.time_zone,
        "cronJobName": cronjob,
        "nextRunTimes": next_run_times(schedule, now, enabled),
    }


def rejected(
    status: dict[str, Any], *, generation: int | None, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """Status patch for a spec the operator cannot act on; everything else is kept."""
    return {
        "observedGeneration": generation,
        "conditions": set_condition(
            status.get("conditions"),
            type=READY,
            status=False,
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        ),
    }
