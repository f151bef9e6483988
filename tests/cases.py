"""Bad and good ChronosJob specs shared by the model tests and the CRD tests."""

from __future__ import annotations

from typing import Any


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "task": {"type": "entity_start", "pipelineId": "p1", "entityIds": ["e1"]},
        "schedule": {"cron": "30 8 * * 1-5"},
        "timeZone": "Europe/Rome",
    }
    base.update(overrides)
    return base


# Each bad spec with the path (below spec) of the field its error must name.
BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "entity task without entityIds",
        spec(task={"type": "entity_stop", "pipelineId": "p1"}),
        "task.entityIds",
    ),
    (
        "entity task with empty entityIds",
        spec(task={"type": "entity_stop", "pipelineId": "p1", "entityIds": []}),
        "task.entityIds",
    ),
    (
        "pipeline task with entityIds",
        spec(task={"type": "pipeline_stop", "pipelineId": "p1", "entityIds": ["e"]}),
        "task.entityIds",
    ),
    (
        "group task without groupIds",
        spec(task={"type": "group_start", "pipelineId": "p1"}),
        "task.groupIds",
    ),
    (
        "both schedule forms",
        spec(schedule={"cron": "* * * * *", "hour": 1, "minute": 2}),
        "schedule.cron",
    ),
    ("neither schedule form", spec(schedule={}), "schedule.cron"),
    ("friendly form without minute", spec(schedule={"hour": 8}), "schedule.hour"),
    ("hour 24", spec(schedule={"hour": 24, "minute": 0}), "schedule.hour"),
    ("minute 60", spec(schedule={"hour": 1, "minute": 60}), "schedule.minute"),
    (
        "unknown weekday",
        spec(schedule={"daysOfWeek": ["funday"], "hour": 1, "minute": 0}),
        "schedule.daysOfWeek",
    ),
    ("TZ prefix in cron", spec(schedule={"cron": "TZ=UTC 0 * * * *"}), "schedule.cron"),
    ("time zone with a space", spec(timeZone="Europe/Not A Zone"), "timeZone"),
    ("time zone Local", spec(timeZone="Local"), "timeZone"),
    ("time zone with ..", spec(timeZone="../etc/passwd"), "timeZone"),
    ("unknown task type", spec(task={"type": "entity_launch", "pipelineId": "p"}), "task.type"),
    ("negative retries", spec(retries=-1), "retries"),
]
